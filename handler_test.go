package ilostoken_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/handler"
	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/internal/app"
	"github.com/ilostoken/ilostoken/internal/logbuf"
	"github.com/ilostoken/ilostoken/secrets"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

const (
	secretID    = "prod/ilos"
	appOrigin   = "https://app.example.com"
	otherOrigin = "https://admin.example.com"
	// plantedKey is the ilos key every test stores. No response, header,
	// error or log line may ever contain it.
	plantedKey = "PLANTED-ilos-key-7f3a9c1e5b2d4f60"
)

// stack is the whole function wired as in production: the real SDK client
// against the Secrets Manager stand-in, the real ilos client against the
// ilos stand-in, both over loopback. Every response, every error text the
// key cache and the ilos client return, and every log line are kept, and
// checked for secrets when the test ends.
type stack struct {
	sm     *secretstest.Server
	ilos   *ilostest.Server
	h      *handler.Handler
	parts  *app.Parts
	logs   *logbuf.Buffer
	seen   *texts           // responses and error texts
	hidden []string         // secrets besides plantedKey; see hide
	other  *ilostest.Server // a redirect target, if a test made one
}

func newStack(t *testing.T, env map[string]string) *stack {
	t.Helper()
	s := &stack{
		sm:   secretstest.NewServer(),
		ilos: ilostest.NewServer(),
		logs: &logbuf.Buffer{},
		seen: &texts{},
	}
	t.Cleanup(s.sm.Close)
	t.Cleanup(s.ilos.Close)
	t.Cleanup(func() { s.assertNoLeak(t) })
	s.ilos.AddKey(plantedKey)
	s.sm.SetString(secretID, plantedKey)

	vars := map[string]string{
		config.EnvSecretID:       secretID,
		config.EnvAllowedOrigins: appOrigin + "," + otherOrigin,
		config.EnvAPIURL:         s.ilos.URL(),
	}
	maps.Copy(vars, env)
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(s.logs,
		&slog.HandlerOptions{Level: slog.LevelDebug}))
	s.parts, err = app.New(cfg, s.sm.AWSConfig(), logger)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	s.h, err = handler.New(app.HandlerConfig(cfg,
		keySpy{s.parts.Keys, s.seen}, tokenSpy{s.parts.Ilos, s.seen},
		logger))
	if err != nil {
		t.Fatalf("handler.New: %v", err)
	}
	return s
}

// hide adds secrets, such as a rolled key, to those that must appear
// nowhere.
func (s *stack) hide(secrets ...string) {
	s.hidden = append(s.hidden, secrets...)
}

// assertNoLeak fails the test if a key, or a long enough piece of one,
// reached a response, an error text or a log line, or if a token reached
// an error text or a log line.
func (s *stack) assertNoLeak(t *testing.T) {
	t.Helper()
	logs := s.logs.String()
	seen := s.seen.String()
	for _, key := range append([]string{plantedKey}, s.hidden...) {
		for _, piece := range pieces(key) {
			if strings.Contains(logs, piece) {
				t.Errorf("a key appears in the logs:\n%s", logs)
				return
			}
			if strings.Contains(seen, piece) {
				t.Errorf("a key appears in a response or error:\n%s", seen)
				return
			}
		}
	}
	errs := s.seen.errors()
	for _, tok := range s.ilos.Tokens() {
		if strings.Contains(logs, tok) || strings.Contains(errs, tok) {
			t.Errorf("token %q appears in a log line or an error", tok)
		}
	}
}

// pieces returns every run of 12 bytes of key: a leak check that looks
// for these also catches a key cut short or a key in two parts.
func pieces(key string) []string {
	const n = 12
	if len(key) <= n {
		return []string{key}
	}
	out := make([]string, 0, len(key)-n+1)
	for i := 0; i+n <= len(key); i++ {
		out = append(out, key[i:i+n])
	}
	return out
}

// texts collects texts for the leak check. It is safe for concurrent use.
type texts struct {
	mu        sync.Mutex
	responses []string
	errs      []string
}

func (x *texts) addResponse(s string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.responses = append(x.responses, s)
}

func (x *texts) addError(err error) {
	if err == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.errs = append(x.errs, err.Error(), fmt.Sprintf("%+v", err))
}

