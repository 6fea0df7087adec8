# ninelives: the project's own checks and jobs. Go is needed, Debian's
# chromium for the status page's browser test and Debian's prometheus for the
# Prometheus metric source's tests (make deps installs both); every other
# tool below is a pinned module run through `go run` or `go tool`.
GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
COUNT     ?= 5
BUF       := $(GO) tool -modfile=tools/go.mod buf

# bash with pipefail: a failing command before a pipe (go test | tee) fails
# its target.
SHELL       := bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: all test deps browser prometheus vet fmt-check bench lint proto demo evaluate fleet-scale chaos soak

all: test

## test: go vet, a gofmt check and every test under the race detector. The
## status page's test drives a headless Chromium and the Prometheus source's
## tests run a Prometheus server, which `deps` installs first when missing.
test: deps vet fmt-check
	$(GO) test -race -count=1 $(PKGS)

## deps: the programs the tests run beside Go.
deps: browser prometheus

## browser: Debian's chromium at /usr/bin/chromium (apt-get, as root; does
## nothing when it is there).
browser:
	bash scripts/install-browser.sh

## prometheus: Debian's prometheus at /usr/bin/prometheus (apt-get, as root;
## does nothing when it is there). The tests start their own servers.
prometheus:
	bash scripts/install-prometheus.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './tools/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: every benchmark, COUNT runs each, summarised by benchstat. The
## shadow latency benchmark runs a fixed 10,000 calls a side per run, enough
## samples for a p99.
bench:
	$(GO) test -run '^$$' -bench . -skip ShadowLatency -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS) | tee bench.txt
	$(GO) test -run '^$$' -bench ShadowLatency -benchmem -benchtime 10000x -count $(COUNT) ./interceptor/shadow/ | tee -a bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench.txt

## proto: regenerate the demo service's Go code with the pinned buf and
## plugins, from the workspace in buf.yaml (the module proto/) and the
## plugins in buf.gen.yaml.
proto:
	$(BUF) generate

## lint: buf lint, go vet, and a check that the generated code is current.
lint: vet
	$(BUF) lint
	$(MAKE) proto
	@test -z "$$(git status --porcelain -- proto/)" || { git status --short -- proto/; echo "generated code is stale: run make proto and commit"; exit 1; }

## evaluate: the sentinel's verdicts measured on real servers (contract 9):
## rollouts against demo servers in their own processes, with and without a
## CPU hog, ≤ 60 min; the table is printed and written to evaluate-out/.
## Not part of test. EVALUATE=-quick for a run of ≤ 5 min; -help lists the
## flags.
EVALUATE ?=
evaluate:
	$(GO) run ./cookbook/evaluate $(EVALUATE)

## demo: the canary recipe.
demo:
	$(GO) run ./cookbook/canary

## fleet-scale: a simulated fleet of 1,000 replicas against one embedded etcd
## on loopback for 3 minutes (not part of make test): etcd write bytes/s, the
## leader's tick time, weight propagation to the last replica, memory.
fleet-scale:
	$(GO) run ./sentinel/fleet/internal/fleetscale -replicas 1000 -duration 3m

## chaos: the client stack and a fleet under load while servers crash, hang
## and come back, etcd goes away for longer than a lease and the alert
## receiver hangs (not part of make test; about 2 minutes). It prints the
## failed calls, tick times, recovery times, goroutines and heap per
## scenario, and fails when a check does.
chaos:
	$(GO) run ./cookbook/internal/chaos/cmd/chaos

## soak: releases back to back, good and bad in turn, in a process and a
## fleet of five (etcd in a process of its own), at 500 calls/s (half
## through each) for SOAK (default 30m; not part of make test). It samples
## the clients' heap, goroutines and open files, with no call in flight,
## and etcd's database each minute, writes soak.png, and fails when one
## grew more than 10 % after the first five minutes.
SOAK ?= 30m
soak:
	$(GO) run ./cookbook/internal/chaos/cmd/soak -duration $(SOAK)
