package ilos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/ilos/ilostest"
)

// testKey is planted in every request, so that tests can check it never
// reaches an error's text.
const testKey = "planted-key-7f3a9c2e51d84b06"

// standIn starts an ilos stand-in that knows testKey, and a client for it
// built from cfg with BaseURL filled in. Unless cfg says otherwise, the
// client's retries wait no time.
func standIn(t testing.TB, cfg Config) (*ilostest.Server, *Client) {
	t.Helper()
	srv := ilostest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddKey(testKey)
	c := clientFor(t, srv.URL(), cfg)
	return srv, c
}

// clientFor returns a client for the base URL base, built from cfg.
func clientFor(t testing.TB, base string, cfg Config) *Client {
	t.Helper()
	u, err := ParseBaseURL(base)
	if err != nil {
		t.Fatalf("ParseBaseURL(%q): %v", base, err)
	}
	cfg.BaseURL = u
	if cfg.Retry.Wait == nil {
		cfg.Retry.Wait = (&waits{}).wait
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.hc.CloseIdleConnections)
	return c
}

func TestRecordToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	srv, c := standIn(t, Config{})
	srv.SetNow(func() time.Time { return now })
	srv.SetTokenTTL(15 * time.Minute)

	tok, err := c.RecordToken(t.Context(), testKey, nil)
	if err != nil {
		t.Fatalf("RecordToken: %v", err)
	}
	if !srv.ValidToken(tok.Value) {
		t.Errorf("got token %q, which the stand-in did not issue", tok.Value)
	}
	if want := now.Add(15 * time.Minute).Unix(); tok.Expires != want {
		t.Errorf("got expires %d, want %d", tok.Expires, want)
	}
}

// errorCase is an expected failure of RecordToken.
type errorCase struct {
	name       string
	fault      ilostest.Fault
	key        string // empty: testKey
	wantKind   error
	wantStatus int
	wantReason string
	secret     string // must not appear in the error text either
}

