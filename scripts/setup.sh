#!/usr/bin/env bash
# Installs what PiCloud needs on a fresh Debian machine: the Rust target for
# the wasm guest (always) and, when run as root, Debian packages.
#   scripts/setup.sh        what building and running needs
#   scripts/setup.sh test   also what the test suites need (PostgreSQL server)
# Idempotent, and quick when everything is present.
set -euo pipefail

installed=$(rustup target list --installed)
grep -qx wasm32-wasip2 <<<"$installed" || rustup target add wasm32-wasip2

missing=()
if [ "${1:-}" = test ]; then
  for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^$component" || rustup component add "$component"
  done
  # The database suites run against a throwaway PostgreSQL cluster as well as
  # SQLite; they need the server binaries (initdb, pg_ctl) and `runuser`.
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "setup: please install these Debian packages (as root): ${missing[*]}" >&2
    exit 1
  fi
fi
