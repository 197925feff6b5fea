package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/secrets"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func minimal() map[string]string {
	return map[string]string{
		config.EnvSecretID:       "prod/ilos",
		config.EnvAllowedOrigins: "https://app.example.com",
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, err := config.Parse(lookup(minimal()))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.KeyType != secrets.KeyTypeOrganization {
		t.Errorf("KeyType: got %q want organization", cfg.KeyType)
	}
	if got := cfg.APIURL.String(); got != "https://api.ilosvideos.com" {
		t.Errorf("APIURL: got %q", got)
	}
	if cfg.SecretCacheTTL != 5*time.Minute {
		t.Errorf("SecretCacheTTL: got %v want 5m", cfg.SecretCacheTTL)
	}
	if cfg.Timeout != config.DefaultTimeout {
		t.Errorf("Timeout: got %v want %v", cfg.Timeout,
			config.DefaultTimeout)
	}
	if cfg.TokenOptions != nil || cfg.ClientOptions != nil {
		t.Errorf("options: got %v and %v, want none",
			cfg.TokenOptions, cfg.ClientOptions)
	}
}

func TestParseValues(t *testing.T) {
	env := minimal()
	env[config.EnvKeyType] = "user"
	env[config.EnvAllowedOrigins] = " https://App.Example.com:443 ," +
		"http://localhost:3000,https://app.example.com"
	env[config.EnvAPIURL] = "http://127.0.0.1:8080"
	env[config.EnvTokenOptions] = `{"service_name":"Acme"}`
	env[config.EnvClientOptions] = "video_title, request_video_title"
	env[config.EnvSecretCacheTTL] = "90"
	env[config.EnvTimeout] = "2s"

	cfg, err := config.Parse(lookup(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantOrigins := []string{"https://app.example.com",
		"http://localhost:3000"}
	if !reflect.DeepEqual(cfg.AllowedOrigins, wantOrigins) {
		t.Errorf("AllowedOrigins: got %q want %q",
			cfg.AllowedOrigins, wantOrigins)
	}
	if cfg.KeyType != secrets.KeyTypeUser {
		t.Errorf("KeyType: got %q want user", cfg.KeyType)
	}
	if cfg.SecretCacheTTL != 90*time.Second || cfg.Timeout != 2*time.Second {
		t.Errorf("durations: got %v, %v want 90s, 2s",
			cfg.SecretCacheTTL, cfg.Timeout)
	}
	if cfg.TokenOptions["service_name"] != "Acme" {
		t.Errorf("TokenOptions: got %v", cfg.TokenOptions)
	}
	wantClient := []string{"video_title", "request_video_title"}
	if !reflect.DeepEqual(cfg.ClientOptions, wantClient) {
		t.Errorf("ClientOptions: got %q want %q",
			cfg.ClientOptions, wantClient)
	}
}

func TestParseWildcard(t *testing.T) {
	env := minimal()
	env[config.EnvAllowedOrigins] = " * "
	cfg, err := config.Parse(lookup(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !reflect.DeepEqual(cfg.AllowedOrigins, []string{"*"}) {
		t.Errorf("got %q want [*]", cfg.AllowedOrigins)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // each must appear in the error
	}{
		{"nothing set", map[string]string{},
			[]string{config.EnvSecretID, config.EnvAllowedOrigins}},
		{"bad key type", map[string]string{config.EnvKeyType: "lti"},
			[]string{config.EnvKeyType}},
		{"wildcard in a list",
			map[string]string{config.EnvAllowedOrigins: "*,https://a.test"},
			[]string{config.EnvAllowedOrigins}},
		{"origin with path",
			map[string]string{config.EnvAllowedOrigins: "https://a.test/x"},
			[]string{config.EnvAllowedOrigins}},
		{"origin without scheme",
			map[string]string{config.EnvAllowedOrigins: "a.test"},
			[]string{config.EnvAllowedOrigins}},
		{"plain http api url",
			map[string]string{config.EnvAPIURL: "http://api.ilosvideos.com"},
			[]string{config.EnvAPIURL}},
		{"token options not json",
			map[string]string{config.EnvTokenOptions: "service_name=x"},
			[]string{config.EnvTokenOptions}},
		{"browser may not set the webhook",
			map[string]string{config.EnvClientOptions: "video_endpoint"},
			[]string{config.EnvClientOptions}},
		{"unknown browser option",
			map[string]string{config.EnvClientOptions: "colour"},
			[]string{config.EnvClientOptions}},
		{"ttl too short", map[string]string{config.EnvSecretCacheTTL: "0"},
			[]string{config.EnvSecretCacheTTL}},
		{"timeout garbage", map[string]string{config.EnvTimeout: "soon"},
			[]string{config.EnvTimeout}},
		{"everything wrong", map[string]string{
			config.EnvSecretID:       "",
			config.EnvKeyType:        "zoom",
			config.EnvAllowedOrigins: "ftp://a.test",
			config.EnvTimeout:        "2h",
		}, []string{config.EnvSecretID, config.EnvKeyType,
			config.EnvAllowedOrigins, config.EnvTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := minimal()
			if len(tt.env) == 0 {
				env = tt.env
			}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := config.Parse(lookup(env))
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			for _, name := range tt.want {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
		})
	}
}

func TestParseNeverEchoesTokenOptions(t *testing.T) {
	const secret = "https://hooks.example/s3cr3t-path"
	env := minimal()
	env[config.EnvTokenOptions] = `{"video_endpoint":"` + secret +
		`","bogus":1}`
	_, err := config.Parse(lookup(env))
	if err == nil {
		t.Fatal("Parse accepted an unknown option")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error echoes an option value: %v", err)
	}
}

func TestParseReportsEveryBadListEntry(t *testing.T) {
	env := minimal()
	env[config.EnvAllowedOrigins] = "ftp://a.test,http://b.test/path"
	env[config.EnvClientOptions] = "api_key,video_titel,video_title"
	_, err := config.Parse(lookup(env))
	if err == nil {
		t.Fatal("Parse accepted the configuration")
	}
	for _, want := range []string{
		`ALLOWED_ORIGINS: "ftp://a.test"`,
		`ALLOWED_ORIGINS: "http://b.test/path"`,
		`CLIENT_OPTIONS: "api_key" may be set only by the server`,
		`CLIENT_OPTIONS: "video_titel" is not a documented ilos option`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestParseMalformedTokenOptionsIsOneLine(t *testing.T) {
	env := minimal()
	env[config.EnvTokenOptions] = `{"service_name":`
	_, err := config.Parse(lookup(env))
	if err == nil {
		t.Fatal("Parse accepted truncated JSON")
	}
	if n := strings.Count(err.Error(), config.EnvTokenOptions); n != 1 {
		t.Errorf("got %d lines about %s, want 1:\n%v", n,
			config.EnvTokenOptions, err)
	}
	const want = "ILOS_TOKEN_OPTIONS: ilos: invalid option: " +
		"malformed JSON: unexpected EOF"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("got %q, want it to contain %q", err, want)
	}
}

func TestParseNeverEchoesURLPasswords(t *testing.T) {
	tests := []struct {
		name, variable, value, secret string
	}{
		{"api url, password in the port", config.EnvAPIURL,
			"https://u:s3cr3t@api.example:s3cr3t", "s3cr3t"},
		{"api url, slash in the password", config.EnvAPIURL,
			"https://user:pa/s3cr3t@api.example", "s3cr3t"},
		{"api url, password that parses as port and path",
			config.EnvAPIURL, "https://user:443/s3cr3t@api.example",
			"s3cr3t"},
		{"api url, malformed host", config.EnvAPIURL,
			"https://u:s3cr3t@[::1:x]", "s3cr3t"},
		{"origin with user info", config.EnvAllowedOrigins,
			"https://user:s3cr3t@app.example.com", "s3cr3t"},
		{"malformed origin with user info", config.EnvAllowedOrigins,
			"https://user:s3cr3t@app.example.com:x", "s3cr3t"},
		{"origin, password that parses as port and path",
			config.EnvAllowedOrigins,
			"https://user:1234/s3cr3t@app.example.com", "s3cr3t"},
		{"origin, password with a query", config.EnvAllowedOrigins,
			"https://user:12?s3cr3t@app.example.com", "s3cr3t"},
		{"origin, user only", config.EnvAllowedOrigins,
			"https://s3cr3t@app.example.com", "s3cr3t"},
		{"origin, other scheme", config.EnvAllowedOrigins,
			"ftp://user:1/s3cr3t@host", "s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := minimal()
			env[tt.variable] = tt.value
			_, err := config.Parse(lookup(env))
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			if !strings.Contains(err.Error(), tt.variable) {
				t.Errorf("error %q does not name %s", err, tt.variable)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
}

func TestParseRefusesUnicodeOriginHosts(t *testing.T) {
	env := minimal()
	env[config.EnvAllowedOrigins] = "https://bücher.example"
	_, err := config.Parse(lookup(env))
	if err == nil || !strings.Contains(err.Error(), "xn--") {
		t.Fatalf("got %v, want an error asking for the xn-- form", err)
	}
	env[config.EnvAllowedOrigins] = "https://xn--bcher-kva.example"
	if _, err := config.Parse(lookup(env)); err != nil {
		t.Errorf("the ASCII form: %v", err)
	}
}