func (x *texts) errors() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return strings.Join(x.errs, "\n")
}

// String returns every response and error text.
func (x *texts) String() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return strings.Join(x.responses, "\n") + "\n" +
		strings.Join(x.errs, "\n")
}

// keySpy passes calls to the real key cache and keeps its error texts.
type keySpy struct {
	next *secrets.Cache
	seen *texts
}

// Stats passes the cache's counters on, for the metrics.
func (k keySpy) Stats() secrets.Stats { return k.next.Stats() }

func (k keySpy) Key(ctx context.Context) (secrets.Key, error) {
	key, err := k.next.Key(ctx)
	k.seen.addError(err)
	return key, err
}

func (k keySpy) Refresh(ctx context.Context) (secrets.Key, error) {
	key, err := k.next.Refresh(ctx)
	k.seen.addError(err)
	return key, err
}

// tokenSpy passes calls to the real ilos client and keeps its error
// texts.
type tokenSpy struct {
	next handler.TokenIssuer
	seen *texts
}

func (i tokenSpy) RecordToken(ctx context.Context, apiKey string,
	opts ilos.Options) (ilos.Token, error) {
	tok, err := i.next.RecordToken(ctx, apiKey, opts)
	i.seen.addError(err)
	return tok, err
}

// invoke sends ev through the handler with a deadline like Lambda's and
// checks that the answer never carries the key.
func (s *stack) invoke(t *testing.T, ev map[string]any) handler.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	return s.invokeCtx(ctx, t, ev)
}

func (s *stack) invokeCtx(ctx context.Context, t *testing.T,
	ev map[string]any) handler.Response {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return s.invokeRaw(ctx, t, raw)
}

// invokeRaw sends a raw event, which need not be JSON, through the
// handler.
func (s *stack) invokeRaw(ctx context.Context, t *testing.T,
	raw []byte) handler.Response {
	t.Helper()
	resp, err := s.handle(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// handle sends a raw event through the handler and keeps the response for
// the leak check. Unlike invokeRaw, it may be called from any goroutine.
func (s *stack) handle(ctx context.Context,
	raw []byte) (handler.Response, error) {
	resp, err := s.h.Handle(ctx, raw)
	if err != nil {
		return resp, fmt.Errorf("Handle returned an error: %w", err)
	}
	dump := fmt.Sprintf("%v %q", resp.Headers, resp.Body)
	s.seen.addResponse(dump)
	if strings.Contains(dump, plantedKey) {
		return resp, fmt.Errorf("the key appears in the response: %s", dump)
	}
	return resp, nil
}

type req struct {
	method  string
	path    string
	origin  string
	body    string
	headers map[string]string
}

// httpAPIEvent builds an API Gateway HTTP API payload 2.0 event.
func httpAPIEvent(r req) map[string]any {
	h := map[string]any{"content-type": "application/json"}
	if r.origin != "" {
		h["origin"] = r.origin
	}
	for k, v := range r.headers {
		h[k] = v
	}
	return map[string]any{
		"version":  "2.0",
		"routeKey": r.method + " /token",
		"rawPath":  or(r.path, "/token"),
		"headers":  h,
		"body":     r.body,
		"requestContext": map[string]any{
			"requestId": "req-http-api",
			"stage":     "$default",
			"http": map[string]any{
				"method": or(r.method, "POST"),
				"path":   or(r.path, "/token"),
			},
		},
		"isBase64Encoded": false,
	}
}

// restAPIEvent builds an API Gateway REST API payload 1.0 event.
func restAPIEvent(r req) map[string]any {
	h := map[string]any{"Content-Type": "application/json"}
	mh := map[string]any{"Content-Type": []string{"application/json"}}
	if r.origin != "" {
		h["Origin"] = r.origin
		mh["Origin"] = []string{r.origin}
	}
	return map[string]any{
		"resource":          "/token",
		"path":              or(r.path, "/token"),
		"httpMethod":        or(r.method, "POST"),
		"headers":           h,
		"multiValueHeaders": mh,
		"body":              r.body,
		"isBase64Encoded":   false,
		"requestContext": map[string]any{
			"requestId":  "req-rest-api",
			"stage":      "prod",
			"path":       "/prod/token",
			"httpMethod": or(r.method, "POST"),
		},
	}
}

// functionURLEvent builds a Lambda function URL event.
func functionURLEvent(r req) map[string]any {
	ev := httpAPIEvent(r)
	ev["routeKey"] = "$default"
	rc := ev["requestContext"].(map[string]any)
	rc["domainName"] = "abc123.lambda-url.us-east-1.on.aws"
	rc["requestId"] = "req-function-url"
	return ev
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func decodeToken(t *testing.T, body string) (string, int64) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", body, err)
	}
	if len(got) != 2 {
		t.Errorf("body has fields %v, want exactly token and expires",
			fieldNames(got))
	}
	tok, _ := got["token"].(string)
	exp, _ := got["expires"].(float64)
	return tok, int64(exp)
}

func fieldNames(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestVendsTokenForEachPayloadVersion(t *testing.T) {
	events := map[string]func(req) map[string]any{
		"http api 2.0": httpAPIEvent,
		"rest api 1.0": restAPIEvent,
		"function url": functionURLEvent,
	}
	for name, build := range events {
		t.Run(name, func(t *testing.T) {
			s := newStack(t, nil)
			resp := s.invoke(t, build(req{origin: appOrigin}))

			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d want 200 (body %s)",
					resp.StatusCode, resp.Body)
			}
			tok, exp := decodeToken(t, resp.Body)
			if !s.ilos.ValidToken(tok) {
				t.Errorf("token %q was not issued by ilos", tok)
			}
			if exp <= time.Now().Unix() {
				t.Errorf("expires: got %d, want a future time", exp)
			}
			wantHeaders := map[string]string{
				"Access-Control-Allow-Origin": appOrigin,
				"Vary":                        "Origin",
				"Cache-Control":               "no-store",
				"Content-Type":                "application/json",
			}
			for k, want := range wantHeaders {
				if got := resp.Headers[k]; got != want {
					t.Errorf("header %s: got %q want %q", k, got, want)
				}
			}
		})
	}
}

