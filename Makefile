# PiCloud developer entry points. `make run` and `make test` are the two
# commands in the README; both install what they need first.

CARGO ?= cargo
NPM ?= npm
export CARGO_TERM_COLOR ?= never
# The server binary the dashboard's browser tests start.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
export PICLOUD_BIN ?= $(TARGET_DIR)/release/picloud
# The aarch64 binary scripts/test-arm64.sh cross-compiles, which the arm64
# image test packages.
ARM64_BIN := $(TARGET_DIR)/aarch64-unknown-linux-gnu/release/picloud

.PHONY: openapi setup setup-test dashboard-deps dashboard build run test lint e2e screenshots image-test arm64-test arm64-image-test bench api-fuzz fuzz load soak

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh test

# `npm ci` only when the lockfile changed since the last install.
dashboard-deps: dashboard/node_modules/.package-lock.json
dashboard/node_modules/.package-lock.json: dashboard/package-lock.json
	cd dashboard && $(NPM) ci --no-audit --no-fund
	touch $@

# The dashboard's static build, which the `picloud` binary embeds; rebuilt
# only when its sources change (cargo re-embeds whenever build/ is touched).
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/static -type f 2>/dev/null) \
	dashboard/package-lock.json dashboard/svelte.config.js dashboard/vite.config.ts
dashboard: dashboard/build/index.html
dashboard/build/index.html: $(DASHBOARD_SOURCES) dashboard/node_modules/.package-lock.json
	cd dashboard && $(NPM) run build

# The all-in-one server and the three cluster-mode binaries (docs/deploy.md).
SERVER_PACKAGES := -p picloud -p picloud-manager -p picloud-orchestrator -p picloud-executor
build: setup dashboard
	$(CARGO) build --release $(SERVER_PACKAGES)

run: build
	$(PICLOUD_BIN) serve

# Everything CI checks: formatting, lints, every Rust test (release profile,
# so the wasm guest runs at production speed and shares the build with `run`;
# it includes the Caddy and cluster tests), the dashboard's end-to-end tests
# in Chromium against the built binary, the Docker image built and run with
# buildah, the ARM64 build smoke-tested under qemu, and the linux/arm64 image
# built around that binary and run under qemu.
test: setup-test lint build
	$(CARGO) test --workspace --release
	cd dashboard && $(NPM) run test:e2e
	scripts/test-docker.sh
	scripts/test-arm64.sh
	PICLOUD_IMAGE_ARCH=arm64 PICLOUD_BIN=$(ARM64_BIN) scripts/test-docker.sh

# Only the image test: docker/Dockerfile built with buildah around the
# release binary, then run (docs/deploy.md).
image-test: build
	scripts/test-docker.sh

# Only the ARM64 smoke test: cross-compile, then run under qemu-aarch64.
arm64-test: setup-test dashboard
	scripts/test-arm64.sh

# The ARM64 smoke test, then the linux/arm64 image built around its binary
# and run under qemu (docs/deploy.md, "ARM boards").
arm64-image-test: arm64-test
	PICLOUD_IMAGE_ARCH=arm64 PICLOUD_BIN=$(ARM64_BIN) scripts/test-docker.sh

# The dashboard's copy of the admin API's OpenAPI document, from which
# `npm run check` generates its types; a test fails while the copy is stale.
openapi: build
	$(PICLOUD_BIN) openapi > dashboard/openapi.json

lint: dashboard-deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings
	cd dashboard && $(NPM) run check && $(NPM) run lint && $(NPM) run test:unit

# Only the browser tests (after `make build`).
e2e: build
	cd dashboard && $(NPM) run test:e2e

# The browser tests, writing docs/screenshots/ (the e2e run leaves them
# alone otherwise, so `git status` stays quiet).
screenshots: build
	cd dashboard && $(NPM) run screenshots

# The benchmark suite: ten benchmarks, one table of ratios against their
# baselines (docs/performance.md). BENCH="http memory" runs only those.
bench: setup dashboard
	$(CARGO) bench -p picloud --bench suite -- $(BENCH)

# Fuzz the admin API from its OpenAPI document with Schemathesis (needs PyPI
# for the first run; not part of `make test`). EXAMPLES=200 for a longer run.
api-fuzz: setup
	scripts/api-fuzz.sh $(EXAMPLES)

# Run each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (installs cargo-fuzz
# on first use; not part of `make test`). docs/fuzzing.md explains the targets.
FUZZ_SECONDS ?= 60
fuzz: setup
	scripts/fuzz.sh $(FUZZ_SECONDS)

# A bounded load test against a real server: 100,000 requests at 64
# connections over a mix of scripts; only the deliberate `fuel_exhausted` may
# fail (scripts/soak.sh; docs/reliability.md#load-and-soak; not in `make test`).
load: setup
	scripts/soak.sh load

# The same mix for SOAK_SECONDS while sampling the server's RSS every 10 s;
# fails if RSS keeps growing after the first minute.
SOAK_SECONDS ?= 600
soak: setup
	scripts/soak.sh soak $(SOAK_SECONDS)
