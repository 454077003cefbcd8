//! Apps, their domain claims and slug history.

use serde::Serialize;
use shared::AppId;
use shared::domain::DomainPattern;
use sqlx::Row;
use uuid::Uuid;

use super::{Page, Store};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, StoreError};

/// A slug an app had before a rename.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetiredSlug {
    /// The earlier slug.
    pub slug: String,
    /// RFC 3339: when the app was renamed away from it.
    pub retired_at: String,
}

/// An app as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct App {
    /// UUID.
    #[schema(value_type = String)]
    pub id: AppId,
    /// Unique, URL-safe name used in URLs and the CLI.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Per-app limit overrides (see docs/scripting.md, "Limits").
    #[schema(value_type = Option<Object>)]
    pub limits: Option<serde_json::Value>,
    /// Which browser origins may call its routes (docs/apps.md, "CORS");
    /// absent when CORS is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub cors: Option<shared::CorsPolicy>,
    /// Its request rate limit (docs/apps.md, "Rate limits"); absent when off.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rate_limit: Option<shared::RateLimit>,
    /// Settings for its end users (docs/scripting.md, "Users"); absent
    /// when all are the defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::app_users::UsersSettings>)]
    pub users: Option<crate::app_users::UsersSettings>,
    /// Host patterns the app claims.
    pub domains: Vec<Domain>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The caller's role on the app (`owner`, `developer` or `viewer`), in
    /// the admin API's answers; what the dashboard shows and hides by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::store::Role>,
}

/// One domain claim.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Domain {
    /// UUID.
    pub id: String,
    /// The normalized pattern, e.g. `{tenant}.example.com`.
    pub pattern: String,
    /// The pattern with wildcards as `*`; unique across apps.
    pub shape_key: String,
    /// RFC 3339.
    pub created_at: String,
}

/// How an `{id_or_slug}` in a URL resolved.
#[derive(Debug, Clone)]
pub enum AppRef {
    /// The app, by its id or current slug.
    Found(Box<App>),
    /// An old slug of this app; the caller redirects to its current slug.
    Renamed {
        /// The app's current slug.
        current_slug: String,
    },
}

/// The answer of `slug:check`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlugVerdict {
    /// The slug asked about.
    pub slug: String,
    /// `available`, `current` (this app's own slug), `taken` (another app's
    /// current slug: never transferable) or `history` (another app's old slug:
    /// can be taken over with `force`).
    pub status: &'static str,
    /// Whether a rename to it would succeed without `force`.
    pub available: bool,
    /// Slug of the app that holds it, for `taken` and `history`.
    pub holder: Option<String>,
    /// A sentence for a person.
    pub message: String,
}

/// Slug rules: 1–63 of `a-z 0-9 -`, starting with a letter, no trailing `-`.
pub(crate) fn validate_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && !slug.ends_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidSlug,
            format!(
                "slug '{slug}' is invalid: use 1 to 63 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen"
            ),
        ));
    }
    if slug == "__internal__" {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidSlug,
            "slug '__internal__' is reserved",
        ));
    }
    Ok(())
}

/// The `apps` columns [`app_from_row`] reads.
const APP_COLUMNS: &str =
    "id, slug, name, description, limits, cors, rate_limit, users, created_at, updated_at";

