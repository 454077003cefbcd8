#!/usr/bin/env bash
# The image test: builds docker/Dockerfile (the file users build, not a copy)
# with buildah around the release binary the tests already built, runs the
# image and checks, from the host, what a `docker run` user would see:
#
#   - the image declares the non-root user, the /data volume, the port and a
#     HEALTHCHECK, and /data in the image belongs to that user;
#   - the server starts from the image's ENTRYPOINT and CMD as that user,
#     with its data directory on the volume (a host directory mounted at
#     /data), and writes its database, key and guest cache there;
#   - /healthz answers 200 and the seeded Hello World route answers;
#   - the image's HEALTHCHECK command passes while the server runs and fails,
#     with a reason, once it has stopped; SIGTERM stops the server gracefully.
#
# PICLOUD_IMAGE_ARCH=arm64 does all of this for the linux/arm64 image a
# Raspberry Pi pulls, on an x86-64 machine: the aarch64 binary that
# scripts/test-arm64.sh cross-compiled goes into an arm64 Debian root (made
# by debootstrap, its second stage under emulation), and every program of the
# image (the server, `id`, `stat`, the HEALTHCHECK) runs under qemu-user
# through binfmt_misc, exactly as the image's own ENTRYPOINT, user and volume
# say. The test then also checks that the image and its binary are arm64 and
# that the programs in it see an aarch64 machine.
#
# There is no Docker engine on the CI machines, so buildah builds
# (`--isolation chroot --storage-driver vfs`) and runs (`buildah run`, host
# network) the image. The base image is a Debian root made with debootstrap
# and cached under $PICLOUD_CI_CACHE, so only the first run downloads it; the
# build arguments point the Dockerfile at that base and at the prebuilt
# binaries instead of its Rust builder stage.
#
# Environment:
#   PICLOUD_IMAGE_ARCH  amd64 or arm64 (default: this machine's architecture)
#   PICLOUD_BIN         the server binary (default: $CARGO_TARGET_DIR/release/picloud,
#                       else target/release/picloud; for another architecture
#                       $CARGO_TARGET_DIR/<its triple>/release/picloud); server
#                       binaries beside it (picloud-manager, …) go in too
#   PICLOUD_CI_CACHE    cache directory (default /var/tmp/picloud-ci)
#   PICLOUD_DEBIAN_MIRROR  Debian mirror for the base (default http://deb.debian.org/debian)
#   PICLOUD_IMAGE_TEST_TIMEOUT  seconds to wait for the server to start (default 180)
#
# Needs root (buildah's chroot isolation and debootstrap do), buildah and
# debootstrap, and for another architecture qemu-user-static and a kernel
# with binfmt_misc (the test mounts it and registers the emulator with the
# F flag when they are not yet): `scripts/setup.sh test` installs them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKERFILE=$ROOT/docker/Dockerfile

# This machine's architecture as image platforms name it.
go_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    *) uname -m ;;
  esac
}
HOST_ARCH=$(go_arch)
ARCH=${PICLOUD_IMAGE_ARCH:-$HOST_ARCH}
case $ARCH in
  amd64) TRIPLE=x86_64-unknown-linux-gnu MACHINE=x86_64 ;;
  arm64) TRIPLE=aarch64-unknown-linux-gnu MACHINE=aarch64 ;;
  *) echo "test-docker: PICLOUD_IMAGE_ARCH must be amd64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$ARCH" = "$HOST_ARCH" ]; then
  BIN=${PICLOUD_BIN:-$TARGET_DIR/release/picloud}
else
  BIN=${PICLOUD_BIN:-$TARGET_DIR/$TRIPLE/release/picloud}
