package ilos

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

const (
	// maxTokenBytes caps a record token; ilos's are about 35 characters.
	maxTokenBytes = 512

	// maxExpires is the last second of year 9999: a later expiry is not a
	// UNIX time in seconds.
	maxExpires = 253402300799
)

// answer is the part of an ilos answer this client uses.
type answer struct {
	worked  bool
	token   string
	expires int64
	reason  string // fail_reason, raw; see cleanReason
}

// wireAnswer is the JSON of an answer, fields left raw to be checked one
// by one.
type wireAnswer struct {
	Worked     json.RawMessage `json:"worked"`
	Token      json.RawMessage `json:"token"`
	Expires    json.RawMessage `json:"expires"`
	FailReason json.RawMessage `json:"fail_reason"`
	Message    json.RawMessage `json:"message"`
}

// decodeAnswer decodes the body of a 2xx answer. It fails unless the body
// is a JSON object with a boolean worked; when worked is true, it also
// fails unless token is a string of 1 to 512 printable ASCII characters
// without spaces and expires a positive UNIX time in seconds, given as a
// JSON number or a numeric string. Its errors never quote the body.
func decodeAnswer(body []byte) (answer, error) {
	w, err := decodeWire(body)
	if err != nil {
		return answer{}, err
	}
	var a answer
	switch string(w.Worked) {
	case "true":
		a.worked = true
	case "false":
	default:
		return answer{}, errors.New("worked missing or not a boolean")
	}
	if !a.worked {
		a.reason = w.reason()
		return a, nil
	}

	if err := json.Unmarshal(w.Token, &a.token); err != nil {
		return answer{}, errors.New("token missing or not a string")
	}
	if !validToken(a.token) {
		return answer{}, errors.New("token empty, too long or not printable")
	}
	a.expires, err = parseExpires(w.Expires)
	if err != nil {
		return answer{}, err
	}
	return a, nil
}

// decodeWire decodes a JSON object, with nothing after it.
func decodeWire(body []byte) (wireAnswer, error) {
	var w wireAnswer
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return w, errors.New("body is not a JSON object")
	}
	if err := json.Unmarshal(trimmed, &w); err != nil {
		// A syntax error's text quotes a character of the body, which
		// could belong to a token: say only that the JSON is malformed.
		return w, errors.New("body is not well-formed JSON")
	}
	return w, nil
}

// reason returns fail_reason, or failing it a framework's message, when
// either is a string.
func (w wireAnswer) reason() string {
	var s string
	if json.Unmarshal(w.FailReason, &s) == nil && s != "" {
		return s
	}
	if json.Unmarshal(w.Message, &s) == nil {
		return s
	}
	return ""
}

// failReason extracts the reason from the body of a non-2xx answer, if it
// is JSON and has one.
func failReason(body []byte) string {
	w, err := decodeWire(body)
	if err != nil {
		return ""
	}
	return w.reason()
}

// validToken reports whether token is 1 to maxTokenBytes of printable
// ASCII without spaces.
func validToken(token string) bool {
	if token == "" || len(token) > maxTokenBytes {
		return false
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// parseExpires parses expires, a JSON number or numeric string holding a
// whole positive number of seconds.
func parseExpires(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("expires missing")
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, errors.New("expires malformed")
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > maxExpires {
			return 0, errors.New("expires not a whole number of seconds")
		}
		n = int64(f)
	}
	if n <= 0 || n > maxExpires {
		return 0, errors.New("expires out of range")
	}
	return n, nil
}
