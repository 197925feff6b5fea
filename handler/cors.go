package handler

import (
	"errors"
	"slices"
	"strconv"
	"time"
)

// cors decides which origins may call the function and which headers tell
// the browser so.
type cors struct {
	origins  []string
	wildcard bool
	maxAge   string
}

func newCORS(origins []string, maxAge time.Duration) (cors, error) {
	if len(origins) == 0 {
		return cors{}, errors.New("no allowed origins")
	}
	c := cors{
		origins: slices.Clone(origins),
		maxAge:  strconv.Itoa(int(maxAge.Seconds())),
	}
	if slices.Contains(origins, "*") {
		if len(origins) > 1 {
			return cors{}, errors.New(`"*" must be the only allowed origin`)
		}
		c.wildcard = true
	}
	return c, nil
}

// check returns the request's origin and whether it may be served. The
// Origin header must be present exactly once and equal one allowed origin
// byte for byte. With the wildcard any request is served, with or without
// an Origin.
func (c cors) check(r *request) (string, bool) {
	origin, ok := r.first("origin")
	if c.wildcard {
		return origin, true
	}
	if !ok || origin == "" {
		return "", false
	}
	return origin, slices.Contains(c.origins, origin)
}

// headers adds the CORS headers every answer to an allowed origin carries.
func (c cors) headers(h map[string]string, origin string) {
	if c.wildcard {
		h["Access-Control-Allow-Origin"] = "*"
	} else {
		h["Access-Control-Allow-Origin"] = origin
	}
	h["Access-Control-Expose-Headers"] = "Retry-After"
}

// preflight adds the headers of an answer to a preflight request.
func (c cors) preflight(h map[string]string) {
	h["Access-Control-Allow-Methods"] = allowedMethods
	h["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
	h["Access-Control-Max-Age"] = c.maxAge
}

// allowedMethods is the methods the token route answers, for Allow and
// Access-Control-Allow-Methods.
const allowedMethods = "OPTIONS, POST"
