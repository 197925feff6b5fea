package ilos

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The seeds of both targets are under testdata/fuzz.

func FuzzParseOptions(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := ParseOptions(data)
		if err != nil {
			return
		}
		if err := opts.check(); err != nil {
			t.Fatalf("accepted options fail their check: %v", err)
		}
		again, err := json.Marshal(opts)
		if err != nil {
			t.Fatalf("marshal accepted options: %v", err)
		}
		reparsed, err := ParseOptions(again)
		if err != nil {
			t.Fatalf("accepted options do not parse again: %v", err)
		}
		if !reflect.DeepEqual(opts, reparsed) {
			t.Fatalf("got %#v after a round trip, want %#v", reparsed, opts)
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeAnswer(body)
		if err != nil || !a.worked {
			return
		}
		if !validToken(a.token) {
			t.Fatalf("accepted token %q", a.token)
		}
		if a.expires <= 0 || a.expires > maxExpires {
			t.Fatalf("accepted expires %d", a.expires)
		}
	})
}
