//! Online backup and offline restore of an SQLite installation
//! (`picloud backup`, `picloud restore`; docs/deploy.md, "Backup and
//! restore"). PostgreSQL has its own tools (`pg_dump`, `pg_restore`), which
//! the commands point to instead.
//!
//! A backup is one SQLite file made by `VACUUM INTO`: a consistent snapshot
//! of a single read transaction, taken while the server keeps serving and
//! writing (WAL mode: the writer does not wait for it). It carries the
//! fingerprint of the secret key its secrets are encrypted with, never the
//! key, so that a restore under another key is refused instead of producing
//! secrets nobody can read.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::secrets::SecretKey;
use crate::{Db, Error, Result};

/// The `server_settings` key holding the secret key's fingerprint.
pub const KEY_FINGERPRINT: &str = "secret_key_fingerprint";

/// What a backup file holds, as `picloud restore` checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The schema version it was taken at.
    pub schema: i64,
    /// The fingerprint of the key its secrets were encrypted with, when
    /// the backup records one.
    pub key_fingerprint: Option<String>,
    /// How many secrets it holds.
    pub secrets: i64,
    /// How many apps it holds.
    pub apps: i64,
}

fn io(context: &str, path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Config(format!("{context} {}: {err}", path.display()))
}

async fn open(path: &Path, read_only: bool) -> Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false);
    options
        .connect()
        .await
        .map_err(|err| io("cannot open", path, err))
}

