package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ilostoken/ilostoken/ilos/ilostest"
)

// localPkg is the local server's main package.
const localPkg = "github.com/ilostoken/ilostoken/cmd/local"

// wrk settings: short, loopback only, light enough for a shared machine.
const (
	wrkThreads     = "2"
	wrkConnections = "16"
	startTimeout   = 30 * time.Second
)

// requestsPerSec reads wrk's throughput line.
var requestsPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// throughput runs wrk against the local server and against a bare ilos
// stand-in, interleaved, and reports the median requests per second.
func throughput(ctx context.Context, o options, dir string, r *report) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		r.note("\nthroughput skipped: wrk is not installed " +
			"(make bench installs it with apt-get)")
		return nil
	}

	local, stop, err := startLocal(ctx, dir)
	if err != nil {
		return err
	}
	defer stop()
	srv := ilostest.NewServer()
	defer srv.Close()
	const key = "bench-wrk-key-0123456789abcdef"
	srv.AddKey(key)

	localScript, err := script(dir, "local.lua", "",
		map[string]string{"Origin": local})
	if err != nil {
		return err
	}
	bareScript, err := script(dir, "bare.lua",
		url.Values{"api_key": {key}}.Encode(),
		map[string]string{
			"Content-Type": "application/x-www-form-urlencoded",
		})
	if err != nil {
		return err
	}

	var ours, bare []float64
	for i := range o.wrkRounds {
		runs := []func() error{
			func() error {
				rps, err := runWrk(ctx, wrk, o.wrk, localScript,
					local+"/token")
				ours = append(ours, rps)
				return err
			},
			func() error {
				rps, err := runWrk(ctx, wrk, o.wrk, bareScript,
					srv.URL()+ilostest.RecordPath)
				bare = append(bare, rps)
				return err
			},
		}
		for j := range runs {
			if err := runs[(i+j)%2](); err != nil {
				return err
			}
		}
	}

	ratio := median(ours) / median(bare)
	r.rows(fmt.Sprintf("throughput under wrk (%v, %s threads, %s "+
		"connections, median of %d interleaved rounds)", o.wrk,
		wrkThreads, wrkConnections, o.wrkRounds), []row{{
		name:     "local server vs bare stand-in, requests/s",
		ours:     fmt.Sprintf("%.0f", median(ours)),
		baseline: fmt.Sprintf("%.0f", median(bare)),
		ratio:    ratio,
	}})
	r.note("the local server runs the function and its own in-process "+
		"stand-ins; wrk and both servers share the machine's %d CPUs",
		runtime.NumCPU())
	return nil
}

// startLocal builds and starts the local server on a free loopback port
// and returns its base URL once it serves.
func startLocal(ctx context.Context, dir string) (string, func(), error) {
	bin := filepath.Join(dir, "local")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, localPkg)
	if msg, err := build.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("build the local server: %w\n%s",
			err, msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()

	cmd := exec.Command(bin, "-addr", addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, Pdeathsig: syscall.SIGKILL,
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start the local server: %w", err)
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if base, ok := strings.CutPrefix(sc.Text(),
				"Serving on "); ok {
				ready <- base
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case base := <-ready:
		return base, stop, nil
	case <-time.After(startTimeout):
	case <-ctx.Done():
	}
	stop()
	return "", nil, fmt.Errorf("the local server did not start on %s", addr)
}

// script writes a wrk Lua script that POSTs body with headers.
func script(dir, name, body string,
	headers map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString("wrk.method = \"POST\"\n")
	fmt.Fprintf(&b, "wrk.body = %q\n", body)
	for k, v := range headers {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, v)
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// runWrk runs wrk for d against target and returns its requests per
// second.
func runWrk(ctx context.Context, wrk string, d time.Duration, lua,
	target string) (float64, error) {
	cmd := exec.CommandContext(ctx, wrk, "-t", wrkThreads,
		"-c", wrkConnections, "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"-s", lua, target)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		return 0, fmt.Errorf("wrk got failed answers:\n%s", out)
	}
	m := requestsPerSec.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no throughput in wrk's output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
