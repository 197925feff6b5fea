package ilostoken_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// faultCase is a fault of Secrets Manager or ilos and what a browser gets
// for it. The README's fault table lists the same.
type faultCase struct {
	name       string
	env        map[string]string
	setup      func(t *testing.T, s *stack)
	status     int
	code       string // empty for a token
	retryAfter string // the Retry-After header; empty: none
	smCalls    int    // GetSecretValue calls, the SDK's retries included
	ilosCalls  int
	check      func(t *testing.T, s *stack) // more checks, if any
}

// runFaults sends one token request through a fresh stack per case.
func runFaults(t *testing.T, tests []faultCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, tt.env)
			tt.setup(t, s)
			resp := s.invoke(t, httpAPIEvent(req{origin: appOrigin}))

			if tt.code == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status: got %d want 200 (%s)",
						resp.StatusCode, resp.Body)
				}
				tok, _ := decodeToken(t, resp.Body)
				if !s.ilos.ValidToken(tok) {
					t.Errorf("token %q was not issued by ilos", tok)
				}
			} else {
				assertError(t, resp, tt.status, tt.code)
			}
			if got := resp.Headers["Retry-After"]; got != tt.retryAfter {
				t.Errorf("Retry-After: got %q want %q", got, tt.retryAfter)
			}
			if got := resp.Headers["Access-Control-Allow-Origin"]; got !=
				appOrigin {
				t.Errorf("Access-Control-Allow-Origin: got %q want %q",
					got, appOrigin)
			}
			if n := s.sm.Calls(); n != tt.smCalls {
				t.Errorf("Secrets Manager calls: got %d want %d",
					n, tt.smCalls)
			}
			if n := s.ilos.Calls(); n != tt.ilosCalls {
				t.Errorf("ilos calls: got %d want %d", n, tt.ilosCalls)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

// smFault returns a setup that injects a Secrets Manager fault.
func smFault(kind secretstest.FaultKind, count int) func(*testing.T,
	*stack) {
	return func(_ *testing.T, s *stack) {
		s.sm.SetFault(secretstest.Fault{Kind: kind, Count: count})
	}
}

// ilosFault returns a setup that injects an ilos fault.
func ilosFault(f ilostest.Fault) func(*testing.T, *stack) {
	return func(_ *testing.T, s *stack) { s.ilos.SetFault(f) }
}

// secretString returns a setup that stores v as the secret.
func secretString(v string) func(*testing.T, *stack) {
	return func(_ *testing.T, s *stack) { s.sm.SetString(secretID, v) }
}

// secretBinary returns a setup that stores b as a binary secret.
func secretBinary(b []byte) func(*testing.T, *stack) {
	return func(_ *testing.T, s *stack) { s.sm.SetBinary(secretID, b) }
}

// sentKey checks that ilos received the planted key.
func sentKey(t *testing.T, s *stack) {
	t.Helper()
	for _, r := range s.ilos.Requests() {
		if r.APIKey != plantedKey {
			t.Errorf("ilos got another key than the planted one")
		}
	}
}

func TestSecretsManagerFaults(t *testing.T) {
	runFaults(t, []faultCase{
		{name: "not found", setup: smFault(secretstest.NotFound, 0),
			status: 500, code: "configuration_error", smCalls: 1},
		{name: "scheduled for deletion",
			setup:  func(_ *testing.T, s *stack) { s.sm.Delete(secretID) },
			status: 500, code: "configuration_error", smCalls: 1},
		{name: "access denied", setup: smFault(secretstest.AccessDenied, 0),
			status: 500, code: "configuration_error", smCalls: 1},
		{name: "KMS refused", setup: smFault(secretstest.KMSDenied, 0),
			status: 500, code: "configuration_error", smCalls: 1},
		{name: "credentials refused",
			setup:  smFault(secretstest.BadCredentials, 0),
			status: 500, code: "configuration_error", smCalls: 1},
		{name: "throttled", setup: smFault(secretstest.Throttled, 0),
			status: 503, code: "throttled", retryAfter: "1", smCalls: 3},
		{name: "5xx", setup: smFault(secretstest.Internal, 0),
			status: 503, code: "secrets_unavailable", retryAfter: "1",
			smCalls: 3},
		{name: "throttled once", setup: smFault(secretstest.Throttled, 1),
			status: 200, smCalls: 2, ilosCalls: 1, check: sentKey},
		{name: "5xx twice", setup: smFault(secretstest.Internal, 2),
			status: 200, smCalls: 3, ilosCalls: 1, check: sentKey},
	})
}

func TestSecretValueFormats(t *testing.T) {
	user := map[string]string{config.EnvKeyType: "user"}
	runFaults(t, []faultCase{
		{name: "plain", setup: secretString(plantedKey),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "plain with spaces and CRLF",
			setup:   secretString(" \t" + plantedKey + "\r\n"),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "JSON organization",
			setup: secretString(`{"organization":"` + plantedKey +
				`","user":"user-key-not-this-one"}`),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "JSON user", env: user,
			setup: secretString(`{"organization":"org-key-not-this-one",` +
				`"user":"` + plantedKey + `"}`),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "JSON api_key",
			setup:   secretString(`{"api_key":"` + plantedKey + `"}`),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "JSON with other fields",
			setup: secretString(`{"note":"rolled in May","n":3,` +
				`"organization":" ` + plantedKey + ` "}`),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "binary plain", setup: secretBinary([]byte(plantedKey + "\n")),
			smCalls: 1, ilosCalls: 1, check: sentKey},
		{name: "binary JSON",
			setup: secretBinary([]byte(`{"organization":"` +
				plantedKey + `"}`)),
			smCalls: 1, ilosCalls: 1, check: sentKey},
	})
}

func TestSecretValueMalformed(t *testing.T) {
	bad := func(name string, setup func(*testing.T, *stack)) faultCase {
		return faultCase{name: name, setup: setup, status: 500,
			code: "configuration_error", smCalls: 1}
	}
	runFaults(t, []faultCase{
		bad("empty", secretString("")),
		bad("whitespace", secretString(" \n\t\r\n ")),
		bad("JSON without the key type",
			secretString(`{"user":"`+plantedKey+`"}`)),
		bad("JSON key not a string",
			secretString(`{"organization":["`+plantedKey+`"]}`)),
		bad("JSON key empty", secretString(`{"organization":"  "}`)),
		bad("JSON truncated",
			secretString(`{"organization":"`+plantedKey)),
		bad("JSON array", secretString(`["`+plantedKey+`"]`)),
		bad("JSON string", secretString(`"`+plantedKey+`"`)),
		// A bare word is a plain key, even "null": ilos judges it.
		{name: "JSON null", setup: secretString(`null`),
			status: 502, code: "key_rejected", smCalls: 2, ilosCalls: 1},
		bad("key with a space", secretString(plantedKey+" "+plantedKey)),
		bad("key with a control character",
			secretString(plantedKey[:10]+"\x00"+plantedKey[10:])),
		bad("key not ASCII", secretString(plantedKey+"é")),
		bad("binary bytes",
			secretBinary(append([]byte{0xff, 0xfe, 0}, plantedKey...))),
		bad("binary empty", secretBinary(nil)),
		bad("key over 4 KiB",
			secretString(plantedKey+strings.Repeat("k", 5000))),
		bad("value over 64 KiB",
			secretString(`{"organization":"`+plantedKey+`","pad":"`+
				strings.Repeat("p", 70<<10)+`"}`)),
	})
}

func TestIlosFaults(t *testing.T) {
	status := func(code, count int, retryAfter string) func(*testing.T,
		*stack) {
		return ilosFault(ilostest.Fault{Kind: ilostest.Status,
			Status: code, Count: count, RetryAfter: retryAfter})
	}
	raw := func(code int, body string) func(*testing.T, *stack) {
		return ilosFault(ilostest.Fault{Kind: ilostest.Raw, Status: code,
			Body: body})
	}
	revoke := func(_ *testing.T, s *stack) { s.ilos.RemoveKey(plantedKey) }
	runFaults(t, []faultCase{
		{name: "worked false",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.WorkedFalse}),
			status: 502, code: "ilos_refused", smCalls: 1, ilosCalls: 1},
		{name: "worked false about the key",
			setup: ilosFault(ilostest.Fault{Kind: ilostest.WorkedFalse,
				Reason: "This API key may not record."}),
			status: 502, code: "key_rejected", smCalls: 2, ilosCalls: 1},
		{name: "worked false echoing the key",
			setup: ilosFault(ilostest.Fault{Kind: ilostest.WorkedFalse,
				Reason: "Unknown " + plantedKey}),
			status: 502, code: "key_rejected", smCalls: 2, ilosCalls: 1},
		{name: "401", setup: revoke,
			status: 502, code: "key_rejected", smCalls: 2, ilosCalls: 1},
		{name: "403", setup: status(403, 0, ""),
			status: 502, code: "key_rejected", smCalls: 2, ilosCalls: 1},
		{name: "400", setup: status(400, 0, ""),
			status: 502, code: "ilos_refused", smCalls: 1, ilosCalls: 1},
		{name: "429", setup: status(429, 0, ""),
			status: 503, code: "throttled", retryAfter: "1",
			smCalls: 1, ilosCalls: 3},
		{name: "429 with Retry-After", setup: status(429, 0, "7"),
			status: 503, code: "throttled", retryAfter: "7",
			smCalls: 1, ilosCalls: 1},
		{name: "429 with a day's Retry-After", setup: status(429, 0, "86400"),
			status: 503, code: "throttled", retryAfter: "300",
			smCalls: 1, ilosCalls: 1},
		{name: "429 once", setup: status(429, 1, ""),
			status: 200, smCalls: 1, ilosCalls: 2},
		{name: "500", setup: status(500, 0, ""),
			status: 502, code: "ilos_unavailable", smCalls: 1, ilosCalls: 3},
		{name: "503", setup: status(503, 0, ""),
			status: 502, code: "ilos_unavailable", smCalls: 1, ilosCalls: 3},
		{name: "503 with a long Retry-After", setup: status(503, 0, "120"),
			status: 502, code: "ilos_unavailable", smCalls: 1, ilosCalls: 1},
		{name: "500 once", setup: status(500, 1, ""),
			status: 200, smCalls: 1, ilosCalls: 2, check: sentKey},
		{name: "503 twice", setup: status(503, 2, ""),
			status: 200, smCalls: 1, ilosCalls: 3, check: sentKey},
		{name: "500 echoing the key",
			setup: raw(500, `{"worked":false,"fail_reason":"bad key `+
				plantedKey+`"}`),
			status: 502, code: "ilos_unavailable", smCalls: 1, ilosCalls: 3},
		{name: "500 with HTML", setup: raw(500, "<html>oops</html>"),
			status: 502, code: "ilos_unavailable", smCalls: 1, ilosCalls: 3},
		{name: "HTML instead of JSON",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.HTML}),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "truncated JSON",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.Truncated}),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "token missing",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.NoToken}),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "token empty",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.EmptyToken}),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "token not printable",
			setup: raw(200, `{"worked":true,"token":"Secr3t\u0007tok",`+
				`"expires":1796345096}`),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "expires missing",
			setup:  raw(200, `{"worked":true,"token":"Secr3tTok"}`),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "50 MiB body",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.Huge}),
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1},
		{name: "redirect to another host",
			setup:  redirectElsewhere,
			status: 502, code: "ilos_bad_answer", smCalls: 1, ilosCalls: 1,
			check: elsewhereGotNothing},
		{name: "connection reset",
			setup:  ilosFault(ilostest.Fault{Kind: ilostest.Reset}),
			status: 502, code: "ilos_unavailable", smCalls: 1, ilosCalls: 3},
		{name: "unreachable",
			setup:  func(_ *testing.T, s *stack) { s.ilos.Close() },
			status: 502, code: "ilos_unavailable", smCalls: 1},
		{name: "key revoked, secret unchanged", setup: revoke,
			status: 502, code: "key_rejected", smCalls: 2, ilosCalls: 1},
	})
}

