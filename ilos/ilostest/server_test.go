package ilostest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/ilos/ilostest"
)

const testKey = "stand-in-key-1"

// start starts a stand-in that knows testKey.
func start(t *testing.T) *ilostest.Server {
	t.Helper()
	srv := ilostest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddKey(testKey)
	return srv
}

// client returns an HTTP client that keeps connections and never follows
// redirects.
func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// post sends body with the given content type to the record endpoint and
// returns the status, the headers and the body.
func post(t *testing.T, hc *http.Client, srv *ilostest.Server,
	contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		srv.URL()+ilostest.RecordPath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(t, hc, req)
}

// do sends req and reads the whole answer.
func do(t *testing.T, hc *http.Client, req *http.Request) (int,
	http.Header, []byte) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

// success is the part of a success answer the tests check.
type success struct {
	Worked              bool   `json:"worked"`
	Token               string `json:"token"`
	Expires             int64  `json:"expires"`
	RecorderLaunchURI   string `json:"recorderLaunchURI"`
	RecordButtonIframe  string `json:"recordButtonIframe"`
	RecorderDownloadURL string `json:"recorderDownloadUrl"`
	VideoEndpoint       any    `json:"video_endpoint"`
	VideoEndpointExtras any    `json:"video_endpoint_extras"`
	VideoSetPublic      any    `json:"video_set_public"`
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9]{35}$`)

func TestRecord(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		contentType string
		body        string
		wantExtras  any
		wantForm    url.Values
	}{
		{
			name:        "form",
			contentType: form,
			body: url.Values{
				"api_key":                   {testKey},
				"video_endpoint":            {"https://example.com/hook"},
				"video_endpoint_extras[id]": {"42"},
				"video_set_public":          {"1"},
				"colour":                    {"red"},
			}.Encode(),
			wantExtras: map[string]any{"id": "42"},
			wantForm: url.Values{
				"api_key":                   {testKey},
				"video_endpoint":            {"https://example.com/hook"},
				"video_endpoint_extras[id]": {"42"},
				"video_set_public":          {"1"},
				"colour":                    {"red"},
			},
		},
		{
			name:        "JSON",
			contentType: "application/json; charset=utf-8",
			body: `{"api_key":"` + testKey + `",` +
				`"video_endpoint":"https://example.com/hook",` +
				`"video_endpoint_extras":["a","b"],` +
				`"video_set_public":true,"colour":"red"}`,
			wantExtras: []any{"a", "b"},
			wantForm: url.Values{
				"api_key":                 {testKey},
				"video_endpoint":          {"https://example.com/hook"},
				"video_endpoint_extras[]": {"a", "b"},
				"video_set_public":        {"true"},
				"colour":                  {"red"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			srv := start(t)
			srv.SetNow(func() time.Time { return now })
			srv.SetTokenTTL(10 * time.Minute)

			status, header, body := post(t, client(t), srv,
				tt.contentType, tt.body)
			if status != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", status, body)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got content type %q, want application/json", ct)
			}
			var a success
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			checkSuccess(t, srv, a, now.Add(10*time.Minute).Unix())
			if a.VideoEndpoint != "https://example.com/hook" {
				t.Errorf("got video_endpoint %v, want it echoed",
					a.VideoEndpoint)
			}
			if !reflect.DeepEqual(a.VideoEndpointExtras, tt.wantExtras) {
				t.Errorf("got extras %#v, want %#v",
					a.VideoEndpointExtras, tt.wantExtras)
			}
			if a.VideoSetPublic != true {
				t.Errorf("got video_set_public %v, want true", a.VideoSetPublic)
			}

			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			req := reqs[0]
			if req.APIKey != testKey {
				t.Errorf("got key %q, want %q", req.APIKey, testKey)
			}
			if !reflect.DeepEqual(req.Form, tt.wantForm) {
				t.Errorf("got form %v, want %v", req.Form, tt.wantForm)
			}
			if !reflect.DeepEqual(req.Unknown, []string{"colour"}) {
				t.Errorf("got unknown %q, want [colour]", req.Unknown)
			}
			if req.ConnID != 1 || req.RemoteAddr == "" {
				t.Errorf("got connection %d from %q, want 1 from somewhere",
					req.ConnID, req.RemoteAddr)
			}
		})
	}
}

// checkSuccess checks the token and the URLs of a success answer.
func checkSuccess(t *testing.T, srv *ilostest.Server, a success,
	wantExpires int64) {
	t.Helper()
	if !a.Worked || !tokenPattern.MatchString(a.Token) {
		t.Fatalf("got worked %v and token %q, want true and 35 letters "+
			"or digits", a.Worked, a.Token)
	}
	if !srv.ValidToken(a.Token) {
		t.Errorf("token %q not valid at the stand-in", a.Token)
	}
	if a.Expires != wantExpires {
		t.Errorf("got expires %d, want %d", a.Expires, wantExpires)
	}
	if want := "ilosrecord:record?token=" + a.Token; a.RecorderLaunchURI != want {
		t.Errorf("got launch URI %q, want %q", a.RecorderLaunchURI, want)
	}
	src := `src="` + srv.URL() + "/embed/api/recorder/" + a.Token + `"`
	if !strings.HasPrefix(a.RecordButtonIframe, "<iframe ") ||
		!strings.Contains(a.RecordButtonIframe, src) {
		t.Errorf("got iframe %q, want one with %s", a.RecordButtonIframe, src)
	}
	want := srv.URL() + "/recorder/download/" + a.Token
	if a.RecorderDownloadURL != want {
		t.Errorf("got download URL %q, want %q", a.RecorderDownloadURL, want)
	}
}

func TestRecordRefusals(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int
		wantReason  string
	}{
		{"unknown key", "POST", form, "api_key=nope", 401, "Invalid API key."},
		{"missing key", "POST", form, "video_title=x", 401,
			"Invalid API key."},
		{"JSON key not a string", "POST", "application/json",
			`{"api_key":1}`, 401, "Invalid API key."},
		{"GET", "GET", "", "", 405, "Method not allowed."},
		{"PUT", "PUT", form, "api_key=" + testKey, 405,
			"Method not allowed."},
		{"text body", "POST", "text/plain", "api_key=" + testKey, 400,
			"Unsupported content type."},
		{"malformed JSON", "POST", "application/json", `{"api_key":`, 400,
			"Malformed JSON body."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t)
			req, err := http.NewRequestWithContext(t.Context(), tt.method,
				srv.URL()+ilostest.RecordPath, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)

			status, header, body := do(t, client(t), req)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			if status == 405 && header.Get("Allow") != "POST" {
				t.Errorf("got Allow %q, want POST", header.Get("Allow"))
			}
			checkFailure(t, body, tt.wantReason)
			if n := srv.Calls(); n != 1 {
				t.Errorf("got %d calls, want 1", n)
			}
			if n := len(srv.Tokens()); n != 0 {
				t.Errorf("got %d tokens issued, want 0", n)
			}
		})
	}
}

// checkFailure checks a worked:false body and its reason.
func checkFailure(t *testing.T, body []byte, wantReason string) {
	t.Helper()
	var a struct {
		Worked     *bool  `json:"worked"`
		FailReason string `json:"fail_reason"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if a.Worked == nil || *a.Worked || a.FailReason != wantReason {
		t.Errorf("got %s, want worked false and reason %q", body, wantReason)
	}
}

