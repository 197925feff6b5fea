// Package secrets reads the ilos API key from AWS Secrets Manager and keeps
// it in memory.
//
// The package owns three things: the [Key] type, which cannot print, log or
// encode its bytes; [ParseValue], which turns a secret value into a Key;
// and [Cache], which fetches the secret with GetSecretValue, shares one
// call among concurrent callers, serves the key until its TTL passes, keeps
// serving the last good key while Secrets Manager fails, and turns SDK
// errors into a few sentinel kinds such as [ErrNotFound] and
// [ErrThrottled].
//
// The package never logs, returns in an error, or encodes the key or the
// secret value. Its only log line, a warning when a refresh fails while an
// older key keeps serving, names the secret and the kind of failure.
//
// The sibling package secretstest runs a Secrets Manager on loopback that
// the real SDK client can talk to.
package secrets
