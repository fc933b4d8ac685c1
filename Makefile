# vmcheck — build, test, lint, demo and benchmarks.
# Everything needs root on a Debian 12 machine (the lab runs real libvirtd and QEMU).

SHELL := /bin/bash
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
# The release is the VERSION file. In a git checkout that is not exactly at tag v$(RELEASE),
# the version is $(RELEASE)+git<commits>.<commit>[.dirty] (a Debian and RPM version that sorts
# by commit count); COMMIT is the full commit. `vmcheck --version` prints both.
RELEASE := $(shell cat VERSION)
ifeq ($(origin VERSION),undefined)
VERSION := $(shell r='$(RELEASE)'; c=$$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo "$$r"; exit 0; }; \
	d=$$(git diff --quiet HEAD 2>/dev/null || echo .dirty); \
	if [ -z "$$d" ] && git describe --tags --exact-match --match "v$$r" >/dev/null 2>&1; then echo "$$r"; \
	else echo "$$r+git$$(git rev-list --count HEAD).$$c$$d"; fi)
endif
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
LAB := lab/lab.sh
LAB_DIR ?= $(or $(VMCHECK_LAB_DIR),/var/tmp/vmcheck-lab)
STATICCHECK_VERSION := v0.7.0
# Debian packages needed to build vmcheck (cgo against libvirt).
BUILD_DEPS := libvirt-dev pkg-config gcc
# Debian packages the tests need besides the lab's own (lab/lab.sh installs those):
# promtool for the alert rules, amtool and Alertmanager for its config, a real Prometheus
# for the alert e2e test, headless Chromium
# for the status page, shellcheck for the lab scripts, qemu-ga with ping, ip and unshare for the
# agent-socket tests, GNU time for the peak RSS of the hostile checks.
TEST_DEPS := prometheus prometheus-alertmanager chromium shellcheck qemu-guest-agent iputils-ping iproute2 util-linux time \
	zsh groff-base
# Packaging: nfpm (pinned, run through the Go module proxy), and what checks the packages:
# lintian, systemd-analyze (package systemd; it verifies units without systemd running).
# dpkg-shlibdeps (dpkg-dev) computes the .deb's library dependencies.
NFPM_VERSION := v2.45.2
NFPM := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
PACKAGE_BUILD_DEPS := dpkg-dev
PACKAGE_CHECK_DEPS := lintian systemd
PKG_MAINTAINER ?= vmcheck maintainers <maintainers@vmcheck.dev>
DIST ?= dist

export VMCHECK_LAB_DIR := $(LAB_DIR)

.PHONY: all deps test-deps build build-nolibvirt package package-check test unit e2e lint demo lab-up lab-down bench soak fuzz clean

all: build

# apt-install-missing: install those of the Debian packages $(1) that are missing.
define apt-install-missing
@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
if [ -n "$$missing" ]; then \
	echo "installing: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
fi
endef

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

## package: $(DIST)/vmcheck_*.deb and .rpm (the libvirt build: cgo, PIE, full RELRO) and
## $(DIST)/vmcheck-nolibvirt_*.deb and .rpm (the static build of build-nolibvirt), with nfpm;
## both binaries stripped. See docs/packaging.md.
PKG_LDFLAGS := $(LDFLAGS) -s -w
package: deps
	$(call apt-install-missing,$(PACKAGE_BUILD_DEPS))
	$(GO) build -buildmode=pie -ldflags '$(PKG_LDFLAGS) -extldflags "-Wl,-z,relro,-z,now"' \
		-o bin/vmcheck-package ./cmd/vmcheck
	CGO_ENABLED=0 $(GO) build -ldflags '$(PKG_LDFLAGS)' -o bin/vmcheck-nolibvirt-package ./cmd/vmcheck
	rm -rf $(DIST)
	@set -e; export VERSION='$(VERSION)' COMMIT='$(COMMIT)' MAINTAINER='$(PKG_MAINTAINER)' NFPM='$(NFPM)'; \
	export SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s); \
	timeout 15m deploy/package/build.sh libvirt bin/vmcheck-package $(DIST); \
	timeout 15m deploy/package/build.sh nolibvirt bin/vmcheck-nolibvirt-package $(DIST)
	@ls -l $(DIST)

