//! Who may do what on the admin API (ADR 012): one table, [`OPERATIONS`],
//! says what each operation needs; [`Access`] says what the caller has;
//! `require_admin` puts the two together before any handler runs.
//!
//! The table is the only place a rule lives. `host/picloud/tests/roles.rs`
//! walks every operation of the OpenAPI document against a caller of each
//! role and checks the answer against it, and docs/api.md's role matrix is
//! printed from it (`picloud role-matrix`; a test keeps the copy current).

use std::collections::HashMap;

use shared::AppId;

use crate::auth::Principal;
use crate::store::{AppRef, Role, Store};
use crate::{Error, ErrorCode, Result};

/// What an operation needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone signed in; the answer covers only what the caller may see
    /// (its apps, its tokens).
    Signed,
    /// The caller's own account (`{id}` is the caller), or a server admin.
    OwnAccount,
    /// A server-wide admin, with a token not limited to one app.
    Server,
    /// At least this role on the app the path names: `{app}`, or the app
    /// of the script or execution `{id}`.
    App(Role),
    /// At least this role on the app the request body names (the handler
    /// asks [`Access::require`] once it has read the body).
    Stated(Role),
    /// A list: viewer on `?app=` when given, else only the apps the caller
    /// may see.
    Listed,
}

/// Every admin operation (method, path under `/api/v1/admin`, or the full
/// path for the execute endpoint) and what it needs.
pub const OPERATIONS: &[(&str, &str, Need)] = {
    use Need::*;
    use Role::{Developer, Owner, Viewer};
    &[
        // Signing in and out, and who one is.
        ("GET", "/auth/me", Signed),
        ("POST", "/auth/logout", Signed),
        // Admin users: the server's.
        ("GET", "/users", Server),
        ("POST", "/users", Server),
        ("GET", "/users/{id}", OwnAccount),
        ("PATCH", "/users/{id}", Server),
        ("DELETE", "/users/{id}", Server),
        ("PUT", "/users/{id}/password", OwnAccount),
        // Tokens: each caller sees and makes its own (within its powers).
        ("GET", "/tokens", Signed),
        ("POST", "/tokens", Signed),
        ("DELETE", "/tokens/{id}", Signed),
        // Apps.
        ("GET", "/apps", Signed),
        ("POST", "/apps", Server),
        ("GET", "/apps/{app}", App(Viewer)),
        ("PATCH", "/apps/{app}", App(Owner)),
        ("DELETE", "/apps/{app}", App(Owner)),
        ("POST", "/apps/{app}/slug:check", App(Owner)),
        ("GET", "/apps/{app}/slugs", App(Viewer)),
        ("GET", "/apps/{app}/domains", App(Viewer)),
        ("POST", "/apps/{app}/domains", App(Owner)),
        ("DELETE", "/apps/{app}/domains/{domain_id}", App(Owner)),
        ("GET", "/apps/{app}/roles", App(Owner)),
        ("PUT", "/apps/{app}/roles/{user}", App(Owner)),
        ("DELETE", "/apps/{app}/roles/{user}", App(Owner)),
        ("GET", "/apps/{app}/routes", App(Viewer)),
        ("GET", "/apps/{app}/stats", App(Viewer)),
        ("GET", "/apps/{app}/manifest", App(Viewer)),
        // A plan that would change the app's settings or domains is the
        // owner's to apply (checked by the handler on the plan).
        ("POST", "/apps/{app}/manifest:plan", App(Developer)),
        ("POST", "/apps/{app}/manifest:apply", App(Developer)),
        // Scripts, their versions and routes.
        ("GET", "/scripts", Listed),
        ("POST", "/scripts", Stated(Developer)),
        ("POST", "/scripts:check", Stated(Viewer)),
        ("GET", "/scripts/{id}", App(Viewer)),
        ("PUT", "/scripts/{id}", App(Developer)),
        ("PATCH", "/scripts/{id}", App(Developer)),
        ("DELETE", "/scripts/{id}", App(Developer)),
        ("GET", "/scripts/{id}/versions", App(Viewer)),
        ("GET", "/scripts/{id}/versions/{version}", App(Viewer)),
        ("POST", "/scripts/{id}/rollback", App(Developer)),
        ("GET", "/scripts/{id}/routes", App(Viewer)),
        ("POST", "/scripts/{id}/routes", App(Developer)),
        ("DELETE", "/scripts/{id}/routes/{route_id}", App(Developer)),
        ("POST", "/scripts/{id}/run", App(Developer)),
        ("ANY", "/api/v1/execute/{id}", App(Developer)),
        ("POST", "/routes:check", Stated(Viewer)),
        ("POST", "/routes:match", Signed),
        // Triggers, interceptors, variables, the outbound allow-list.
        ("GET", "/apps/{app}/triggers", App(Viewer)),
        ("POST", "/apps/{app}/triggers", App(Developer)),
        ("GET", "/apps/{app}/triggers/{id}", App(Viewer)),
        ("PATCH", "/apps/{app}/triggers/{id}", App(Developer)),
        ("DELETE", "/apps/{app}/triggers/{id}", App(Developer)),
        ("POST", "/apps/{app}/triggers/{id}/run", App(Developer)),
        ("GET", "/apps/{app}/interceptors", App(Viewer)),
        ("POST", "/apps/{app}/interceptors", App(Developer)),
        ("GET", "/apps/{app}/interceptors/{id}", App(Viewer)),
        ("PATCH", "/apps/{app}/interceptors/{id}", App(Developer)),
        ("DELETE", "/apps/{app}/interceptors/{id}", App(Developer)),
        // Secret values never come out of the API, for any role.
        ("GET", "/apps/{app}/variables", App(Viewer)),
        ("PUT", "/apps/{app}/variables/{name}", App(Developer)),
        ("DELETE", "/apps/{app}/variables/{name}", App(Developer)),
        ("GET", "/apps/{app}/http-allow", App(Viewer)),
        ("POST", "/apps/{app}/http-allow", App(Developer)),
        ("DELETE", "/apps/{app}/http-allow", App(Developer)),
        // Queues: their messages are the app's data.
        ("GET", "/apps/{app}/queues", App(Viewer)),
        ("GET", "/apps/{app}/emails", App(Viewer)),
        ("GET", "/apps/{app}/queues/{queue}/dead", App(Viewer)),
        ("DELETE", "/apps/{app}/queues/{queue}/dead", App(Developer)),
        (
            "POST",
            "/apps/{app}/queues/{queue}/dead:retry",
            App(Developer),
        ),
        (
            "POST",
            "/apps/{app}/queues/{queue}/dead/{id}/retry",
            App(Developer),
        ),
        (
            "DELETE",
            "/apps/{app}/queues/{queue}/dead/{id}",
            App(Developer),
        ),
        // Data.
        ("GET", "/apps/{app}/kv", App(Viewer)),
        ("GET", "/apps/{app}/kv/{key}", App(Viewer)),
        ("PUT", "/apps/{app}/kv/{key}", App(Developer)),
        ("DELETE", "/apps/{app}/kv/{key}", App(Developer)),
        ("GET", "/apps/{app}/collections", App(Viewer)),
        (
            "GET",
            "/apps/{app}/collections/{collection}/documents",
            App(Viewer),
        ),
        (
            "POST",
            "/apps/{app}/collections/{collection}/documents",
            App(Developer),
        ),
        (
            "GET",
            "/apps/{app}/collections/{collection}/documents/{id}",
            App(Viewer),
        ),
        (
            "PUT",
            "/apps/{app}/collections/{collection}/documents/{id}",
            App(Developer),
        ),
        (
            "DELETE",
            "/apps/{app}/collections/{collection}/documents/{id}",
            App(Developer),
        ),
        ("GET", "/apps/{app}/users", App(Viewer)),
        ("GET", "/apps/{app}/users/{id}", App(Viewer)),
        ("PATCH", "/apps/{app}/users/{id}", App(Developer)),
        ("DELETE", "/apps/{app}/users/{id}", App(Developer)),
        ("DELETE", "/apps/{app}/users/{id}/sessions", App(Developer)),
        // Logs.
        ("GET", "/executions", Listed),
        ("GET", "/executions/{id}", App(Viewer)),
        ("GET", "/scripts/{id}/executions", App(Viewer)),
        ("GET", "/apps/{app}/executions", App(Viewer)),
        ("GET", "/apps/{app}/executions/stream", App(Viewer)),
    ]
};

