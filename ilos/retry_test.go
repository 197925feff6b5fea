package ilos

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/ilos/ilostest"
)

// waits is a [RetryPolicy.Wait] that records each wait and returns at
// once, or with ctx's error when ctx is done.
type waits struct {
	mu  sync.Mutex
	got []time.Duration
}

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

// maxJitter draws the largest value allowed, so that waits are the whole
// backoff.
func maxJitter(n int64) int64 { return n - 1 }

func TestRetries(t *testing.T) {
	status := func(code int, count int, retryAfter string) ilostest.Fault {
		return ilostest.Fault{Kind: ilostest.Status, Status: code,
			Count: count, RetryAfter: retryAfter}
	}
	tests := []struct {
		name      string
		fault     ilostest.Fault
		key       string        // empty: testKey
		policy    RetryPolicy   // Jitter and Wait are set by the test
		ctxWait   time.Duration // zero: no deadline
		timeout   time.Duration // Config.Timeout
		wantKind  error         // nil: a token
		wantCalls int
		wantWaits []time.Duration
	}{
		{
			name:      "500 once",
			fault:     status(500, 1, ""),
			wantCalls: 2,
			wantWaits: []time.Duration{100 * time.Millisecond},
		},
		{
			name:      "503 twice",
			fault:     status(503, 2, ""),
			wantCalls: 3,
			wantWaits: []time.Duration{100 * time.Millisecond,
				200 * time.Millisecond},
		},
		{
			name:      "503 throughout",
			fault:     status(503, 0, ""),
			wantKind:  ErrUnavailable,
			wantCalls: 3,
			wantWaits: []time.Duration{100 * time.Millisecond,
				200 * time.Millisecond},
		},
		{
			name:      "503 with Retry-After",
			fault:     status(503, 1, "1"),
			wantCalls: 2,
			wantWaits: []time.Duration{time.Second},
		},
		{
			name:      "429 without Retry-After",
			fault:     status(429, 1, ""),
			wantCalls: 2,
			wantWaits: []time.Duration{100 * time.Millisecond},
		},
		{
			name:      "429 with a Retry-After that fits",
			fault:     status(429, 1, "2"),
			wantCalls: 2,
			wantWaits: []time.Duration{2 * time.Second},
		},
		{
			name:      "429 with a Retry-After over MaxDelay",
			fault:     status(429, 0, "7"),
			wantKind:  ErrRateLimited,
			wantCalls: 1,
		},
		{
			name:      "429 with a Retry-After past the deadline",
			fault:     status(429, 0, "1"),
			ctxWait:   time.Second,
			wantKind:  ErrRateLimited,
			wantCalls: 1,
		},
		{
			name:      "reset once",
			fault:     ilostest.Fault{Kind: ilostest.Reset, Count: 1},
			wantCalls: 2,
			wantWaits: []time.Duration{100 * time.Millisecond},
		},
		{
			name:      "backoff capped",
			fault:     status(500, 0, ""),
			policy:    RetryPolicy{MaxAttempts: 4, MaxDelay: 150 * time.Millisecond},
			wantKind:  ErrUnavailable,
			wantCalls: 4,
			wantWaits: []time.Duration{100 * time.Millisecond,
				150 * time.Millisecond, 150 * time.Millisecond},
		},
		{
			name:      "retries off",
			fault:     status(500, 0, ""),
			policy:    RetryPolicy{MaxAttempts: 1},
			wantKind:  ErrUnavailable,
			wantCalls: 1,
		},
		{
			name:      "no time left for a retry",
			fault:     status(500, 0, ""),
			ctxWait:   300 * time.Millisecond,
			wantKind:  ErrUnavailable,
			wantCalls: 1,
		},
		{
			name:      "rejected key",
			key:       "unknown-key",
			wantKind:  ErrKeyRejected,
			wantCalls: 1,
		},
		{
			name:      "403",
			fault:     status(403, 0, ""),
			wantKind:  ErrKeyRejected,
			wantCalls: 1,
		},
		{
			name:      "worked false",
			fault:     ilostest.Fault{Kind: ilostest.WorkedFalse},
			wantKind:  ErrRefused,
			wantCalls: 1,
		},
		{
			name:      "400",
			fault:     status(400, 0, ""),
			wantKind:  ErrRefused,
			wantCalls: 1,
		},
		{
			name:      "HTML",
			fault:     ilostest.Fault{Kind: ilostest.HTML},
			wantKind:  ErrBadAnswer,
			wantCalls: 1,
		},
		{
			name:      "truncated",
			fault:     ilostest.Fault{Kind: ilostest.Truncated},
			wantKind:  ErrBadAnswer,
			wantCalls: 1,
		},
		{
			name: "redirect",
			fault: ilostest.Fault{Kind: ilostest.Redirect,
				Location: "https://elsewhere.example/"},
			wantKind:  ErrBadAnswer,
			wantCalls: 1,
		},
		{
			name:      "timeout",
			fault:     ilostest.Fault{Kind: ilostest.Hang},
			timeout:   100 * time.Millisecond,
			wantKind:  ErrTimeout,
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &waits{}
			policy := tt.policy
			policy.Jitter = maxJitter
			policy.Wait = w.wait
			srv, c := standIn(t, Config{Retry: policy, Timeout: tt.timeout})
			if tt.fault.Kind != 0 {
				srv.SetFault(tt.fault)
			}
			ctx := t.Context()
			if tt.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxWait)
				defer cancel()
			}
			key := cmpOr(tt.key, testKey)

			tok, err := c.RecordToken(ctx, key, nil)
			if tt.wantKind == nil {
				if err != nil {
					t.Fatalf("got error %v, want a token", err)
				}
				if !srv.ValidToken(tok.Value) {
					t.Errorf("got token %q, not issued", tok.Value)
				}
			} else {
				e := checkError(t, err, tt.wantKind)
				if e.Attempts != tt.wantCalls {
					t.Errorf("got Attempts %d, want %d", e.Attempts,
						tt.wantCalls)
				}
				checkNoSecrets(t, err, srv, key)
			}
			if n := srv.Calls(); n != tt.wantCalls {
				t.Errorf("got %d calls, want %d", n, tt.wantCalls)
			}
			if got := w.list(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("got waits %v, want %v", got, tt.wantWaits)
			}
		})
	}
}