fi
# The server binaries the Dockerfile's build stage makes; the ones found
# beside $BIN are packaged the same way.
SERVER_BINARIES=(picloud picloud-manager picloud-orchestrator picloud-executor)
CACHE=${PICLOUD_CI_CACHE:-/var/tmp/picloud-ci}/docker
MIRROR=${PICLOUD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
START_TIMEOUT=${PICLOUD_IMAGE_TEST_TIMEOUT:-}

# The base image: Debian's minimal root plus CA certificates, as in
# debian:bookworm-slim. A change to this recipe changes the label, which
# makes the cached image stale and rebuilt.
SUITE=bookworm
BASE_PACKAGES=ca-certificates
BASE_IMAGE=localhost/picloud-base:$SUITE-$ARCH
BASE_RECIPE="debootstrap --arch=$ARCH --variant=minbase --include=$BASE_PACKAGES $SUITE"
BASE_TARBALL=$CACHE/$SUITE-$ARCH-minbase.tar

# The uid:gid the Dockerfile gives the image's user.
IMAGE_USER=10001:10001

STARTED=$SECONDS
# The admin API's token for this run (the kv write that must survive a restart).
ADMIN_TOKEN="image-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TEST_IMAGE=localhost/picloud-image-test:$ARCH-$$
WORK=""          # temporary directory: build context, volume, logs
SERVER_PID=""    # the `buildah run` that runs the server

say() { echo "test-docker ($ARCH): $*"; }
fail() {
  echo "test-docker ($ARCH): FAIL: $*" >&2
  exit 1
}

# buildah with the test's own storage, so that the cached base and the test
# images never mix with (or get pruned by) anything else on the machine; vfs
# because overlay mounts are not available in every container a CI runs in.
# An array, not a function, so that a background `buildah run` is the
# process $! names.
BUILDAH=(buildah --root "$CACHE/storage" --runroot "$CACHE/runroot" --storage-driver vfs)
bh() { "${BUILDAH[@]}" "$@"; }

preflight() {
  local missing=()
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v pgrep >/dev/null 2>&1 || missing+=(procps)
  if [ ${#missing[@]} -gt 0 ]; then
    fail "missing ${missing[*]}: install them with \`scripts/setup.sh test\` (as root) or \`apt-get install ${missing[*]}\`"
  fi
  [ "$(id -u)" = 0 ] || fail "run as root: buildah's chroot isolation and debootstrap need it"
  if [ "$ARCH" = "$HOST_ARCH" ]; then
    [ -x "$BIN" ] || fail "no server binary at $BIN: run \`make build\` first (or set PICLOUD_BIN)"
  else
    [ -x "$BIN" ] || fail "no $ARCH server binary at $BIN: run \`make arm64-test\` first, which cross-compiles it (or set PICLOUD_BIN)"
    command -v qemu-$MACHINE-static >/dev/null 2>&1 ||
      fail "missing qemu-$MACHINE-static: install qemu-user-static (\`scripts/setup.sh test\` does)"
  fi
  local machine
  machine=$(od -An -tx1 -j18 -N2 "$BIN" | tr -d ' \n')
  case "$ARCH:$machine" in
    amd64:3e00 | arm64:b700) ;;
    *) fail "$BIN is not a $MACHINE binary (ELF e_machine bytes $machine)" ;;
  esac
  mkdir -p "$CACHE"
  # Our own signature policy: local images only, and a host without
  # /etc/containers/policy.json (or with a strict one) does not break the test.
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$CACHE/policy.json"
}

# Everything a run leaves in the store but the cached base: its working
# containers (buildah keeps one for a stage another stage builds FROM), the
# test image, the intermediate stage images, and the same from an earlier run
# that was killed before its cleanup. The store is this test's own, and the
# lock keeps runs from overlapping, so all of them are ours to remove.
cleanup() {
  local status=$?
  set +e
  stop_server
  bh rm --all >/dev/null 2>&1
  bh images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep '/picloud-image-test:' |
    while read -r image; do bh rmi --force "$image" >/dev/null 2>&1; done
  bh rmi --prune >/dev/null 2>&1
  [ -n "$WORK" ] && rm -rf "$WORK"
  if [ $status -ne 0 ]; then
    echo "test-docker ($ARCH): failed after $((SECONDS - STARTED)) s" >&2
  fi
  exit $status
}

# --- emulation -----------------------------------------------------------------

# For an image of another architecture: the kernel must hand that
# architecture's ELF files to qemu-user. Registered from Debian's own
# binfmt.d line, whose F flag opens the static emulator now, so it also runs
# inside the image's root (a chroot without the host's files). Changes the
# machine's binfmt_misc table, as installing qemu-user-static on a systemd
# machine does at boot.
ensure_emulation() {
  [ "$ARCH" != "$HOST_ARCH" ] || return 0
  local binfmt=/proc/sys/fs/binfmt_misc entry conf=/usr/lib/binfmt.d/qemu-$MACHINE.conf
  entry=$binfmt/qemu-$MACHINE
  if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null ||
      fail "cannot mount binfmt_misc at $binfmt: this kernel or container cannot run other architectures' programs"
  fi
  # An entry without F (qemu-user-binfmt's) points at a dynamically linked
  # emulator that cannot start inside the image: replace it.
  if [ -e "$entry" ] && ! grep -q '^flags: .*F' "$entry"; then
    echo -1 >"$entry"
  fi
  if [ ! -e "$entry" ]; then
    [ -f "$conf" ] || fail "no $conf: install qemu-user-static"
    cat "$conf" >"$binfmt/register" || fail "registering $conf with binfmt_misc failed"
  fi
  grep -q '^enabled' "$entry" || fail "the binfmt_misc entry $entry is disabled"
  say "emulation: $(sed -n 's/^interpreter //p' "$entry") ($(sed -n 's/^flags: //p' "$entry")) runs $MACHINE programs"
}

# --- the base image ------------------------------------------------------------

# The minbase root as a tarball, made once; a tarball that does not list
# (an interrupted run, a full disk) is made again.
ensure_base_tarball() {
  if [ -s "$BASE_TARBALL" ] && [ "$(cat "$BASE_TARBALL.recipe" 2>/dev/null)" = "$BASE_RECIPE" ] &&
    tar -tf "$BASE_TARBALL" >/dev/null 2>&1; then
    return
  fi
  say "making the $SUITE $ARCH base with debootstrap from $MIRROR (first run only; a few minutes, more under emulation)"
  # In the cache, not under /tmp: debootstrap needs a file system that
  # allows device nodes and executables, which /tmp may not.
  local root=$CACHE/rootfs.partial started=$SECONDS
  rm -rf "$root"
  # For another architecture debootstrap's second stage (the packages'
  # maintainer scripts) runs under qemu, through binfmt_misc.
  debootstrap --arch="$ARCH" --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$root" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2
    fail "debootstrap failed (log above): is $MIRROR reachable?"
  }
  # What debian:bookworm-slim also leaves out: downloaded packages and
  # package lists.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar --numeric-owner -C "$root" -cf "$BASE_TARBALL.tmp" .
  rm -rf "$root"
  mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
  echo "$BASE_RECIPE" >"$BASE_TARBALL.recipe"
  say "base root made in $((SECONDS - started)) s"
}

