//! `/apps`, `/apps/{id_or_slug}/domains` and `/apps/{id_or_slug}/slug:check`.

use crate::ErrorCode;
use axum::Json;
use axum::extract::{Extension, OriginalUri, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, PageQuery, page_request, paged};
use crate::policy::Access;
use crate::store::{App, AppRef, Domain, SlugVerdict};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(list_domains, add_domain))
        .routes(routes!(list_routes))
        .routes(routes!(remove_domain))
        .routes(routes!(check_slug))
        .routes(routes!(slug_history))
}

/// Description of the `{app}` path parameter.
const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";

/// The app named by the `{app}` path parameter, for every handler under
/// `/apps/{app}/…`. An old slug becomes a 308 to the same URL with the
/// current slug, so clients following redirects keep working after a rename.
pub(super) struct AppPath(pub(super) App);

impl axum::extract::FromRequestParts<Manager> for AppPath {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        m: &Manager,
    ) -> Result<Self> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, m)
            .await
            .map_err(|rejection| {
                Error::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
            })?;
        let Some((_, app)) = params.iter().find(|(name, _)| *name == "app") else {
            // A route registration bug, not a client error.
            return Err(Error::Config("AppPath on a route without {app}".into()));
        };
        // Nested routers see a stripped URI; the redirect needs the full one.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        resolve(m, app, uri).await.map(AppPath)
    }
}

async fn resolve(m: &Manager, app: &str, uri: &axum::http::Uri) -> Result<App> {
    match m.store.resolve_app(app).await? {
        AppRef::Found(app) => Ok(*app),
        AppRef::Renamed { current_slug } => {
            let path = uri.path();
            let prefix = "/api/v1/admin/apps/";
            let rest = path
                .strip_prefix(prefix)
                .and_then(|r| r.strip_prefix(app))
                .unwrap_or("");
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            Err(Error::Moved {
                location: format!("{prefix}{current_slug}{rest}{query}"),
            })
        }
    }
}

/// An app named in a query parameter (`?app=`) or a request body
/// (`app_id`), where a redirect makes no sense: an old slug follows the slug
/// history to the app that holds it now, and the answer says so (see
/// [`Renamed`]), so `picloud deploy --app <old slug>` keeps working after a
/// rename.
pub(super) async fn app_by_ref(m: &Manager, app: &str) -> Result<(App, Option<Renamed>)> {
    match m.store.resolve_app(app).await? {
        AppRef::Found(app) => Ok((*app, None)),
        AppRef::Renamed { current_slug } => {
            let found = m.store.app(&current_slug).await?;
            Ok((
                found,
                Some(Renamed {
                    old: app.to_owned(),
                    current: current_slug,
                }),
            ))
        }
    }
}

/// [`app_by_ref`] for a caller that needs `role` on the app (one named in a
/// request body, which the policy could not see): an app the caller has no
/// role on is the same 404 as a missing one.
pub(super) async fn app_for(
    m: &Manager,
    access: &Access,
    reference: &str,
    role: crate::store::Role,
) -> Result<(App, Option<Renamed>)> {
    let (app, renamed) = app_by_ref(m, reference).await?;
    access.require(app.id, &app.slug, role, || {
        Error::not_found("app", reference)
    })?;
    Ok((app, renamed))
}

/// An old slug was followed: the answer carries `Warning: 299 - "…"`
/// (RFC 7234's persistent warning) naming the current slug, which the CLI
/// prints.
pub(super) struct Renamed {
    old: String,
    current: String,
}

impl axum::response::IntoResponseParts for Renamed {
    type Error = std::convert::Infallible;

    fn into_response_parts(
        self,
        mut res: axum::response::ResponseParts,
    ) -> std::result::Result<axum::response::ResponseParts, Self::Error> {
        // Slugs are [a-z0-9-], so the value is always a valid header.
        let warning = format!(
            "299 picloud \"app '{}' was renamed to '{}'; use the new slug\"",
            self.old, self.current
        );
        if let Ok(value) = axum::http::HeaderValue::from_str(&warning) {
            res.headers_mut().insert(axum::http::header::WARNING, value);
        }
        Ok(res)
    }
}

