// Command hello is the smallest useful aws-lambda-go function: it answers
// every invocation with a fixed API Gateway response. It is the baseline
// the benchmarks time the token function's cold start against, built and
// run the same way.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

// response is the API Gateway proxy answer the function returns.
type response struct {
	StatusCode int    `json:"statusCode"`
	Body       string `json:"body"`
}

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (response, error) {
		return response{StatusCode: 200, Body: "hello"}, nil
	})
}
