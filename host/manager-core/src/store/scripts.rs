//! Scripts: Rhai source owned by an app.

use serde::Serialize;
use shared::{AppId, ScriptId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Page, Store};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, StoreError};

/// Largest script source accepted, in bytes.
pub(crate) const MAX_SOURCE_BYTES: usize = 256 << 10;

/// A script as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Script {
    /// UUID.
    #[schema(value_type = String)]
    pub id: ScriptId,
    /// Owning app's id.
    #[schema(value_type = String)]
    pub app_id: AppId,
    /// Unique within the app.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Rhai source.
    pub source: String,
    /// The version `source` is: 1 for a new script, one more for each
    /// change of source (a rollback included).
    pub version: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

const COLUMNS: &str = "id, app_id, name, description, source, version, created_at, updated_at";

/// Who makes a change to a script's source, and why: recorded with the
/// version it creates.
#[derive(Debug, Clone, Default)]
pub struct ScriptChange {
    /// A username, `token:<name>`, or empty when unknown.
    pub author: String,
    /// The change's message (`-m` in the CLI), if any.
    pub message: Option<String>,
    /// The modules the new source imports, as checked at upload
    /// ([`Manager::compile_in_app`](crate::Manager)); stored with it.
    pub imports: Vec<String>,
}

/// Longest version message kept.
pub const MAX_VERSION_MESSAGE: usize = 1000;

/// One version of a script's source.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScriptVersion {
    /// 1, 2, … in the order they were made.
    pub version: i64,
    /// SHA-256 of the source, hex.
    pub sha256: String,
    /// The source's size in bytes.
    pub size: i64,
    /// Who made it: a username, `token:<name>`, or empty when unknown
    /// (versions recorded when versioning came in).
    pub author: String,
    /// The message given with the change.
    pub message: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Whether the script runs this version now.
    pub current: bool,
    /// The source (`GET …/versions/{n}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn sha256_hex(source: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(source.as_bytes()))
}

/// Columns of a version; `source` only where it is needed: for the one
/// version shown, or to hash the versions the migration recorded.
fn version_columns(with_source: bool) -> &'static str {
    if with_source {
        "version, sha256, size, author, message, created_at, source"
    } else {
        "version, sha256, size, author, message, created_at, \
         CASE WHEN sha256 = '' THEN source ELSE NULL END AS source"
    }
}

fn version_from_row(row: &AnyRow, current: i64, with_source: bool) -> Result<ScriptVersion> {
    let source: Option<String> = row.try_get("source")?;
    let stored: String = row.try_get("sha256")?;
    let version: i64 = row.try_get("version")?;
    Ok(ScriptVersion {
        version,
        // Versions recorded by the migration have no stored hash.
        sha256: match (&source, stored.is_empty()) {
            (Some(source), true) => sha256_hex(source),
            _ => stored,
        },
        size: row.try_get("size")?,
        author: row.try_get("author")?,
        message: row.try_get("message")?,
        created_at: rfc3339(row.try_get("created_at")?),
        current: version == current,
        source: source.filter(|_| with_source),
    })
}

/// A version message: at most [`MAX_VERSION_MESSAGE`] bytes of text; line
/// breaks and tabs are fine, other control characters are not.
pub(crate) fn check_message(message: Option<&str>) -> Result<()> {
    if let Some(message) = message
        && (message.len() > MAX_VERSION_MESSAGE
            || message
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidMessage,
            format!(
                "a version message must be at most {MAX_VERSION_MESSAGE} bytes of text without control characters"
            ),
        ));
    }
    Ok(())
}

/// Inserts script `id` (name, description, source) of `app_id` in `tx`, as
/// version 1.
pub(crate) async fn insert_script(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: ScriptId,
    app_id: AppId,
    (name, description, source): (&str, &str, &str),
    change: &ScriptChange,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO scripts (id, app_id, name, description, source, version, created_at, updated_at, imports) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7)",
    )
    .bind(id.to_string())
    .bind(app_id.to_string())
    .bind(name)
    .bind(description)
    .bind(source)
    .bind(now)
    .bind(imports_json(&change.imports))
    .execute(&mut **tx)
    .await
    .on_conflict(ErrorCode::ScriptNameTaken, || format!("this app already has a script named '{name}'"))?;
    insert_version(tx, id, 1, source, change, now).await
}

/// A script's imports as stored: a JSON array of module names.
pub(crate) fn imports_json(imports: &[String]) -> String {
    serde_json::to_string(imports).unwrap_or_else(|_| "[]".into())
}