impl Db {
    /// Copies the whole database into a new SQLite file at `to`, online,
    /// and records `key`'s fingerprint in the copy. `to` must not exist.
    /// PostgreSQL is refused with a pointer to `pg_dump`.
    pub async fn backup(&self, to: &Path, key: Option<&SecretKey>) -> Result<BackupInfo> {
        if self.is_postgres() {
            return Err(Error::Config(
                "picloud backup copies an SQLite database; back up PostgreSQL with pg_dump \
                 (docs/deploy.md, \"Backup and restore\")"
                    .into(),
            ));
        }
        if to.exists() {
            return Err(Error::Config(format!(
                "{} already exists; choose a new file (a backup never overwrites one)",
                to.display()
            )));
        }
        let target = to
            .to_str()
            .ok_or_else(|| Error::Config(format!("{} is not a UTF-8 path", to.display())))?;
        // One read transaction: the copy is the database as of one moment,
        // while the server's writer carries on beside it.
        // The database records the key its secrets were written with (the
        // server stamps it at start). A backup made with another key at
        // hand would carry the wrong fingerprint, and a later restore under
        // that wrong key would pass: refuse instead.
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT value FROM server_settings WHERE key = $1")
                .bind(KEY_FINGERPRINT)
                .fetch_optional(&self.pool)
                .await?;
        if let (Some(recorded), Some(key)) = (&recorded, key)
            && recorded != key.fingerprint()
        {
            return Err(Error::Config(format!(
                "this command's secret key (fingerprint {}) is not the one the database's \
                 secrets were written with (fingerprint {recorded}); run it with the server's \
                 key (PICLOUD_SECRET_KEY or secret.key in the data directory)",
                key.fingerprint()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(|err| io("cannot write the backup", to, err))?;
        let mut copy = open(to, false).await?;
        if let (None, Some(key)) = (&recorded, key) {
            sqlx::query(
                "INSERT INTO server_settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(KEY_FINGERPRINT)
            .bind(key.fingerprint())
            .execute(&mut copy)
            .await
            .map_err(|err| io("cannot write the backup", to, err))?;
        }
        copy.close()
            .await
            .map_err(|err| io("cannot write the backup", to, err))?;
        inspect_backup(to).await
    }
}

/// Checks a backup file: that it opens as a PiCloud database, passes
/// SQLite's `integrity_check` and `foreign_key_check`, and is not newer
/// than this binary; returns what it holds.
pub async fn inspect_backup(path: &Path) -> Result<BackupInfo> {
    if !path.is_file() {
        return Err(Error::Config(format!("{} is not a file", path.display())));
    }
    let mut conn = open(path, true).await?;
    let not_picloud = |err: sqlx::Error| {
        io(
            "is not a PiCloud backup (an SQLite database made by `picloud backup`):",
            path,
            err,
        )
    };
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(not_picloud)?;
    if integrity != ["ok"] {
        return Err(Error::Config(format!(
            "{} is damaged (SQLite integrity_check: {})",
            path.display(),
            integrity.join("; ")
        )));
    }
    let dangling = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .map_err(not_picloud)?
        .len();
    if dangling > 0 {
        return Err(Error::Config(format!(
            "{} is inconsistent: {dangling} rows point at rows it does not hold (foreign_key_check)",
            path.display()
        )));
    }
    let schema: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(not_picloud)?;
    let known = crate::db::latest_schema(false);
    if schema > known {
        return Err(Error::Config(format!(
            "{} is at schema version {schema}, newer than this PiCloud ({}, schema version \
             {known}) understands: restore it with the PiCloud that made it",
            path.display(),
            env!("CARGO_PKG_VERSION")
        )));
    }
    let key_fingerprint: Option<String> =
        sqlx::query_scalar("SELECT value FROM server_settings WHERE key = $1")
            .bind(KEY_FINGERPRINT)
            .fetch_optional(&mut conn)
            .await
            .map_err(not_picloud)?;
    let secrets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_variables WHERE secret = 1")
        .fetch_one(&mut conn)
        .await
        .map_err(not_picloud)?;
    let apps: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps")
        .fetch_one(&mut conn)
        .await
        .map_err(not_picloud)?;
    conn.close().await.ok();
    Ok(BackupInfo {
        schema,
        key_fingerprint,
        secrets,
        apps,
    })
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup's contents.
    pub info: BackupInfo,
    /// Where the database that was replaced now is, if there was one.
    pub previous: Option<PathBuf>,
}

/// Replaces the SQLite database `database` with the backup at `from`.
///
/// The caller makes sure no server runs on it ([`lock_data_dir`]). The
/// backup is checked first ([`inspect_backup`]); a backup whose secrets were
/// written under another key than `key` is refused, naming both
/// fingerprints. The database it replaces is kept beside it
/// (`picloud.db.replaced-<time>`, with its `-wal` and `-shm`), never
/// deleted; then the restored copy is migrated to this binary's schema.
pub async fn restore(from: &Path, database: &Path, key: Option<&SecretKey>) -> Result<Restored> {
    let info = inspect_backup(from).await?;
    match (&info.key_fingerprint, key) {
        (Some(theirs), Some(ours)) if theirs != ours.fingerprint() => {
            return Err(Error::Config(format!(
                "the backup's secrets were encrypted with the key whose fingerprint is {theirs}, \
                 but this server's key (PICLOUD_SECRET_KEY or secret.key in the data directory) \
                 has fingerprint {}: restoring would leave {} secrets unreadable. Put the key the \
                 backup was made with in place and run restore again",
                ours.fingerprint(),
                info.secrets
            )));
        }
        (Some(theirs), None) if info.secrets > 0 => {
            return Err(Error::Config(format!(
                "the backup holds {} secrets, encrypted with the key whose fingerprint is \
                 {theirs}, and this data directory has no key: put that key in secret.key in the \
                 data directory (or set PICLOUD_SECRET_KEY) and run restore again",
                info.secrets
            )));
        }
        _ => {}
    }
    let dir = database.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|err| io("cannot create", dir, err))?;
    let beside = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    // Copied next to the database first, so the swap is one rename on the
    // same file system and a crash leaves either database whole.
    let staging = beside(".restoring");
    if let Err(err) = std::fs::copy(from, &staging) {
        let _ = std::fs::remove_file(&staging);
        return Err(io("cannot copy the backup to", &staging, err));
    }
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "-");
    let kept = beside(&format!(".replaced-{stamp}"));
    let previous = if database.exists() {
        std::fs::rename(database, &kept).map_err(|err| io("cannot move aside", database, err))?;
        Some(kept.clone())
    } else {
        None
    };
    // The old database's write-ahead log belongs to it: left in place, SQLite
    // would replay it into the restored file.
    for suffix in ["-wal", "-shm"] {
        let side = beside(suffix);
        if side.exists() {
            let mut moved = kept.clone().into_os_string();
            moved.push(suffix);
            std::fs::rename(&side, PathBuf::from(moved))
                .map_err(|err| io("cannot move aside", &side, err))?;
        }
    }
    std::fs::rename(&staging, database)
        .map_err(|err| io("cannot put the restored database at", database, err))?;
    let url = format!("sqlite://{}", database.display());
    let db = Db::connect(&url).await.map_err(|err| {
        Error::Config(format!(
            "the backup was restored to {} but could not be brought to this PiCloud's schema: \
             {err}{}",
            database.display(),
            previous
                .as_ref()
                .map(|p| format!("; the database it replaced is {}", p.display()))
                .unwrap_or_default()
        ))
    })?;
    // A backup without secrets, restored where there is no key yet: the
    // server will make a key at its first start, and the backup's
    // fingerprint would only make it cry wolf.
    if key.is_none() && info.secrets == 0 {
        sqlx::query("DELETE FROM server_settings WHERE key = $1")
            .bind(KEY_FINGERPRINT)
            .execute(&db.pool)
            .await?;
    }
    db.pool.close().await;
    Ok(Restored { info, previous })
}

/// Holds the data directory's lock (`picloud.lock`) while it lives: a
/// running server takes it, and `picloud restore` refuses to replace the
/// database of a directory whose lock is taken.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes `data_dir`'s lock, or says that a server holds it.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock> {
    let path = data_dir.join("picloud.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| io("cannot open", &path, err))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Config(format!(
            "a PiCloud server is running on {}; stop it first",
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(err)) => Err(io("cannot lock", &path, err)),
    }
}
