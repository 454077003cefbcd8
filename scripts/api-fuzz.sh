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
token="fuzz-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server=
trap '[ -z "$server" ] || { kill $server 2>/dev/null; wait $server 2>/dev/null; }; rm -rf "$data"' EXIT
# shellcheck source=scripts/picloud-server.sh
. scripts/picloud-server.sh
start_picloud "$bin" "$data" PICLOUD_ADMIN_TOKEN="$token" PICLOUD_LOG=warn
"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --url "$base/api/v1/admin" \
  -H "Authorization: Bearer $token" \
  --max-examples "$examples" \
  --checks all --exclude-checks positive_data_acceptance \
  --exclude-operation-id auth_revoke_token --exclude-operation-id auth_logout
if grep -q panicked "$data/server.err"; then
  echo "the server log shows a panic:" >&2
  grep -B2 -A10 panicked "$data/server.err" >&2
  exit 1
fi
