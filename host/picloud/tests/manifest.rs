//! Apps as code, as a user meets them: a folder with `picloud.toml` deployed
//! with the real `picloud` binary against a real server. The plan, the
//! apply, idempotence, `--prune`, a staging copy under another slug, the
//! atomic refusal that lists every problem and changes nothing (compared by
//! a full export before and after), and the export round trip into an empty
//! server, byte for byte. Every test runs on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        a_folder_deploys_plans_and_prunes,
        a_refused_deploy_changes_nothing,
        an_export_deploys_into_an_empty_server_and_exports_the_same_bytes,
        the_documented_example_app_deploys_and_serves,
        queue_and_email_triggers_deploy_export_and_prune,
    ])
}

const BIN: &str = env!("CARGO_BIN_EXE_picloud");

const MANIFEST: &str = r#"slug = "shop"
name = "Shop"
domains = ["shop.test"]
secrets = ["STRIPE_KEY"]

[variables]
GREETING = "Hello"

[limits]
deadline_ms = 2000

[[scripts]]
name = "hello"
file = "scripts/hello.rhai"

[[scripts]]
name = "user"
file = "scripts/user.rhai"
description = "One user, by id"

[[scripts]]
name = "nightly"
file = "scripts/nightly.rhai"

[[routes]]
method = "GET"
path = "/hello"
script = "hello"

[[routes]]
method = "GET"
path = "/users/:id"
script = "user"

[[cron]]
script = "nightly"
schedule = "0 3 * * *"
timezone = "Europe/Oslo"

[env.shop-staging]
name = "Shop (staging)"
domains = ["staging.shop.test"]
variables = { GREETING = "Hi from staging" }
"#;

/// Writes the example app into `dir`.
fn write_folder(dir: &Path) {
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(dir.join("picloud.toml"), MANIFEST).unwrap();
    std::fs::write(
        dir.join("scripts/hello.rhai"),
        "`${env::get(\"GREETING\")}, world`\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scripts/user.rhai"),
        "#{ id: request.params.id }\n",
    )
    .unwrap();
    std::fs::write(dir.join("scripts/nightly.rhai"), "log::info(\"tidy\");\n").unwrap();
}

/// Runs the CLI against `s`; returns exit status, stdout and stderr.
async fn cli(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    let base = s.base.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let config = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .env("PICLOUD_URL", base)
            .env("PICLOUD_TOKEN", TOKEN)
            .env("PICLOUD_CONFIG", config.path().join("config.toml"))
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The app's full export: the manifest and every file.
async fn export(s: &TestServer, app: &str) -> Value {
    let (status, folder) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/{app}/manifest"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{folder}");
    folder
}

