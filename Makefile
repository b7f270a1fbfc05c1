# Build, check and demo the CloudLink daemon (cld) and the reference cloud
# (cld-cloud). `make test` is the one command CI runs.

SHELL := /bin/bash
GO    ?= go

# The Go toolchain every build and test uses, in this shell and in every go
# command the tests start. The machines start on their own Go and default to
# GOTOOLCHAIN=local, which ignores go.mod's toolchain line, so it is set here
# (the go command fetches it through the module proxy once, about 10 s).
# `make GOTOOLCHAIN=...` names another.
export GOTOOLCHAIN := go1.27.3
# The toolchain's own gofmt (the one on the PATH may be older).
GOFMT = "$$($(GO) env GOROOT)/bin/gofmt"

# The pinned checkers (staticcheck, govulncheck) are tools of their own
# module, .ci/tools, run with `go tool -modfile`: their dependencies stay
# out of the daemon's go.mod.
TOOL := $(GO) tool -modfile=.ci/tools/go.mod

# govulncheck's database, built offline from the OSV files of the
# golang.org/x/vulndb module at VULNDB_VERSION (its cmd/indexdb) and cached
# outside the checkout, as packaging's tests cache their Debian root.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
CLD_TEST_CACHE ?= /var/cache/cld-test
VULNDB         := $(CLD_TEST_CACHE)/vulndb-$(VULNDB_VERSION)

# Build facts, stamped into agent/build with -ldflags.
# VERSION holds the release's semantic version; the build number (commits on
# the branch) is appended as build metadata, e.g. 0.1.0+57.
BUILD   ?= $(shell git rev-list --count HEAD 2>/dev/null || echo 0)
VERSION ?= $(shell cat VERSION 2>/dev/null || echo 0.0.0)+$(BUILD)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH  ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
STAGE   ?= development

BUILDPKG := github.com/cloudlink/cld/agent/build
LDFLAGS  := -X $(BUILDPKG).Version=$(VERSION) \
            -X $(BUILDPKG).Number=$(BUILD) \
            -X $(BUILDPKG).Commit=$(COMMIT) \
            -X $(BUILDPKG).Branch=$(BRANCH) \
            -X $(BUILDPKG).Stage=$(STAGE)
# The release key self-updates must be signed by: the production key built
# into agent/build unless RELEASE_KEY (a minisign public key's base64 line)
# names another, as the demo and the tests do.
RELEASE_KEY ?=
ifneq ($(RELEASE_KEY),)
LDFLAGS += -X $(BUILDPKG).ReleaseKey=$(RELEASE_KEY)
endif

# apt-get needs root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The steps of `test` change files (generate) and must not run in parallel.
.NOTPARALLEL:

.PHONY: fuzz fuzz-seeds screenshots all build generate check-generated deps tidy-check vet fmt fmt-check staticcheck vulncheck lint test bench demo clean packages

all: build

# The daemon's own build, for its resident memory (the whole binary ends up
# mapped, so its size is most of the idle RSS; `make bench` measures it):
# - CGO_ENABLED=0: a static binary, no libc and dynamic loader mapped in
#   (1.4 MB less RSS). Names resolve with Go's own resolver (/etc/hosts,
#   /etc/resolv.conf; of nsswitch.conf only files and dns): a host that
#   finds the cloud's name only through another NSS module (LDAP, mDNS)
#   would need it in /etc/hosts or DNS.
# - nethttpomithttp2: net/http without its HTTP/2 code (0.5 MB less). The
#   daemon speaks HTTP/1.1 to the cloud (its tunnel's WebSocket needs it
#   anyway) and serves the dashboard over plain HTTP, where HTTP/2 is never
#   used.
# -ldflags "-s -w" would shrink the file but not the RSS (symbols and DWARF
# are not loaded), so the binary keeps them.
CLD_BUILD := CGO_ENABLED=0 $(GO) build -trimpath -tags nethttpomithttp2

