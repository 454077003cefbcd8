//! Composition inside one app, over HTTP against the real guest: shared
//! modules (`import`), `invoke()` between scripts, and interceptors; and
//! that none of the three ever reaches another app's scripts. Every test
//! runs on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TestServer, code};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        modules_are_the_apps_own_scripts,
        invoke_runs_a_script_of_the_same_app_as_a_child,
        invoke_is_bounded_in_depth_cycles_and_count,
        interceptors_guard_routes_in_order,
        a_manifest_deploys_modules_and_interceptors,
        a_script_is_checked_without_being_saved,
    ])
}

/// Creates script `name` in `app`; the response (201 expected unless the
/// caller checks it).
async fn create(s: &TestServer, app: &str, name: &str, source: &str) -> (StatusCode, Value) {
    s.admin(
        Method::POST,
        "/api/v1/admin/scripts",
        Some(json!({"app_id": app, "name": name, "source": source})),
    )
    .await
}

async fn script(s: &TestServer, app: &str, name: &str, source: &str) -> String {
    let (status, body) = create(s, app, name, source).await;
    assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The newest execution record of `script`, in full.
async fn last_record(s: &TestServer, script: &str) -> Value {
    let (status, list) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/executions?script={script}&limit=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let id = list["executions"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no record of {script}: {list}"))
        .to_owned();
    let (status, record) = s
        .admin(Method::GET, &format!("/api/v1/admin/executions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    record
}

/// A test run of `script` (the admin API's run panel); its result.
async fn run(s: &TestServer, script: &str) -> Value {
    let (status, result) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{script}/run"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    result
}

async fn modules_are_the_apps_own_scripts(db: Db) {
    let s = TestServer::start(&db).await;
    // A module must exist before a script imports it.
    let (status, body) = create(&s, "default", "early", "import \"strings\" as st; 1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let strings = script(&s, "default", "strings", "fn upper(t) { t.to_upper() }").await;
    let utils = script(
        &s,
        "default",
        "utils",
        "import \"strings\" as st;\nfn double(x) { x * 2 }\nfn shout(t) { st::upper(t) }\nexport const GREETING = \"hi\";\nprivate fn hidden() { 1 }",
    )
    .await;
    let main = script(
        &s,
        "default",
        "main",
        "import \"utils\" as u;\n`${u::GREETING} ${u::double(21)} ${u::shout(\"x\")}`",
    )
    .await;
    let (status, body) = s.route(&main, "GET", "/m").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        s.call(Method::GET, "localhost", "/m").await,
        (StatusCode::OK, "hi 42 X".to_owned())
    );

    // The record lists the modules it was given, with their versions.
    let record = last_record(&s, &main).await;
    let mut names: Vec<(String, i64)> = record["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["version"].as_i64().unwrap(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("strings".to_owned(), 1), ("utils".to_owned(), 1)],
        "{record}"
    );

    // A private function is not exported.
    let probe = script(&s, "default", "probe", "import \"utils\" as u; u::hidden()").await;
    let result = run(&s, &probe).await;
    assert_eq!(result["error"]["code"], "runtime_error", "{result}");

    // Upload checks: a missing module, a cycle, a computed path; each 422
    // naming the problem and the line.
    let cases = [
        (
            "missing",
            "let a = 1;\nimport \"nope\" as n;\na",
            "module \"nope\" not found",
            2,
        ),
        ("itself", "import \"itself\" as i; 1", "import cycle", 1),
        (
            "computed",
            "let p = \"utils\";\nimport p as u;\n1",
            "string literal",
            2,
        ),
    ];
    for (name, source, expected, line) in cases {
        let (status, body) = create(&s, "default", name, source).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(code(&body), "compile_error", "{name}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{name}: {message}");
        assert_eq!(body["error"]["line"], line, "{name}: {body}");
    }
    // A save that would close a cycle is refused; the running version stays.
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/scripts/{strings}"),
            Some(json!({"source": "import \"utils\" as u;\nfn upper(t) { t.to_upper() }"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("import cycle: strings → utils → strings"),
        "{message}"
    );

    // A module of another app never resolves, whatever its name.
    s.app_on("other", "other.test").await;
    script(&s, "other", "secrets", "fn key() { \"other's key\" }").await;
    let (status, body) = create(&s, "default", "thief", "import \"secrets\" as x; x::key()").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("module \"secrets\" not found in this app"),
        "{body}"
    );
    // ... and the other app may have its own `utils`, which `main` never sees.
    script(&s, "other", "utils", "export const GREETING = \"other\";").await;
    assert_eq!(s.call(Method::GET, "localhost", "/m").await.1, "hi 42 X");

    // Changing a module takes effect for its importers at once.
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/scripts/{utils}"),
            Some(json!({"source": "fn double(x) { x * 3 }\nfn shout(t) { t + \"!\" }\nexport const GREETING = \"yo\";"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.call(Method::GET, "localhost", "/m").await.1, "yo 63 x!");
    let record = last_record(&s, &main).await;
    assert_eq!(record["modules"][0]["name"], "utils", "{record}");
    assert_eq!(record["modules"][0]["version"], 2, "{record}");

    // A module in use cannot be deleted or renamed; the message lists the
    // importers.
    let (status, body) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/scripts/{utils}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "module_in_use", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'main'") && message.contains("'probe'"),
        "{message}"
    );
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/scripts/{utils}"),
            Some(json!({"name": "helpers"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "module_in_use", "{body}");
    // Once nothing imports it, it goes.
    for importer in [&main, &probe] {
        let (status, body) = s
            .admin(
                Method::DELETE,
                &format!("/api/v1/admin/scripts/{importer}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    let (status, body) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/scripts/{utils}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    s.stop().await;
}

async fn invoke_runs_a_script_of_the_same_app_as_a_child(db: Db) {
    let s = TestServer::start(&db).await;
    script(
        &s,
        "default",
        "child",
        "#{ status: 201, headers: #{ \"x-child\": \"yes\" }, body: `${request.method} ${request.path}?${request.query.q} ${request.body} via ${request.trigger} for ${request.client_ip}` }",
    )
    .await;
    let parent = script(
        &s,
        "default",
        "parent",
        "let r = invoke(\"child\", #{ method: \"post\", path: \"/inner\", query: #{ q: \"1\" }, body: \"hello\" });\n`${r.status} ${r.headers[\"x-child\"]} ${r.body}`",
    )
    .await;
    s.route(&parent, "GET", "/p").await;
    assert_eq!(
        s.call(Method::GET, "localhost", "/p").await,
        (
            StatusCode::OK,
            // The callee sees the caller's client (users::login throttles by it).
            "201 yes POST /inner?1 hello via invoke for 127.0.0.1".to_owned()
        )
    );
    // The callee's record is a child of the caller's; the detail shows the
    // tree.
    let record = last_record(&s, &parent).await;
    let descendants = record["descendants"].as_array().unwrap();
    assert_eq!(descendants.len(), 1, "{record}");
    let child = &descendants[0];
    assert_eq!(child["trigger"], "invoke", "{child}");
    assert_eq!(child["status"], 201, "{child}");
    assert_eq!(child["path"], "/inner", "{child}");
    assert_eq!(child["parent_id"], record["id"], "{child}");
    let (status, detail) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/executions/{}", child["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["parent_id"], record["id"], "{detail}");

    // A failing callee is a catchable error with the callee's code; not
    // caught, the caller fails naming it.
    script(&s, "default", "bad", "let x = 1;\nthrow \"boom\"").await;
    script(&s, "default", "spin", "loop { }").await;
    let catcher = script(
        &s,
        "default",
        "catcher",
        "let codes = [];\nfor name in [\"bad\", \"spin\", \"nothere\"] { try { invoke(name) } catch (e) { codes.push(`${e.script}:${e.code}`) } }\ncodes",
    )
    .await;
    let result = run(&s, &catcher).await;
    assert_eq!(
        result["body"],
        "[\"bad:runtime_error\",\"spin:fuel_exhausted\",\"nothere:invoke_not_found\"]",
        "{result}"
    );
    let uncaught = script(&s, "default", "uncaught", "invoke(\"bad\")").await;
    let result = run(&s, &uncaught).await;
    assert_eq!(result["error"]["code"], "runtime_error", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("invoke(\"bad\"): runtime_error: boom (line 2, column 1 of 'bad')"),
        "{message}"
    );

    // Another app's script is not found, even by its exact name.
    s.app_on("other", "other.test").await;
    script(&s, "other", "private-report", "\"other app's data\"").await;
    let snoop = script(
        &s,
        "default",
        "snoop",
        "let code = \"\";\ntry { invoke(\"private-report\") } catch (e) { code = e.code }\ncode",
    )
    .await;
    assert_eq!(run(&s, &snoop).await["body"], "invoke_not_found");
    s.stop().await;
}

async fn invoke_is_bounded_in_depth_cycles_and_count(db: Db) {
    let s = TestServer::start(&db).await;
    // a → b → c → d → e → f: the request's script and five levels, one more
    // than the default depth of 4.
    let chain = ["a", "b", "c", "d", "e", "f"];
    for (i, name) in chain.iter().enumerate().rev() {
        let source = match chain.get(i + 1) {
            Some(next) => format!(
                "let out = \"\";\ntry {{ out = invoke(\"{next}\").body }} catch (e) {{ out = `{name} caught ${{e.code}}` }}\nout"
            ),
            None => "\"bottom\"".to_owned(),
        };
        script(&s, "default", name, &source).await;
    }
    let a = last_id(&s, "a").await;
    let result = run(&s, &a).await;
    assert_eq!(result["body"], "e caught invoke_depth_exceeded", "{result}");
    // Four levels below `a` ran: b, c, d, e.
    let record = last_record(&s, &a).await;
    let triggers: Vec<&str> = record["descendants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["invoke"; 4], "{record}");

    // A cycle is refused by name.
    script(
        &s,
        "default",
        "ping",
        "let out = \"\";\ntry { out = invoke(\"pong\").body } catch (e) { out = e.message }\nout",
    )
    .await;
    let pong = script(&s, "default", "pong", "invoke(\"ping\").body").await;
    let _ = pong;
    let ping = last_id(&s, "ping").await;
    let result = run(&s, &ping).await;
    let body = result["body"].as_str().unwrap();
    assert!(body.contains("invoke_cycle"), "{result}");
    assert!(body.contains("ping → pong → ping"), "{result}");

    // At most 16 invokes per execution.
    let many = script(
        &s,
        "default",
        "many",
        "let done = 0;\nlet last = \"\";\nfor i in 0..20 { try { invoke(\"f\"); done += 1; } catch (e) { last = e.code } }\n`${done} ${last}`",
    )
    .await;
    assert_eq!(run(&s, &many).await["body"], "16 invoke_limit_exceeded");
    s.stop().await;
}

async fn last_id(s: &TestServer, name: &str) -> String {
    let (status, list) = s
        .admin(
            Method::GET,
            "/api/v1/admin/scripts?app=default&limit=100",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no script {name}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET path` on `host` with the token `AUTH` lets through.
async fn signed_in(s: &TestServer, host: &str, path: &str) -> reqwest::Response {
    s.client
        .get(format!("{}{path}", s.base))
        .header("host", host)
        .header("authorization", "Bearer s3cret")
        .send()
        .await
        .unwrap()
}

const AUTH: &str = r#"// Lets requests with the right bearer token through, with the user.
let header = request.headers.authorization ?? "";
if header != "Bearer s3cret" {
    return #{ status: 401, body: #{ error: "missing or wrong token" } };
}
request.locals.user = "ann";
()"#;

async fn interceptors_guard_routes_in_order(db: Db) {
    let s = TestServer::start(&db).await;
    script(&s, "default", "auth", AUTH).await;
    script(
        &s,
        "default",
        "stamp",
        "request.locals.seen = (request.locals.user ?? \"nobody\") + \" at \" + request.trigger; ()",
    )
    .await;
    let whoami = script(
        &s,
        "default",
        "whoami",
        "`${request.locals.user} / ${request.locals.seen}`",
    )
    .await;
    s.route(&whoami, "GET", "/v1/me").await;
    let open = script(&s, "default", "open", "`open ${request.locals}`").await;
    s.route(&open, "GET", "/public").await;

    // Two interceptors for /v1/, in order; the second sees the first's
    // locals.
    for (script, prefix, position) in [("stamp", "/v1/*", 1), ("auth", "/v1/", 0)] {
        let (status, body) = s
            .admin(
                Method::POST,
                "/api/v1/admin/apps/default/interceptors",
                Some(json!({"script": script, "prefix": prefix, "position": position})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["prefix"], "/v1/", "{body}");
    }
    let (status, list) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/interceptors", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let order: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["script_name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["auth", "stamp"], "{list}");

    // Short-circuit: no token, 401 from `auth`; the handler does not run.
    let (status, body) = s.call(Method::GET, "localhost", "/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body, r#"{"error":"missing or wrong token"}"#);
    let record = last_record(&s, &whoami).await;
    assert_eq!(record["status"], 401, "{record}");
    assert_eq!(record["fuel_used"], 0, "{record}");
    let runs = record["interceptors"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{record}");
    assert_eq!(runs[0]["script_name"], "auth");
    assert_eq!(runs[0]["result"], "answered");
    assert_eq!(runs[0]["status"], 401);
    assert_eq!(
        record["descendants"][0]["trigger"], "interceptor",
        "{record}"
    );

    // Pass-through with locals, through both.
    let response = signed_in(&s, "localhost", "/v1/me").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ann / ann at interceptor");
    let record = last_record(&s, &whoami).await;
    let results: Vec<&str> = record["interceptors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["continued", "continued"], "{record}");
    assert_eq!(
        record["descendants"].as_array().unwrap().len(),
        2,
        "{record}"
    );

    // Outside the prefix nothing intercepts.
    assert_eq!(
        s.call(Method::GET, "localhost", "/public").await,
        (StatusCode::OK, "open #{}".to_owned())
    );

    // An interceptor that fails ends the request with its error; the
    // handler never runs.
    let stamp_id = list["items"][1]["id"].as_str().unwrap().to_owned();
    let broken = script(&s, "default", "broken", "throw \"guard failed\"").await;
    let _ = broken;
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/apps/default/interceptors/{stamp_id}"),
            Some(json!({"script": "broken"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = signed_in(&s, "localhost", "/v1/me").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "runtime_error", "{body}");
    let record = last_record(&s, &whoami).await;
    assert_eq!(record["error"]["code"], "runtime_error", "{record}");
    assert_eq!(record["interceptors"][1]["result"], "failed", "{record}");

    // Bad input and other apps' scripts.
    s.app_on("other", "other.test").await;
    script(&s, "other", "foreign", "()").await;
    for (body, status, expected) in [
        (
            json!({"script": "foreign"}),
            StatusCode::BAD_REQUEST,
            "invalid_script",
        ),
        (
            json!({"script": "auth", "prefix": "v1"}),
            StatusCode::BAD_REQUEST,
            "invalid_prefix",
        ),
        (
            json!({"prefix": "/"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ] {
        let (got, answer) = s
            .admin(
                Method::POST,
                "/api/v1/admin/apps/default/interceptors",
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(code(&answer), expected, "{body}: {answer}");
    }
    // The other app's routes are not guarded by this app's interceptors.
    let foreign_route = script(&s, "other", "other-me", "\"other app\"").await;
    s.route(&foreign_route, "GET", "/v1/me").await;
    assert_eq!(
        s.call(Method::GET, "other.test", "/v1/me").await,
        (StatusCode::OK, "other app".to_owned())
    );
    // Another app cannot read or change this app's interceptor by id.
    let (status, _) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/other/interceptors/{stamp_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A script an interceptor runs cannot be deleted.
    let auth = last_id(&s, "auth").await;
    let (status, body) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/scripts/{auth}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "script_in_use", "{body}");
    // Deleting the interceptors opens the route again.
    for item in list["items"].as_array().unwrap() {
        let (status, body) = s
            .admin(
                Method::DELETE,
                &format!(
                    "/api/v1/admin/apps/default/interceptors/{}",
                    item["id"].as_str().unwrap()
                ),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(
        s.call(Method::GET, "localhost", "/v1/me").await.0,
        StatusCode::OK
    );
    s.stop().await;
}

async fn a_manifest_deploys_modules_and_interceptors(db: Db) {
    let s = TestServer::start(&db).await;
    let manifest = r#"slug = "shop"
name = "Shop"
domains = ["shop.test"]

[[scripts]]
name = "auth"
file = "auth.rhai"

[[scripts]]
name = "api"
file = "api.rhai"

[[scripts]]
name = "money"
file = "money.rhai"

[[routes]]
method = "GET"
path = "/v1/price"
script = "api"

[[interceptors]]
script = "auth"
prefix = "/v1/"
"#;
    let files = json!({
        "auth.rhai": AUTH,
        "api.rhai": "import \"money\" as m;\nm::format(1250)",
        "money.rhai": "fn format(cents) { `${cents / 100}.${cents % 100} EUR` }",
    });
    let (status, plan) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:apply",
            Some(json!({"manifest": manifest, "files": files})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "interceptor" && c["action"] == "create"),
        "{plan}"
    );
    assert_eq!(
        s.call(Method::GET, "shop.test", "/v1/price").await.0,
        StatusCode::UNAUTHORIZED
    );
    let response = signed_in(&s, "shop.test", "/v1/price").await;
    assert_eq!(response.text().await.unwrap(), "12.50 EUR");

    // An export writes them back; a module the manifest does not have is
    // refused with the file and line.
    let (status, export) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/manifest", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let text = export["manifest"].as_str().unwrap();
    assert!(
        text.contains("[[interceptors]]\nscript = \"auth\"\nprefix = \"/v1/\""),
        "{text}"
    );
    let mut broken = files.clone();
    broken["api.rhai"] = json!("let x = 1;\nimport \"currency\" as c;\nx");
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:plan",
            Some(json!({"manifest": manifest, "files": broken})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let problem = &body["error"]["problems"][0];
    assert_eq!(problem["file"], "api.rhai", "{body}");
    assert_eq!(problem["line"], 2, "{body}");
    assert_eq!(problem["code"], "compile_error", "{body}");
    s.stop().await;
}

/// `POST /scripts:check`: the upload's compile and import checks as
/// diagnostics, nothing stored.
async fn a_script_is_checked_without_being_saved(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    let (status, body) = create(&s, "shop", "money", "fn format(c) { `${c / 100}` }").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let check = |body: Value| {
        let s = &s;
        async move {
            s.admin(Method::POST, "/api/v1/admin/scripts:check", Some(body))
                .await
        }
    };
    let (status, ok) = check(json!({
        "app_id": "shop", "name": "order",
        "source": "import \"money\" as m;\nm::format(250)",
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(
        ok,
        json!({"ok": true, "diagnostics": [], "imports": ["money"]})
    );

    let (status, bad) = check(json!({"app_id": "shop", "source": "let a = 1;\nlet x = ;\n"})).await;
    assert_eq!(status, StatusCode::OK, "{bad}");
    assert_eq!(bad["ok"], false);
    let diagnostic = &bad["diagnostics"][0];
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(
        (diagnostic["line"].as_u64(), diagnostic["column"].as_u64()),
        (Some(2), Some(9))
    );
    assert!(!diagnostic["message"].as_str().unwrap().is_empty(), "{bad}");

    // Imports are checked against the app's scripts, cycles included.
    let (_, missing) = check(json!({"app_id": "shop", "source": "import \"nope\" as n;\n1"})).await;
    assert_eq!(missing["ok"], false);
    assert!(
        missing["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{missing}"
    );
    let (_, cycle) = check(json!({
        "app_id": "shop", "name": "money", "source": "import \"money\" as m;\n1",
    }))
    .await;
    assert_eq!(cycle["ok"], false, "{cycle}");
    // Without an app, only the syntax: an import is not looked up.
    let (_, alone) = check(json!({"source": "import \"nope\" as n;\n1"})).await;
    assert_eq!(alone["ok"], true, "{alone}");

    // Nothing was saved.
    let (_, scripts) = s
        .admin(Method::GET, "/api/v1/admin/scripts?app=shop", None)
        .await;
    assert_eq!(scripts["scripts"].as_array().unwrap().len(), 1, "{scripts}");
    // Another app's scripts are not an import target, and an unknown app is 404.
    let (status, _) = check(json!({"app_id": "nowhere", "source": "1"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}
