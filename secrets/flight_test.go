package secrets_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/secrets"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// TestCacheColdConcurrent starts many callers on an empty cache while the
// service holds the first request, and checks that they share one call.
func TestCacheColdConcurrent(t *testing.T) {
	const callers = 500
	f := newFixture(t, nil)
	held, release := make(chan struct{}), make(chan struct{})
	f.srv.SetFault(secretstest.Fault{
		Kind: secretstest.BlackHole, Count: 1, Held: held, Release: release})

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			k, err := f.cache.Key(t.Context())
			if err == nil && k.Reveal() != planted {
				err = errors.New("wrong key")
			}
			errs <- err
		})
	}
	close(start)
	<-held
	close(release)
	wg.Wait()
	close(errs)

	for err := range errs {
		if err != nil {
			t.Fatalf("Key: %v", err)
		}
	}
	f.wantCalls(t, 1)
	if got := f.cache.Stats().Fetches; got != 1 {
		t.Errorf("got %d fetches, want 1", got)
	}
}

// TestCacheWaiterGivesUp checks that a caller whose deadline passes
// returns alone: the shared fetch goes on and serves a later caller.
func TestCacheWaiterGivesUp(t *testing.T) {
	f := newFixture(t, func(c *secrets.Config) {
		c.FetchTimeout = time.Minute
	})
	held, release := make(chan struct{}), make(chan struct{})
	f.srv.SetFault(secretstest.Fault{
		Kind: secretstest.BlackHole, Count: 1, Held: held, Release: release})

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := f.cache.Key(ctx)
	if !errors.Is(err, secrets.ErrTimeout) ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout and DeadlineExceeded", err)
	}
	<-held // the fetch reached the service and is still held there

	done := make(chan error, 1)
	go func() {
		_, err := f.cache.Key(t.Context())
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("later caller: %v", err)
	}
	f.wantKey(t, planted)
	f.wantCalls(t, 1)
	if got := f.cache.Stats(); got.Fetches != 1 || got.Failures != 0 {
		t.Errorf("got stats %+v, want one fetch and no failure", got)
	}
}

// TestCacheNoGoroutineLeft lets callers give up on a fetch that the
// service never answers, and checks that every goroutine the cache and
// the SDK started ends once FetchTimeout passes.
func TestCacheNoGoroutineLeft(t *testing.T) {
	f := newFixture(t, func(c *secrets.Config) {
		c.FetchTimeout = 200 * time.Millisecond
	})
	held := make(chan struct{})
	f.srv.SetFault(secretstest.Fault{
		Kind: secretstest.BlackHole, Count: 1, Held: held})
	before := runtime.NumGoroutine()

	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		if _, err := f.cache.Key(ctx); !errors.Is(err, secrets.ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		cancel()
	}
	<-held

	waitGoroutines(t, before)
	if got := f.cache.Stats(); got.Fetches != 1 || got.Failures != 1 {
		t.Errorf("got stats %+v, want one failed fetch", got)
	}
	f.wantKey(t, planted)
	f.wantCalls(t, 2)
}

// waitGoroutines polls, within a bound, until no more than want
// goroutines run. Goroutines end asynchronously, so a single count right
// away could see some that are on their way out.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(10 * time.Second)
	for runtime.NumGoroutine() > want {
		select {
		case <-tick.C:
		case <-limit:
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("got %d goroutines, want at most %d:\n%s",
				runtime.NumGoroutine(), want, buf)
		}
	}
}

func BenchmarkCacheKeyHit(b *testing.B) {
	srv := secretstest.NewServer()
	defer srv.Close()
	srv.SetString(secretID, planted)
	c, err := secrets.New(secrets.Config{
		Client:   newClient(srv),
		SecretID: secretID,
		KeyType:  secrets.KeyTypeOrganization,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if _, err := c.Key(ctx); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Key(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
