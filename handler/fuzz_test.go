package handler

import (
	"encoding/json"
	"testing"
)

// FuzzHandle feeds arbitrary events to the handler: it must never panic
// out or return an error, and every answer must be well-formed.
func FuzzHandle(f *testing.F) {
	f.Add([]byte(`{"version":"2.0","rawPath":"/token",` +
		`"headers":{"origin":"https://app.example.com"},` +
		`"requestContext":{"http":{"method":"POST"}}}`))
	f.Add([]byte(`{"httpMethod":"OPTIONS","path":"/token",` +
		`"multiValueHeaders":{"Origin":["https://app.example.com"]}}`))
	f.Add([]byte(`{"httpMethod":"POST","path":"/token",` +
		`"headers":{"Origin":"https://app.example.com"},` +
		`"body":"eyJ2aWRlb190aXRsZSI6IngifQ==","isBase64Encoded":true}`))
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`null`))

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
		if resp.StatusCode == 200 {
			var tb tokenBody
			if err := json.Unmarshal([]byte(resp.Body), &tb); err != nil ||
				tb.Token == "" {
				t.Fatalf("200 without a token: %q", resp.Body)
			}
		}
	})
}
