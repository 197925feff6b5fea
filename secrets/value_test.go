package secrets_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ilostoken/ilostoken/secrets"
)

func TestParseValue(t *testing.T) {
	org, user := secrets.KeyTypeOrganization, secrets.KeyTypeUser
	long := strings.Repeat("k", secrets.MaxKeySize)

	tests := []struct {
		name    string
		in      string
		typ     secrets.KeyType
		want    string
		wantErr error
	}{
		{"plain", "abc123XYZ", org, "abc123XYZ", nil},
		{"plain trailing newline", "abc123\n", org, "abc123", nil},
		{"plain CRLF and spaces", " \tabc123\r\n", user, "abc123", nil},
		{"plain punctuation", "a-b_c.d~e!f", org, "a-b_c.d~e!f", nil},
		{"plain at max size", long, org, long, nil},
		{"JSON organization", `{"organization":"org-k"}`, org,
			"org-k", nil},
		{"JSON user", `{"user":"user-k"}`, user, "user-k", nil},
		{"JSON both, organization", `{"organization":"o","user":"u"}`,
			org, "o", nil},
		{"JSON both, user", `{"organization":"o","user":"u"}`,
			user, "u", nil},
		{"JSON api_key", `{"api_key":"any-k"}`, user, "any-k", nil},
		{"JSON type before api_key", `{"api_key":"a","user":"u"}`,
			user, "u", nil},
		{"JSON other fields ignored",
			`{"organization":"o","note":5,"x":{"y":[]}}`, org, "o", nil},
		{"JSON value trimmed", "{\"user\": \" u-k\\n\"}", user, "u-k", nil},
		{"JSON with surrounding newlines", "\n{\"user\":\"u\"}\n", user,
			"u", nil},

		{"empty", "", org, "", secrets.ErrMalformed},
		{"whitespace only", " \n\t\r\n", org, "", secrets.ErrMalformed},
		{"empty object", `{}`, org, "", secrets.ErrMissingKeyType},
		{"JSON without the type", `{"user":"u"}`, org, "",
			secrets.ErrMissingKeyType},
		{"JSON without either type", `{"token":"t"}`, user, "",
			secrets.ErrMissingKeyType},
		{"JSON number", `{"organization": 5}`, org, "",
			secrets.ErrMalformed},
		{"JSON null", `{"organization": null}`, org, "",
			secrets.ErrMalformed},
		{"JSON object value", `{"user": {"k":"v"}}`, user, "",
			secrets.ErrMalformed},
		{"JSON empty string", `{"user": ""}`, user, "",
			secrets.ErrMalformed},
		{"JSON blank string", `{"user": "  "}`, user, "",
			secrets.ErrMalformed},
		{"invalid JSON", `{"organization": "abc"`, org, "",
			secrets.ErrMalformed},
		{"JSON trailing data", `{"user":"u"} x`, user, "",
			secrets.ErrMalformed},
		{"JSON array", `["abc"]`, org, "", secrets.ErrMalformed},
		{"JSON string", `"abc"`, org, "", secrets.ErrMalformed},
		{"inner space", "abc def", org, "", secrets.ErrMalformed},
		{"inner tab", "abc\tdef", org, "", secrets.ErrMalformed},
		{"inner newline", "abc\ndef", org, "", secrets.ErrMalformed},
		{"control char", "abc\x01def", org, "", secrets.ErrMalformed},
		{"DEL", "abc\x7f", org, "", secrets.ErrMalformed},
		{"NUL", "abc\x00", org, "", secrets.ErrMalformed},
		{"non-ASCII", "abcé", org, "", secrets.ErrMalformed},
		{"JSON inner space", `{"user":"a b"}`, user, "",
			secrets.ErrMalformed},
		{"key too long", long + "k", org, "", secrets.ErrMalformed},
		{"value too large",
			strings.Repeat(" ", secrets.MaxValueSize) + "k", org, "",
			secrets.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := secrets.ParseValue([]byte(tt.in), tt.typ)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				if !k.IsZero() {
					t.Error("got a key along with the error")
				}
				checkErrorHides(t, err, tt.in)
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want key", err)
			}
			if got := k.Reveal(); got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseValueBinary feeds the bytes of a SecretBinary, which need not
// be valid UTF-8 and may carry a trailing newline from a file.
func TestParseValueBinary(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{"file with newline", []byte("bin-key\n"), "bin-key", nil},
		{"JSON", []byte(`{"organization":"bin-org"}`), "bin-org", nil},
		{"invalid UTF-8", []byte{'k', 0xff, 0xfe}, "", secrets.ErrMalformed},
		{"nil", nil, "", secrets.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := secrets.ParseValue(tt.in,
				secrets.KeyTypeOrganization)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if got := k.Reveal(); got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseValueBadType(t *testing.T) {
	_, err := secrets.ParseValue([]byte("abc"), "lti")
	if err == nil {
		t.Fatal("got no error for key type lti")
	}
}

// checkErrorHides fails if the text of err holds the value, or the key
// candidate inside it, when those are long enough to be told apart from
// the fixed words of an error message.
func checkErrorHides(t *testing.T, err error, value string) {
	t.Helper()
	v := strings.TrimSpace(value)
	if distinctive(v) && strings.Contains(err.Error(), v) {
		t.Errorf("error %q holds the value", err)
	}
}

// msgAlphabet holds every byte that the fixed parts of ParseValue's error
// messages use.
const msgAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789 :_,-JSON"

// distinctive reports whether s could not come from an error message's
// own words: it is at least six bytes long and has a byte outside
// msgAlphabet.
func distinctive(s string) bool {
	if len(s) < 6 {
		return false
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return !strings.ContainsRune(msgAlphabet, r)
	})
}

func FuzzParseValue(f *testing.F) {
	// Seeds come from testdata/fuzz/FuzzParseValue; add a few in-line
	// forms that are awkward to write there.
	f.Add(bytes.Repeat([]byte("k"), secrets.MaxKeySize+1))
	f.Add([]byte("{\"user\":\"\\u0000\"}"))

	types := []secrets.KeyType{
		secrets.KeyTypeOrganization, secrets.KeyTypeUser}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range types {
			k, err := secrets.ParseValue(b, typ)
			if err != nil {
				if !errors.Is(err, secrets.ErrMalformed) &&
					!errors.Is(err, secrets.ErrMissingKeyType) {
					t.Fatalf("got error %v, want a known kind", err)
				}
				if !k.IsZero() {
					t.Fatal("got a key along with an error")
				}
				checkErrorHides(t, err, string(b))
				continue
			}

			s := k.Reveal()
			if s == "" || len(s) > secrets.MaxKeySize {
				t.Fatalf("got key of %d bytes", len(s))
			}
			if strings.TrimSpace(s) != s {
				t.Fatalf("got untrimmed key %q", s)
			}
			for i := 0; i < len(s); i++ {
				if s[i] <= ' ' || s[i] > '~' {
					t.Fatalf("got byte %#x in key %q", s[i], s)
				}
			}
		}
	})
}