/// What `method path` needs, by the route's template (`/apps/{app}/kv`);
/// `None` for a path no operation has (the API's 404).
pub fn need(method: &str, template: &str) -> Option<Need> {
    let template = template.strip_prefix("/api/v1/admin").unwrap_or(template);
    // A HEAD is answered by the GET handler, and only ever reads.
    let method = if method == "HEAD" { "GET" } else { method };
    OPERATIONS
        .iter()
        .find(|(m, path, _)| *path == template && (*m == method || *m == "ANY"))
        .map(|(_, _, need)| *need)
}

/// What the caller of a request may do: computed once per request by
/// `require_admin` from the principal, its user's roles and its token's
/// limit, and left in the request for handlers that scope their answer.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The user is a server admin (or the token has no user: the bootstrap
    /// token and the operator's CLI tokens are the server's).
    server_admin: bool,
    /// The user's roles per app (unused for a server admin).
    roles: HashMap<AppId, Role>,
    /// The token's limit: this app only, at most this role.
    limit: Option<(AppId, Role)>,
    /// The user behind the request.
    user_id: Option<String>,
}

impl Access {
    /// Everything (in-process callers and tests of the code around it).
    pub fn everything() -> Access {
        Access {
            server_admin: true,
            ..Access::default()
        }
    }

