// Package ilos exchanges an ilos API key for a one-time record token, through
// the documented v1 endpoint POST /v1/token/record.
//
// It owns the wire format (the form body, the JSON answer), the checks on
// what ilos answers, and the mapping of every outcome to one of a few
// sentinel errors carried by an [*Error]. It retries what is safe to retry
// (network errors, 5xx, 429) as its [RetryPolicy] says, within the caller's
// deadline. It never logs, never follows a redirect, and never puts the API
// key or a token in an error's text.
//
// The sibling package ilostest is an in-process stand-in for ilos, for
// tests and local runs.
package ilos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the base URL of the ilos API.
const DefaultBaseURL = "https://api.ilosvideos.com"

// MaxBodyBytes caps the body read from ilos: a longer 2xx answer fails with
// [ErrBadAnswer]; the reason in a longer error answer is ignored.
const MaxBodyBytes = 64 << 10

// DefaultTimeout is the time one call may take when [Config] sets none.
const DefaultTimeout = 10 * time.Second

// DefaultUserAgent is the User-Agent sent when [Config] sets none.
const DefaultUserAgent = "ilostoken/1"

// MaxIdleConns is how many idle connections to ilos the client of
// [NewHTTPClient] keeps. Lambda sends one request at a time per container,
// which needs one; a local server under load may have many in flight, and
// with fewer idle slots than requests in flight each burst would close
// connections and open new ones.
const MaxIdleConns = 64

// recordPath is the record-token endpoint, below the base URL.
const recordPath = "v1/token/record"

// NewHTTPClient returns an HTTP client meant to be kept for the life of the
// process, so that connections to ilos are reused. It keeps up to
// [MaxIdleConns] idle connections to ilos, so that a burst of concurrent
// requests (the local server) leaves its connections for the next burst
// rather than closing all but a few. It has explicit timeouts
// (dial, TLS handshake, response header, idle connection, and timeout for
// a whole exchange; DefaultTimeout when timeout is not positive), uses
// HTTP/2 where the server offers it, and never follows redirects: following
// one would send the key to another host.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{
		Timeout:   min(timeout, 5*time.Second),
		KeepAlive: 30 * time.Second,
	}
	transport := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    min(timeout, 5*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           MaxIdleConns,
		MaxIdleConnsPerHost:    MaxIdleConns,
		MaxResponseHeaderBytes: MaxBodyBytes,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport:     transport,
		CheckRedirect: refuseRedirect,
		Timeout:       timeout,
	}
}

// refuseRedirect makes an [http.Client] return a 3xx answer as it is.
func refuseRedirect(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}

// Config configures a [Client]. The zero value talks to [DefaultBaseURL].
type Config struct {
	// BaseURL is the ilos API's base URL, checked as by [ParseBaseURL].
	// Nil means DefaultBaseURL.
	BaseURL *url.URL

	// HTTPClient sends the requests. Nil means NewHTTPClient(Timeout). A
	// given client is copied with redirects refused, whatever its own
	// CheckRedirect says.
	HTTPClient *http.Client

	// Timeout bounds each attempt, on top of the context's deadline. Zero
	// means DefaultTimeout; it may not be negative.
	Timeout time.Duration

	// UserAgent is sent with each request. Empty means DefaultUserAgent.
	UserAgent string

	// Retry says when a failed attempt is tried again. The zero value is
	// the default policy; see [RetryPolicy].
	Retry RetryPolicy
}

// Client requests record tokens from ilos. It is safe for concurrent use;
// make one per process and keep it, so that connections are reused.
type Client struct {
	hc        *http.Client
	endpoint  string
	timeout   time.Duration
	userAgent string
	retry     RetryPolicy
	now       func() time.Time // for Retry-After dates and deadlines
}

// New returns a [Client] configured by cfg, or an error if a field of cfg
// is invalid.
func New(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	if base == nil {
		base, _ = url.Parse(DefaultBaseURL)
	}
	base, err := ParseBaseURL(base.String())
	if err != nil {
		return nil, err
	}

	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		return nil, errors.New("ilos: negative timeout")
	case timeout == 0:
		timeout = DefaultTimeout
	}

	userAgent := cfg.UserAgent
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	if strings.ContainsFunc(userAgent, func(r rune) bool {
		return r < ' ' || r > '~'
	}) {
		return nil, errors.New("ilos: user agent not printable ASCII")
	}

	retry, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}

	var hc *http.Client
	if cfg.HTTPClient == nil {
		hc = NewHTTPClient(timeout)
	} else {
		copied := *cfg.HTTPClient
		copied.CheckRedirect = refuseRedirect
		hc = &copied
	}

	c := &Client{
		hc:        hc,
		endpoint:  base.JoinPath(recordPath).String(),
		timeout:   timeout,
		userAgent: userAgent,
		retry:     retry,
		now:       time.Now,
	}
	return c, nil
}

// Token is a record token issued by ilos. Printed or logged, it shows its
// expiry only.
type Token struct {
	// Value is the one-time record token. It is a credential for one
	// recording: never log it.
	Value string

	// Expires is when the token expires, in UNIX seconds, as ilos said.
	Expires int64
}

// String describes t without its value.
func (t Token) String() string {
	return "ilos.Token{Value:[redacted] Expires:" +
		strconv.FormatInt(t.Expires, 10) + "}"
}

// GoString describes t without its value, for the %#v verb.
func (t Token) GoString() string {
	return t.String()
}

// LogValue logs t's expiry, never its value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("expires", t.Expires))
}