async fn a_folder_deploys_plans_and_prunes(db: Db) {
    let s = TestServer::start(&db).await;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    write_folder(folder.path());

    // The dry run prints the plan and creates nothing.
    let (ok, out, err) = cli(&s, &["deploy", dir, "--dry-run"]).await;
    assert!(ok, "{out}{err}");
    for line in [
        "+ create app shop",
        "+ create domain shop.test",
        "+ create script hello (1 line)",
        "+ create route GET /users/:id (→ user)",
        "+ create cron nightly @ 0 3 * * * (Europe/Oslo)",
        "+ create variable GREETING",
        "dry run: nothing was changed",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    assert!(err.contains("secret STRIPE_KEY is not set"), "{err}");
    let (status, _) = s.admin(Method::GET, "/api/v1/admin/apps/shop", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The deploy serves at once, and its scripts carry the message.
    let (ok, out, err) = cli(&s, &["deploy", dir, "-m", "first deploy"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("app 'shop' changed:"), "{out}");
    assert_eq!(
        s.call(Method::GET, "shop.test", "/hello").await,
        (StatusCode::OK, "Hello, world".to_owned())
    );
    let (status, user) = s.call(Method::GET, "shop.test", "/users/7").await;
    assert_eq!((status, user.as_str()), (StatusCode::OK, r#"{"id":"7"}"#));
    let (_, app) = s.admin(Method::GET, "/api/v1/admin/apps/shop", None).await;
    assert_eq!(app["name"], "Shop");
    assert_eq!(app["limits"], json!({"deadline_ms": 2000}));
    let (_, triggers) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/triggers", None)
        .await;
    assert_eq!(
        triggers["items"][0]["timezone"], "Europe/Oslo",
        "{triggers}"
    );
    let (_, scripts) = s
        .admin(Method::GET, "/api/v1/admin/scripts?app=shop", None)
        .await;
    let hello = scripts["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "hello")
        .unwrap()
        .clone();
    let (_, versions) = s
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/scripts/{}/versions",
                hello["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(
        versions["versions"][0]["message"], "first deploy",
        "{versions}"
    );
    assert_eq!(
        versions["versions"][0]["author"], "token:bootstrap",
        "{versions}"
    );

    // The same folder again changes nothing and says so.
    let before = export(&s, "shop").await;
    let (ok, out, _) = cli(&s, &["deploy", dir]).await;
    assert!(ok);
    assert!(
        out.contains("already matches the manifest: nothing to change"),
        "{out}"
    );
    assert_eq!(export(&s, "shop").await, before);

    // The same folder as a staging copy, with its [env] overrides.
    let (ok, out, err) = cli(&s, &["deploy", dir, "--app", "shop-staging"]).await;
    assert!(ok, "{out}{err}");
    assert_eq!(
        s.call(Method::GET, "staging.shop.test", "/hello").await,
        (StatusCode::OK, "Hi from staging, world".to_owned())
    );
    assert_eq!(
        s.call(Method::GET, "shop.test", "/hello").await.1,
        "Hello, world"
    );

    // A changed script, a script and its route dropped from the manifest:
    // without --prune they are listed and kept.
    std::fs::write(
        folder.path().join("scripts/hello.rhai"),
        "// greeting\n`${env::get(\"GREETING\")}, you`\n",
    )
    .unwrap();
    let trimmed = MANIFEST
        .replace(
            "[[scripts]]\nname = \"user\"\nfile = \"scripts/user.rhai\"\ndescription = \"One user, by id\"\n\n",
            "",
        )
        .replace(
            "[[routes]]\nmethod = \"GET\"\npath = \"/users/:id\"\nscript = \"user\"\n\n",
            "",
        );
    std::fs::write(folder.path().join("picloud.toml"), &trimmed).unwrap();
    let (ok, out, err) = cli(&s, &["deploy", dir]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("~ update script hello (+2 -1 lines)"), "{out}");
    assert!(out.contains("= keep script user"), "{out}");
    assert!(out.contains("= keep route GET /users/:id"), "{out}");
    assert_eq!(
        s.call(Method::GET, "shop.test", "/hello").await.1,
        "Hello, you"
    );
    assert_eq!(
        s.call(Method::GET, "shop.test", "/users/7").await.0,
        StatusCode::OK
    );
    // --prune deletes them.
    let (ok, out, err) = cli(&s, &["deploy", dir, "--prune"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("- delete route GET /users/:id"), "{out}");
    assert!(out.contains("- delete script user"), "{out}");
    assert_eq!(
        s.call(Method::GET, "shop.test", "/users/7").await.0,
        StatusCode::NOT_FOUND
    );
    let (ok, out, _) = cli(&s, &["deploy", dir, "--prune"]).await;
    assert!(ok);
    assert!(out.contains("nothing to change"), "{out}");

    // Editors get the schema without signing in, and it is the committed one.
    let schema: Value = s
        .client
        .get(format!("{}/api/v1/schemas/manifest.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: Value =
        serde_json::from_str(include_str!("../../../docs/manifest.schema.json")).unwrap();
    assert_eq!(schema, committed);
    assert!(schema["properties"]["routes"].is_object(), "{schema}");
    s.stop().await;
}

async fn a_refused_deploy_changes_nothing(db: Db) {
    let s = TestServer::start(&db).await;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    write_folder(folder.path());
    let (ok, out, err) = cli(&s, &["deploy", dir]).await;
    assert!(ok, "{out}{err}");
    // Another app holds a domain the broken manifest asks for.
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "other", "name": "Other"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/other/domains",
            Some(json!({"pattern": "taken.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = export(&s, "shop").await;

    // Four problems at once: a script that does not compile, two routes of
    // one shape, a domain of another app, a bad cron expression.
    std::fs::write(folder.path().join("scripts/user.rhai"), "let x = ;\n").unwrap();
    let broken = MANIFEST
        .replace(
            "domains = [\"shop.test\"]",
            "domains = [\"shop.test\", \"taken.test\"]",
        )
        .replace("0 3 * * *", "61 3 * * *")
        .replace(
            "[[cron]]",
            "[[routes]]\nmethod = \"GET\"\npath = \"/users/:name\"\nscript = \"hello\"\n\n[[cron]]",
        );
    std::fs::write(folder.path().join("picloud.toml"), &broken).unwrap();
    let (ok, out, err) = cli(&s, &["deploy", dir, "-m", "broken"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("nothing was changed; 4 problem(s)"), "{err}");
    assert!(
        err.contains("scripts/user.rhai:1:9 (scripts[1]): ") && err.contains("[compile_error]"),
        "{err}"
    );
    assert!(
        err.contains("picloud.toml:3:1") || err.contains("(domains[1])"),
        "{err}"
    );
    assert!(err.contains("[domain_taken]"), "{err}");
    assert!(err.contains("[route_conflict]"), "{err}");
    assert!(
        err.contains("(cron[0].schedule)") && err.contains("[invalid_schedule]"),
        "{err}"
    );

    // The same refusal over the API: 422 with every problem, located.
    let files: serde_json::Map<String, Value> = ["hello", "user", "nightly"]
        .iter()
        .map(|name| {
            let path = format!("scripts/{name}.rhai");
            let text = std::fs::read_to_string(folder.path().join(&path)).unwrap();
            (path, Value::String(text))
        })
        .collect();
    let (status, answer) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:apply",
            Some(json!({"manifest": broken, "files": files})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_manifest");
    let problems = answer["error"]["problems"].as_array().unwrap();
    let codes: Vec<&str> = problems
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 4, "{answer}");
    for code in [
        "compile_error",
        "domain_taken",
        "route_conflict",
        "invalid_schedule",
    ] {
        assert!(codes.contains(&code), "{code} missing: {answer}");
    }
    let domain = problems
        .iter()
        .find(|p| p["code"] == "domain_taken")
        .unwrap();
    assert_eq!(
        (
            domain["file"].as_str(),
            domain["line"].as_u64(),
            domain["key"].as_str()
        ),
        (Some("picloud.toml"), Some(3), Some("domains[1]")),
        "{domain}"
    );
    let compile = problems
        .iter()
        .find(|p| p["code"] == "compile_error")
        .unwrap();
    assert_eq!(
        (
            compile["file"].as_str(),
            compile["line"].as_u64(),
            compile["column"].as_u64()
        ),
        (Some("scripts/user.rhai"), Some(1), Some(9)),
        "{compile}"
    );

    // A syntax error in the manifest itself names its line and key.
    let (status, answer) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:plan",
            Some(json!({"manifest": MANIFEST.replace("deadline_ms = 2000", "deadline_ms = \"soon\""), "files": files})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let problem = &answer["error"]["problems"][0];
    assert_eq!(problem["line"], 10, "{answer}");
    assert_eq!(problem["key"], "deadline_ms", "{answer}");

    // A variable's problem names its line too.
    let (status, answer) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:plan",
            Some(json!({"manifest": MANIFEST.replace("GREETING = \"Hello\"", "GREETING = \"Hello\"\n9LIVES = \"x\""), "files": files})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let problem = &answer["error"]["problems"][0];
    assert_eq!(
        (
            problem["line"].as_u64(),
            problem["key"].as_str(),
            problem["code"].as_str()
        ),
        (Some(8), Some("variables.9LIVES"), Some("invalid_name")),
        "{answer}"
    );

    // Nothing changed: the full export is the same, and the old code serves.
    assert_eq!(export(&s, "shop").await, before);
    assert_eq!(
        s.call(Method::GET, "shop.test", "/users/7").await.0,
        StatusCode::OK
    );
    s.stop().await;
}

async fn an_export_deploys_into_an_empty_server_and_exports_the_same_bytes(db: Db) {
    let first = TestServer::start(&db).await;
    let folder = tempfile::tempdir().unwrap();
    write_folder(folder.path());
    let (ok, out, err) = cli(&first, &["deploy", folder.path().to_str().unwrap()]).await;
    assert!(ok, "{out}{err}");
    // Settings a manifest also covers, made through the API.
    for (path, body) in [(
        "/api/v1/admin/apps/shop",
        json!({
            "cors": {"allow_origins": ["https://front.test"]},
            "rate_limit": {"requests_per_second": 50.0},
            "users": {"session_cookie": "sid", "session_ttl": 3600},
        }),
    )] {
        let (status, answer) = first.admin(Method::PATCH, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, answer) = first
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/http-allow",
            Some(json!({"pattern": "https://api.example.com"})),
        )
        .await;
    assert!(status.is_success(), "{answer}");

    let exported = tempfile::tempdir().unwrap();
    let one = exported.path().join("one");
    let (ok, out, err) = cli(&first, &["export", "shop", one.to_str().unwrap()]).await;
    assert!(ok, "{out}{err}");
    let manifest = std::fs::read_to_string(one.join("picloud.toml")).unwrap();
    assert!(
        manifest.contains("[cors]")
            && manifest.contains("[rate_limit]")
            && manifest.contains("[users]"),
        "{manifest}"
    );
    assert!(manifest.contains("https://api.example.com"), "{manifest}");

    // An empty server (SQLite, whichever engine the first one runs on).
    let second = TestServer::start(&None).await;
    let (ok, out, err) = cli(&second, &["deploy", one.to_str().unwrap()]).await;
    assert!(ok, "{out}{err}");
    let (_, app) = second
        .admin(Method::GET, "/api/v1/admin/apps/shop", None)
        .await;
    assert_eq!(
        app["users"],
        json!({"session_cookie": "sid", "session_ttl": 3600}),
        "{app}"
    );
    let two = exported.path().join("two");
    let (ok, out, err) = cli(&second, &["export", "shop", two.to_str().unwrap()]).await;
    assert!(ok, "{out}{err}");
    for file in [
        "picloud.toml",
        "scripts/hello.rhai",
        "scripts/user.rhai",
        "scripts/nightly.rhai",
    ] {
        assert_eq!(
            std::fs::read(one.join(file)).unwrap(),
            std::fs::read(two.join(file)).unwrap(),
            "{file} differs after the round trip"
        );
    }
    // The copy serves the same responses.
    for path in ["/hello", "/users/42", "/nope"] {
        assert_eq!(
            first.call(Method::GET, "shop.test", path).await,
            second.call(Method::GET, "shop.test", path).await,
            "{path}"
        );
    }
    first.stop().await;
    second.stop().await;
}

/// docs/manifest.md's example app, as written there: every "`shop/<path>`:"
/// followed by a fenced block is a file of the folder.
fn documented_example(dir: &Path) -> usize {
    let doc = include_str!("../../../docs/manifest.md");
    let mut files = 0;
    for (i, _) in doc.match_indices("`shop/") {
        let rest = &doc[i + "`shop/".len()..];
        let Some((path, after)) = rest.split_once("`:\n\n```") else {
            continue;
        };
        let body = after.split_once('\n').unwrap().1;
        let body = &body[..body.find("```").unwrap()];
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, body).unwrap();
        files += 1;
    }
    files
}

async fn the_documented_example_app_deploys_and_serves(db: Db) {
    let s = TestServer::start(&db).await;
    let folder = tempfile::tempdir().unwrap();
    assert_eq!(
        documented_example(folder.path()),
        4,
        "docs/manifest.md's example changed"
    );
    let dir = folder.path().to_str().unwrap();
    let (ok, out, err) = cli(&s, &["deploy", dir, "-m", "from the docs"]).await;
    assert!(ok, "{out}{err}");
    let placed = s
        .client
        .post(format!("{}/orders", s.base))
        .header("host", "shop.example.com")
        .json(&json!({"items": [{"price": 20.0, "qty": 3}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(
        (order["total"].as_f64(), order["currency"].as_str()),
        (Some(60.0), Some("EUR"))
    );
    let (status, found) = s
        .call(
            Method::GET,
            "shop.example.com",
            &format!("/orders/{}", order["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        s.call(Method::GET, "shop.example.com", "/orders/nope")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (ok, out, err) = cli(&s, &["deploy", dir, "--app", "shop-staging"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("+ create domain staging.shop.example.com"),
        "{out}"
    );
    s.stop().await;
}

async fn queue_and_email_triggers_deploy_export_and_prune(db: Db) {
    let s = TestServer::start(&db).await;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap();
    write_folder(folder.path());
    let with_triggers = format!(
        "{MANIFEST}\n[[queue]]\nscript = \"nightly\"\nqueue = \"restock\"\nmax_attempts = 3\n\n\
         [[email]]\nscript = \"hello\"\nemail = \"Support\"\n\n\
         [[email]]\nscript = \"nightly\"\nemail = \"*\"\nenabled = false\n"
    );
    std::fs::write(folder.path().join("picloud.toml"), &with_triggers).unwrap();
    let (ok, out, err) = cli(&s, &["deploy", dir]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("restock → nightly") && out.contains("support@ → hello"),
        "{out}"
    );
    let (_, triggers) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/triggers", None)
        .await;
    let items = triggers["items"].as_array().unwrap();
    let mut kinds: Vec<(&str, &str)> = items
        .iter()
        .filter(|t| t["kind"] != "cron")
        .map(|t| {
            let name = t
                .get("queue")
                .or(t.get("email"))
                .and_then(Value::as_str)
                .unwrap();
            (t["kind"].as_str().unwrap(), name)
        })
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [("email", "*"), ("email", "support"), ("queue", "restock")],
        "{triggers}"
    );
    let restock = items.iter().find(|t| t["queue"] == "restock").unwrap();
    assert_eq!(restock["max_attempts"], 3);
    let any = items.iter().find(|t| t["email"] == "*").unwrap();
    assert_eq!(any["enabled"], false);

    // The export carries them; deploying it again changes nothing.
    let exported = export(&s, "shop").await;
    let manifest = exported["manifest"].as_str().unwrap();
    assert!(
        manifest.contains("[[queue]]") && manifest.contains("[[email]]"),
        "{manifest}"
    );
    let (ok, out, err) = cli(&s, &["deploy", dir, "--dry-run"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        !out.contains("restock") || out.contains("no changes"),
        "{out}"
    );

    // A changed trigger is updated, a removed one pruned.
    let changed = with_triggers
        .replace("max_attempts = 3", "max_attempts = 7")
        .replace(
            "[[email]]\nscript = \"nightly\"\nemail = \"*\"\nenabled = false\n",
            "",
        );
    std::fs::write(folder.path().join("picloud.toml"), &changed).unwrap();
    let (ok, out, err) = cli(&s, &["deploy", dir, "--prune"]).await;
    assert!(ok, "{out}{err}");
    let (_, triggers) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/triggers", None)
        .await;
    let items = triggers["items"].as_array().unwrap();
    assert!(items.iter().all(|t| t["email"] != "*"), "{triggers}");
    let restock = items.iter().find(|t| t["queue"] == "restock").unwrap();
    assert_eq!(restock["max_attempts"], 7);

    // Bad entries are refused, each named, and nothing changes.
    let broken = changed
        .replace("email = \"Support\"", "email = \"not an address\"")
        .replace("queue = \"restock\"", "queue = \"re stock\"");
    std::fs::write(folder.path().join("picloud.toml"), &broken).unwrap();
    let (ok, out, err) = cli(&s, &["deploy", dir]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("(email[0].email)") && err.contains("[invalid_trigger]"),
        "{err}"
    );
    assert!(
        err.contains("(queue[0].queue)") && err.contains("[invalid_queue]"),
        "{err}"
    );
    s.stop().await;
}
