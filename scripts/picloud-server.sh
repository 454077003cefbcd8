# Sourced by scripts that need a throwaway `picloud serve` (api-fuzz.sh, soak.sh).
#
# start_picloud BIN DATA_DIR [NAME=VALUE ...]
#   Starts `BIN serve` on a free loopback port with its data in DATA_DIR and
#   the given environment, and returns once the server's banner names its
#   address. Sets `server` (its pid) and `base` (http://127.0.0.1:PORT). The
#   server log goes to DATA_DIR/server.err. Reading the banner, rather than
#   polling, means no guessed port and no sleep; the first start on a fresh
#   data directory compiles the sandbox, which can take minutes.
start_picloud() {
  local bin=$1 data=$2 line
  shift 2
  # The banner arrives on stdout; `exec` makes $! the server itself.
  exec {picloud_stdout}< <(exec env "$@" "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" 2>"$data/server.err")
  server=$!
  while IFS= read -r -u "$picloud_stdout" line; do
    case $line in
      "PiCloud is listening on http://"*)
        base=${line#PiCloud is listening on }
        base=${base%% *}
        return 0
        ;;
    esac
  done
  cat "$data/server.err" >&2
  echo "picloud exited before it was listening" >&2
  return 1
}