func TestSecondAllowedOrigin(t *testing.T) {
	s := newStack(t, nil)
	resp := s.invoke(t, httpAPIEvent(req{origin: otherOrigin}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d want 200", resp.StatusCode)
	}
	if got := resp.Headers["Access-Control-Allow-Origin"]; got != otherOrigin {
		t.Errorf("Access-Control-Allow-Origin: got %q want %q",
			got, otherOrigin)
	}
}

func TestPreflightCallsNothing(t *testing.T) {
	s := newStack(t, nil)
	resp := s.invoke(t, httpAPIEvent(req{
		method: "OPTIONS",
		origin: appOrigin,
		headers: map[string]string{
			"access-control-request-method":  "POST",
			"access-control-request-headers": "content-type",
		},
	}))

	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status: got %d want 204", resp.StatusCode)
	}
	if resp.Body != "" {
		t.Errorf("body: got %q want none", resp.Body)
	}
	for _, k := range []string{
		"Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers",
		"Access-Control-Max-Age",
	} {
		if resp.Headers[k] == "" {
			t.Errorf("header %s missing", k)
		}
	}
	if !strings.Contains(resp.Headers["Access-Control-Allow-Methods"],
		"POST") {
		t.Errorf("Access-Control-Allow-Methods: got %q, want POST in it",
			resp.Headers["Access-Control-Allow-Methods"])
	}
	s.assertNoUpstreamCalls(t)
}

func (s *stack) assertNoUpstreamCalls(t *testing.T) {
	t.Helper()
	if n := s.sm.Calls(); n != 0 {
		t.Errorf("Secrets Manager calls: got %d want 0", n)
	}
	if n := s.ilos.Calls(); n != 0 {
		t.Errorf("ilos calls: got %d want 0", n)
	}
}

