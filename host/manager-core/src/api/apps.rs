//! `/apps`, `/apps/{id_or_slug}/domains` and `/apps/{id_or_slug}/slug:check`.

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, ApiQuery, page_request, paged};
use crate::store::{App, AppRef, Domain, SlugVerdict};
use crate::{Error, Manager, Result};

pub(super) fn router() -> Router<Manager> {
    Router::new()
        .route("/apps", get(list).post(create))
        .route("/apps/{app}", get(show).patch(update).delete(remove))
        .route("/apps/{app}/domains", get(list_domains).post(add_domain))
        .route("/apps/{app}/routes", get(list_routes))
        .route("/apps/{app}/domains/{domain_id}", delete(remove_domain))
        .route("/apps/{app}/slug:check", post(check_slug))
}

/// Resolves `{app}`; an old slug becomes a 308 to the same URL with the
/// current slug, so clients following redirects keep working after a rename.
async fn resolve(m: &Manager, app: &str, uri: &OriginalUri) -> Result<App> {
    match m.store.resolve_app(app).await? {
        AppRef::Found(app) => Ok(app),
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(State(m): State<Manager>, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let apps = m.store.list_apps(&page).await?;
    Ok(Json(paged("apps", apps, &page, |a| (&a.slug, &a.id))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApp {
    slug: String,
    name: Option<String>,
    #[serde(default)]
    description: String,
}

async fn create(
    State(m): State<Manager>,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<(StatusCode, Json<App>)> {
    let name = body.name.unwrap_or_else(|| body.slug.clone());
    let app = m
        .store
        .create_app(&body.slug, &name, &body.description)
        .await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(app)))
}

async fn show(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
) -> Result<Json<App>> {
    Ok(Json(resolve(&m, &app, &uri).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateApp {
    name: Option<String>,
    description: Option<String>,
    /// Limit overrides; `null` resets to defaults.
    #[serde(default, deserialize_with = "present")]
    limits: Option<Option<Value>>,
    slug: Option<String>,
    #[serde(default)]
    force: bool,
}

async fn update(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<Json<App>> {
    let mut app = resolve(&m, &app, &uri).await?;
    // Validate everything before the rename, so a 400 never leaves a half-applied PATCH.
    m.store
        .validate_app_update(body.name.as_deref(), body.limits.as_ref())?;
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
    m.routing_changed().await;
    Ok(Json(app))
}

async fn remove(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
) -> Result<StatusCode> {
    let app = resolve(&m, &app, &uri).await?;
    m.store.delete_app(&app).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every route of the app (each names its script), by path.
async fn list_routes(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>> {
    let app = resolve(&m, &app, &uri).await?;
    Ok(Json(
        json!({ "routes": m.store.list_app_routes(&app.id).await? }),
    ))
}

async fn list_domains(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
) -> Result<Json<Value>> {
    let app = resolve(&m, &app, &uri).await?;
    Ok(Json(json!({ "domains": app.domains })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddDomain {
    pattern: String,
}

async fn add_domain(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
    ApiJson(body): ApiJson<AddDomain>,
) -> Result<(StatusCode, Json<Domain>)> {
    let app = resolve(&m, &app, &uri).await?;
    let domain = m.store.add_domain(&app, &body.pattern).await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(domain)))
}

async fn remove_domain(
    State(m): State<Manager>,
    Path((app, domain_id)): Path<(String, String)>,
    uri: OriginalUri,
) -> Result<StatusCode> {
    let app = resolve(&m, &app, &uri).await?;
    m.store.delete_domain(&app, &domain_id).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlugCheck {
    slug: String,
}

async fn check_slug(
    State(m): State<Manager>,
    Path(app): Path<String>,
    uri: OriginalUri,
    ApiJson(body): ApiJson<SlugCheck>,
) -> Result<Json<SlugVerdict>> {
    let app = resolve(&m, &app, &uri).await?;
    Ok(Json(m.store.check_slug(&app, &body.slug).await?))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<Value>>, D::Error> {
    Ok(Some(Option::<Value>::deserialize(d)?))
}
