// Command lambda is the function's AWS Lambda entry point, built as the
// `bootstrap` binary of a provided.al2023 function.
//
// It parses the configuration once, at start-up, and stops with one log
// line naming every missing or invalid variable. Warm invocations reuse the
// key cache and the ilos client's connections.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ilostoken/ilostoken/config"
	"github.com/ilostoken/ilostoken/internal/app"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		Level:       logLevel(os.Getenv("AWS_LAMBDA_LOG_LEVEL")),
		ReplaceAttr: lambdacontext.ReplaceAttr,
	}))

	parts, err := start(context.Background(), logger)
	if err != nil {
		logger.Error("start-up failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(parts.Handler.Handle)
}

func start(ctx context.Context, logger *slog.Logger) (*app.Parts, error) {
	cfg, err := config.Parse(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.LoadAWSConfig(ctx, logger)
	if err != nil {
		return nil, err
	}
	return app.New(cfg, awsCfg, logger)
}

// logLevel reads the level Lambda's advanced logging controls set.
func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
