package secrets_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/ilostoken/ilostoken/internal/logbuf"
	"github.com/ilostoken/ilostoken/secrets"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

const secretID = "prod/ilos-key"

// clock is a settable time source for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newClient returns a real SDK client for srv.
func newClient(srv *secretstest.Server) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(srv.AWSConfig())
}

// fixture is a cache wired to a real SDK client and a fake service.
type fixture struct {
	srv   *secretstest.Server
	cache *secrets.Cache
	clock *clock
	logs  *logbuf.Buffer
}

// newFixture starts a fake service holding the planted key and a cache
// reading it; edit, if not nil, adjusts the config first.
func newFixture(t *testing.T, edit func(*secrets.Config)) *fixture {
	t.Helper()
	srv := secretstest.NewServer()
	t.Cleanup(srv.Close)
	srv.SetString(secretID, planted)

	f := &fixture{srv: srv, clock: newClock(), logs: &logbuf.Buffer{}}
	cfg := secrets.Config{
		Client:   newClient(srv),
		SecretID: secretID,
		KeyType:  secrets.KeyTypeOrganization,
		Now:      f.clock.Now,
		Logger:   slog.New(slog.NewJSONHandler(f.logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := secrets.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.cache = c
	return f
}

// wantKey calls Key and checks the key it returns.
func (f *fixture) wantKey(t *testing.T, want string) {
	t.Helper()
	k, err := f.cache.Key(t.Context())
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if got := k.Reveal(); got != want {
		t.Fatalf("got key %q, want %q", got, want)
	}
}

// wantCalls checks how many calls the fake service has received.
func (f *fixture) wantCalls(t *testing.T, want int) {
	t.Helper()
	if got := f.srv.Calls(); got != want {
		t.Fatalf("got %d calls at the server, want %d", got, want)
	}
}

func TestNew(t *testing.T) {
	client := secretsmanager.NewFromConfig(aws.Config{})
	tests := []struct {
		name string
		cfg  secrets.Config
		want []string // words the error must name
	}{
		{"empty", secrets.Config{},
			[]string{"Client", "SecretID", "key type"}},
		{"bad key type", secrets.Config{
			Client: client, SecretID: "s", KeyType: "zoom"},
			[]string{"zoom"}},
		{"negative durations", secrets.Config{
			Client: client, SecretID: "s", KeyType: secrets.KeyTypeUser,
			TTL: -1, FetchTimeout: -1},
			[]string{"TTL", "FetchTimeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := secrets.New(tt.cfg)
			if err == nil || c != nil {
				t.Fatalf("got %v, %v, want an error", c, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}

	c, err := secrets.New(secrets.Config{
		Client: client, SecretID: "s", KeyType: secrets.KeyTypeUser})
	if err != nil || c == nil {
		t.Fatalf("got %v, %v, want a cache", c, err)
	}
}

func TestCacheTTL(t *testing.T) {
	f := newFixture(t, nil)

	f.wantKey(t, planted)
	f.wantKey(t, planted)
	f.wantCalls(t, 1)

	f.srv.SetString(secretID, "rotated-key")
	f.clock.Add(secrets.DefaultTTL - time.Nanosecond)
	f.wantKey(t, planted)
	f.wantCalls(t, 1)

	f.clock.Add(time.Nanosecond)
	f.wantKey(t, "rotated-key")
	f.wantCalls(t, 2)

	want := secrets.Stats{Fetches: 2, Hits: 2}
	if got := f.cache.Stats(); got != want {
		t.Errorf("got stats %+v, want %+v", got, want)
	}
}

func TestCacheRefresh(t *testing.T) {
	f := newFixture(t, func(c *secrets.Config) {
		c.MinRefreshInterval = time.Minute
	})
	f.wantKey(t, planted)
	f.srv.SetString(secretID, "rotated-key")

	refresh := func(want string) {
		t.Helper()
		k, err := f.cache.Refresh(t.Context())
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if got := k.Reveal(); got != want {
			t.Fatalf("got key %q, want %q", got, want)
		}
	}

	// The first Refresh reads the secret, however young the key is.
	refresh("rotated-key")
	f.wantCalls(t, 2)

	// Too soon after that Refresh: no call, current key.
	f.srv.SetString(secretID, "rotated-again")
	f.clock.Add(time.Minute - time.Nanosecond)
	refresh("rotated-key")
	f.wantCalls(t, 2)

	f.clock.Add(time.Nanosecond)
	refresh("rotated-again")
	f.wantCalls(t, 3)

	// Key serves what Refresh fetched, from memory.
	f.wantKey(t, "rotated-again")
	f.wantCalls(t, 3)

	// A failed Refresh returns its error, with no older key in its place.
	f.clock.Add(time.Minute)
	f.srv.SetFault(secretstest.Fault{Kind: secretstest.AccessDenied})
	if _, err := f.cache.Refresh(t.Context()); !errors.Is(err,
		secrets.ErrAccessDenied) {
		t.Fatalf("got %v, want ErrAccessDenied", err)
	}
	f.wantCalls(t, 4)
}

func TestCacheRefreshCold(t *testing.T) {
	f := newFixture(t, nil)
	k, err := f.cache.Refresh(t.Context())
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if k.Reveal() != planted {
		t.Fatalf("got key %q, want the planted key", k.Reveal())
	}
	f.wantCalls(t, 1)
}

// TestCacheStale plants a key, breaks the service and checks that the old
// key keeps serving, that each failed attempt logs one line without the
// key, and that RetryAfterFailure spaces the attempts.
func TestCacheStale(t *testing.T) {
	const retryAfter = 30 * time.Second
	f := newFixture(t, func(c *secrets.Config) {
		c.RetryAfterFailure = retryAfter
	})
	f.wantKey(t, planted)

	f.srv.SetFault(secretstest.Fault{Kind: secretstest.Internal})
	f.clock.Add(secrets.DefaultTTL)
	f.wantKey(t, planted)
	f.wantCalls(t, 1+3) // the SDK tries a 500 three times
	if n := strings.Count(f.logs.String(), "\n"); n != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", n, f.logs)
	}

	// Within RetryAfterFailure: the old key, no call, no line.
	f.clock.Add(retryAfter - time.Nanosecond)
	f.wantKey(t, planted)
	f.wantCalls(t, 4)
	if _, err := f.cache.Refresh(t.Context()); !errors.Is(err,
		secrets.ErrUnavailable) {
		t.Fatalf("Refresh: got %v, want ErrUnavailable", err)
	}
	f.wantCalls(t, 4)

	// Then a new attempt, failing again.
	f.clock.Add(time.Nanosecond)
	f.wantKey(t, planted)
	f.wantCalls(t, 7)

	logs := f.logs.String()
	if n := strings.Count(logs, "\n"); n != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", n, logs)
	}
	for _, want := range []string{`"level":"WARN"`, `"kind":"unavailable"`,
		`"secret_id":"` + secretID + `"`, "InternalServiceError"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, planted) {
		t.Errorf("logs hold the key:\n%s", logs)
	}

	// The service recovers with a new key.
	f.srv.ClearFault()
	f.srv.SetString(secretID, "rotated-key")
	f.clock.Add(retryAfter)
	f.wantKey(t, "rotated-key")

	want := secrets.Stats{Fetches: 4, Failures: 2, StaleServed: 3}
	if got := f.cache.Stats(); got != want {
		t.Errorf("got stats %+v, want %+v", got, want)
	}
}

// TestCacheErrors checks the kind of each failure on a cold cache, that
// errors.As still finds the SDK's error, and that no error text holds the
// key.
func TestCacheErrors(t *testing.T) {
	fault := func(k secretstest.FaultKind) func(*fixture) {
		return func(f *fixture) {
			f.srv.SetFault(secretstest.Fault{Kind: k})
		}
	}
	value := func(v string) func(*fixture) {
		return func(f *fixture) { f.srv.SetString(secretID, v) }
	}

	tests := []struct {
		name    string
		edit    func(*secrets.Config)
		setup   func(*fixture)
		want    error
		wantAPI string // error code errors.As must find, if any
	}{
		{"not found", nil, fault(secretstest.NotFound),
			secrets.ErrNotFound, "ResourceNotFoundException"},
		{"unknown secret", func(c *secrets.Config) {
			c.SecretID = "nope"
		}, nil, secrets.ErrNotFound, "ResourceNotFoundException"},
		{"marked for deletion", nil,
			func(f *fixture) { f.srv.Delete(secretID) },
			secrets.ErrNotFound, "InvalidRequestException"},
		{"access denied", nil, fault(secretstest.AccessDenied),
			secrets.ErrAccessDenied, "AccessDeniedException"},
		{"KMS denied", nil, fault(secretstest.KMSDenied),
			secrets.ErrAccessDenied, "DecryptionFailure"},
		{"bad credentials", nil, fault(secretstest.BadCredentials),
			secrets.ErrAccessDenied, "UnrecognizedClientException"},
		{"no credentials", noCredentials, nil, secrets.ErrAccessDenied, ""},
		{"throttled", nil, fault(secretstest.Throttled),
			secrets.ErrThrottled, "ThrottlingException"},
		{"internal", nil, fault(secretstest.Internal),
			secrets.ErrUnavailable, "InternalServiceError"},
		{"unreachable", nil, func(f *fixture) { f.srv.Close() },
			secrets.ErrUnavailable, ""},
		{"fetch timeout", func(c *secrets.Config) {
			c.FetchTimeout = 20 * time.Millisecond
		}, fault(secretstest.BlackHole), secrets.ErrTimeout, ""},
		{"no value", nil,
			func(f *fixture) { f.srv.SetBinary(secretID, nil) },
			secrets.ErrMalformed, ""},
		{"bad value", nil, value(planted + " " + planted),
			secrets.ErrMalformed, ""},
		{"JSON without the type", nil,
			value(`{"user":"` + planted + `"}`),
			secrets.ErrMissingKeyType, ""},
		{"JSON not a string", nil, value(`{"organization":5}`),
			secrets.ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			if tt.setup != nil {
				tt.setup(f)
			}

			k, err := f.cache.Key(t.Context())
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !k.IsZero() {
				t.Error("got a key along with the error")
			}
			var fe *secrets.FetchError
			if !errors.As(err, &fe) || fe.SecretID == "" {
				t.Errorf("got %T, want a *FetchError with the ID", err)
			}
			if tt.wantAPI != "" {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) ||
					apiErr.ErrorCode() != tt.wantAPI {
					t.Errorf("got %v, want API error %s", err, tt.wantAPI)
				}
			}
			if strings.Contains(err.Error(), planted) {
				t.Errorf("error %q holds the key", err)
			}
			if got := f.cache.Stats().Failures; got != 1 {
				t.Errorf("got %d failures, want 1", got)
			}
		})
	}
}

// noCredentials gives the cache a client whose credential provider fails,
// as on a host with no role.
func noCredentials(c *secrets.Config) {
	opts := c.Client.(*secretsmanager.Client).Options()
	opts.Credentials = aws.CredentialsProviderFunc(
		func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, errors.New("no role")
		})
	c.Client = secretsmanager.New(opts)
}
