// Package secretstest runs an in-process AWS Secrets Manager that speaks the
// service's real wire protocol (AWS JSON 1.1) on loopback, so that the real
// SDK client can be tested against it and the project can run locally with
// no AWS account.
//
// The package owns the fake service: its secrets, their versions and the
// faults it injects. It answers GetSecretValue only, and only to a request
// signed (AWS Signature Version 4) with the random credentials each server
// makes for itself, so that another process on the machine cannot read its
// secrets. It never logs a request body and never puts a secret value in an
// error message.
package secretstest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region and AccountID describe the fake account the server's secrets live
// in. Requests must be signed for Region.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// The stage labels the server attaches to versions, as the real service does.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

const (
	contentType = "application/x-amz-json-1.1"
	target      = "secretsmanager.GetSecretValue"

	// maxBody caps a request body; a GetSecretValue request is tiny.
	maxBody = 64 << 10
)

// FaultKind names a failure the server can inject in place of an answer.
type FaultKind int

// The fault kinds. Each error kind answers as the real service does: the
// error code in the JSON body's __type and in the X-Amzn-ErrorType header.
const (
	// NotFound answers 400 ResourceNotFoundException.
	NotFound FaultKind = iota + 1
	// AccessDenied answers 400 AccessDeniedException (IAM refused).
	AccessDenied
	// KMSDenied answers 400 DecryptionFailure (KMS refused to decrypt).
	KMSDenied
	// BadCredentials answers 400 UnrecognizedClientException.
	BadCredentials
	// Throttled answers 400 ThrottlingException.
	Throttled
	// Internal answers 500 InternalServiceError.
	Internal
	// BlackHole accepts the request and never answers: the server holds it
	// until the client gives up, the server closes, or [Fault.Release] is
	// closed, and then drops the connection (or, on release, answers
	// normally).
	BlackHole
)

