#!/usr/bin/env bash
# Installs what PiCloud needs on a fresh Debian machine: the Rust target for
# the wasm guest (always) and, when run as root, Debian packages.
#   scripts/setup.sh        what building and running needs
#   scripts/setup.sh test   also what the test suites need (PostgreSQL server,
#                           Chromium for the dashboard's browser tests, Caddy,
#                           Prometheus and promtool for the metrics tests,
#                           buildah and debootstrap for the image test, the
#                           ARM64 cross toolchain and qemu for the ARM64 smoke
#                           test and the arm64 image test)
# Idempotent, and quick when everything is present.
set -euo pipefail

installed=$(rustup target list --installed)
grep -qx wasm32-unknown-unknown <<<"$installed" || rustup target add wasm32-unknown-unknown

missing=()
# The dashboard is built with Node.js (20.19 or newer, for Vite) and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: the dashboard needs Node.js 20.19+ and npm; install them (https://nodejs.org or your distribution)" >&2
  exit 1
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' || {
  echo "setup: Node.js $(node --version) is too old for the dashboard build; install 20.19 or newer" >&2
  exit 1
}
if [ "${1:-}" = test ]; then
  for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^$component" || rustup component add "$component"
  done
  # The database suites run against a throwaway PostgreSQL cluster as well as
  # SQLite; they need the server binaries (initdb, pg_ctl) and `runuser`.
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
  # The dashboard's end-to-end tests drive Debian's Chromium.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # The proxy and cluster tests run the real Caddy in front of PiCloud.
  command -v caddy >/dev/null 2>&1 || missing+=(caddy)
  # The metrics tests check `GET /metrics` with promtool and have a real
  # Prometheus server scrape PiCloud; Debian's package has both.
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  # The image test (scripts/test-docker.sh) builds docker/Dockerfile with
  # buildah on a Debian base made with debootstrap.
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  # The ARM64 smoke test (scripts/test-arm64.sh) cross-compiles and runs the
  # binary under user-mode qemu.
  grep -qx aarch64-unknown-linux-gnu <<<"$installed" || rustup target add aarch64-unknown-linux-gnu
  command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
  [ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ] || missing+=(libc6-dev-arm64-cross)
  command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
  # The arm64 image test (PICLOUD_IMAGE_ARCH=arm64 scripts/test-docker.sh)
  # runs the image's own programs through binfmt_misc, which needs the
  # statically linked emulator: it is opened once and works inside the
  # image's root, where the host's libraries are not.
  command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
  # The inbound-mail tests send real mail with Python's smtplib.
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  # Both scripts drive the server with curl and find its processes with ps.
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v ps >/dev/null 2>&1 || missing+=(procps)
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