    /// What `principal` may do, from the store. A user that is gone may do
    /// nothing.
    pub async fn of(store: &Store, principal: &Principal) -> Result<Access> {
        let limit = match principal {
            Principal::Token { limit, .. } => *limit,
            Principal::Session { .. } => None,
        };
        let Some(user_id) = principal.user_id() else {
            return Ok(Access {
                server_admin: true,
                limit,
                ..Access::default()
            });
        };
        let powers = store.user_powers(user_id).await?.unwrap_or_default();
        Ok(Access {
            server_admin: powers.server_admin,
            roles: powers.roles.into_iter().collect(),
            limit,
            user_id: Some(user_id.to_owned()),
        })
    }

    /// Server-wide powers: creating apps, users and tokens, every app as
    /// owner. A token limited to one app has none of them.
    pub fn is_server_admin(&self) -> bool {
        self.server_admin && self.limit.is_none()
    }

    /// The caller's role on `app`; `None`: the app is hidden from it.
    pub fn role_on(&self, app: AppId) -> Option<Role> {
        let own = if self.server_admin {
            Some(Role::Owner)
        } else {
            self.roles.get(&app).copied()
        };
        match self.limit {
            Some((only, most)) if only == app => own.map(|role| role.min(most)),
            Some(_) => None,
            None => own,
        }
    }

    /// The apps the caller may see; `None`: all of them.
    pub fn visible_apps(&self) -> Option<Vec<AppId>> {
        if self.is_server_admin() {
            return None;
        }
        let mut apps: Vec<AppId> = match self.limit {
            Some((app, _)) => vec![app],
            None => self.roles.keys().copied().collect(),
        };
        apps.retain(|app| self.role_on(*app).is_some());
        apps.sort_unstable();
        Some(apps)
    }

    /// The caller's roles, app by app (`None` for a server admin, who owns
    /// every app).
    pub fn roles(&self) -> Option<Vec<(AppId, Role)>> {
        self.visible_apps().map(|apps| {
            apps.into_iter()
                .filter_map(|app| Some((app, self.role_on(app)?)))
                .collect()
        })
    }

    /// The one app and role a limited token is held to.
    pub fn limit(&self) -> Option<(AppId, Role)> {
        self.limit
    }

    /// The user behind the request, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `Ok` if the caller has at least `role` on `app`. An app the caller
    /// has no role on is answered as `hidden` (the same 404 as a missing
    /// one, so its slug cannot be probed); too weak a role is 403
    /// `insufficient_role`.
    pub fn require(
        &self,
        app: AppId,
        slug: &str,
        role: Role,
        hidden: impl FnOnce() -> Error,
    ) -> Result<()> {
        match self.role_on(app) {
            None => Err(hidden()),
            Some(have) if have >= role => Ok(()),
            Some(have) => Err(Error::Forbidden {
                code: ErrorCode::InsufficientRole,
                message: format!(
                    "this needs the {role} role on app '{slug}'; this {} has {have}",
                    self.caller()
                ),
            }),
        }
    }

    /// `Ok` for a server admin; 403 `insufficient_role` otherwise.
    pub fn require_server_admin(&self) -> Result<()> {
        if self.is_server_admin() {
            return Ok(());
        }
        let why = if self.limit.is_some() {
            "this token is limited to one app"
        } else {
            "this user has roles on apps only"
        };
        Err(Error::Forbidden {
            code: ErrorCode::InsufficientRole,
            message: format!("this needs a server admin; {why}"),
        })
    }

    fn caller(&self) -> &'static str {
        if self.limit.is_some() {
            "token"
        } else {
            "user"
        }
    }
}

