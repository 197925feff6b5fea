package handler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/secrets"
)

const testKey = "test-key-4c1d9e"

// fakeKeys is a KeySource that counts its calls.
type fakeKeys struct {
	key       secrets.Key
	err       error
	calls     atomic.Int32
	refreshes atomic.Int32
}

func (f *fakeKeys) Key(context.Context) (secrets.Key, error) {
	f.calls.Add(1)
	return f.key, f.err
}

func (f *fakeKeys) Refresh(context.Context) (secrets.Key, error) {
	f.refreshes.Add(1)
	return f.key, f.err
}

// fakeTokens is a TokenIssuer that answers a fixed token.
type fakeTokens struct {
	err   error
	calls atomic.Int32
	opts  ilos.Options
}

func (f *fakeTokens) RecordToken(_ context.Context, apiKey string,
	opts ilos.Options) (ilos.Token, error) {
	f.calls.Add(1)
	f.opts = opts
	if f.err != nil {
		return ilos.Token{}, f.err
	}
	if apiKey != testKey {
		return ilos.Token{}, errors.New("wrong key")
	}
	return ilos.Token{Value: "tok123", Expires: 1796345096}, nil
}

func newTestHandler(t testing.TB) (*Handler, *fakeKeys, *fakeTokens) {
	t.Helper()
	keys := &fakeKeys{key: secrets.NewKey(testKey)}
	tokens := &fakeTokens{}
	h, err := New(Config{
		Keys:           keys,
		Tokens:         tokens,
		AllowedOrigins: []string{"https://app.example.com"},
		ClientOptions:  []string{"video_title"},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, keys, tokens
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		wantErr    error
		wantMethod string
		wantPath   string
		wantBody   string
	}{
		{"http api", `{"version":"2.0","rawPath":"/token",` +
			`"requestContext":{"http":{"method":"POST"}}}`,
			nil, "POST", "/token", ""},
		{"method case kept", `{"version":"2.0","rawPath":"/token",` +
			`"requestContext":{"http":{"method":"post"}}}`,
			nil, "post", "/token", ""},
		{"http api named stage", `{"version":"2.0","rawPath":"/dev/token",` +
			`"requestContext":{"stage":"dev","http":{"method":"POST"}}}`,
			nil, "POST", "/token", ""},
		{"rest api", `{"httpMethod":"POST","path":"/token","body":"{}"}`,
			nil, "POST", "/token", "{}"},
		{"base64 body", `{"httpMethod":"POST","path":"/token",` +
			`"body":"e30=","isBase64Encoded":true}`,
			nil, "POST", "/token", "{}"},
		{"bad base64", `{"httpMethod":"POST","path":"/token",` +
			`"body":"%%%","isBase64Encoded":true}`,
			errBadBase64, "POST", "/token", ""},
		{"not http", `{"Records":[{"eventSource":"aws:sqs"}]}`,
			errNotHTTP, "", "", ""},
		{"unknown version", `{"version":"3.0","httpMethod":"POST"}`,
			errNotHTTP, "", "", ""},
		{"not an object", `[1,2]`, errBadEvent, "", "", ""},
		{"wrong types", `{"headers":{"origin":7},"httpMethod":"POST"}`,
			errBadEvent, "", "", ""},
		{"null maps", `{"httpMethod":"POST","path":"/token",` +
			`"headers":null,"multiValueHeaders":null,"requestContext":null}`,
			nil, "POST", "/token", ""},
		{"too large", `{"httpMethod":"POST","path":"/token","body":"` +
			strings.Repeat("a", MaxBodyBytes+1) + `"}`,
			errBodyTooLarge, "POST", "/token", ""},
		{"largest", `{"httpMethod":"POST","path":"/token","body":"` +
			strings.Repeat("a", MaxBodyBytes) + `"}`,
			nil, "POST", "/token", strings.Repeat("a", MaxBodyBytes)},
		{"base64 one past the limit", `{"httpMethod":"POST",` +
			`"path":"/token","isBase64Encoded":true,"body":"` +
			base64.StdEncoding.EncodeToString(
				make([]byte, MaxBodyBytes+1)) + `"}`,
			errBodyTooLarge, "POST", "/token", ""},
		{"base64 at the limit", `{"httpMethod":"POST",` +
			`"path":"/token","isBase64Encoded":true,"body":"` +
			base64.StdEncoding.EncodeToString(
				[]byte(strings.Repeat(" ", MaxBodyBytes))) + `"}`,
			nil, "POST", "/token", strings.Repeat(" ", MaxBodyBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeEvent([]byte(tt.raw))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v want %v", err, tt.wantErr)
			}
			if r == nil {
				if tt.wantMethod != "" {
					t.Fatalf("got no request")
				}
				return
			}
			if r.method != tt.wantMethod || r.path != tt.wantPath {
				t.Errorf("got %s %s want %s %s",
					r.method, r.path, tt.wantMethod, tt.wantPath)
			}
			if string(r.body) != tt.wantBody {
				t.Errorf("body: got %q want %q", r.body, tt.wantBody)
			}
		})
	}
}

