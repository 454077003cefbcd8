//! The OpenAPI 3 document of the admin API, served at `/api/v1/openapi.json`.
//!
//! It is generated from the same registrations that build the router
//! (`utoipa_axum::routes!`), so a route cannot exist without being
//! documented. Each operation lists its own success and error responses; the
//! errors every admin operation can give (401, 403, 413 with a body, 500)
//! are added here, in one place. Paths are relative to the admin API's
//! server (`/api/v1/admin`), except the platform's unauthenticated endpoints
//! outside it (`/tls/ask`), whose path items name their own server.

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, ToSchema};

/// The 308 every `/apps/{app}/…` operation may answer (see `AppPath`).
pub(super) const MOVED: &str = "`moved_permanently`: an old slug; `Location` has the current URL";
/// A plain 404.
pub(super) const NOT_FOUND: &str = "`not_found`";
/// The 404 of an operation whose only lookup is the app.
pub(super) const NO_SUCH_APP: &str = "`not_found`: no such app";

/// The one error shape of the API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code, message and, for compile errors, the position.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `route_conflict` (docs/api.md lists them).
    pub code: String,
    /// Human-readable message naming the problem.
    pub message: String,
    /// Source line (`compile_error` only).
    pub line: Option<u32>,
    /// Source column (`compile_error` only).
    pub column: Option<u32>,
}

/// A script log line.
#[derive(Serialize, ToSchema)]
pub struct LogLineSchema {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// A module an execution was given.
#[derive(Serialize, ToSchema)]
pub struct ModuleUse {
    /// The module's name (a script of the app).
    pub name: String,
    /// The script's id.
    pub script_id: String,
    /// Its version then.
    pub version: i64,
}

/// What one interceptor did for a request.
#[derive(Serialize, ToSchema)]
pub struct InterceptorRun {
    /// The interceptor's own execution record.
    pub execution_id: String,
    /// Its script's id.
    pub script_id: String,
    /// Its script's name.
    pub script_name: String,
    /// `continued`, `answered` or `failed`.
    pub result: String,
    /// The status it answered with (or its error's); 0 when it continued.
    pub status: u16,
}

/// Declares the schema of a list response: the items under the list's own
/// key, and for paged lists the cursor of the next page (`null` on the last;
/// pass it back as `?cursor=`).
macro_rules! list_schema {
    ($name:ident, $key:ident, $item:ty, paged) => {
        #[doc = concat!("A page of ", stringify!($key), ".")]
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            #[doc = "The items, in the list's order."]
            pub $key: Vec<$item>,
            #[doc = "Cursor of the next page; `null` on the last page."]
            pub next_cursor: Option<String>,
        }
    };
    ($name:ident, $key:ident, $item:ty) => {
        #[doc = concat!("All ", stringify!($key), ".")]
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            #[doc = "The items, in the list's order."]
            pub $key: Vec<$item>,
        }
    };
}

list_schema!(AppList, apps, crate::store::App, paged);
list_schema!(ScriptList, scripts, crate::store::Script, paged);
list_schema!(UserList, users, crate::store::User, paged);
list_schema!(TokenList, tokens, crate::store::Token, paged);
list_schema!(
    ExecutionList,
    executions,
    crate::store::ExecutionSummary,
    paged
);
list_schema!(DomainList, domains, crate::store::Domain, paged);
list_schema!(RouteList, routes, crate::store::Route, paged);
list_schema!(RoleList, roles, crate::store::Grant);
list_schema!(QueueList, queues, crate::store::QueueStats);
list_schema!(DeadLetterList, dead_letters, crate::store::DeadLetter);

/// An app the caller has a role on, as `/auth/me` lists it.
#[derive(Serialize, ToSchema)]
pub struct AppRole {
    /// App id.
    pub app_id: String,
    /// Current slug.
    pub slug: String,
    pub role: crate::store::Role,
}

