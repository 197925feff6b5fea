package ilostest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxRequestBytes caps a request body.
const maxRequestBytes = 1 << 20

// tokenLen is the length of an issued token, as in ilos's examples.
const tokenLen = 35

// knownFields are the fields the endpoint knows: the key and the
// documented options, the deprecated one included.
var knownFields = map[string]bool{
	"api_key":                      true,
	"service_name":                 true,
	"video_title":                  true,
	"collection":                   true,
	"video_endpoint":               true,
	"video_endpoint_trigger":       true,
	"video_endpoint_extras":        true,
	"auto_open_video":              true,
	"auto_close_recorder":          true,
	"request_video_title":          true,
	"video_set_public":             true,
	"auto_download_recorder":       true,
	"auto_authenticate_on_install": true,
	"auto_launch_fullscreen":       true,
	"webcam_only":                  true,
	"record_single_video":          true,
}

// answer is the JSON answer of the record-token endpoint.
type answer struct {
	Worked              bool   `json:"worked"`
	FailReason          string `json:"fail_reason,omitempty"`
	Token               string `json:"token,omitempty"`
	Expires             int64  `json:"expires,omitempty"`
	RecorderLaunchURI   string `json:"recorderLaunchURI,omitempty"`
	RecordButtonIframe  string `json:"recordButtonIframe,omitempty"`
	RecorderDownloadURL string `json:"recorderDownloadUrl,omitempty"`
	VideoEndpoint       any    `json:"video_endpoint,omitempty"`
	VideoEndpointExtras any    `json:"video_endpoint_extras,omitempty"`
	VideoSetPublic      any    `json:"video_set_public,omitempty"`
}

// serveRecord serves POST /v1/token/record.
func (s *Server) serveRecord(w http.ResponseWriter, r *http.Request) {
	req, echo, bodyErr := readRequest(w, r)
	if f, ok := s.record(req); ok {
		s.serveFault(w, r, f, req.APIKey)
		return
	}

	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, failure("Method not allowed."))
		return
	case bodyErr != "":
		writeJSON(w, http.StatusBadRequest, failure(bodyErr))
		return
	}

	a, ok := s.issue(req.APIKey, false)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, failure("Invalid API key."))
		return
	}
	a.VideoEndpoint = echo.endpoint
	a.VideoEndpointExtras = echo.extras
	a.VideoSetPublic = echo.public
	writeJSON(w, http.StatusOK, a)
}

// failure is a worked:false answer.
func failure(reason string) answer {
	return answer{FailReason: reason}
}

// echoed are the options a successful answer repeats; nil when not sent.
type echoed struct {
	endpoint, extras, public any
}

// readRequest reads the fields of a request. A non-empty problem is the
// fail_reason for a body the endpoint cannot read.
func readRequest(w http.ResponseWriter, r *http.Request) (Request, echoed,
	string) {
	req := Request{
		Method:     r.Method,
		UserAgent:  r.UserAgent(),
		RemoteAddr: r.RemoteAddr,
	}
	req.ConnID, _ = r.Context().Value(connIDKey{}).(int)
	if r.Method != http.MethodPost {
		return req, echoed{}, ""
	}

	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	req.ContentType = mediaType
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	var (
		echo    echoed
		problem string
	)
	switch mediaType {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return req, echoed{}, "Malformed form body."
		}
		req.Form = r.PostForm
		echo = echoForm(r.PostForm)
	case "application/json":
		var fields map[string]any
		d := json.NewDecoder(r.Body)
		d.UseNumber()
		if err := d.Decode(&fields); err != nil {
			return req, echoed{}, "Malformed JSON body."
		}
		req.Form = flatten(fields)
		echo = echoed{
			endpoint: fields["video_endpoint"],
			extras:   fields["video_endpoint_extras"],
			public:   fields["video_set_public"],
		}
	default:
		problem = "Unsupported content type."
	}

	req.APIKey = req.Form.Get("api_key")
	for name := range req.Form {
		base, _, _ := strings.Cut(name, "[")
		if !knownFields[base] {
			req.Unknown = append(req.Unknown, name)
		}
	}
	slices.Sort(req.Unknown)
	return req, echo, problem
}

// echoForm picks the echoed options out of a form body, reading
// name[key] as an object entry and name[] as an array element.
func echoForm(form url.Values) echoed {
	var echo echoed
	if v, ok := form["video_endpoint"]; ok {
		echo.endpoint = v[0]
	}
	switch v := form.Get("video_set_public"); v {
	case "1", "true":
		echo.public = true
	case "0", "false":
		echo.public = false
	}
	const extras = "video_endpoint_extras"
	if list, ok := form[extras+"[]"]; ok {
		echo.extras = list
	}
	object := map[string]string{}
	for name, v := range form {
		key, ok := strings.CutPrefix(name, extras+"[")
		if ok && key != "]" && strings.HasSuffix(key, "]") {
			object[strings.TrimSuffix(key, "]")] = v[0]
		}
	}
	if len(object) > 0 {
		echo.extras = object
	}
	return echo
}

// flatten spells a JSON body's fields the way a form would.
func flatten(fields map[string]any) url.Values {
	form := url.Values{}
	for name, v := range fields {
		switch v := v.(type) {
		case map[string]any:
			for key, item := range v {
				form.Add(name+"["+key+"]", jsonText(item))
			}
		case []any:
			for _, item := range v {
				form.Add(name+"[]", jsonText(item))
			}
		default:
			form.Add(name, jsonText(v))
		}
	}
	return form
}

// jsonText is a JSON value as a form field: strings as they are, anything
// else as its JSON text, null as empty.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// writeJSON writes v as a JSON answer with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	_ = e.Encode(v) // the answer types always encode
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// newToken returns a random token of tokenLen letters and digits.
func newToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" +
		"abcdefghijklmnopqrstuvwxyz0123456789"
	token := make([]byte, 0, tokenLen)
	var buf [64]byte
	for len(token) < tokenLen {
		_, _ = rand.Read(buf[:]) // never fails, per crypto/rand
		for _, b := range buf {
			// 248 is the largest multiple of 62 below 256: no bias.
			if b < 248 && len(token) < tokenLen {
				token = append(token, alphabet[b%62])
			}
		}
	}
	return string(token)
}

// page is the stand-in's HTML page for the recorder iframe and the
// download link.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>body{font:14px system-ui,sans-serif;margin:0;padding:6px}</style>
</head>
<body>
<strong>{{.Title}}</strong>
<p>{{.State}}</p>
</body>
</html>
`))

// serveEmbed serves the page shown in the record button iframe.
func (s *Server) serveEmbed(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r.PathValue("token"), "ilos recorder (stand-in)")
}

// serveDownload serves the page of the recorder download link.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r.PathValue("token"),
		"ilos recorder download (stand-in)")
}

// servePage writes a page saying whether token is valid: 200 if so, 404
// if it is expired or unknown.
func (s *Server) servePage(w http.ResponseWriter, token, title string) {
	s.mu.Lock()
	expires, known := s.tokens[token]
	now := s.now()
	s.mu.Unlock()

	status := http.StatusOK
	state := "Token valid until " +
		expires.UTC().Format(time.DateTime) + " UTC."
	if !known || !now.Before(expires) {
		status = http.StatusNotFound
		state = "Token expired or unknown."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = page.Execute(w, struct{ Title, State string }{title, state})
}
