# Build, test and run the ilos token function.

GO       ?= go
BUILD_ENV = CGO_ENABLED=0 GOOS=linux GOARCH=arm64
GOBUILD   = $(BUILD_ENV) $(GO) build -tags lambda.norpc -trimpath \
            -ldflags='-s -w -buildid='

.PHONY: build run test lint fuzz bench tidy clean build-TokenFunction

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

## tidy: tidy go.mod and go.sum
tidy:
	$(GO) mod tidy

## clean: remove build output
clean:
	rm -f bootstrap

# SAM's makefile builder runs this target for the TokenFunction resource.
build-TokenFunction:
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/lambda
