//! Routes: `method path [host]` bound to a script, scoped to its app.

use serde::Serialize;
use shared::domain::DomainPattern;
use shared::path::{PathPattern, normalize_method};
use shared::{AppId, RouteId, ScriptId};
use sqlx::Row;

use super::{App, Page, Script, Store};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, StoreError};

/// A route as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Route {
    /// UUID.
    #[schema(value_type = String)]
    pub id: RouteId,
    /// The app (always the script's app).
    #[schema(value_type = String)]
    pub app_id: AppId,
    /// The script it runs.
    #[schema(value_type = String)]
    pub script_id: ScriptId,
    /// Upper-case method or `*`.
    pub method: String,
    /// Path pattern, e.g. `/users/:id`.
    pub path: String,
    /// Host pattern the route is limited to, if any.
    pub host: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// URL patterns the route answers at: its host, or each of its app's
    /// claims, with the public base URL's scheme and port. Empty when it can
    /// be reached only through `/api/v1/execute/{script_id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachable_at: Option<Vec<String>>,
    /// Why the route does not answer where one might expect, if it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// One domain claim with its app (reachability and shadowing checks).
#[derive(Debug, Clone)]
pub struct Claim {
    /// The claiming app's id.
    pub app_id: AppId,
    /// Its current slug.
    pub app_slug: String,
    /// The claim.
    pub pattern: DomainPattern,
}

/// The shape of a path pattern: parameter names erased, so two routes of
/// one shape would shadow each other. A stored path always parses; an
/// unparsable one gets its own text as shape.
pub(crate) fn path_shape(path: &str) -> String {
    PathPattern::parse(path).map_or_else(|_| path.to_owned(), |p| p.shape())
}

/// A validated route, ready to insert or to check for conflicts.
#[derive(Debug, Clone)]
pub struct NewRoute {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) host: String,
    pub(crate) shape: String,
}

impl NewRoute {
    /// The host the route is scoped to, if any.
    pub(crate) fn host_pattern(&self) -> Option<DomainPattern> {
        (!self.host.is_empty())
            .then(|| DomainPattern::parse(&self.host).ok())
            .flatten()
    }
}

/// The order route lists page in: path, then method, then host. Paths have
/// no spaces, so the joined text sorts like the three columns would.
pub(crate) const ROUTE_KEY: &str = "(path || ' ' || method || ' ' || host)";

/// A route's sort key, as [`ROUTE_KEY`] computes it (`host` is stored as `''`
/// when the route has none).
pub(crate) fn route_key(route: &Route) -> String {
    format!(
        "{} {} {}",
        route.path,
        route.method,
        route.host.as_deref().unwrap_or("")
    )
}

impl Store {
    /// Validates method, path and host against the app's claims.
    pub fn validate_route(
        &self,
        app: &App,
        method: &str,
        path: &str,
        host: Option<&str>,
    ) -> Result<NewRoute> {
        let method = normalize_method(method)
            .map_err(|m| StoreError::bad_request(ErrorCode::InvalidMethod, m))?;
        let pattern = PathPattern::parse(path)
            .map_err(|m| StoreError::bad_request(ErrorCode::InvalidRoutePath, m))?;
        let host = match host.map(str::trim).filter(|h| !h.is_empty()) {
            None => String::new(),
            Some(host) => {
                let parsed = DomainPattern::parse(host)
                    .map_err(|m| StoreError::bad_request(ErrorCode::InvalidHost, m))?;
                let claims: Vec<DomainPattern> = app
                    .domains
                    .iter()
                    .filter_map(|d| DomainPattern::parse(&d.pattern).ok())
                    .collect();
                if !claims.iter().any(|claim| parsed.within(claim)) {
                    let list: Vec<&str> = app.domains.iter().map(|d| d.pattern.as_str()).collect();
                    return Err(StoreError::bad_request(
                        ErrorCode::HostNotClaimed,
                        format!(
                            "host '{parsed}' is not within the claims of app '{}' ({}); add a domain to the app first",
                            app.slug,
                            if list.is_empty() {
                                "none".to_owned()
                            } else {
                                list.join(", ")
                            }
                        ),
                    ));
                }
                parsed.to_string()
            }
        };
        Ok(NewRoute {
            method,
            path: path.to_owned(),
            host,
            shape: pattern.shape(),
        })
    }

