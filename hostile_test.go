package ilostoken_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/handler"
)

// hostileCase is an event a browser, a proxy or a misrouted trigger could
// send, and the status it gets.
type hostileCase struct {
	name   string
	ev     map[string]any // built with the helpers; see raw
	raw    string         // sent as it is when ev is nil
	status int
	code   string // empty for a token or a preflight
}

// runHostile sends each event through a fresh stack. Refused events must
// not reach Secrets Manager or ilos; a refused origin gets no CORS headers.
func runHostile(t *testing.T, env map[string]string, tests []hostileCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, env)
			var resp handler.Response
			if tt.ev != nil {
				resp = s.invoke(t, tt.ev)
			} else {
				ctx, cancel := context.WithTimeout(t.Context(),
					3*time.Second)
				defer cancel()
				resp = s.invokeRaw(ctx, t, []byte(tt.raw))
			}

			switch {
			case tt.code != "":
				assertError(t, resp, tt.status, tt.code)
			case resp.StatusCode != tt.status:
				t.Errorf("status: got %d want %d (%s)",
					resp.StatusCode, tt.status, resp.Body)
			}
			if tt.status == http.StatusOK {
				return
			}
			if tt.status == http.StatusForbidden {
				for k := range resp.Headers {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("got %s on a refused origin", k)
					}
				}
			}
			s.assertNoUpstreamCalls(t)
		})
	}
}

// withHeaders returns an HTTP API event for r with its headers replaced.
func withHeaders(r req, h map[string]any) map[string]any {
	ev := httpAPIEvent(r)
	ev["headers"] = h
	return ev
}

// restWith returns a REST API event for r with its two header maps
// replaced; a nil map becomes JSON null.
func restWith(r req, h map[string]any, mh map[string]any) map[string]any {
	ev := restAPIEvent(r)
	ev["headers"] = h
	ev["multiValueHeaders"] = mh
	return ev
}

// without returns ev with the named fields removed.
func without(ev map[string]any, names ...string) map[string]any {
	for _, n := range names {
		delete(ev, n)
	}
	return ev
}

// set returns ev with name set to v.
func set(ev map[string]any, name string, v any) map[string]any {
	ev[name] = v
	return ev
}

func TestHostileOrigins(t *testing.T) {
	refused := func(name, origin string) hostileCase {
		return hostileCase{name: name,
			ev:     httpAPIEvent(req{origin: origin}),
			status: 403, code: "origin_not_allowed"}
	}
	huge := "https://" + strings.Repeat("a", 1<<20) + ".example.com"
	runHostile(t, nil, []hostileCase{
		refused("lookalike suffix", "https://app.example.com.evil.test"),
		refused("allowed origin as a path",
			"https://evil.test/https://app.example.com"),
		refused("allowed origin as user info",
			"https://app.example.com@evil.test"),
		refused("null", "null"),
		refused("other scheme", "http://app.example.com"),
		refused("other port", "https://app.example.com:8443"),
		refused("default port spelled out", "https://app.example.com:443"),
		refused("upper-case host", "https://APP.EXAMPLE.COM"),
		refused("upper-case scheme", "HTTPS://app.example.com"),
		refused("trailing slash", "https://app.example.com/"),
		refused("trailing dot", "https://app.example.com."),
		refused("leading space", " https://app.example.com"),
		refused("NUL inside", "https://app.example.com\x00.evil.test"),
		refused("wildcard", "*"),
		refused("huge", huge),
		refused("comma-joined, allowed first",
			"https://app.example.com,https://evil.test"),
		refused("comma-joined, both allowed",
			"https://app.example.com, https://admin.example.com"),
		{name: "missing", ev: httpAPIEvent(req{}),
			status: 403, code: "origin_not_allowed"},
		{name: "empty", ev: withHeaders(req{}, map[string]any{"origin": ""}),
			status: 403, code: "origin_not_allowed"},
		{name: "case twins",
			ev: withHeaders(req{}, map[string]any{
				"Origin": appOrigin, "origin": "https://evil.test"}),
			status: 403, code: "origin_not_allowed"},
		{name: "case twins, both allowed",
			ev: withHeaders(req{}, map[string]any{
				"Origin": appOrigin, "ORIGIN": otherOrigin}),
			status: 403, code: "origin_not_allowed"},
		{name: "REST repeated",
			ev: restWith(req{}, map[string]any{"Origin": appOrigin},
				map[string]any{"Origin": []string{appOrigin,
					"https://evil.test"}}),
			status: 403, code: "origin_not_allowed"},
		{name: "REST header styles disagree",
			ev: restWith(req{}, map[string]any{"Origin": appOrigin},
				map[string]any{"Origin": []string{"https://evil.test"}}),
			status: 403, code: "origin_not_allowed"},
		{name: "REST header styles disagree the other way",
			ev: restWith(req{},
				map[string]any{"Origin": "https://evil.test"},
				map[string]any{"Origin": []string{appOrigin}}),
			status: 403, code: "origin_not_allowed"},
		{name: "REST empty list",
			ev: restWith(req{}, nil,
				map[string]any{"Origin": []string{}}),
			status: 403, code: "origin_not_allowed"},
		{name: "preflight from a lookalike",
			ev: httpAPIEvent(req{method: "OPTIONS",
				origin: "https://app.example.com.evil.test"}),
			status: 403, code: "origin_not_allowed"},
		{name: "allowed, for contrast", ev: httpAPIEvent(req{origin: appOrigin}),
			status: 200},
	})
}

