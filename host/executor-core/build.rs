//! Builds the guest component (`guest/`, the Rhai interpreter) and hands its
//! path and hash to the crate, so that the normal `cargo build` produces a
//! binary with the guest embedded and no `.wasm` ever lives in git.
//!
//! The guest is compiled for `wasm32-unknown-unknown`, a core module whose
//! only imports are PiCloud's own interfaces, and `wit-component` wraps it
//! as a component using the world type wit-bindgen embedded in it. No WASI
//! adapter, no WASI imports (ADR 005).
//!
//! The nested cargo uses its own target directory (a sibling of this build's
//! target directory), so it neither fights the outer build for its lock nor gets
//! rebuilt when the host's profile changes. `PICLOUD_GUEST_WASM` may name a
//! prebuilt component instead (e.g. for cross builds that built the guest once).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    println!("cargo:rerun-if-env-changed=PICLOUD_GUEST_WASM");
    let wasm = match env::var_os("PICLOUD_GUEST_WASM") {
        Some(path) => {
            // Re-embed when the file changes, not only when the variable does:
            // a cross build usually passes the same path every time.
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => build_guest(&root, &out_dir),
    };
    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
    let embedded = out_dir.join("picloud_guest.wasm");
    std::fs::write(&embedded, &bytes).expect("copy guest into OUT_DIR");
    let hash = hex::encode(Sha256::digest(&bytes));
    println!("cargo:rustc-env=PICLOUD_GUEST_SHA256={hash}");
}

fn build_guest(root: &Path, out_dir: &Path) -> PathBuf {
    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "guest/build.rs",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<pkg>-<hash>/out; put the
    // guest's target next to <profile> so debug and release builds share it.
    let target_dir = env::var_os("PICLOUD_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            out_dir
                .ancestors()
                .nth(4)
                .expect("OUT_DIR depth")
                .join("picloud-guest")
        });
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--package",
            "picloud-guest",
            "--release",
            "--target",
            GUEST_TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The guest ships stripped and without debug info whatever the host's
        // profile says; the interpreter is the hot path, so full optimization.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_LTO", "true");
    // Flags meant for the host (coverage, sanitizers, a cross linker) must not
    // leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the guest");
    if !status.success() {
        panic!(
            "building the guest component failed. If the error mentions the target \
             `{GUEST_TARGET}`, install it with `rustup target add {GUEST_TARGET}` (`make setup` does)."
        );
    }
    let module_path = target_dir
        .join(GUEST_TARGET)
        .join("release/picloud_guest.wasm");
    let module = std::fs::read(&module_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", module_path.display()));
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| encoder.encode())
        .unwrap_or_else(|e| panic!("making the guest a component: {e:#}"));
    // Next to the module, at a stable path that cross builds can pass back
    // in PICLOUD_GUEST_WASM (scripts/test-arm64.sh); renamed into place,
    // because debug and release builds of the host share this directory.
    let path = module_path.with_file_name("picloud_guest.component.wasm");
    let tmp = out_dir.join("picloud_guest.component.wasm.tmp");
    std::fs::write(&tmp, component).expect("writing the guest component");
    std::fs::rename(&tmp, &path).unwrap_or_else(|_| {
        // OUT_DIR and the guest's target directory may be on different file
        // systems; then a copy (the file is only read after the build).
        std::fs::copy(&tmp, &path).expect("copying the guest component");
    });
    path
}

/// The guest's compilation target: no WASI, so the component imports nothing
/// but `wit/`'s interfaces.
const GUEST_TARGET: &str = "wasm32-unknown-unknown";