// redirectElsewhere makes ilos redirect to another ilos stand-in, which
// knows the key and would issue a token if it were asked.
func redirectElsewhere(t *testing.T, s *stack) {
	other := ilostest.NewServer()
	t.Cleanup(other.Close)
	other.AddKey(plantedKey)
	s.other = other
	s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Redirect,
		Location: other.URL() + ilostest.RecordPath})
}

// elsewhereGotNothing checks that the redirect target saw no connection.
func elsewhereGotNothing(t *testing.T, s *stack) {
	t.Helper()
	if n := s.other.Connections(); n != 0 {
		t.Errorf("redirect target: got %d connections want 0", n)
	}
}

func TestResetOnKeptAliveConnection(t *testing.T) {
	s := newStack(t, nil)
	resp := s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first status: got %d want 200", resp.StatusCode)
	}

	// The process was frozen and thawed: the kept connection is dead.
	s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Reset, Count: 1})
	resp = s.invoke(t, httpAPIEvent(req{origin: appOrigin}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after the reset: got %d want 200 (%s)",
			resp.StatusCode, resp.Body)
	}
	var conns []int
	for _, r := range s.ilos.Requests() {
		conns = append(conns, r.ConnID)
	}
	if want := []int{1, 1, 2}; !slices.Equal(conns, want) {
		t.Errorf("ilos requests on connections %v, want %v", conns, want)
	}
}

func TestTimeoutsAnswerBeforeDeadline(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *stack)
	}{
		{"secrets manager black hole", func(s *stack) {
			s.sm.SetFault(secretstest.Fault{Kind: secretstest.BlackHole})
		}},
		{"ilos hangs", func(s *stack) {
			s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Hang})
		}},
		{"ilos trickles", func(s *stack) {
			s.ilos.SetFault(ilostest.Fault{Kind: ilostest.Trickle,
				Interval: 50 * time.Millisecond})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			tt.setup(s)
			deadline := time.Now().Add(time.Second)
			ctx, cancel := context.WithDeadline(t.Context(), deadline)
			defer cancel()

			resp := s.invokeCtx(ctx, t, httpAPIEvent(req{origin: appOrigin}))
			if time.Now().After(deadline) {
				t.Errorf("answered after the deadline")
			}
			assertError(t, resp, 504, "timeout")
			if n := s.sm.Calls(); n != 1 {
				t.Errorf("Secrets Manager calls: got %d want 1", n)
			}
			if n := s.ilos.Calls(); n > 1 {
				t.Errorf("ilos calls: got %d want at most 1", n)
			}
		})
	}
}
