package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/examples/web"
)

// These tests hold the local server to what the function answers behind
// API Gateway: every request that is not for the example page's files
// goes to the function and gets its JSON answer. They need no browser.

// send makes one request to l and returns the answer, its body read.
func (l *local) send(t *testing.T, method, path, origin string) (
	*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method,
		l.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestLocalRoutes(t *testing.T) {
	l := startLocal(t, nil, web.Config{})
	tests := []struct {
		name, method, path string
		foreign            bool // send an origin that is not allowed
		wantStatus         int
		wantCode           string // "" for the page
	}{
		{"the page", "GET", "/", false, 200, ""},
		{"a file of the page", "GET", "/app.js", false, 200, ""},
		{"a file of the page, HEAD", "HEAD", "/style.css", false, 200, ""},
		{"an unknown path", "GET", "/nope", false, 404, "not_found"},
		{"an unknown path, foreign origin", "GET", "/nope", true, 403,
			"origin_not_allowed"},
		{"a page file, wrong method", "DELETE", "/app.js", false, 404,
			"not_found"},
		{"the token route, GET", "GET", "/token", false, 405,
			"method_not_allowed"},
		// HTTP APIs decode the path before routing, and so does the
		// local server.
		{"an escaped token route", "GET", "/%74oken", false, 405,
			"method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin := l.base
			if tt.foreign {
				origin = "https://evil.test"
			}
			resp, body := l.send(t, tt.method, tt.path, origin)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode,
					tt.wantStatus, body)
			}
			if tt.wantCode == "" {
				return
			}
			assertJSONError(t, resp.Header, body, tt.wantCode)
			want := origin
			if tt.foreign {
				want = "" // no CORS headers for a refused origin
			}
			got := resp.Header.Get("Access-Control-Allow-Origin")
			if got != want {
				t.Errorf("got Access-Control-Allow-Origin %q, want %q",
					got, want)
			}
		})
	}
}

// assertJSONError checks an error answer's headers and body.
func assertJSONError(t *testing.T, h http.Header, body, wantCode string) {
	t.Helper()
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type %q, want application/json", got)
	}
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("got Cache-Control %q, want no-store", got)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if e.Error.Code != wantCode || e.Error.Message == "" {
		t.Errorf("got code %q, message %q, want code %q",
			e.Error.Code, e.Error.Message, wantCode)
	}
}

// TestLocalBodyBreaksOff sends a body shorter than its Content-Length and
// closes its side: the answer is the function's JSON 400 with CORS headers,
// and the log line says which request it was.
func TestLocalBodyBreaksOff(t *testing.T) {
	l := startLocal(t, nil, web.Config{})
	conn, err := net.Dial("tcp", l.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(conn, "POST /token HTTP/1.1\r\n"+
		"Host: "+l.ln.Addr().String()+"\r\n"+
		"Origin: "+l.base+"\r\n"+
		"Content-Length: 1000\r\n\r\n{}")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}

	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("got status %d, want 400: %s", resp.StatusCode, body)
	}
	assertJSONError(t, resp.Header, string(body), "invalid_request")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != l.base {
		t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, l.base)
	}

	logs := l.logs.String()
	for _, want := range []string{`"path":"/token"`, `"method":"POST"`,
		`"origin":"` + l.base + `"`, `"secret_fetches":0`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if len(l.stand.ilos.Requests()) != 0 {
		t.Error("ilos was called for an unreadable request")
	}
}

func TestDemoRefusesAnAPIURLWithoutASecret(t *testing.T) {
	env := map[string]string{
		config.EnvAPIURL:  "https://api.ilosvideos.com",
		config.EnvKeyType: "team",
	}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	logger := slog.New(slog.DiscardHandler)
	s, err := start(t.Context(), "127.0.0.1:0", lookup, logger, web.Config{})
	if err == nil {
		s.cleanup()
		s.ln.Close()
		t.Fatal("start ran the demo with ILOS_API_URL set")
	}
	for _, name := range []string{config.EnvAPIURL, config.EnvSecretID,
		config.EnvKeyType} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