// String returns the fault kind's name.
func (k FaultKind) String() string {
	switch k {
	case NotFound:
		return "NotFound"
	case AccessDenied:
		return "AccessDenied"
	case KMSDenied:
		return "KMSDenied"
	case BadCredentials:
		return "BadCredentials"
	case Throttled:
		return "Throttled"
	case Internal:
		return "Internal"
	case BlackHole:
		return "BlackHole"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault describes a failure injected with [Server.SetFault].
type Fault struct {
	// Kind is the failure to inject.
	Kind FaultKind

	// Count is how many GetSecretValue calls the fault applies to, counted
	// from SetFault; zero means every call until [Server.ClearFault]. Note
	// that the SDK retries throttling and 5xx errors, so one SDK call may
	// use up to three counts.
	Count int

	// Release, for a BlackHole fault, ends the hold when closed: the held
	// requests, and those arriving later, are then answered normally. Nil
	// means a hold ends only with the client or the server.
	Release <-chan struct{}

	// Held, if not nil, receives a value each time a BlackHole fault
	// starts holding a request, so that a test knows the request arrived.
	// The server waits for the receive as long as it holds the request.
	Held chan<- struct{}
}

type version struct {
	id      string
	str     *string
	bin     []byte
	created time.Time
}

type secret struct {
	name     string
	arn      string
	versions []version // oldest first; the last one is AWSCURRENT
	deleted  bool
}

// Server is a fake Secrets Manager listening on 127.0.0.1. Its methods are
// safe for concurrent use. Create one with [NewServer].
type Server struct {
	ts     *httptest.Server
	creds  aws.Credentials
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	secrets map[string]*secret // by name
	fault   Fault
	left    int // calls left for a counted fault
	calls   int
}

// NewServer starts a server on a loopback port. Call [Server.Close] when
// done.
func NewServer() *Server {
	s := &Server{
		creds:   newCredentials(),
		closed:  make(chan struct{}),
		secrets: make(map[string]*secret),
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL returns the server's base URL, such as http://127.0.0.1:41234.
func (s *Server) URL() string { return s.ts.URL }

// Close ends held requests, shuts the server down and closes the idle
// connections of the client that [Server.AWSConfig] returns. It does not
// hang on a [BlackHole] fault.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.ts.Close()
}

// Credentials returns the access key pair the server accepts signatures
// from. Each server makes its own at random; they grant nothing elsewhere.
func (s *Server) Credentials() aws.Credentials { return s.creds }

// Env returns, as KEY=value strings for os/exec, the environment that points
// the AWS SDK in another process at the server: the region, the server's
// credentials and its URL as the Secrets Manager endpoint.
func (s *Server) Env() []string {
	return []string{
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + s.creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + s.creds.SecretAccessKey,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.URL(),
	}
}

// AWSConfig returns a configuration for a real SDK client that talks to the
// server: region us-east-1, the server's credentials, the server's URL as
// base endpoint, and a retryer that keeps the SDK's three attempts but waits
// only a millisecond between them. Build a client with
// secretsmanager.NewFromConfig(s.AWSConfig()).
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.StaticCredentialsProvider{Value: s.creds},
		BaseEndpoint: aws.String(s.URL()),
		HTTPClient:   s.ts.Client(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(
					func(int, error) (time.Duration, error) {
						return time.Millisecond, nil
					})
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// SetString stores value as the current version of the secret named id,
// creating the secret or rotating it: each call makes a new VersionId and
// moves the previous version to AWSPREVIOUS. It also restores a secret
// removed with [Server.Delete].
func (s *Server) SetString(id, value string) {
	s.put(id, version{str: &value})
}

// SetBinary is like [Server.SetString] for a binary secret. An empty b
// yields a response with neither SecretString nor SecretBinary, which the
// real service never sends; it lets a client's handling of that case be
// tested.
func (s *Server) SetBinary(id string, b []byte) {
	s.put(id, version{bin: append([]byte(nil), b...)})
}

func (s *Server) put(id string, v version) {
	v.id = newVersionID()
	v.created = time.Now().UTC()

	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[id]
	if !ok {
		sec = &secret{name: id, arn: newARN(id)}
		s.secrets[id] = sec
	}
	sec.deleted = false
	sec.versions = append(sec.versions, v)
}

// Delete schedules the secret named id for deletion, like DeleteSecret with
// a recovery window: reads then fail with InvalidRequestException, as they
// do on the real service. Deleting an unknown secret does nothing.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[id]; ok {
		sec.deleted = true
	}
}

// SetFault injects f in place of the next answers, replacing any fault set
// before.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.left = f.Count
}

// ClearFault removes the injected fault.
func (s *Server) ClearFault() {
	s.SetFault(Fault{})
}

// Calls returns the number of GetSecretValue requests received, including
// those answered with a fault or an error.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// ARN returns the ARN of the secret named id, or "" if there is none.
func (s *Server) ARN(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[id]; ok {
		return sec.arn
	}
	return ""
}

// request is the GetSecretValue input on the wire.
type request struct {
	SecretID     *string `json:"SecretId"`
	VersionID    *string `json:"VersionId"`
	VersionStage *string `json:"VersionStage"`
}

// response is the GetSecretValue output on the wire. SecretBinary is a
// []byte, which encoding/json writes as base64, as the protocol wants.
type response struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"`
}

// apiError is an error answer: status, code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, apiError{http.StatusNotFound,
			"UnknownOperationException", ""})
		return
	}

	if t := r.Header.Get("X-Amz-Target"); t != target {
		writeError(w, apiError{http.StatusBadRequest,
			"UnknownOperationException", ""})
		return
	}

	s.mu.Lock()
	s.calls++
	s.mu.Unlock()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, apiError{http.StatusBadRequest,
			"SerializationException", "Request body is too large."})
		return
	}
	if e, ok := s.verify(r, body); !ok {
		writeError(w, e)
		return
	}

	ct := r.Header.Get("Content-Type")
	if ct != contentType && !strings.HasPrefix(ct, contentType+";") {
		writeError(w, apiError{http.StatusBadRequest,
			"SerializationException", "Unsupported content type."})
		return
	}

	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, apiError{http.StatusBadRequest,
			"SerializationException", "Request body is not valid JSON."})
		return
	}
	if in.SecretID == nil || *in.SecretID == "" {
		writeError(w, apiError{http.StatusBadRequest,
			"InvalidParameterException",
			"You must provide a value for SecretId."})
		return
	}

	if f, ok := s.takeFault(); ok {
		if f.Kind != BlackHole {
			writeError(w, faultError(f.Kind))
			return
		}
		s.hold(r, f)
	}

	out, e := s.lookup(in)
	if e.code != "" {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// takeFault returns the fault that applies to this call, if any, and uses
// up one of its counts.
func (s *Server) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f.Kind == 0 {
		return Fault{}, false
	}
	if f.Count > 0 {
		s.left--
		if s.left <= 0 {
			s.fault = Fault{}
		}
	}
	return f, true
}

