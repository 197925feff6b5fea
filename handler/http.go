package handler

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// ServeHTTP serves the handler over plain HTTP, as `sam local start-api`
// does: it turns the request into an HTTP API payload 2.0 event, answers
// it as [Handler.Handle] would and writes the answer back. The local
// server and the browser tests use it, so what they exercise is the Lambda
// path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Read one byte past the limit so that the handler sees an oversized
	// body and answers 413 itself.
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if readErr != nil {
		body = nil
	}

	// Every field of the event is a string, a number or a string map, so
	// Marshal cannot fail.
	raw, _ := json.Marshal(httpEvent(r, body))
	resp := h.handle(r.Context(), func() (*request, error) {
		req, err := decodeEvent(raw)
		if req != nil && readErr != nil {
			// A body that breaks off (a bad chunk, a dropped connection)
			// is answered like any unreadable request, after the same
			// origin, path and method checks.
			err = fmt.Errorf("%w: %w", errBodyUnreadable, readErr)
		}
		return req, err
	})
	writeResponse(w, resp)
}

// writeResponse writes a Lambda response as plain HTTP.
func writeResponse(w http.ResponseWriter, resp Response) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	if resp.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(resp.Body)
		_, _ = w.Write(b)
		return
	}
	_, _ = io.WriteString(w, resp.Body)
}

// httpEvent builds the event API Gateway would send for r. Like API
// Gateway, it joins repeated headers with commas and lowercases names.
func httpEvent(r *http.Request,
	body []byte) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(r.Header))
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	return events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RouteKey:        "$default",
		RawPath:         r.URL.Path, // HTTP APIs send it decoded
		RawQueryString:  r.URL.RawQuery,
		Headers:         headers,
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage:     "$default",
			RouteKey:  "$default",
			RequestID: newRequestID(),
			Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  ip,
				UserAgent: r.UserAgent(),
			},
		},
	}
}
