package secretstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

// newClient starts a server and returns it with a real SDK client.
func newClient(t *testing.T) (*secretstest.Server, *secretsmanager.Client) {
	t.Helper()
	s := secretstest.NewServer()
	t.Cleanup(s.Close)
	return s, secretsmanager.NewFromConfig(s.AWSConfig())
}

func get(ctx context.Context, c *secretsmanager.Client, id string,
) (*secretsmanager.GetSecretValueOutput, error) {
	return c.GetSecretValue(ctx,
		&secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
}

func TestGetString(t *testing.T) {
	s, c := newClient(t)
	s.SetString("prod/ilos", "k-one")
	s.SetString("prod/ilos", "k-two")

	out, err := get(t.Context(), c, "prod/ilos")
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if got := aws.ToString(out.SecretString); got != "k-two" {
		t.Errorf("got SecretString %q, want %q", got, "k-two")
	}
	if out.SecretBinary != nil {
		t.Errorf("got SecretBinary %v, want none", out.SecretBinary)
	}
	if got := aws.ToString(out.Name); got != "prod/ilos" {
		t.Errorf("got Name %q, want %q", got, "prod/ilos")
	}
	if got, want := aws.ToString(out.ARN), s.ARN("prod/ilos"); got != want {
		t.Errorf("got ARN %q, want %q", got, want)
	}
	if len(out.VersionStages) != 1 ||
		out.VersionStages[0] != secretstest.StageCurrent {
		t.Errorf("got VersionStages %v, want [%s]",
			out.VersionStages, secretstest.StageCurrent)
	}
	if out.CreatedDate == nil ||
		time.Since(*out.CreatedDate).Abs() > time.Hour {
		t.Errorf("got CreatedDate %v, want about now", out.CreatedDate)
	}
	if s.Calls() != 1 {
		t.Errorf("got %d calls, want 1", s.Calls())
	}
}

func TestGetByARNAndVersion(t *testing.T) {
	s, c := newClient(t)
	s.SetString("k", "old")
	first, err := get(t.Context(), c, "k")
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	s.SetString("k", "new")

	arn := s.ARN("k")
	tests := []struct {
		name string
		in   secretsmanager.GetSecretValueInput
		want string
	}{
		{"full ARN", secretsmanager.GetSecretValueInput{
			SecretId: aws.String(arn)}, "new"},
		{"partial ARN", secretsmanager.GetSecretValueInput{
			SecretId: aws.String(arn[:len(arn)-7])}, "new"},
		{"previous stage", secretsmanager.GetSecretValueInput{
			SecretId:     aws.String("k"),
			VersionStage: aws.String(secretstest.StagePrevious)}, "old"},
		{"version id", secretsmanager.GetSecretValueInput{
			SecretId:  aws.String("k"),
			VersionId: first.VersionId}, "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.GetSecretValue(t.Context(), &tt.in)
			if err != nil {
				t.Fatalf("GetSecretValue: %v", err)
			}
			if got := aws.ToString(out.SecretString); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	if aws.ToString(first.VersionId) == "" {
		t.Fatal("got empty VersionId")
	}
	out, err := get(t.Context(), c, "k")
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if aws.ToString(out.VersionId) == aws.ToString(first.VersionId) {
		t.Errorf("got the same VersionId %s after rotation",
			aws.ToString(out.VersionId))
	}
}

func TestGetBinary(t *testing.T) {
	s, c := newClient(t)
	want := []byte{0, 1, 2, 'k', 0xff}
	s.SetBinary("bin", want)

	out, err := get(t.Context(), c, "bin")
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if !bytes.Equal(out.SecretBinary, want) {
		t.Errorf("got SecretBinary %v, want %v", out.SecretBinary, want)
	}
	if out.SecretString != nil {
		t.Errorf("got SecretString, want none")
	}
}

// TestErrorCodes checks that the SDK surfaces each error code the server
// sends, with its HTTP status.
func TestErrorCodes(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*secretstest.Server)
		id     string
		code   string
		status int
	}{
		{"unknown secret", nil, "nope",
			"ResourceNotFoundException", 400},
		{"deleted", func(s *secretstest.Server) { s.Delete("k") }, "k",
			"InvalidRequestException", 400},
		{"fault not found", fault(secretstest.NotFound), "k",
			"ResourceNotFoundException", 400},
		{"fault access denied", fault(secretstest.AccessDenied), "k",
			"AccessDeniedException", 400},
		{"fault KMS denied", fault(secretstest.KMSDenied), "k",
			"DecryptionFailure", 400},
		{"fault bad credentials", fault(secretstest.BadCredentials), "k",
			"UnrecognizedClientException", 400},
		{"fault throttled", fault(secretstest.Throttled), "k",
			"ThrottlingException", 400},
		{"fault internal", fault(secretstest.Internal), "k",
			"InternalServiceError", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newClient(t)
			s.SetString("k", "v")
			if tt.setup != nil {
				tt.setup(s)
			}

			_, err := get(t.Context(), c, tt.id)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got error %v, want an APIError", err)
			}
			if got := apiErr.ErrorCode(); got != tt.code {
				t.Errorf("got code %q, want %q", got, tt.code)
			}
			var respErr *smithyhttp.ResponseError
			if !errors.As(err, &respErr) {
				t.Fatalf("got error %v, want a ResponseError", err)
			}
			if got := respErr.HTTPStatusCode(); got != tt.status {
				t.Errorf("got status %d, want %d", got, tt.status)
			}
			if strings.Contains(err.Error(), "v\"") {
				t.Errorf("error text %q holds the value", err)
			}
		})
	}
}

