//! The database handle: SQLite (embedded default) or PostgreSQL, one code path.
//!
//! Queries go through sqlx's `Any` driver with `$N` placeholders, which both
//! engines accept, and portable types (text ids, integer milliseconds), so the
//! same repository code and the same test suite serve both engines. Schema
//! differences live only in `migrations/<engine>/`.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions};

use crate::{Error, Result};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Set on every SQLite connection (the `Any` driver's URL carries the file
/// options, not pragmas). WAL lets readers (dispatch reloads, log queries) run
/// beside the single writer; foreign keys, which the cascades rely on, are off
/// by default in SQLite.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 10000",
];

/// Which engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// Embedded, one file under the data directory.
    Sqlite,
    /// PostgreSQL 15+.
    Postgres,
}

/// A connection pool to SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: AnyPool,
    engine: Engine,
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and runs
    /// pending migrations. Called once at start. A database a newer PiCloud
    /// migrated is refused, naming both versions: this binary cannot know
    /// what the newer schema means, and no migration runs backwards.
    pub async fn connect(url: &str) -> Result<Db> {
        Self::connect_up_to(url, i64::MAX).await
    }

    /// [`Db::connect`] without migrating: for `picloud backup`, which must
    /// copy the database as the running server left it (a newer binary's
    /// backup must not upgrade it under an older server). A database newer
    /// than this binary is still refused.
    pub async fn open_as_is(url: &str) -> Result<Db> {
        Self::connect_up_to(url, -1).await
    }

    /// [`Db::connect`], applying migrations only up to number `version`:
    /// how the upgrade tests build a database as an older PiCloud left it.
    #[doc(hidden)]
    pub async fn connect_up_to(url: &str, version: i64) -> Result<Db> {
        install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(Error::Config(format!(
                "unsupported database URL '{}': use sqlite:// or postgres://",
                url.split(':').next().unwrap_or(url)
            )));
        };
        let url = match engine {
            Engine::Sqlite => SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .to_url_lossy()
                .to_string(),
            Engine::Postgres => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if engine == Engine::Sqlite { 4 } else { 16 })
            // While the database is down, a request waits this long for a
            // connection and then gets 503, instead of hanging for sqlx's 30 s.
            .acquire_timeout(std::time::Duration::from_secs(3))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let migrator = match engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        let known = latest_schema(engine == Engine::Postgres);
        // No bookkeeping table yet (a fresh database) reads as version 0.
        let applied: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        if applied > known {
            return Err(Error::Config(format!(
                "the database is at schema version {applied}, newer than this PiCloud \
                 ({}, schema version {known}) understands: run the newer PiCloud, or \
                 restore a backup taken before the upgrade (docs/deploy.md)",
                env!("CARGO_PKG_VERSION")
            )));
        }
        if version < 0 {
            // As is: no migration at all.
        } else if version >= known {
            migrator.run(&pool).await?;
        } else {
            let partial = Migrator {
                migrations: std::borrow::Cow::Owned(
                    migrator
                        .iter()
                        .filter(|m| m.version <= version)
                        .cloned()
                        .collect(),
                ),
                ..Migrator::DEFAULT
            };
            partial.run(&pool).await?;
        }
        Ok(Db { pool, engine })
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first and then writes fails at once with `SQLITE_BUSY` when another
    /// connection committed in between, instead of waiting `busy_timeout`.
    pub(crate) async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        Ok(match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.pool.begin().await?,
        })
    }

    /// Starts a transaction that only reads, and sees the database as of
    /// one moment: `REPEATABLE READ READ ONLY` on PostgreSQL (whose default,
    /// READ COMMITTED, takes a new snapshot per statement, so two lists read
    /// in one transaction could straddle a commit); a deferred `BEGIN` on
    /// SQLite, whose WAL readers keep the snapshot of their first read and
    /// take no write lock, so a reload never waits behind a writer.
    pub(crate) async fn begin_read(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        Ok(match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN DEFERRED").await?,
            Engine::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        })
    }

    /// Whether this is PostgreSQL, for the few queries that need an
    /// engine's own SQL (looking inside JSON documents).
    pub(crate) fn is_postgres(&self) -> bool {
        self.engine == Engine::Postgres
    }

    /// Whether the database answers a trivial query (the readiness check).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Copies the pool's state into the metrics (`picloud_db_connections`),
    /// at scrape time: sqlx keeps the counts, nothing is tracked per query.
    pub fn export_pool_metrics(&self) {
        let m = shared::metrics::metrics();
        let size = i64::from(self.pool.size());
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(i64::MAX);
        m.db_connections
            .with_label_values(&["in_use"])
            .set((size - idle).max(0));
        m.db_connections.with_label_values(&["idle"]).set(idle);
        m.db_connections_max
            .set(i64::from(self.pool.options().get_max_connections()));
    }

    /// The number of the newest migration applied: the schema version `/version` reports.
    pub async fn schema_version(&self) -> Result<i64> {
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(version.unwrap_or(0))
    }
}

/// The newest schema version this binary's migrations make.
pub(crate) fn latest_schema(postgres: bool) -> i64 {
    let migrator = if postgres {
        &POSTGRES_MIGRATIONS
    } else {
        &SQLITE_MIGRATIONS
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Milliseconds since the Unix epoch, the stored form of every timestamp.
pub(crate) fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

pub(crate) fn to_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 text for a stored timestamp, as the API shows it.
pub(crate) fn rfc3339(ms: i64) -> String {
    let time = UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}
