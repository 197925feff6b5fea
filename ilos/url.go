package ilos

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ParseBaseURL parses and checks the base URL of the ilos API, as given by
// the operator. It must be absolute https, except that plain http is allowed
// on a loopback host (127.0.0.0/8, ::1 or "localhost") for local runs. User
// info ("@" anywhere), a query and a fragment are refused; a path prefix is
// kept, without its trailing slash. Errors never repeat the URL, which could carry a
// password.
func ParseBaseURL(s string) (*url.URL, error) {
	if strings.Contains(s, "@") {
		// "https://user:443/pw@host" parses with the password in the
		// path, which errors and logs would then show.
		return nil, errors.New("ilos: base URL: has user info")
	}
	u, err := parseWebURL(s)
	if err != nil {
		return nil, fmt.Errorf("ilos: base URL: %w", err)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, errors.New("ilos: base URL: has a query")
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return nil, errors.New("ilos: base URL: has a fragment")
	}
	base := &url.URL{
		Scheme:  u.Scheme,
		Host:    u.Host,
		Path:    strings.TrimRight(u.Path, "/"),
		RawPath: strings.TrimRight(u.RawPath, "/"),
	}
	return base, nil
}

// parseWebURL parses an absolute https URL, or http on loopback, with a
// host and no user info. Its errors name the problem, never the URL, and
// carry no prefix: the caller says which URL it was.
func parseWebURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		// A *url.Error repeats the whole URL, and its cause quotes the
		// part at fault ("invalid port \":pw\" after host"), which may be
		// a password: keep only the words before the quote.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		why := err.Error()
		if i := strings.IndexAny(why, `"(`); i >= 0 {
			why = why[:i]
		}
		why = strings.TrimSuffix(strings.TrimSpace(why), ":")
		return nil, errors.New("malformed: " + why)
	}
	switch {
	case u.Scheme == "" || u.Opaque != "":
		return nil, errors.New("not absolute")
	case u.User != nil:
		return nil, errors.New("has user info")
	case u.Hostname() == "":
		return nil, errors.New("no host")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, errors.New("http only on loopback")
	default:
		return nil, errors.New("scheme not https")
	}
	return u, nil
}

// isLoopback reports whether host names this machine: "localhost", or an
// address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