func TestRemoveKey(t *testing.T) {
	srv := start(t)
	srv.RemoveKey(testKey)
	status, _, body := post(t, client(t), srv,
		"application/x-www-form-urlencoded", "api_key="+testKey)
	if status != http.StatusUnauthorized {
		t.Errorf("got status %d, want 401", status)
	}
	checkFailure(t, body, "Invalid API key.")
}

func TestPages(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	srv := start(t)
	srv.SetNow(func() time.Time { return now })
	hc := client(t)
	_, _, body := post(t, hc, srv, "application/x-www-form-urlencoded",
		"api_key="+testKey)
	var a success
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		url        string
		expired    bool
		wantStatus int
		want       string
	}{
		{"embed", a.iframeSrc(), false, 200, "Token valid until"},
		{"download", a.RecorderDownloadURL, false, 200, "Token valid until"},
		{"embed expired", a.iframeSrc(), true, 404,
			"expired or unknown"},
		{"embed unknown", srv.URL() + "/embed/api/recorder/%3Cb%3Ex", false,
			404, "expired or unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.expired {
				srv.SetNow(func() time.Time { return now.Add(2 * time.Hour) })
				defer srv.SetNow(func() time.Time { return now })
			}
			req, err := http.NewRequestWithContext(t.Context(), "GET",
				tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			status, header, body := do(t, hc, req)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			if ct := header.Get("Content-Type"); !strings.HasPrefix(ct,
				"text/html") {
				t.Errorf("got content type %q, want text/html", ct)
			}
			page := string(body)
			if !strings.Contains(page, "ilos recorder") ||
				!strings.Contains(page, "(stand-in)") ||
				!strings.Contains(page, tt.want) {
				t.Errorf("got page %s, want the title and %q", page, tt.want)
			}
			if strings.Contains(page, "<b>") {
				t.Errorf("page %s repeats markup from the URL", page)
			}
		})
	}
	if srv.ValidToken(a.Token) != true {
		t.Error("token no longer valid after the pages")
	}
}

