#!/usr/bin/env bash
# Load and soak runs against a real `picloud serve` (docs/reliability.md, "Load
# and soak"): a fresh server on a free loopback port with a throwaway data
# directory, a mix of scripts deployed through the admin API, and
# picloud-loadgen driving closed-loop keep-alive connections at it.
#
#   scripts/soak.sh load            LOAD_REQUESTS (100000) requests at LOAD_CONNECTIONS (64)
#   scripts/soak.sh soak [SECONDS]  load for SECONDS (600) at SOAK_CONNECTIONS (64),
#                                   sampling the server's RSS every 10 s
#
# The mix: Hello World, a JSON echo with a route parameter, a CPU-bound loop,
# a script that logs three lines, and `loop {}`, which runs out of fuel. Its
# `500 fuel_exhausted` is the deliberate limit error and the only non-2xx the
# run accepts; any other status, or any transport error, fails the run.
#
# Every request writes an execution record. The defaults are kept on purpose:
# retention (PICLOUD_LOG_MAX_PER_APP, 10,000 records) bounds that table, so the
# database stops growing once it holds that many; the end of the run prints
# how many records are kept and the database's size.
#
# The soak passes when the load passes and the server's RSS after the first
# minute (warm-up) grows by less than SOAK_MAX_SLOPE MiB per minute (default
# 1), fitted by least squares over the post-warm-up samples. The slope is
# judged only when those cover at least 5 minutes: a shorter window is
# dominated by one-off steps (the first retention pass, allocator growth)
# and is printed but not judged.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-load}
case $mode in
  load) ;;
  soak) soak_seconds=${2:-600} ;;
  *) echo "usage: $0 load | soak [SECONDS]" >&2; exit 2 ;;
esac
warmup=60
interval=10

cargo build --release -p picloud -p loadgen
bin="${CARGO_TARGET_DIR:-target}/release"

data=$(mktemp -d)
token="load-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server=
stop_server() {
  [ -n "$server" ] || return 0
  kill -TERM "$server" 2>/dev/null || true
  local status=0
  wait "$server" || status=$?
  server=
  return "$status"
}
trap 'stop_server || true; rm -rf "$data"' EXIT

# shellcheck source=scripts/picloud-server.sh
. scripts/picloud-server.sh
start_picloud "$bin/picloud" "$data" PICLOUD_ADMIN_TOKEN="$token"
echo "server pid $server listening on $base (data in $data)"

json_string() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
admin() { # METHOD PATH [JSON]
  curl -sS --fail-with-body -X "$1" "$base/api/v1/admin$2" \
    -H "Authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}
}
deploy() { # NAME METHOD ROUTE SOURCE
  local script id
  script=$(admin POST /scripts "{\"app_id\": \"default\", \"name\": \"$1\", \"source\": $(json_string "$4")}")
  id=$(grep -o '"id":"[^"]*"' <<<"$script" | head -1 | cut -d'"' -f4)
  admin POST "/scripts/$id/routes" "{\"method\": \"$2\", \"path\": \"$3\"}" >/dev/null
  echo "deployed $1: $2 $3"
}

# GET /hello (Hello World) is in every fresh install's default app.
deploy echo POST /echo/:id '#{ id: request.params.id, query: request.query, body: request.json() }'
deploy cpu GET /cpu 'let sum = 0;
for i in 0..10000 { sum += i * i % 7; }
#{ iterations: 10000, sum: sum }'
deploy logs GET /logs/:name 'log::info(`request for ${request.params.name}`);
log::warn("a warning line");
log::error("an error line (deliberate: the request still succeeds)");
`logged 3 lines for ${request.params.name}`'
deploy spin GET /spin 'loop {}'

# Weights: mostly cheap requests. Hello World takes ~0.3 ms of server CPU, the
# 10k-iteration loop ~6 ms and `loop {}` its whole fuel budget (~30 ms), so one
# request in 50 keeps the limit path busy without the run turning into a fuel
# benchmark (on an idle x86-64 core; see docs/reliability.md).
targets=(
  -t 'weight=15 GET /hello?name=load localhost'
  -t 'weight=12 POST /echo/42?page=1 localhost body={"n":1,"tags":["a","b"]}'
  -t 'weight=10 GET /cpu localhost'
  -t 'weight=12 GET /logs/soak localhost'
  -t 'weight=1 expect=500:fuel_exhausted GET /spin localhost'
)

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server/status"; }
echo "server RSS before load: $(( $(rss_kib) / 1024 )) MiB"