// hold blocks a black-holed request. It returns only when f.Release is
// closed; otherwise it aborts the connection so that the client sees no
// answer at all.
func (s *Server) hold(r *http.Request, f Fault) {
	held := f.Held
	for {
		select {
		case held <- struct{}{}:
			held = nil
			continue
		case <-f.Release:
			return
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	}
}

func faultError(k FaultKind) apiError {
	switch k {
	case NotFound:
		return apiError{http.StatusBadRequest, "ResourceNotFoundException",
			"Secrets Manager can't find the specified secret."}
	case AccessDenied:
		return apiError{http.StatusBadRequest, "AccessDeniedException",
			"User is not authorized to perform: " +
				"secretsmanager:GetSecretValue"}
	case KMSDenied:
		return apiError{http.StatusBadRequest, "DecryptionFailure",
			"Access to KMS is not allowed"}
	case BadCredentials:
		return apiError{http.StatusBadRequest, "UnrecognizedClientException",
			"The security token included in the request is invalid."}
	case Throttled:
		return apiError{http.StatusBadRequest, "ThrottlingException",
			"Rate exceeded"}
	}
	return apiError{http.StatusInternalServerError, "InternalServiceError",
		"An error occurred on the server side."}
}

// lookup finds the version a request asks for.
func (s *Server) lookup(in request) (response, apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()

	sec := s.find(*in.SecretID)
	if sec == nil {
		return response{}, apiError{http.StatusBadRequest,
			"ResourceNotFoundException",
			"Secrets Manager can't find the specified secret."}
	}
	if sec.deleted {
		return response{}, apiError{http.StatusBadRequest,
			"InvalidRequestException",
			"You can't perform this operation on the secret because " +
				"it was marked for deletion."}
	}

	i, e := pick(sec, in)
	if e.code != "" {
		return response{}, e
	}

	v := sec.versions[i]
	out := response{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionID:     v.id,
		SecretString:  v.str,
		SecretBinary:  v.bin,
		VersionStages: stagesOf(sec, i),
		CreatedDate:   float64(v.created.UnixMilli()) / 1000,
	}
	return out, apiError{}
}

// find looks a secret up by name, full ARN, or partial ARN (the ARN
// without its random six-character suffix).
func (s *Server) find(id string) *secret {
	if !strings.HasPrefix(id, "arn:") {
		return s.secrets[id]
	}
	for _, sec := range s.secrets {
		if id == sec.arn || id == sec.arn[:len(sec.arn)-7] {
			return sec
		}
	}
	return nil
}

// pick returns the index of the version a request asks for: by VersionId,
// by VersionStage, or the current one. Both given must agree.
func pick(sec *secret, in request) (int, apiError) {
	last := len(sec.versions) - 1
	i := last
	switch {
	case in.VersionID != nil:
		i = indexOf(sec.versions, *in.VersionID)
		if i < 0 {
			return 0, apiError{http.StatusBadRequest,
				"ResourceNotFoundException",
				"Secrets Manager can't find the specified secret value " +
					"for VersionId."}
		}
	case in.VersionStage != nil && *in.VersionStage == StagePrevious:
		i = last - 1
	}

	if in.VersionStage != nil && (i < 0 ||
		!slices.Contains(stagesOf(sec, i), *in.VersionStage)) {
		return 0, apiError{http.StatusBadRequest,
			"ResourceNotFoundException",
			"Secrets Manager can't find the specified secret value " +
				"for staging label."}
	}
	return i, apiError{}
}

// stagesOf returns the stage labels of version i.
func stagesOf(sec *secret, i int) []string {
	switch i {
	case len(sec.versions) - 1:
		return []string{StageCurrent}
	case len(sec.versions) - 2:
		return []string{StagePrevious}
	}
	return []string{}
}

func indexOf(vs []version, id string) int {
	for i, v := range vs {
		if v.id == id {
			return i
		}
	}
	return -1
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.code)
	body := struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.code, e.message}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value written here marshals; keep the wire well-formed
		// anyway.
		status, b = http.StatusInternalServerError,
			[]byte(`{"__type":"InternalServiceError"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", newVersionID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newVersionID returns a random UUID (version 4), the form the real service
// uses for version and request IDs.
func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" +
		h[20:]
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newARN returns an ARN for a secret named name, with the random
// six-character suffix the real service appends.
func newARN(name string) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s",
		Region, AccountID, name, b[:])
}