func fault(k secretstest.FaultKind) func(*secretstest.Server) {
	return func(s *secretstest.Server) {
		s.SetFault(secretstest.Fault{Kind: k})
	}
}

func TestFaultCount(t *testing.T) {
	s, c := newClient(t)
	s.SetString("k", "v")

	// The SDK retries a throttled call, so two throttles are absorbed.
	s.SetFault(secretstest.Fault{Kind: secretstest.Throttled, Count: 2})
	out, err := get(t.Context(), c, "k")
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if got := aws.ToString(out.SecretString); got != "v" {
		t.Errorf("got %q, want %q", got, "v")
	}
	if s.Calls() != 3 {
		t.Errorf("got %d calls, want 3", s.Calls())
	}

	// A fault kind that is not retried fails once, then clears.
	s.SetFault(secretstest.Fault{Kind: secretstest.AccessDenied, Count: 1})
	if _, err := get(t.Context(), c, "k"); err == nil {
		t.Fatal("got no error, want AccessDeniedException")
	}
	if _, err := get(t.Context(), c, "k"); err != nil {
		t.Fatalf("after the fault: %v", err)
	}

	s.SetFault(secretstest.Fault{Kind: secretstest.AccessDenied})
	s.ClearFault()
	if _, err := get(t.Context(), c, "k"); err != nil {
		t.Fatalf("after ClearFault: %v", err)
	}
}