loadgen_status=0
if [ "$mode" = load ]; then
  requests=${LOAD_REQUESTS:-100000}
  connections=${LOAD_CONNECTIONS:-64}
  echo "+ picloud-loadgen --url $base --connections $connections --requests $requests ${targets[*]}"
  "$bin/picloud-loadgen" --url "$base" --connections "$connections" --requests "$requests" \
    "${targets[@]}" || loadgen_status=$?
  echo "server RSS after load: $(( $(rss_kib) / 1024 )) MiB"
else
  connections=${SOAK_CONNECTIONS:-64}
  echo "+ picloud-loadgen --url $base --connections $connections --duration ${soak_seconds}s ${targets[*]}"
  "$bin/picloud-loadgen" --url "$base" --connections "$connections" --duration "${soak_seconds}s" \
    "${targets[@]}" >"$data/loadgen.out" &
  loadgen=$!
  samples="$data/rss.tsv"
  start=$(date +%s)
  next=0
  while kill -0 "$loadgen" 2>/dev/null; do
    now=$(( $(date +%s) - start ))
    if [ "$now" -ge "$next" ]; then
      printf '%s\t%s\n' "$now" "$(rss_kib)" | tee -a "$samples"
      next=$(( next + interval ))
    fi
    sleep 1
  done
  printf '%s\t%s\n' "$(( $(date +%s) - start ))" "$(rss_kib)" | tee -a "$samples"
  wait "$loadgen" || loadgen_status=$?
  cat "$data/loadgen.out"
  echo
  # Least-squares slope over the samples taken after the warm-up minute.
  read -r start_mib warm_mib end_mib max_mib slope window <<<"$(awk -v w="$warmup" '
    { t[NR] = $1; r[NR] = $2 / 1024; if (r[NR] > max) max = r[NR] }
    warm == "" && $1 >= w { warm = r[NR] }
    $1 >= w { n++; st += $1 / 60; sr += r[NR]; stt += ($1 / 60) ^ 2; str += ($1 / 60) * r[NR] }
    END {
      slope = (n > 1 && n * stt - st * st > 0) ? (n * str - st * sr) / (n * stt - st * st) : 0
      printf "%.1f %.1f %.1f %.1f %.3f %d\n", r[1], (warm == "" ? r[NR] : warm), r[NR], max, slope, t[NR] - w
    }' "$samples")"
  printf '%-34s %10s\n' "server RSS" "MiB" \
    "start (before load)" "$start_mib" \
    "after warm-up (${warmup} s)" "$warm_mib" \
    "end" "$end_mib" \
    "max" "$max_mib" \
    "slope after warm-up (MiB/min)" "$slope"
fi

kept=$(admin GET '/apps/default/stats?buckets=1' | grep -o '"total":[0-9]*' | head -1 | cut -d: -f2)
echo "execution records kept: $kept (PICLOUD_LOG_MAX_PER_APP default 10000);" \
  "database files: $(cd "$data" && du -h picloud.db* | awk '{ printf " %s %s", $2, $1 }')"

if grep -q panicked "$data/server.err"; then
  echo "FAIL: the server log shows a panic:" >&2
  grep -B2 -A10 panicked "$data/server.err" >&2
  exit 1
fi
server_status=0
stop_server || server_status=$?
echo "server stopped with status $server_status"
[ "$loadgen_status" -eq 0 ] || { echo "FAIL: picloud-loadgen reported unexpected responses or errors" >&2; exit 1; }
[ "$server_status" -eq 0 ] || { echo "FAIL: the server did not stop cleanly" >&2; exit 1; }
if [ "$mode" = soak ]; then
  if [ "$window" -lt 300 ]; then
    echo "RSS slope not judged: only ${window} s of samples after the warm-up (needs 300)"
  elif ! awk -v s="$slope" -v m="${SOAK_MAX_SLOPE:-1}" 'BEGIN { exit !(s < m) }'; then
    echo "FAIL: RSS grows by $slope MiB/min after warm-up (limit ${SOAK_MAX_SLOPE:-1})" >&2
    exit 1
  fi
fi
echo PASS