func TestRecordTokenErrors(t *testing.T) {
	longReason := strings.Repeat("é", 300)
	tests := []errorCase{
		{
			name:       "unknown key",
			key:        "some-other-key",
			wantKind:   ErrKeyRejected,
			wantStatus: 401,
			wantReason: "Invalid API key.",
		},
		{
			name:       "403",
			fault:      ilostest.Fault{Kind: ilostest.Status, Status: 403},
			wantKind:   ErrKeyRejected,
			wantStatus: 403,
			wantReason: "Forbidden",
		},
		{
			name: "worked false",
			fault: ilostest.Fault{Kind: ilostest.WorkedFalse,
				Reason: "Recording is disabled."},
			wantKind:   ErrRefused,
			wantStatus: 200,
			wantReason: "Recording is disabled.",
		},
		{
			name: "worked false about the key",
			fault: ilostest.Fault{Kind: ilostest.WorkedFalse,
				Reason: "This API Key may not record."},
			wantKind:   ErrKeyRejected,
			wantStatus: 200,
			wantReason: "This API Key may not record.",
		},
		{
			name: "worked false echoing the key",
			fault: ilostest.Fault{Kind: ilostest.WorkedFalse,
				Reason: "Unknown: " + testKey},
			wantKind:   ErrKeyRejected,
			wantStatus: 200,
			wantReason: "Unknown: " + redacted,
		},
		{
			name: "reason with control characters",
			fault: ilostest.Fault{Kind: ilostest.WorkedFalse,
				Reason: "no\x00 rec\nording\x1b[31m"},
			wantKind:   ErrRefused,
			wantStatus: 200,
			wantReason: "no recording[31m",
		},
		{
			name:       "long reason",
			fault:      ilostest.Fault{Kind: ilostest.WorkedFalse, Reason: longReason},
			wantKind:   ErrRefused,
			wantStatus: 200,
			wantReason: longReason[:maxReasonBytes] + "…",
		},
		{
			name: "400",
			fault: ilostest.Fault{Kind: ilostest.Status, Status: 400,
				Reason: "The collection is invalid."},
			wantKind:   ErrRefused,
			wantStatus: 400,
			wantReason: "The collection is invalid.",
		},
		{
			name: "422 about the key",
			fault: ilostest.Fault{Kind: ilostest.Raw, Status: 422,
				Body: `{"message":"The api key field is required."}`},
			wantKind:   ErrKeyRejected,
			wantStatus: 422,
			wantReason: "The api key field is required.",
		},
		{
			name:       "429",
			fault:      ilostest.Fault{Kind: ilostest.Status, Status: 429},
			wantKind:   ErrRateLimited,
			wantStatus: 429,
			wantReason: "Too Many Requests",
		},
		{
			name:       "500",
			fault:      ilostest.Fault{Kind: ilostest.Status, Status: 500},
			wantKind:   ErrUnavailable,
			wantStatus: 500,
			wantReason: "Internal Server Error",
		},
		{
			name: "503 with HTML",
			fault: ilostest.Fault{Kind: ilostest.Raw, Status: 503,
				Body: "<html>busy</html>"},
			wantKind:   ErrUnavailable,
			wantStatus: 503,
		},
		{
			name:       "HTML page",
			fault:      ilostest.Fault{Kind: ilostest.HTML},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name:       "truncated",
			fault:      ilostest.Fault{Kind: ilostest.Truncated},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name:       "no token",
			fault:      ilostest.Fault{Kind: ilostest.NoToken},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name:       "empty token",
			fault:      ilostest.Fault{Kind: ilostest.EmptyToken},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name:       "huge body",
			fault:      ilostest.Fault{Kind: ilostest.Huge},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name:       "body one byte over the cap",
			fault:      ilostest.Fault{Kind: ilostest.Huge, Size: MaxBodyBytes + 1},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name: "503 with a body over the cap",
			fault: ilostest.Fault{Kind: ilostest.Raw, Status: 503,
				Body: `{"fail_reason":"` +
					strings.Repeat("x", MaxBodyBytes) + `"}`},
			wantKind:   ErrUnavailable,
			wantStatus: 503,
		},
		{
			name:       "reset",
			fault:      ilostest.Fault{Kind: ilostest.Reset},
			wantKind:   ErrUnavailable,
			wantStatus: 0,
		},
		{
			name: "token with a space",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":"tok en42","expires":99}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "tok en42",
		},
		{
			name: "token too long",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":"` + strings.Repeat("T", 513) +
					`","expires":99}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "TTTTTTTT",
		},
		{
			name: "token not a string",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":12345,"expires":99}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
		},
		{
			name: "expires missing",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":"Secr3tTok"}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "Secr3tTok",
		},
		{
			name: "expires zero",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":"Secr3tTok","expires":0}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "Secr3tTok",
		},
		{
			name: "expires not numeric",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":"Secr3tTok","expires":"soon"}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "Secr3tTok",
		},
		{
			name: "worked missing",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"token":"Secr3tTok","expires":99}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "Secr3tTok",
		},
		{
			name: "trailing garbage",
			fault: ilostest.Fault{Kind: ilostest.Raw,
				Body: `{"worked":true,"token":"Secr3tTok","expires":99}Secr3tTok`},
			wantKind:   ErrBadAnswer,
			wantStatus: 200,
			secret:     "Secr3tTok",
		},
		{
			name:       "204 without a body",
			fault:      ilostest.Fault{Kind: ilostest.Raw, Status: 204},
			wantKind:   ErrBadAnswer,
			wantStatus: 204,
		},
		{
			name: "304",
			fault: ilostest.Fault{Kind: ilostest.Raw, Status: 304,
				Body: `{"worked":true,"token":"Secr3tTok","expires":99}`},
			wantKind:   ErrBadAnswer,
			wantStatus: 304,
			secret:     "Secr3tTok",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := standIn(t, Config{})
			if tt.fault.Kind != 0 {
				srv.SetFault(tt.fault)
			}
			key := tt.key
			if key == "" {
				key = testKey
			}

			_, err := c.RecordToken(t.Context(), key, nil)
			e := checkError(t, err, tt.wantKind)
			if e.Status != tt.wantStatus {
				t.Errorf("got status %d, want %d", e.Status, tt.wantStatus)
			}
			if e.Reason != tt.wantReason {
				t.Errorf("got reason %q, want %q", e.Reason, tt.wantReason)
			}
			checkNoSecrets(t, err, srv, key, tt.secret)
		})
	}
}

