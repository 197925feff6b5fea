package ilostoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	"github.com/ilostoken/ilostoken/internal/rie"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// The tests below run the real bootstrap, built as for Lambda, under the
// AWS Lambda Runtime Interface Emulator pinned in go.mod, with the real AWS
// SDK pointed at secretstest and the real ilos client at ilostest.

// functionTimeout is the template's Timeout, in seconds.
const functionTimeout = 10

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
	if _, err := exec.LookPath("go"); err != nil {
		skipUnlessCI(t, "no go command to build the emulator with")
	}
	dir := t.TempDir()
	bootstrap, err := rie.Build(t.Context(), dir, "bootstrap", "./cmd/lambda")
	if err != nil {
		t.Fatal(err)
	}
	emulator, err := rie.BuildEmulator(t.Context(), dir)
	if err != nil {
		skipUnlessCI(t, fmt.Sprintf("cannot build the Lambda runtime "+
			"interface emulator: %v", err))
	}
	return binaries{bootstrap: bootstrap, emulator: emulator}
}

// emulator is a running emulator with the bootstrap under it.
type emulator struct {
	*rie.Emulator
	out *logbuf.Buffer // what the emulator and the function printed
}

// startEmulator runs the emulator with env as its environment, which it
// hands on to the function, and waits until it accepts invocations.
// Cleanup stops it and the function.
func startEmulator(t *testing.T, b binaries, env map[string]string) *emulator {
	t.Helper()
	e := &emulator{out: &logbuf.Buffer{}}
	var vars []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		vars = append(vars, k+"="+env[k])
	}
	var err error
	e.Emulator, err = rie.Start(t.Context(), rie.Options{
		Emulator:  b.emulator,
		Bootstrap: b.bootstrap,
		Env:       vars,
		Output:    e.out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, e.out)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.out)
		}
	})
	return e
}

// invoke sends one event and returns the emulator's answer.
func (e *emulator) invoke(t *testing.T, event []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(),
		(functionTimeout+20)*time.Second)
	defer cancel()
	return e.Invoke(ctx, event)
}

// invokeHTTP sends one event and decodes the function's HTTP answer.
func (e *emulator) invokeHTTP(t *testing.T, event []byte) handler.Response {
	t.Helper()
	body, err := e.invoke(t, event)
	if err != nil {
		t.Fatal(err)
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
		_, err = e.invoke(t, event)
		var se *rie.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusBadGateway {
			t.Errorf("emulator answer: got %v, want status 502 "+
				"(init failed)", err)
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
