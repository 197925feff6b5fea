package handler

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/secrets"
)

// The seeds of both targets are under testdata/fuzz.

// FuzzHandle feeds arbitrary events to the handler: it must never panic
// out or return an error, and every answer must be well-formed.
func FuzzHandle(f *testing.F) {
	h, _, _ := newTestHandler(f)
	valid := map[int]bool{200: true, 204: true, 400: true, 403: true,
		404: true, 405: true, 413: true}

	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := h.Handle(t.Context(), raw)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		if !valid[resp.StatusCode] {
			t.Fatalf("status %d for %q", resp.StatusCode, raw)
		}
		if resp.Headers["Content-Type"] != "application/json" ||
			resp.Headers["Cache-Control"] != "no-store" {
			t.Fatalf("headers %v", resp.Headers)
		}
		if resp.Body != "" && !json.Valid([]byte(resp.Body)) {
			t.Fatalf("body %q is not JSON", resp.Body)
		}
		origin := resp.Headers["Access-Control-Allow-Origin"]
		if origin != "" && origin != "https://app.example.com" {
			t.Fatalf("allowed origin %q", origin)
		}
		if resp.StatusCode == 200 {
			var tb tokenBody
			if err := json.Unmarshal([]byte(resp.Body), &tb); err != nil ||
				tb.Token == "" {
				t.Fatalf("200 without a token: %q", resp.Body)
			}
			if origin == "" {
				t.Fatalf("200 without CORS headers")
			}
		}
	})
}

// FuzzRequestBody feeds arbitrary request bodies to the option reader: it
// must never panic, and what it accepts must hold only the options the
// browser may set, each well-formed, under the operator's fixed ones.
func FuzzRequestBody(f *testing.F) {
	fixed := ilos.Options{
		"service_name":   "Acme",
		"video_endpoint": "https://acme.example/hook",
		"webcam_only":    false,
	}
	browser := []string{"video_title", "request_video_title", "webcam_only"}
	h, err := New(Config{
		Keys:           &fakeKeys{key: secrets.NewKey(testKey)},
		Tokens:         &fakeTokens{},
		AllowedOrigins: []string{"https://app.example.com"},
		TokenOptions:   fixed,
		ClientOptions:  browser,
	})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	refusals := []*apiError{errInvalidBody, errOptionNotAllowed,
		errInvalidOption}

	f.Fuzz(func(t *testing.T, body []byte) {
		opts, apiErr := h.options(body, &exchange{})
		if apiErr != nil {
			if !slices.Contains(refusals, apiErr) {
				t.Fatalf("got answer %q, want a 400", apiErr.code)
			}
			return
		}
		for name, v := range opts {
			want, isFixed := fixed[name]
			switch {
			case isFixed && !reflect.DeepEqual(v, want):
				t.Fatalf("the browser overrode %s with %#v", name, v)
			case !isFixed && !slices.Contains(browser, name):
				t.Fatalf("accepted option %q", name)
			}
		}
		for name, want := range fixed {
			if !reflect.DeepEqual(opts[name], want) {
				t.Fatalf("fixed option %s: got %#v, want %#v",
					name, opts[name], want)
			}
		}

		again, err := json.Marshal(opts)
		if err != nil {
			t.Fatalf("marshal accepted options: %v", err)
		}
		reparsed, err := ilos.ParseOptions(again)
		if err != nil {
			t.Fatalf("accepted options are not valid: %v", err)
		}
		if !reflect.DeepEqual(opts, reparsed) {
			t.Fatalf("got %#v after a round trip, want %#v", reparsed, opts)
		}
	})
}