func TestMergeHeaders(t *testing.T) {
	tests := []struct {
		name   string
		single map[string]string
		multi  map[string][]string
		want   []string
	}{
		{"single", map[string]string{"Origin": "a"}, nil, []string{"a"}},
		{"multi wins", map[string]string{"Origin": "a"},
			map[string][]string{"origin": {"a"}}, []string{"a"}},
		{"multi repeated", nil,
			map[string][]string{"Origin": {"a", "b"}}, []string{"a", "b"}},
		{"case twins", map[string]string{"Origin": "a", "origin": "b"},
			nil, []string{"a", "b"}},
		{"case twins alike", map[string]string{"Origin": "a", "origin": "a"},
			nil, []string{"a", "a"}},
		{"single is the last of multi", map[string]string{"Origin": "b"},
			map[string][]string{"Origin": {"a", "b"}}, []string{"a", "b"}},
		{"styles disagree", map[string]string{"Origin": "b"},
			map[string][]string{"Origin": {"a"}}, []string{"a", "b"}},
		{"multi empty", map[string]string{"Origin": "a"},
			map[string][]string{"Origin": {}}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeHeaders(tt.single, tt.multi)["origin"]
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q want %q", got, tt.want)
			}
		})
	}
}

func TestNewRefusesServerOnlyOptions(t *testing.T) {
	for _, name := range []string{"api_key", "video_endpoint",
		"video_endpoint_extras", "no_such_option"} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{
				Keys:           &fakeKeys{},
				Tokens:         &fakeTokens{},
				AllowedOrigins: []string{"https://a.example"},
				ClientOptions:  []string{name},
			})
			if err == nil {
				t.Errorf("New accepted %q as a browser option", name)
			}
		})
	}
}

func TestPanicBecomesResponse(t *testing.T) {
	h, _, _ := newTestHandler(t)
	h.tokens = panicky{}
	raw := `{"version":"2.0","rawPath":"/token",` +
		`"headers":{"origin":"https://app.example.com"},` +
		`"requestContext":{"http":{"method":"POST"}}}`

	resp, err := h.Handle(t.Context(), json.RawMessage(raw))
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	if resp.StatusCode != 500 {
		t.Errorf("status: got %d want 500", resp.StatusCode)
	}
	if got := resp.Headers["Access-Control-Allow-Origin"]; got == "" {
		t.Errorf("a panic's answer lacks CORS headers")
	}
}

type panicky struct{}

func (panicky) RecordToken(context.Context, string,
	ilos.Options) (ilos.Token, error) {
	panic("boom")
}

func TestServeHTTP(t *testing.T) {
	h, _, _ := newTestHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, err := http.NewRequestWithContext(t.Context(), "POST",
		srv.URL+"/token", strings.NewReader(`{"video_title":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://app.example.com")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status: got %d want 200", resp.StatusCode)
	}
	var body tokenBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Token != "tok123" {
		t.Errorf("token: got %q want tok123", body.Token)
	}
}

func TestServeHTTPBodyLimit(t *testing.T) {
	h, _, _ := newTestHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		name string
		size int
		want int
	}{
		{"at the limit", MaxBodyBytes, 200},
		{"one past", MaxBodyBytes + 1, 413},
		{"far past", 1 << 20, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "{}" + strings.Repeat(" ", tt.size-2)
			req, err := http.NewRequestWithContext(t.Context(), "POST",
				srv.URL+"/token", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "https://app.example.com")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status: got %d want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func BenchmarkHandle(b *testing.B) {
	h, _, _ := newTestHandler(b)
	raw := json.RawMessage(`{"version":"2.0","rawPath":"/token",` +
		`"headers":{"origin":"https://app.example.com",` +
		`"content-type":"application/json"},` +
		`"body":"{\"video_title\":\"Bug\"}",` +
		`"requestContext":{"requestId":"r1","http":{"method":"POST"}}}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := h.Handle(ctx, raw)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}