fn app_from_row(row: &sqlx::any::AnyRow, domains: Vec<Domain>) -> Result<App> {
    let limits: Option<String> = row.try_get("limits")?;
    let cors: Option<String> = row.try_get("cors")?;
    let rate_limit: Option<String> = row.try_get("rate_limit")?;
    let users: Option<String> = row.try_get("users")?;
    Ok(App {
        id: super::id_column(row, "id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        limits: limits.and_then(|l| serde_json::from_str(&l).ok()),
        cors: cors.and_then(|c| serde_json::from_str(&c).ok()),
        rate_limit: rate_limit.and_then(|r| serde_json::from_str(&r).ok()),
        users: users.and_then(|u| serde_json::from_str(&u).ok()),
        domains,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
        role: None,
    })
}

impl Store {
    /// Number of apps, `default` included.
    pub async fn count_apps(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM apps")
            .fetch_one(&self.db.pool)
            .await?)
    }

    /// Apps ordered by slug, one page: two queries whatever the page size,
    /// the apps and then all of their domains.
    pub async fn list_apps(&self, page: &Page) -> Result<Vec<App>> {
        self.list_apps_among(None, page).await
    }

    /// Like [`Store::list_apps`], only `visible` ones (`None`: all).
    pub async fn list_apps_among(
        &self,
        visible: Option<&[AppId]>,
        page: &Page,
    ) -> Result<Vec<App>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE 1 = 1{}{}",
            super::among_apps("id", visible),
            page.sql("slug", 1)
        );
        let rows = page
            .bind(sqlx::query(&sql))
            .fetch_all(&self.db.pool)
            .await?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String, _>("id"))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut domains = self.domains_of(&ids).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                app_from_row(row, domains.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    /// The domains of `app_ids`, each app's ordered by pattern as
    /// [`Store::list_domains`] orders them.
    async fn domains_of(
        &self,
        app_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<Domain>>> {
        let mut domains: std::collections::HashMap<String, Vec<Domain>> =
            std::collections::HashMap::new();
        // Bounded lists of bound ids: both engines cap a statement's
        // parameters, and a page is usually far smaller than this.
        for chunk in app_ids.chunks(500) {
            let placeholders = (1..=chunk.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT app_id, id, pattern, shape_key, created_at FROM app_domains \
                 WHERE app_id IN ({placeholders}) ORDER BY pattern, id"
            );
            let mut query = sqlx::query_as::<_, (String, String, String, String, i64)>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for (app_id, id, pattern, shape_key, created) in query.fetch_all(&self.db.pool).await? {
                domains.entry(app_id).or_default().push(Domain {
                    id,
                    pattern,
                    shape_key,
                    created_at: rfc3339(created),
                });
            }
        }
        Ok(domains)
    }

    async fn find_app(&self, id: AppId) -> Result<Option<App>> {
        let Some(row) = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
        else {
            return Ok(None);
        };
        let domains = self.list_domains(id, &Page::all()).await?;
        app_from_row(&row, domains).map(Some)
    }

    /// The slugs `app_id` had before, newest first.
    pub async fn slug_history(&self, app_id: AppId) -> Result<Vec<RetiredSlug>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT slug, retired_at FROM app_slug_history WHERE app_id = $1 \
             ORDER BY retired_at DESC, slug",
        )
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(slug, retired)| RetiredSlug {
                slug,
                retired_at: rfc3339(retired),
            })
            .collect())
    }

    /// Resolves an id or slug (current or historical).
    pub async fn resolve_app(&self, id_or_slug: &str) -> Result<AppRef> {
        if let Ok(id) = id_or_slug.parse::<AppId>()
            && let Some(app) = self.find_app(id).await?
        {
            return Ok(AppRef::Found(Box::new(app)));
        }
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM apps WHERE slug = $1")
            .bind(id_or_slug)
            .fetch_optional(&self.db.pool)
            .await?;
        if let Some(id) = id
            && let Some(app) = self.find_app(super::id(&id)?).await?
        {
            return Ok(AppRef::Found(Box::new(app)));
        }
        let current: Option<String> = sqlx::query_scalar(
            "SELECT a.slug FROM app_slug_history h JOIN apps a ON a.id = h.app_id WHERE h.slug = $1",
        )
        .bind(id_or_slug)
        .fetch_optional(&self.db.pool)
        .await?;
        match current {
            Some(current_slug) => Ok(AppRef::Renamed { current_slug }),
            None => Err(StoreError::not_found("app", id_or_slug)),
        }
    }

    /// Resolves an id or *current* slug; an old slug is an error naming the new
    /// one (for request bodies, where a redirect makes no sense).
    pub async fn app(&self, id_or_slug: &str) -> Result<App> {
        match self.resolve_app(id_or_slug).await? {
            AppRef::Found(app) => Ok(*app),
            AppRef::Renamed { current_slug } => Err(StoreError::bad_request(
                ErrorCode::AppRenamed,
                format!("app '{id_or_slug}' was renamed to '{current_slug}'"),
            )),
        }
    }

    /// The app with `id` (an id held by a script, route or trigger).
    pub async fn app_by_id(&self, id: AppId) -> Result<App> {
        self.find_app(id)
            .await?
            .ok_or_else(|| StoreError::not_found("app", id))
    }

    /// Creates an app.
    pub async fn create_app(&self, slug: &str, name: &str, description: &str) -> Result<App> {
        validate_slug(slug)?;
        self.validate_app_update(Some(name), None)?;
        let mut tx = self.db.begin_write().await?;
        let in_history: Option<String> = sqlx::query_scalar(
            "SELECT a.slug FROM app_slug_history h JOIN apps a ON a.id = h.app_id WHERE h.slug = $1",
        )
        .bind(slug)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(holder) = in_history {
            return Err(StoreError::conflict(
                ErrorCode::SlugInHistory,
                format!(
                    "slug '{slug}' is a former slug of app '{holder}' and still redirects there; create the app under another slug, then rename it with force to take it over"
                ),
            ));
        }
        let id = AppId::new();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO apps (id, slug, name, description, limits, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, $5)",
        )
        .bind(id.to_string())
        .bind(slug)
        .bind(name.trim())
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await
        .on_conflict(ErrorCode::SlugTaken, || format!("an app with slug '{slug}' already exists"))?;
        tx.commit().await?;
        self.app_by_id(id).await
    }

    /// Checks what [`Store::update_app`] would check, without writing: lets a
    /// request that also renames fail before anything changes.
    pub fn validate_app_update(
        &self,
        name: Option<&str>,
        limits: Option<&Option<serde_json::Value>>,
    ) -> Result<()> {
        if name.is_some_and(|n| n.trim().is_empty()) {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidName,
                "the app name must not be empty",
            ));
        }
        if let Some(Some(value)) = limits {
            validate_limits(value)?;
        }
        Ok(())
    }

    /// Sets (or, with `None`, turns off) the app's CORS policy.
    pub async fn set_app_cors(&self, app: &App, cors: Option<&shared::CorsPolicy>) -> Result<App> {
        if let Some(cors) = cors {
            cors.validate()
                .map_err(|m| StoreError::bad_request(ErrorCode::InvalidCors, m))?;
        }
        self.set_app_setting(app, "cors", cors).await
    }

    /// Sets (or, with `None`, turns off) the app's request rate limit.
    pub async fn set_app_rate_limit(
        &self,
        app: &App,
        limit: Option<&shared::RateLimit>,
    ) -> Result<App> {
        if let Some(limit) = limit {
            limit
                .validate()
                .map_err(|m| StoreError::bad_request(ErrorCode::InvalidRateLimit, m))?;
        }
        self.set_app_setting(app, "rate_limit", limit).await
    }

    /// Sets (or, with `None`, resets to the defaults) the app's settings
    /// for its end users.
    pub async fn set_app_users(
        &self,
        app: &App,
        users: Option<&crate::app_users::UsersSettings>,
    ) -> Result<App> {
        if let Some(users) = users {
            users
                .validate()
                .map_err(|m| StoreError::bad_request(ErrorCode::InvalidUsers, m))?;
        }
        self.set_app_setting(app, "users", users).await
    }

    /// The app's settings for its end users (the defaults when unset).
    pub(crate) async fn app_users_settings(
        &self,
        app: AppId,
    ) -> Result<crate::app_users::UsersSettings> {
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT users FROM apps WHERE id = $1")
                .bind(app.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        // Stored only after validation; one that no longer parses is the
        // defaults rather than a failed sign-in.
        Ok(stored
            .flatten()
            .and_then(|u| serde_json::from_str(&u).ok())
            .unwrap_or_default())
    }

    /// One JSON setting column of `apps` (`column` is one of ours, never
    /// the caller's text).
    async fn set_app_setting<T: serde::Serialize>(
        &self,
        app: &App,
        column: &'static str,
        value: Option<&T>,
    ) -> Result<App> {
        let text = value.map(|v| serde_json::to_string(v).expect("a setting serializes"));
        sqlx::query(&format!(
            "UPDATE apps SET {column} = $1, updated_at = $2 WHERE id = $3"
        ))
        .bind(text)
        .bind(now_ms())
        .bind(app.id.to_string())
        .execute(&self.db.pool)
        .await?;
        self.app_by_id(app.id).await
    }

    /// Updates name, description and limits (any of them).
    pub async fn update_app(
        &self,
        app: &App,
        name: Option<&str>,
        description: Option<&str>,
        limits: Option<Option<serde_json::Value>>,
    ) -> Result<App> {
        self.validate_app_update(name, limits.as_ref())?;
        let limits_text = limits.map(|l| l.map(|value| value.to_string()));
        let current_limits = app.limits.as_ref().map(|v| v.to_string());
        sqlx::query("UPDATE apps SET name = $1, description = $2, limits = $3, updated_at = $4 WHERE id = $5")
            .bind(name.map(str::trim).unwrap_or(&app.name))
            .bind(description.unwrap_or(&app.description))
            .bind(limits_text.unwrap_or(current_limits))
            .bind(now_ms())
            .bind(app.id.to_string())
            .execute(&self.db.pool)
            .await?;
        self.app_by_id(app.id).await
    }

    /// What renaming `app` to `slug` would do.
    pub async fn check_slug(&self, app: &App, slug: &str) -> Result<SlugVerdict> {
        validate_slug(slug)?;
        let verdict = |status, available, holder: Option<String>, message: String| SlugVerdict {
            slug: slug.to_owned(),
            status,
            available,
            holder,
            message,
        };
        if app.slug == slug {
            return Ok(verdict(
                "current",
                true,
                None,
                format!("'{slug}' is already this app's slug"),
            ));
        }
        let active: Option<String> = sqlx::query_scalar("SELECT slug FROM apps WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.db.pool)
            .await?;
        if active.is_some() {
            return Ok(verdict(
                "taken",
                false,
                Some(slug.to_owned()),
                format!("'{slug}' is the current slug of another app and cannot be taken"),
            ));
        }
        let history: Option<(String, String)> = sqlx::query_as(
            "SELECT a.id, a.slug FROM app_slug_history h JOIN apps a ON a.id = h.app_id WHERE h.slug = $1",
        )
        .bind(slug)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(match history {
            Some((holder_id, _)) if holder_id == app.id.to_string() => verdict(
                "available",
                true,
                None,
                format!("'{slug}' is a former slug of this app and can be reclaimed"),
            ),
            Some((_, holder)) => verdict(
                "history",
                false,
                Some(holder.clone()),
                format!(
                    "'{slug}' is a former slug of app '{holder}' and redirects there; rename with \"force\": true to take it over (the redirect stops)"
                ),
            ),
            None => verdict("available", true, None, format!("'{slug}' is available")),
        })
    }

    /// Renames `app` to `slug`, recording the old slug in history. `force`
    /// is required to take a slug from another app's history and can never
    /// take an active slug.
    pub async fn rename_app(&self, app: &App, slug: &str, force: bool) -> Result<App> {
        if app.id == AppId::DEFAULT {
            return Err(StoreError::bad_request(
                ErrorCode::DefaultApp,
                "the default app keeps the slug 'default'",
            ));
        }
        let verdict = self.check_slug(app, slug).await?;
        match verdict.status {
            "current" => return Ok(app.clone()),
            "taken" => return Err(StoreError::conflict(ErrorCode::SlugTaken, verdict.message)),
            "history" if !force => {
                return Err(StoreError::conflict(
                    ErrorCode::SlugInHistory,
                    verdict.message,
                ));
            }
            _ => {}
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM app_slug_history WHERE slug = $1")
            .bind(slug)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO app_slug_history (slug, app_id, retired_at) VALUES ($1, $2, $3)")
            .bind(&app.slug)
            .bind(app.id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE apps SET slug = $1, updated_at = $2 WHERE id = $3")
            .bind(slug)
            .bind(now)
            .bind(app.id.to_string())
            .execute(&mut *tx)
            .await
            .on_conflict(ErrorCode::SlugTaken, || {
                format!("an app with slug '{slug}' already exists")
            })?;
        tx.commit().await?;
        self.app_by_id(app.id).await
    }

    /// Deletes an app and, by cascade, its scripts, routes, domains, history and log.
    pub async fn delete_app(&self, app: &App) -> Result<()> {
        if app.id == AppId::DEFAULT {
            return Err(StoreError::bad_request(
                ErrorCode::DefaultApp,
                "the default app cannot be deleted",
            ));
        }
        sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(app.id.to_string())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// The app's domain claims.
    pub async fn list_domains(&self, app_id: AppId, page: &Page) -> Result<Vec<Domain>> {
        let sql = format!(
            "SELECT id, pattern, shape_key, created_at FROM app_domains WHERE app_id = $1{}",
            page.sql("pattern", 2)
        );
        let query =
            sqlx::query_as::<_, (String, String, String, i64)>(&sql).bind(app_id.to_string());
        let rows = match &page.after {
            Some((key, id)) => query.bind(key).bind(id),
            None => query,
        }
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, pattern, shape_key, created)| Domain {
                id,
                pattern,
                shape_key,
                created_at: rfc3339(created),
            })
            .collect())
    }

    /// Claims a host pattern for `app`; 409 names the app owning the shape.
    pub async fn add_domain(&self, app: &App, pattern: &str) -> Result<Domain> {
        let parsed = DomainPattern::parse(pattern)
            .map_err(|m| StoreError::bad_request(ErrorCode::InvalidDomain, m))?;
        let shape = parsed.shape_key();
        let owner: Option<(String, String)> = sqlx::query_as(
            "SELECT a.slug, d.pattern FROM app_domains d JOIN apps a ON a.id = d.app_id WHERE d.shape_key = $1",
        )
        .bind(&shape)
        .fetch_optional(&self.db.pool)
        .await?;
        if let Some((owner, existing)) = owner {
            return Err(StoreError::conflict(
                ErrorCode::DomainTaken,
                format!(
                    "'{parsed}' collides with the claim '{existing}' of app '{owner}' (same shape '{shape}')"
                ),
            ));
        }
        let id = Uuid::new_v4().to_string();
        let now = now_ms();
        sqlx::query("INSERT INTO app_domains (id, app_id, pattern, shape_key, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.to_string())
            .bind(app.id.to_string())
            .bind(parsed.to_string())
            .bind(&shape)
            .bind(now)
            .execute(&self.db.pool)
            .await
            .on_conflict(ErrorCode::DomainTaken, || format!("another app claimed the shape '{shape}' at the same time"))?;
        Ok(Domain {
            id,
            pattern: parsed.to_string(),
            shape_key: shape,
            created_at: rfc3339(now),
        })
    }

    /// Removes a claim of `app`. Refused (409 `domain_in_use`) while a route
    /// is scoped to a host that only this claim covers: that route would stay
    /// stored but could never be reached, which nobody asks for on purpose.
    pub async fn delete_domain(&self, app: &App, domain_id: &str) -> Result<()> {
        if !app.domains.iter().any(|d| d.id == domain_id) {
            return Err(StoreError::not_found("domain", domain_id));
        }
        let remaining: Vec<DomainPattern> = app
            .domains
            .iter()
            .filter(|d| d.id != domain_id)
            .filter_map(|d| DomainPattern::parse(&d.pattern).ok())
            .collect();
        let stranded: Vec<String> = self
            .host_scoped_routes(app.id)
            .await?
            .into_iter()
            .filter(|r| {
                DomainPattern::parse(r.host.as_deref().unwrap_or_default())
                    .is_ok_and(|host| !remaining.iter().any(|claim| host.within(claim)))
            })
            .map(|r| format!("{} {} {}", r.method, r.host.unwrap_or_default(), r.path))
            .collect();
        if !stranded.is_empty() {
            return Err(StoreError::conflict(
                ErrorCode::DomainInUse,
                format!(
                    "routes scoped to this claim would become unreachable: {}; delete or rescope them first",
                    stranded.join(", ")
                ),
            ));
        }
        let done = sqlx::query("DELETE FROM app_domains WHERE id = $1 AND app_id = $2")
            .bind(domain_id)
            .bind(app.id.to_string())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("domain", domain_id));
        }
        Ok(())
    }
}

/// Checks a limits object against `shared::Limits`' fields and types.
/// Validating the merged result means a stored override
/// always parses back, so an app never silently loses its limits.
fn validate_limits(value: &serde_json::Value) -> Result<()> {
    let serde_json::Value::Object(map) = value else {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidLimits,
            "limits must be a JSON object",
        ));
    };
    let mut merged = serde_json::to_value(shared::Limits::default()).expect("limits serialize");
    let maxima = serde_json::to_value(shared::Limits::MAX).expect("limits serialize");
    for (key, v) in map {
        if merged.get(key).is_none() {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidLimits,
                format!("unknown limit '{key}'"),
            ));
        }
        let Some(n) = v.as_u64().filter(|n| *n > 0) else {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidLimits,
                format!("limit '{key}' must be a positive integer"),
            ));
        };
        if let Some(max) = maxima[key].as_u64().filter(|max| n > *max) {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidLimits,
                format!("limit '{key}' is {n}, above its maximum of {max}"),
            ));
        }
        merged[key] = v.clone();
    }
    serde_json::from_value::<shared::Limits>(merged).map_err(|e| {
        StoreError::bad_request(
            ErrorCode::InvalidLimits,
            format!("limits are out of range: {e}"),
        )
    })?;
    Ok(())
}
