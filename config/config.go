// Package config reads the function's configuration from the environment.
//
// It parses every variable once, at start-up, through a lookup function so
// that tests pass a map, and reports every missing or invalid variable in one
// error. The environment carries the secret's name or ARN, never its value,
// and no error from this package echoes a value it was given for an option
// that might be sensitive.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ilostoken/ilostoken/handler"
	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/secrets"
)

// The environment variables the function reads. [Names] lists them all; the
// deployment template declares the same set.
const (
	EnvSecretID       = "ILOS_SECRET_ID"
	EnvKeyType        = "ILOS_KEY_TYPE"
	EnvAllowedOrigins = "ALLOWED_ORIGINS"
	EnvAPIURL         = "ILOS_API_URL"
	EnvTokenOptions   = "ILOS_TOKEN_OPTIONS"
	EnvClientOptions  = "CLIENT_OPTIONS"
	EnvSecretCacheTTL = "SECRET_CACHE_TTL"
	EnvTimeout        = "ILOS_TIMEOUT"
	EnvMetrics        = "METRICS_NAMESPACE"
)

// EnvFunctionName is set by Lambda itself; [Parse] reads it to name the
// function in metrics. [Names] leaves it out, as a template never sets it.
const EnvFunctionName = "AWS_LAMBDA_FUNCTION_NAME"

// Names returns the name of every environment variable [Parse] reads, in a
// fixed order.
func Names() []string {
	return []string{
		EnvSecretID,
		EnvKeyType,
		EnvAllowedOrigins,
		EnvAPIURL,
		EnvTokenOptions,
		EnvClientOptions,
		EnvSecretCacheTTL,
		EnvTimeout,
		EnvMetrics,
	}
}

// Defaults applied by [Parse] to unset variables.
const (
	DefaultKeyType        = secrets.KeyTypeOrganization
	DefaultSecretCacheTTL = 5 * time.Minute
	DefaultTimeout        = 8 * time.Second
	DefaultMetrics        = "IlosToken"
)

// MetricsOff is the [EnvMetrics] value that turns metrics off.
const MetricsOff = "off"

// Bounds on the durations an operator may set.
const (
	MinSecretCacheTTL = time.Second
	MaxSecretCacheTTL = 24 * time.Hour
	MinTimeout        = 100 * time.Millisecond
	MaxTimeout        = 60 * time.Second
)

// Wildcard is the [EnvAllowedOrigins] value that allows every origin. It is
// honoured only when it is the whole value.
const Wildcard = "*"

// Config is the parsed configuration.
type Config struct {
	// SecretID is the name or ARN of the Secrets Manager secret that holds
	// the ilos key.
	SecretID string

	// KeyType picks the key out of a JSON secret value.
	KeyType secrets.KeyType

	// AllowedOrigins are the exact browser origins allowed to ask for a
	// token, or the single entry [Wildcard].
	AllowedOrigins []string

	// APIURL is the ilos API's base URL.
	APIURL *url.URL

	// TokenOptions are the operator's fixed ilos options, sent with every
	// request. Nil when unset.
	TokenOptions ilos.Options

	// ClientOptions are the ilos fields a browser may set in its request
	// body. Empty when unset: the browser may set nothing.
	ClientOptions []string

	// SecretCacheTTL is how long the key is kept in memory.
	SecretCacheTTL time.Duration

	// Timeout bounds one call to ilos.
	Timeout time.Duration

	// MetricsNamespace is the CloudWatch namespace of the metrics each
	// request's log line carries; empty when metrics are off.
	MetricsNamespace string

	// FunctionName is the Lambda function's name, for the metrics'
	// dimension; empty outside Lambda.
	FunctionName string
}

