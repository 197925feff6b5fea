package ilostoken_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/handler"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/internal/logbuf"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// The tests below run the real bootstrap, built as for Lambda, under the
// AWS Lambda Runtime Interface Emulator pinned in go.mod, with the real AWS
// SDK pointed at secretstest and the real ilos client at ilostest.

const (
	emulatorPkg = "github.com/aws/aws-lambda-runtime-interface-emulator/" +
		"cmd/aws-lambda-rie"
	invokePath = "/2015-03-31/functions/function/invocations"

	// functionTimeout is the template's Timeout, in seconds.
	functionTimeout = 10
)

// binaries are the programs the emulator tests run.
type binaries struct {
	bootstrap string
	emulator  string
}

// buildBinaries builds the bootstrap for the host and the emulator from the
// module cache. It skips the test, unless CI is set, where the emulator
// cannot be built; the bootstrap must always build.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		skipUnlessCI(t, "no go command to build the emulator with")
	}
	dir := t.TempDir()
	b := binaries{
		bootstrap: filepath.Join(dir, "bootstrap"),
		emulator:  filepath.Join(dir, "aws-lambda-rie"),
	}
	if out, err := goBuild(t, goBin, b.bootstrap, "-tags", "lambda.norpc",
		"./cmd/lambda"); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	if out, err := goBuild(t, goBin, b.emulator, emulatorPkg); err != nil {
		skipUnlessCI(t, fmt.Sprintf("cannot build the Lambda runtime "+
			"interface emulator: %v\n%s", err, out))
	}
	return b
}

func goBuild(t *testing.T, goBin, out string, args ...string) ([]byte,
	error) {
	t.Helper()
	args = append([]string{"build", "-trimpath", "-o", out}, args...)
	cmd := exec.CommandContext(t.Context(), goBin, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}

// emulator is a running emulator with the bootstrap under it.
type emulator struct {
	url  string         // the invoke URL
	out  *logbuf.Buffer // what the emulator and the function printed
	done chan struct{}
}

// startEmulator runs the emulator with exactly env as its environment,
// which it hands on to the function, and waits until it accepts
// connections. Cleanup kills its process group.
func startEmulator(t *testing.T, b binaries, env map[string]string) *emulator {
	t.Helper()
	apiAddr, rieAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(b.emulator,
		"--runtime-api-address", apiAddr,
		"--runtime-interface-emulator-address", rieAddr,
		b.bootstrap)
	cmd.Dir = filepath.Dir(b.bootstrap)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	e := &emulator{
		url:  "http://" + rieAddr + invokePath,
		out:  &logbuf.Buffer{},
		done: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = e.out, e.out
	cmd.WaitDelay = 5 * time.Second
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()
	t.Cleanup(func() {
		killGroup(cmd)
		<-e.done
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.out)
		}
	})

	if err := waitListening(t.Context(), rieAddr, e.done); err != nil {
		t.Fatalf("emulator on %s: %v\n%s", rieAddr, err, e.out)
	}
	return e
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitListening polls a connect to addr until it succeeds, exited closes
// or ten seconds pass.
func waitListening(ctx context.Context, addr string,
	exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return errors.New("the emulator exited before listening")
		case <-ctx.Done():
			return fmt.Errorf("not listening: %w", err)
		case <-tick.C:
		}
	}
}

// invoke sends one event and returns the emulator's status and body.
func (e *emulator) invoke(t *testing.T, event []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(),
		(functionTimeout+20)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url,
		bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("invoke: read: %v", err)
	}
	return resp.StatusCode, body
}

// invokeHTTP sends one event and decodes the function's HTTP answer.
func (e *emulator) invokeHTTP(t *testing.T, event []byte) handler.Response {
	t.Helper()
	status, body := e.invoke(t, event)
	if status != http.StatusOK {
		t.Fatalf("emulator status: got %d, want 200; body %q", status, body)
	}
	var resp handler.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("function answer %q: %v", body, err)
	}
	return resp
}

// fakes are the stand-ins the function talks to, holding plantedKey.
type fakes struct {
	sm   *secretstest.Server
	ilos *ilostest.Server
}

func newFakes(t *testing.T) fakes {
	t.Helper()
	f := fakes{sm: secretstest.NewServer(), ilos: ilostest.NewServer()}
	t.Cleanup(f.sm.Close)
	t.Cleanup(f.ilos.Close)
	f.sm.SetString(secretID, plantedKey)
	f.ilos.AddKey(plantedKey)
	return f
}