func TestOriginRefused(t *testing.T) {
	tests := []struct {
		name string
		ev   map[string]any
	}{
		{"missing", httpAPIEvent(req{})},
		{"unlisted", httpAPIEvent(req{origin: "https://evil.test"})},
		{"lookalike suffix", httpAPIEvent(req{
			origin: "https://app.example.com.evil.test"})},
		{"other scheme", httpAPIEvent(req{origin: "http://app.example.com"})},
		{"preflight unlisted", httpAPIEvent(req{
			method: "OPTIONS", origin: "https://evil.test"})},
		{"rest api repeated", func() map[string]any {
			ev := restAPIEvent(req{origin: appOrigin})
			ev["multiValueHeaders"].(map[string]any)["Origin"] =
				[]string{appOrigin, "https://evil.test"}
			return ev
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			resp := s.invoke(t, tt.ev)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status: got %d want 403", resp.StatusCode)
			}
			for k := range resp.Headers {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("got CORS header %s on a refused origin", k)
				}
			}
			s.assertNoUpstreamCalls(t)
		})
	}
}

func TestRequestErrors(t *testing.T) {
	env := map[string]string{
		config.EnvClientOptions: "video_title",
	}
	tests := []struct {
		name   string
		r      req
		status int
		code   string
		header [2]string
	}{
		{"wrong method", req{method: "GET", origin: appOrigin},
			405, "method_not_allowed", [2]string{"Allow", "OPTIONS, POST"}},
		{"unknown path", req{path: "/other", origin: appOrigin},
			404, "not_found", [2]string{}},
		{"body too large", req{origin: appOrigin,
			body: `{"video_title":"` + strings.Repeat("a", 9000) + `"}`},
			413, "body_too_large", [2]string{}},
		{"malformed body", req{origin: appOrigin, body: `{"video_title":`},
			400, "invalid_request", [2]string{}},
		{"body not an object", req{origin: appOrigin, body: `["x"]`},
			400, "invalid_request", [2]string{}},
		{"api_key in body", req{origin: appOrigin,
			body: `{"api_key":"stolen"}`},
			400, "option_not_allowed", [2]string{}},
		{"webhook in body", req{origin: appOrigin,
			body: `{"video_endpoint":"https://evil.test/hook"}`},
			400, "option_not_allowed", [2]string{}},
		{"unknown field", req{origin: appOrigin, body: `{"colour":"red"}`},
			400, "option_not_allowed", [2]string{}},
		{"wrong type", req{origin: appOrigin, body: `{"video_title":7}`},
			400, "invalid_option", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, env)
			resp := s.invoke(t, httpAPIEvent(tt.r))
			assertError(t, resp, tt.status, tt.code)
			if k := tt.header[0]; k != "" && resp.Headers[k] != tt.header[1] {
				t.Errorf("header %s: got %q want %q",
					k, resp.Headers[k], tt.header[1])
			}
			if got := resp.Headers["Access-Control-Allow-Origin"]; got !=
				appOrigin {
				t.Errorf("Access-Control-Allow-Origin on an error: "+
					"got %q want %q", got, appOrigin)
			}
			if n := s.ilos.Calls(); n != 0 {
				t.Errorf("ilos calls: got %d want 0", n)
			}
		})
	}
}

// assertError checks an error response's status and JSON shape.
func assertError(t *testing.T, resp handler.Response, status int,
	code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status: got %d want %d (body %s)",
			resp.StatusCode, status, resp.Body)
	}
	var body struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", resp.Body, err)
	}
	if body.Error.Code != code {
		t.Errorf("code: got %q want %q", body.Error.Code, code)
	}
	if body.Error.Message == "" || body.Error.RequestID == "" {
		t.Errorf("error body %s lacks a message or request ID", resp.Body)
	}
	if resp.Headers["Cache-Control"] != "no-store" {
		t.Errorf("Cache-Control: got %q want no-store",
			resp.Headers["Cache-Control"])
	}
}

func TestBrowserOptions(t *testing.T) {
	s := newStack(t, map[string]string{
		config.EnvClientOptions: "video_title, request_video_title",
		config.EnvTokenOptions: `{"service_name":"Acme",` +
			`"request_video_title":false}`,
	})
	resp := s.invoke(t, httpAPIEvent(req{
		origin: appOrigin,
		body:   `{"video_title":"Bug report","request_video_title":true}`,
	}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d want 200 (%s)", resp.StatusCode, resp.Body)
	}

	reqs := s.ilos.Requests()
	if len(reqs) != 1 {
		t.Fatalf("ilos requests: got %d want 1", len(reqs))
	}
	got := reqs[0].Form
	want := map[string]string{
		"video_title":         "Bug report",
		"service_name":        "Acme",
		"request_video_title": "0", // the operator's fixed value wins
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("ilos got %s=%q want %q", k, got.Get(k), v)
		}
	}
}

func TestUpstreamErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(s *stack)
		status int
		code   string
	}{
		{"secret not found", func(s *stack) {
			s.sm.Delete(secretID)
		}, 500, "configuration_error"},
		{"secret access denied", func(s *stack) {
			s.sm.SetFault(secretstest.Fault{Kind: secretstest.AccessDenied})
		}, 500, "configuration_error"},
		{"kms refused", func(s *stack) {
			s.sm.SetFault(secretstest.Fault{Kind: secretstest.KMSDenied})
		}, 500, "configuration_error"},
		{"secret malformed", func(s *stack) {
			s.sm.SetString(secretID, `{"user":"only-a-user-key"}`)
		}, 500, "configuration_error"},
		{"secrets throttled", func(s *stack) {
			s.sm.SetFault(secretstest.Fault{Kind: secretstest.Throttled})
		}, 503, "throttled"},
		{"secrets failing", func(s *stack) {
			s.sm.SetFault(secretstest.Fault{Kind: secretstest.Internal})
		}, 503, "secrets_unavailable"},
		{"ilos worked false", func(s *stack) {
			s.ilos.SetFault(ilostest.Fault{Kind: ilostest.WorkedFalse})
		}, 502, "ilos_refused"},
		{"ilos 500", func(s *stack) {
			s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Status,
				Status: 500})
		}, 502, "ilos_unavailable"},
		{"ilos html", func(s *stack) {
			s.ilos.SetFault(ilostest.Fault{Kind: ilostest.HTML})
		}, 502, "ilos_bad_answer"},
		{"ilos rate limited", func(s *stack) {
			s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Status,
				Status: 429, RetryAfter: "7"})
		}, 503, "throttled"},
		{"key revoked", func(s *stack) {
			s.ilos.RemoveKey(plantedKey)
		}, 502, "key_rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			tt.setup(s)
			resp := s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
			assertError(t, resp, tt.status, tt.code)
			if resp.Headers["Access-Control-Allow-Origin"] != appOrigin {
				t.Errorf("error response lacks CORS headers: %v",
					resp.Headers)
			}
			if tt.status == 503 && resp.Headers["Retry-After"] == "" {
				t.Errorf("503 without Retry-After")
			}
		})
	}
}

func TestRateLimitPassesRetryAfter(t *testing.T) {
	s := newStack(t, nil)
	s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Status, Status: 429,
		RetryAfter: "7"})
	resp := s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	if got := resp.Headers["Retry-After"]; got != "7" {
		t.Errorf("Retry-After: got %q want 7", got)
	}
}

func TestKeyRotation(t *testing.T) {
	s := newStack(t, nil)
	resp := s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first status: got %d want 200", resp.StatusCode)
	}

	// The owner rolls the key: ilos accepts only the new one, and the
	// secret holds it, but the function still caches the old one.
	const rolled = "ROLLED-ilos-key-0b9e8d7c6a5f4e3d"
	s.hide(rolled)
	s.ilos.RemoveKey(plantedKey)
	s.ilos.AddKey(rolled)
	s.sm.SetString(secretID, rolled)

	resp = s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after rotation: got %d want 200 (%s)",
			resp.StatusCode, resp.Body)
	}
	if got := s.sm.Calls(); got != 2 {
		t.Errorf("Secrets Manager calls: got %d want 2", got)
	}
	if got := s.ilos.Calls(); got != 3 {
		t.Errorf("ilos calls: got %d want 3 (ok, rejected, retried)", got)
	}
}

func TestOneLogLinePerRequest(t *testing.T) {
	s := newStack(t, nil)
	s.invoke(t, httpAPIEvent(req{origin: appOrigin}))

	lines := strings.Split(strings.TrimSpace(s.logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log lines: got %d want 1:\n%s", len(lines), s.logs)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("log line is not JSON: %v", err)
	}
	for _, k := range []string{"request_id", "status", "outcome",
		"secrets_ms", "ilos_ms", "duration_ms"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("log line lacks %q: %s", k, lines[0])
		}
	}
	if rec["outcome"] != "token_issued" {
		t.Errorf("outcome: got %v want token_issued", rec["outcome"])
	}
}

