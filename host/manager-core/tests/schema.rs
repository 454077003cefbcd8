//! The SQLite and PostgreSQL migrations are kept in step: after migrating a
//! fresh database of each engine, both have the same tables with the same
//! columns, and the same columns may hold NULL. (Column types differ by
//! engine on purpose — TEXT vs TIMESTAMPTZ and the like — and are not
//! compared.)

use std::collections::BTreeSet;

use manager_core::Db;
use sqlx::Row as _;

/// (table, column, nullable) for every column of every table the
/// migrations made, without sqlx's own bookkeeping table.
type Columns = BTreeSet<(String, String, bool)>;

async fn sqlite_columns(url: &str) -> Columns {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS not_null, p.pk AS pk
         FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            // SQLite lets a non-INTEGER primary key hold NULL unless it is
            // declared NOT NULL; PostgreSQL never does. A primary key counts
            // as NOT NULL on both.
            let not_null: i64 = row.get("not_null");
            let pk: i64 = row.get("pk");
            (
                row.get::<String, _>("table_name"),
                row.get::<String, _>("column_name"),
                not_null == 0 && pk == 0,
            )
        })
        .collect()
}

async fn postgres_columns(url: &str) -> Columns {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::TEXT AS table_name, column_name::TEXT AS column_name,
                is_nullable::TEXT AS is_nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.get::<String, _>("table_name"),
                row.get::<String, _>("column_name"),
                row.get::<String, _>("is_nullable") == "YES",
            )
        })
        .collect()
}

#[tokio::test]
async fn both_engines_have_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("schema.db").display());
    let sqlite = Db::connect(&sqlite_url).await.unwrap();
    let pg = testkit::PgCluster::start().expect("PostgreSQL for the schema comparison");
    let pg_url = pg.create_database("schema");
    let postgres = Db::connect(&pg_url).await.unwrap();
    assert_eq!(
        sqlite.schema_version().await.unwrap(),
        postgres.schema_version().await.unwrap(),
        "both engines have every migration"
    );

    let sqlite = sqlite_columns(&sqlite_url).await;
    let postgres = postgres_columns(&pg_url).await;
    assert!(sqlite.len() > 40, "the schema was read: {sqlite:?}");
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the migrations differ (table, column, nullable):\n  only in SQLite: {only_sqlite:?}\n  only in PostgreSQL: {only_postgres:?}"
    );
    pg.stop().unwrap();
}