// env is the environment of a function deployed with env.json's values,
// reading its secret by ARN from secretstest and asking ilostest for
// tokens, in a sandbox with nothing of the host's.
func (f fakes) env(t *testing.T) map[string]string {
	t.Helper()
	home := t.TempDir()
	env := readEnvJSON(t)
	maps.Copy(env, map[string]string{
		config.EnvSecretID: f.sm.ARN(secretID),
		config.EnvAPIURL:   f.ilos.URL(),

		"HOME":                        home,
		"AWS_CONFIG_FILE":             filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(functionTimeout),
	})
	for _, kv := range f.sm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// assertNoSecrets fails the test if the key or a token issued reached the
// emulator's output, which holds every log line of the function.
func (f fakes) assertNoSecrets(t *testing.T, e *emulator) {
	t.Helper()
	out := e.out.String()
	for _, s := range append(f.ilos.Tokens(), plantedKey) {
		if strings.Contains(out, s) {
			t.Errorf("the output holds the key or a token %q", s)
		}
	}
}

// eventWant is what the function must answer to one file of events/.
type eventWant struct {
	status int
	code   string // the error code; empty for a token or a preflight
	cors   bool   // CORS headers for the allowed origin
	title  string // the video_title ilos must receive, if any
}

var eventWants = map[string]eventWant{
	"http-api-post.json":      {status: 200, cors: true, title: "Bug report"},
	"rest-api-post.json":      {status: 200, cors: true, title: "Demo"},
	"function-url-post.json":  {status: 200, cors: true},
	"http-api-preflight.json": {status: 204, cors: true},
	"http-api-disallowed-origin.json": {status: 403,
		code: "origin_not_allowed"},
}

func TestEmulator(t *testing.T) {
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("builds and runs the emulator; skipped in -short mode")
	}
	bins := buildBinaries(t)

	t.Run("events", func(t *testing.T) {
		f := newFakes(t)
		e := startEmulator(t, bins, f.env(t))
		t.Cleanup(func() { f.assertNoSecrets(t, e) })

		files, err := filepath.Glob("events/*.json")
		if err != nil || len(files) == 0 {
			t.Fatalf("no events: %v", err)
		}
		for _, file := range files {
			name := filepath.Base(file)
			t.Run(name, func(t *testing.T) {
				want, ok := eventWants[name]
				if !ok {
					t.Fatalf("no expectation for %s", file)
				}
				event, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				calls := f.ilos.Calls()
				resp := e.invokeHTTP(t, event)
				checkAnswer(t, f, resp, want)
				if want.title == "" {
					return
				}
				reqs := f.ilos.Requests()
				if len(reqs) != calls+1 {
					t.Fatalf("ilos calls: got %d, want %d", len(reqs),
						calls+1)
				}
				got := reqs[calls].Form.Get("video_title")
				if got != want.title {
					t.Errorf("video_title at ilos: got %q, want %q", got,
						want.title)
				}
			})
		}
		for name := range eventWants {
			if !slices.Contains(files, filepath.Join("events", name)) {
				t.Errorf("events/%s is expected but missing", name)
			}
		}
	})

	t.Run("missing variable", func(t *testing.T) {
		f := newFakes(t)
		env := f.env(t)
		delete(env, config.EnvAllowedOrigins)
		e := startEmulator(t, bins, env)

		event, err := os.ReadFile("events/http-api-post.json")
		if err != nil {
			t.Fatal(err)
		}
		status, body := e.invoke(t, event)
		if status != http.StatusBadGateway {
			t.Errorf("emulator status: got %d, want 502 (init failed); "+
				"body %q", status, body)
		}
		out := e.out.String()
		for _, want := range []string{"start-up failed",
			config.EnvAllowedOrigins + ": required"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if f.sm.Calls() != 0 || f.ilos.Calls() != 0 {
			t.Errorf("calls: Secrets Manager %d, ilos %d; want none",
				f.sm.Calls(), f.ilos.Calls())
		}
	})

	t.Run("ilos outlasts the function", func(t *testing.T) {
		f := newFakes(t)
		f.ilos.SetFault(ilostest.Fault{Kind: ilostest.Hang})
		env := f.env(t)
		env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = "2"
		e := startEmulator(t, bins, env)
		t.Cleanup(func() { f.assertNoSecrets(t, e) })

		event, err := os.ReadFile("events/http-api-post.json")
		if err != nil {
			t.Fatal(err)
		}
		resp := e.invokeHTTP(t, event)
		checkAnswer(t, f, resp, eventWant{status: 504, code: "timeout",
			cors: true})
		if strings.Contains(e.out.String(), "Task timed out") {
			t.Error("the runtime timed out; the function must answer first")
		}
	})
}

// checkAnswer checks the function's HTTP answer against want.
func checkAnswer(t *testing.T, f fakes, resp handler.Response,
	want eventWant) {
	t.Helper()
	if resp.StatusCode != want.status {
		t.Errorf("status: got %d, want %d; body %s", resp.StatusCode,
			want.status, resp.Body)
	}
	h := resp.Headers
	for k, v := range map[string]string{
		"Cache-Control": "no-store",
		"Content-Type":  "application/json",
		"Vary":          "Origin",
	} {
		if h[k] != v {
			t.Errorf("%s: got %q, want %q", k, h[k], v)
		}
	}
	allow := ""
	if want.cors {
		allow = "https://app.example.com"
	}
	if got := h["Access-Control-Allow-Origin"]; got != allow {
		t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, allow)
	}

	switch {
	case want.status == http.StatusNoContent:
		if resp.Body != "" {
			t.Errorf("preflight body: got %q, want none", resp.Body)
		}
		if got := h["Access-Control-Allow-Methods"]; got != "OPTIONS, POST" {
			t.Errorf("Access-Control-Allow-Methods: got %q", got)
		}
	case want.code != "":
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil ||
			body.Error.Code != want.code || body.Error.Message == "" {
			t.Errorf("body: got %s, want error code %q", resp.Body,
				want.code)
		}
	default:
		var body map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body %q: %v", resp.Body, err)
		}
		token, _ := body["token"].(string)
		if len(body) != 2 || body["expires"] == nil ||
			!f.ilos.ValidToken(token) {
			t.Errorf("body: got %s, want a valid token and its expiry "+
				"only", resp.Body)
		}
	}
}