// emfUnits are the units CloudWatch accepts in an EMF metric definition.
var emfUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true,
	"Terabytes": true, "Bits": true, "Kilobits": true, "Megabits": true,
	"Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true,
	"Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true,
	"Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true,
	"Count/Second": true, "None": true,
}

// checkEMF checks a log line against the Embedded Metric Format
// specification: the _aws member, its directives, and that every
// dimension names a string field and every metric a number field.
func checkEMF(t *testing.T, rec map[string]any) {
	t.Helper()
	aws, ok := rec["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("log line has no _aws object: %v", rec)
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || ts <= 0 {
		t.Errorf("_aws.Timestamp: got %v, want epoch milliseconds",
			aws["Timestamp"])
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		t.Fatalf("_aws.CloudWatchMetrics: got %v", aws["CloudWatchMetrics"])
	}
	for _, d := range directives {
		d := d.(map[string]any)
		if ns, _ := d["Namespace"].(string); ns == "" || len(ns) > 255 {
			t.Errorf("Namespace: got %q", ns)
		}
		dims, _ := d["Dimensions"].([]any)
		for _, set := range dims {
			set, _ := set.([]any)
			if len(set) > 30 {
				t.Errorf("a dimension set has %d names, over 30", len(set))
			}
			for _, name := range set {
				if _, ok := rec[name.(string)].(string); !ok {
					t.Errorf("dimension %v is not a string field", name)
				}
			}
		}
		metrics, _ := d["Metrics"].([]any)
		if len(metrics) == 0 || len(metrics) > 100 {
			t.Errorf("Metrics: got %d definitions", len(metrics))
		}
		for _, m := range metrics {
			m := m.(map[string]any)
			name, _ := m["Name"].(string)
			if _, ok := rec[name].(float64); !ok {
				t.Errorf("metric %q is not a number field: %v",
					name, rec[name])
			}
			if unit, _ := m["Unit"].(string); !emfUnits[unit] {
				t.Errorf("metric %q: unit %q is not a CloudWatch unit",
					name, unit)
			}
		}
	}
}

func logRecords(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func TestMetricsInEmbeddedMetricFormat(t *testing.T) {
	s := newStack(t, map[string]string{
		config.EnvMetrics:      "Acme/Tokens",
		config.EnvFunctionName: "acme-token",
	})
	s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	s.invoke(t, httpAPIEvent(req{method: "GET", origin: appOrigin}))
	s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Status, Status: 500})
	s.invoke(t, httpAPIEvent(req{origin: appOrigin}))

	recs := logRecords(t, s.logs.String())
	if len(recs) != 4 {
		t.Fatalf("log lines: got %d want 4", len(recs))
	}
	for _, rec := range recs {
		checkEMF(t, rec)
	}
	want := []map[string]any{
		{"tokens": 1.0, "cold_start": 1.0, "secret_fetches": 1.0,
			"secret_cache_hits": 0.0, "server_errors": 0.0},
		{"tokens": 1.0, "cold_start": 0.0, "secret_fetches": 0.0,
			"secret_cache_hits": 1.0},
		{"tokens": 0.0, "client_errors": 1.0, "errors": 1.0,
			"error_code": "method_not_allowed"},
		{"tokens": 0.0, "server_errors": 1.0,
			"error_code": "ilos_unavailable"},
	}
	for i, fields := range want {
		for k, v := range fields {
			if recs[i][k] != v {
				t.Errorf("line %d: %s: got %v want %v", i, k, recs[i][k], v)
			}
		}
		if recs[i]["function"] != "acme-token" {
			t.Errorf("line %d: function: got %v", i, recs[i]["function"])
		}
	}
}

func TestMetricsOff(t *testing.T) {
	s := newStack(t, map[string]string{config.EnvMetrics: "off"})
	s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	for _, rec := range logRecords(t, s.logs.String()) {
		if _, ok := rec["_aws"]; ok {
			t.Errorf("metrics are off, but the line has _aws: %v", rec)
		}
	}
}