func TestHostileEvents(t *testing.T) {
	const post = `{"version":"2.0","rawPath":"/token",` +
		`"headers":{"origin":"https://app.example.com"},` +
		`"requestContext":{"http":{"method":"POST"}}`
	big := strings.Repeat("b", 1<<20)
	runHostile(t, nil, []hostileCase{
		{name: "nil maps",
			ev:     restWith(req{origin: appOrigin}, nil, nil),
			status: 403, code: "origin_not_allowed"},
		{name: "request context null",
			ev: set(restAPIEvent(req{origin: appOrigin}),
				"requestContext", nil),
			status: 200},
		{name: "REST without a request context",
			ev:     without(restAPIEvent(req{origin: appOrigin}), "requestContext"),
			status: 200},
		{name: "HTTP API without a request context",
			ev: without(httpAPIEvent(req{origin: appOrigin}),
				"requestContext"),
			status: 400, code: "invalid_request"},
		{name: "both header styles",
			ev: set(httpAPIEvent(req{origin: appOrigin}),
				"multiValueHeaders",
				map[string]any{"origin": []string{appOrigin}}),
			status: 200},
		{name: "both method styles",
			ev: set(httpAPIEvent(req{origin: appOrigin}),
				"httpMethod", "DELETE"),
			status: 200},
		{name: "invalid base64",
			ev: set(set(httpAPIEvent(req{origin: appOrigin}),
				"body", "e30=!!"), "isBase64Encoded", true),
			status: 400, code: "invalid_request"},
		{name: "base64 of the URL alphabet",
			ev: set(set(httpAPIEvent(req{origin: appOrigin}),
				"body", "eyJ2aWRlb190aXRsZSI6Ij8_In0"), "isBase64Encoded",
				true),
			status: 400, code: "invalid_request"},
		{name: "huge header",
			ev: httpAPIEvent(req{origin: appOrigin,
				headers: map[string]string{"user-agent": big}}),
			status: 200},
		{name: "many headers", ev: manyHeaders(), status: 200},
		{name: "huge body",
			ev:     httpAPIEvent(req{origin: appOrigin, body: big}),
			status: 413, code: "body_too_large"},
		{name: "huge base64 body",
			ev: set(set(httpAPIEvent(req{origin: appOrigin}), "body",
				base64.StdEncoding.EncodeToString([]byte(big))),
				"isBase64Encoded", true),
			status: 413, code: "body_too_large"},
		{name: "huge request ID",
			ev: set(httpAPIEvent(req{origin: appOrigin}), "requestContext",
				map[string]any{"requestId": big,
					"http": map[string]any{"method": "POST"}}),
			status: 200},
		{name: "unknown version",
			ev:     set(httpAPIEvent(req{origin: appOrigin}), "version", "3.0"),
			status: 400, code: "invalid_request"},
		{name: "version of the wrong type",
			ev:     set(httpAPIEvent(req{origin: appOrigin}), "version", 2),
			status: 400, code: "invalid_request"},
		{name: "body of the wrong type",
			ev: set(httpAPIEvent(req{origin: appOrigin}), "body",
				map[string]any{"video_title": "x"}),
			status: 400, code: "invalid_request"},
		{name: "header of the wrong type",
			ev: withHeaders(req{}, map[string]any{
				"origin": []string{appOrigin}}),
			status: 400, code: "invalid_request"},
		{name: "lower-case method",
			ev:     httpAPIEvent(req{method: "post", origin: appOrigin}),
			status: 405, code: "method_not_allowed"},
		{name: "unknown method",
			ev:     httpAPIEvent(req{method: "TRACE", origin: appOrigin}),
			status: 405, code: "method_not_allowed"},
		{name: "dot segments",
			ev:     httpAPIEvent(req{path: "/x/../token", origin: appOrigin}),
			status: 404, code: "not_found"},
		{name: "encoded path",
			ev:     httpAPIEvent(req{path: "/%74oken", origin: appOrigin}),
			status: 404, code: "not_found"},
		{name: "upper-case path",
			ev:     httpAPIEvent(req{path: "/TOKEN", origin: appOrigin}),
			status: 404, code: "not_found"},
		{name: "SQS event", raw: `{"Records":[{"eventSource":"aws:sqs",` +
			`"body":"x"}]}`, status: 400, code: "invalid_request"},
		{name: "scheduled event", raw: `{"source":"aws.events",` +
			`"detail-type":"Scheduled Event","detail":{}}`,
			status: 400, code: "invalid_request"},
		{name: "empty object", raw: `{}`,
			status: 400, code: "invalid_request"},
		{name: "JSON null", raw: `null`,
			status: 400, code: "invalid_request"},
		{name: "JSON array", raw: `[` + post + `}]`,
			status: 400, code: "invalid_request"},
		{name: "JSON string", raw: `"POST /token"`,
			status: 400, code: "invalid_request"},
		{name: "not JSON", raw: "POST /token HTTP/1.1\r\n\r\n",
			status: 400, code: "invalid_request"},
		{name: "empty", raw: ``,
			status: 400, code: "invalid_request"},
		{name: "truncated", raw: post,
			status: 400, code: "invalid_request"},
		{name: "trailing data", raw: post + `} {}`,
			status: 400, code: "invalid_request"},
		{name: "deep nesting", raw: `{"x":` + strings.Repeat(`[`, 20000) +
			strings.Repeat(`]`, 20000) + `}`,
			status: 400, code: "invalid_request"},
	})
}