// Parse reads the configuration through lookup, which reports a variable's
// value and whether it is set (os.LookupEnv, or a map in tests). Unset and
// empty variables are treated alike. The error joins one error per missing
// or invalid variable, and per bad entry of a list variable, each naming
// the variable.
func Parse(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var errs []error
	fail := func(name, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		errs = append(errs, fmt.Errorf("%s: %s", name, msg))
	}
	// failed records each of problems under name, one line each.
	failed := func(name string, problems ...error) {
		for _, e := range problems {
			errs = append(errs, fmt.Errorf("%s: %w", name, e))
		}
	}
	cfg := Config{
		KeyType:          DefaultKeyType,
		SecretCacheTTL:   DefaultSecretCacheTTL,
		Timeout:          DefaultTimeout,
		MetricsNamespace: DefaultMetrics,
		FunctionName:     get(EnvFunctionName),
	}

	cfg.SecretID = get(EnvSecretID)
	if cfg.SecretID == "" {
		fail(EnvSecretID, "required: the name or ARN of the secret")
	}

	if v := get(EnvKeyType); v != "" {
		t, err := secrets.ParseKeyType(v)
		if err != nil {
			fail(EnvKeyType, "want %q or %q", secrets.KeyTypeOrganization,
				secrets.KeyTypeUser)
		}
		cfg.KeyType = t
	}

	origins, problems := parseOrigins(get(EnvAllowedOrigins))
	failed(EnvAllowedOrigins, problems...)
	cfg.AllowedOrigins = origins

	rawURL := get(EnvAPIURL)
	if rawURL == "" {
		rawURL = ilos.DefaultBaseURL
	}
	var err error
	cfg.APIURL, err = ilos.ParseBaseURL(rawURL)
	if err != nil {
		failed(EnvAPIURL, err)
	}

	if v := get(EnvTokenOptions); v != "" {
		cfg.TokenOptions, err = ilos.ParseOptions([]byte(v))
		if err != nil {
			failed(EnvTokenOptions, err)
		}
	}

	cfg.ClientOptions, problems = parseClientOptions(get(EnvClientOptions))
	failed(EnvClientOptions, problems...)

	if v := get(EnvSecretCacheTTL); v != "" {
		cfg.SecretCacheTTL, err = parseDuration(v,
			MinSecretCacheTTL, MaxSecretCacheTTL)
		if err != nil {
			failed(EnvSecretCacheTTL, err)
		}
	}

	if v := get(EnvTimeout); v != "" {
		cfg.Timeout, err = parseDuration(v, MinTimeout, MaxTimeout)
		if err != nil {
			failed(EnvTimeout, err)
		}
	}

	switch v := get(EnvMetrics); {
	case v == MetricsOff:
		cfg.MetricsNamespace = ""
	case v == "":
	case len(v) > 255 || strings.ContainsAny(v, ":\x00") ||
		strings.HasPrefix(v, "AWS/"):
		fail(EnvMetrics, "want a CloudWatch namespace such as "+
			"IlosToken, or %q", MetricsOff)
	default:
		cfg.MetricsNamespace = v
	}

	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration: %w",
			errors.Join(errs...))
	}
	return cfg, nil
}

// ParseOrigins parses a comma-separated list of exact origins, each a scheme,
// a host and an optional port, such as "https://app.example.com". Hosts are
// lowercased, as browsers send them; a default port is dropped. The value
// [Wildcard] alone allows every origin.
func ParseOrigins(s string) ([]string, error) {
	origins, problems := parseOrigins(s)
	return origins, errors.Join(problems...)
}

// parseOrigins is [ParseOrigins] with one error for each problem.
func parseOrigins(s string) ([]string, []error) {
	errRequired := errors.New("required: a comma-separated list of origins")
	if strings.TrimSpace(s) == "" {
		return nil, []error{errRequired}
	}
	if strings.TrimSpace(s) == Wildcard {
		return []string{Wildcard}, nil
	}
	var out []string
	var errs []error
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		o, err := parseOrigin(part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(out) == 0 {
		return nil, []error{errRequired}
	}
	return out, nil
}

func parseOrigin(s string) (string, error) {
	if s == Wildcard {
		return "", errors.New(`"*" is allowed only as the whole value`)
	}
	if strings.Contains(s, "@") {
		// An origin never holds "@"; what does may hold a password, in
		// whatever part url.Parse would put it, so it is not repeated.
		return "", errors.New("an entry holds user info (\"@\"), " +
			"which an origin never has")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin like https://app.example.com",
			s)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q: scheme must be https or http", s)
	}
	if (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q: an origin has no path or query", s)
	}
	host := strings.ToLower(u.Hostname())
	if strings.ContainsFunc(host, func(r rune) bool { return r > '~' }) {
		return "", fmt.Errorf("%q: write the host in its ASCII form "+
			"(xn--…), as browsers send it", s)
	}
	port := u.Port()
	if (u.Scheme == "https" && port == "443") ||
		(u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	origin := u.Scheme + "://" + host
	if port != "" {
		origin += ":" + port
	}
	return origin, nil
}

func parseClientOptions(s string) ([]string, []error) {
	var out []string
	var errs []error
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case handler.ServerOnly(name):
			errs = append(errs,
				fmt.Errorf("%q may be set only by the server", name))
		case !ilos.IsField(name):
			errs = append(errs,
				fmt.Errorf("%q is not a documented ilos option", name))
		case !slices.Contains(out, name):
			out = append(out, name)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// parseDuration accepts a Go duration ("90s", "5m") or a whole number of
// seconds, within [lo, hi].
func parseDuration(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseUint(s, 10, 32)
		if nerr != nil {
			return 0, fmt.Errorf("%q is not a duration like 90s or 5m", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%v is outside %v to %v", d, lo, hi)
	}
	return d, nil
}
