// Package app assembles the function from its parsed configuration: the
// Secrets Manager client and key cache, the ilos client and the handler.
// Both entry points, the Lambda bootstrap and the local server, use it, so
// they run the same parts wired the same way.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/handler"
	"github.com/ilostoken/ilostoken/ilos"
	"github.com/ilostoken/ilostoken/secrets"
)

// Retry settings for Secrets Manager calls. The handler's deadline bounds
// them all; these keep a throttled or failing call from eating it whole.
const (
	sdkMaxAttempts = 3
	sdkMaxBackoff  = 300 * time.Millisecond
)

// LoadAWSConfig loads the AWS SDK's shared configuration from the
// environment (credentials, region, AWS_ENDPOINT_URL_SECRETS_MANAGER) with
// a retryer whose backoff suits a request that must answer in seconds. The
// SDK's own warnings go to logger as JSON lines like the function's. A
// missing region is an error now rather than at the first request.
func LoadAWSConfig(ctx context.Context,
	logger *slog.Logger) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRetryer(newRetryer),
		awsconfig.WithLogger(sdkLogger(logger)))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New(
			"load AWS config: no region: set AWS_REGION")
	}
	return cfg, nil
}

// sdkLogger passes the SDK's log messages to logger. The SDK logs no
// request or response bodies unless its ClientLogMode asks, and this
// project never sets one.
func sdkLogger(logger *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification,
		format string, v ...any) {
		level := slog.LevelWarn
		if c == logging.Debug {
			level = slog.LevelDebug
		}
		logger.Log(context.Background(), level, "aws sdk",
			"detail", fmt.Sprintf(format, v...))
	})
}

func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = sdkMaxAttempts
		o.MaxBackoff = sdkMaxBackoff
	})
}

// Parts are the assembled pieces, exposed for the entry points' logs and
// tests.
type Parts struct {
	Handler *handler.Handler
	Keys    *secrets.Cache
	Ilos    *ilos.Client
}

// New wires the function for cfg, reading the secret through awsCfg and
// logging to logger.
func New(cfg config.Config, awsCfg aws.Config,
	logger *slog.Logger) (*Parts, error) {
	keys, err := secrets.New(secrets.Config{
		Client:   secretsmanager.NewFromConfig(awsCfg),
		SecretID: cfg.SecretID,
		KeyType:  cfg.KeyType,
		TTL:      cfg.SecretCacheTTL,
		Logger:   logger,
	})
	if err != nil {
		return nil, fmt.Errorf("new key cache: %w", err)
	}

	client, err := ilos.New(ilos.Config{
		BaseURL: cfg.APIURL,
		Timeout: cfg.Timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("new ilos client: %w", err)
	}

	h, err := handler.New(HandlerConfig(cfg, keys, client, logger))
	if err != nil {
		return nil, err
	}
	return &Parts{Handler: h, Keys: keys, Ilos: client}, nil
}

// HandlerConfig is the handler's configuration for cfg, with its key
// source, token issuer and logger. [New] uses it; a test may pass its own
// key source or token issuer, wrapping the real ones, and still get the
// handler wired as in production.
func HandlerConfig(cfg config.Config, keys handler.KeySource,
	tokens handler.TokenIssuer, logger *slog.Logger) handler.Config {
	return handler.Config{
		Keys:           keys,
		Tokens:         tokens,
		AllowedOrigins: cfg.AllowedOrigins,
		TokenOptions:   cfg.TokenOptions,
		ClientOptions:  cfg.ClientOptions,
		Logger:         logger,
		Metrics: &handler.Metrics{
			Namespace: cfg.MetricsNamespace,
			Function:  cfg.FunctionName,
		},
	}
}