// RecordToken exchanges apiKey for a record token, sending opts along.
// Each attempt is bounded by ctx and the configured timeout; a failed one
// is tried again as the [RetryPolicy] says, never past ctx's deadline. The
// body is form-encoded, names sorted: api_key and each option, booleans as
// "1" or "0" (what PHP-style boolean validation accepts), extras as
// name[key]=value.
//
// It fails with an error wrapping [ErrInvalidOption] if opts is invalid,
// before sending anything; otherwise with an [*Error] whose Kind tells what
// went wrong, the last attempt's. An empty apiKey fails with
// [ErrKeyRejected] unsent.
func (c *Client) RecordToken(ctx context.Context, apiKey string,
	opts Options) (Token, error) {
	if apiKey == "" {
		return Token{}, &Error{
			Kind: ErrKeyRejected,
			Err:  errors.New("empty api key, not sent"),
		}
	}
	if err := opts.check(); err != nil {
		return Token{}, err // already says "ilos: invalid option"
	}
	form := url.Values{}
	opts.encode(form)
	form.Set("api_key", apiKey)
	body := form.Encode()

	for n := 1; ; n++ {
		tok, err := c.attempt(ctx, body, apiKey)
		var e *Error
		if err == nil || !errors.As(err, &e) {
			return tok, err
		}
		e.Attempts = n
		if n >= c.retry.MaxAttempts {
			return Token{}, e
		}
		d, ok := c.retry.delay(n, e)
		if !ok || !c.retry.fits(ctx, d, c.now()) {
			return Token{}, e
		}
		if err := c.retry.Wait(ctx, d); err != nil {
			return Token{}, &Error{Kind: ErrTimeout, Attempts: n,
				Err: fmt.Errorf("wait to retry: %w", err)}
		}
	}
}

// attempt sends one request and interprets the answer.
func (c *Client) attempt(ctx context.Context, body,
	apiKey string) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.post(ctx, body)
	if err != nil {
		return Token{}, err
	}
	return c.interpret(r, apiKey)
}

// reply is ilos's answer to one request.
type reply struct {
	status     int
	retryAfter string // the Retry-After header
	body       []byte // at most MaxBodyBytes
}

// post sends one form request and reads the answer, up to MaxBodyBytes. A
// non-nil error is an [*Error]. The body is given as a string so that a
// retry can send it again.
func (c *Client) post(ctx context.Context, form string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.endpoint, strings.NewReader(form))
	if err != nil {
		return reply{}, &Error{Kind: ErrUnavailable, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, &Error{Kind: transportKind(ctx, err), Err: err}
	}
	defer resp.Body.Close()
	r := reply{
		status:     resp.StatusCode,
		retryAfter: resp.Header.Get("Retry-After"),
	}

	r.body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	over := len(r.body) > MaxBodyBytes
	switch {
	case !isSuccess(r.status) && (over || err != nil):
		// The status is the answer; a reason in the body was a bonus.
		r.body = nil
	case over:
		return reply{}, &Error{
			Kind:   ErrBadAnswer,
			Status: r.status,
			Err:    fmt.Errorf("body over %d bytes", MaxBodyBytes),
		}
	case err != nil:
		return reply{}, &Error{
			Kind:   transportKind(ctx, err),
			Status: r.status,
			Err:    fmt.Errorf("read body: %w", err),
		}
	}
	return r, nil
}

// interpret turns an answer into a token or an [*Error].
func (c *Client) interpret(r reply, apiKey string) (Token, error) {
	if isSuccess(r.status) {
		a, err := decodeAnswer(r.body)
		if err != nil {
			return Token{}, &Error{
				Kind: ErrBadAnswer, Status: r.status, Err: err,
			}
		}
		if !a.worked {
			return Token{}, refusal(ErrRefused, r.status, a.reason, apiKey)
		}
		return Token{Value: a.token, Expires: a.expires}, nil
	}

	reason := failReason(r.body)
	switch {
	case r.status >= 300 && r.status < 400:
		return Token{}, &Error{
			Kind:   ErrBadAnswer,
			Status: r.status,
			Err:    errors.New("redirect not followed"),
		}
	case r.status == http.StatusUnauthorized,
		r.status == http.StatusForbidden:
		return Token{}, refusal(ErrKeyRejected, r.status, reason, apiKey)
	case r.status == http.StatusTooManyRequests:
		e := refusal(ErrRateLimited, r.status, reason, apiKey)
		e.RetryAfter = parseRetryAfter(r.retryAfter, c.now())
		return Token{}, e
	case r.status >= 400 && r.status < 500:
		return Token{}, refusal(ErrRefused, r.status, reason, apiKey)
	case r.status >= 500 && r.status < 600:
		e := refusal(ErrUnavailable, r.status, reason, apiKey)
		e.RetryAfter = parseRetryAfter(r.retryAfter, c.now())
		return Token{}, e
	}
	return Token{}, &Error{
		Kind:   ErrBadAnswer,
		Status: r.status,
		Err:    errors.New("unexpected status"),
	}
}

// refusal builds the error for an answer that refused, with its reason
// cleaned. A refusal whose reason is about the key becomes
// [ErrKeyRejected].
func refusal(kind error, status int, reason, apiKey string) *Error {
	if kind == ErrRefused && (aboutKey(reason) ||
		strings.Contains(reason, apiKey)) {
		kind = ErrKeyRejected
	}
	return &Error{
		Kind:   kind,
		Status: status,
		Reason: cleanReason(reason, apiKey),
	}
}

// isSuccess reports whether status is 2xx.
func isSuccess(status int) bool {
	return status >= 200 && status < 300
}

// transportKind classifies an error met while sending or reading: out of
// time (or canceled), or else unavailable.
func transportKind(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case ctx.Err() != nil,
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return ErrUnavailable
}

// parseRetryAfter parses a Retry-After value, whole seconds or an HTTP
// date, into a wait from now. It returns zero when v is absent, invalid or
// in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
