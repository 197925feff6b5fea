// Package handler answers the browser's request for an ilos record token.
//
// One [Handler] serves the three ways Lambda is called over HTTP: API
// Gateway HTTP APIs (payload 2.0), REST APIs (payload 1.0) and function
// URLs. It owns CORS, checks the request, takes the key from a [KeySource],
// exchanges it at ilos through a [TokenIssuer] and answers with the token and
// its expiry only. It never returns a Go error, never lets a panic escape,
// always answers before the invocation's deadline, and never puts a key,
// a token or a raw event in a log line. Error responses carry fixed
// messages; the cause is logged once.
package handler

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/secrets"
)

// KeySource supplies the ilos key. [*secrets.Cache] implements it.
type KeySource interface {
	// Key returns the current key.
	Key(ctx context.Context) (secrets.Key, error)
	// Refresh fetches the key again, for when ilos rejects the one held.
	Refresh(ctx context.Context) (secrets.Key, error)
}

// TokenIssuer exchanges a key for a record token. [*ilos.Client]
// implements it.
type TokenIssuer interface {
	RecordToken(ctx context.Context, apiKey string,
		opts ilos.Options) (ilos.Token, error)
}

var (
	_ KeySource   = (*secrets.Cache)(nil)
	_ TokenIssuer = (*ilos.Client)(nil)
)

// Defaults for [Config] fields left zero.
const (
	DefaultPath    = "/token"
	DefaultReserve = 250 * time.Millisecond
	DefaultTimeout = 15 * time.Second
	DefaultMaxAge  = 10 * time.Minute
)

// Config configures a [Handler].
type Config struct {
	// Keys supplies the ilos key. Required.
	Keys KeySource

	// Tokens exchanges the key for a token. Required.
	Tokens TokenIssuer

	// AllowedOrigins are the exact origins allowed to ask for a token, as
	// browsers send them ("https://app.example.com"), or the single entry
	// "*" to allow any. Required.
	AllowedOrigins []string

	// TokenOptions are the operator's fixed ilos options. They are sent
	// with every request and win over what the browser sets. Nil sends
	// none.
	TokenOptions ilos.Options

	// ClientOptions are the ilos fields the browser may set in its request
	// body. Empty lets it set none.
	ClientOptions []string

	// Logger receives one line per request. Nil discards.
	Logger *slog.Logger

	// Path is the route that vends tokens. Zero means [DefaultPath].
	Path string

	// Reserve is the time kept back from the invocation's deadline to
	// answer in. Zero means [DefaultReserve].
	Reserve time.Duration

	// Timeout bounds a request whose context has no deadline, as on the
	// local server. Zero means [DefaultTimeout].
	Timeout time.Duration

	// MaxAge is how long a browser may cache a preflight answer. Zero
	// means [DefaultMaxAge].
	MaxAge time.Duration

	// Metrics, when set with a namespace, adds CloudWatch metrics in the
	// Embedded Metric Format to each request's log line. Nil adds none.
	Metrics *Metrics

	// Now tells the time, for the durations in the log. Nil means
	// time.Now.
	Now func() time.Time
}