// checkError checks that err is an *Error of the given kind, and returns
// it.
func checkError(t *testing.T, err error, kind error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want an *Error", err, err)
	}
	if !errors.Is(err, kind) || e.Kind != kind {
		t.Errorf("got error %v, want kind %v", err, kind)
	}
	return e
}

// checkNoSecrets checks that the error text holds none of the key, the
// tokens the stand-in issued, and the given extra secrets.
func checkNoSecrets(t *testing.T, err error, srv *ilostest.Server,
	secrets ...string) {
	t.Helper()
	text := err.Error()
	for _, s := range append(secrets, srv.Tokens()...) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("error text %q holds a secret", text)
		}
	}
}

func TestRecordTokenTimeout(t *testing.T) {
	trickle := ilostest.Fault{Kind: ilostest.Trickle,
		Interval: 20 * time.Millisecond}
	tests := []struct {
		name      string
		fault     ilostest.Fault
		ctxWait   time.Duration // zero: no deadline on ctx
		timeout   time.Duration // Config.Timeout
		canceled  bool          // cancel ctx before the call
		wantCause error
	}{
		{
			name:      "hang past the ctx deadline",
			fault:     ilostest.Fault{Kind: ilostest.Hang},
			ctxWait:   100 * time.Millisecond,
			wantCause: context.DeadlineExceeded,
		},
		{
			name:    "hang past the client timeout",
			fault:   ilostest.Fault{Kind: ilostest.Hang},
			timeout: 100 * time.Millisecond,
		},
		{
			name:      "trickle past the ctx deadline",
			fault:     trickle,
			ctxWait:   150 * time.Millisecond,
			wantCause: context.DeadlineExceeded,
		},
		{
			name:    "trickle past the client timeout",
			fault:   trickle,
			timeout: 150 * time.Millisecond,
		},
		{
			name:      "canceled",
			canceled:  true,
			wantCause: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := standIn(t, Config{Timeout: tt.timeout})
			if tt.fault.Kind != 0 {
				srv.SetFault(tt.fault)
			}
			ctx := t.Context()
			if tt.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxWait)
				defer cancel()
			}
			if tt.canceled {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}

			_, err := c.RecordToken(ctx, testKey, nil)
			checkError(t, err, ErrTimeout)
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Errorf("got error %v, want cause %v", err, tt.wantCause)
			}
			checkNoSecrets(t, err, srv, testKey)
		})
	}
}