/// The answer of `routes:check`.
#[derive(Serialize, ToSchema)]
pub struct RouteCheck {
    /// Whether creating the route would succeed.
    pub ok: bool,
    /// Why not (when `ok` is false): `route_conflict` or
    /// `host_claimed_by_other_app`, the code creating it would answer.
    pub code: Option<String>,
    /// The route of the same app it would collide with (`route_conflict`).
    pub conflict: Option<crate::store::Route>,
    /// Says what collides (when `ok` is false).
    pub message: Option<String>,
    /// Where the route would answer (when `ok` is true); empty when only
    /// through `/api/v1/execute/{script_id}`.
    pub reachable_at: Option<Vec<String>>,
    /// Why it would not answer where one might expect (when `ok` is true).
    pub warnings: Option<Vec<String>>,
}

/// An app as `routes:match` names it.
#[derive(Serialize, ToSchema)]
pub struct AppName {
    /// App id.
    pub id: String,
    /// Current slug.
    pub slug: String,
}

/// The answer of `routes:match`. Fields beyond `matched` appear as they apply.
#[derive(Serialize, ToSchema)]
pub struct RouteMatch {
    /// Whether a route would serve the request.
    pub matched: bool,
    /// When not matched: `invalid_host`, `unknown_host`, `no_route` or `method_not_allowed`.
    pub reason: Option<String>,
    /// The app the host resolved to.
    pub app: Option<AppName>,
    /// The script that would run.
    pub script_id: Option<String>,
    /// The matching route.
    pub route_id: Option<String>,
    /// Its path pattern.
    pub route_path: Option<String>,
    /// `:name` captures (and `wildcard`).
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// `{name}` captures of the domain claim.
    #[schema(value_type = Option<Object>)]
    pub host_params: Option<serde_json::Value>,
    /// Methods the path does accept (`method_not_allowed`).
    pub allowed: Option<Vec<String>>,
    /// Why it did not match.
    pub message: Option<String>,
}

/// The answer of a successful sign-in (the session cookie is in `Set-Cookie`).
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// The signed-in user.
    pub user: crate::store::User,
    /// Send back as `X-CSRF-Token` on every session-authenticated write.
    pub csrf_token: String,
    /// RFC 3339: when the session ends.
    pub expires_at: String,
}

/// Who the request is authenticated as.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// `token` or `session`.
    pub kind: String,
    /// The user behind it (`null`: a token that belongs to no user).
    pub user: Option<crate::store::User>,
    /// The token's id (`kind` = `token`).
    pub token_id: Option<String>,
    /// The session's CSRF token (`kind` = `session`).
    pub csrf_token: Option<String>,
    /// RFC 3339: when the session ends (`kind` = `session`).
    pub expires_at: Option<String>,
    /// Whether the caller has server-wide powers (creating apps, users and
    /// tokens; owner of every app). A token limited to one app has not.
    pub server_admin: bool,
    /// The caller's role on each app it may use (empty for a server admin,
    /// who owns them all).
    pub roles: Vec<AppRole>,
}

/// A token just created: the only time `token` itself is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// Token id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `admin` or `metrics`.
    pub scope: crate::store::TokenScope,
    /// The user it acts for.
    pub user_id: Option<String>,
    /// The one app it is limited to (`null`: not limited).
    pub app_id: Option<String>,
    /// Its role on that app (`null`: not limited).
    pub role: Option<crate::store::Role>,
    /// RFC 3339.
    pub created_at: String,
    /// Always `null` for a new token.
    pub last_used_at: Option<String>,
    /// The secret (`pc_…`); only its hash is stored.
    pub token: String,
}