## package-check: lintian on both .debs (fails on errors; warnings are printed), then
## systemd-analyze verify on the units as each .deb installs them
package-check: package
	$(call apt-install-missing,$(PACKAGE_CHECK_DEPS))
	timeout 10m lintian --fail-on error --tag-display-limit 0 $(DIST)/*.deb
	timeout 5m deploy/package/verify-units.sh $(DIST)/*.deb

# In `make test` nothing may skip for a missing tool: these make such tests fail instead.
# VMCHECK_PACKAGE_DIR makes the e2e suite install, run and purge the .deb of package-check.
test: export VMCHECK_REQUIRE_PROMTOOL=1
test: export VMCHECK_REQUIRE_AMTOOL=1
test: export VMCHECK_REQUIRE_CHROMIUM=1
test: export VMCHECK_REQUIRE_QGA=1
test: export VMCHECK_PACKAGE_DIR=$(abspath $(DIST))
test: build unit package-check e2e

unit: test-deps
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./... && CGO_ENABLED=0 $(GO) vet ./...
	$(GO) test -count=1 ./...

e2e: build test-deps
	@set -euo pipefail; \
	trap '$(LAB) down >/dev/null 2>&1 || $(LAB) down' EXIT; \
	$(LAB) up --guests full >/dev/null; \
	set -a; . $(LAB_DIR)/env; set +a; \
	VMCHECK_SOAK_REPORT=$(LAB_DIR)/soak $(GO) test -count=1 -tags e2e -timeout 30m -v ./e2e/ 2>&1 | tee $(LAB_DIR)/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; \
	exit $${PIPESTATUS[0]}

## soak: the chaos soak alone (e2e TestSoak; `make test` runs it for 3 minutes) against a fresh
## lab: `vmcheck serve` while random faults of the lab's list come and go, for SOAK_MINUTES
## (default 10). Fails on a wrong verdict after settle or a leak (goroutines, fds, RSS); the
## report goes to $(SOAK_OUT)/soak.json, the one-line summary to stdout. SOAK_SEED repeats
## a run's fault order.
SOAK_MINUTES ?= 10
SOAK_OUT ?= bench/results/soak
soak: build test-deps
	@set -euo pipefail; \
	trap '$(LAB) down >/dev/null 2>&1 || $(LAB) down' EXIT; \
	$(LAB) up --guests full >/dev/null; \
	set -a; . $(LAB_DIR)/env; set +a; \
	mkdir -p $(SOAK_OUT); \
	VMCHECK_SOAK_DURATION=$(SOAK_MINUTES)m VMCHECK_SOAK_SEED=$(SOAK_SEED) VMCHECK_SOAK_REPORT=$(abspath $(SOAK_OUT)) \
	$(GO) test -count=1 -tags e2e -timeout $$(( $(SOAK_MINUTES) + 20 ))m -v -run '^TestSoak$$' ./e2e/ 2>&1 \
		| tee $(SOAK_OUT)/soak.log | grep -E '^(--- |PASS|FAIL|ok|panic|soak )|_test.go' ; \
	exit $${PIPESTATUS[0]}

## lint: go vet, staticcheck (pinned), gofmt, shellcheck
lint: deps
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
	shellcheck lab/*.sh .ci/run deploy/package/*.sh
	shellcheck -s sh deploy/package/deb/* deploy/package/rpm/*

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
## if none is, and taken down again), the hostile guests, the time to detect a link cut (two
## serves and Debian's Prometheus), then 1000 simulated domains. Raw results and the table
## go to $(BENCH_OUT); BENCH_REPS repetitions of every lab figure (at least 5).
BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20250305200902-02a15fd477ba
BENCH_OUT ?= bench/results/latest
BENCH_REPS ?= 5
BENCH_PKGS := ./guestagent ./guestagent/agentsocket ./osdetect ./osdetect/linux ./checker ./exporter ./output ./libvirthost ./libvirthost/domainxml
bench: build test-deps
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
	rm -rf bin $(DIST)
