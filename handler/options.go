package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/ilostoken/ilostoken/ilos"
)

// serverOnly are the ilos fields that only the server may set: the key,
// and the webhook with what it receives.
var serverOnly = []string{"api_key", "video_endpoint", "video_endpoint_extras"}

// BrowserSettable reports whether an operator may let browsers set the ilos
// field name: a documented option other than the key, the webhook and the
// webhook's extras.
func BrowserSettable(name string) bool {
	return ilos.IsField(name) && !ServerOnly(name)
}

// ServerOnly reports whether name is an ilos field that only the server may
// set: the key, the webhook and the webhook's extras.
func ServerOnly(name string) bool {
	return slices.Contains(serverOnly, name)
}

// options reads the optional JSON body: the ilos options the browser sets,
// each one the operator allows, merged under the operator's fixed options.
func (h *Handler) options(body []byte,
	x *exchange) (ilos.Options, *apiError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return h.tokenOptions, nil
	}

	// encoding/json would take invalid UTF-8 in as U+FFFD: refuse it.
	var fields map[string]json.RawMessage
	if body[0] != '{' || !utf8.Valid(body) ||
		json.Unmarshal(body, &fields) != nil {
		x.err = errInvalidJSON
		return nil, errInvalidBody
	}
	if len(fields) == 0 {
		return h.tokenOptions, nil
	}
	for name := range fields {
		if !slices.Contains(h.clientOptions, name) {
			x.err = fmt.Errorf("browser set option %q", clip(name))
			return nil, errOptionNotAllowed
		}
	}
	opts, err := ilos.ParseOptions(body)
	if err != nil {
		x.err = fmt.Errorf("browser options: %w", err)
		return nil, errInvalidOption
	}

	merged := make(ilos.Options, len(opts)+len(h.tokenOptions))
	maps.Copy(merged, opts)
	maps.Copy(merged, h.tokenOptions)
	return merged, nil
}

var errInvalidJSON = errors.New("body is not a JSON object")
