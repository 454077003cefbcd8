//! The write side of a manifest deploy: a checked plan's operations in one
//! transaction, so a deploy changes everything it lists or nothing.

use std::collections::HashMap;

use shared::{AppId, RouteId, ScriptId};
use uuid::Uuid;

use super::Store;
use super::scripts::{insert_script, insert_version};
use crate::cron_expr::Schedule;
use crate::db::now_ms;
use crate::deploy::Op;
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, ScriptChange, StoreError};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Store {
    /// Runs `ops` (from [`crate::deploy::plan`]) for the app `app` (`None`:
    /// the first op creates it) in one transaction; returns the app's id.
    /// Script versions record `change`.
    pub(crate) async fn apply_manifest(
        &self,
        app: Option<AppId>,
        ops: &[Op],
        change: &ScriptChange,
    ) -> Result<AppId> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let mut app_id = app.unwrap_or(AppId::DEFAULT);
        let mut scripts: HashMap<String, ScriptId> = HashMap::new();
        if app.is_some() {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT name, id FROM scripts WHERE app_id = $1")
                    .bind(app_id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
            for (name, id) in rows {
                scripts.insert(name, super::id(&id)?);
            }
        }
        for op in ops {
            let app = app_id.to_string();
            match op {
                Op::CreateApp { slug } => {
                    app_id = create_app(&mut tx, slug, now).await?;
                }
                Op::SetApp {
                    name,
                    description,
                    limits,
                    cors,
                    rate_limit,
                    users,
                } => {
                    sqlx::query(
                        "UPDATE apps SET name = $1, description = $2, limits = $3, cors = $4, rate_limit = $5, users = $8, updated_at = $6 WHERE id = $7",
                    )
                    .bind(name)
                    .bind(description)
                    .bind(limits.as_ref().map(ToString::to_string))
                    .bind(cors.as_ref().map(|c| serde_json::to_string(c).expect("cors serializes")))
                    .bind(rate_limit.as_ref().map(|r| serde_json::to_string(r).expect("a rate limit serializes")))
                    .bind(now)
                    .bind(&app)
                    .bind(users.as_ref().map(|u| serde_json::to_string(u).expect("users settings serialize")))
                    .execute(&mut *tx)
                    .await?;
                }
                Op::AddDomain { pattern, shape } => {
                    sqlx::query("INSERT INTO app_domains (id, app_id, pattern, shape_key, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(Uuid::new_v4().to_string())
                        .bind(&app)
                        .bind(pattern)
                        .bind(shape)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .on_conflict(ErrorCode::DomainTaken, || format!("another app claimed the shape '{shape}' at the same time"))?;
                }
                Op::DeleteDomain { id } => {
                    delete_in_app(&mut tx, "app_domains", "id", &app, id).await?
                }
                Op::CreateScript {
                    name,
                    description,
                    source,
                    imports,
                } => {
                    let id = ScriptId::new();
                    let change = ScriptChange {
                        imports: imports.clone(),
                        ..change.clone()
                    };
                    insert_script(
                        &mut tx,
                        id,
                        app_id,
                        (name, description, source),
                        &change,
                        now,
                    )
                    .await?;
                    scripts.insert(name.clone(), id);
                }
                Op::UpdateScript {
                    name,
                    description,
                    source,
                    imports,
                } => {
                    let id = script_id(&scripts, name)?;
                    sqlx::query(
                        "UPDATE scripts SET description = $1, imports = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(description)
                    .bind(super::scripts::imports_json(imports))
                    .bind(now)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    if let Some(source) = source {
                        let version: i64 = sqlx::query_scalar(
                            "UPDATE scripts SET source = $1, version = version + 1 WHERE id = $2 RETURNING version",
                        )
                        .bind(source)
                        .bind(id.to_string())
                        .fetch_one(&mut *tx)
                        .await?;
                        insert_version(&mut tx, id, version, source, change, now).await?;
                    }
                }
                Op::DeleteScript { name } => {
                    let id = script_id(&scripts, name)?.to_string();
                    // Its routes and triggers go with it (ON DELETE CASCADE).
                    delete_in_app(&mut tx, "scripts", "id", &app, &id).await?;
                }
                Op::PutRoute {
                    existing,
                    script,
                    route,
                } => {
                    let script = script_id(&scripts, script)?;
                    let id = existing.unwrap_or_else(RouteId::new);
                    if existing.is_some() {
                        sqlx::query("UPDATE routes SET script_id = $1, path = $2 WHERE id = $3")
                            .bind(script.to_string())
                            .bind(&route.path)
                            .bind(id.to_string())
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        sqlx::query(
                            "INSERT INTO routes (id, app_id, script_id, method, path, host, path_shape, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(id.to_string())
                        .bind(&app)
                        .bind(script.to_string())
                        .bind(&route.method)
                        .bind(&route.path)
                        .bind(&route.host)
                        .bind(&route.shape)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .on_conflict(ErrorCode::RouteConflict, || {
                            format!("another route for {} {} was added at the same time", route.method, route.path)
                        })?;
                    }
                }
                Op::DeleteRoute { id } => {
                    delete_in_app(&mut tx, "routes", "id", &app, &id.to_string()).await?;
                }
                Op::CreateCron {
                    script,
                    schedule,
                    timezone,
                    enabled,
                } => {
                    let schedule = Schedule::parse(schedule, timezone)?;
                    let next = enabled.then(|| schedule.next_after(now)).flatten();
                    sqlx::query(
                        "INSERT INTO cron_triggers (id, app_id, script_id, schedule, timezone, enabled, next_run_at, last_run_at, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8)",
                    )
                    .bind(Uuid::now_v7().to_string())
                    .bind(&app)
                    .bind(script_id(&scripts, script)?.to_string())
                    .bind(schedule.expression())
                    .bind(schedule.timezone())
                    .bind(i64::from(*enabled))
                    .bind(next)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Op::SetCronEnabled {
                    id,
                    schedule,
                    timezone,
                    enabled,
                } => {
                    // Resuming starts at the schedule's next time after now,
                    // as a resume through the cron API does.
                    let schedule = Schedule::parse(schedule, timezone)?;
                    let next = enabled.then(|| schedule.next_after(now)).flatten();
                    sqlx::query("UPDATE cron_triggers SET enabled = $1, next_run_at = $2, updated_at = $3 WHERE id = $4 AND app_id = $5")
                        .bind(i64::from(*enabled))
                        .bind(next)
                        .bind(now)
                        .bind(id)
                        .bind(&app)
                        .execute(&mut *tx)
                        .await?;
                }
                Op::DeleteCron { id } => {
                    delete_in_app(&mut tx, "cron_triggers", "id", &app, id).await?
                }
                Op::CreateQueueTrigger {
                    script,
                    queue,
                    max_attempts,
                    enabled,
                } => {
                    sqlx::query(
                        "INSERT INTO queue_triggers (id, app_id, script_id, queue, enabled, max_attempts, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    )
                    .bind(Uuid::now_v7().to_string())
                    .bind(&app)
                    .bind(script_id(&scripts, script)?.to_string())
                    .bind(queue)
                    .bind(i64::from(*enabled))
                    .bind(max_attempts)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Op::UpdateQueueTrigger {
                    id,
                    script,
                    max_attempts,
                    enabled,
                } => {
                    sqlx::query("UPDATE queue_triggers SET script_id = $1, max_attempts = $2, enabled = $3, updated_at = $4 WHERE id = $5 AND app_id = $6")
                        .bind(script_id(&scripts, script)?.to_string())
                        .bind(max_attempts)
                        .bind(i64::from(*enabled))
                        .bind(now)
                        .bind(id)
                        .bind(&app)
                        .execute(&mut *tx)
                        .await?;
                }
                Op::DeleteQueueTrigger { id } => {
                    delete_in_app(&mut tx, "queue_triggers", "id", &app, id).await?
                }
                Op::CreateInterceptor {
                    script,
                    prefix,
                    position,
                } => {
                    sqlx::query(
                        "INSERT INTO interceptors (id, app_id, script_id, prefix, position, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(Uuid::now_v7().to_string())
                    .bind(&app)
                    .bind(script_id(&scripts, script)?.to_string())
                    .bind(prefix)
                    .bind(position)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Op::MoveInterceptor { id, position } => {
                    sqlx::query("UPDATE interceptors SET position = $1, updated_at = $2 WHERE id = $3 AND app_id = $4")
                        .bind(position)
                        .bind(now)
                        .bind(id)
                        .bind(&app)
                        .execute(&mut *tx)
                        .await?;
                }
                Op::DeleteInterceptor { id } => {
                    delete_in_app(&mut tx, "interceptors", "id", &app, id).await?
                }
                Op::SetVariable { name, value } => {
                    super::variables::put_plain_variable(&mut tx, app_id, name, value).await?;
                }
                Op::DeleteVariable { name } => {
                    delete_in_app(&mut tx, "app_variables", "name", &app, name).await?;
                }
                Op::AddAllow { pattern } => {
                    sqlx::query("INSERT INTO app_http_allow (app_id, pattern, created_at) VALUES ($1, $2, $3)")
                        .bind(&app)
                        .bind(pattern)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                Op::DeleteAllow { pattern } => {
                    delete_in_app(&mut tx, "app_http_allow", "pattern", &app, pattern).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(app_id)
    }
}

/// Deletes the app's row of `table` whose `column` is `key` (`table` and
/// `column` are always ours, never the caller's text).
async fn delete_in_app(
    tx: &mut Tx,
    table: &'static str,
    column: &'static str,
    app: &str,
    key: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "DELETE FROM {table} WHERE app_id = $1 AND {column} = $2"
    ))
    .bind(app)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn script_id(scripts: &HashMap<String, ScriptId>, name: &str) -> Result<ScriptId> {
    scripts
        .get(name)
        .copied()
        .ok_or_else(|| StoreError::not_found("script", name))
}

/// Inserts a new app (the same checks as [`Store::create_app`], inside `tx`).
async fn create_app(tx: &mut Tx, slug: &str, now: i64) -> Result<AppId> {
    let in_history: Option<String> = sqlx::query_scalar(
        "SELECT a.slug FROM app_slug_history h JOIN apps a ON a.id = h.app_id WHERE h.slug = $1",
    )
    .bind(slug)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(holder) = in_history {
        return Err(StoreError::conflict(
            ErrorCode::SlugInHistory,
            format!("slug '{slug}' is a former slug of app '{holder}' and still redirects there"),
        ));
    }
    let id = AppId::new();
    sqlx::query(
        "INSERT INTO apps (id, slug, name, description, limits, created_at, updated_at) VALUES ($1, $2, '', '', NULL, $3, $3)",
    )
    .bind(id.to_string())
    .bind(slug)
    .bind(now)
    .execute(&mut **tx)
    .await
    .on_conflict(ErrorCode::SlugTaken, || format!("an app with slug '{slug}' already exists"))?;
    Ok(id)
}