// iframeSrc returns the src of the record button iframe.
func (a success) iframeSrc() string {
	_, rest, _ := strings.Cut(a.RecordButtonIframe, `src="`)
	src, _, _ := strings.Cut(rest, `"`)
	return src
}

func TestFaults(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		fault       ilostest.Fault
		wantStatus  int
		wantHeader  map[string]string
		wantBody    string // a part of the body
		wantBodyLen int    // when not zero
		wantJSON    bool   // whether the body is valid JSON
	}{
		{
			name:       "worked false",
			fault:      ilostest.Fault{Kind: ilostest.WorkedFalse},
			wantStatus: 200,
			wantBody:   `"worked":false`,
			wantJSON:   true,
		},
		{
			name: "status with Retry-After",
			fault: ilostest.Fault{Kind: ilostest.Status, Status: 429,
				RetryAfter: "7", Reason: "Slow down."},
			wantStatus: 429,
			wantHeader: map[string]string{"Retry-After": "7"},
			wantBody:   `"fail_reason":"Slow down."`,
			wantJSON:   true,
		},
		{
			name:       "status default",
			fault:      ilostest.Fault{Kind: ilostest.Status},
			wantStatus: 503,
			wantBody:   `"worked":false`,
			wantJSON:   true,
		},
		{
			name:       "HTML",
			fault:      ilostest.Fault{Kind: ilostest.HTML},
			wantStatus: 200,
			wantHeader: map[string]string{
				"Content-Type": "text/html; charset=utf-8"},
			wantBody: "<!doctype html>",
		},
		{
			name:       "truncated",
			fault:      ilostest.Fault{Kind: ilostest.Truncated},
			wantStatus: 200,
			wantBody:   `{"worked":true`,
		},
		{
			name:       "no token",
			fault:      ilostest.Fault{Kind: ilostest.NoToken},
			wantStatus: 200,
			wantBody:   `"expires":`,
			wantJSON:   true,
		},
		{
			name:       "empty token",
			fault:      ilostest.Fault{Kind: ilostest.EmptyToken},
			wantStatus: 200,
			wantBody:   `"token":""`,
			wantJSON:   true,
		},
		{
			name:        "huge",
			fault:       ilostest.Fault{Kind: ilostest.Huge, Size: 100_000},
			wantStatus:  200,
			wantBody:    `{"worked":true,"token":"xxx`,
			wantBodyLen: 100_000,
		},
		{
			name: "trickle",
			fault: ilostest.Fault{Kind: ilostest.Trickle,
				Interval: time.Microsecond},
			wantStatus: 200,
			wantBody:   `"worked":true`,
			wantJSON:   true,
		},
		{
			name: "redirect",
			fault: ilostest.Fault{Kind: ilostest.Redirect,
				Location: "https://elsewhere.example/"},
			wantStatus: 302,
			wantHeader: map[string]string{
				"Location": "https://elsewhere.example/"},
		},
		{
			name: "raw",
			fault: ilostest.Fault{Kind: ilostest.Raw, Status: 418,
				Body: `{"x":1}`},
			wantStatus: 418,
			wantBody:   `{"x":1}`,
			wantJSON:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t)
			srv.SetFault(tt.fault)

			status, header, body := post(t, client(t), srv, form,
				"api_key=unknown")
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			for name, want := range tt.wantHeader {
				if got := header.Get(name); got != want {
					t.Errorf("got %s %q, want %q", name, got, want)
				}
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("got body %.200s, want it to hold %s",
					body, tt.wantBody)
			}
			if tt.wantBodyLen != 0 && len(body) != tt.wantBodyLen {
				t.Errorf("got %d bytes, want %d", len(body), tt.wantBodyLen)
			}
			if json.Valid(body) != tt.wantJSON {
				t.Errorf("got JSON validity %v, want %v", !tt.wantJSON,
					tt.wantJSON)
			}
		})
	}
}