/// The scripts of `app_id` that import `name`, by name (sorted).
pub(crate) async fn importers_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    app_id: AppId,
    name: &str,
) -> Result<Vec<String>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, imports FROM scripts WHERE app_id = $1 AND imports <> '[]'")
            .bind(app_id.to_string())
            .fetch_all(&mut **tx)
            .await?;
    let mut importers: Vec<String> = rows
        .into_iter()
        .filter(|(importer, imports)| {
            importer != name
                && serde_json::from_str::<Vec<String>>(imports)
                    .is_ok_and(|imports| imports.iter().any(|i| i == name))
        })
        .map(|(importer, _)| importer)
        .collect();
    importers.sort();
    Ok(importers)
}

/// `409 module_in_use` when other scripts of the app import `name`.
pub(crate) async fn refuse_if_imported(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    app_id: AppId,
    name: &str,
    doing: &str,
) -> Result<()> {
    let importers = importers_of(tx, app_id, name).await?;
    if importers.is_empty() {
        return Ok(());
    }
    let list = importers
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(StoreError::Conflict {
        code: ErrorCode::ModuleInUse,
        message: format!(
            "script '{name}' is imported by {list}; remove those imports before {doing} it"
        ),
    })
}

/// `409 script_in_use` when the script is one of its app's interceptors.
pub(crate) async fn refuse_if_interceptor(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    script_id: ScriptId,
    name: &str,
) -> Result<()> {
    let prefixes: Vec<String> = sqlx::query_scalar(
        "SELECT prefix FROM interceptors WHERE script_id = $1 ORDER BY position",
    )
    .bind(script_id.to_string())
    .fetch_all(&mut **tx)
    .await?;
    if prefixes.is_empty() {
        return Ok(());
    }
    Err(StoreError::Conflict {
        code: ErrorCode::ScriptInUse,
        message: format!(
            "script '{name}' is the app's interceptor for {}; delete the interceptor first",
            prefixes
                .iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Records `source` as version `version` of `script_id` in `tx`.
pub(crate) async fn insert_version(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    script_id: ScriptId,
    version: i64,
    source: &str,
    change: &ScriptChange,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO script_versions (script_id, version, source, sha256, size, author, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(script_id.to_string())
    .bind(version)
    .bind(source)
    .bind(sha256_hex(source))
    .bind(i64::try_from(source.len()).unwrap_or(i64::MAX))
    .bind(&change.author)
    .bind(change.message.as_deref().filter(|m| !m.is_empty()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<Script> {
    Ok(Script {
        id: super::id_column(row, "id")?,
        app_id: super::id_column(row, "app_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        source: row.try_get("source")?,
        version: row.try_get("version")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// Script names: 1–100 characters of letters, digits, `-`, `_`, `.`.
pub fn validate_script_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 100
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidName,
            format!(
                "script name '{name}' is invalid: use 1 to 100 letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn validate_source(source: &str) -> Result<()> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(StoreError::bad_request(
            ErrorCode::SourceTooLarge,
            format!(
                "the script source is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                source.len()
            ),
        ));
    }
    Ok(())
}

impl Store {
    /// Scripts, optionally of one app, ordered by name (then id), one page.
    pub async fn list_scripts(&self, app_id: Option<AppId>, page: &Page) -> Result<Vec<Script>> {
        self.list_scripts_among(app_id, None, page).await
    }

    /// Like [`Store::list_scripts`]; without `app_id`, only the scripts of
    /// `visible` apps (`None`: all).
    pub async fn list_scripts_among(
        &self,
        app_id: Option<AppId>,
        visible: Option<&[AppId]>,
        page: &Page,
    ) -> Result<Vec<Script>> {
        let rows = match app_id {
            Some(app) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM scripts WHERE app_id = $1{}",
                    page.sql("name", 2)
                );
                page.bind(sqlx::query(&sql).bind(app.to_string()))
                    .fetch_all(&self.db.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM scripts WHERE 1 = 1{}{}",
                    super::among_apps("app_id", visible),
                    page.sql("name", 1)
                );
                page.bind(sqlx::query(&sql))
                    .fetch_all(&self.db.pool)
                    .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    /// The app a script belongs to, if the script exists.
    pub async fn script_app(&self, id: ScriptId) -> Result<Option<AppId>> {
        let app: Option<String> = sqlx::query_scalar("SELECT app_id FROM scripts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?;
        app.map(|app| super::id(&app)).transpose()
    }

    /// One script by id.
    pub async fn script(&self, id: ScriptId) -> Result<Script> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM scripts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("script", id))?;
        from_row(&row)
    }

    /// The id of the app's script called `name`, if it has one.
    pub async fn script_id_by_name(&self, app_id: AppId, name: &str) -> Result<Option<ScriptId>> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM scripts WHERE app_id = $1 AND name = $2")
                .bind(app_id.to_string())
                .bind(name)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(id.and_then(|id| id.parse().ok()))
    }

    /// Stores a new script (the caller has compiled it), as version 1.
    pub async fn create_script(
        &self,
        app_id: AppId,
        name: &str,
        description: &str,
        source: &str,
    ) -> Result<Script> {
        self.create_script_as(app_id, name, description, source, &ScriptChange::default())
            .await
    }

    /// [`Store::create_script`], recording who made it and why.
    pub async fn create_script_as(
        &self,
        app_id: AppId,
        name: &str,
        description: &str,
        source: &str,
        change: &ScriptChange,
    ) -> Result<Script> {
        validate_script_name(name)?;
        validate_source(source)?;
        check_message(change.message.as_deref())?;
        let id = ScriptId::new();
        let mut tx = self.db.begin_write().await?;
        insert_script(
            &mut tx,
            id,
            app_id,
            (name, description, source),
            change,
            now_ms(),
        )
        .await?;
        tx.commit().await?;
        self.script(id).await
    }

    /// Changes name, description and/or source.
    pub async fn update_script(
        &self,
        script: &Script,
        name: Option<&str>,
        description: Option<&str>,
        source: Option<&str>,
    ) -> Result<Script> {
        self.update_script_as(script, name, description, source, &ScriptChange::default())
            .await
    }

    /// [`Store::update_script`], recording who made it and why. A source
    /// that differs from the current one becomes a new version; the same
    /// source makes none.
    pub async fn update_script_as(
        &self,
        script: &Script,
        name: Option<&str>,
        description: Option<&str>,
        source: Option<&str>,
        change: &ScriptChange,
    ) -> Result<Script> {
        if let Some(name) = name {
            validate_script_name(name)?;
        }
        if let Some(source) = source {
            validate_source(source)?;
        }
        check_message(change.message.as_deref())?;
        let name = name.unwrap_or(&script.name);
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        // Read under the write lock (SQLite's `BEGIN IMMEDIATE`, the row
        // lock on PostgreSQL): two saves at once get two versions.
        let lock = if self.db.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let (current_source, current): (String, i64) = sqlx::query_as(&format!(
            "SELECT source, version FROM scripts WHERE id = $1{lock}"
        ))
        .bind(script.id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("script", script.id))?;
        let new_source = source.filter(|s| *s != current_source);
        let version = if new_source.is_some() {
            current + 1
        } else {
            current
        };
        if name != script.name {
            // Importers find a module by name: renaming it would break them.
            refuse_if_imported(&mut tx, script.app_id, &script.name, "renaming").await?;
        }
        sqlx::query("UPDATE scripts SET name = $1, description = $2, source = $3, version = $4, updated_at = $5 WHERE id = $6")
            .bind(name)
            .bind(description.unwrap_or(&script.description))
            .bind(new_source.unwrap_or(&current_source))
            .bind(version)
            .bind(now)
            .bind(script.id.to_string())
            .execute(&mut *tx)
            .await
            .on_conflict(ErrorCode::ScriptNameTaken, || format!("this app already has a script named '{name}'"))?;
        if new_source.is_some() {
            sqlx::query("UPDATE scripts SET imports = $1 WHERE id = $2")
                .bind(imports_json(&change.imports))
                .bind(script.id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(source) = new_source {
            insert_version(&mut tx, script.id, version, source, change, now).await?;
        }
        tx.commit().await?;
        self.script(script.id).await
    }

    /// A script's versions, newest first: at most `limit`, older than
    /// version `before` when given (the paging cursor).
    pub async fn script_versions(
        &self,
        script: &Script,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ScriptVersion>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM script_versions \
             WHERE script_id = $1 AND version < $2 ORDER BY version DESC LIMIT $3",
            version_columns(false)
        ))
        .bind(script.id.to_string())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.max(1))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| version_from_row(row, script.version, false))
            .collect()
    }

    /// Version `version` of a script, with its source.
    pub async fn script_version(&self, script: &Script, version: i64) -> Result<ScriptVersion> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM script_versions WHERE script_id = $1 AND version = $2",
            version_columns(true)
        ))
        .bind(script.id.to_string())
        .bind(version)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(|| {
            StoreError::not_found("version", format!("{version} of script '{}'", script.name))
        })?;
        version_from_row(&row, script.version, true)
    }

    /// Deletes all but the newest `keep` versions of a script (never the
    /// one it runs); returns how many went.
    pub async fn prune_script_versions(&self, script: &Script, keep: u64) -> Result<u64> {
        let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
        Ok(sqlx::query(
            "DELETE FROM script_versions WHERE script_id = $1 AND version <= $2 - $3 AND version <> $2",
        )
        .bind(script.id.to_string())
        .bind(script.version)
        .bind(keep)
        .execute(&self.db.pool)
        .await?
        .rows_affected())
    }

    /// Deletes a script and its routes; `409 module_in_use` while other
    /// scripts import it, `409 script_in_use` while it is an interceptor.
    pub async fn delete_script(&self, id: ScriptId) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let found: Option<(String, String)> =
            sqlx::query_as("SELECT app_id, name FROM scripts WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((app_id, name)) = found else {
            return Err(StoreError::not_found("script", id));
        };
        let app_id: AppId = app_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("script {id} has a malformed app id")))?;
        refuse_if_imported(&mut tx, app_id, &name, "deleting").await?;
        refuse_if_interceptor(&mut tx, id, &name).await?;
        sqlx::query("DELETE FROM scripts WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Each script of the app by name, with the modules it imports.
    pub async fn import_graph(
        &self,
        app_id: AppId,
    ) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, imports FROM scripts WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(name, imports)| (name, serde_json::from_str(&imports).unwrap_or_default()))
            .collect())
    }

    /// Number of scripts an app has (the Hello World seed, app statistics).
    pub async fn count_scripts(&self, app_id: AppId) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM scripts WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_one(&self.db.pool)
                .await?,
        )
    }
}

