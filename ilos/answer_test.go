package ilos

import (
	"strings"
	"testing"
)

func TestDecodeAnswer(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    answer
		wantErr bool
	}{
		{
			name: "success",
			body: `{"worked":true,"token":"AbC123","expires":1700000000,` +
				`"recorderLaunchURI":"ilosrecord:record?token=AbC123"}`,
			want: answer{worked: true, token: "AbC123", expires: 1700000000},
		},
		{
			name: "expires as a numeric string",
			body: `{"worked":true,"token":"t","expires":"1700000000"}`,
			want: answer{worked: true, token: "t", expires: 1700000000},
		},
		{
			name: "expires as a whole float",
			body: `{"worked":true,"token":"t","expires":1.7e9}`,
			want: answer{worked: true, token: "t", expires: 1700000000},
		},
		{
			name: "worked false",
			body: `{"worked":false,"fail_reason":"Nope."}`,
			want: answer{reason: "Nope."},
		},
		{
			name: "worked false with a message",
			body: `{"worked":false,"message":"Nope."}`,
			want: answer{reason: "Nope."},
		},
		{
			name: "worked false without a reason",
			body: `{"worked":false,"fail_reason":7}`,
			want: answer{},
		},
		{name: "worked null", body: `{"worked":null}`, wantErr: true},
		{name: "worked string", body: `{"worked":"true"}`, wantErr: true},
		{name: "worked number", body: `{"worked":1}`, wantErr: true},
		{name: "empty", body: ``, wantErr: true},
		{name: "array", body: `[{"worked":true}]`, wantErr: true},
		{name: "null", body: `null`, wantErr: true},
		{name: "truncated", body: `{"worked":true,"tok`, wantErr: true},
		{name: "token null",
			body: `{"worked":true,"token":null,"expires":9}`, wantErr: true},
		{name: "token with a tab",
			body: `{"worked":true,"token":"a\tb","expires":9}`, wantErr: true},
		{name: "token not ASCII",
			body: `{"worked":true,"token":"tökén","expires":9}`, wantErr: true},
		{name: "expires fraction",
			body: `{"worked":true,"token":"t","expires":1.5}`, wantErr: true},
		{name: "expires negative",
			body: `{"worked":true,"token":"t","expires":-3}`, wantErr: true},
		{name: "expires in milliseconds",
			body:    `{"worked":true,"token":"t","expires":1700000000000}`,
			wantErr: true},
		{name: "expires null",
			body: `{"worked":true,"token":"t","expires":null}`, wantErr: true},
		{name: "expires bool",
			body: `{"worked":true,"token":"t","expires":true}`, wantErr: true},
		{name: "expires string with spaces",
			body: `{"worked":true,"token":"t","expires":" 9"}`, wantErr: true},
		{name: "expires NaN",
			body: `{"worked":true,"token":"t","expires":"NaN"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAnswer([]byte(tt.body))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				if strings.Contains(err.Error(), "tök") {
					t.Errorf("error %q quotes the body", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCleanReason(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Invalid API key.", "Invalid API key."},
		{"controls", "a\x00b\r\nc\u0085d\x7f", "abcd"},
		{"invalid UTF-8", "a\xffb", "ab"},
		{"key", "key KEY123 unknown", "key " + redacted + " unknown"},
		{"key hidden by a control", "KEY\n123", redacted},
		{"token", "tok TOK9", "tok " + redacted},
		{"spaces", "  padded  ", "padded"},
		{"long", strings.Repeat("a", 250), strings.Repeat("a", 200) + "…"},
		{"long key at the cut", strings.Repeat("a", 195) + "KEY123",
			strings.Repeat("a", 195) + redacted[:5] + "…"},
		{"rune at the cut", strings.Repeat("a", 199) + "éé",
			strings.Repeat("a", 199) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cleanReason(tt.in, "KEY123", "TOK9")
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
