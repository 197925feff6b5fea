package ilostest

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"time"
)

// FaultKind is a way for the record-token endpoint to misbehave.
type FaultKind int

// The fault kinds. Each replaces the normal answer, whatever the key.
const (
	// WorkedFalse answers 200 with worked:false and [Fault.Reason].
	WorkedFalse FaultKind = iota + 1

	// Status answers [Fault.Status] (zero: 503) with a worked:false JSON
	// body, and a Retry-After header if [Fault.RetryAfter] is set.
	Status

	// HTML answers 200 with an HTML page, as a proxy or maintenance page
	// would.
	HTML

	// Truncated answers 200 with a success body cut in half.
	Truncated

	// NoToken answers 200 with worked:true and no token.
	NoToken

	// EmptyToken answers 200 with worked:true and an empty token.
	EmptyToken

	// Huge answers 200 with a body of [Fault.Size] bytes (zero: 50 MiB),
	// streamed without holding it in memory.
	Huge

	// Trickle answers 200 with a success body, one byte every
	// [Fault.Interval] (zero: 100ms), flushing each.
	Trickle

	// Redirect answers 302 to [Fault.Location].
	Redirect

	// Reset takes over the connection and resets it (TCP RST) without
	// answering, after reading the request.
	Reset

	// Hang reads the request and never answers, until the client gives up
	// or the server closes.
	Hang

	// Raw answers [Fault.Status] (zero: 200) with [Fault.Body] as JSON.
	Raw
)

// Fault makes the record-token endpoint misbehave; see [Server.SetFault].
// Only the fields of its kind matter.
type Fault struct {
	// Kind is the misbehaviour.
	Kind FaultKind

	// Count is how many requests the fault applies to; zero means every
	// request until [Server.ClearFault].
	Count int

	// Status is the status of a Status fault (zero: 503) or of a Raw one
	// (zero: 200).
	Status int

	// Reason is the fail_reason of a WorkedFalse or Status fault; empty
	// means a default.
	Reason string

	// RetryAfter is the Retry-After header of a Status fault, sent as
	// given; empty sends none.
	RetryAfter string

	// Body is the body of a Raw fault.
	Body string

	// Size is the body length of a Huge fault; zero means 50 MiB.
	Size int64

	// Interval is the wait between bytes of a Trickle fault; zero means
	// 100ms.
	Interval time.Duration

	// Location is the target of a Redirect fault.
	Location string
}

// SetFault makes the next f.Count requests to the record-token endpoint
// (all of them when f.Count is zero) misbehave as f says, replacing any
// fault set before.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.faultOn = true
	s.faultLeft = max(f.Count, 0)
}

// ClearFault makes the endpoint behave again.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = Fault{}
	s.faultOn = false
	s.faultLeft = 0
}

// serveFault answers a request as the fault f says. key is the request's
// API key: the answers that carry a token issue one whatever the key.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault,
	key string) {
	switch f.Kind {
	case WorkedFalse:
		reason := f.Reason
		if reason == "" {
			reason = "Recording is not enabled for this account."
		}
		writeJSON(w, http.StatusOK, failure(reason))
	case Status:
		status := f.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		reason := f.Reason
		if reason == "" {
			reason = http.StatusText(status)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeJSON(w, status, failure(reason))
	case HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>Maintenance</title>" +
			"<p>Down for maintenance.</p>\n"))
	case Truncated:
		body := s.successBody(key)
		writeRaw(w, http.StatusOK, body[:len(body)/2])
	case NoToken:
		writeJSON(w, http.StatusOK, answer{Worked: true, Expires: s.expiry()})
	case EmptyToken:
		writeRaw(w, http.StatusOK, []byte(`{"worked":true,"token":"",`+
			`"expires":`+strconv.FormatInt(s.expiry(), 10)+`}`))
	case Huge:
		s.serveHuge(w, f.Size)
	case Trickle:
		s.serveTrickle(w, r, s.successBody(key), f.Interval)
	case Redirect:
		w.Header().Set("Location", f.Location)
		w.WriteHeader(http.StatusFound)
	case Reset:
		resetConn(w)
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Drop the connection rather than answer on the way out.
		panic(http.ErrAbortHandler)
	case Raw:
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		writeRaw(w, status, []byte(f.Body))
	default:
		writeJSON(w, http.StatusInternalServerError,
			failure("Unknown stand-in fault."))
	}
}

// successBody is a success answer, with a token issued whatever the key.
func (s *Server) successBody(key string) []byte {
	a, _ := s.issue(key, true)
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(a)
	return buf.Bytes()
}

// expiry is the expiry of a token issued now.
func (s *Server) expiry() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now().Add(s.ttl).Unix()
}

// writeRaw writes body as a JSON answer with the given status.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// serveHuge streams size bytes that start like a success answer and never
// end like one, from one small buffer.
func (s *Server) serveHuge(w http.ResponseWriter, size int64) {
	if size <= 0 {
		size = 50 << 20
	}
	head := []byte(`{"worked":true,"token":"`)
	filler := bytes.Repeat([]byte("x"), 32<<10)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)

	sent := min(int64(len(head)), size)
	if _, err := w.Write(head[:sent]); err != nil {
		return
	}
	for sent < size {
		n := min(int64(len(filler)), size-sent)
		if _, err := w.Write(filler[:n]); err != nil {
			return
		}
		sent += n
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// serveTrickle writes body one byte per interval, flushing each, until it
// is done, the client goes away or the server closes.
func (s *Server) serveTrickle(w http.ResponseWriter, r *http.Request,
	body []byte, interval time.Duration) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range body {
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// resetConn takes over the connection and closes it with SO_LINGER 0, so
// the client sees a reset rather than an orderly close.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
