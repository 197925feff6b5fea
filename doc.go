// Package ilostoken is a serverless token-vending function for ilos
// (VidGrid) screen recording.
//
// A web page asks the function for a one-time record token. The function
// reads the long-lived ilos API key from AWS Secrets Manager, exchanges it
// at ilos for a record token and returns only the token and its expiry, so
// the key never reaches the browser. The parts live in their own packages:
// [github.com/ilostoken/ilostoken/handler] answers the request,
// [github.com/ilostoken/ilostoken/secrets] keeps the key and
// [github.com/ilostoken/ilostoken/ilos] talks to ilos; cmd/lambda is the
// Lambda entry point and cmd/local serves the same handler on loopback.
package ilostoken
