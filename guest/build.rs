//! Gives the component a larger shadow stack than Rust's 1 MiB wasm default:
//! the interpreter recurses per call level, and the host's memory cap (not the
//! stack) should be what bounds a script.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=4194304");
    }
}
