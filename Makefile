# PiCloud developer entry points. `make run` and `make test` are the two
# commands in the README; both install what they need first.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: setup setup-test build run test lint bench api-fuzz

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh test

build: setup
	$(CARGO) build --release -p picloud

run: build
	$(CARGO) run --release -p picloud -- serve

# Everything CI checks: formatting, lints, and every test (release profile,
# so the wasm guest runs at production speed and shares the build with `run`).
test: setup-test lint
	$(CARGO) test --workspace --release

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

bench: setup
	$(CARGO) bench -p executor-core --bench execution
	$(CARGO) bench -p orchestrator-core --bench dispatch

# Fuzz the admin API from its OpenAPI document with Schemathesis (needs PyPI
# for the first run; not part of `make test`). EXAMPLES=200 for a longer run.
api-fuzz: setup
	scripts/api-fuzz.sh $(EXAMPLES)
