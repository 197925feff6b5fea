package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/examples/web"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/internal/logbuf"
)

// These tests drive the example page in a real headless Chromium against
// the local server, started in-process on the embedded default: the page,
// the function and the ilos and Secrets Manager stand-ins all on loopback.
//
// Without a browser they skip, unless CI is set. Set CHROME_PATH to pick a
// browser, and BROWSER_SCREENSHOTS to a directory to keep a screenshot of
// the page from the tests that get a token or an error.

// browserBudget bounds what one test waits for from the browser.
const browserBudget = 60 * time.Second

// browserNames are the commands tried when CHROME_PATH is unset.
var browserNames = []string{
	"chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
}

// findBrowser returns the path of a Chromium-based browser. Without one it
// skips t, or fails it when CI is set.
func findBrowser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no browser: install chromium (apt-get install chromium) " +
		"or set CHROME_PATH"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newTab starts a headless browser with a fresh profile for t and returns
// its tab, bounded by [browserBudget]. The browser stops when t ends.
func newTab(t *testing.T) context.Context {
	t.Helper()
	path := findBrowser(t)
	var output logbuf.Buffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.CombinedOutput(&output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)

	// The first run starts the browser, whose life is tab's: no timeout.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v\n%s", path, err, output.String())
	}
	var console logbuf.Buffer
	go func() {
		for m, err := range chromedp.Console(tab) {
			if err != nil {
				return
			}
			fmt.Fprintf(&console, "%s:%d %s\n", m.URL, m.Line+1, m)
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browser console:\n%s", console.String())
		}
	})

	ctx, cancel := context.WithTimeout(tab, browserBudget)
	t.Cleanup(cancel)
	return ctx
}

// local is a local server on the embedded default, serving on a free
// loopback port for one test.
type local struct {
	*server
	logs *logbuf.Buffer
}

// startLocal starts the local server with the environment env and the page
// settings page. When t ends it checks that no log line carries the demo
// key or an issued token.
func startLocal(t *testing.T, env map[string]string,
	page web.Config) *local {
	t.Helper()
	logs := &logbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	s, err := start(t.Context(), "127.0.0.1:0", lookup, logger, page)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if s.stand.ilos == nil {
		t.Fatal("start did not run on the embedded default")
	}
	l := &local{server: s, logs: logs}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(s.ln)
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		<-done
		s.cleanup()
		l.assertNoSecrets(t)
	})
	return l
}

// assertNoSecrets fails t if a log line carries the demo key or a token.
func (l *local) assertNoSecrets(t *testing.T) {
	t.Helper()
	logs := l.logs.String()
	var secrets []string
	for _, r := range l.stand.ilos.Requests() {
		secrets = append(secrets, r.APIKey)
	}
	secrets = append(secrets, l.stand.ilos.Tokens()...)
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a key or token appears in the logs:\n%s", logs)
			return
		}
	}
}

// localhostURL is the page's URL on the second allowed origin,
// http://localhost:<port>/, from which the token route is cross-origin.
func (l *local) localhostURL() string {
	return fmt.Sprintf("http://localhost:%d/",
		l.ln.Addr().(*net.TCPAddr).Port)
}

// recorderPrefix is how the record button's address starts, before the
// token.
func (l *local) recorderPrefix() string {
	return l.stand.ilos.URL() + "/embed/api/recorder/"
}

// logLine is the part of the handler's log line the tests check.
type logLine struct {
	Msg       string  `json:"msg"`
	Status    int     `json:"status"`
	Outcome   string  `json:"outcome"`
	Method    string  `json:"method"`
	Origin    string  `json:"origin"`
	SecretsMS float64 `json:"secrets_ms"`
	IlosMS    float64 `json:"ilos_ms"`
}

// requests returns the handler's log lines, one a request, oldest first.
func (l *local) requests(t *testing.T) []logLine {
	t.Helper()
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(l.logs.String()))
	for sc.Scan() {
		var line logLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line.Msg == "request" {
			lines = append(lines, line)
		}
	}
	return lines
}

// click opens pageURL and presses the Record button.
func click(t *testing.T, ctx context.Context, pageURL string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		chromedp.Click(chromedp.CSS("#record")),
	)
	if err != nil {
		t.Fatalf("open %s and press Record: %v", pageURL, err)
	}
}

// recordButton opens pageURL, presses Record and returns the address of
// the ilos record button that appears.
func recordButton(t *testing.T, ctx context.Context, pageURL string) string {
	t.Helper()
	click(t, ctx, pageURL)
	return frameSource(t, ctx, "")
}

// frameSource waits for a record button whose address is not old and
// returns its address.
func frameSource(t *testing.T, ctx context.Context, old string) string {
	t.Helper()
	expr := fmt.Sprintf(`(() => {
		const f = document.querySelector("#recorder iframe");
		return f && f.src !== %s && f.src;
	})()`, strconv.Quote(old))
	src, err := chromedp.Run(ctx, chromedp.Poll[string](expr,
		chromedp.WithPollingTimeout(browserBudget)))
	if err != nil {
		t.Fatalf("wait for a record button: %v; status: %q", err,
			statusText(ctx))
	}
	return src
}

