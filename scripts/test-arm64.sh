#!/usr/bin/env bash
# ARM64 for real: cross-compile `picloud` for aarch64-unknown-linux-gnu and
# smoke-test that very binary under user-mode qemu (docs/deploy.md, "ARM
# boards"). Part of `make test`; `make arm64-test` runs only this.
#
#  1. Build the x86_64 binary as `make build` does (a no-op when it is fresh):
#     its build compiles the wasm guest, and that file is the guest.
#  2. Cross-compile with PICLOUD_GUEST_WASM naming that same file, so both
#     binaries embed one guest. Each binary carries the SHA-256 that
#     executor-core's build script computed from the bytes it embedded
#     (GUEST_SHA256); both must carry the guest file's hash, and the running
#     aarch64 server must name its compiled-guest cache file after it.
#  3. Under qemu-aarch64, on a fresh data directory (so the aarch64 binary
#     pre-initializes and compiles the guest itself, with Cranelift's aarch64
#     backend, under emulation): `picloud serve` on a free loopback port;
#     /healthz; the seeded Hello World at /hello; a `loop { }` script
#     deployed through the admin API and stopped with `500 fuel_exhausted`,
#     which the execution log records; the data plane: a script's kv write
#     read back, a document inserted, fetched and found by a query, and a
#     `* * * * *` cron trigger fired by the scheduler itself (its script's
#     counter in kv, its execution recorded as `cron`); SIGTERM and a clean
#     exit. Prints how long the start took and which instance allocator the
#     server chose.
#  4. Again under `qemu-aarch64 -R 512G`, which gives the program the 512 GiB
#     address space of a 39-bit ARM64 kernel (Raspberry Pi OS), with
#     --max-concurrent 128: the pool of 128 slots (about 4 GiB of address
#     space each) cannot be reserved there, so the server must log the
#     fallback, report `allocator=OnDemand`, and still serve Hello World and
#     stop the loop at its fuel limit.
#
# Environment: CARGO_TARGET_DIR (as for cargo); ARM64_START_TIMEOUT, seconds
# to wait for the first start (default 600; it took about 35 s on a 2-core
# x86_64 VM); QEMU_LD_PREFIX, the aarch64 sysroot (default
# /usr/aarch64-linux-gnu, from Debian's libc6-arm64-cross).
set -euo pipefail
cd "$(dirname "$0")/.."

triple=aarch64-unknown-linux-gnu
sysroot=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
start_timeout=${ARM64_START_TIMEOUT:-600}
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
guest="$target_dir/picloud-guest/wasm32-unknown-unknown/release/picloud_guest.component.wasm"
x86_bin="$target_dir/release/picloud"
arm_bin="$target_dir/$triple/release/picloud"

