package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/singleflight"
)

// Defaults for the zero values of [Config].
const (
	DefaultTTL                = 5 * time.Minute
	DefaultRetryAfterFailure  = 30 * time.Second
	DefaultMinRefreshInterval = 10 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
)

// API is the part of the Secrets Manager client that [Cache] uses.
// *secretsmanager.Client satisfies it.
type API interface {
	GetSecretValue(ctx context.Context,
		in *secretsmanager.GetSecretValueInput,
		optFns ...func(*secretsmanager.Options),
	) (*secretsmanager.GetSecretValueOutput, error)
}

var _ API = (*secretsmanager.Client)(nil)

// Config configures a [Cache]. Client, SecretID and KeyType are required.
type Config struct {
	// Client calls Secrets Manager, usually a *secretsmanager.Client built
	// once per process. Required: New rejects nil.
	Client API

	// SecretID is the secret's name or ARN. Required: New rejects "".
	SecretID string

	// KeyType picks the field of a JSON secret; see [ParseValue].
	// Required: New rejects "" and any value [ParseKeyType] refuses.
	KeyType KeyType

	// TTL is how long a fetched key is served before Key fetches again.
	// Zero means DefaultTTL (5 minutes).
	TTL time.Duration

	// RetryAfterFailure is how long, after a failed fetch while an older
	// key keeps serving, Key and Refresh wait before calling Secrets
	// Manager again. Zero means DefaultRetryAfterFailure (30 seconds).
	RetryAfterFailure time.Duration

	// MinRefreshInterval is how young the last Refresh that called Secrets
	// Manager may be for a new Refresh to return the current key instead
	// of calling it again. It protects the service, billed per call, when
	// ilos keeps rejecting a revoked key; the first Refresh after a
	// rotation always reads the secret. Zero means
	// DefaultMinRefreshInterval (10 seconds).
	MinRefreshInterval time.Duration

	// FetchTimeout bounds one fetch, retries included. Zero means
	// DefaultFetchTimeout (5 seconds).
	FetchTimeout time.Duration

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	// Logger receives one warning per failed fetch while an older key
	// keeps serving. Nil means no logging.
	Logger *slog.Logger
}

// Stats counts what a [Cache] has done since it was made.
type Stats struct {
	// Fetches is the number of GetSecretValue calls made. The SDK may
	// retry inside one call.
	Fetches uint64

	// Hits is the number of keys served from memory without a fetch.
	Hits uint64

	// Failures is the number of fetches that failed.
	Failures uint64

	// StaleServed is the number of times Key served a key older than TTL
	// because a fetch failed or had failed recently.
	StaleServed uint64
}

// Cache holds the ilos key read from one secret. Its methods are safe for
// concurrent use. Create one with [New].
type Cache struct {
	client       API
	secretID     string
	keyType      KeyType
	ttl          time.Duration
	retryAfter   time.Duration
	minRefresh   time.Duration
	fetchTimeout time.Duration
	now          func() time.Time
	log          *slog.Logger

	flight singleflight.Group

	mu          sync.Mutex
	key         Key
	fetchedAt   time.Time // of the last successful fetch
	refreshedAt time.Time // of the last fetch that Refresh started
	failedAt    time.Time // of the last failed fetch while key was set
	lastErr     error     // of that failed fetch

	fetches     atomic.Uint64
	hits        atomic.Uint64
	failures    atomic.Uint64
	staleServed atomic.Uint64
}

// flightKey names the one shared fetch in the singleflight group.
const flightKey = "fetch"

