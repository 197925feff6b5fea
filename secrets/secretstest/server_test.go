package secretstest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
	const auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/" +
		"secretsmanager/aws4_request, SignedHeaders=host, Signature=00"

	tests := []struct {
		name   string
		method string
		target string
		auth   string
		ctype  string
		body   string
		status int
		code   string
	}{
		{"no auth", "POST", "secretsmanager.GetSecretValue", "",
			"application/x-amz-json-1.1", `{"SecretId":"k"}`,
			400, "MissingAuthenticationTokenException"},
		{"not sigv4", "POST", "secretsmanager.GetSecretValue", "Bearer x",
			"application/x-amz-json-1.1", `{"SecretId":"k"}`,
			400, "IncompleteSignatureException"},
		{"unknown target", "POST", "secretsmanager.ListSecrets", auth,
			"application/x-amz-json-1.1", `{}`,
			400, "UnknownOperationException"},
		{"wrong method", "GET", "secretsmanager.GetSecretValue", auth,
			"", "", 404, "UnknownOperationException"},
		{"bad JSON", "POST", "secretsmanager.GetSecretValue", auth,
			"application/x-amz-json-1.1", `{"SecretId":`,
			400, "SerializationException"},
		{"no id", "POST", "secretsmanager.GetSecretValue", auth,
			"application/x-amz-json-1.1", `{}`,
			400, "InvalidParameterException"},
		{"wrong content type", "POST", "secretsmanager.GetSecretValue", auth,
			"application/json", `{"SecretId":"k"}`,
			400, "SerializationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method,
				s.URL()+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", tt.target)
			req.Header.Set("Content-Type", tt.ctype)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}

			resp, err := s.AWSConfig().HTTPClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("X-Amzn-ErrorType"); got != tt.code {
				t.Errorf("got X-Amzn-ErrorType %q, want %q", got, tt.code)
			}
			if !strings.Contains(string(body), `"__type":"`+tt.code+`"`) {
				t.Errorf("got body %s, want __type %s", body, tt.code)
			}
		})
	}
}
