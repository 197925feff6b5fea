package secrets_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ilostoken/ilostoken/secrets"
	"github.com/ilostoken/ilostoken/secrets/secretstest"
)

func ExampleCache() {
	// A local Secrets Manager stands in for AWS here; in production the
	// client comes from config.LoadDefaultConfig.
	srv := secretstest.NewServer()
	defer srv.Close()
	srv.SetString("prod/ilos", `{"organization":"org-key-1"}`)

	cache, err := secrets.New(secrets.Config{
		Client:   secretsmanager.NewFromConfig(srv.AWSConfig()),
		SecretID: "prod/ilos",
		KeyType:  secrets.KeyTypeOrganization,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	key, err := cache.Key(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(key)
	fmt.Println(len(key.Reveal()))
	// Output:
	// [REDACTED]
	// 9
}

func ExampleParseValue() {
	key, err := secrets.ParseValue([]byte(`{"user":"abc"}`),
		secrets.KeyTypeOrganization)
	fmt.Println(key.IsZero(), err)
	// Output:
	// true no key of the configured type: JSON has neither organization nor api_key
}
