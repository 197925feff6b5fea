// Package ilostest runs an in-process stand-in for the ilos record-token
// API, for tests and for local runs with no network.
//
// A [Server] listens on 127.0.0.1, speaks the documented wire format of
// POST /v1/token/record (form or JSON bodies, the JSON answer), issues
// random tokens for the keys it was given, serves a small page for the
// recorder iframe, records every request, and can be told to misbehave
// through a [Fault]. It never logs: recorded requests hold the API key so
// that tests can check which key was used, and stay in memory.
package ilostest

import (
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// DefaultTokenTTL is how long an issued token stays valid, unless
// [Server.SetTokenTTL] says otherwise.
const DefaultTokenTTL = time.Hour

// RecordPath is the path of the record-token endpoint.
const RecordPath = "/v1/token/record"

// Server is an in-process ilos stand-in. Its methods are safe for
// concurrent use.
type Server struct {
	url  string
	hs   *http.Server
	done chan struct{} // closed by Close, ends hanging answers

	closeOnce sync.Once
	wg        sync.WaitGroup // the serve loop and running handlers

	mu        sync.Mutex
	closing   bool
	keys      map[string]bool
	tokens    map[string]time.Time // token → expiry
	ttl       time.Duration
	now       func() time.Time
	fault     Fault
	faultOn   bool
	faultLeft int
	requests  []Request
	calls     int
	conns     int
	changed   chan struct{} // closed and replaced on every call
}

// Request is a request the record-token endpoint received.
type Request struct {
	// Method is the HTTP method.
	Method string

	// ContentType is the media type of the body, without parameters.
	ContentType string

	// Form holds the fields sent. A JSON body is flattened the way a form
	// spells it: an object's entries as name[key], an array's as name[],
	// booleans and numbers as their JSON text.
	Form url.Values

	// APIKey is the api_key field; empty when absent.
	APIKey string

	// Unknown lists, sorted, the field names sent that are neither
	// api_key nor a documented option. They are ignored, as a lenient
	// server would.
	Unknown []string

	// UserAgent is the User-Agent header.
	UserAgent string

	// ConnID numbers the TCP connection that carried the request, from 1
	// in the order connections were accepted.
	ConnID int

	// RemoteAddr is the client's address.
	RemoteAddr string
}

// connIDKey is the context key of a connection's ConnID.
type connIDKey struct{}

// NewServer starts a [Server] on a free port of 127.0.0.1. It knows no
// key until [Server.AddKey]. It panics if it cannot listen, like
// net/http/httptest.
func NewServer() *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("ilostest: listen: " + err.Error())
	}
	s := &Server{
		url:     "http://" + ln.Addr().String(),
		done:    make(chan struct{}),
		keys:    map[string]bool{},
		tokens:  map[string]time.Time{},
		ttl:     DefaultTokenTTL,
		now:     time.Now,
		changed: make(chan struct{}),
	}

	mux := http.NewServeMux()
	mux.HandleFunc(RecordPath, s.serveRecord)
	mux.HandleFunc("GET /embed/api/recorder/{token}", s.serveEmbed)
	mux.HandleFunc("GET /recorder/download/{token}", s.serveDownload)
	s.hs = &http.Server{
		Handler:           s.track(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       s.connContext,
		ErrorLog:          log.New(io.Discard, "", 0),
	}

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.hs.Serve(ln) // returns when Close closes the listener
	}()
	return s
}

// URL returns the base URL of the server, such as http://127.0.0.1:1234.
func (s *Server) URL() string {
	return s.url
}

// Close stops the server: it closes every connection, ends hanging and
// trickling answers, and waits for its handlers to return. It does not
// hang on a request in flight, and may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		_ = s.hs.Close() // first, so no handler answers on its way out
		close(s.done)
		s.wg.Wait()
	})
}

// track counts running handlers, so that Close can wait for them, and
// refuses new ones once Close began.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		h.ServeHTTP(w, r)
	})
}

// connContext numbers each accepted connection.
func (s *Server) connContext(ctx context.Context, _ net.Conn) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns++
	return context.WithValue(ctx, connIDKey{}, s.conns)
}

// AddKey makes key a known API key.
func (s *Server) AddKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = true
}

// RemoveKey forgets key, as when its owner rolls it.
func (s *Server) RemoveKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// SetTokenTTL sets how long tokens issued from now on stay valid. A
// non-positive d restores [DefaultTokenTTL].
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		d = DefaultTokenTTL
	}
	s.ttl = d
}

// SetNow sets the clock used for expiries; nil restores [time.Now].
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.now = now
}

// Requests returns a copy of the requests the record-token endpoint
// received, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := slices.Clone(s.requests)
	for i := range reqs {
		reqs[i].Form = cloneValues(reqs[i].Form)
		reqs[i].Unknown = slices.Clone(reqs[i].Unknown)
	}
	return reqs
}

// Calls returns how many requests the record-token endpoint received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// WaitCalls waits until the record-token endpoint has received at least n
// requests, or ctx is done.
func (s *Server) WaitCalls(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		calls, changed := s.calls, s.changed
		s.mu.Unlock()
		if calls >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Connections returns how many TCP connections the server accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Tokens returns the tokens issued so far, expired ones included, sorted.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.tokens))
}

// ValidToken reports whether token was issued by the server and has not
// expired.
func (s *Server) ValidToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	expires, ok := s.tokens[token]
	return ok && s.now().Before(expires)
}

// record stores a request and returns the fault to apply to it, if any.
func (s *Server) record(req Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.calls++
	close(s.changed)
	s.changed = make(chan struct{})

	if !s.faultOn {
		return Fault{}, false
	}
	f := s.fault
	if s.faultLeft > 0 {
		s.faultLeft--
		if s.faultLeft == 0 {
			s.faultOn = false
		}
	}
	return f, true
}

// issue issues a token and builds the success answer, if key is known or
// anyKey is set.
func (s *Server) issue(key string, anyKey bool) (answer, bool) {
	s.mu.Lock()
	if !anyKey && !s.keys[key] {
		s.mu.Unlock()
		return answer{}, false
	}
	token := newToken()
	expires := s.now().Add(s.ttl)
	s.tokens[token] = expires
	s.mu.Unlock()

	iframe := fmt.Sprintf(`<iframe src="%s/embed/api/recorder/%s" `+
		`width="200" height="50" frameborder="0" scrolling="no" `+
		`allow="display-capture"></iframe>`, s.url, token)
	a := answer{
		Worked:              true,
		Token:               token,
		Expires:             expires.Unix(),
		RecorderLaunchURI:   "ilosrecord:record?token=" + token,
		RecordButtonIframe:  iframe,
		RecorderDownloadURL: s.url + "/recorder/download/" + token,
	}
	return a, true
}

// cloneValues copies v and its slices.
func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}
