package ilos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Limits on [Options], checked by [ParseOptions] and [Client.RecordToken].
const (
	// MaxOptionBytes caps every string in [Options]: a value, an extras
	// value, a webhook URL.
	MaxOptionBytes = 1024

	// MaxExtras caps the number of entries in video_endpoint_extras.
	MaxExtras = 32

	// maxExtraKeyBytes caps an extras key.
	maxExtraKeyBytes = 64

	// maxOptionsJSON caps the JSON given to [ParseOptions].
	maxOptionsJSON = 64 << 10
)

// Options are documented ilos record-token options, keyed by their ilos
// field name, such as "video_title". A value's Go type follows the field:
//
//   - string: service_name, video_title, collection, video_endpoint (an
//     absolute https URL, or http on loopback, without user info) and
//     video_endpoint_trigger
//     ("ON_UPLOAD_COMPLETE" or "ON_PROCESSING_COMPLETE");
//   - bool: auto_open_video, auto_close_recorder, request_video_title,
//     video_set_public, auto_download_recorder,
//     auto_authenticate_on_install, auto_launch_fullscreen, webcam_only;
//   - map[string]string: video_endpoint_extras, named extra data that ilos
//     passes back to the webhook. Keys are 1 to 64 characters of
//     [A-Za-z0-9_-]; at most [MaxExtras] entries.
//
// Strings hold at most [MaxOptionBytes] bytes of UTF-8, with no control
// characters, no bidirectional embedding, override or isolate controls
// and no U+FFFD.
// An absent field leaves ilos's default; api_key is never an option, and
// the deprecated record_single_video is refused. A nil Options is empty.
// [ParseOptions] builds a valid one from JSON; Options from several
// sources, such as an operator's defaults and a browser's choices, merge
// with [maps.Copy], later fields overriding earlier ones.
type Options map[string]any

// kind is the Go type of an option field.
type kind int

const (
	kindString kind = iota + 1
	kindBool
	kindURL
	kindTrigger
	kindExtras
)

// fields are the documented option fields.
var fields = map[string]kind{
	"service_name":                 kindString,
	"video_title":                  kindString,
	"collection":                   kindString,
	"video_endpoint":               kindURL,
	"video_endpoint_trigger":       kindTrigger,
	"video_endpoint_extras":        kindExtras,
	"auto_open_video":              kindBool,
	"auto_close_recorder":          kindBool,
	"request_video_title":          kindBool,
	"video_set_public":             kindBool,
	"auto_download_recorder":       kindBool,
	"auto_authenticate_on_install": kindBool,
	"auto_launch_fullscreen":       kindBool,
	"webcam_only":                  kindBool,
}

// IsField reports whether name is a documented option field, one that
// [Options] may hold. It is false for api_key and record_single_video.
func IsField(name string) bool {
	_, ok := fields[name]
	return ok
}

// ParseOptions decodes a JSON object of documented option fields, such as
// an operator's configured defaults or the fields a browser asked for, and
// checks each field as described at [Options]. Unknown fields, api_key,
// record_single_video, wrong types (null included), duplicate keys and
// deeper nesting are refused. Errors wrap [ErrInvalidOption] and name the
// field, never its value.
func ParseOptions(data []byte) (Options, error) {
	if len(data) > maxOptionsJSON {
		return nil, fmt.Errorf("%w: JSON over %d bytes",
			ErrInvalidOption, maxOptionsJSON)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := expectDelim(d, '{'); err != nil {
		return nil, err
	}

	opts := Options{}
	for d.More() {
		name, err := nextKey(d)
		if err != nil {
			return nil, err
		}
		if _, dup := opts[name]; dup {
			return nil, optionError(name, "given twice")
		}
		if err := checkName(name); err != nil {
			return nil, err
		}
		v, err := decodeField(d, name)
		if err != nil {
			return nil, err
		}
		opts[name] = v
	}

	if err := expectDelim(d, '}'); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object",
			ErrInvalidOption)
	}
	return opts, nil
}

// decodeField reads the value of the named field and checks it.
func decodeField(d *json.Decoder, name string) (any, error) {
	if fields[name] == kindExtras {
		return decodeExtras(d, name)
	}
	tok, err := d.Token()
	if err != nil {
		return nil, malformed(err)
	}
	if delim, ok := tok.(json.Delim); ok && (delim == '{' || delim == '[') {
		return nil, optionError(name, "wrong type")
	}
	if err := checkValue(name, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// decodeExtras reads a JSON object of strings, with no duplicate keys.
func decodeExtras(d *json.Decoder, name string) (map[string]string, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, malformed(err)
	}
	if tok != json.Delim('{') {
		return nil, optionError(name, "wrong type, want an object")
	}
	extras := map[string]string{}
	for d.More() {
		key, err := nextKey(d)
		if err != nil {
			return nil, err
		}
		if _, dup := extras[key]; dup {
			return nil, optionError(name, "key given twice")
		}
		tok, err := d.Token()
		if err != nil {
			return nil, malformed(err)
		}
		s, ok := tok.(string)
		if !ok {
			return nil, optionError(name, "wrong type, want string values")
		}
		extras[key] = s
	}
	if err := expectDelim(d, '}'); err != nil {
		return nil, err
	}
	if err := checkValue(name, extras); err != nil {
		return nil, err
	}
	return extras, nil
}

// check reports whether every field of o is documented and valid.
func (o Options) check() error {
	for _, name := range slices.Sorted(maps.Keys(o)) {
		if err := checkName(name); err != nil {
			return err
		}
		if err := checkValue(name, o[name]); err != nil {
			return err
		}
	}
	return nil
}

// checkName refuses field names that are not documented options.
func checkName(name string) error {
	switch {
	case name == "api_key":
		return optionError(name, "not an option: the key is given apart")
	case name == "record_single_video":
		return optionError(name, "deprecated")
	case !IsField(name):
		return optionError(name, "unknown field")
	}
	return nil
}

// checkValue checks v against the type of the documented field name.
func checkValue(name string, v any) error {
	k := fields[name]
	switch v := v.(type) {
	case string:
		if k == kindBool || k == kindExtras {
			return optionError(name, "wrong type")
		}
		if err := checkString(v); err != nil {
			return optionError(name, err.Error())
		}
		return checkStringField(name, k, v)
	case bool:
		if k != kindBool {
			return optionError(name, "wrong type")
		}
		return nil
	case map[string]string:
		if k != kindExtras {
			return optionError(name, "wrong type")
		}
		return checkExtras(name, v)
	default:
		return optionError(name, "wrong type")
	}
}

// checkStringField checks the content of a string field.
func checkStringField(name string, k kind, v string) error {
	switch k {
	case kindURL:
		if _, err := parseWebURL(v); err != nil {
			return optionError(name, err.Error())
		}
	case kindTrigger:
		if v != "ON_UPLOAD_COMPLETE" && v != "ON_PROCESSING_COMPLETE" {
			return optionError(name,
				"want ON_UPLOAD_COMPLETE or ON_PROCESSING_COMPLETE")
		}
	}
	return nil
}

// checkExtras checks the keys and values of video_endpoint_extras.
func checkExtras(name string, extras map[string]string) error {
	if len(extras) > MaxExtras {
		return optionError(name, fmt.Sprintf("over %d entries", MaxExtras))
	}
	for key, v := range extras {
		if !validExtraKey(key) {
			return optionError(name, "key not 1 to 64 of [A-Za-z0-9_-]")
		}
		if err := checkString(v); err != nil {
			return optionError(name, err.Error())
		}
	}
	return nil
}

// validExtraKey reports whether key may name an extra. The characters are
// few so that the form encoding name[key]=value stays unambiguous.
func validExtraKey(key string) bool {
	if key == "" || len(key) > maxExtraKeyBytes {
		return false
	}
	for _, c := range []byte(key) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			'0' <= c && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// checkString checks the length and characters of an option string.
func checkString(s string) error {
	if len(s) > MaxOptionBytes {
		return fmt.Errorf("longer than %d bytes", MaxOptionBytes)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return errors.New("has control characters")
		case isBidiControl(r):
			return errors.New("has bidirectional embedding, override " +
				"or isolate characters")
		case r == utf8.RuneError:
			// JSON decoding puts U+FFFD where the text had a lone
			// surrogate ("\ud800"): the text is not what was meant.
			return errors.New("has U+FFFD, the mark of text that " +
				"could not be decoded")
		}
	}
	return nil
}

// isBidiControl reports whether r is one of the bidirectional embedding,
// override or isolate controls (U+202A to U+202E, U+2066 to U+2069), which
// can make a title display in another order than it reads. The marks
// U+200E, U+200F and U+061C, which right-to-left text uses, are allowed.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') ||
		(r >= '\u2066' && r <= '\u2069')
}

// encode adds the options to a form in the encoding PHP-style servers
// read: booleans as "1" or "0", extras as name[key]=value.
// [url.Values.Encode] sorts the names, so the body is deterministic.
func (o Options) encode(form url.Values) {
	for name, v := range o {
		switch v := v.(type) {
		case string:
			form.Set(name, v)
		case bool:
			if v {
				form.Set(name, "1")
			} else {
				form.Set(name, "0")
			}
		case map[string]string:
			for key, s := range v {
				form.Set(name+"["+key+"]", s)
			}
		}
	}
}

// nextKey reads an object key.
func nextKey(d *json.Decoder) (string, error) {
	tok, err := d.Token()
	if err != nil {
		return "", malformed(err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: malformed JSON", ErrInvalidOption)
	}
	return key, nil
}

// expectDelim reads the delimiter want.
func expectDelim(d *json.Decoder, want json.Delim) error {
	tok, err := d.Token()
	if err != nil {
		return malformed(err)
	}
	if tok != want {
		return fmt.Errorf("%w: want a JSON object", ErrInvalidOption)
	}
	return nil
}

// malformed wraps a JSON syntax error. Its text quotes at most one
// character of the input.
func malformed(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: malformed JSON: %w", ErrInvalidOption, err)
}

// optionError describes a problem with the named field, quoting at most
// the first 64 bytes of an unknown name.
func optionError(name, problem string) error {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return fmt.Errorf("%w: %q: %s", ErrInvalidOption, name, problem)
}
