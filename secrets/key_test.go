package secrets_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ilostoken/ilostoken/secrets"
)

// planted is a key that must never show up in any text.
const planted = "ilosPLANTEDkey0123456789abcdef"

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		in      string
		want    secrets.KeyType
		wantErr bool
	}{
		{"organization", secrets.KeyTypeOrganization, false},
		{"user", secrets.KeyTypeUser, false},
		{"", "", true},
		{"Organization", "", true},
		{"lti", "", true},
		{"zoom", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := secrets.ParseKeyType(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %t", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if err != nil && (!strings.Contains(err.Error(), "organization") ||
				!strings.Contains(err.Error(), "user")) {
				t.Errorf("error %q does not name the allowed types", err)
			}
		})
	}
}

func TestKeyRedacted(t *testing.T) {
	k := secrets.NewKey(planted)
	type exported struct{ Key secrets.Key }
	type unexported struct{ key secrets.Key }

	var logs bytes.Buffer
	jsonLog := slog.New(slog.NewJSONHandler(&logs, nil))
	textLog := slog.New(slog.NewTextHandler(&logs, nil))
	jsonLog.Info("msg", "key", k, "wrapped", exported{k})
	textLog.Info("msg", "key", k, "wrapped", exported{k},
		"hidden", unexported{k})

	js, err := json.Marshal(exported{k})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	text, err := k.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText: %v", err)
	}

	outputs := map[string]string{
		"String":      k.String(),
		"GoString":    k.GoString(),
		"%s":          fmt.Sprintf("%s", k),
		"%v":          fmt.Sprintf("%v", k),
		"%+v":         fmt.Sprintf("%+v", k),
		"%#v":         fmt.Sprintf("%#v", k),
		"%q":          fmt.Sprintf("%q", k),
		"%x":          fmt.Sprintf("%x", k),
		"%d":          fmt.Sprintf("%d", k),
		"%v pointer":  fmt.Sprintf("%v", &k),
		"%+v struct":  fmt.Sprintf("%+v", exported{k}),
		"%#v struct":  fmt.Sprintf("%#v", exported{k}),
		"%+v hidden":  fmt.Sprintf("%+v", unexported{k}),
		"%#v hidden":  fmt.Sprintf("%#v", unexported{k}),
		"error %v":    fmt.Errorf("using %v", k).Error(),
		"json":        string(js),
		"MarshalText": string(text),
		"slog":        logs.String(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, planted) {
				t.Errorf("got %q, which holds the key", out)
			}
		})
	}
	for _, name := range []string{"String", "%v", "%+v", "%#v", "%q",
		"json", "slog", "MarshalText"} {
		if !strings.Contains(outputs[name], secrets.Redacted) {
			t.Errorf("%s: got %q, want %q", name, outputs[name],
				secrets.Redacted)
		}
	}
	if got := k.LogValue().String(); got != secrets.Redacted {
		t.Errorf("got LogValue %q, want %q", got, secrets.Redacted)
	}
	if got := k.Reveal(); got != planted {
		t.Errorf("got Reveal %q, want the key", got)
	}
}

func TestKeyEqualZero(t *testing.T) {
	a, b := secrets.NewKey("abc"), secrets.NewKey("abc")
	if !a.Equal(b) {
		t.Error("got keys with the same bytes unequal")
	}
	if a.Equal(secrets.NewKey("abd")) || a.Equal(secrets.NewKey("ab")) {
		t.Error("got different keys equal")
	}
	if a.IsZero() {
		t.Error("got a key IsZero")
	}
	var zero secrets.Key
	if !zero.IsZero() || !secrets.NewKey("").IsZero() {
		t.Error("got the zero key not IsZero")
	}
	if zero.Reveal() != "" {
		t.Errorf("got zero Reveal %q, want empty", zero.Reveal())
	}
	if !zero.Equal(secrets.Key{}) {
		t.Error("got two zero keys unequal")
	}
}

func TestFetchErrorText(t *testing.T) {
	cause := errors.New("cause")
	err := &secrets.FetchError{
		SecretID: "prod/ilos", Kind: secrets.ErrThrottled, Err: cause}
	want := "secrets: get prod/ilos: throttled: cause"
	if got := err.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, secrets.ErrThrottled) || !errors.Is(err, cause) {
		t.Errorf("errors.Is does not find the kind and the cause")
	}
}