    /// Every domain claim, with its app.
    pub async fn all_claims(&self) -> Result<Vec<Claim>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT d.app_id, a.slug, d.pattern FROM app_domains d JOIN apps a ON a.id = d.app_id",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(app_id, app_slug, pattern)| {
                Some(Claim {
                    app_id: app_id.parse().ok()?,
                    app_slug,
                    pattern: DomainPattern::parse(&pattern).ok()?,
                })
            })
            .collect())
    }

    /// Another app's claim that would serve every host of a route of `app`
    /// scoped to `host` instead of `app` (see [`shared::domain::takes_over`]).
    pub async fn claim_taking_over(
        &self,
        app: &App,
        host: &DomainPattern,
    ) -> Result<Option<Claim>> {
        let claims = self.all_claims().await?;
        let own: Vec<DomainPattern> = claims
            .iter()
            .filter(|c| c.app_id == app.id)
            .map(|c| c.pattern.clone())
            .collect();
        Ok(claims
            .into_iter()
            .find(|c| c.app_id != app.id && shared::domain::takes_over(host, &own, &c.pattern)))
    }

    /// Other apps' host-scoped routes that a new claim `pattern` of the app
    /// `app_id` would leave unreachable, each with its app's slug.
    pub async fn routes_taken_over_by(
        &self,
        app_id: AppId,
        pattern: &DomainPattern,
    ) -> Result<Vec<(String, Route)>> {
        let claims = self.all_claims().await?;
        let rows = sqlx::query(
            "SELECT r.id, r.app_id, r.script_id, r.method, r.path, r.host, r.created_at, a.slug
             FROM routes r JOIN apps a ON a.id = r.app_id
             WHERE r.host <> '' AND r.app_id <> $1
             ORDER BY a.slug, r.path, r.method",
        )
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        let mut taken = Vec::new();
        for row in &rows {
            let route = from_row(row)?;
            let Some(host) = route
                .host
                .as_deref()
                .and_then(|h| DomainPattern::parse(h).ok())
            else {
                continue;
            };
            let own: Vec<DomainPattern> = claims
                .iter()
                .filter(|c| c.app_id == route.app_id)
                .map(|c| c.pattern.clone())
                .collect();
            if shared::domain::takes_over(&host, &own, pattern) {
                taken.push((row.try_get("slug")?, route));
            }
        }
        Ok(taken)
    }

    /// The existing route of the same app that `route` would collide with.
    pub async fn route_conflict(&self, app_id: AppId, route: &NewRoute) -> Result<Option<Route>> {
        let row = sqlx::query(
            "SELECT id, app_id, script_id, method, path, host, created_at FROM routes
             WHERE app_id = $1 AND host = $2 AND method = $3 AND path_shape = $4",
        )
        .bind(app_id.to_string())
        .bind(&route.host)
        .bind(&route.method)
        .bind(&route.shape)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Binds a validated route to `script`; 409 names the route it collides with.
    pub async fn create_route(&self, script: &Script, route: NewRoute) -> Result<Route> {
        if let Some(existing) = self.route_conflict(script.app_id, &route).await? {
            return Err(conflict_error(&route, &existing));
        }
        let id = RouteId::new();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO routes (id, app_id, script_id, method, path, host, path_shape, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(script.app_id.to_string())
        .bind(script.id.to_string())
        .bind(&route.method)
        .bind(&route.path)
        .bind(&route.host)
        .bind(&route.shape)
        .bind(now)
        .execute(&self.db.pool)
        .await
        .on_conflict(ErrorCode::RouteConflict, || {
            format!(
                "another route for {} {} was added at the same time",
                route.method, route.path
            )
        })?;
        Ok(Route {
            id,
            app_id: script.app_id,
            script_id: script.id,
            method: route.method,
            path: route.path,
            host: (!route.host.is_empty()).then_some(route.host),
            created_at: rfc3339(now),
            reachable_at: None,
            warnings: None,
        })
    }

    /// Routes of one script.
    pub async fn list_routes(&self, script_id: ScriptId, page: &Page) -> Result<Vec<Route>> {
        let condition = format!("script_id = $1{}", page.sql(ROUTE_KEY, 2));
        self.routes_where(&condition, &script_id.to_string(), page)
            .await
    }

    /// Routes of one app, by path, method and host, one page.
    pub async fn list_app_routes(&self, app_id: AppId, page: &Page) -> Result<Vec<Route>> {
        let condition = format!("app_id = $1{}", page.sql(ROUTE_KEY, 2));
        self.routes_where(&condition, &app_id.to_string(), page)
            .await
    }

    /// Routes of one app that are scoped to a host.
    pub async fn host_scoped_routes(&self, app_id: AppId) -> Result<Vec<Route>> {
        self.routes_where(
            "app_id = $1 AND host <> '' ORDER BY host, path, method",
            &app_id.to_string(),
            &Page::all(),
        )
        .await
    }

    /// Routes matching `condition` (SQL after WHERE, binding `value` as `$1`
    /// and then `page`'s cursor).
    async fn routes_where(&self, condition: &str, value: &str, page: &Page) -> Result<Vec<Route>> {
        let sql = format!(
            "SELECT id, app_id, script_id, method, path, host, created_at FROM routes WHERE {condition}"
        );
        let rows = page
            .bind(sqlx::query(&sql).bind(value))
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Removes a route of `script_id`.
    pub async fn delete_route(&self, script_id: ScriptId, route_id: RouteId) -> Result<()> {
        let done = sqlx::query("DELETE FROM routes WHERE id = $1 AND script_id = $2")
            .bind(route_id.to_string())
            .bind(script_id.to_string())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("route", route_id));
        }
        Ok(())
    }
}

pub(crate) fn conflict_error(route: &NewRoute, existing: &Route) -> StoreError {
    StoreError::conflict(ErrorCode::RouteConflict, conflict_message(route, existing))
}

/// Names the existing route a new one collides with.
pub(crate) fn conflict_message(route: &NewRoute, existing: &Route) -> String {
    format!(
        "{} {} conflicts with route {} {} (id {}, script {}) in the same app",
        route.method, route.path, existing.method, existing.path, existing.id, existing.script_id
    )
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Route> {
    let host: String = row.try_get("host")?;
    Ok(Route {
        id: super::id_column(row, "id")?,
        app_id: super::id_column(row, "app_id")?,
        script_id: super::id_column(row, "script_id")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        host: (!host.is_empty()).then_some(host),
        created_at: rfc3339(row.try_get("created_at")?),
        reachable_at: None,
        warnings: None,
    })
}