/// What a request's path names, for [`Need::App`].
pub(crate) enum Subject<'a> {
    /// `{app}`: an id, slug or old slug.
    App(&'a str),
    /// `{id}` of `/scripts/...` and `/api/v1/execute/...`.
    Script(&'a str),
    /// `{id}` of `/executions/...`.
    Execution(&'a str),
}

impl<'a> Subject<'a> {
    /// The subject of a route `template` with path parameters `params`.
    pub(crate) fn of(template: &str, params: &'a [(String, String)]) -> Option<Subject<'a>> {
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let template = template.strip_prefix("/api/v1/admin").unwrap_or(template);
        if template.starts_with("/apps/{app}") {
            param("app").map(Subject::App)
        } else if template.starts_with("/scripts/{id}") || template.starts_with("/api/v1/execute/")
        {
            param("id").map(Subject::Script)
        } else if template.starts_with("/executions/{id}") {
            param("id").map(Subject::Execution)
        } else {
            None
        }
    }

    /// The app it belongs to and that app's slug; `Ok(None)` when there is
    /// no such thing (the handler then answers its own 404).
    pub(crate) async fn app(&self, m: &crate::Manager) -> Result<Option<(AppId, String)>> {
        let app_id = match self {
            Subject::App(reference) => {
                return Ok(match m.store.resolve_app(reference).await {
                    Ok(AppRef::Found(app)) => Some((app.id, app.slug)),
                    Ok(AppRef::Renamed { current_slug }) => {
                        let app = m.store.app(&current_slug).await?;
                        Some((app.id, app.slug))
                    }
                    Err(crate::store::StoreError::NotFound { .. }) => None,
                    Err(err) => return Err(err.into()),
                });
            }
            Subject::Script(id) => match id.parse() {
                Ok(id) => m.store.script_app(id).await?,
                Err(_) => None,
            },
            Subject::Execution(id) => match id.parse() {
                Ok(id) => {
                    // A record that already answered may still be queued.
                    m.recorder.flush().await;
                    m.store.execution_app(id).await?
                }
                Err(_) => None,
            },
        };
        Ok(match app_id {
            Some(id) => Some((id, m.store.app_by_id(id).await?.slug)),
            None => None,
        })
    }

    /// The 404 a caller without a role on the app gets: the one for a
    /// missing thing of this kind.
    pub(crate) fn hidden(&self) -> Error {
        match self {
            Subject::App(key) => Error::not_found("app", key),
            Subject::Script(key) => Error::not_found("script", key),
            Subject::Execution(key) => Error::not_found("execution", key),
        }
    }
}

/// Decides a request with the table: `Ok` lets it through to its handler.
pub(crate) async fn check(
    m: &crate::Manager,
    access: &Access,
    method: &str,
    template: &str,
    params: &[(String, String)],
    query: Option<&str>,
) -> Result<()> {
    let Some(need) = need(method, template) else {
        let stripped = template.strip_prefix("/api/v1/admin").unwrap_or(template);
        if OPERATIONS.iter().any(|(_, path, _)| *path == stripped) {
            // A method the path does not have: the router answers 405.
            return Ok(());
        }
        // A route missing from the table is refused, not let through: a
        // new endpoint is closed until someone decides who may use it.
        return Err(Error::Forbidden {
            code: ErrorCode::InsufficientRole,
            message: format!("{method} {template} is not in the role table"),
        });
    };
    match need {
        Need::Signed => Ok(()),
        Need::Server => access.require_server_admin(),
        Need::OwnAccount => {
            if access.is_server_admin() {
                return Ok(());
            }
            let own = match (access.user_id(), access.limit) {
                (Some(me), None) => {
                    let asked = params
                        .iter()
                        .find(|(key, _)| key == "id")
                        .map_or("", |(_, value)| value.as_str());
                    match m.store.user(asked).await {
                        Ok(user) => user.id == me,
                        Err(_) => false,
                    }
                }
                _ => false,
            };
            if own {
                Ok(())
            } else {
                Err(Error::Forbidden {
                    code: ErrorCode::InsufficientRole,
                    message: "only a server admin may see or change another user's account".into(),
                })
            }
        }
        Need::App(role) => {
            if access.is_server_admin() {
                return Ok(());
            }
            let Some(subject) = Subject::of(template, params) else {
                return Err(Error::Config(format!(
                    "{method} {template} needs an app but names none"
                )));
            };
            match subject.app(m).await? {
                Some((app, slug)) => access.require(app, &slug, role, || subject.hidden()),
                None => Err(subject.hidden()),
            }
        }
        Need::Listed => {
            let asked = query.and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(key, _)| key == "app")
                    .map(|(_, value)| value.into_owned())
            });
            match asked {
                Some(reference) if !access.is_server_admin() => {
                    let subject = Subject::App(&reference);
                    match subject.app(m).await? {
                        Some((app, slug)) => {
                            access.require(app, &slug, Role::Viewer, || subject.hidden())
                        }
                        None => Err(subject.hidden()),
                    }
                }
                _ => Ok(()),
            }
        }
        // The handler checks the app it reads from the body.
        Need::Stated(_) => Ok(()),
    }
}

