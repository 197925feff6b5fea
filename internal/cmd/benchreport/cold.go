package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/internal/bench"
	"github.com/ilostoken/ilostoken/internal/rie"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// The bootstraps' main packages.
const (
	lambdaPkg = "github.com/ilostoken/ilostoken/cmd/lambda"
	helloPkg  = "github.com/ilostoken/ilostoken/internal/cmd/hello"
)

// invokeTimeout bounds one invocation under the emulator.
const invokeTimeout = 30 * time.Second

// bootstrap is one side of the cold-start comparison.
type bootstrap struct {
	name  string
	path  string
	env   []string
	total []float64 // first invocation, ms
	init  []float64 // init phase, ms
}

// cold times the first invocation of the function and of hello world
// under the emulator, interleaved, then reads the function's peak memory
// after o.memory invocations and, if o.size, the size of the linux/arm64
// bootstrap.
func cold(ctx context.Context, o options, dir string, r *report) error {
	emulator, err := rie.BuildEmulator(ctx, dir)
	if err != nil {
		return err
	}
	ours := &bootstrap{name: "function"}
	hello := &bootstrap{name: "hello world"}
	if ours.path, err = rie.Build(ctx, dir, "bootstrap", lambdaPkg); err != nil {
		return err
	}
	if hello.path, err = rie.Build(ctx, dir, "hello", helloPkg); err != nil {
		return err
	}

	s, err := bench.NewStack()
	if err != nil {
		return err
	}
	defer s.Close()
	ours.env = functionEnv(s.Secrets, s.Ilos)
	hello.env = []string{"AWS_REGION=" + secretstest.Region}

	sides := []*bootstrap{ours, hello}
	for i := range o.cold {
		for j := range sides {
			b := sides[(i+j)%2]
			if err := coldStart(ctx, emulator, b); err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
		}
	}
	calls := s.Secrets.Calls()

	rss, err := peakRSS(ctx, emulator, ours, o.memory)
	if err != nil {
		return err
	}
	helloRSS, err := peakRSS(ctx, emulator, hello, o.memory)
	if err != nil {
		return err
	}

	ratio := median(ours.total) / median(hello.total)
	initRatio := median(ours.init) / median(hello.init)
	rows := []row{
		{
			name:     "first invocation, ms",
			ours:     fmt.Sprintf("%.1f", median(ours.total)),
			baseline: fmt.Sprintf("%.1f", median(hello.total)),
			ratio:    ratio,
			target:   fmt.Sprintf("<= %.1f", coldTarget),
			met:      ratio <= coldTarget,
			judged:   true,
		},
		{
			name:     "init phase (RIE's INIT REPORT), ms",
			ours:     fmt.Sprintf("%.1f", median(ours.init)),
			baseline: fmt.Sprintf("%.1f", median(hello.init)),
			ratio:    initRatio,
		},
		{
			name: fmt.Sprintf("peak RSS after %d invocations, MiB",
				o.memory),
			ours:     fmt.Sprintf("%.1f", float64(rss)/(1<<20)),
			baseline: fmt.Sprintf("%.1f", float64(helloRSS)/(1<<20)),
			ratio:    float64(rss) / float64(helloRSS),
			target:   "< 128 (smallest Lambda)",
			met:      rss < rssTarget,
			judged:   true,
		},
	}
	if o.size {
		size, err := armSize(ctx, dir)
		if err != nil {
			return err
		}
		rows = append(rows, row{
			name:   "bootstrap size, linux/arm64 stripped, MB",
			ours:   fmt.Sprintf("%.2f", float64(size)/1e6),
			target: "< 10",
			met:    size < sizeTarget,
			judged: true,
		})
	}
	r.rows(fmt.Sprintf("cold start under the Runtime Interface Emulator "+
		"(median of %d, interleaved; host arch %s)", o.cold,
		hostArch()), rows)
	r.note("first invocation: from the invoke request, which makes the "+
		"emulator start the bootstrap, to the answer; the function's "+
		"includes reading the secret (%d GetSecretValue calls in %d "+
		"cold starts) and calling ilos", calls, o.cold)
	r.note("spread of first invocation: function %s, hello world %s",
		spread(ours.total, "ms"), spread(hello.total, "ms"))
	return nil
}

// functionEnv is the function's environment, pointed at the stand-ins.
func functionEnv(sm *secretstest.Server, il *ilostest.Server) []string {
	return append(sm.Env(),
		config.EnvSecretID+"="+bench.SecretID,
		config.EnvAllowedOrigins+"="+bench.Origin,
		config.EnvAPIURL+"="+il.URL(),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_LAMBDA_FUNCTION_NAME=ilostoken-bench",
	)
}

// coldStart starts the emulator, times b's first invocation and notes the
// init phase the emulator reports.
func coldStart(ctx context.Context, emulator string, b *bootstrap) error {
	e, err := rie.Start(ctx, rie.Options{
		Emulator: emulator, Bootstrap: b.path, Env: b.env,
	})
	if err != nil {
		return err
	}
	defer e.Stop()

	ictx, cancel := context.WithTimeout(ctx, invokeTimeout)
	defer cancel()
	start := time.Now()
	out, err := e.Invoke(ictx, bench.Event())
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if err := checkStatus(out); err != nil {
		return err
	}
	initDur, err := e.InitDuration(ictx)
	if err != nil {
		return err
	}
	b.total = append(b.total, ms(elapsed))
	b.init = append(b.init, ms(initDur))
	return nil
}

// checkStatus checks that an API Gateway answer has status 200.
func checkStatus(out []byte) error {
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("answer %.200q: %w", out, err)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %.200s", resp.StatusCode, resp.Body)
	}
	return nil
}

// peakRSS invokes b n times under one emulator and returns the
// bootstrap's peak resident set.
func peakRSS(ctx context.Context, emulator string, b *bootstrap,
	n int) (int64, error) {
	e, err := rie.Start(ctx, rie.Options{
		Emulator: emulator, Bootstrap: b.path, Env: b.env,
	})
	if err != nil {
		return 0, err
	}
	defer e.Stop()
	ev := bench.Event()
	for range n {
		ictx, cancel := context.WithTimeout(ctx, invokeTimeout)
		out, err := e.Invoke(ictx, ev)
		cancel()
		if err != nil {
			return 0, err
		}
		if err := checkStatus(out); err != nil {
			return 0, err
		}
	}
	pid, err := e.FunctionPID()
	if err != nil {
		return 0, err
	}
	return rie.PeakRSS(pid)
}

// armSize builds the function as `make build` does and returns its size.
func armSize(ctx context.Context, dir string) (int64, error) {
	out := filepath.Join(dir, "bootstrap-arm64")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc",
		"-trimpath", "-ldflags=-s -w -buildid=", "-o", out, lambdaPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux",
		"GOARCH=arm64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build for arm64: %w\n%s", err, msg)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
