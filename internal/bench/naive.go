package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ilostoken/ilostoken/ilos/ilostest"
	"github.com/ilostoken/ilostoken/secrets"
)

// newKeys returns a key cache reading the stack's secret, as app.New
// builds it.
func newKeys(s *Stack) (*secrets.Cache, error) {
	return secrets.New(secrets.Config{
		Client:   secretsmanager.NewFromConfig(s.Secrets.AWSConfig()),
		SecretID: SecretID,
		KeyType:  secrets.KeyTypeOrganization,
	})
}

// naiveFunc is the token function a user would write first: the AWS
// config is loaded once, but every invocation builds a Secrets Manager
// client and reads the secret, then posts to ilos with a new http.Client
// and decodes the answer with a json.Decoder. The new client uses Go's
// default transport, which keeps only two idle connections per host: one
// invocation at a time reuses its connection, many at once churn them.
type naiveFunc struct {
	awsCfg   aws.Config
	endpoint string
}

func newNaive(s *Stack) *naiveFunc {
	return &naiveFunc{
		awsCfg:   s.Secrets.AWSConfig(),
		endpoint: s.Ilos.URL() + ilostest.RecordPath,
	}
}

// handle is the naive function's handler.
func (f *naiveFunc) handle(ctx context.Context,
	ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse,
	error) {
	sm := secretsmanager.NewFromConfig(f.awsCfg)
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(SecretID),
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.PostForm(f.endpoint,
		url.Values{"api_key": {aws.ToString(out.SecretString)}})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	defer resp.Body.Close()
	var a answerJSON
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if a.Token == "" {
		return events.APIGatewayV2HTTPResponse{}, errNoToken
	}

	body, err := a.encode()
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Access-Control-Allow-Origin": ev.Headers["origin"],
			"Content-Type":                "application/json",
		},
		Body: body,
	}, nil
}

// do runs one invocation as the runtime would: decode the event, call the
// handler, encode the answer.
func (f *naiveFunc) do(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(Event(), &ev); err != nil {
		return err
	}
	resp, err := f.handle(ctx, ev)
	if err != nil {
		return err
	}
	if _, err := json.Marshal(resp); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("naive: status %d", resp.StatusCode)
	}
	return nil
}

// close drops the default transport's idle connections to the stand-in.
func (f *naiveFunc) close() {
	http.DefaultClient.CloseIdleConnections()
}

// Naive is the naive function invoked warm, on the same stand-ins as
// [Invoke].
func Naive() (*Op, error) {
	s, err := NewStack()
	if err != nil {
		return nil, err
	}
	f := newNaive(s)
	return &Op{Do: f.do, Close: func() {
		f.close()
		s.Close()
	}}, nil
}
