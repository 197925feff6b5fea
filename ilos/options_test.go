package ilos

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	long := strings.Repeat("v", MaxOptionBytes+1)
	tests := []struct {
		name      string
		in        string
		want      Options
		wantField string // for errors: the field the error must name
	}{
		{name: "empty object", in: `{}`, want: Options{}},
		{
			name: "strings",
			in: `{"service_name":"Course videos","video_title":"Lab 1",` +
				`"collection":"abc123"}`,
			want: Options{"service_name": "Course videos",
				"video_title": "Lab 1", "collection": "abc123"},
		},
		{
			name: "booleans",
			in: `{"auto_open_video":true,"auto_close_recorder":false,` +
				`"request_video_title":true,"video_set_public":false,` +
				`"auto_download_recorder":true,` +
				`"auto_authenticate_on_install":true,` +
				`"auto_launch_fullscreen":false,"webcam_only":true}`,
			want: Options{
				"auto_open_video":              true,
				"auto_close_recorder":          false,
				"request_video_title":          true,
				"video_set_public":             false,
				"auto_download_recorder":       true,
				"auto_authenticate_on_install": true,
				"auto_launch_fullscreen":       false,
				"webcam_only":                  true,
			},
		},
		{
			name: "webhook",
			in: `{"video_endpoint":"https://example.com/hook?k=v",` +
				`"video_endpoint_trigger":"ON_PROCESSING_COMPLETE",` +
				`"video_endpoint_extras":{"user_id":"42","course-2":""}}`,
			want: Options{
				"video_endpoint":         "https://example.com/hook?k=v",
				"video_endpoint_trigger": "ON_PROCESSING_COMPLETE",
				"video_endpoint_extras": map[string]string{
					"user_id": "42", "course-2": ""},
			},
		},
		{
			name: "right-to-left text, its marks and an emoji sequence",
			in:   `{"video_title":"\u05e9\u05dc\u05d5\u05dd \u200f1\u200e \ud83d\udc69\u200d\ud83d\udcbb"}`,
			want: Options{"video_title": "שלום \u200f1\u200e 👩\u200d💻"},
		},
		{
			name: "webhook on loopback",
			in:   `{"video_endpoint":"http://127.0.0.1:3000/hook"}`,
			want: Options{"video_endpoint": "http://127.0.0.1:3000/hook"},
		},
		{
			name: "unicode and whitespace around",
			in:   " \n{\"video_title\":\"Vidéo \\u00e9 ✓\"}\n",
			want: Options{"video_title": "Vidéo é ✓"},
		},
		{name: "unknown", in: `{"colour":"red"}`, wantField: "colour"},
		{name: "api_key", in: `{"api_key":"k"}`, wantField: "api_key"},
		{name: "deprecated", in: `{"record_single_video":true}`,
			wantField: "record_single_video"},
		{name: "string for bool", in: `{"webcam_only":"true"}`,
			wantField: "webcam_only"},
		{name: "number for bool", in: `{"webcam_only":1}`,
			wantField: "webcam_only"},
		{name: "bool for string", in: `{"video_title":true}`,
			wantField: "video_title"},
		{name: "number for string", in: `{"collection":12}`,
			wantField: "collection"},
		{name: "null", in: `{"video_set_public":null}`,
			wantField: "video_set_public"},
		{name: "object for string", in: `{"video_title":{"a":"b"}}`,
			wantField: "video_title"},
		{name: "array for string", in: `{"video_title":["a"]}`,
			wantField: "video_title"},
		{name: "over-long", in: `{"video_title":"` + long + `"}`,
			wantField: "video_title"},
		{name: "control character", in: `{"video_title":"a\u0007b"}`,
			wantField: "video_title"},
		{name: "newline", in: `{"service_name":"a\nb"}`,
			wantField: "service_name"},
		{name: "C1 control", in: `{"service_name":"a\u0085b"}`,
			wantField: "service_name"},
		{name: "right-to-left override", in: `{"video_title":"a\u202eb"}`,
			wantField: "video_title"},
		{name: "bidi isolate", in: `{"video_title":"a\u2067b"}`,
			wantField: "video_title"},
		{name: "lone surrogate", in: `{"video_title":"a\ud800b"}`,
			wantField: "video_title"},
		{name: "duplicate", in: `{"video_title":"a","video_title":"b"}`,
			wantField: "video_title"},
		{name: "trigger", in: `{"video_endpoint_trigger":"LATER"}`,
			wantField: "video_endpoint_trigger"},
		{name: "http webhook", in: `{"video_endpoint":"http://example.com/"}`,
			wantField: "video_endpoint"},
		{name: "relative webhook", in: `{"video_endpoint":"/hook"}`,
			wantField: "video_endpoint"},
		{name: "webhook with user info",
			in:        `{"video_endpoint":"https://u:p@example.com/"}`,
			wantField: "video_endpoint"},
		{name: "extras array", in: `{"video_endpoint_extras":["a"]}`,
			wantField: "video_endpoint_extras"},
		{name: "extras nested",
			in:        `{"video_endpoint_extras":{"a":{"b":"c"}}}`,
			wantField: "video_endpoint_extras"},
		{name: "extras number", in: `{"video_endpoint_extras":{"a":1}}`,
			wantField: "video_endpoint_extras"},
		{name: "extras bracket key",
			in:        `{"video_endpoint_extras":{"a]b":"c"}}`,
			wantField: "video_endpoint_extras"},
		{name: "extras empty key", in: `{"video_endpoint_extras":{"":"c"}}`,
			wantField: "video_endpoint_extras"},
		{name: "extras duplicate key",
			in:        `{"video_endpoint_extras":{"a":"1","a":"2"}}`,
			wantField: "video_endpoint_extras"},
		{name: "extras long value",
			in:        `{"video_endpoint_extras":{"a":"` + long + `"}}`,
			wantField: "video_endpoint_extras"},
		{name: "not an object", in: `["video_title"]`},
		{name: "null document", in: `null`},
		{name: "empty", in: ``},
		{name: "truncated", in: `{"video_title":"a"`},
		{name: "trailing data", in: `{} {}`},
		{name: "garbage", in: `{video_title:1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions([]byte(tt.in))
			if tt.want != nil {
				if err != nil {
					t.Fatalf("got error %v, want %v", err, tt.want)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got %#v, want %#v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %#v, want an error", got)
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("got error %v, want ErrInvalidOption", err)
			}
			named := strings.Contains(err.Error(), `"`+tt.wantField+`"`)
			if tt.wantField != "" && !named {
				t.Errorf("error %q does not name %q", err, tt.wantField)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error text is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestOptionErrorTruncatesName(t *testing.T) {
	name := strings.Repeat("n", 500)
	_, err := ParseOptions([]byte(`{"` + name + `":1}`))
	if err == nil || strings.Contains(err.Error(), name) {
		t.Errorf("got error %v, want one with the name cut", err)
	}
}

func TestIsField(t *testing.T) {
	for name, want := range map[string]bool{
		"video_title":           true,
		"video_endpoint_extras": true,
		"webcam_only":           true,
		"api_key":               false,
		"record_single_video":   false,
		"":                      false,
		"Video_Title":           false,
	} {
		if got := IsField(name); got != want {
			t.Errorf("IsField(%q) = %v, want %v", name, got, want)
		}
	}
}