func TestRecordTokenUnreachable(t *testing.T) {
	srv := ilostest.NewServer()
	base := srv.URL()
	srv.Close()
	c := clientFor(t, base, Config{})

	_, err := c.RecordToken(t.Context(), testKey, nil)
	e := checkError(t, err, ErrUnavailable)
	if e.Status != 0 {
		t.Errorf("got status %d, want 0", e.Status)
	}
	if e.Attempts != DefaultMaxAttempts {
		t.Errorf("got %d attempts, want %d", e.Attempts, DefaultMaxAttempts)
	}
	checkNoSecrets(t, err, srv, testKey)
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"seconds", "120", 120 * time.Second},
		{"zero seconds", "0", 0},
		{"HTTP date", now.Add(90 * time.Second).Format(http.TimeFormat),
			90 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"absent", "", 0},
		{"negative", "-5", 0},
		{"fraction", "1.5", 0},
		{"words", "soon", 0},
		{"overflow", "99999999999999999999", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := standIn(t, Config{})
			c.now = func() time.Time { return now }
			srv.SetFault(ilostest.Fault{Kind: ilostest.Status, Status: 429,
				RetryAfter: tt.value})

			_, err := c.RecordToken(t.Context(), testKey, nil)
			e := checkError(t, err, ErrRateLimited)
			if e.RetryAfter != tt.want {
				t.Errorf("got RetryAfter %v, want %v", e.RetryAfter, tt.want)
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	tests := []struct {
		name string
		hc   *http.Client
	}{
		{"own client", nil},
		{"given client that follows redirects", &http.Client{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := ilostest.NewServer()
			t.Cleanup(target.Close)
			target.AddKey(testKey)
			srv, c := standIn(t, Config{HTTPClient: tt.hc})
			srv.SetFault(ilostest.Fault{Kind: ilostest.Redirect,
				Location: target.URL() + ilostest.RecordPath})

			_, err := c.RecordToken(t.Context(), testKey, nil)
			e := checkError(t, err, ErrBadAnswer)
			if e.Status != http.StatusFound {
				t.Errorf("got status %d, want 302", e.Status)
			}
			if n := target.Connections(); n != 0 {
				t.Errorf("redirect target got %d connections, want 0", n)
			}
			if n := target.Calls(); n != 0 {
				t.Errorf("redirect target got %d calls, want 0", n)
			}
			if tt.hc != nil && tt.hc.CheckRedirect != nil {
				t.Error("the given client was changed")
			}
		})
	}
}

func TestRequestEncoding(t *testing.T) {
	srv, c := standIn(t, Config{UserAgent: "ilostoken-test/2"})
	opts := Options{
		"service_name":          "Course videos",
		"auto_open_video":       true,
		"webcam_only":           false,
		"video_endpoint":        "https://example.com/hook?x=1",
		"video_endpoint_extras": map[string]string{"user": "42", "b": "c d"},
	}

	if _, err := c.RecordToken(t.Context(), testKey, opts); err != nil {
		t.Fatalf("RecordToken: %v", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	req := reqs[0]
	want := map[string]string{
		"api_key":                     testKey,
		"service_name":                "Course videos",
		"auto_open_video":             "1",
		"webcam_only":                 "0",
		"video_endpoint":              "https://example.com/hook?x=1",
		"video_endpoint_extras[user]": "42",
		"video_endpoint_extras[b]":    "c d",
	}
	if len(req.Form) != len(want) {
		t.Errorf("got fields %v, want %d fields", req.Form, len(want))
	}
	for name, v := range want {
		if got := req.Form[name]; len(got) != 1 || got[0] != v {
			t.Errorf("got %s=%q, want %q", name, got, v)
		}
	}
	checks := []struct{ what, got, want string }{
		{"method", req.Method, http.MethodPost},
		{"content type", req.ContentType, "application/x-www-form-urlencoded"},
		{"api key", req.APIKey, testKey},
		{"user agent", req.UserAgent, "ilostoken-test/2"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("got %s %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if len(req.Unknown) != 0 {
		t.Errorf("got unknown fields %q, want none", req.Unknown)
	}
}

func TestEncodeIsSorted(t *testing.T) {
	form := url.Values{"api_key": {"k"}}
	Options{
		"webcam_only":           true,
		"video_set_public":      false,
		"video_endpoint_extras": map[string]string{"z": "1", "a": "2"},
		"collection":            "c 1",
	}.encode(form)
	got := form.Encode()
	want := "api_key=k&collection=c+1&" +
		"video_endpoint_extras%5Ba%5D=2&video_endpoint_extras%5Bz%5D=1&" +
		"video_set_public=0&webcam_only=1"
	if got != want {
		t.Errorf("got body\n%s\nwant\n%s", got, want)
	}
}

func TestRecordTokenRefusedUnsent(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		opts     Options
		wantKind error
	}{
		{"empty key", "", nil, ErrKeyRejected},
		{"unknown option", testKey, Options{"colour": "red"}, ErrInvalidOption},
		{"api_key option", testKey, Options{"api_key": "x"}, ErrInvalidOption},
		{"wrong type", testKey, Options{"webcam_only": "yes"}, ErrInvalidOption},
		{"int value", testKey, Options{"collection": 7}, ErrInvalidOption},
		{"bad extras key", testKey,
			Options{"video_endpoint_extras": map[string]string{"a]": "b"}},
			ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := standIn(t, Config{})
			_, err := c.RecordToken(t.Context(), tt.key, tt.opts)
			if !errors.Is(err, tt.wantKind) {
				t.Errorf("got error %v, want %v", err, tt.wantKind)
			}
			if n := srv.Calls(); n != 0 {
				t.Errorf("got %d calls, want 0", n)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	srv, c := standIn(t, Config{})
	const calls = 5
	for range calls {
		if _, err := c.RecordToken(t.Context(), testKey, nil); err != nil {
			t.Fatalf("RecordToken: %v", err)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("got %d connections for %d calls, want 1", n, calls)
	}
	for i, req := range srv.Requests() {
		if req.ConnID != 1 {
			t.Errorf("request %d came on connection %d, want 1", i, req.ConnID)
		}
	}
}

func TestResetOnKeptAliveConnection(t *testing.T) {
	srv, c := standIn(t, Config{})
	if _, err := c.RecordToken(t.Context(), testKey, nil); err != nil {
		t.Fatalf("first RecordToken: %v", err)
	}
	srv.SetFault(ilostest.Fault{Kind: ilostest.Reset, Count: 1})

	// As after Lambda thaws a process: the kept connection is dead, and
	// the retry takes a new one.
	if _, err := c.RecordToken(t.Context(), testKey, nil); err != nil {
		t.Fatalf("RecordToken on the reset connection: %v", err)
	}
	var ids []int
	for _, req := range srv.Requests() {
		ids = append(ids, req.ConnID)
	}
	if want := []int{1, 1, 2}; !slices.Equal(ids, want) {
		t.Errorf("got requests on connections %v, want %v", ids, want)
	}
}

func TestNew(t *testing.T) {
	public, err := ParseBaseURL("https://ilos.example.com/api/")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		cfg          Config
		wantEndpoint string
		wantErr      bool
	}{
		{
			name:         "zero",
			wantEndpoint: DefaultBaseURL + "/v1/token/record",
		},
		{
			name:         "path prefix",
			cfg:          Config{BaseURL: public},
			wantEndpoint: "https://ilos.example.com/api/v1/token/record",
		},
		{
			name:    "plain http on a public host",
			cfg:     Config{BaseURL: mustURL(t, "http://ilos.example.com")},
			wantErr: true,
		},
		{
			name:    "negative timeout",
			cfg:     Config{Timeout: -time.Second},
			wantErr: true,
		},
		{
			name:    "user agent with a newline",
			cfg:     Config{UserAgent: "a\nb"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("got no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.endpoint != tt.wantEndpoint {
				t.Errorf("got endpoint %q, want %q", c.endpoint, tt.wantEndpoint)
			}
			if c.timeout != DefaultTimeout {
				t.Errorf("got timeout %v, want %v", c.timeout, DefaultTimeout)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("cause")
	err := &Error{
		Kind:       ErrRateLimited,
		Status:     429,
		Reason:     "slow down",
		RetryAfter: 2 * time.Second,
		Err:        cause,
	}
	want := `ilos: rate limited (status 429): "slow down", ` +
		`retry after 2s: cause`
	if got := err.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, cause) {
		t.Errorf("errors.Is misses the kind or the cause of %v", err)
	}
}

func TestTokenDoesNotPrint(t *testing.T) {
	tok := Token{Value: "Secr3tTokenValue", Expires: 1700000000}
	var logged strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("issued", "token", tok)
	outputs := []string{
		fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok),
		fmt.Sprintf("%v %s", &tok, []Token{tok}), logged.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, tok.Value) {
			t.Errorf("got %q, which holds the token", out)
		}
		if !strings.Contains(out, "1700000000") {
			t.Errorf("got %q, want the expiry", out)
		}
	}
}
