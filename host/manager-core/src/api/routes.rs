//! `routes:check` (would this route conflict, and with what?) and
//! `routes:match` (which app, script and params would serve this request?).

use crate::ErrorCode;
use axum::Json;
use axum::extract::{Extension, State};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::domain::DomainPattern;
use shared::{AppId, Miss};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use crate::policy::Access;
use crate::store::{App, Claim, NewRoute, Route};
use crate::{Error, Manager, Result};

/// Where one app's routes answer; built once per response.
pub(super) struct Reach {
    app_id: AppId,
    slug: String,
    own: Vec<DomainPattern>,
    others: Vec<Claim>,
    /// `http://` or `https://`, from the public base URL.
    scheme: String,
    /// `:8080`, or empty for the scheme's default port.
    port: String,
    /// Admin hosts serve the default app's routes without a host (ADR 006).
    admin_hosts: Vec<String>,
}

impl Reach {
    pub(super) async fn of(m: &Manager, app: &App) -> Result<Reach> {
        let (own, others): (Vec<Claim>, Vec<Claim>) = m
            .store
            .all_claims()
            .await?
            .into_iter()
            .partition(|c| c.app_id == app.id);
        let base = m.config.public_base_url.as_str();
        let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // The port follows the host (after the `]` of an IPv6 literal).
        let host_end = authority.rfind(']').unwrap_or(0);
        let port = authority[host_end..]
            .rfind(':')
            .map(|i| authority[host_end + i..].to_owned())
            .unwrap_or_default();
        Ok(Reach {
            app_id: app.id,
            slug: app.slug.clone(),
            own: own.into_iter().map(|c| c.pattern).collect(),
            others,
            scheme: format!("{scheme}://"),
            port,
            admin_hosts: if app.id == AppId::DEFAULT {
                m.config.admin_hosts.hosts().to_vec()
            } else {
                Vec::new()
            },
        })
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("{}{host}{}{path}", self.scheme, self.port)
    }

    /// `(reachable_at, warnings)` for a route of this app.
    pub(super) fn of_route(
        &self,
        host: Option<&str>,
        path: &str,
        script_id: impl std::fmt::Display,
    ) -> (Vec<String>, Vec<String>) {
        if let Some(host) = host {
            let Ok(pattern) = DomainPattern::parse(host) else {
                return (Vec::new(), Vec::new());
            };
            return match self
                .others
                .iter()
                .find(|c| shared::domain::takes_over(&pattern, &self.own, &c.pattern))
            {
                Some(claim) => (
                    Vec::new(),
                    vec![format!(
                        "app '{}' claims '{}', which takes every host of '{host}' from app '{}': \
                         this route is never reached",
                        claim.app_slug, claim.pattern, self.slug
                    )],
                ),
                None => (vec![self.url(host, path)], Vec::new()),
            };
        }
        let urls: Vec<String> = self
            .own
            .iter()
            .map(|claim| self.url(&claim.to_string(), path))
            .chain(self.admin_hosts.iter().map(|h| self.url(h, path)))
            .collect();
        if urls.is_empty() {
            let warning = format!(
                "app '{}' claims no domain, so this route answers only through \
                 /api/v1/execute/{script_id}; claim a host for it first \
                 (picloud domains add {} <host>)",
                self.slug, self.slug
            );
            return (urls, vec![warning]);
        }
        (urls, Vec::new())
    }

    /// Fills in `reachable_at` and `warnings`.
    pub(super) fn fill(&self, route: &mut Route) {
        debug_assert_eq!(route.app_id, self.app_id);
        let (reachable_at, warnings) =
            self.of_route(route.host.as_deref(), &route.path, route.script_id);
        route.reachable_at = Some(reachable_at);
        route.warnings = Some(warnings);
    }
}

/// A route scoped to a host that another app's claim serves instead would
/// never be reached: refused (`409 host_claimed_by_other_app`).
pub(super) async fn refuse_taken_host(m: &Manager, app: &App, route: &NewRoute) -> Result<()> {
    let Some(host) = route.host_pattern() else {
        return Ok(());
    };
    if let Some(claim) = m.store.claim_taking_over(app, &host).await? {
        return Err(Error::conflict(
            ErrorCode::HostClaimedByOtherApp,
            format!(
                "app '{}' claims '{}', so requests for '{host}' go to that app and a route of \
                 app '{}' scoped to it would never be reached",
                claim.app_slug, claim.pattern, app.slug
            ),
        ));
    }
    Ok(())
}

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(resolve))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckRoute {
    /// App id or slug.
    app_id: String,
    #[schema(pattern = "^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY|[*])$")]
    method: String,
    #[schema(pattern = "^/")]
    path: String,
    host: Option<String>,
}

