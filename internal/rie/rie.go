// Package rie runs a Lambda bootstrap under the AWS Lambda Runtime
// Interface Emulator (RIE), on loopback, for tests and benchmarks that need
// the real runtime loop: the bootstrap polls the Runtime API, is invoked,
// and answers, as it would in Lambda.
//
// It builds the pieces ([Build] for a bootstrap, [BuildEmulator] for the
// RIE pinned in go.mod's tool block), starts the emulator on free ports
// ([Start]), waits for it with a bounded poll, invokes it
// ([Emulator.Invoke]), reads the function's peak memory ([PeakRSS]) and
// stops everything by killing the process groups ([Emulator.Stop]).
//
// The RIE starts the bootstrap on the first invocation, as Lambda does on a
// cold start, and runs one invocation at a time. It passes its own
// environment on to the function, so [Options.Env] is the function's
// environment too; nothing else of the caller's environment is passed but
// PATH.
package rie

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EmulatorPackage is the RIE's main package, pinned in go.mod's tool
// block.
const EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-" +
	"emulator/cmd/aws-lambda-rie"

// invokePath is the emulator's invocation endpoint.
const invokePath = "/2015-03-31/functions/function/invocations"

// readyTimeout bounds the wait for the emulator to listen, and stopTimeout
// the wait for it to exit once killed.
const (
	readyTimeout = 10 * time.Second
	pollInterval = 5 * time.Millisecond
	stopTimeout  = 5 * time.Second
)

// Build compiles the main package pkg (an import path, or a path relative
// to the working directory) for the host, the way a Lambda bootstrap is
// built (static, -tags lambda.norpc, stripped), into dir/name, and returns
// the binary's path. It needs the go command on PATH.
func Build(ctx context.Context, dir, name, pkg string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc",
		"-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// BuildEmulator builds the RIE from the module cache into dir and returns
// its path. It must run inside this module, whose go.mod pins the RIE.
func BuildEmulator(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "aws-lambda-rie")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out,
		EmulatorPackage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the emulator: %w\n%s", err, msg)
	}
	return out, nil
}

// Options configures [Start].
type Options struct {
	// Emulator is the path of the aws-lambda-rie binary. Required.
	Emulator string

	// Bootstrap is the path of the function's bootstrap binary. Required.
	Bootstrap string

	// Env is the function's environment, as "NAME=value" entries. The
	// emulator adds its own Lambda variables (AWS_LAMBDA_RUNTIME_API,
	// AWS_LAMBDA_FUNCTION_NAME and others) unless Env sets them.
	Env []string

	// Output, if not nil, receives the emulator's and the function's
	// output (logs, START and REPORT lines). Nil discards it.
	Output io.Writer
}

// Emulator is a running RIE with its function.
type Emulator struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{} // closed when the emulator has exited
	err    error         // the emulator's exit, once done is closed
	lines  chan struct{} // closed when the output has been read to the end
	client *http.Client

	mu       sync.Mutex
	inits    []time.Duration // INIT REPORT durations, in order
	initSeen chan struct{}   // closed at the first INIT REPORT
	stopOnce sync.Once
}