/// The role matrix of docs/api.md, from [`OPERATIONS`].
pub fn matrix_markdown() -> String {
    let mut out = String::from(
        "| Operation | server admin | owner | developer | viewer |\n|---|:-:|:-:|:-:|:-:|\n",
    );
    for (method, path, need) in OPERATIONS {
        let cell = |role: Option<Role>| -> &'static str {
            match (need, role) {
                (_, None) => "✓",
                (Need::Signed, Some(_)) => "✓",
                (Need::Listed, Some(_)) => "its apps",
                (Need::OwnAccount, Some(_)) => "own",
                (Need::Server, Some(_)) => "—",
                (Need::App(need) | Need::Stated(need), Some(have)) => {
                    if have >= *need {
                        "✓"
                    } else {
                        "—"
                    }
                }
            }
        };
        let shown = if *method == "ANY" { "any" } else { method };
        out += &format!(
            "| `{shown} {path}` | {} | {} | {} | {} |\n",
            cell(None),
            cell(Some(Role::Owner)),
            cell(Some(Role::Developer)),
            cell(Some(Role::Viewer)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(n: u128) -> AppId {
        uuid::Uuid::from_u128(n).to_string().parse().unwrap()
    }

    #[test]
    fn a_tokens_limit_narrows_its_users_roles() {
        let shop = app(1);
        let blog = app(2);
        let user = Access {
            roles: [(shop, Role::Owner), (blog, Role::Viewer)].into(),
            user_id: Some("u".into()),
            ..Access::default()
        };
        assert_eq!(user.role_on(shop), Some(Role::Owner));
        assert_eq!(
            user.visible_apps(),
            Some({
                let mut v = vec![shop, blog];
                v.sort_unstable();
                v
            })
        );
        let token = Access {
            limit: Some((shop, Role::Developer)),
            ..user.clone()
        };
        assert_eq!(token.role_on(shop), Some(Role::Developer));
        assert_eq!(token.role_on(blog), None);
        assert_eq!(token.visible_apps(), Some(vec![shop]));
        // A limit never adds what the user does not have.
        let stale = Access {
            limit: Some((app(3), Role::Owner)),
            ..user.clone()
        };
        assert_eq!(stale.role_on(app(3)), None);
        assert_eq!(stale.visible_apps(), Some(vec![]));
        // A server admin's token limited to one app owns only that one.
        let admin = Access {
            server_admin: true,
            limit: Some((blog, Role::Viewer)),
            ..Access::default()
        };
        assert!(!admin.is_server_admin());
        assert_eq!(admin.role_on(blog), Some(Role::Viewer));
        assert_eq!(admin.role_on(shop), None);
        assert!(Access::everything().is_server_admin());
    }

    /// docs/api.md's role matrix is this table's: `picloud role-matrix`
    /// prints the section between the markers.
    #[test]
    fn the_docs_role_matrix_is_current() {
        let docs = include_str!("../../../docs/api.md");
        let start = "<!-- role-matrix:start -->\n";
        let from = docs.find(start).expect("docs/api.md has the role matrix") + start.len();
        let to = docs[from..].find("<!-- role-matrix:end -->").unwrap() + from;
        assert!(
            docs[from..to] == matrix_markdown(),
            "docs/api.md's role matrix is stale: replace it with the output of `picloud role-matrix`"
        );
    }

    #[test]
    fn every_operation_is_in_the_table_once() {
        let mut seen = std::collections::HashSet::new();
        for (method, path, _) in OPERATIONS {
            assert!(
                seen.insert((method, path)),
                "{method} {path} is listed twice"
            );
        }
        let document = crate::api::openapi_document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let method = method.to_uppercase();
                let public = matches!(path.as_str(), "/auth/login" | "/tls/ask");
                assert!(
                    public || need(&method, path).is_some(),
                    "{method} {path} is in the API but not in policy::OPERATIONS"
                );
            }
        }
    }
}
