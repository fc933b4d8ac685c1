# vmcheck — build, test, lint, demo and benchmarks.
# Everything needs root on a Debian 12 machine (the lab runs real libvirtd and QEMU).

SHELL := /bin/bash
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
LAB := lab/lab.sh
LAB_DIR ?= $(or $(VMCHECK_LAB_DIR),/var/tmp/vmcheck-lab)
STATICCHECK_VERSION := v0.7.0
# Debian packages needed to build vmcheck (cgo against libvirt).
BUILD_DEPS := libvirt-dev pkg-config gcc
# Debian packages the tests need besides the lab's own (lab/lab.sh installs those):
# promtool for the alert rules, a real Prometheus for the alert e2e test, headless Chromium
# for the status page, shellcheck for the lab scripts, qemu-ga with ping, ip and unshare for the
# agent-socket tests.
TEST_DEPS := prometheus chromium shellcheck qemu-guest-agent iputils-ping iproute2 util-linux

export VMCHECK_LAB_DIR := $(LAB_DIR)

.PHONY: all deps test-deps build build-nolibvirt test unit e2e lint demo lab-up lab-down bench fuzz clean

all: build

## deps: install the Debian packages the build needs (skipped when present)
deps:
	@missing=$$(for p in $(BUILD_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test-deps: deps
	@missing=$$(for p in $(TEST_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## build: bin/vmcheck
build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/vmcheck ./cmd/vmcheck

## test: unit tests, then the end-to-end suite against a fresh lab (brought up once, always torn down)
## build-nolibvirt: bin/vmcheck-nolibvirt, static, no cgo: for hosts without libvirt (Proxmox VE,
## plain QEMU; --qemu-dir only)
build-nolibvirt:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o bin/vmcheck-nolibvirt ./cmd/vmcheck

# In `make test` nothing may skip for a missing tool: these make such tests fail instead.
test: export VMCHECK_REQUIRE_PROMTOOL=1
test: export VMCHECK_REQUIRE_CHROMIUM=1
test: export VMCHECK_REQUIRE_QGA=1
test: build unit e2e

unit: test-deps
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./checker ./exporter ./cmd/vmcheck ./qemuhost ./guestagent ./osdetect ./libvirthost
	$(GO) test -count=1 ./...

e2e: build test-deps
	@set -euo pipefail; \
	trap '$(LAB) down >/dev/null 2>&1 || $(LAB) down' EXIT; \
	$(LAB) up --guests full >/dev/null; \
	set -a; . $(LAB_DIR)/env; set +a; \
	$(GO) test -count=1 -tags e2e -timeout 25m -v ./e2e/ 2>&1 | tee $(LAB_DIR)/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; \
	exit $${PIPESTATUS[0]}

## lint: go vet, staticcheck (pinned), gofmt, shellcheck
lint: deps
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
	shellcheck lab/*.sh .ci/run

## demo: bring up a four-guest lab and run vmcheck check against it
demo: build
	@$(LAB) up --guests demo >/dev/null
	@set -a; . $(LAB_DIR)/env; set +a; \
	echo; echo "== bin/vmcheck check -c '$$VMCHECK_LAB_URI' --external $$VMCHECK_LAB_EXTERNAL4"; echo; \
	bin/vmcheck check -c "$$VMCHECK_LAB_URI" --external "$$VMCHECK_LAB_EXTERNAL4"; code=$$?; \
	echo; echo "vmcheck exited $$code (0 ok, 1 some VM unknown, 2 some probe failed, 3 vmcheck could not run)."; \
	echo; echo "The lab is still up. Try:"; \
	echo "  bin/vmcheck check   -c '$$VMCHECK_LAB_URI' --external $$VMCHECK_LAB_EXTERNAL4 --output json"; \
	echo "  bin/vmcheck domains -c '$$VMCHECK_LAB_URI'"; \
	echo "  $(LAB) virsh list --all"; \
	echo "  $(LAB) fault cut-outside   # then check again; '$(LAB) fault restore-outside' to undo"; \
	echo "Take it down with: make lab-down"

lab-up:
	$(LAB) up --guests $(or $(GUESTS),full)

lab-down:
	$(LAB) down

## bench: the benchmarks of BENCHMARKS.md (not part of `make test`): Go benchmarks of the hot
## paths summarised by benchstat, then vmcheck against bench/baseline.sh in the lab (brought up
## if none is, and taken down again), then 1000 simulated domains. Raw results and the table
## go to $(BENCH_OUT); BENCH_REPS repetitions of every lab figure (at least 5).
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20250305200902-02a15fd477ba
BENCH_OUT ?= bench/results/latest
BENCH_REPS ?= 5
BENCH_PKGS := ./guestagent ./osdetect ./checker ./exporter ./output ./libvirthost
bench: build
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 -benchtime 200ms $(BENCH_PKGS) > $(BENCH_OUT)/go.txt
	$(GO) run $(BENCHSTAT) $(BENCH_OUT)/go.txt > $(BENCH_OUT)/go-benchstat.txt
	$(GO) run $(BENCHSTAT) -filter .name:Scrape -col /via $(BENCH_OUT)/go.txt >> $(BENCH_OUT)/go-benchstat.txt
	$(GO) build -o bin/labbench ./bench/cmd/labbench
	$(GO) build -o bin/simbench ./bench/cmd/simbench
	bin/labbench -vmcheck bin/vmcheck -simbench bin/simbench -out $(BENCH_OUT) \
		-reps $(BENCH_REPS) -gobench $(BENCH_OUT)/go-benchstat.txt

## fuzz: run every fuzz target of every package that has one (FUZZ_PKGS) for FUZZTIME each
## (default 20s), with FUZZPARALLEL workers (default 1: the machine is shared). Seeds of
## 1-4 MiB make minimising each new input slow; FUZZMINIMIZETIME (default 1s, Go's is 60s)
## keeps that from eating a whole run (a crasher is saved either way).
FUZZTIME ?= 20s
FUZZPARALLEL ?= 1
FUZZMINIMIZETIME ?= 1s
FUZZ_PKGS ?= $(patsubst %/,%,$(sort $(dir $(shell grep -rl --include='*_test.go' '^func Fuzz' . 2>/dev/null))))
fuzz: deps
	@for pkg in $(FUZZ_PKGS); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) \
				-fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin
