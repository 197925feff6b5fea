package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/secrets"
)

// apiError is what a browser is told about a failure: a status, a stable
// code and a fixed message. It never carries the cause.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
}

// The answers a browser can get besides a token. The README's table of
// status codes lists the same.
var (
	errInvalidEvent = &apiError{400, "invalid_request",
		"The request could not be read.", 0}
	errInvalidBody = &apiError{400, "invalid_request",
		"The request body must be a JSON object.", 0}
	errOptionNotAllowed = &apiError{400, "option_not_allowed",
		"The request sets an option the browser may not set.", 0}
	errInvalidOption = &apiError{400, "invalid_option",
		"The request sets an option to an invalid value.", 0}
	errOriginNotAllowed = &apiError{403, "origin_not_allowed",
		"This origin may not request record tokens.", 0}
	errNotFound = &apiError{404, "not_found",
		"No such route.", 0}
	errMethodNotAllowed = &apiError{405, "method_not_allowed",
		"Use POST to request a record token.", 0}
	errTooLarge = &apiError{413, "body_too_large",
		"The request body is too large.", 0}
	errConfiguration = &apiError{500, "configuration_error",
		"The token service is misconfigured.", 0}
	errInternal = &apiError{500, "internal_error",
		"The token service failed.", 0}
	errKeyRejected = &apiError{502, "key_rejected",
		"ilos rejected the service's API key.", 0}
	errIlosRefused = &apiError{502, "ilos_refused",
		"ilos refused to issue a record token.", 0}
	errIlosBadAnswer = &apiError{502, "ilos_bad_answer",
		"ilos gave an answer that could not be used.", 0}
	errIlosUnavailable = &apiError{502, "ilos_unavailable",
		"ilos is not available.", 0}
	errThrottled = &apiError{503, "throttled",
		"Too many requests; try again shortly.", time.Second}
	errSecretsUnavailable = &apiError{503, "secrets_unavailable",
		"The key store is not available; try again shortly.", time.Second}
	errTimeout = &apiError{504, "timeout",
		"The token service did not get an answer in time.", 0}
)

// maxRetryAfter caps the Retry-After passed on from ilos.
const maxRetryAfter = 5 * time.Minute

// secretsError maps a failure to read the key to what the browser is told.
func secretsError(ctx context.Context, err error) *apiError {
	switch {
	case errors.Is(err, secrets.ErrTimeout), ctx.Err() != nil:
		return errTimeout
	case errors.Is(err, secrets.ErrThrottled):
		return errThrottled
	case errors.Is(err, secrets.ErrUnavailable):
		return errSecretsUnavailable
	default:
		return errConfiguration
	}
}

// ilosError maps a failure at ilos to what the browser is told.
func ilosError(ctx context.Context, err error) *apiError {
	switch {
	case errors.Is(err, ilos.ErrTimeout), ctx.Err() != nil:
		return errTimeout
	case errors.Is(err, ilos.ErrKeyRejected):
		return errKeyRejected
	case errors.Is(err, ilos.ErrRateLimited):
		e := *errThrottled
		var ie *ilos.Error
		if errors.As(err, &ie) && ie.RetryAfter > 0 {
			e.retryAfter = min(ie.RetryAfter, maxRetryAfter)
		}
		return &e
	case errors.Is(err, ilos.ErrUnavailable):
		return errIlosUnavailable
	case errors.Is(err, ilos.ErrBadAnswer):
		return errIlosBadAnswer
	case errors.Is(err, ilos.ErrRefused):
		return errIlosRefused
	case errors.Is(err, secrets.ErrTimeout):
		return errTimeout
	default:
		return errIlosUnavailable
	}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// fail answers with e.
func (h *Handler) fail(x *exchange, e *apiError) Response {
	x.outcome = e.code
	body := errorBody{errorDetail{e.code, e.message, x.requestID}}
	return h.respond(x, e.status, body, func(hd map[string]string) {
		if e.retryAfter > 0 {
			secs := math.Ceil(e.retryAfter.Seconds())
			hd["Retry-After"] = strconv.Itoa(int(secs))
		}
		if e == errMethodNotAllowed {
			hd["Allow"] = allowedMethods
		}
	})
}

// respond builds a response with the headers every answer carries, the
// CORS headers when the origin is allowed, and body as JSON (none when
// nil).
func (h *Handler) respond(x *exchange, status int, body any,
	extra func(map[string]string)) Response {
	hd := map[string]string{
		"Content-Type":           "application/json",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Vary":                   "Origin",
	}
	if x.allowed {
		h.cors.headers(hd, x.origin)
	}
	if extra != nil {
		extra(hd)
	}
	resp := Response{StatusCode: status, Headers: hd}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			// Only fixed types reach here; this cannot happen.
			b = []byte(`{}`)
		}
		resp.Body = string(b)
	}
	return resp
}

// logExchange writes the one line a request gets.
func (h *Handler) logExchange(ctx context.Context, x *exchange,
	status int) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	x.elapsed = h.now().Sub(x.start)
	attrs := []slog.Attr{
		slog.String("request_id", x.requestID),
		slog.Int("status", status),
		slog.String("outcome", x.outcome),
		slog.Float64("duration_ms", ms(x.elapsed)),
		slog.Float64("secrets_ms", ms(x.secrets)),
		slog.Float64("ilos_ms", ms(x.ilos)),
	}
	if x.req != nil {
		attrs = append(attrs,
			slog.String("method", clip(x.req.method)),
			slog.String("path", clip(x.req.path)))
	}
	if x.origin != "" {
		attrs = append(attrs, slog.String("origin", clip(x.origin)))
	}
	if x.refreshed {
		attrs = append(attrs, slog.Bool("key_refreshed", true))
	}
	if x.err != nil {
		attrs = append(attrs, slog.String("error", clip(x.err.Error())))
	}
	if h.meter != nil {
		attrs = append(attrs, h.meter.attrs(x, status)...)
	}
	h.log.LogAttrs(ctx, level, "request", attrs...)
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

// clip bounds text that came from outside before it is logged. It keeps
// the head and the tail: an error's innermost cause comes last.
func clip(s string) string {
	const limit = 512
	if len(s) <= limit {
		return s
	}
	return s[:limit/2] + " … " + s[len(s)-limit/2:]
}