/// Validates the route as creation would; `ok: false` names the route it
/// would collide with. Conflicts are only ever within the app.
#[utoipa::path(post, path = "/routes:check", tag = "routes", request_body = CheckRoute,
    responses(
        (status = 200, description = "The verdict", body = super::openapi::RouteCheck),
        (status = 400, description = "`invalid_method`, `invalid_route_path`, `invalid_host` or `host_not_claimed`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn check(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<CheckRoute>,
) -> Result<(Option<super::apps::Renamed>, Json<Value>)> {
    let (app, renamed) =
        super::apps::app_for(&m, &access, &body.app_id, crate::store::Role::Viewer).await?;
    let route = m
        .store
        .validate_route(&app, &body.method, &body.path, body.host.as_deref())?;
    if let Err(Error::Conflict { code, message }) = refuse_taken_host(&m, &app, &route).await {
        return Ok((
            renamed,
            Json(json!({ "ok": false, "code": code, "message": message })),
        ));
    }
    let verdict = match m.store.route_conflict(app.id, &route).await? {
        Some(existing) => json!({
            "ok": false,
            "code": "route_conflict",
            "conflict": existing,
            "message": crate::store::conflict_message(&route, &existing),
        }),
        None => {
            // The script is not chosen yet: the execute URL names a placeholder.
            let host = (!route.host.is_empty()).then_some(route.host.as_str());
            let (reachable_at, warnings) =
                Reach::of(&m, &app)
                    .await?
                    .of_route(host, &body.path, "{script_id}");
            json!({ "ok": true, "reachable_at": reachable_at, "warnings": warnings })
        }
    };
    Ok((renamed, Json(verdict)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    /// The `Host` a request would carry (port allowed).
    host: String,
    method: String,
    /// Path without the query string.
    path: String,
}

/// Asks the orchestrator's live tables, so the answer is what dispatch does.
/// A host served by an app the caller has no role on is, for it, a host no
/// app serves.
#[utoipa::path(post, path = "/routes:match", tag = "routes", request_body = MatchRequest,
    responses((status = 200, description = "What dispatch would do", body = super::openapi::RouteMatch)))]
async fn resolve(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<MatchRequest>,
) -> Result<Json<Value>> {
    let method = body.method.to_ascii_uppercase();
    let hidden = |app: shared::AppId| access.role_on(app).is_none();
    let resolved = match m.routing.resolve(&body.host, &method, &body.path) {
        Ok(hit) if hidden(hit.app_id) => Err(Miss::UnknownHost {
            host: body.host.clone(),
        }),
        Err(Miss::NoRoute { app_id, .. } | Miss::MethodNotAllowed { app_id, .. })
            if hidden(app_id) =>
        {
            Err(Miss::UnknownHost {
                host: body.host.clone(),
            })
        }
        other => other,
    };
    let pairs = |p: &[(String, String)]| -> Value {
        p.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    Ok(Json(match resolved {
        Ok(hit) => json!({
            "matched": true,
            "app": { "id": hit.app_id, "slug": hit.app_slug },
            "script_id": hit.script_id,
            "route_id": hit.route_id,
            "route_path": hit.route_path,
            "params": pairs(&hit.params),
            "host_params": pairs(&hit.host_params),
        }),
        Err(Miss::InvalidHost { message }) => {
            json!({ "matched": false, "reason": "invalid_host", "message": message })
        }
        Err(Miss::UnknownHost { host }) => json!({
            "matched": false, "reason": "unknown_host", "message": format!("no app serves the host '{host}'"),
        }),
        Err(Miss::NoRoute { app_id, app_slug }) => json!({
            "matched": false, "reason": "no_route", "app": { "id": app_id, "slug": app_slug },
            "message": format!("app '{app_slug}' has no route for {method} {}", body.path),
        }),
        Err(Miss::MethodNotAllowed {
            app_id,
            app_slug,
            allowed,
        }) => json!({
            "matched": false, "reason": "method_not_allowed", "app": { "id": app_id, "slug": app_slug },
            "allowed": allowed,
            "message": format!("{} in app '{app_slug}' does not accept {method}", body.path),
        }),
    }))
}