// initReport matches the emulator's log line at the end of the init
// phase, which runs from starting the bootstrap to its first poll of the
// Runtime API for an invocation.
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)`)

// Start starts the emulator on two free ports of 127.0.0.1 and waits until
// it accepts invocations, or ctx is done. The bootstrap itself starts on
// the first [Emulator.Invoke]. Call [Emulator.Stop] when done.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	if opts.Emulator == "" || opts.Bootstrap == "" {
		return nil, errors.New("rie: emulator and bootstrap are required")
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	rieAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("rie: output pipe: %w", err)
	}
	cmd := exec.Command(opts.Emulator,
		"--runtime-api-address", apiAddr,
		"--runtime-interface-emulator-address", rieAddr,
		opts.Bootstrap)
	cmd.Dir = filepath.Dir(opts.Bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, opts.Env...)
	cmd.Stdout, cmd.Stderr = pw, pw
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("rie: start: %w", err)
	}
	pw.Close() // the children hold their own copies

	e := &Emulator{
		cmd:      cmd,
		url:      "http://" + rieAddr + invokePath,
		done:     make(chan struct{}),
		lines:    make(chan struct{}),
		initSeen: make(chan struct{}),
		client:   &http.Client{Transport: &http.Transport{}},
	}
	go e.readOutput(pr, opts.Output)
	go func() {
		e.err = cmd.Wait()
		close(e.done)
	}()

	if err := e.waitReady(ctx, rieAddr); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
// Another process may take it before the emulator does; Start then fails
// rather than talk to the wrong server.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls addr until it accepts a connection, the emulator exits,
// ctx is done or readyTimeout passes.
func (e *Emulator) waitReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-e.done:
			return fmt.Errorf("rie: emulator exited before listening: %v",
				e.err)
		case <-ctx.Done():
			return fmt.Errorf("rie: emulator not listening on %s: %w",
				addr, ctx.Err())
		case <-tick.C:
		}
	}
}

// readOutput copies the output to w and notes the init durations.
func (e *Emulator) readOutput(r io.ReadCloser, w io.Writer) {
	defer close(e.lines)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if w != nil {
			// A copy: appending to line would write into the
			// scanner's buffer, over the next line.
			_, _ = w.Write(append(slices.Clip(line), '\n'))
		}
		m := initReport.FindSubmatch(line)
		if m == nil {
			continue
		}
		ms, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			continue
		}
		e.mu.Lock()
		e.inits = append(e.inits, time.Duration(ms*float64(time.Millisecond)))
		if len(e.inits) == 1 {
			close(e.initSeen)
		}
		e.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

// StatusError is the error [Emulator.Invoke] returns when the emulator
// answers with a status other than 200 OK, as it does (502) when the
// function fails to start.
type StatusError struct {
	Status int
	Body   []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("rie: invoke: status %d: %.200s", e.Status, e.Body)
}

// Invoke sends payload to the function and returns its answer. An answer
// other than 200 OK is a [*StatusError].
func (e *Emulator) Invoke(ctx context.Context, payload []byte) ([]byte,
	error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url,
		bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Status: resp.StatusCode, Body: body}
	}
	return body, nil
}

// InitDuration waits for the emulator to report the end of the init phase
// (from starting the bootstrap to its first poll for an invocation) and
// returns its duration. The phase runs during the first invocation.
func (e *Emulator) InitDuration(ctx context.Context) (time.Duration,
	error) {
	select {
	case <-e.initSeen:
	case <-e.done:
		return 0, errors.New("rie: emulator exited before init ended")
	case <-ctx.Done():
		return 0, fmt.Errorf("rie: wait for the init report: %w", ctx.Err())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inits[0], nil
}

// FunctionPID returns the process ID of the running bootstrap, which the
// emulator starts on the first invocation in a process group of its own.
func (e *Emulator) FunctionPID() (int, error) {
	kids, err := children(e.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	if len(kids) == 0 {
		return 0, errors.New("rie: the bootstrap is not running")
	}
	return kids[0], nil
}

// children lists the processes whose parent is pid.
func children(pid int) ([]int, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("rie: list processes: %w", err)
	}
	var kids []int
	for _, d := range dirs {
		id, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if parentOf(stat) == pid {
			kids = append(kids, id)
		}
	}
	return kids, nil
}

// parentOf reads the parent ID from a /proc/PID/stat line, whose second
// field, the command name in parentheses, may itself hold spaces.
func parentOf(stat []byte) int {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}

// waitGone polls until none of pids is running or deadline passes. They
// are not this process's children, so it cannot wait for them.
func waitGone(pids []int, deadline <-chan time.Time) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for slices.ContainsFunc(pids, Running) {
		select {
		case <-deadline:
			return
		case <-tick.C:
		}
	}
}

// Running reports whether process pid exists and has not exited: a
// killed process stays a zombie until its parent reaps it.
func Running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}

// PeakRSS returns the peak resident set size of process pid, in bytes
// (VmHWM in /proc/PID/status).
func PeakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rie: peak RSS: %w", err)
	}
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("rie: no VmHWM in /proc/%d/status", pid)
}

// Stop kills the bootstrap's process group and the emulator's, and waits
// for the emulator to exit. It may be called more than once.
func (e *Emulator) Stop() {
	e.stopOnce.Do(func() {
		kids, _ := children(e.cmd.Process.Pid)
		for _, pid := range kids {
			killGroup(pid)
		}
		killGroup(e.cmd.Process.Pid)
		deadline := time.After(stopTimeout)
		select {
		case <-e.done:
		case <-deadline:
		}
		waitGone(kids, deadline)
		e.client.CloseIdleConnections()
	})
}
