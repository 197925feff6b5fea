package ilos

import (
	"net/url"
	"strings"
	"testing"
)

// mustURL parses s, failing the test if it cannot.
func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", s, err)
	}
	return u
}

func TestParseBaseURL(t *testing.T) {
	tests := []struct {
		in   string
		want string // empty: an error
	}{
		{"https://api.ilosvideos.com", "https://api.ilosvideos.com"},
		{"https://api.ilosvideos.com/", "https://api.ilosvideos.com"},
		{"HTTPS://api.vidgrid.com:8443/prefix//", "https://api.vidgrid.com:8443/prefix"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.9.8.7", "http://127.9.8.7"},
		{"http://[::1]:9000/ilos/", "http://[::1]:9000/ilos"},
		{"http://localhost:9000", "http://localhost:9000"},
		{"http://LocalHost", "http://LocalHost"},
		{"http://api.ilosvideos.com", ""},
		{"http://128.0.0.1", ""},
		{"http://[::2]", ""},
		{"http://localhost.example.com", ""},
		{"ftp://api.ilosvideos.com", ""},
		{"https://user:hunter2@api.ilosvideos.com", ""},
		{"https://user@api.ilosvideos.com", ""},
		{"https://api.ilosvideos.com/?x=1", ""},
		{"https://api.ilosvideos.com/?", ""},
		{"https://api.ilosvideos.com/#top", ""},
		{"https://api.ilosvideos.com/#", ""},
		{"api.ilosvideos.com", ""},
		{"/v1", ""},
		{"https://", ""},
		{"https:opaque", ""},
		{"", ""},
		{"https://api.ilosvideos.com:port", ""},
		{"https://a b.com", ""},
		{"://garbage", ""},
		{"https://api.ilosvideos.com/\x00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseBaseURL(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", u)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			if got := u.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