# The tarball imported as $BASE_IMAGE, unless the store already has it from
# the same recipe.
ensure_base_image() {
  local label
  label=$(bh inspect --type image --format '{{index .Docker.Config.Labels "picloud.base-recipe"}}' \
    "$BASE_IMAGE" 2>/dev/null) || label=""
  if [ "$label" = "$BASE_RECIPE" ]; then
    say "base image $BASE_IMAGE (cached)"
    return
  fi
  ensure_base_tarball
  say "importing the base root as $BASE_IMAGE"
  bh rmi --force "$BASE_IMAGE" >/dev/null 2>&1 || true
  local ctr
  ctr=$(bh from --signature-policy "$CACHE/policy.json" scratch) || {
    # A store that cannot even make a scratch container is broken: start
    # it afresh (it holds nothing but this cache).
    say "the image store under $CACHE/storage is broken; recreating it"
    rm -rf "$CACHE/storage" "$CACHE/runroot"
    ctr=$(bh from --signature-policy "$CACHE/policy.json" scratch)
  }
  bh add "$ctr" "$BASE_TARBALL" / >/dev/null
  bh config --os linux --arch "$ARCH" --cmd /bin/bash \
    --label "picloud.base-recipe=$BASE_RECIPE" "$ctr"
  bh commit --quiet --rm --format docker --signature-policy "$CACHE/policy.json" "$ctr" "$BASE_IMAGE" >/dev/null
}

