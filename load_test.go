package ilostoken_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/handler"
)

// TestConcurrentColdStart sends 500 invocations at once to a function
// whose key cache is empty, as after a deployment: every one gets its own
// token, Secrets Manager sees exactly one call, and once the servers are
// gone no goroutine is left behind.
func TestConcurrentColdStart(t *testing.T) {
	const n = 500
	base := runtime.NumGoroutine()
	// Registered first, so it runs last: after the stack's servers and
	// their connections are closed.
	t.Cleanup(func() { assertGoroutinesSettle(t, base) })
	s := newStack(t, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	raw, err := json.Marshal(httpAPIEvent(req{origin: appOrigin}))
	if err != nil {
		t.Fatal(err)
	}
	resps := make([]handler.Response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			resps[i], errs[i] = s.handle(ctx, raw)
		})
	}
	close(start)
	wg.Wait()

	issued := make(map[string]bool, n)
	for i, resp := range resps {
		if errs[i] != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("invocation %d: got status %d and %v, want 200",
				i, resp.StatusCode, errs[i])
			continue
		}
		tok, _ := decodeToken(t, resp.Body)
		if issued[tok] || !s.ilos.ValidToken(tok) {
			t.Errorf("invocation %d: token repeated or not issued", i)
		}
		issued[tok] = true
	}
	if got := s.sm.Calls(); got != 1 {
		t.Errorf("Secrets Manager calls: got %d want 1", got)
	}
	if got := s.parts.Keys.Stats().Fetches; got != 1 {
		t.Errorf("key cache fetches: got %d want 1", got)
	}
	if got := s.ilos.Calls(); got != n {
		t.Errorf("ilos calls: got %d want %d", got, n)
	}
}

// assertGoroutinesSettle fails the test if, within 10 seconds, the number
// of goroutines does not come back down to base. A goroutine's end sends
// no signal, so the count is polled; a leak is reported with every
// goroutine's stack.
func assertGoroutinesSettle(t *testing.T, base int) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for runtime.NumGoroutine() > base {
		select {
		case <-poll.C:
		case <-timeout.C:
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Errorf("goroutines: got %d want at most %d:\n%s",
				runtime.NumGoroutine(), base, stacks.String())
			return
		}
	}
}