// manyHeaders returns an event with ten thousand headers.
func manyHeaders() map[string]any {
	h := map[string]any{"origin": appOrigin}
	for i := range 10000 {
		h["x-h-"+strconv.Itoa(i)] = strings.Repeat("v", i%100)
	}
	return withHeaders(req{}, h)
}

func TestHostileBodies(t *testing.T) {
	env := map[string]string{
		config.EnvClientOptions: "video_title,request_video_title",
	}
	refused := func(name, body, code string) hostileCase {
		return hostileCase{name: name,
			ev:     httpAPIEvent(req{origin: appOrigin, body: body}),
			status: 400, code: code}
	}
	const (
		notAllowed = "option_not_allowed"
		invalid    = "invalid_option"
		unreadable = "invalid_request"
	)
	deep := strings.Repeat("[", 4000) + strings.Repeat("]", 4000)
	runHostile(t, env, []hostileCase{
		refused("api_key", `{"api_key":"stolen"}`, notAllowed),
		refused("api_key after an allowed option",
			`{"video_title":"x","api_key":"stolen"}`, notAllowed),
		refused("api_key in upper case", `{"API_KEY":"stolen"}`, notAllowed),
		refused("api_key escaped", `{"api\u005fkey":"stolen"}`, notAllowed),
		refused("video_endpoint",
			`{"video_endpoint":"https://evil.test/hook"}`, notAllowed),
		refused("video_endpoint_extras",
			`{"video_endpoint_extras":{"a":"b"}}`, notAllowed),
		refused("video_endpoint_trigger",
			`{"video_endpoint_trigger":"ON_UPLOAD_COMPLETE"}`, notAllowed),
		refused("unknown option", `{"colour":"red"}`, notAllowed),
		refused("deprecated option", `{"record_single_video":true}`,
			notAllowed),
		refused("__proto__", `{"__proto__":{"api_key":"x"}}`, notAllowed),
		refused("empty name", `{"":"x"}`, notAllowed),
		refused("deep nesting in an allowed option",
			`{"video_title":`+deep+`}`, invalid),
		refused("deep nesting in an unknown option", `{"x":`+deep+`}`,
			notAllowed),
		refused("deep nesting, unclosed", `{"video_title":`+
			strings.Repeat("[", 8000), unreadable),
		refused("number for a string", `{"video_title":7}`, invalid),
		refused("huge number", `{"video_title":1e999}`, invalid),
		refused("string for a boolean", `{"request_video_title":"true"}`,
			invalid),
		refused("number for a boolean", `{"request_video_title":1}`,
			invalid),
		refused("null", `{"video_title":null}`, invalid),
		refused("object", `{"video_title":{"a":"b"}}`, invalid),
		refused("array", `{"video_title":["a"]}`, invalid),
		refused("over-long string",
			`{"video_title":"`+strings.Repeat("é", 600)+`"}`, invalid),
		refused("NUL", `{"video_title":"a\u0000b"}`, invalid),
		refused("newline", `{"video_title":"a\nb"}`, invalid),
		refused("escape sequence", `{"video_title":"\u001b[31mred"}`,
			invalid),
		refused("C1 control", `{"video_title":"a\u0085b"}`, invalid),
		refused("duplicate", `{"video_title":"a","video_title":"b"}`,
			invalid),
		// Only a base64 body can carry invalid UTF-8 in a JSON event.
		{name: "invalid UTF-8",
			ev: set(set(httpAPIEvent(req{origin: appOrigin}), "body",
				base64.StdEncoding.EncodeToString(
					[]byte("{\"video_title\":\"a\xffb\"}"))),
				"isBase64Encoded", true),
			status: 400, code: unreadable},
		// encoding/json decodes a lone surrogate as U+FFFD: the title
		// would not be what the page meant, so it is refused.
		{name: "lone surrogate", ev: httpAPIEvent(req{origin: appOrigin,
			body: `{"video_title":"a\ud800b"}`}), status: 400,
			code: invalid},
		{name: "right-to-left override", ev: httpAPIEvent(req{
			origin: appOrigin, body: `{"video_title":"a\u202eb"}`}),
			status: 400, code: invalid},
		refused("byte order mark", "\ufeff{\"video_title\":\"a\"}",
			unreadable),
		refused("JSON null", `null`, unreadable),
		refused("JSON array", `[{"video_title":"a"}]`, unreadable),
		refused("JSON string", `"video_title"`, unreadable),
		refused("JSON number", `1`, unreadable),
		refused("form body", `video_title=a&api_key=b`, unreadable),
		refused("truncated", `{"video_title":"a"`, unreadable),
		refused("trailing data", `{"video_title":"a"} {}`, unreadable),
		refused("single quotes", `{'video_title':'a'}`, unreadable),
		{name: "empty object", ev: httpAPIEvent(req{origin: appOrigin,
			body: `{}`}), status: 200},
		{name: "whitespace only", ev: httpAPIEvent(req{origin: appOrigin,
			body: " \r\n\t"}), status: 200},
		{name: "allowed, for contrast",
			ev: httpAPIEvent(req{origin: appOrigin,
				body: `{"video_title":"Bug ✓","request_video_title":true}`}),
			status: 200},
	})
}
