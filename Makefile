# Régie — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

.PHONY: demo test build vet fmt

## demo: the whole product with embedded defaults, seeded, on :8080
demo:
	@command -v psql >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { . deploy/local/lib.sh && apt_install postgresql; }
	$(GO) run ./cmd/regie demo

## test: vet, then every test with the race detector on real PostgreSQL and Redis
test:
	@env_lines=$$(deploy/local/test-env.sh) && eval "$$env_lines" && \
	  echo "PostgreSQL: $$REGIE_TEST_DATABASE_URL  Redis: $$REGIE_TEST_REDIS_URL" && \
	  $(GO) vet ./... && \
	  $(GO) test -race -count=1 -timeout 30m ./...

## build: the regie binary in ./bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/regie ./cmd/regie

fmt:
	gofmt -w $$(git ls-files '*.go')