// Handler answers token requests. It is safe for concurrent use.
type Handler struct {
	keys          KeySource
	tokens        TokenIssuer
	cors          cors
	tokenOptions  ilos.Options
	clientOptions []string
	log           *slog.Logger
	path          string
	reserve       time.Duration
	timeout       time.Duration
	meter         *meter
	now           func() time.Time
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Keys == nil {
		errs = append(errs, errors.New("no key source"))
	}
	if cfg.Tokens == nil {
		errs = append(errs, errors.New("no token issuer"))
	}
	c, err := newCORS(cfg.AllowedOrigins,
		cmp.Or(cfg.MaxAge, DefaultMaxAge))
	if err != nil {
		errs = append(errs, err)
	}
	for _, name := range cfg.ClientOptions {
		if !BrowserSettable(name) {
			errs = append(errs,
				fmt.Errorf("option %q cannot be set by a browser", name))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("new handler: %w", errors.Join(errs...))
	}

	h := &Handler{
		keys:          cfg.Keys,
		tokens:        cfg.Tokens,
		cors:          c,
		tokenOptions:  cfg.TokenOptions,
		clientOptions: slices.Clone(cfg.ClientOptions),
		log:           cfg.Logger,
		path:          cmp.Or(cfg.Path, DefaultPath),
		reserve:       cmp.Or(cfg.Reserve, DefaultReserve),
		timeout:       cmp.Or(cfg.Timeout, DefaultTimeout),
		meter:         newMeter(cfg.Metrics, cfg.Keys),
		now:           cfg.Now,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// Handle answers one Lambda invocation. Its error is always nil: every
// failure becomes an HTTP response, so that API Gateway never answers
// without CORS headers. It is the function [lambda.Start] runs.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (
	Response, error) {
	return h.handle(ctx, func() (*request, error) {
		return decodeEvent(raw)
	}), nil
}

// handle answers the request that decode gives, logs it and keeps any
// panic in.
func (h *Handler) handle(ctx context.Context,
	decode func() (*request, error)) (resp Response) {
	x := &exchange{start: h.now(), before: h.meter.snapshot()}
	defer func() {
		if p := recover(); p != nil {
			x.err = fmt.Errorf("panic: %v", p)
			resp = h.fail(x, errInternal)
		}
		h.logExchange(ctx, x, resp.StatusCode)
	}()
	return h.serve(ctx, decode, x)
}

// exchange gathers what one request did, for its log line.
type exchange struct {
	req       *request
	requestID string
	origin    string
	allowed   bool
	outcome   string
	err       error
	start     time.Time
	elapsed   time.Duration
	secrets   time.Duration
	ilos      time.Duration
	refreshed bool

	// For metrics: the key source's counters before the request, and
	// which upstreams were called.
	before        secrets.Stats
	secretsCalled bool
	ilosCalled    bool
}

func (h *Handler) serve(ctx context.Context,
	decode func() (*request, error), x *exchange) Response {
	req, err := decode()
	x.req = req
	x.requestID = requestID(ctx, req)
	if req == nil {
		x.err = err
		return h.fail(x, errInvalidEvent)
	}

	x.origin, x.allowed = h.cors.check(req)
	if !x.allowed {
		return h.fail(x, errOriginNotAllowed)
	}
	if req.path != h.path {
		return h.fail(x, errNotFound)
	}
	switch req.method {
	case "OPTIONS":
		x.outcome = "preflight"
		return h.respond(x, 204, nil, h.cors.preflight)
	case "POST":
	default:
		return h.fail(x, errMethodNotAllowed)
	}
	switch {
	case errors.Is(err, errBodyTooLarge):
		return h.fail(x, errTooLarge)
	case errors.Is(err, errBodyUnreadable):
		x.err = err
		return h.fail(x, errInvalidEvent)
	case err != nil:
		x.err = err
		return h.fail(x, errInvalidBody)
	}

	opts, apiErr := h.options(req.body, x)
	if apiErr != nil {
		return h.fail(x, apiErr)
	}

	ctx, cancel := h.budget(ctx)
	defer cancel()
	tok, apiErr := h.vend(ctx, opts, x)
	if apiErr != nil {
		return h.fail(x, apiErr)
	}

	x.outcome = "token_issued"
	body := tokenBody{Token: tok.Value, Expires: tok.Expires}
	return h.respond(x, 200, body, nil)
}

// budget bounds ctx so that the answer leaves before the invocation's
// deadline, with the reserve to spare.
func (h *Handler) budget(ctx context.Context) (context.Context,
	context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, h.timeout)
	}
	return context.WithDeadline(ctx, deadline.Add(-h.reserve))
}

// vend takes the key and exchanges it for a token. When ilos rejects the key
// it fetches the key again and, if it changed (rotation), tries once more.
func (h *Handler) vend(ctx context.Context, opts ilos.Options,
	x *exchange) (ilos.Token, *apiError) {
	key, err := h.timedKey(ctx, x, h.keys.Key)
	if err != nil {
		x.err = err
		return ilos.Token{}, secretsError(ctx, err)
	}

	tok, err := h.timedToken(ctx, x, key, opts)
	if errors.Is(err, ilos.ErrKeyRejected) {
		x.refreshed = true
		fresh, rerr := h.timedKey(ctx, x, h.keys.Refresh)
		if rerr == nil && !fresh.Equal(key) {
			tok, err = h.timedToken(ctx, x, fresh, opts)
		} else if rerr != nil {
			err = fmt.Errorf("%w; refresh after rejection: %w", err, rerr)
		}
	}
	if err != nil {
		x.err = err
		return ilos.Token{}, ilosError(ctx, err)
	}
	return tok, nil
}

func (h *Handler) timedKey(ctx context.Context, x *exchange,
	get func(context.Context) (secrets.Key, error)) (secrets.Key, error) {
	t := h.now()
	defer func() { x.secrets += h.now().Sub(t) }()
	x.secretsCalled = true
	return get(ctx)
}

func (h *Handler) timedToken(ctx context.Context, x *exchange,
	key secrets.Key, opts ilos.Options) (ilos.Token, error) {
	t := h.now()
	defer func() { x.ilos += h.now().Sub(t) }()
	x.ilosCalled = true
	return h.tokens.RecordToken(ctx, key.Reveal(), opts)
}

// tokenBody is the body of a successful answer: the token and its expiry,
// nothing else of what ilos said.
type tokenBody struct {
	Token   string `json:"token"`
	Expires int64  `json:"expires"`
}

// requestID picks the ID a user can quote: API Gateway's, else Lambda's,
// else a fresh one (local runs).
func requestID(ctx context.Context, req *request) string {
	if req != nil && req.requestID != "" && len(req.requestID) <= 128 {
		return req.requestID
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok &&
		lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return newRequestID()
}

// newRequestID returns a random ID for a request that came with none.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
