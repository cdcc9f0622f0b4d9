# vigil — build, test, demo, benchmarks. Everything here runs as root on
# Linux (network namespaces); `make test` installs what it needs.
GO        ?= go
# bash with pipefail: `go test ... | grep BENCH` fails when the test does.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c
GOFLAGS   ?=
export GOFLAGS
FUZZTIME  ?= 15s
BIN       := bin/vigil
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/prometheus/common/version.Version=$(VERSION) \
             -X github.com/prometheus/common/version.Revision=$(shell git rev-parse --short HEAD 2>/dev/null) \
             -X github.com/prometheus/common/version.Branch=$(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)

.PHONY: all build test deps unit fuzz vet demo bench-failover bench-actuator bench-ipvs bench-restart clean test-vm test-vm-selftest alerts-test mixin

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/vigil

## test: every test — installs prerequisites, then vet, unit, namespace
## integration and keepalived interop tests, short fuzz runs.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) test-vm
	$(MAKE) alerts-test
	$(MAKE) fuzz

deps:
	bash scripts/install-deps.sh all
	bash scripts/install-mariadb.sh

## test-vm: IPVS tests on a real IPVS kernel (Debian's cloud kernel under
## qemu TCG; see docs/vm.md), the VM harness's self-test, and the dashboards
## and rules against vigil on that kernel, scraped by Prometheus in the VM.
test-vm:
	bash scripts/vm/prepare.sh
	bash scripts/vm/selftest.sh
	CGO_ENABLED=0 VIGIL_VM_PROGRAMS=keepalived $(GO) test -count=1 -tags vm -exec "$(CURDIR)/scripts/vm/exec.sh" ./internal/vmtest/ ./ipvs/... ./test/vmdata/
	cd tools && CGO_ENABLED=0 VIGIL_VM_PROGRAMS=prometheus \
	  VIGIL_VM_INCLUDE=../../go.mod:../../alerts:../../dashboards:../../docs \
	  $(GO) test -count=1 -tags vm -exec "$(CURDIR)/scripts/vm/exec.sh" -run '^TestVM' ./live

## alerts-test: generated rules/dashboards up to date, dashboard lint, PromQL
## vs docs/metrics.md, promtool check/test rules.
alerts-test:
	cd tools && $(GO) test -count=1 ./...
	promtool check rules alerts/vigil.rules.yml
	promtool test rules alerts/tests/*.yml

## mixin: regenerate alerts/vigil.rules.yml and dashboards/*.json
mixin:
	cd tools && $(GO) run ./cmd/vigil-mixin -job-selector 'job="vigil"'

test-vm-selftest:
	bash scripts/vm/selftest.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

## unit: unit tests only, fast, no root needed: -short makes lab.Require
## (every namespace, interop and actuator e2e test) and check/mariadbtest
## skip, even with CI=true. See docs/testing.md.
unit:
	$(GO) test -count=1 -short ./...

fuzz:
	$(GO) test ./vrrp -run '^$$' -fuzz '^FuzzParseAdvert$$' -fuzztime $(FUZZTIME)
	$(GO) test ./vrrp -run '^$$' -fuzz '^FuzzParseIPv4Header$$' -fuzztime $(FUZZTIME)
	$(GO) test ./config -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./actuator -run '^$$' -fuzz '^FuzzDecodeWebhook$$' -fuzztime $(FUZZTIME)
	$(GO) test ./actuator -run '^$$' -fuzz '^FuzzWebhookHandler$$' -fuzztime $(FUZZTIME)
	$(GO) test ./actuator -run '^$$' -fuzz '^FuzzAPIHandler$$' -fuzztime $(FUZZTIME)
	$(GO) test ./actuator -run '^$$' -fuzz '^FuzzOpenStore$$' -fuzztime $(FUZZTIME)
	$(GO) test ./actuator -run '^$$' -fuzz '^FuzzAuditTail$$' -fuzztime $(FUZZTIME)
	$(GO) test ./ipvs -run '^$$' -fuzz '^FuzzLoadOwnership$$' -fuzztime $(FUZZTIME)

## demo: two directors in network namespaces sharing a VIP; Ctrl-C cleans up.
demo: deps
	$(GO) run ./internal/lab/demo

## bench-failover: vigil vs keepalived failover timings -> docs/benchmarks.md
bench-failover: deps
	$(GO) run ./internal/lab/benchfailover -out docs/benchmarks.md

## bench-ipvs: IPVS programming in the test VM (vigil vs ipvsadm), 10,000-check
## capacity and /metrics cost -> the bench-ipvs section of docs/benchmarks.md
bench-ipvs: deps
	bash scripts/vm/prepare.sh
	$(GO) run ./bench/ipvs/cmd/benchipvs -doc docs/benchmarks.md

## bench-actuator: Alertmanager webhook -> weight in the kernel's IPVS table,
## p50/p99 over 100 rounds, in the VM tier (see docs/benchmarks.md).
bench-actuator:
	bash scripts/vm/prepare.sh
	VIGIL_BENCH_ITERATIONS=100 CGO_ENABLED=0 $(GO) test -count=1 -tags vm -exec "$(CURDIR)/scripts/vm/exec.sh" ./test/vmdata/ -run TestWebhookToKernelWeight -v | grep BENCH

## bench-restart: restart under 20 live streams through the VIP, vigil and
## keepalived 2.2.7 side by side, in the VM tier; 3 runs per case (see the
## bench-restart section of docs/benchmarks.md).
bench-restart:
	bash scripts/vm/prepare.sh
	VIGIL_BENCH_ITERATIONS=3 CGO_ENABLED=0 VIGIL_VM_PROGRAMS=keepalived $(GO) test -count=1 -tags vm -exec "$(CURDIR)/scripts/vm/exec.sh" ./test/vmdata/ -run TestRestartComparedWithKeepalived -v | grep BENCH

clean:
	rm -rf bin