## build: bin/cld, bin/cld-cloud and bin/cld-simhost with the build facts stamped in
## (CLD_OUT names another path for cld, as the demo's second release does)
CLD_OUT ?= bin/cld
build:
	@mkdir -p bin $(dir $(CLD_OUT))
	$(CLD_BUILD) -ldflags "$(LDFLAGS)" -o $(CLD_OUT) ./cmd/cld
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/cld-cloud ./cmd/cld-cloud
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/cld-simhost ./cmd/cld-simhost

## packages: dist/cld_<version>-1_<arch>.deb and .rpm for amd64 and arm64
## (PKG_ARCHES, PKG_FORMATS pick fewer)
## (cgo off, cross-built, symbols stripped: -s -w shrinks the file, not the
## resident memory), made by packaging/tools (nfpm, its own module)
PKG_ARCHES  ?= amd64 arm64
PKG_FORMATS ?= deb,rpm
DIST        ?= dist
# NFPM_BUILD: an nfpm-build binary already built (the package tests build
# it once for all their builds); by default it is built into DIST
NFPM_BUILD  ?=
# BUILD_TAGS: extra build tags for the packaged cld, comma-separated (none by
# default; the self-update test packages a cldtest build)
BUILD_TAGS ?=
comma      := ,
packages:
	@mkdir -p $(DIST)
	$(if $(NFPM_BUILD),,cd packaging/tools && $(GO) build -o $(abspath $(DIST))/nfpm-build .)
	gzip -9n < packaging/cld.8 > $(DIST)/cld.8.gz
	@set -e; for arch in $(PKG_ARCHES); do \
		GOARCH=$$arch $(CLD_BUILD)$(if $(BUILD_TAGS),$(comma)$(BUILD_TAGS)) -ldflags "-s -w $(LDFLAGS)" -o $(DIST)/$$arch/cld ./cmd/cld; \
		VERSION="$(VERSION)" ARCH=$$arch BIN=$(abspath $(DIST))/$$arch/cld MAN=$(abspath $(DIST))/cld.8.gz \
			$(or $(NFPM_BUILD),$(DIST)/nfpm-build) -config packaging/nfpm.yaml -formats $(PKG_FORMATS) -out $(DIST); \
	done

## generate: regenerate the templ components' Go code (*_templ.go) and the
## man page packaging/cld.8 (from the commands' own usage text) and the
## licence list ui/licenses/licenses.json (from the module graph of ./cmd/cld)
generate:
	$(GO) tool templ generate
	$(GO) test ./cmd/cld -run TestManPageCurrent -update >/dev/null
	$(GO) test ./ui/licenses -run TestListCurrent -update >/dev/null

## check-generated: fail when the committed *_templ.go files are stale. It
## generates into a copy of the templates, never in place: `make test`
## compiles the tree meanwhile, and a file rewritten under the compiler
## reads as cut short.
check-generated:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	find . -path ./.git -prune -o \( -name '*.templ' -o -name '*_templ.go' \) -print0 | xargs -0 cp --parents -t "$$tmp"; \
	cp go.mod "$$tmp/"; \
	$(GO) tool templ generate -path "$$tmp" >/dev/null 2>&1 || { $(GO) tool templ generate -path "$$tmp"; exit 1; }; \
	stale=$$(cd "$$tmp" && find . -name '*_templ.go' | sort | while read -r f; do cmp -s "$$f" "$(CURDIR)/$$f" || echo "$${f#./}"; done); \
	if [ -n "$$stale" ]; then \
		echo "ERROR: the generated *_templ.go files are stale; 'go tool templ generate' would change:"; \
		echo "$$stale" | sed 's/^/  /'; \
		echo "Run 'make generate' and commit the *_templ.go files."; \
		exit 1; \
	fi; \
	echo "generated templ code is up to date"

