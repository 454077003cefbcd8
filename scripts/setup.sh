#!/usr/bin/env bash
# Installs what building and testing PiCloud needs on a fresh Debian machine:
# the Rust targets (always) and, when run as root, the Debian packages the
# tests and tools use. Idempotent and quick when everything is present.
set -euo pipefail

targets=(wasm32-wasip2)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

# Debian packages: command -> package.
declare -A packages=([jq]=jq [curl]=curl [python3]=python3)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
# PostgreSQL server binaries: the test suites run every database test against a
# throwaway cluster as well as SQLite.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "setup: please install these Debian packages (as root): ${missing[*]}" >&2
    exit 1
  fi
fi
