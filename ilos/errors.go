package ilos

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The kinds of failure of [Client.RecordToken]. Each [Error] carries exactly
// one of them as its Kind, so callers branch with [errors.Is].
var (
	// ErrKeyRejected means ilos refused the API key: a 401 or 403 status,
	// or a refusal otherwise counted as [ErrRefused] whose reason mentions
	// the key (the word "key" in any case, or the key itself). The
	// heuristic errs on the side of blaming the key: a caller that sees it
	// may reload a rotated key, which is cheap, while missing a rotation is
	// not.
	ErrKeyRejected = errors.New("ilos: key rejected")

	// ErrRefused means ilos answered and declined: a worked:false answer not
	// about the key, or a 4xx status other than 401, 403 and 429.
	ErrRefused = errors.New("ilos: request refused")

	// ErrRateLimited means ilos answered 429. [Error.RetryAfter] holds the
	// wait it asked for, if any.
	ErrRateLimited = errors.New("ilos: rate limited")

	// ErrUnavailable means ilos could not be reached or failed: a 5xx
	// status, or a network error such as a refused or reset connection.
	ErrUnavailable = errors.New("ilos: unavailable")

	// ErrTimeout means the call ran out of time: the context's deadline or
	// the client's timeout passed (also while a slow body was still
	// arriving), or the context was canceled. The cause tells which.
	ErrTimeout = errors.New("ilos: timeout")

	// ErrBadAnswer means ilos answered something this client cannot use: a
	// redirect, a 2xx body that is not the documented JSON or is over
	// [MaxBodyBytes], a missing or malformed token or expiry, or a status
	// outside 2xx to 5xx.
	ErrBadAnswer = errors.New("ilos: bad answer")
)

// ErrInvalidOption means an [Options] field is not a documented one of the
// documented type. [ParseOptions] returns it, and so does
// [Client.RecordToken], before anything is sent, without an [*Error].
var ErrInvalidOption = errors.New("ilos: invalid option")

// maxReasonBytes caps [Error.Reason].
const maxReasonBytes = 200

// Error is the error returned by [Client.RecordToken] once a request was
// attempted. Its text never contains the API key, the token or the request
// body.
type Error struct {
	// Kind is one of the sentinels: [ErrKeyRejected], [ErrRefused],
	// [ErrRateLimited], [ErrUnavailable], [ErrTimeout] or [ErrBadAnswer].
	Kind error

	// Status is the HTTP status ilos answered with; zero when no answer
	// arrived.
	Status int

	// Reason is ilos's fail_reason, cleaned for logs: control characters
	// removed, the API key replaced by a marker, cut to about 200 bytes.
	// Empty when ilos gave none.
	Reason string

	// RetryAfter is the wait a 429 or 5xx asked for through Retry-After,
	// in seconds or as an HTTP date; zero when absent or invalid.
	RetryAfter time.Duration

	// Attempts is how many requests the call made, this failure's
	// included; zero when none was sent.
	Attempts int

	// Err is the underlying cause, if any: a network or context error, or a
	// description of what was wrong with the answer.
	Err error
}

// Error describes the failure: its kind, status, reason and cause.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("ilos: error")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (status %d)", e.Status)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %q", e.Reason)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %v", e.RetryAfter)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, ", after %d attempts", e.Attempts)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so that [errors.Is] matches both.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// redacted replaces a secret found in a reason.
const redacted = "[redacted]"

// cleanReason makes ilos's fail_reason safe to log: invalid UTF-8 and
// control characters go, every secret (the key, a token) is replaced by a
// marker, and the result is cut to maxReasonBytes on a rune boundary.
// Secrets are replaced before and after the clean-up (a key could hide
// behind a control character) and before cutting, so no prefix survives.
func cleanReason(s string, secrets ...string) string {
	s = redact(s, secrets)
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.TrimSpace(redact(s, secrets))
	if len(s) <= maxReasonBytes {
		return s
	}
	cut := maxReasonBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redact replaces every non-empty secret in s by a marker.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// aboutKey reports whether a fail_reason blames the API key; see
// [ErrKeyRejected].
func aboutKey(reason string) bool {
	return strings.Contains(strings.ToLower(reason), "key")
}