func TestBlackHole(t *testing.T) {
	t.Run("client deadline", func(t *testing.T) {
		s, c := newClient(t)
		s.SetString("k", "v")
		s.SetFault(secretstest.Fault{Kind: secretstest.BlackHole})

		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := get(ctx, c, "k")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("release", func(t *testing.T) {
		s, c := newClient(t)
		s.SetString("k", "v")
		release := make(chan struct{})
		s.SetFault(secretstest.Fault{
			Kind: secretstest.BlackHole, Release: release})

		done := make(chan error, 1)
		go func() {
			_, err := get(t.Context(), c, "k")
			done <- err
		}()
		close(release)
		if err := <-done; err != nil {
			t.Errorf("after release: %v", err)
		}
	})

	t.Run("close", func(t *testing.T) {
		s, c := newClient(t)
		s.SetString("k", "v")
		held := make(chan struct{})
		s.SetFault(secretstest.Fault{
			Kind: secretstest.BlackHole, Held: held})

		done := make(chan error, 1)
		go func() {
			// One attempt, so the closed server is not retried.
			_, err := c.GetSecretValue(t.Context(),
				&secretsmanager.GetSecretValueInput{
					SecretId: aws.String("k")},
				func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
			done <- err
		}()
		<-held
		s.Close() // must not hang on the held request
		if err := <-done; err == nil {
			t.Error("got no error from a closed server")
		}
	})
}

func TestWireRejects(t *testing.T) {
	s := secretstest.NewServer()
	t.Cleanup(s.Close)

	tests := []struct {
		name   string
		method string
		target string
		signed bool
		auth   string
		ctype  string
		body   string
		status int
		code   string
	}{
		{"no auth", "POST", "secretsmanager.GetSecretValue", false, "",
			"application/x-amz-json-1.1", `{"SecretId":"k"}`,
			400, "MissingAuthenticationTokenException"},
		{"not sigv4", "POST", "secretsmanager.GetSecretValue", false,
			"Bearer x", "application/x-amz-json-1.1", `{"SecretId":"k"}`,
			400, "IncompleteSignatureException"},
		{"no signature", "POST", "secretsmanager.GetSecretValue", false,
			"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host",
			"application/x-amz-json-1.1", `{"SecretId":"k"}`,
			400, "IncompleteSignatureException"},
		{"short credential", "POST", "secretsmanager.GetSecretValue", false,
			"AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, " +
				"Signature=00", "application/x-amz-json-1.1",
			`{"SecretId":"k"}`, 400, "IncompleteSignatureException"},
		{"unknown target", "POST", "secretsmanager.ListSecrets", true, "",
			"application/x-amz-json-1.1", `{}`,
			400, "UnknownOperationException"},
		{"wrong method", "GET", "secretsmanager.GetSecretValue", true, "",
			"", "", 404, "UnknownOperationException"},
		{"bad JSON", "POST", "secretsmanager.GetSecretValue", true, "",
			"application/x-amz-json-1.1", `{"SecretId":`,
			400, "SerializationException"},
		{"no id", "POST", "secretsmanager.GetSecretValue", true, "",
			"application/x-amz-json-1.1", `{}`,
			400, "InvalidParameterException"},
		{"wrong content type", "POST", "secretsmanager.GetSecretValue", true,
			"", "application/json", `{"SecretId":"k"}`,
			400, "SerializationException"},
		{"too large", "POST", "secretsmanager.GetSecretValue", true, "",
			"application/x-amz-json-1.1", strings.Repeat(" ", 65<<10),
			400, "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, s, tt.body)
			req.Method = tt.method
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", tt.ctype)
			if tt.signed {
				sign(t, req, tt.body, s.Credentials(), secretstest.Region,
					"secretsmanager", time.Now())
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			checkAnswer(t, s, req, tt.status, tt.code)
		})
	}
}

func TestSignatures(t *testing.T) {
	s := secretstest.NewServer()
	t.Cleanup(s.Close)
	s.SetString("k", "value")
	const body = `{"SecretId":"k"}`
	good := s.Credentials()
	other := func(f func(*aws.Credentials)) aws.Credentials {
		c := good
		f(&c)
		return c
	}

	tests := []struct {
		name    string
		creds   aws.Credentials
		region  string
		service string
		at      time.Duration // from now
		change  func(*http.Request)
		status  int
		code    string
	}{
		{name: "valid", status: 200},
		{name: "unknown key ID",
			creds:  other(func(c *aws.Credentials) { c.AccessKeyID = "AKIAX" }),
			status: 400, code: "UnrecognizedClientException"},
		{name: "wrong secret key",
			creds: other(func(c *aws.Credentials) {
				c.SecretAccessKey += "x"
			}),
			status: 400, code: "InvalidSignatureException"},
		{name: "session token",
			creds:  other(func(c *aws.Credentials) { c.SessionToken = "t" }),
			status: 400, code: "UnrecognizedClientException"},
		{name: "other region", region: "eu-west-1",
			status: 400, code: "InvalidSignatureException"},
		{name: "other service", service: "kms",
			status: 400, code: "InvalidSignatureException"},
		{name: "expired", at: -6 * time.Minute,
			status: 400, code: "InvalidSignatureException"},
		{name: "from the future", at: 6 * time.Minute,
			status: 400, code: "InvalidSignatureException"},
		{name: "within the skew", at: -4 * time.Minute, status: 200},
		{name: "body changed",
			change: func(r *http.Request) {
				b := `{"SecretId":"j"}`
				r.Body = io.NopCloser(strings.NewReader(b))
			},
			status: 400, code: "InvalidSignatureException"},
		{name: "signed header changed",
			change: func(r *http.Request) {
				r.Header.Set("Content-Type",
					"application/x-amz-json-1.1; charset=utf-8")
			},
			status: 400, code: "InvalidSignatureException"},
		{name: "signed header removed",
			change: func(r *http.Request) { r.Header.Del("X-Amz-Target") },
			status: 400, code: "UnknownOperationException"},
		{name: "date removed",
			change: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			status: 400, code: "IncompleteSignatureException"},
		{name: "date changed",
			change: func(r *http.Request) {
				r.Header.Set("X-Amz-Date",
					time.Now().UTC().Add(time.Second).Format("20060102T150405Z"))
			},
			status: 400, code: "InvalidSignatureException"},
		{name: "signature swapped",
			change: func(r *http.Request) {
				h := r.Header.Get("Authorization")
				i := strings.LastIndex(h, "=")
				r.Header.Set("Authorization", h[:i+1]+strings.Repeat("0", 64))
			},
			status: 400, code: "InvalidSignatureException"},
		{name: "host not signed",
			change: func(r *http.Request) {
				h := r.Header.Get("Authorization")
				r.Header.Set("Authorization",
					strings.Replace(h, "host;", "", 1))
			},
			status: 400, code: "InvalidSignatureException"},
		{name: "unsigned header added",
			change: func(r *http.Request) { r.Header.Set("X-Extra", "1") },
			status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, region, svc := tt.creds, tt.region, tt.service
			if creds.AccessKeyID == "" {
				creds = good
			}
			if region == "" {
				region = secretstest.Region
			}
			if svc == "" {
				svc = "secretsmanager"
			}
			req := newRequest(t, s, body)
			sign(t, req, body, creds, region, svc, time.Now().Add(tt.at))
			if tt.change != nil {
				tt.change(req)
			}
			checkAnswer(t, s, req, tt.status, tt.code)
		})
	}
}

// TestOwnCredentials checks that each server makes its own credentials and
// refuses another server's, through the real SDK.
func TestOwnCredentials(t *testing.T) {
	a, ca := newClient(t)
	b, _ := newClient(t)
	a.SetString("k", "value")
	if a.Credentials() == b.Credentials() {
		t.Fatal("two servers share their credentials")
	}
	if _, err := get(t.Context(), ca, "k"); err != nil {
		t.Fatalf("own credentials: %v", err)
	}

	cfg := a.AWSConfig()
	cfg.Credentials = b.AWSConfig().Credentials
	_, err := get(t.Context(), secretsmanager.NewFromConfig(cfg), "k")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("other server's credentials: got %v, "+
			"want UnrecognizedClientException", err)
	}
	if strings.Contains(err.Error(), "value") {
		t.Errorf("error %q carries the secret", err)
	}
}

func TestEnv(t *testing.T) {
	s := secretstest.NewServer()
	t.Cleanup(s.Close)
	c := s.Credentials()
	want := []string{
		"AWS_REGION=" + secretstest.Region,
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.URL(),
	}
	if got := s.Env(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// newRequest returns a GetSecretValue request with body, unsigned.
func newRequest(t *testing.T, s *secretstest.Server, body string,
) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		s.URL()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	return req
}

// sign signs req as the SDK does.
func sign(t *testing.T, req *http.Request, body string,
	creds aws.Credentials, region, service string, at time.Time,
) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(t.Context(), creds, req,
		hex.EncodeToString(sum[:]), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
}

// checkAnswer sends req and checks the status and error code of the answer.
func checkAnswer(t *testing.T, s *secretstest.Server, req *http.Request,
	status int, code string,
) {
	t.Helper()
	resp, err := s.AWSConfig().HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Errorf("got status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("X-Amzn-ErrorType"); got != code {
		t.Errorf("got X-Amzn-ErrorType %q, want %q", got, code)
	}
	if code != "" && !strings.Contains(string(body), `"__type":"`+code+`"`) {
		t.Errorf("got body %s, want __type %s", body, code)
	}
}
