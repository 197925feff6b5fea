package secretstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	// service is the signing name in a credential scope.
	service = "secretsmanager"

	// maxSkew is how far a request's X-Amz-Date may be from the server's
	// clock, as on the real service.
	maxSkew = 5 * time.Minute

	amzDate = "20060102T150405Z"
)

// signature is the parsed Authorization header of a SigV4 request.
type signature struct {
	keyID         string
	scope         []string // date, region, service, "aws4_request"
	signedHeaders string
	signature     string
}

// verify checks r's SigV4 signature with the server's credentials, as the
// real service does before it reads the request, and returns the error
// answer for a request that fails. body is the request's body, already
// read.
func (s *Server) verify(r *http.Request, body []byte) (apiError, bool) {
	sig, e := parseAuthorization(r.Header.Get("Authorization"))
	if e.code != "" {
		return e, false
	}
	if sig.keyID != s.creds.AccessKeyID ||
		r.Header.Get("X-Amz-Security-Token") != "" {
		return apiError{http.StatusBadRequest, "UnrecognizedClientException",
			"The security token included in the request is invalid."}, false
	}

	date := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDate, date)
	if err != nil {
		return apiError{http.StatusBadRequest, "IncompleteSignatureException",
			"Authorization header requires existence of a valid " +
				"'X-Amz-Date' header."}, false
	}
	if d := time.Since(t); d > maxSkew || d < -maxSkew {
		return invalidSignature("Signature expired: " + date +
			" is outside five minutes of the server's time."), false
	}
	switch {
	case sig.scope[0] != date[:8]:
		return invalidSignature("Credential should be scoped to a " +
			"valid date."), false
	case sig.scope[1] != Region:
		return invalidSignature("Credential should be scoped to a " +
			"valid region."), false
	case sig.scope[2] != service:
		return invalidSignature("Credential should be scoped to " +
			"correct service: '" + service + "'."), false
	case sig.scope[3] != "aws4_request":
		return invalidSignature("Credential should be scoped with a " +
			"valid terminator: 'aws4_request'."), false
	}

	want, ok := s.sign(r, body, sig.signedHeaders, t)
	if !ok || want.signedHeaders != sig.signedHeaders ||
		!hmac.Equal([]byte(want.signature), []byte(sig.signature)) {
		return invalidSignature("The request signature we calculated " +
			"does not match the signature you provided. Check your AWS " +
			"Secret Access Key and signing method."), false
	}
	return apiError{}, true
}

// sign signs a copy of r that holds only the headers signedHeaders names,
// with the server's credentials, and returns the signature it gets. It
// reports false if a signed header is missing from r or host is not signed.
func (s *Server) sign(r *http.Request, body []byte, signedHeaders string,
	t time.Time,
) (signature, bool) {
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(),
		nil)
	if err != nil {
		return signature{}, false
	}
	host := false
	for name := range strings.SplitSeq(signedHeaders, ";") {
		switch name {
		case "host":
			host = true
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			key := textproto.CanonicalMIMEHeaderKey(name)
			v, ok := r.Header[key]
			if !ok {
				return signature{}, false
			}
			req.Header[key] = v
		}
	}
	if !host {
		return signature{}, false
	}

	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), s.creds, req,
		hex.EncodeToString(sum[:]), service, Region, t)
	if err != nil {
		return signature{}, false
	}
	sig, e := parseAuthorization(req.Header.Get("Authorization"))
	return sig, e.code == ""
}

// parseAuthorization parses a SigV4 Authorization header.
func parseAuthorization(h string) (signature, apiError) {
	if h == "" {
		return signature{}, apiError{http.StatusBadRequest,
			"MissingAuthenticationTokenException",
			"Missing Authentication Token"}
	}
	incomplete := apiError{http.StatusBadRequest,
		"IncompleteSignatureException",
		"Authorization header requires a SigV4 Credential, SignedHeaders " +
			"and Signature."}

	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return signature{}, incomplete
	}
	var sig signature
	var cred string
	for field := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(field), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			sig.signedHeaders = v
		case "Signature":
			sig.signature = v
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || sig.signedHeaders == "" || sig.signature == "" {
		return signature{}, incomplete
	}
	sig.keyID, sig.scope = parts[0], parts[1:]
	return sig, apiError{}
}

func invalidSignature(msg string) apiError {
	return apiError{http.StatusBadRequest, "InvalidSignatureException", msg}
}

// newCredentials returns a fresh random access key pair, so that only a
// process the server's owner hands them to can read its secrets.
func newCredentials() aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     "AKIA" + strings.ToUpper(randomHex(8)),
		SecretAccessKey: randomHex(20),
		Source:          "secretstest",
	}
}
