// Package bench holds the workloads the benchmarks compare: the function
// invoked warm, a bare POST to the ilos stand-in, the handler with the
// network replaced by memory, and the naive function a user would write
// first. Go benchmarks (go test -bench . ./internal/bench) and the report
// program (internal/cmd/benchreport) run the same workloads, so their
// figures agree.
//
// Every workload runs against the in-process stand-ins, secretstest and
// ilostest, over loopback; nothing here talks to AWS or ilos.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/handler"
	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/internal/app"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// The fixed names every workload uses.
const (
	SecretID = "bench/ilos"
	Origin   = "https://app.example.com"
)

// Op is a workload ready to run: Do performs one operation, Close frees
// what the workload started.
type Op struct {
	// Do performs one operation and reports whether it failed.
	Do func(ctx context.Context) error

	// Close stops the workload's servers. It may be nil.
	Close func()
}

// Stack is the function wired as in production (the real SDK client
// against secretstest, the real ilos client against ilostest) with the
// stand-ins it talks to.
type Stack struct {
	// Secrets is the Secrets Manager stand-in holding the key.
	Secrets *secretstest.Server

	// Ilos is the ilos stand-in that knows the key.
	Ilos *ilostest.Server

	// Handler is the function's handler.
	Handler *handler.Handler

	// Key is the ilos key stored in Secrets.
	Key string
}

// NewStack starts the stand-ins and wires the function to them. The
// handler logs its line per request, metrics included, to io.Discard, so
// that formatting the line is part of what is measured.
func NewStack() (*Stack, error) {
	s := &Stack{
		Secrets: secretstest.NewServer(),
		Ilos:    ilostest.NewServer(),
		Key:     "bench-ilos-key-0123456789abcdef",
	}
	s.Secrets.SetString(SecretID, s.Key)
	s.Ilos.AddKey(s.Key)

	env := map[string]string{
		config.EnvSecretID:       SecretID,
		config.EnvAllowedOrigins: Origin,
		config.EnvAPIURL:         s.Ilos.URL(),
	}
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	parts, err := app.New(cfg, s.Secrets.AWSConfig(), discardLogger())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Handler = parts.Handler
	return s, nil
}

// Close stops the stand-ins.
func (s *Stack) Close() {
	s.Secrets.Close()
	s.Ilos.Close()
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// Event returns an API Gateway HTTP API (payload 2.0) event asking for a
// token from [Origin].
func Event() []byte {
	return []byte(`{"version":"2.0","routeKey":"POST /token",` +
		`"rawPath":"/token","headers":{"origin":"` + Origin + `",` +
		`"content-type":"application/json"},"body":"",` +
		`"isBase64Encoded":false,"requestContext":{"requestId":"bench",` +
		`"stage":"$default","http":{"method":"POST","path":"/token"}}}`)
}

// invoke runs one invocation through h with a deadline like Lambda's and
// checks that it vended a token.
func invoke(ctx context.Context, h *handler.Handler, ev []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, _ := h.Handle(ctx, ev)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, resp.Body)
	}
	return nil
}

// Invoke is the function invoked warm: event decode, the key from memory,
// the ilos call over loopback to the stand-in, the response and its log
// line.
func Invoke() (*Op, error) {
	s, err := NewStack()
	if err != nil {
		return nil, err
	}
	ev := Event()
	return &Op{
		Do:    func(ctx context.Context) error { return invoke(ctx, s.Handler, ev) },
		Close: s.Close,
	}, nil
}

// BarePost is the baseline of [Invoke]: the same POST to the same
// stand-in with a plain, kept http.Client, reading the answer whole and
// nothing else.
func BarePost() (*Op, error) {
	srv := ilostest.NewServer()
	const key = "bench-ilos-key-0123456789abcdef"
	srv.AddKey(key)
	endpoint := srv.URL() + ilostest.RecordPath
	form := url.Values{"api_key": {key}}.Encode()
	hc := &http.Client{Transport: &http.Transport{}}
	do := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			endpoint, strings.NewReader(form))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	return &Op{Do: do, Close: func() {
		hc.CloseIdleConnections()
		srv.Close()
	}}, nil
}

// memoryAnswer is what the in-memory transport answers, shaped like
// ilos's success answer.
const memoryAnswer = `{"worked":true,"token":"AbCdEfGhIjKlMnOpQrStUvWxYz012345678",` +
	`"expires":1796345096,"recorderLaunchURI":"ilosrecord:record?token=` +
	`AbCdEfGhIjKlMnOpQrStUvWxYz012345678"}`