/// Modules and `invoke` targets: what executions outside the routing cache
/// (cron runs, test runs, `invoke`) need of the app's scripts.
impl Store {
    /// The modules an execution of `script_id` is given: its imports,
    /// transitively, from its own app only.
    pub async fn modules_of(
        &self,
        app_id: AppId,
        script_id: ScriptId,
    ) -> Result<Vec<shared::ModuleSource>> {
        let imports: Option<String> =
            sqlx::query_scalar("SELECT imports FROM scripts WHERE id = $1 AND app_id = $2")
                .bind(script_id.to_string())
                .bind(app_id.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        let imports = imports
            .and_then(|i| serde_json::from_str(&i).ok())
            .unwrap_or_default();
        self.module_sources(app_id, imports).await
    }

    /// The scripts of `app_id` that `imports` name, and theirs, each once,
    /// sorted by name. A name without a script is skipped (the guest then
    /// reports the module as missing).
    async fn module_sources(
        &self,
        app_id: AppId,
        imports: Vec<String>,
    ) -> Result<Vec<shared::ModuleSource>> {
        let mut modules: Vec<shared::ModuleSource> = Vec::new();
        let mut pending = imports;
        while let Some(name) = pending.pop() {
            if modules.iter().any(|m| m.name == name) {
                continue;
            }
            let row: Option<(String, i64, String, String)> = sqlx::query_as(
                "SELECT id, version, source, imports FROM scripts WHERE app_id = $1 AND name = $2",
            )
            .bind(app_id.to_string())
            .bind(&name)
            .fetch_optional(&self.db.pool)
            .await?;
            if let Some((id, version, source, imports)) = row {
                pending.extend(serde_json::from_str::<Vec<String>>(&imports).unwrap_or_default());
                modules.push(shared::ModuleSource {
                    name,
                    script_id: super::id(&id)?,
                    version,
                    source: source.into(),
                });
            }
        }
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(modules)
    }

    /// The app's script `name`, ready for `invoke`: source, modules and
    /// the app's limits. `None` when the app has no such script.
    pub async fn invocable(&self, app_id: AppId, name: &str) -> Result<Option<shared::Invocable>> {
        let row: Option<(String, i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT s.id, s.version, s.source, s.imports, a.limits \
             FROM scripts s JOIN apps a ON a.id = s.app_id WHERE s.app_id = $1 AND s.name = $2",
        )
        .bind(app_id.to_string())
        .bind(name)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some((id, version, source, imports, limits)) = row else {
            return Ok(None);
        };
        let imports = serde_json::from_str(&imports).unwrap_or_default();
        Ok(Some(shared::Invocable {
            script_id: super::id(&id)?,
            name: name.to_owned(),
            version,
            source: source.into(),
            modules: self.module_sources(app_id, imports).await?,
            limits: super::app_limits(limits.as_deref()),
        }))
    }
}