// cmpOr returns s, or def when s is empty.
func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestRetryJitter(t *testing.T) {
	var draws []int64
	p, err := RetryPolicy{Jitter: func(n int64) int64 {
		draws = append(draws, n)
		return n / 2
	}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	e := &Error{Kind: ErrUnavailable, Status: 503}
	var got []time.Duration
	for n := 1; n <= 3; n++ {
		d, ok := p.delay(n, e)
		if !ok {
			t.Fatalf("retry %d refused", n)
		}
		got = append(got, d)
	}
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond,
		200 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Errorf("got waits %v, want %v", got, want)
	}
	wantDraws := []int64{int64(100*time.Millisecond) + 1,
		int64(200*time.Millisecond) + 1, int64(400*time.Millisecond) + 1}
	if !slices.Equal(draws, wantDraws) {
		t.Errorf("got draws below %v, want %v", draws, wantDraws)
	}
	if d, _ := p.delay(80, e); d > DefaultMaxDelay {
		t.Errorf("retry 80 waits %v, over the cap %v", d, DefaultMaxDelay)
	}
}

func TestRetryWaitCanceled(t *testing.T) {
	srv, c := standIn(t, Config{Retry: RetryPolicy{
		Wait: func(context.Context, time.Duration) error {
			return context.Canceled
		},
	}})
	srv.SetFault(ilostest.Fault{Kind: ilostest.Status, Status: 502})

	_, err := c.RecordToken(t.Context(), testKey, nil)
	checkError(t, err, ErrTimeout)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want it to wrap context.Canceled", err)
	}
	if n := srv.Calls(); n != 1 {
		t.Errorf("got %d calls, want 1", n)
	}
}

func TestDefaultWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting on a canceled context: got %v, want Canceled", err)
	}
	if err := wait(t.Context(), 0); err != nil {
		t.Errorf("waiting no time: got %v, want nil", err)
	}
	if err := wait(t.Context(), time.Microsecond); err != nil {
		t.Errorf("waiting a microsecond: got %v, want nil", err)
	}
}

func TestRetryPolicyInvalid(t *testing.T) {
	for _, p := range []RetryPolicy{
		{MaxAttempts: -1}, {BaseDelay: -1}, {MaxDelay: -1}, {MinAttempt: -1},
	} {
		if _, err := New(Config{Retry: p}); err == nil {
			t.Errorf("New accepted %+v", p)
		}
	}
}
