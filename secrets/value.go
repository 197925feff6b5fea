package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Limits on what [ParseValue] accepts. Secrets Manager itself stores at
// most 64 KiB; an ilos key is a few dozen characters.
const (
	MaxValueSize = 64 << 10
	MaxKeySize   = 4 << 10
)

// fieldAPIKey is the JSON field that holds a key of either type.
const fieldAPIKey = "api_key"

// ParseValue extracts the ilos key from a secret value: the bytes of
// SecretString or SecretBinary. It accepts two forms:
//
//   - a plain key, with surrounding whitespace and newlines trimmed;
//   - a JSON object holding the key under the field named by t
//     ("organization" or "user") or, failing that, under "api_key". Other
//     fields are ignored.
//
// The key must be 1 to [MaxKeySize] bytes of printable ASCII with no inner
// whitespace, and the value at most [MaxValueSize] bytes. A value that
// starts with '{' must be a valid JSON object; one that starts with '[' or
// '"' is refused rather than taken as a key. Errors wrap [ErrMalformed],
// or [ErrMissingKeyType] for an object without the field, and never
// contain the value; a t that [ParseKeyType] refuses is an error too.
func ParseValue(b []byte, t KeyType) (Key, error) {
	if _, err := ParseKeyType(string(t)); err != nil {
		return Key{}, err
	}
	if len(b) > MaxValueSize {
		return Key{}, fmt.Errorf("%w: value is over %d bytes",
			ErrMalformed, MaxValueSize)
	}

	v := bytes.TrimSpace(b)
	switch {
	case len(v) == 0:
		return Key{}, fmt.Errorf("%w: value is empty", ErrMalformed)
	case v[0] == '{':
		return parseObject(v, t)
	case v[0] == '[' || v[0] == '"':
		return Key{}, fmt.Errorf("%w: value is JSON but not an object",
			ErrMalformed)
	}
	return checkKey(v)
}

// parseObject picks the key out of a JSON object.
func parseObject(v []byte, t KeyType) (Key, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(v, &obj); err != nil {
		// The decoder's message may quote the input; report only where.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Key{}, fmt.Errorf("%w: invalid JSON at offset %d",
				ErrMalformed, syn.Offset)
		}
		return Key{}, fmt.Errorf("%w: invalid JSON object", ErrMalformed)
	}

	field := string(t)
	raw, ok := obj[field]
	if !ok {
		field = fieldAPIKey
		raw, ok = obj[field]
	}
	if !ok {
		return Key{}, fmt.Errorf("%w: JSON has neither %s nor %s",
			ErrMissingKeyType, t, fieldAPIKey)
	}

	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return Key{}, fmt.Errorf("%w: JSON field %s is not a string",
			ErrMalformed, field)
	}
	k := bytes.TrimSpace([]byte(s))
	if len(k) == 0 {
		return Key{}, fmt.Errorf("%w: JSON field %s is empty",
			ErrMalformed, field)
	}
	return checkKey(k)
}

// checkKey accepts a trimmed, non-empty key of printable ASCII.
func checkKey(k []byte) (Key, error) {
	if len(k) > MaxKeySize {
		return Key{}, fmt.Errorf("%w: key is over %d bytes",
			ErrMalformed, MaxKeySize)
	}
	for i, c := range k {
		if c <= ' ' || c > '~' {
			return Key{}, fmt.Errorf(
				"%w: key has a space, control or non-ASCII byte at "+
					"offset %d", ErrMalformed, i)
		}
	}
	return NewKey(string(k)), nil
}
