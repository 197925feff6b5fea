package handler

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// MaxBodyBytes is the largest request body, after base64 decoding, that the
// handler reads. A larger body gets 413.
const MaxBodyBytes = 8 << 10

// Response is what the handler returns to Lambda. API Gateway HTTP APIs,
// REST APIs and function URLs all read this shape.
type Response struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// event holds the fields the handler reads from the three HTTP event
// shapes: API Gateway HTTP API payload 2.0 and Lambda function URLs
// (requestContext.http, rawPath) and REST API payload 1.0 (httpMethod, path,
// multiValueHeaders).
type event struct {
	Version           string              `json:"version"`
	RawPath           string              `json:"rawPath"`
	Path              string              `json:"path"`
	HTTPMethod        string              `json:"httpMethod"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
	RequestContext    struct {
		RequestID string `json:"requestId"`
		Stage     string `json:"stage"`
		HTTP      struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		} `json:"http"`
	} `json:"requestContext"`
}

// request is an HTTP request taken out of an event.
type request struct {
	method    string
	path      string
	header    map[string][]string // lowercased names
	body      []byte
	requestID string
}

// Errors from decodeEvent.
var (
	errNotHTTP      = errors.New("not an HTTP event")
	errBadEvent     = errors.New("malformed event")
	errBodyTooLarge = errors.New("body too large")
	errBadBase64    = errors.New("body is not valid base64")
)

// errBodyUnreadable is the local server's error for a body that broke off
// before its end ([Handler.ServeHTTP]).
var errBodyUnreadable = errors.New("body could not be read")

// decodeEvent turns a raw Lambda event into a request. The request's header
// and request ID are filled even when the body is refused, so that the
// error response still carries CORS headers.
func decodeEvent(raw []byte) (*request, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, errBadEvent
	}

	r := &request{
		header:    mergeHeaders(ev.Headers, ev.MultiValueHeaders),
		requestID: ev.RequestContext.RequestID,
	}
	switch {
	case ev.Version != "" && ev.Version != "1.0" && ev.Version != "2.0":
		return nil, errNotHTTP
	case ev.RequestContext.HTTP.Method != "":
		r.method = ev.RequestContext.HTTP.Method
		r.path = ev.RawPath
		if r.path == "" {
			r.path = ev.RequestContext.HTTP.Path
		}
	case ev.HTTPMethod != "":
		r.method = ev.HTTPMethod
		r.path = ev.Path
	default:
		return nil, errNotHTTP
	}
	r.path = stripStage(r.path, ev.RequestContext.Stage)

	body, err := decodeBody(ev.Body, ev.IsBase64Encoded)
	if err != nil {
		return r, err
	}
	r.body = body
	return r, nil
}

// mergeHeaders folds single- and multi-value headers into one map with
// lowercased names. REST APIs send both, the single value being one of
// the multi values, so such a value is not counted twice; a single value
// that multi lacks is added, so a forged event whose two maps disagree
// shows the header as repeated. Names that differ only in case keep every
// value, so a repeated header stays visible as repeated.
func mergeHeaders(single map[string]string,
	multi map[string][]string) map[string][]string {
	h := make(map[string][]string, len(single)+len(multi))
	for k, vs := range multi {
		k = strings.ToLower(k)
		h[k] = append(h[k], vs...)
	}
	var rest map[string][]string
	for k, v := range single {
		k = strings.ToLower(k)
		if vs, ok := h[k]; ok && slices.Contains(vs, v) {
			continue
		}
		if rest == nil {
			rest = make(map[string][]string, len(single))
		}
		rest[k] = append(rest[k], v)
	}
	for k, vs := range rest {
		h[k] = append(h[k], vs...)
	}
	return h
}

// stripStage removes a "/{stage}" prefix, which API Gateway leaves on the
// path when a named stage (not "$default") is invoked.
func stripStage(path, stage string) string {
	if stage == "" || stage == "$default" {
		return path
	}
	prefix := "/" + stage
	if rest, ok := strings.CutPrefix(path, prefix); ok &&
		strings.HasPrefix(rest, "/") {
		return rest
	}
	return path
}

func decodeBody(body string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		if len(body) > MaxBodyBytes {
			return nil, errBodyTooLarge
		}
		return []byte(body), nil
	}
	// Refuse before decoding what cannot fit, then check what did decode:
	// EncodedLen rounds up, so it admits a few bytes past the limit.
	if len(body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) {
		return nil, errBodyTooLarge
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, errBadBase64
	}
	if len(b) > MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// first returns the only value of a header, and false when it is absent or
// repeated.
func (r *request) first(name string) (string, bool) {
	vs := r.header[name]
	if len(vs) != 1 {
		return "", false
	}
	return vs[0], true
}