/// The document's fixed parts: title, version, security schemes, tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "PiCloud admin API",
        description = "Apps, domains, scripts, routes, the execution log, key-value data, document collections, variables and secrets, cron triggers, users and tokens; and which domains the front proxy may obtain certificates for. docs/api.md is the guide.",
    ),
    servers((url = "/api/v1/admin")),
    components(schemas(ErrorBody, ErrorDetail, LogLineSchema, ModuleUse, InterceptorRun)),
    security(("token" = []), ("session" = [])),
    tags(
        (name = "apps", description = "Apps and their domain claims"),
        (name = "scripts", description = "Scripts and their routes"),
        (name = "routes", description = "Route checks and matching"),
        (name = "executions", description = "The execution log"),
        (name = "auth", description = "Sign-in, users and API tokens"),
        (name = "kv", description = "Each app's key-value store, as its scripts see it"),
        (name = "docs", description = "Each app's document collections, as its scripts see them"),
        (name = "variables", description = "Each app's variables and secrets (secret values are write-only)"),
        (name = "http-allow", description = "Where each app's scripts may send outbound HTTP requests"),
        (name = "triggers", description = "Cron triggers: each app's scripts run on schedules"),
        (name = "interceptors", description = "Interceptors: each app's scripts that run before its route scripts"),
        (name = "queues", description = "Each app's queues (queue::send) and their dead letters"),
        (name = "email", description = "The mail each app sent with email::send, and its delivery"),
        (name = "roles", description = "Who may do what on each app: owner, developer or viewer"),
        (name = "app-users", description = "Each app's end-user accounts, which its scripts manage with users::"),
        (name = "tls", description = "On-demand TLS: which domains the front proxy (Caddy) may obtain certificates for. Outside the admin API (server `/api/v1`) and unauthenticated"),
    )
)]
pub(crate) struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Browser session from POST /auth/login; writes also need the X-CSRF-Token header",
            ))),
        );
    }
}

fn error(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                // Marked public by `document`, or sign-in.
                let public = path.ends_with("/auth/login")
                    || op.security.as_ref().is_some_and(Vec::is_empty);
                let responses = &mut op.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                if !public {
                    add("401", "`unauthorized`: no valid API token or session");
                    add(
                        "403",
                        "`csrf_failed`: a session-authenticated write without its X-CSRF-Token",
                    );
                }
                if op.request_body.is_some() {
                    add(
                        "400",
                        "`invalid_json` or `invalid_content_type`: the body is not the JSON this operation takes (the message names the field)",
                    );
                    add(
                        "413",
                        "`payload_too_large`: the body is over the admin API's limit",
                    );
                }
                if op.parameters.as_ref().is_some_and(|p| {
                    p.iter()
                        .any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
                }) {
                    add(
                        "400",
                        "`invalid_query` and friends: a query parameter is unknown or malformed (the message names it)",
                    );
                }
                add(
                    "500",
                    "`internal_error`: a server fault; details are in the server log only",
                );
                if public {
                    op.security = Some(Vec::new());
                }
                // Handler names repeat across resources (`list`, `update`);
                // the tag makes each operationId unique, as OpenAPI requires.
                if let (Some(tag), Some(id)) =
                    (op.tags.as_ref().and_then(|t| t.first()), &op.operation_id)
                    && !id.starts_with(tag.as_str())
                {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
            }
        }
    }
}

/// The whole document: the fixed parts plus every registered operation of
/// the admin API (`admin`) and of the unauthenticated platform endpoints
/// mounted at another prefix (`platform`), then the shared security schemes
/// and error responses.
pub(crate) fn document(
    admin: impl IntoIterator<Item = OpenApi>,
    (prefix, mut platform): (&str, OpenApi),
) -> serde_json::Value {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    for part in admin {
        doc.merge(part);
    }
    for item in platform.paths.paths.values_mut() {
        // A path item's own servers override the document's, so these
        // paths stay relative like every other.
        item.servers = Some(vec![utoipa::openapi::Server::new(prefix)]);
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            op.security = Some(Vec::new());
        }
    }
    doc.merge(platform);
    Security.modify(&mut doc);
    CommonErrors.modify(&mut doc);
    serde_json::to_value(&doc).expect("the OpenAPI document serializes")
}