func TestFaultCount(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	srv := start(t)
	hc := client(t)
	statuses := func(n int) []int {
		var got []int
		for range n {
			status, _, _ := post(t, hc, srv, form, "api_key="+testKey)
			got = append(got, status)
		}
		return got
	}

	srv.SetFault(ilostest.Fault{Kind: ilostest.Status, Status: 500, Count: 2})
	if got, want := statuses(3), []int{500, 500, 200}; !reflect.DeepEqual(got,
		want) {
		t.Errorf("with Count 2: got %v, want %v", got, want)
	}
	srv.SetFault(ilostest.Fault{Kind: ilostest.Status, Status: 502})
	if got, want := statuses(3), []int{502, 502, 502}; !reflect.DeepEqual(got,
		want) {
		t.Errorf("with Count 0: got %v, want %v", got, want)
	}
	srv.ClearFault()
	if got, want := statuses(1), []int{200}; !reflect.DeepEqual(got, want) {
		t.Errorf("after ClearFault: got %v, want %v", got, want)
	}
	if n := srv.Calls(); n != 7 {
		t.Errorf("got %d calls, want 7", n)
	}
}

func TestReset(t *testing.T) {
	srv := start(t)
	srv.SetFault(ilostest.Fault{Kind: ilostest.Reset})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		srv.URL()+ilostest.RecordPath, strings.NewReader("api_key=x"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	resp, err := client(t).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want a reset", resp.StatusCode)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got error %v, want a connection reset", err)
	}
}

func TestConnections(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	srv := start(t)
	kept := client(t)
	fresh := client(t)
	fresh.Transport.(*http.Transport).DisableKeepAlives = true

	for _, hc := range []*http.Client{kept, kept, kept, fresh, fresh} {
		post(t, hc, srv, form, "api_key="+testKey)
	}
	if n := srv.Connections(); n != 3 {
		t.Errorf("got %d connections, want 3", n)
	}
	var ids []int
	for _, req := range srv.Requests() {
		ids = append(ids, req.ConnID)
	}
	if want := []int{1, 1, 1, 2, 3}; !reflect.DeepEqual(ids, want) {
		t.Errorf("got connection ids %v, want %v", ids, want)
	}
	if n := len(srv.Tokens()); n != 5 {
		t.Errorf("got %d tokens, want 5", n)
	}
}

func TestCloseDoesNotHang(t *testing.T) {
	tests := []struct {
		name  string
		fault ilostest.Fault
	}{
		{"hang", ilostest.Fault{Kind: ilostest.Hang}},
		{"trickle", ilostest.Fault{Kind: ilostest.Trickle,
			Interval: time.Hour}},
		{"huge, unread", ilostest.Fault{Kind: ilostest.Huge,
			Size: 1 << 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := ilostest.NewServer()
			srv.SetFault(tt.fault)
			hc := client(t)

			answered := make(chan error, 1)
			closed := make(chan struct{})
			go func() {
				resp, err := hc.Post(srv.URL()+ilostest.RecordPath,
					"application/x-www-form-urlencoded",
					strings.NewReader("api_key=x"))
				if err == nil {
					// Read nothing until the server is gone.
					<-closed
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				answered <- err
			}()
			if err := srv.WaitCalls(t.Context(), 1); err != nil {
				t.Fatalf("WaitCalls: %v", err)
			}

			go func() {
				srv.Close()
				close(closed)
			}()
			watchdog := time.NewTimer(30 * time.Second)
			defer watchdog.Stop()
			select {
			case <-closed:
			case <-watchdog.C:
				t.Fatal("Close still running after 30s")
			}
			if err := <-answered; err == nil {
				t.Error("got a complete answer, want the request cut off")
			}
			srv.Close() // a second Close returns at once
		})
	}
}

func TestWaitCalls(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := srv.WaitCalls(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if err := srv.WaitCalls(ctx, 0); err != nil {
		t.Errorf("waiting for 0 calls: got %v, want nil", err)
	}
}

func TestTokens(t *testing.T) {
	srv := start(t)
	hc := client(t)
	for range 3 {
		post(t, hc, srv, "application/json", `{"api_key":"`+testKey+`"}`)
	}
	tokens := srv.Tokens()
	if len(tokens) != 3 {
		t.Fatalf("got %d tokens, want 3", len(tokens))
	}
	for i, tok := range tokens {
		if !srv.ValidToken(tok) {
			t.Errorf("token %d not valid", i)
		}
		if i > 0 && tokens[i-1] >= tok {
			t.Errorf("tokens not sorted: %q", tokens)
		}
	}
	if srv.ValidToken("") || srv.ValidToken("nope") {
		t.Error("an unknown token is valid")
	}
}