// errorText waits for the page to show an error and returns its text.
func errorText(t *testing.T, ctx context.Context) string {
	t.Helper()
	sel := chromedp.CSS(`#status[data-state="error"]`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		t.Fatalf("wait for an error: %v; status: %q", err, statusText(ctx))
	}
	text, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("read the error: %v", err)
	}
	return text
}

// statusText is the page's status line, for failure messages.
func statusText(ctx context.Context) string {
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector("#status").textContent`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return text
}

// frameCount is how many record buttons the page shows.
func frameCount(t *testing.T, ctx context.Context) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`document.querySelectorAll("#recorder iframe").length`))
	if err != nil {
		t.Fatalf("count record buttons: %v", err)
	}
	return n
}

// checkToken fails t unless src is a record button for a valid token of
// the ilos stand-in, and returns the token.
func (l *local) checkToken(t *testing.T, src string) string {
	t.Helper()
	token := l.tokenOf(t, src)
	if !l.stand.ilos.ValidToken(token) {
		t.Errorf("record button at %q: the token is not valid", src)
	}
	return token
}

// tokenOf fails t unless src is a record button for a token the ilos
// stand-in issued, and returns the token.
func (l *local) tokenOf(t *testing.T, src string) string {
	t.Helper()
	token, ok := strings.CutPrefix(src, l.recorderPrefix())
	if !ok {
		t.Fatalf("record button at %q, want it under %q", src,
			l.recorderPrefix())
	}
	if !slices.Contains(l.stand.ilos.Tokens(), token) {
		t.Errorf("record button at %q: the stand-in issued no such token",
			src)
	}
	return token
}

// checkLines fails t unless the handler logged exactly the lines want,
// compared on method, status, outcome and origin.
func (l *local) checkLines(t *testing.T, want []logLine) {
	t.Helper()
	got := l.requests(t)
	if len(got) != len(want) {
		t.Fatalf("got %d request log lines %+v, want %d", len(got), got,
			len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Method != w.Method || g.Status != w.Status ||
			g.Outcome != w.Outcome || g.Origin != w.Origin {
			t.Errorf("log line %d: got %s %d %s from %s, want %s %d %s from %s",
				i, g.Method, g.Status, g.Outcome, g.Origin,
				w.Method, w.Status, w.Outcome, w.Origin)
		}
	}
}

// screenshot keeps a screenshot of the page in BROWSER_SCREENSHOTS, if set.
func screenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	dir := os.Getenv("BROWSER_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	name := strings.ReplaceAll(t.Name(), "/", "_") + ".png"
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserGetsToken(t *testing.T) {
	l := startLocal(t, nil, web.Config{})
	ctx := newTab(t)

	before := time.Now().Unix()
	l.checkToken(t, recordButton(t, ctx, l.base+"/"))

	status := statusText(ctx)
	if !strings.Contains(status, "expires at") {
		t.Errorf("status %q does not say when the token expires", status)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(
		chromedp.CSS("#recorder"), "data-expires"))
	if err != nil {
		t.Fatal(err)
	}
	expires, err := strconv.ParseInt(attr.Value, 10, 64)
	ttl := int64(ilostest.DefaultTokenTTL.Seconds())
	if err != nil || expires < before || expires > time.Now().Unix()+ttl {
		t.Errorf("data-expires %q, want a time within the next %ds",
			attr.Value, ttl)
	}
	l.checkLines(t, []logLine{
		{Method: "POST", Status: 200, Outcome: "token_issued", Origin: l.base},
	})
	screenshot(t, ctx)
}

func TestBrowserSecondOrigin(t *testing.T) {
	l := startLocal(t, nil, web.Config{})
	ctx := newTab(t)

	page := l.localhostURL()
	l.checkToken(t, recordButton(t, ctx, page))
	l.checkLines(t, []logLine{{
		Method: "POST", Status: 200, Outcome: "token_issued",
		Origin: strings.TrimSuffix(page, "/"),
	}})
}

func TestBrowserOriginNotAllowed(t *testing.T) {
	l := startLocal(t, nil, web.Config{})
	ctx := newTab(t)

	// The same page and settings, served from an origin the function does
	// not allow.
	other := httptest.NewServer(l.page)
	t.Cleanup(other.Close)
	click(t, ctx, other.URL+"/")

	text := errorText(t, ctx)
	if !strings.Contains(text, "could not be reached") {
		t.Errorf("error %q, want the network or CORS message", text)
	}
	if n := frameCount(t, ctx); n != 0 {
		t.Errorf("got %d record buttons, want none", n)
	}
	if n := l.stand.secrets.Calls(); n != 0 {
		t.Errorf("got %d Secrets Manager calls, want none", n)
	}
	if n := l.stand.ilos.Calls(); n != 0 {
		t.Errorf("got %d ilos calls, want none", n)
	}
	l.checkLines(t, []logLine{{
		Method: "POST", Status: 403, Outcome: "origin_not_allowed",
		Origin: other.URL,
	}})
	for _, line := range l.requests(t) {
		if line.SecretsMS != 0 || line.IlosMS != 0 {
			t.Errorf("got secrets_ms %v and ilos_ms %v, want 0 and 0",
				line.SecretsMS, line.IlosMS)
		}
	}
}

func TestBrowserPreflight(t *testing.T) {
	const title = "Recorded from a browser"
	l := startLocal(t, map[string]string{
		config.EnvClientOptions: "video_title",
	}, web.Config{Options: map[string]any{"video_title": title}})
	ctx := newTab(t)

	// From localhost the token route on 127.0.0.1 is cross-origin, so the
	// JSON body makes the browser ask first.
	page := l.localhostURL()
	l.checkToken(t, recordButton(t, ctx, page))

	origin := strings.TrimSuffix(page, "/")
	l.checkLines(t, []logLine{
		{Method: "OPTIONS", Status: 204, Outcome: "preflight", Origin: origin},
		{Method: "POST", Status: 200, Outcome: "token_issued", Origin: origin},
	})
	reqs := l.stand.ilos.Requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d ilos requests, want 1", len(reqs))
	}
	if got := reqs[0].Form.Get("video_title"); got != title {
		t.Errorf("ilos got video_title %q, want %q", got, title)
	}
}

func TestBrowserIlosFailure(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		fault   ilostest.Fault
		status  int
		outcome string
		want    []string // in the page's message
	}{{
		name:    "refused",
		fault:   ilostest.Fault{Kind: ilostest.WorkedFalse},
		status:  502,
		outcome: "ilos_refused",
		want:    []string{"ilos could not issue a record token."},
	}, {
		name: "rate limited",
		fault: ilostest.Fault{Kind: ilostest.Status, Status: 429,
			RetryAfter: "7"},
		status:  503,
		outcome: "throttled",
		want:    []string{"busy", "Try again in 7 seconds."},
	}, {
		name:    "timeout",
		env:     map[string]string{config.EnvTimeout: "100ms"},
		fault:   ilostest.Fault{Kind: ilostest.Hang},
		status:  504,
		outcome: "timeout",
		want:    []string{"did not get an answer in time"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLocal(t, tt.env, web.Config{})
			l.stand.ilos.SetFault(tt.fault)
			ctx := newTab(t)

			l.expectError(t, ctx, tt.status, tt.outcome, tt.want)
		})
	}
}

func TestBrowserRequestErrors(t *testing.T) {
	tests := []struct {
		name    string
		page    web.Config
		setup   func(l *local)
		status  int
		outcome string
		want    []string
	}{{
		name: "option not allowed",
		page: web.Config{
			Options: map[string]any{"video_title": "Not allowed"},
		},
		status:  400,
		outcome: "option_not_allowed",
		want:    []string{"does not accept"},
	}, {
		name:    "wrong route",
		page:    web.Config{TokenURL: "/tokens"},
		status:  404,
		outcome: "not_found",
		want:    []string{"Nothing answers"},
	}, {
		name: "secret missing",
		setup: func(l *local) {
			l.stand.secrets.Delete(demoSecretID)
		},
		status:  500,
		outcome: "configuration_error",
		want:    []string{"misconfigured"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLocal(t, nil, tt.page)
			if tt.setup != nil {
				tt.setup(l)
			}
			ctx := newTab(t)
			l.expectError(t, ctx, tt.status, tt.outcome, tt.want)
		})
	}
}

// expectError opens the page on localhost, from which the server's token
// route is cross-origin, presses Record and checks that the page shows an error
// with each of want and a request ID, and no record button, and that the
// handler's last log line is a POST answered status with outcome. The page
// reads the error only if it carries CORS headers.
func (l *local) expectError(t *testing.T, ctx context.Context, status int,
	outcome string, want []string) {
	t.Helper()
	page := l.localhostURL()
	click(t, ctx, page)
	text := errorText(t, ctx)
	for _, w := range append(want, "Request ID") {
		if !strings.Contains(text, w) {
			t.Errorf("error %q, want it to contain %q", text, w)
		}
	}
	if n := frameCount(t, ctx); n != 0 {
		t.Errorf("got %d record buttons, want none", n)
	}

	lines := l.requests(t)
	if len(lines) == 0 {
		t.Fatal("the handler logged no request")
	}
	got := lines[len(lines)-1]
	if got.Method != "POST" || got.Status != status ||
		got.Outcome != outcome {
		t.Errorf("last log line: got %s %d %s, want POST %d %s",
			got.Method, got.Status, got.Outcome, status, outcome)
	}
	screenshot(t, ctx)
}

func TestBrowserRenewsToken(t *testing.T) {
	l := startLocal(t, nil, web.Config{})
	l.stand.ilos.SetTokenTTL(2 * time.Second)
	ctx := newTab(t)

	first := l.checkToken(t, recordButton(t, ctx, l.base+"/"))
	if err := l.stand.ilos.WaitCalls(ctx, 2); err != nil {
		t.Fatalf("wait for the page to ask again: %v", err)
	}
	// The renewed token may have expired by now: it lives two seconds.
	second := l.tokenOf(t, frameSource(t, ctx, l.recorderPrefix()+first))
	if second == first {
		t.Errorf("the renewed button has the first token")
	}
}
