#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (`make fuzz FUZZ_SECONDS=300`)
#
# SECONDS defaults to $FUZZ_SECONDS or 60 per target; no TARGET means all of
# them (`cargo fuzz list`). Each target starts from the committed seeds in
# fuzz/corpus/<target>/ and keeps what it discovers in a working corpus under
# the fuzz target directory, so the committed seeds stay a small, reviewed
# set. A crash is saved under fuzz/artifacts/<target>/ and makes the script
# exit non-zero after all targets have run; reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
# (from the repository root). docs/fuzzing.md has the details.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-60}}"
[ $# -gt 0 ] && shift
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

# cargo-fuzz drives libFuzzer through nightly-only compiler flags
# (-Zsanitizer, -Cpasses=sancov-module and friends). The project is pinned to
# stable Rust; RUSTC_BOOTSTRAP=1 lets the stable compiler accept those flags.
# It affects this script's builds only, in their own target directory, and
# executor-core's build script keeps the flags out of the wasm guest build.
export RUSTC_BOOTSTRAP=1

# libFuzzer itself is C++, compiled by the libfuzzer-sys crate.
command -v c++ >/dev/null 2>&1 || {
    echo "fuzz: libFuzzer needs a C++ compiler; install Debian's g++" >&2
    exit 1
}
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Never the main workspace's target directory: instrumented builds would
# evict its artifacts. An exported CARGO_TARGET_DIR (for the main workspace)
# is therefore ignored here; FUZZ_TARGET_DIR picks another place.
unset CARGO_TARGET_DIR
target_dir="$(realpath -m "${FUZZ_TARGET_DIR:-fuzz/target}")"
# The script target caches the compiled guest here, like a server's cache.
export PICLOUD_FUZZ_CACHE="$target_dir/component-cache"

# No sanitizer: the code under test is safe Rust (unsafe_code is denied), so
# AddressSanitizer would find nothing the Rust checks do not, and it would
# slow both the build (wasmtime is large) and every run. Overflow checks and
# debug assertions stay on; more codegen units keep the wasmtime build
# tolerable on a small machine.
build_flags=(--sanitizer none --release --debug-assertions
    --codegen-units "${FUZZ_CODEGEN_UNITS:-16}" --target-dir "$target_dir")

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# One build for all targets (they share every dependency).
if [ ${#targets[@]} -eq 1 ]; then
    cargo fuzz build "${build_flags[@]}" "${targets[0]}"
else
    cargo fuzz build "${build_flags[@]}"
fi

failed=()
for target in "${targets[@]}"; do
    work="$target_dir/corpus/$target"
    mkdir -p "$work"
    echo "== fuzzing $target for ${seconds}s" >&2
    # First corpus directory: where libFuzzer writes new inputs; the seeds
    # are read only. -timeout flags an input that runs for 10 s (the script
    # target's own deadline is 0.5 s) as a hang.
    args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
    dict="fuzz/dictionaries/$target.dict"
    [ -f "$dict" ] && args+=(-dict="$dict")
    if ! cargo fuzz run "${build_flags[@]}" "$target" "$work" "fuzz/corpus/$target" -- "${args[@]}"; then
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "all fuzz targets ran ${seconds}s without a crash: ${targets[*]}" >&2
