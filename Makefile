# Régie — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

# a count, not a duration: Go 1.26's fuzzing coordinator may fail a target
# with "context deadline exceeded" when a -fuzztime duration ends
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race
FUZZTIME ?= 40000x
# every fuzz target, as "Name package"; `make test` runs each briefly
FUZZ_TARGETS = \
	"FuzzCSVSource ./billing/" \
	"FuzzReference ./billing/" \
	"FuzzParseAnswer ./payments/payfip/" \
	"FuzzTIPIResult ./payments/" \
	"FuzzParseHost ./tenant/"

.PHONY: demo test fuzz build vet fmt bench soak

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
	  $(GO) test -race -count=1 -timeout 30m ./... && \
	  $(MAKE) --no-print-directory fuzz

## fuzz: each fuzz target for FUZZTIME (seed corpora in testdata/fuzz)
fuzz:
	@mkdir -p .data; for t in $(FUZZ_TARGETS); do set -- $$t; \
	  echo "fuzz $$1 ($(FUZZTIME))"; \
	  $(GO) test -run XXX -fuzz "^$$1\$$" -fuzztime $(FUZZTIME) $$2 > .data/fuzz-$$1.log 2>&1 || { cat .data/fuzz-$$1.log; exit 1; }; \
	done

## bench: every benchmark of PROFILE (small or france) end to end on the test
## servers; rewrites that profile's section of BENCHMARKS.md
PROFILE ?= small
bench:
	@env_lines=$$(deploy/local/test-env.sh) && eval "$$env_lines" && \
	  mkdir -p .data/bench && $(GO) build -o .data/bench/regie ./cmd/regie && \
	  REGIE_DATABASE_URL="$$REGIE_TEST_DATABASE_URL" REGIE_REDIS_URL="$${REGIE_TEST_REDIS_URL%/*}/15" \
	  REGIE_STORAGE_URL="$$REGIE_TEST_S3_URL" .data/bench/regie bench run --profile $(PROFILE) --out BENCHMARKS.md

## soak: the long versions of the fault, payment chaos and load-balancer
## scenarios (REGIE_SOAK=1: Redis and S3 down 30 s, 1,000 chaos trials,
## three instances behind haproxy for two minutes…); make test runs the
## short ones. The full log goes to .data/soak.log.
SOAK_TESTS = TestFault_|TestHAProxy_|TestPaymentChaos
soak:
	@env_lines=$$(deploy/local/test-env.sh) && eval "$$env_lines" && mkdir -p .data && set -o pipefail && \
	  REGIE_SOAK=1 $(GO) test -race -count=1 -timeout 60m -v -run '^($(SOAK_TESTS))' ./payments/ ./cmd/regie/ 2>&1 | \
	  tee .data/soak.log | grep -E '^(\s*(--- |\S+_test\.go:[0-9]+: )|ok|FAIL|PASS)'

## build: the regie binary in ./bin
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/regie ./cmd/regie

fmt:
	gofmt -w $$(git ls-files '*.go')