## deps: install the Debian packages the tests use when they are missing:
## chromium-headless-shell (Debian's Chromium without the desktop browser
## around it, for the dashboard's browser tests), tinyproxy (the proxy tests
## start their own), apache2 and nginx (the dashboard behind the host's web
## server; the test starts its own), for the package tests lintian, rpm,
## debootstrap and systemd-container (systemd-nspawn), and tmux and
## whiptail (the MX-ONE menu plugin's test)
DEPS_PKGS := chromium-headless-shell:/usr/bin/chromium-headless-shell tinyproxy:/usr/bin/tinyproxy lintian:/usr/bin/lintian \
	rpm:/usr/bin/rpm debootstrap:/usr/sbin/debootstrap systemd-container:/usr/bin/systemd-nspawn \
	systemd:/usr/bin/systemd-analyze tmux:/usr/bin/tmux whiptail:/usr/bin/whiptail \
	apache2:/usr/sbin/apache2 nginx:/usr/sbin/nginx
deps:
	@missing=""; for p in $(DEPS_PKGS); do [ -x "$${p#*:}" ] || missing="$$missing $${p%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing$$missing (needed by the tests)"; \
		norc=""; case "$$missing" in *apache2*|*nginx*) [ -e /usr/sbin/policy-rc.d ] || { \
		  printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
		  $(SUDO) chmod 755 /usr/sbin/policy-rc.d; norc=1; };; esac; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
		[ -z "$$norc" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; \
		case "$$missing" in *tinyproxy*) \
		  $(SUDO) systemctl disable --now tinyproxy >/dev/null 2>&1 || true; \
		  $(SUDO) update-rc.d tinyproxy disable >/dev/null 2>&1 || true; \
		  pidf=/run/tinyproxy/tinyproxy.pid; \
		  if [ -s $$pidf ]; then $(SUDO) kill "$$(cat $$pidf)" 2>/dev/null || true; fi;; \
		esac; \
		for svc in apache2:/run/apache2/apache2.pid nginx:/run/nginx.pid; do \
		  case "$$missing" in *" $${svc%%:*}"*) \
		    $(SUDO) systemctl disable --now $${svc%%:*} >/dev/null 2>&1 || true; \
		    $(SUDO) update-rc.d $${svc%%:*} disable >/dev/null 2>&1 || true; \
		    pidf=$${svc#*:}; \
		    if [ -s $$pidf ]; then $(SUDO) kill "$$(cat $$pidf)" 2>/dev/null || true; fi;; \
		  esac; \
		done; \
	fi

## tidy-check: go.mod and go.sum of every module (., packaging/tools,
## .ci/tools) are what `go mod tidy` makes of them
MODULES := . packaging/tools .ci/tools
tidy-check:
	@set -e; for m in $(MODULES); do \
		$(GO) -C $$m mod tidy -diff >/dev/null 2>&1 || { \
			$(GO) -C $$m mod tidy -diff || true; \
			echo "ERROR: $$m/go.mod or go.sum is not tidy: run '(cd $$m && go mod tidy)' and commit go.mod and go.sum."; \
			exit 1; }; \
	done; echo "go.mod and go.sum are tidy"

vet:
	@$(GO) vet ./... || { echo "ERROR: go vet found the problems above: fix them (run 'go vet ./...' to check again)."; exit 1; }

fmt-check:
	@unformatted=$$($(GOFMT) -l $$(find . -name '*.go' -not -path './.git/*' -not -path './.demo/*')); \
	if [ -n "$$unformatted" ]; then \
		echo "ERROR: gofmt would change these files (run 'make fmt', or 'gofmt -w' on them):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi

## fmt: gofmt -w every Go file
fmt:
	$(GOFMT) -w $$(find . -name '*.go' -not -path './.git/*' -not -path './.demo/*')

## staticcheck: honnef.co/go/tools' staticcheck (pinned in .ci/tools), with
## its default checks, on every package and its tests
staticcheck:
	@$(TOOL) staticcheck ./... || { echo "ERROR: staticcheck found the problems above: fix them (run 'make staticcheck' to check again; only where a finding is wrong, put '//lint:ignore CHECK reason' on the line before it)."; exit 1; }
	@echo "staticcheck: no findings"

## vulncheck: govulncheck (pinned in .ci/tools) against the offline database
## VULNDB (built when missing): no known vulnerability in the Go toolchain or
## the modules that the code calls into
vulncheck: $(VULNDB)/index/db.json
	@$(TOOL) govulncheck -db file://$(VULNDB) ./... || { echo "ERROR: govulncheck found known vulnerabilities in what ships (above): upgrade each module named to its 'Fixed in' version ('go get MODULE@VERSION', 'go mod tidy', then 'make generate' for the licence list), or the Go toolchain (GOTOOLCHAIN in this Makefile, .ci/run and the README, and 'go mod edit -toolchain=goVERSION' in every go.mod); run 'make vulncheck' to check again."; exit 1; }

# The database: golang.org/x/vulndb's OSV files (a module download) indexed
# by its cmd/indexdb (about a minute, the first time also its build) into a
# temporary directory, renamed into place when complete.
$(VULNDB)/index/db.json:
	@echo "Building the vulnerability database $(VULNDB) from golang.org/x/vulndb@$(VULNDB_VERSION) (once; a few minutes)"
	@set -eo pipefail; \
	src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$$/\1/p'); \
	[ -d "$$src/data/osv" ] || { echo "ERROR: golang.org/x/vulndb@$(VULNDB_VERSION) has no data/osv: check that the proxy serves it ('go mod download -json golang.org/x/vulndb@$(VULNDB_VERSION)') or set VULNDB_VERSION to one it serves."; exit 1; }; \
	mkdir -p $(CLD_TEST_CACHE); rm -rf $(VULNDB).tmp; \
	(cd "$$src" && $(GO) run ./cmd/indexdb -vulns data/osv -out $(VULNDB).tmp); \
	[ -s $(VULNDB).tmp/index/db.json ] || { echo "ERROR: indexdb made no $(VULNDB).tmp/index/db.json"; exit 1; }; \
	rm -rf $(VULNDB); mv $(VULNDB).tmp $(VULNDB)

## lint: the static gates of `make test` (tidy-check, vet, fmt-check,
## staticcheck, vulncheck) without the tests
lint: tidy-check vet fmt-check staticcheck vulncheck

## test: everything CI checks: the generated code, the modules tidy, go vet,
## gofmt, staticcheck, govulncheck, then every test with the race detector;
## each step fails the build on a finding and says what to run to fix it
TEST_FIRST = ./ui/e2e ./packaging ./cmd/cld ./chaos
test:
	@# While the static gates run: what mostly waits on the network (the
	@# Debian packages, make deps; then the package tests' Debian root,
	@# debootstrap, cached: packaging's TestDebianRoot), and every package
	@# compiled (with the race detector, and the cldtest builds of the
	@# commands) at full parallelism: once the tests run, two of go test's
	@# three slots hold the long end-to-end packages, which would leave a
	@# cold build one. The tests start once all are done.
	@log=$$(mktemp); { $(MAKE) --no-print-directory deps && \
	  $(GO) test -count=1 -run '^TestDebianRoot$$' ./packaging; } > $$log 2>&1 & prep=$$!; \
	blog=$$(mktemp); { $(GO) build -race ./... && $(GO) build -race -tags cldtest ./cmd/...; } > $$blog 2>&1 & build=$$!; \
	$(MAKE) --no-print-directory check-generated lint; gates=$$?; \
	wait $$prep; rc=$$?; cat $$log; rm -f $$log; \
	wait $$build; brc=$$?; cat $$blog; rm -f $$blog; \
	[ $$rc = 0 ] || echo "ERROR: make deps or the Debian root failed (above): the tests need them."; \
	[ $$brc = 0 ] || echo "ERROR: go build -race failed (above)."; \
	[ $$gates = 0 ] && [ $$rc = 0 ] && [ $$brc = 0 ]
	# Three packages at a time (-p 3), the long end-to-end ones named first
	# so that they start first (go test starts packages in the order
	# given): they mostly wait on real processes, containers and browsers,
	# so they overlap well on two cores, and the short ones fill the gaps.
	$(GO) test -race -p 3 -timeout 20m $(TEST_FIRST) ./...
	@# The unit's exposure (packaging's TestUnitLint fails when it is no longer OK).
	@command -v systemd-analyze >/dev/null && systemd-analyze security --offline=true packaging/cld.service 2>/dev/null | tail -n 1 || true

## bench: Go benchmarks (tunnel vs direct loopback), then the load harness:
## this project, frp and chisel (built once into CLD_BENCH_CACHE, outside
## the checkout) side by side on real processes, to one origin; prints the
## tables and writes bench/results.json, bench/README.md's results and
## bench/growth.png (BENCH_FLAGS: more flags of `go run ./bench -h`)
CLD_BENCH_CACHE ?= $(HOME)/.cache/cld-bench
BENCH_FLAGS ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3s ./tunnel/
	$(GO) run ./bench -bin bin -cache $(CLD_BENCH_CACHE) $(BENCH_FLAGS)

## chaos: the fault-injection harness (chaos/) with every fault against the
## real binaries, CHAOS_RUNS times in a row (default 3); each prints its
## table, the last one is kept in chaos/results.md. `make test` runs its
## short set (the chaos package is part of ./...; CHAOS=full adds the rest)
.PHONY: chaos
CHAOS_RUNS ?= 3
chaos:
	@set -e; for i in $$(seq $(CHAOS_RUNS)); do echo "chaos: run $$i of $(CHAOS_RUNS)"; \
		CHAOS=full CHAOS_RESULTS=$(abspath chaos/results.md) $(GO) test -count=1 -v -run '^TestChaos$$' -timeout 40m ./chaos; \
	done

## fuzz: every fuzz target for FUZZTIME each (default 30s; FUZZ=regexp picks
## targets; FUZZJOBS at once, FUZZPARALLEL workers each); the seconds and
## executions go to docs/fuzz-ledger.tsv, a crash found stays as a
## seed in the package's testdata/fuzz/
FUZZTIME ?= 30s
FUZZ ?= .
FUZZJOBS ?= 1
FUZZPARALLEL ?= $(shell nproc)
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ='$(FUZZ)' FUZZJOBS=$(FUZZJOBS) FUZZPARALLEL=$(FUZZPARALLEL) bash scripts/fuzz.sh

## fuzz-seeds: keep up to FUZZSEEDS (12) of the newest small inputs each
## target's fuzzing found as seeds in its package's testdata/fuzz/
FUZZSEEDS ?= 12
fuzz-seeds:
	GO=$(GO) FUZZSEEDS=$(FUZZSEEDS) bash scripts/fuzz-seeds.sh

## screenshots: the README's dashboard screenshots (unlinked, standard, debug,
## clock drift; English and German) into docs/screenshots, from a real daemon
## and cloud in headless Chromium
screenshots:
	CLD_SCREENSHOTS=$(abspath docs/screenshots) $(GO) test -count=1 -run '^TestScreenshots$$' ./ui/e2e

## demo: run the reference cloud and the daemon with its dashboard locally, on
## a simulated host of PLATFORM: msl (default: MSL with MiVB, MBG and a
## gateway core), mxone, smbc (the Controller Manager), osv or generic
PLATFORM ?= msl
demo:
	PLATFORM=$(PLATFORM) bash scripts/demo.sh

clean:
	rm -rf bin dist .demo