/// List apps by slug, one page.
#[utoipa::path(get, path = "/apps", tag = "apps", params(PageQuery),
    responses((status = 200, description = "A page of apps", body = super::openapi::AppList)))]
async fn list(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    // Only the apps the caller has a role on; the others do not exist for it.
    let visible = access.visible_apps();
    let apps = m.store.list_apps_among(visible.as_deref(), &page).await?;
    let apps = apps
        .into_iter()
        .map(|app| with_role(app, &access))
        .collect();
    Ok(Json(paged("apps", apps, &page, |a| (a.slug.clone(), a.id))))
}

/// `app` with the caller's role on it, as every answer about an app shows.
pub(super) fn with_role(mut app: App, access: &Access) -> App {
    app.role = access.role_on(app.id);
    app
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateApp {
    /// 1-63 of a-z, 0-9 and '-', starting with a letter.
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]
    slug: String,
    /// Display name (default: the slug); not blank.
    #[schema(pattern = "[^ ]")]
    name: Option<String>,
    #[serde(default)]
    description: String,
}

/// Create an app.
#[utoipa::path(post, path = "/apps", tag = "apps", request_body = CreateApp,
    responses(
        (status = 201, description = "Created", body = App),
        (status = 400, description = "`invalid_slug` or `invalid_name`", body = super::openapi::ErrorBody),
        (status = 409, description = "`slug_taken` or `slug_in_history`", body = super::openapi::ErrorBody),
    ))]
async fn create(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<(StatusCode, Json<App>)> {
    let name = body.name.unwrap_or_else(|| body.slug.clone());
    let app = m
        .store
        .create_app(&body.slug, &name, &body.description)
        .await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(with_role(app, &access))))
}

/// One app, with its domain claims.
#[utoipa::path(get, path = "/apps/{app}", tag = "apps", params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The app", body = App),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn show(Extension(access): Extension<Access>, AppPath(app): AppPath) -> Result<Json<App>> {
    Ok(Json(with_role(app, &access)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateApp {
    /// Display name; not blank.
    #[schema(pattern = "[^ ]")]
    name: Option<String>,
    description: Option<String>,
    /// Limit overrides (fuel, memory_bytes, deadline_ms, max_response_bytes,
    /// max_log_lines, max_log_bytes); `null` resets to defaults.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    limits: Option<Option<Value>>,
    /// CORS policy (docs/apps.md, "CORS"): `{"allow_origins": [...], ...}`;
    /// `null` turns CORS off.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    cors: Option<Option<Value>>,
    /// Request rate limit (docs/apps.md, "Rate limits"):
    /// `{"requests_per_second": 10, "burst": 20, "per_client_ip": true}`;
    /// `null` turns it off.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    rate_limit: Option<Option<Value>>,
    /// Settings for the app's end users (docs/scripting.md, "Users"):
    /// `{"session_cookie": "sid", "session_ttl": 604800}`; `null` resets
    /// them to the defaults.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    users: Option<Option<Value>>,
    /// New slug; the old one keeps redirecting.
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]
    slug: Option<String>,
    /// Take `slug` from another app's history (never from an active app).
    #[serde(default)]
    force: bool,
}

/// Update an app: name, description, limits, or rename it (`slug`, `force`).
#[utoipa::path(patch, path = "/apps/{app}", tag = "apps", request_body = UpdateApp,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The updated app", body = App),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_slug`, `invalid_name`, `invalid_limits`, `invalid_cors`, `invalid_rate_limit`, `invalid_users` or `default_app`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`slug_taken` or `slug_in_history` (rename with `force`)", body = super::openapi::ErrorBody),
    ))]
