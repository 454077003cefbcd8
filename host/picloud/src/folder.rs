//! `picloud deploy <folder>` and `picloud export <app> <folder>`: apps as
//! code (docs/manifest.md). The server parses and checks the manifest, so
//! this side only reads the folder, sends it, and prints the plan.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, q};
use manager_core::manifest::MANIFEST_FILE;

/// What `picloud deploy <folder>` was asked to do.
pub(crate) struct DeployFolder<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) app: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) dry_run: bool,
    pub(crate) prune: bool,
}

/// Reads the folder, asks the server for the plan (`--dry-run`) or applies
/// it, and prints the changes.
pub(crate) async fn deploy(client: &Client, request: DeployFolder<'_>) -> anyhow::Result<()> {
    let path = request.dir.join(MANIFEST_FILE);
    let manifest = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (a folder to deploy has a {MANIFEST_FILE})",
            path.display()
        )
    })?;
    // Only what is needed to send the request: the slug and the files. The
    // server checks everything else and answers with line and key.
    let loose: toml::Table =
        toml::from_str(&manifest).map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    let slug = match (&request.app, loose.get("slug").and_then(|s| s.as_str())) {
        (Some(app), _) => app.clone(),
        (None, Some(slug)) => slug.to_owned(),
        (None, None) => bail!("{}: no `slug`; add one or pass --app", path.display()),
    };
    let mut files = BTreeMap::new();
    for entry in loose
        .get("scripts")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
    {
        let Some(file) = entry.get("file").and_then(|f| f.as_str()) else {
            continue;
        };
        // A file that cannot be read is left out: the server names it, with
        // its line in the manifest.
        if let Ok(source) = std::fs::read_to_string(request.dir.join(file)) {
            files.insert(file.to_owned(), source);
        }
    }
    let mut body = json!({"manifest": manifest, "files": files, "prune": request.prune});
    if let Some(message) = request.message {
        body["message"] = json!(message);
    }
    let action = if request.dry_run { "plan" } else { "apply" };
    let plan = client
        .call(
            Method::POST,
            &format!("/apps/{}/manifest:{action}", q(&slug)),
            Some(body),
        )
        .await?;
    print_plan(&plan, request.dry_run);
    Ok(())
}

fn print_plan(plan: &Value, dry_run: bool) {
    let app = plan["app"].as_str().unwrap_or("");
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    let verb = if dry_run { "would change" } else { "changed" };
    if plan["unchanged"].as_bool() == Some(true) {
        println!("app '{app}' already matches the manifest: nothing to change");
    } else {
        println!("app '{app}' {verb}:");
    }
    for c in &changes {
        let action = c["action"].as_str().unwrap_or("");
        let sign = match action {
            "create" => '+',
            "update" => '~',
            "delete" => '-',
            _ => '=',
        };
        let detail = c["detail"]
            .as_str()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        println!(
            "  {sign} {action} {} {}{detail}",
            c["kind"].as_str().unwrap_or(""),
            c["name"].as_str().unwrap_or("")
        );
    }
    for secret in plan["missing_secrets"].as_array().into_iter().flatten() {
        let name = secret.as_str().unwrap_or("");
        eprintln!(
            "warning: secret {name} is not set on the server; set it in the dashboard or with \
             PUT /api/v1/admin/apps/{app}/variables/{name} {{\"value\": …, \"secret\": true}}"
        );
    }
    if dry_run && plan["unchanged"].as_bool() != Some(true) {
        println!("dry run: nothing was changed; deploy without --dry-run to apply");
    }
}

/// `picloud export <app> <folder>`: writes the app's manifest and scripts.
pub(crate) async fn export(client: &Client, app: &str, dir: &Path) -> anyhow::Result<()> {
    let folder = client
        .call(Method::GET, &format!("/apps/{}/manifest", q(app)), None)
        .await?;
    let mut files = vec![(
        MANIFEST_FILE.to_owned(),
        folder["manifest"].as_str().unwrap_or_default().to_owned(),
    )];
    for (path, source) in folder["files"].as_object().into_iter().flatten() {
        files.push((path.clone(), source.as_str().unwrap_or_default().to_owned()));
    }
    for (path, text) in &files {
        // The server names files `scripts/<name>.rhai`; anything that would
        // land outside the folder is refused all the same.
        let relative = Path::new(path);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            bail!("refusing to write '{path}': not a path inside the folder");
        }
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    println!(
        "exported app '{app}' to {} ({} files)",
        dir.display(),
        files.len()
    );
    Ok(())
}