# --- the image -----------------------------------------------------------------

# Builds the Dockerfile's runtime stage on the local base with the prebuilt
# binaries. The build context holds only bin/: the runtime stage copies
# nothing else, and buildah skips the stages it does not use (the Rust and
# Node builders), so nothing is downloaded.
build_image() {
  local context=$WORK/context dir name started=$SECONDS
  mkdir -p "$context/bin"
  dir=$(dirname "$BIN")
  add_binary "$BIN" "$context/bin/picloud"
  for name in "${SERVER_BINARIES[@]:1}"; do
    if [ -x "$dir/$name" ]; then add_binary "$dir/$name" "$context/bin/$name"; fi
  done
  say "building docker/Dockerfile (runtime stage) with $(cd "$context/bin" && echo *)"
  # --format docker: the OCI image format has no HEALTHCHECK. TARGETARCH:
  # BuildKit sets it, buildah 1.28 does not (only the skipped build stage
  # reads it, but buildah warns).
  bh build --isolation chroot --format docker --pull=never \
    --signature-policy "$CACHE/policy.json" --arch "$ARCH" \
    --build-arg RUNTIME_BASE="$BASE_IMAGE" --build-arg BINARIES=prebuilt \
    --build-arg TARGETARCH="$ARCH" \
    --target runtime --tag "$TEST_IMAGE" \
    --file "$DOCKERFILE" "$context" >"$WORK/build.log" 2>&1 || {
    tail -n 40 "$WORK/build.log" >&2
    fail "buildah build failed (log above)"
  }
  say "image built in $((SECONDS - started)) s"
}

# A binary without its debug info, as the Dockerfile's build stage makes it
# (CARGO_PROFILE_RELEASE_STRIP=debuginfo): the release profile's line tables
# are three quarters of the size, and every copy into the vfs store costs.
# As it is where strip cannot read it (another architecture's binary).
add_binary() {
  local strip=strip
  if [ "$ARCH" != "$HOST_ARCH" ] && command -v "$MACHINE-linux-gnu-strip" >/dev/null 2>&1; then
    strip=$MACHINE-linux-gnu-strip
  fi
  "$strip" --strip-debug -o "$2" "$1" 2>/dev/null || cp "$1" "$2"
}

# One field of the image's configuration, as a Go template over it.
image_config() {
  bh inspect --type image --format "$1" "$TEST_IMAGE"
}

# shellcheck disable=SC2016 # Go templates, not shell expansions
check_image_config() {
  local user volumes ports healthcheck env
  user=$(image_config '{{.Docker.Config.User}}')
  [ "$user" = "$IMAGE_USER" ] || fail "image USER is '$user', want $IMAGE_USER"
  volumes=$(image_config '{{range $path, $_ := .Docker.Config.Volumes}}{{$path}} {{end}}')
  [[ " $volumes " == *" /data "* ]] || fail "image declares volumes '$volumes', want /data"
  ports=$(image_config '{{range $port, $_ := .Docker.Config.ExposedPorts}}{{$port}} {{end}}')
  [[ " $ports " == *" 8080/tcp "* ]] || fail "image exposes '$ports', want 8080/tcp"
  env=$(image_config '{{range .Docker.Config.Env}}{{.}} {{end}}')
  [[ " $env " == *" PICLOUD_DATA_DIR=/data "* ]] || fail "image environment '$env' lacks PICLOUD_DATA_DIR=/data"
  healthcheck=$(image_config '{{if .Docker.Config.Healthcheck}}{{range .Docker.Config.Healthcheck.Test}}{{.}} {{end}}{{end}}')
  [ -n "$healthcheck" ] || fail "image has no HEALTHCHECK"
  say "image config: USER $user, VOLUME ${volumes% }, EXPOSE ${ports% }, HEALTHCHECK ${healthcheck% }"
}