async fn update(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    AppPath(mut app): AppPath,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<Json<App>> {
    // Validate everything before the rename, so a 400 never leaves a half-applied PATCH.
    m.store
        .validate_app_update(body.name.as_deref(), body.limits.as_ref())?;
    let cors = setting(
        body.cors,
        ErrorCode::InvalidCors,
        "cors",
        |p: &shared::CorsPolicy| p.validate(),
    )?;
    let rate_limit = setting(
        body.rate_limit,
        ErrorCode::InvalidRateLimit,
        "rate_limit",
        |l: &shared::RateLimit| l.validate(),
    )?;
    let users = setting(
        body.users,
        ErrorCode::InvalidUsers,
        "users",
        crate::app_users::UsersSettings::validate,
    )?;
    if let Some(slug) = &body.slug {
        app = m.store.rename_app(&app, slug, body.force).await?;
    }
    if body.name.is_some() || body.description.is_some() || body.limits.is_some() {
        app = m
            .store
            .update_app(
                &app,
                body.name.as_deref(),
                body.description.as_deref(),
                body.limits,
            )
            .await?;
    }
    if let Some(cors) = &cors {
        app = m.store.set_app_cors(&app, cors.as_ref()).await?;
    }
    if let Some(limit) = &rate_limit {
        app = m.store.set_app_rate_limit(&app, limit.as_ref()).await?;
    }
    if let Some(users) = &users {
        app = m.store.set_app_users(&app, users.as_ref()).await?;
    }
    m.routing_changed().await;
    Ok(Json(with_role(app, &access)))
}

/// One JSON setting of a PATCH: absent (unchanged), `null` (off or the
/// defaults), or a value that must parse as `T` and pass `validate`; a bad
/// one is `code`, naming `field`.
fn setting<T: serde::de::DeserializeOwned>(
    value: Option<Option<Value>>,
    code: ErrorCode,
    field: &str,
    validate: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<Option<Option<T>>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(value) = value else {
        return Ok(Some(None));
    };
    let parsed: T = serde_json::from_value(value)
        .map_err(|e| Error::bad_request(code, format!("{field}: {e}")))?;
    validate(&parsed).map_err(|m| Error::bad_request(code, m))?;
    Ok(Some(Some(parsed)))
}

/// Delete an app with its scripts, routes, domain claims, slug history and log.
#[utoipa::path(delete, path = "/apps/{app}", tag = "apps", params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`default_app`: the default app cannot be deleted", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn remove(State(m): State<Manager>, AppPath(app): AppPath) -> Result<StatusCode> {
    m.store.delete_app(&app).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The app's routes (each names its script) by path, method and host, one page.
#[utoipa::path(get, path = "/apps/{app}/routes", tag = "apps", params(("app" = String, Path, description = APP_PARAM), PageQuery),
    responses(
        (status = 200, description = "A page of the app's routes", body = super::openapi::RouteList),
        (status = 400, description = "`invalid_limit` or `invalid_cursor`", body = super::openapi::ErrorBody),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list_routes(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>> {
    let page = q.page()?;
    let mut routes = m.store.list_app_routes(app.id, &page).await?;
    let reach = super::routes::Reach::of(&m, &app).await?;
    routes.iter_mut().for_each(|r| reach.fill(r));
    Ok(Json(paged("routes", routes, &page, |r| {
        (crate::store::route_key(r), r.id)
    })))
}

/// The app's domain claims by pattern, one page.
#[utoipa::path(get, path = "/apps/{app}/domains", tag = "apps", params(("app" = String, Path, description = APP_PARAM), PageQuery),
    responses(
        (status = 200, description = "A page of the claims", body = super::openapi::DomainList),
        (status = 400, description = "`invalid_limit` or `invalid_cursor`", body = super::openapi::ErrorBody),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list_domains(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>> {
    let page = q.page()?;
    let domains = m.store.list_domains(app.id, &page).await?;
    Ok(Json(paged("domains", domains, &page, |d| {
        (d.pattern.clone(), d.id.clone())
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    /// `api.example.com` or with whole-label wildcards, `{tenant}.example.com`.
    #[schema(min_length = 1, max_length = 253)]
    pattern: String,
    /// Claim it even though other apps' host-scoped routes would never be
    /// reached again (`409 domain_shadows_routes` without it).
    #[serde(default)]
    force: bool,
}

/// Claim a host pattern for the app.
#[utoipa::path(post, path = "/apps/{app}/domains", tag = "apps", request_body = AddDomain,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 201, description = "Claimed", body = Domain),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_domain`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`domain_taken`: another app claims a pattern of the same shape; `host_reserved`: the pattern covers one of the server's admin hosts; `domain_shadows_routes`: other apps' host-scoped routes would never be reached (send `force`)", body = super::openapi::ErrorBody),
    ))]
async fn add_domain(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiJson(body): ApiJson<AddDomain>,
) -> Result<(StatusCode, Json<Domain>)> {
    // The admin surface's hosts belong to no app (ADR 006): a script served
    // there would share an origin with the dashboard.
    if let Some(host) = shared::domain::DomainPattern::parse(&body.pattern)
        .ok()
        .and_then(|pattern| m.config.admin_hosts.claimed_by(&pattern).map(str::to_owned))
    {
        return Err(Error::conflict(
            ErrorCode::HostReserved,
            format!(
                "'{host}' is an admin host of this server (PICLOUD_ADMIN_HOSTS): it serves the \
                 dashboard and the admin API, and no app may claim it"
            ),
        ));
    }
    if let Ok(pattern) = shared::domain::DomainPattern::parse(&body.pattern) {
        let taken = m.store.routes_taken_over_by(app.id, &pattern).await?;
        if !taken.is_empty() && !body.force {
            let named: Vec<String> = taken
                .iter()
                .map(|(slug, r)| {
                    format!(
                        "{} {} (host {}) of app '{slug}'",
                        r.method,
                        r.path,
                        r.host.as_deref().unwrap_or("")
                    )
                })
                .collect();
            return Err(Error::conflict(
                ErrorCode::DomainShadowsRoutes,
                format!(
                    "claiming '{pattern}' for app '{}' would send the hosts of these routes to it, \
                     and they would never be reached: {}; move or delete them first, or send \
                     \"force\": true",
                    app.slug,
                    named.join(", ")
                ),
            ));
        }
        for (slug, r) in &taken {
            tracing::warn!(app = %slug, route = %r.id, claim = %pattern, "a forced claim leaves a route unreachable");
        }
    }
    let domain = m.store.add_domain(&app, &body.pattern).await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(domain)))
}

/// Drop a domain claim.
#[utoipa::path(delete, path = "/apps/{app}/domains/{domain_id}", tag = "apps",
    params(("app" = String, Path, description = APP_PARAM), ("domain_id" = String, Path, description = "Claim id")),
    responses(
        (status = 204, description = "Dropped"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`domain_in_use`: host-scoped routes need this claim", body = super::openapi::ErrorBody),
    ))]
async fn remove_domain(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, domain_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store.delete_domain(&app, &domain_id).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SlugCheck {
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]
    slug: String,
}

/// Would renaming the app to this slug work?
#[utoipa::path(post, path = "/apps/{app}/slug:check", tag = "apps", request_body = SlugCheck,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The verdict", body = SlugVerdict),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_slug`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn check_slug(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiJson(body): ApiJson<SlugCheck>,
) -> Result<Json<SlugVerdict>> {
    Ok(Json(m.store.check_slug(&app, &body.slug).await?))
}

/// The app's earlier slugs, newest first.
#[derive(Serialize, ToSchema)]
struct SlugHistory {
    /// Each slug the app had, with when it was renamed away from it.
    slugs: Vec<crate::store::RetiredSlug>,
}

/// The slugs the app had before, newest first: each still leads to the
/// app (`308` for path-style URLs, a `Warning` for `?app=`) until another
/// app takes it.
#[utoipa::path(get, path = "/apps/{app}/slugs", tag = "apps",
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The earlier slugs", body = SlugHistory),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn slug_history(
    State(m): State<Manager>,
    AppPath(app): AppPath,
) -> Result<Json<SlugHistory>> {
    Ok(Json(SlugHistory {
        slugs: m.store.slug_history(app.id).await?,
    }))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<Value>>, D::Error> {
    Ok(Some(Option::<Value>::deserialize(d)?))
}