say() { printf '[arm64] %s\n' "$*"; }
fail() { printf '[arm64] FAIL: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------
missing=()
for tool in cargo rustup curl sha256sum qemu-aarch64 aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] || missing+=("$sysroot/lib/ld-linux-aarch64.so.1")
if [ ${#missing[@]} -gt 0 ]; then
  fail "missing: ${missing[*]}. 'scripts/setup.sh test' installs them (as root: Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user; the Rust target $triple)."
fi
rustup target list --installed | grep -qx "$triple" ||
  fail "the Rust target $triple is not installed: rustup target add $triple (scripts/setup.sh test does)"

# --- build ------------------------------------------------------------------
# Exactly `make build`'s command, so this never rebuilds what it built.
(unset PICLOUD_GUEST_WASM; cargo build --release -p picloud -p picloud-manager -p picloud-orchestrator -p picloud-executor)
[ -f "$guest" ] || fail "the x86_64 build left no guest at $guest"
guest_sha=$(sha256sum "$guest" | cut -d' ' -f1)
say "guest: $guest ($(stat -c %s "$guest") bytes, sha256 $guest_sha)"

started=$SECONDS
# The linker and C compiler for the target come from .cargo/config.toml.
PICLOUD_GUEST_WASM=$guest cargo build --release -p picloud --target "$triple"
say "aarch64 build: $((SECONDS - started)) s"
machine=$(od -An -tx1 -j18 -N2 "$arm_bin" | tr -d ' \n')
[ "$machine" = b700 ] || fail "$arm_bin is not an aarch64 ELF file (e_machine bytes $machine)"

for bin in "$x86_bin" "$arm_bin"; do
  grep -qaF "$guest_sha" "$bin" || fail "$bin does not embed the guest $guest_sha"
done
say "both binaries embed the guest $guest_sha"

# --- smoke test under qemu ----------------------------------------------------
data=$(mktemp -d)
server=
stop_server() {
  [ -n "$server" ] || return 0
  kill -TERM "$server" 2>/dev/null || true
  # Bounded: a graceful stop only waits for in-flight requests, and there
  # are none; past the deadline the process is killed and the stop fails.
  local deadline=$((SECONDS + 60)) status=0
  while kill -0 "$server" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 0.2
  done
  if kill -0 "$server" 2>/dev/null; then
    kill -KILL "$server" 2>/dev/null || true
    status=1
  fi
  wait "$server" || status=$?
  exec {server_out}<&-
  server=
  return "$status"
}
on_exit() {
  local status=$?
  stop_server || true
  if [ "$status" -ne 0 ] && [ -f "$data/server.err" ]; then
    echo "--- server log (last 40 lines) ---" >&2
    tail -n 40 "$data/server.err" >&2
  fi
  rm -rf "$data"
}
trap on_exit EXIT

token="arm64-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# start_server TIMEOUT [QEMU_OPTION ...] -- [SERVE_OPTION ...]
# Starts the aarch64 `picloud serve` under qemu on a free loopback port with
# the data in $data, and returns once its banner names the address (the
# port the OS picked; no guessing, no sleep). Sets `server` (the qemu
# process, which passes signals on to the program) and `base`.
start_server() {
  local timeout=$1 qemu_args=() line deadline remaining
  shift
  while [ "$1" != -- ]; do qemu_args+=("$1"); shift; done
  shift
  exec {server_out}< <(exec env PICLOUD_ADMIN_TOKEN="$token" \
    qemu-aarch64 -L "$sysroot" "${qemu_args[@]}" "$arm_bin" \
    serve --listen 127.0.0.1:0 --data-dir "$data" "$@" 2>"$data/server.err")
  server=$!
  base=
  deadline=$((SECONDS + timeout))
  while [ -z "$base" ]; do
    remaining=$((deadline - SECONDS))
    [ "$remaining" -gt 0 ] || fail "the server did not listen within $timeout s"
    if IFS= read -r -t "$remaining" -u "$server_out" line; then
      case $line in
        "PiCloud is listening on http://"*)
          base=${line#PiCloud is listening on }
          base=${base%% *}
          ;;
      esac
    elif kill -0 "$server" 2>/dev/null; then
      fail "the server did not listen within $timeout s"
    else
      fail "the server exited before it was listening"
    fi
  done
}

# Requests: bounded by curl's own timeout, generous for emulation. The
# default app, which holds Hello World, serves the host `localhost`; the
# admin API answers on the admin host 127.0.0.1 only (docs/security.md).
http() { # METHOD PATH [JSON]; prints the body, then a line with the status
  local host=localhost
  case $2 in /api/v1/admin* | /api/v1/execute*) host=${base#http://} ;; esac
  curl -sS --max-time 120 -o - -w '\n%{http_code}' -X "$1" "$base$2" -H "Host: $host" \
    -H "Authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}
}
expect() { # WHAT WANT_STATUS RESPONSE
  local status=${3##*$'\n'}
  [ "$status" = "$2" ] || fail "$1: status $status, expected $2; body: ${3%$'\n'*}"
}
json_field() { # NAME JSON: the first string value of "NAME"
  grep -o "\"$1\":\"[^\"]*\"" <<<"$2" | head -1 | cut -d'"' -f4 || true
}
allocator() { # the allocator the running server reported
  grep -o 'executor ready allocator=[A-Za-z]*' "$data/server.err" | head -1 | cut -d= -f2 || true
}

# hello_and_fuel: Hello World answers, and the `loop { }` at /spin (deployed
# by the first run) is stopped by its fuel limit and logged as such.
hello_and_fuel() {
  local response
  response=$(http GET '/hello?name=ARM64') || fail "GET /hello: no answer"
  expect /hello 200 "$response"
  [ "${response%$'\n'*}" = "Hello, ARM64!" ] || fail "/hello answered: ${response%$'\n'*}"
  say "/hello: ${response%$'\n'*}"

  response=$(http GET /spin) || fail "GET /spin: no answer"
  expect /spin 500 "$response"
  [ "$(json_field code "${response%$'\n'*}")" = fuel_exhausted ] ||
    fail "/spin should stop with fuel_exhausted: ${response%$'\n'*}"
  response=$(http GET "/api/v1/admin/executions?script=$spin&status=error&limit=1") ||
    fail "reading the execution log: no answer"
  expect "the execution log" 200 "$response"
  [ "$(json_field code "${response%$'\n'*}")" = fuel_exhausted ] ||
    fail "the execution log should record fuel_exhausted: ${response%$'\n'*}"
  say "/spin: stopped with fuel_exhausted ($(grep -o '"message":"[^"]*"' <<<"$response" | head -1 | cut -d'"' -f4))"

  response=$(http GET /hello) || fail "GET /hello after the loop: no answer"
  expect "/hello after the loop" 200 "$response"
}

say "first start under qemu-aarch64 (fresh data directory: the guest is compiled under emulation; up to $start_timeout s)"
started=$SECONDS
start_server "$start_timeout" --
startup=$((SECONDS - started))
say "listening on $base after $startup s ($(grep -o 'compiled and cached the guest component.*elapsed_ms=[0-9]*' "$data/server.err" | grep -o 'elapsed_ms=[0-9]*' || echo 'no compile logged'))"
say "instance allocator: $(allocator)"

# The running binary names its compiled-guest cache file after the hash of
# the guest it embeds.
cache_name="guest-${guest_sha:0:16}-"
compgen -G "$data/cache/$cache_name*.cwasm" >/dev/null ||
  fail "the server compiled a guest other than $guest_sha: $(ls "$data/cache")"

response=$(http GET /healthz) || fail "GET /healthz: no answer"
expect /healthz 200 "$response"
say "/healthz: ${response%$'\n'*}"

# A cron trigger for every minute, made first so that the wait for the
# scheduler to fire it overlaps the other checks.
deploy_script() { # NAME SOURCE [ROUTE_PATH]: the script's id
  local response id
  response=$(http POST /api/v1/admin/scripts "{\"app_id\": \"default\", \"name\": \"$1\", \"source\": \"$2\"}") ||
    fail "uploading $1: no answer"
  expect "uploading $1" 201 "$response"
  id=$(json_field id "${response%$'\n'*}")
  if [ -n "${3:-}" ]; then
    response=$(http POST "/api/v1/admin/scripts/$id/routes" "{\"method\": \"GET\", \"path\": \"$3\"}") ||
      fail "routing $3: no answer"
    expect "routing $3" 201 "$response"
  fi
  echo "$id"
}
tick=$(deploy_script tick 'kv::incr(\"ticks\")')
response=$(http POST /api/v1/admin/apps/default/triggers '{"script": "tick", "schedule": "* * * * *"}') ||
  fail "creating the cron trigger: no answer"
expect "creating the cron trigger" 201 "$response"
cron_made=$SECONDS
say "cron trigger '* * * * *' for tick, next run at $(json_field next_run_at "${response%$'\n'*}")"

response=$(http POST /api/v1/admin/scripts '{"app_id": "default", "name": "spin", "source": "loop { }"}') ||
  fail "uploading the loop: no answer"
expect "uploading the loop" 201 "$response"
spin=$(json_field id "${response%$'\n'*}")
response=$(http POST "/api/v1/admin/scripts/$spin/routes" '{"method": "GET", "path": "/spin"}') ||
  fail "routing /spin: no answer"
expect "routing /spin" 201 "$response"
hello_and_fuel

# The data plane on aarch64: kv and documents from a script, through the
# server's services, and read back through the admin API too.
deploy_script data 'kv::set(\"board\", #{ name: \"pi5\", cores: 4 }); let id = docs::insert(\"boards\", #{ name: \"pi5\", cores: 4 }); let found = docs::find(\"boards\", #{ where: #{ cores: #{ gte: 4 } } }); #{ kv: kv::get(\"board\").cores, doc: docs::get(\"boards\", id).name, found: found.docs.len(), id: id }' /data >/dev/null
response=$(http GET /data) || fail "GET /data: no answer"
expect /data 200 "$response"
grep -q '"doc":"pi5","found":1' <<<"$response" && grep -q '"kv":4' <<<"$response" ||
  fail "/data answered: ${response%$'\n'*}"
doc=$(json_field id "${response%$'\n'*}")
response=$(http GET /api/v1/admin/apps/default/kv/board) || fail "reading the key: no answer"
expect "reading the key" 200 "$response"
grep -q '"value":{"cores":4,"name":"pi5"}' <<<"$response" || fail "the key reads: ${response%$'\n'*}"
response=$(http GET "/api/v1/admin/apps/default/collections/boards/documents/$doc") || fail "reading the document: no answer"
expect "reading the document" 200 "$response"
say "data plane: a script's kv write and document $doc read back by the script and through the admin API"

# The scheduler fires the trigger at the next whole minute.
deadline=$((cron_made + 150))
until response=$(http GET /api/v1/admin/apps/default/kv/ticks) && [ "${response##*$'\n'}" = 200 ]; do
  [ $SECONDS -lt $deadline ] || fail "the cron trigger did not fire within 150 s of its creation"
  sleep 1
done
response=$(http GET "/api/v1/admin/executions?script=$tick&limit=1") || fail "reading tick's executions: no answer"
grep -q '"trigger":"cron"' <<<"$response" || fail "tick's execution is not recorded as cron: ${response%$'\n'*}"
say "cron: the scheduler fired tick $((SECONDS - cron_made)) s after the trigger was made"

stop_server || fail "the server did not stop cleanly on SIGTERM"
say "stopped cleanly"

say "second start: a 39-bit address space (qemu -R 512G) and --max-concurrent 128"
start_server 120 -R 512G -- --max-concurrent 128
grep -q 'falling back to on-demand allocation' "$data/server.err" ||
  fail "the server did not log the fallback to on-demand allocation"
[ "$(allocator)" = OnDemand ] || fail "the server reports allocator=$(allocator), expected OnDemand"
say "instance allocator: OnDemand ($(grep -o 'mmap failed to reserve 0x[0-9a-f]* bytes' "$data/server.err" | head -1))"
hello_and_fuel
stop_server || fail "the server did not stop cleanly on SIGTERM"

say "passed (first start under qemu: $startup s)"