// New returns a cache for the secret that cfg names. It reports every
// missing or invalid field in one error. It does not call Secrets Manager.
func New(cfg Config) (*Cache, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("missing Client"))
	}
	if cfg.SecretID == "" {
		errs = append(errs, errors.New("missing SecretID"))
	}
	if _, err := ParseKeyType(string(cfg.KeyType)); err != nil {
		errs = append(errs, err)
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"TTL", cfg.TTL},
		{"RetryAfterFailure", cfg.RetryAfterFailure},
		{"MinRefreshInterval", cfg.MinRefreshInterval},
		{"FetchTimeout", cfg.FetchTimeout},
	}
	for _, f := range durations {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("negative %s", f.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("secrets: invalid config: %w", err)
	}

	c := &Cache{
		client:       cfg.Client,
		secretID:     cfg.SecretID,
		keyType:      cfg.KeyType,
		ttl:          orDefault(cfg.TTL, DefaultTTL),
		retryAfter:   orDefault(cfg.RetryAfterFailure, DefaultRetryAfterFailure),
		minRefresh:   orDefault(cfg.MinRefreshInterval, DefaultMinRefreshInterval),
		fetchTimeout: orDefault(cfg.FetchTimeout, DefaultFetchTimeout),
		now:          cfg.Now,
		log:          cfg.Logger,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Key returns the key, fetching it when the cache holds none or holds one
// older than the TTL. When the fetch fails and an older key exists, Key
// returns that key and waits RetryAfterFailure before trying again.
//
// Concurrent callers share one fetch, which runs on a context detached
// from theirs and bounded by FetchTimeout. Each caller still returns when
// its own ctx is done, with a [FetchError] of kind [ErrTimeout] that also
// wraps ctx.Err().
func (c *Cache) Key(ctx context.Context) (Key, error) {
	if k, ok, err := c.memo(false); ok {
		return k, err
	}

	k, err := c.wait(ctx, false)
	if err == nil || ctx.Err() != nil {
		return k, err
	}

	c.mu.Lock()
	stale := c.key
	c.mu.Unlock()
	if stale.IsZero() {
		return Key{}, err
	}
	c.staleServed.Add(1)
	return stale, nil
}

// Refresh fetches the key now, for use when ilos rejects the current one
// because it was rotated. If the last Refresh that called Secrets Manager
// is younger than MinRefreshInterval, Refresh returns the current key
// without calling
// Secrets Manager; if the last fetch failed less than RetryAfterFailure
// ago, it returns that failure's error. It never falls back to an older
// key: a failed fetch returns its error. A Refresh that arrives while a
// fetch is under way shares that fetch's result.
func (c *Cache) Refresh(ctx context.Context) (Key, error) {
	if k, ok, err := c.memo(true); ok {
		return k, err
	}
	return c.wait(ctx, true)
}

// Stats returns the counters of the cache.
func (c *Cache) Stats() Stats {
	return Stats{
		Fetches:     c.fetches.Load(),
		Hits:        c.hits.Load(),
		Failures:    c.failures.Load(),
		StaleServed: c.staleServed.Load(),
	}
}

// memo returns what the cache can answer without a fetch; ok is false when
// a fetch is due. force selects the rules of Refresh over those of Key.
func (c *Cache) memo(force bool) (k Key, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.key.IsZero() {
		return Key{}, false, nil
	}
	now := c.now()

	fresh := now.Sub(c.fetchedAt) < c.ttl
	if force {
		fresh = !c.refreshedAt.IsZero() &&
			now.Sub(c.refreshedAt) < c.minRefresh
	}
	if fresh {
		c.hits.Add(1)
		return c.key, true, nil
	}

	if c.failedAt.IsZero() || now.Sub(c.failedAt) >= c.retryAfter {
		return Key{}, false, nil
	}
	if force {
		return Key{}, true, c.lastErr
	}
	c.staleServed.Add(1)
	return c.key, true, nil
}

// wait joins the shared fetch, or starts it, and waits for its result or
// for ctx, whichever comes first.
func (c *Cache) wait(ctx context.Context, force bool) (Key, error) {
	ch := c.flight.DoChan(flightKey, func() (any, error) {
		return c.fetch(ctx, force)
	})

	select {
	case r := <-ch:
		if r.Err != nil {
			return Key{}, r.Err
		}
		return r.Val.(Key), nil
	case <-ctx.Done():
		return Key{}, &FetchError{
			SecretID: c.secretID,
			Kind:     ErrTimeout,
			Err:      ctx.Err(),
		}
	}
}

// fetch calls GetSecretValue and records the outcome. It runs once per
// flight, on ctx stripped of its cancellation so that no single caller
// giving up fails the others.
func (c *Cache) fetch(ctx context.Context, force bool) (Key, error) {
	// Another flight may have filled the cache between a caller's check
	// and this one's start.
	if k, ok, err := c.memo(force); ok {
		return k, err
	}
	if force {
		c.mu.Lock()
		c.refreshedAt = c.now()
		c.mu.Unlock()
	}

	c.fetches.Add(1)
	ctx, cancel := context.WithTimeout(
		context.WithoutCancel(ctx), c.fetchTimeout)
	defer cancel()

	out, err := c.client.GetSecretValue(ctx,
		&secretsmanager.GetSecretValueInput{
			SecretId: aws.String(c.secretID),
		})
	if err != nil {
		return Key{}, c.fail(ctx, classify(err), err)
	}

	k, err := c.parse(out)
	if err != nil {
		kind := ErrMalformed
		if errors.Is(err, ErrMissingKeyType) {
			kind = ErrMissingKeyType
		}
		return Key{}, c.fail(ctx, kind, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = k
	c.fetchedAt = c.now()
	c.failedAt = time.Time{}
	c.lastErr = nil
	return k, nil
}

// parse takes the key out of a GetSecretValue answer.
func (c *Cache) parse(out *secretsmanager.GetSecretValueOutput) (Key, error) {
	switch {
	case out == nil:
		return Key{}, fmt.Errorf("%w: empty answer", ErrMalformed)
	case out.SecretString != nil:
		return ParseValue([]byte(*out.SecretString), c.keyType)
	case out.SecretBinary != nil:
		return ParseValue(out.SecretBinary, c.keyType)
	}
	return Key{}, fmt.Errorf(
		"%w: answer has neither SecretString nor SecretBinary", ErrMalformed)
}

// fail records a failed fetch and returns its error. While an older key
// exists, it starts the RetryAfterFailure wait and logs the failure.
func (c *Cache) fail(ctx context.Context, kind, cause error) error {
	c.failures.Add(1)
	err := &FetchError{SecretID: c.secretID, Kind: kind, Err: cause}

	c.mu.Lock()
	if c.key.IsZero() {
		c.mu.Unlock()
		return err
	}
	c.failedAt = c.now()
	c.lastErr = err
	c.mu.Unlock()

	c.log.LogAttrs(ctx, slog.LevelWarn,
		"secret refresh failed, serving the last good key",
		slog.String("secret_id", c.secretID),
		slog.String("kind", kindName(kind)),
		slog.Duration("retry_after", c.retryAfter),
		slog.String("error", err.Error()),
	)
	return err
}
