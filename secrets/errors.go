package secrets

import (
	"context"
	"errors"
	"net"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The kinds of failure, reached with errors.Is on any error that [Cache]
// returns. Each [FetchError] carries exactly one of them.
var (
	// ErrNotFound means the secret does not exist, or is scheduled for
	// deletion, or its ID is not valid.
	ErrNotFound = errors.New("secret not found")

	// ErrAccessDenied means IAM or KMS refused, or the credentials were
	// missing, invalid or expired.
	ErrAccessDenied = errors.New("access denied")

	// ErrThrottled means Secrets Manager refused for the call rate.
	ErrThrottled = errors.New("throttled")

	// ErrUnavailable means Secrets Manager failed (5xx) or could not be
	// reached.
	ErrUnavailable = errors.New("secrets manager unavailable")

	// ErrTimeout means a deadline passed: the fetch's own budget or the
	// caller's context.
	ErrTimeout = errors.New("timed out")

	// ErrMalformed means the secret value holds no usable key, or the
	// answer held neither SecretString nor SecretBinary.
	ErrMalformed = errors.New("malformed secret value")

	// ErrMissingKeyType means the secret is a JSON object without a field
	// for the configured key type and without api_key.
	ErrMissingKeyType = errors.New("no key of the configured type")

	// ErrUnexpected means a failure that fits none of the other kinds,
	// such as an error code this package does not know.
	ErrUnexpected = errors.New("unexpected error")
)

// FetchError describes a failed attempt to get the key. errors.Is finds its
// kind (one of the Err variables) and anything its cause wraps; errors.As
// finds SDK errors such as smithy.APIError. Its text names the secret, the
// kind and the cause, never the value.
type FetchError struct {
	// SecretID is the secret's name or ARN, as configured.
	SecretID string

	// Kind is one of the Err variables of this package.
	Kind error

	// Err is the cause: an SDK error, a parse error or a context error.
	Err error
}

// Error returns the secret ID, the kind and the cause.
func (e *FetchError) Error() string {
	kind := e.kind()
	msg := "secrets: get " + e.SecretID + ": "
	switch {
	case e.Err == nil:
		return msg + kind.Error()
	case errors.Is(e.Err, kind):
		return msg + e.Err.Error() // the cause names the kind already
	}
	return msg + kind.Error() + ": " + e.Err.Error()
}

// Unwrap returns the kind and the cause.
func (e *FetchError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.kind()}
	}
	return []error{e.kind(), e.Err}
}

// kind returns Kind, or ErrUnexpected if it is unset.
func (e *FetchError) kind() error {
	if e.Kind == nil {
		return ErrUnexpected
	}
	return e.Kind
}

// kindName returns a short name of a kind for log lines.
func kindName(kind error) string {
	switch kind {
	case ErrNotFound:
		return "not_found"
	case ErrAccessDenied:
		return "access_denied"
	case ErrThrottled:
		return "throttled"
	case ErrUnavailable:
		return "unavailable"
	case ErrTimeout:
		return "timeout"
	case ErrMalformed:
		return "malformed"
	case ErrMissingKeyType:
		return "missing_key_type"
	}
	return "unexpected"
}

// Error codes of Secrets Manager and of the AWS front end, by kind.
var codeKinds = map[string]error{
	"ResourceNotFoundException": ErrNotFound,
	// GetSecretValue answers InvalidRequestException when the secret is
	// scheduled for deletion.
	"InvalidRequestException":   ErrNotFound,
	"InvalidParameterException": ErrNotFound,

	"AccessDeniedException":               ErrAccessDenied,
	"DecryptionFailure":                   ErrAccessDenied,
	"UnrecognizedClientException":         ErrAccessDenied,
	"InvalidClientTokenId":                ErrAccessDenied,
	"InvalidSignatureException":           ErrAccessDenied,
	"SignatureDoesNotMatch":               ErrAccessDenied,
	"IncompleteSignatureException":        ErrAccessDenied,
	"MissingAuthenticationTokenException": ErrAccessDenied,
	"ExpiredTokenException":               ErrAccessDenied,
	"ExpiredToken":                        ErrAccessDenied,

	"ThrottlingException":      ErrThrottled,
	"Throttling":               ErrThrottled,
	"LimitExceededException":   ErrThrottled,
	"TooManyRequestsException": ErrThrottled,
	"RequestLimitExceeded":     ErrThrottled,

	"InternalServiceError": ErrUnavailable,
	"InternalFailure":      ErrUnavailable,
	"ServiceUnavailable":   ErrUnavailable,
}

// classify returns the kind of an error from GetSecretValue.
func classify(err error) error {
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return ErrTimeout
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if kind, ok := codeKinds[apiErr.ErrorCode()]; ok {
			return kind
		}
	}

	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch code := respErr.HTTPStatusCode(); {
		case code == 429:
			return ErrThrottled
		case code == 401 || code == 403:
			return ErrAccessDenied
		case code >= 500:
			return ErrUnavailable
		}
	}

	var signErr *v4.SigningError
	if errors.As(err, &signErr) || isCredentialsError(err) {
		return ErrAccessDenied
	}

	var netErr net.Error
	if errors.As(err, &netErr) {
		if netErr.Timeout() {
			return ErrTimeout
		}
		return ErrUnavailable
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return ErrUnavailable
	}
	return ErrUnexpected
}

// isCredentialsError reports whether err says the SDK could not get
// credentials from its provider.
//
// TODO(sdk): the SDK wraps a provider's failure with fmt.Errorf and no
// type of its own; match the text it adds until it offers a type.
func isCredentialsError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "get identity: get credentials:") ||
		strings.Contains(msg, "failed to retrieve credentials")
}
