//! `picloud init <dir> --template <name>`: a new app folder copied from one
//! of the example apps under `examples/`, which the binary carries.

use std::path::Path;

use anyhow::Context;
use include_dir::{Dir, include_dir};

/// The repository's `examples/` folder, embedded at build time (build.rs
/// rebuilds when it changes). Each subfolder with a `picloud.toml` is a
/// template.
static EXAMPLES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../examples");

/// The template names, sorted.
pub(crate) fn templates() -> Vec<&'static str> {
    let mut names: Vec<&str> = EXAMPLES
        .dirs()
        .filter(|d| d.get_file(d.path().join("picloud.toml")).is_some())
        .filter_map(|d| d.path().to_str())
        .collect();
    names.sort_unstable();
    names
}

/// Writes the template `name` into `dir`, which must not exist or be empty,
/// so nothing of the user's is ever overwritten; prints what to do next.
pub(crate) fn init(dir: &Path, name: &str) -> anyhow::Result<()> {
    let names = templates();
    let template = names
        .iter()
        .find(|n| **n == name)
        .and_then(|n| EXAMPLES.get_dir(n))
        .with_context(|| {
            format!(
                "there is no template '{name}': the templates are {}",
                names.join(", ")
            )
        })?;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} exists and is not a folder I can read", dir.display()))?;
        if entries.next().is_some() {
            anyhow::bail!(
                "{} is not empty: choose a new folder (nothing was written)",
                dir.display()
            );
        }
    }
    let mut written = 0;
    let mut stack = vec![template];
    while let Some(folder) = stack.pop() {
        stack.extend(folder.dirs());
        for file in folder.files() {
            // Paths inside the embedded tree start with the template's name.
            let relative = file
                .path()
                .strip_prefix(template.path())
                .expect("a file of the template lies under it");
            let target = dir.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&target, file.contents())
                .with_context(|| format!("writing {}", target.display()))?;
            written += 1;
        }
    }
    let shown = dir.display();
    println!("wrote {written} files of the template '{name}' to {shown}");
    println!(
        "next: read {shown}/README.md, set `slug` and `domains` in {shown}/picloud.toml, then `picloud deploy {shown}`"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_is_a_template_and_init_copies_it_whole() {
        assert_eq!(
            templates(),
            ["guestbook", "link-shortener", "webhook-inbox"],
            "examples/ changed: update docs/manifest.md's list of templates"
        );
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("my-links");
        init(&dir, "link-shortener").unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/link-shortener");
        for relative in ["picloud.toml", "README.md", "scripts/shorten.rhai"] {
            assert_eq!(
                std::fs::read(dir.join(relative)).unwrap(),
                std::fs::read(source.join(relative)).unwrap(),
                "{relative}"
            );
        }
        // A folder with something in it is left alone.
        let err = init(&dir, "guestbook").unwrap_err().to_string();
        assert!(err.contains("is not empty"), "{err}");
        let err = init(&root.path().join("x"), "blog")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no template 'blog'")
                && err.contains("guestbook, link-shortener, webhook-inbox"),
            "{err}"
        );
    }
}
