# Build, test and run the ilos token function.

GO       ?= go
BUILD_ENV = CGO_ENABLED=0 GOOS=linux GOARCH=arm64
GOBUILD   = $(BUILD_ENV) $(GO) build -tags lambda.norpc -trimpath \
            -ldflags='-s -w -buildid='

.PHONY: build run test lint fuzz bench tidy clean build-TokenFunction \
        invoke start-api

## build: the Lambda binary, ./bootstrap (linux/arm64, static)
build:
	$(GOBUILD) -o bootstrap ./cmd/lambda

## run: the local server on the embedded default
run:
	$(GO) run ./cmd/local

## test: every test, with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## bench: the benchmark report (figures and ratios; see BENCHMARKS.md)
bench:
	@command -v wrk >/dev/null || { apt-get update -qq && \
		apt-get install -y -qq wrk >/dev/null; } || \
		echo "wrk not installed: throughput figures skipped"
	$(GO) run ./internal/cmd/benchreport

## lint: formatting, vet and staticcheck
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# FUZZ_TARGETS lists every fuzz target as package:name.
FUZZ_TARGETS = ./handler:FuzzHandle ./handler:FuzzRequestBody \
               ./secrets:FuzzParseValue ./ilos:FuzzDecodeAnswer \
               ./ilos:FuzzParseOptions
FUZZTIME    ?= 30s

## fuzz: each fuzz target in turn for FUZZTIME (default 30s)
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "--- $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" \
			-fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

## invoke: one sample event through `sam local invoke` (SAM CLI and Docker)
EVENT ?= events/http-api-post.json
invoke:
	sam build
	sam local invoke TokenFunction --event $(EVENT) --env-vars env.json

## start-api: the API on http://127.0.0.1:3000 through `sam local start-api`
start-api:
	sam build
	sam local start-api --env-vars env.json

## tidy: tidy go.mod and go.sum
tidy:
	$(GO) mod tidy

## clean: remove build output
clean:
	rm -f bootstrap

# SAM's makefile builder runs this target for the TokenFunction resource.
build-TokenFunction:
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/lambda
