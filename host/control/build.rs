//! Points `rust-embed` at the dashboard's built assets. Without a build
//! (`npm run build` in dashboard/, which `make build` runs), the binary
//! embeds a one-page notice instead, so a plain `cargo build` still works.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let built = manifest.join("../../dashboard/build");
    println!("cargo:rerun-if-changed={}", built.display());
    let dir = if built.join("index.html").is_file() {
        built.canonicalize().unwrap()
    } else {
        println!(
            "cargo:warning=dashboard/build is missing: /admin will show a notice; run `make build`"
        );
        let notice = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("dashboard-missing");
        std::fs::create_dir_all(&notice).unwrap();
        std::fs::write(
            notice.join("index.html"),
            "<!doctype html><title>PiCloud</title><p>This binary was built without the \
             dashboard. Build it with <code>make build</code> (which runs <code>npm run \
             build</code> in <code>dashboard/</code>).</p>\n",
        )
        .unwrap();
        notice
    };
    println!("cargo:rustc-env=PICLOUD_DASHBOARD_DIR={}", dir.display());
}
