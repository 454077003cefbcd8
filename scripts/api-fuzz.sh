#!/usr/bin/env bash
# Fuzzes the admin API from its own OpenAPI document with Schemathesis (a
# third-party OpenAPI fuzzer): starts a fresh server on a free loopback port
# with a throwaway data directory, runs every operation with generated
# requests, and checks that each answer has a documented status, the
# documented shape and content type, and that nothing answers 5xx.
#
# Left out on purpose:
# - the check that every schema-valid request is accepted (ST202): the API
#   rightly refuses some schema-valid inputs for reasons a schema cannot
#   express (a script that does not compile, deleting the default app), and
#   documents those refusals;
# - revoking tokens and signing out: the fuzzer would revoke its own token.
#
# Usage: scripts/api-fuzz.sh [max examples per operation, default 50]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-50}"
venv="${PICLOUD_FUZZ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/picloud/schemathesis}"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi
cargo build --release -p picloud
bin="${CARGO_TARGET_DIR:-target}/release/picloud"
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="fuzz-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PICLOUD_ADMIN_TOKEN="$token" PICLOUD_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$data/server.log"; exit 1; }
  sleep 0.1
done
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --url "http://127.0.0.1:$port/api/v1/admin" \
  -H "Authorization: Bearer $token" \
  --max-examples "$examples" \
  --checks all --exclude-checks positive_data_acceptance \
  --exclude-operation-id auth_revoke_token --exclude-operation-id auth_logout
if grep -q panicked "$data/server.log"; then
  echo "the server log shows a panic:" >&2
  grep -B2 -A10 panicked "$data/server.log" >&2
  exit 1
fi
