package secrets

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strconv"
)

// KeyType is the kind of ilos API key the secret holds. Only organization
// and user keys may request record tokens.
type KeyType string

// The key types that may request record tokens.
const (
	KeyTypeOrganization KeyType = "organization"
	KeyTypeUser         KeyType = "user"
)

// ParseKeyType returns the [KeyType] named s. It accepts exactly
// "organization" and "user"; the empty string is an error too, since
// defaults belong to the configuration layer.
func ParseKeyType(s string) (KeyType, error) {
	switch t := KeyType(s); t {
	case KeyTypeOrganization, KeyTypeUser:
		return t, nil
	}
	return "", fmt.Errorf("secrets: invalid key type %q: want %q or %q",
		s, KeyTypeOrganization, KeyTypeUser)
}

// Redacted is what every printed, logged or encoded form of a [Key] shows
// in place of its bytes.
const Redacted = "[REDACTED]"

// Key holds an ilos API key. Its String, GoString, Format (every verb),
// LogValue, MarshalJSON and MarshalText methods all yield [Redacted]; only
// [Key.Reveal] returns the key itself. The zero Key holds no key.
//
// The key sits behind a pointer so that even fmt's reflection, which
// reaches a Key stored in an unexported struct field without calling its
// methods, prints an address rather than the bytes.
type Key struct {
	p *string
}

// NewKey returns a [Key] holding s. An empty s gives the zero Key.
func NewKey(s string) Key {
	if s == "" {
		return Key{}
	}
	return Key{p: &s}
}

// Reveal returns the key itself. Call it only where the key leaves for
// ilos, and never pass the result to a logger or an error.
func (k Key) Reveal() string {
	if k.p == nil {
		return ""
	}
	return *k.p
}

// Equal reports whether k and o hold the same key, in time that does not
// depend on where they differ.
func (k Key) Equal(o Key) bool {
	return subtle.ConstantTimeCompare(
		[]byte(k.Reveal()), []byte(o.Reveal())) == 1
}

// IsZero reports whether k holds no key.
func (k Key) IsZero() bool { return k.p == nil }

// String returns [Redacted].
func (k Key) String() string { return Redacted }

// GoString returns [Redacted].
func (k Key) GoString() string { return Redacted }

// Format writes [Redacted] for every verb; %q quotes it.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(Redacted)))
		return
	}
	_, _ = f.Write([]byte(Redacted))
}

// LogValue returns [Redacted] as a string, so that slog never records the
// key.
func (k Key) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON returns [Redacted] as a JSON string.
func (k Key) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(Redacted)), nil
}

// MarshalText returns [Redacted].
func (k Key) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

var (
	_ fmt.Stringer   = Key{}
	_ fmt.GoStringer = Key{}
	_ fmt.Formatter  = Key{}
	_ slog.LogValuer = Key{}
)
