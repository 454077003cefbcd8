//! `picloud init` embeds the example apps (src/init.rs, `include_dir!`),
//! which cannot tell cargo about the files it read on a stable toolchain:
//! rebuild when anything under examples/ changes.
fn main() {
    println!("cargo:rerun-if-changed=../../examples");
}