// memoryTransport answers every request with memoryAnswer, after reading
// the request body as a real transport would.
type memoryTransport struct{}

func (memoryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(memoryAnswer)),
		ContentLength: int64(len(memoryAnswer)),
		Request:       req,
	}, nil
}

// InMemory is the handler's own cost: [Invoke] with the ilos client's
// transport replaced by one that answers from memory, and the key cached.
func InMemory() (*Op, error) {
	s, err := NewStack()
	if err != nil {
		return nil, err
	}
	client, err := ilos.New(ilos.Config{
		BaseURL:    mustURL(s.Ilos.URL()),
		HTTPClient: &http.Client{Transport: memoryTransport{}},
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	keys, err := newKeys(s)
	if err != nil {
		s.Close()
		return nil, err
	}
	h, err := handler.New(handler.Config{
		Keys:           keys,
		Tokens:         client,
		AllowedOrigins: []string{Origin},
		Logger:         discardLogger(),
		Metrics:        &handler.Metrics{Namespace: config.DefaultMetrics},
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	ev := Event()
	return &Op{
		Do:    func(ctx context.Context) error { return invoke(ctx, h, ev) },
		Close: s.Close,
	}, nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// Result is a measured workload.
type Result struct {
	// N is the number of operations timed.
	N int

	// NsPerOp, AllocsPerOp and BytesPerOp are per operation.
	NsPerOp     float64
	AllocsPerOp float64
	BytesPerOp  float64
}

// Measure runs op.Do for at least d (and at least once) after a warm-up of
// a tenth of that, and returns the time and memory each call took. It
// counts every allocation in the process, the stand-ins' included, as Go
// benchmarks do.
func Measure(ctx context.Context, op *Op, d time.Duration) (Result, error) {
	if _, err := loop(ctx, op, d/10); err != nil {
		return Result{}, err
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	n, err := loop(ctx, op, d)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		return Result{}, err
	}
	return Result{
		N:           n,
		NsPerOp:     float64(elapsed.Nanoseconds()) / float64(n),
		AllocsPerOp: float64(after.Mallocs-before.Mallocs) / float64(n),
		BytesPerOp:  float64(after.TotalAlloc-before.TotalAlloc) / float64(n),
	}, nil
}

// loop calls op.Do until d has passed, at least once, and returns the
// number of calls.
func loop(ctx context.Context, op *Op, d time.Duration) (int, error) {
	end := time.Now().Add(d)
	n := 0
	for {
		if err := op.Do(ctx); err != nil {
			return n, err
		}
		n++
		if n%16 == 0 || n < 16 {
			if !time.Now().Before(end) {
				return n, nil
			}
		}
	}
}

// Counts are the upstream calls a run of invocations made.
type Counts struct {
	// Invocations is how many invocations ran.
	Invocations int

	// SecretCalls is the GetSecretValue calls Secrets Manager received.
	SecretCalls int

	// Connections is the TCP connections ilos accepted.
	Connections int
}

// Run runs n invocations of the function (naive false) or of the naive
// function (naive true) on a fresh stack, with workers goroutines at once,
// and counts the upstream calls they made.
func Run(ctx context.Context, naive bool, n, workers int) (Counts, error) {
	s, err := NewStack()
	if err != nil {
		return Counts{}, err
	}
	defer s.Close()
	do := func(ctx context.Context) error {
		return invoke(ctx, s.Handler, Event())
	}
	if naive {
		nf := newNaive(s)
		defer nf.close()
		do = nf.do
	}

	jobs := make(chan struct{})
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				if err := do(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var failed error
feed:
	for range n {
		select {
		case jobs <- struct{}{}:
		case failed = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if failed == nil {
		failed = <-errs
	}
	if failed != nil {
		return Counts{}, fmt.Errorf("run: %w", failed)
	}
	return Counts{
		Invocations: n,
		SecretCalls: s.Secrets.Calls(),
		Connections: s.Ilos.Connections(),
	}, nil
}

// errNoToken is the naive function's failure when ilos gave no token.
var errNoToken = errors.New("naive: no token")

// answerJSON is the answer a browser gets from the naive function.
type answerJSON struct {
	Token   string `json:"token"`
	Expires int64  `json:"expires"`
}

// encode marshals the naive function's answer.
func (a answerJSON) encode() (string, error) {
	b, err := json.Marshal(a)
	return string(b), err
}