# The image as the file docs/deploy.md tells an owner without a registry to
# make (`buildah push … docker-archive:…`) and load with `docker load`:
# checked as `docker load` reads it, a manifest.json naming the tag and a
# config of the image's architecture.
export_archive() {
  local archive=$WORK/picloud-$ARCH.tar
  bh push --quiet --signature-policy "$CACHE/policy.json" "$TEST_IMAGE" \
    "docker-archive:$archive:picloud:$ARCH" >/dev/null || fail "buildah push to a docker-archive failed"
  python3 - "$archive" "$ARCH" <<'PY' || fail "the docker-archive is not what docker load reads (above)"
import json, sys, tarfile
path, arch = sys.argv[1], sys.argv[2]
with tarfile.open(path) as tar:
    manifest = json.load(tar.extractfile("manifest.json"))
    assert len(manifest) == 1, manifest
    entry = manifest[0]
    # buildah writes the name in full; docker load tags it picloud:<arch>.
    assert f"docker.io/library/picloud:{arch}" in entry["RepoTags"], entry["RepoTags"]
    config = json.load(tar.extractfile(entry["Config"]))
    assert config["architecture"] == arch, config["architecture"]
    assert config["config"]["Healthcheck"]["Test"][0] == "CMD", config["config"].get("Healthcheck")
    for layer in entry["Layers"]:
        tar.getmember(layer)
PY
  say "docker-archive for docker load: $(du -m "$archive" | cut -f1) MiB, tag picloud:$ARCH"
  rm -f "$archive"
}

# A working container of the test image (cleanup removes it).
new_container() {
  local ctr
  ctr=$(bh from --pull=never --arch "$ARCH" --signature-policy "$CACHE/policy.json" "$TEST_IMAGE")
  echo "$ctr"
}

# `buildah run [options] CONTAINER -- COMMAND…` with the image's user,
# environment and working directory (buildah applies them), on the host's
# network (chroot isolation has no network namespace).
run_in() {
  bh run --isolation chroot "$@"
}

# --- the running server -------------------------------------------------------

