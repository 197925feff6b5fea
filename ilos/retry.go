package ilos

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Defaults for the zero fields of [RetryPolicy].
const (
	DefaultMaxAttempts = 3
	DefaultBaseDelay   = 100 * time.Millisecond
	DefaultMaxDelay    = 2 * time.Second
	DefaultMinAttempt  = 250 * time.Millisecond
)

// RetryPolicy says when [Client.RecordToken] tries again. It retries only
// what is safe and useful to retry: a network error (a refused or reset
// connection, a body cut off), a 5xx status and a 429. It never retries a
// rejected key, a refusal, a bad answer or a timeout. The zero value is the
// default policy: at most 3 attempts, waits jittered and bounded by the
// caller's deadline.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of one call, the first included.
	// Zero means DefaultMaxAttempts; 1 turns retries off.
	MaxAttempts int

	// BaseDelay is the backoff before the first retry; it doubles for
	// each retry after that. Each wait is drawn at random between zero and
	// the backoff ("full jitter"), so that many functions failing together
	// do not retry together. Zero means DefaultBaseDelay.
	BaseDelay time.Duration

	// MaxDelay caps the backoff. A Retry-After longer than it ends the
	// retries, and the error carries the Retry-After for the caller to
	// pass on. Zero means DefaultMaxDelay.
	MaxDelay time.Duration

	// MinAttempt is the least time an attempt is given: a retry happens
	// only when its wait plus MinAttempt ends before the context's
	// deadline. Zero means DefaultMinAttempt.
	MinAttempt time.Duration

	// Jitter returns a random number in [0, n), n > 0. Nil means
	// math/rand/v2's Int64N.
	Jitter func(n int64) int64

	// Wait waits d or until ctx is done, and returns ctx's error in the
	// second case. Nil means a timer.
	Wait func(ctx context.Context, d time.Duration) error
}

// withDefaults returns p with its zero fields set.
func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 ||
		p.MinAttempt < 0 {
		return p, errors.New("ilos: negative retry setting")
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MinAttempt == 0 {
		p.MinAttempt = DefaultMinAttempt
	}
	if p.Jitter == nil {
		p.Jitter = rand.Int64N
	}
	if p.Wait == nil {
		p.Wait = wait
	}
	return p, nil
}

// retryable reports whether a failed attempt is worth another.
func retryable(e *Error) bool {
	return e.Kind == ErrUnavailable || e.Kind == ErrRateLimited
}

// delay returns the wait before retry number n (1 for the first retry)
// after e, and false when e should not be retried at all.
func (p RetryPolicy) delay(n int, e *Error) (time.Duration, bool) {
	if !retryable(e) {
		return 0, false
	}
	if e.RetryAfter > 0 {
		return e.RetryAfter, e.RetryAfter <= p.MaxDelay
	}
	backoff := p.MaxDelay
	if shift := n - 1; shift < 30 {
		backoff = min(p.BaseDelay<<shift, p.MaxDelay)
	}
	return time.Duration(p.Jitter(int64(backoff) + 1)), true
}

// fits reports whether a wait of d and then an attempt end before ctx's
// deadline, as told by now.
func (p RetryPolicy) fits(ctx context.Context, d time.Duration,
	now time.Time) bool {
	deadline, ok := ctx.Deadline()
	return !ok || !now.Add(d+p.MinAttempt).After(deadline)
}

// wait is the default [RetryPolicy.Wait].
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