# Starts the image's ENTRYPOINT + CMD with the volume mounted, listening on
# a loopback port the kernel picks (port 0), and waits for its banner.
start_server() {
  local ctr=$1 volume=$2
  local -a command
  mapfile -t command < <(image_config '{{range .Docker.Config.Entrypoint}}{{println .}}{{end}}{{range .Docker.Config.Cmd}}{{println .}}{{end}}')
  [ ${#command[@]} -gt 0 ] || fail "image has neither ENTRYPOINT nor CMD"
  say "starting '${command[*]}' in the image, data volume $volume -> /data"
  : >"$WORK/server.out"
  : >"$WORK/server.err"
  # Without the lock's descriptor: a server that outlived this script must
  # not keep the next run waiting.
  "${BUILDAH[@]}" run --isolation chroot --volume "$volume:/data" --env PICLOUD_LISTEN=127.0.0.1:0 \
    --env PICLOUD_ADMIN_TOKEN="$ADMIN_TOKEN" \
    "$ctr" -- "${command[@]}" >"$WORK/server.out" 2>"$WORK/server.err" 9>&- &
  SERVER_PID=$!
  # The first start compiles the guest (Cranelift, several seconds on two
  # cores); poll for the banner with a deadline rather than sleep a guess.
  local deadline=$((SECONDS + START_TIMEOUT))
  while ! grep -q 'PiCloud is listening on' "$WORK/server.out"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      server_logs
      fail "the server exited before it listened (logs above)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      server_logs
      fail "the server did not listen within $START_TIMEOUT s (logs above)"
    fi
    sleep 0.2
  done
  BASE_URL=$(sed -n 's/.*PiCloud is listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/server.out" | head -n 1)
  [ -n "$BASE_URL" ] || fail "cannot read the address from the banner: $(cat "$WORK/server.out")"
  say "server listening at $BASE_URL after $((SECONDS - deadline + START_TIMEOUT)) s"
}

server_logs() {
  echo "--- server stdout" >&2
  tail -n 20 "$WORK/server.out" >&2 || true
  echo "--- server stderr" >&2
  tail -n 40 "$WORK/server.err" >&2 || true
}

# The processes under the `buildah run` that runs the server.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}

# The server process itself (buildah runs it under two helpers of its own).
server_process() {
  local pid
  for pid in $(descendants "$SERVER_PID"); do
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = picloud ]; then
      echo "$pid"
      return
    fi
  done
}

# SIGTERM to the server process, as `docker stop` sends it to the
# container's main process; `buildah run` exits when it has. Bounded: then
# SIGKILL to both.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local runner=$SERVER_PID server deadline=$((SECONDS + 30))
  server=$(server_process)
  SERVER_PID=""
  kill -TERM "${server:-$runner}" 2>/dev/null || true
  while kill -0 "$runner" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "the server did not stop within 30 s of SIGTERM; killing it"
      kill -KILL ${server:+"$server"} "$runner" 2>/dev/null
      break
    fi
    sleep 0.2
  done
  wait "$runner" 2>/dev/null || true
}

# GET $1 from the host; prints the body, fails unless the status is $2.
# The Host header is what a browser on this machine sends: a fresh install's
# default app serves localhost.
expect_get() {
  local path=$1 want=$2 status
  status=$(curl -sS --max-time 10 -o "$WORK/body" -w '%{http_code}' \
    -H "Host: localhost:${BASE_URL##*:}" "$BASE_URL$path") ||
    fail "GET $path: no answer"
  [ "$status" = "$want" ] || fail "GET $path answered $status, want $want: $(head -c 300 "$WORK/body")"
  cat "$WORK/body"
}

# An admin API call from the host: METHOD PATH [JSON]; prints the body,
# fails unless the status is WANT (the first argument).
admin() {
  local want=$1 method=$2 path=$3 status
  status=$(curl -sS --max-time 30 -o "$WORK/body" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
    ${4:+--data "$4"} "$BASE_URL/api/v1/admin$path") || fail "$method $path: no answer"
  [ "$status" = "$want" ] || fail "$method $path answered $status, want $want: $(head -c 300 "$WORK/body")"
  cat "$WORK/body"
}

# --- the compose files ---------------------------------------------------------

# docker/compose*.yml cannot run here (no engine), so they are checked as far
# as this machine allows: by `docker compose config` (the compose spec,
# interpolation) where the compose plugin exists, and as YAML naming the
# services, the Dockerfile and Caddyfiles the repository has (compose would
# bind-mount an empty directory for a missing Caddyfile).
check_compose_files() {
  local file compose=false yaml=false
  docker compose version >/dev/null 2>&1 && compose=true
  python3 -c 'import yaml' 2>/dev/null && yaml=true
  if ! $compose && ! $yaml; then
    say "skipping the compose file check: neither \`docker compose\` nor python3's yaml is here"
    return
  fi
  for file in "$ROOT"/docker/compose*.yml; do
    if $compose; then
      PICLOUD_DOMAIN=pi.example.com POSTGRES_PASSWORD=secret \
        docker compose -f "$file" config --quiet || fail "docker compose rejects ${file#"$ROOT"/}"
    fi
    if $yaml; then
      python3 - "$file" <<'PY' || fail "${file#"$ROOT"/} is not a valid compose file (above)"
import os, sys, yaml
path = sys.argv[1]
with open(path) as f:
    doc = yaml.safe_load(f)
services = doc.get("services") or {}
for name in ("picloud", "caddy"):
    assert name in services, f"no service {name!r}"
build = services["picloud"]["build"]
here = os.path.dirname(path)
dockerfile = os.path.join(here, build["context"], build["dockerfile"])
assert os.path.isfile(dockerfile), f"build names a missing {dockerfile}"
for service in services.values():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            assert os.path.isfile(os.path.join(here, source)), f"mounts a missing {source}"
PY
    fi
  done
  say "compose files check out ($($compose && echo 'docker compose config, ')$($yaml && echo YAML)): $(cd "$ROOT" && echo docker/compose*.yml)"
}

# --- the test ------------------------------------------------------------------

main() {
  preflight
  if [ -z "$START_TIMEOUT" ]; then
    # The first start compiles the guest: seconds natively, about a minute
    # under emulation on two cores.
    if [ "$ARCH" = "$HOST_ARCH" ]; then START_TIMEOUT=180; else START_TIMEOUT=900; fi
  fi
  # One run at a time per cache: runs share the store and the base.
  exec 9>"$CACHE/lock"
  if ! flock --nonblock 9; then
    say "waiting for another image test run to finish"
    flock --timeout 900 9 || fail "another image test still holds $CACHE/lock after 15 minutes"
  fi
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/picloud-image-test.XXXXXX")
  ensure_emulation
  [ "$ARCH" != "$HOST_ARCH" ] || check_compose_files

  local base_started=$SECONDS
  ensure_base_image
  local base_seconds=$((SECONDS - base_started))
  build_image
  check_image_config
  local image_arch
  image_arch=$(image_config '{{.Docker.Architecture}}')
  [ "$image_arch" = "$ARCH" ] || fail "the image is for '$image_arch', want $ARCH"

  export_archive

  local ctr
  ctr=$(new_container)
  # What the programs in the image see: the image's architecture (under
  # qemu for another one).
  local machine
  machine=$(run_in "$ctr" -- uname -m)
  [ "$machine" = "$MACHINE" ] || fail "programs in the image run on '$machine', want $MACHINE"
  say "the image is linux/$image_arch; its programs run on $machine$([ "$ARCH" = "$HOST_ARCH" ] || echo ' (emulated)')"
  # The image as a user gets it: the user, and /data as a new volume starts
  # (buildah, like Docker, fills an anonymous volume from the image).
  local uid data_owner
  uid=$(run_in "$ctr" -- id -u)
  [ "$uid" = "${IMAGE_USER%%:*}" ] || fail "commands in the image run as uid $uid, want ${IMAGE_USER%%:*}"
  data_owner=$(run_in "$ctr" -- stat -c '%u:%g %a' /data)
  [ "$data_owner" = "$IMAGE_USER 700" ] || fail "/data in the image is '$data_owner', want '$IMAGE_USER 700'"
  say "image runs as uid $uid; /data is $data_owner"

  # The volume: a host directory given to the image's user, as an operator
  # does for a bind mount (a named volume takes the image's /data owner).
  # `docker run -v DIR:/data` replaces the declared volume; buildah 1.28
  # mounts its own anonymous volume over a --volume at the same path, so the
  # declaration is dropped from this working container (not the image).
  local volume=$WORK/volume
  mkdir -m 0700 "$volume"
  chown "$IMAGE_USER" "$volume"
  bh config --volume /data- "$ctr"
  start_server "$ctr" "$volume"

  local body pid
  body=$(expect_get /healthz 200)
  [ "$body" = ok ] || fail "/healthz said '$body', want 'ok'"
  body=$(expect_get /hello 200)
  [ "$body" = "Hello, World!" ] || fail "/hello said '$body', want 'Hello, World!'"
  body=$(expect_get '/hello?name=Docker' 200)
  [ "$body" = "Hello, Docker!" ] || fail "/hello?name=Docker said '$body'"
  say "/healthz and /hello answer from the image"

  pid=$(server_process)
  [ -n "$pid" ] || fail "no picloud process under buildah run $SERVER_PID"
  local proc_uid
  proc_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  [ "$proc_uid" = "${IMAGE_USER%%:*}" ] || fail "the server process $pid runs as uid $proc_uid"
  say "server process $pid ($(cat "/proc/$pid/comm")) runs as uid $proc_uid"

  # What the server wrote lives on the volume, owned by the image's user.
  local file owner
  for file in picloud.db secret.key cache; do
    [ -e "$volume/$file" ] || fail "the server wrote no $file into the volume: $(ls -la "$volume")"
    owner=$(stat -c '%u:%g' "$volume/$file")
    [ "$owner" = "$IMAGE_USER" ] || fail "$file on the volume belongs to $owner, want $IMAGE_USER"
  done
  say "the volume holds $(cd "$volume" && echo *) (owned by $IMAGE_USER)"

  admin 200 PUT /apps/default/kv/restart-check '{"value": {"written": "before the restart"}}' >/dev/null
  body=$(admin 200 GET /apps/default/kv/restart-check)
  [[ "$body" == *'"value":{"written":"before the restart"}'* ]] || fail "the key just written reads $body"
  say "admin API: wrote the key restart-check"

  # The image's HEALTHCHECK command, run in the image the way Docker runs
  # it ("CMD" exec form), with the server's address in its environment.
  local -a probe
  mapfile -t probe < <(image_config '{{range .Docker.Config.Healthcheck.Test}}{{println .}}{{end}}')
  [ "${probe[0]}" = CMD ] || fail "HEALTHCHECK is '${probe[*]}', want the exec form (CMD)"
  local listen=${BASE_URL#http://} out
  out=$(run_in --env "PICLOUD_LISTEN=$listen" "$ctr" -- "${probe[@]:1}" 2>&1) ||
    fail "the HEALTHCHECK failed while the server runs: $out"
  [[ "$out" == healthy:* ]] || fail "the passing HEALTHCHECK said '$out', want 'healthy: …'"
  say "HEALTHCHECK while serving: $out"

  stop_server
  grep -q 'shutting down' "$WORK/server.err" || {
    server_logs
    fail "the server did not log a graceful stop after SIGTERM"
  }
  if out=$(run_in --env "PICLOUD_LISTEN=$listen" "$ctr" -- "${probe[@]:1}" 2>&1); then
    fail "the HEALTHCHECK passed with the server stopped: $out"
  fi
  # The probe's line; buildah adds its own about the exit status after it.
  out=${out%%$'\n'*}
  [[ "$out" == unhealthy:* ]] || fail "the failing HEALTHCHECK said '$out', want 'unhealthy: …'"
  say "HEALTHCHECK after stop: $out"

  # The data outlives the container's process: a key written before the
  # restart is read back after it, from the same volume.
  start_server "$ctr" "$volume"
  body=$(admin 200 GET /apps/default/kv/restart-check)
  [[ "$body" == *'"value":{"written":"before the restart"}'* ]] ||
    fail "after the restart the key reads $body"
  body=$(expect_get /hello 200)
  [ "$body" = "Hello, World!" ] || fail "/hello after the restart said '$body'"
  say "after a restart on the same volume: the key is there, /hello answers"
  stop_server

  say "passed in $((SECONDS - STARTED)) s (base image: ${base_seconds} s)"
}

main "$@"
