//! Per-app document collections: the rows behind `docs::*` in scripts and
//! the admin API's `/apps/{app}/collections`.
//!
//! A document is a JSON object stored as compact JSON text under an id the
//! store generates (UUID v7, so ids sort in insertion order). Writes follow
//! the key-value store's pattern: one write transaction that first takes the
//! app's `docs_usage` row, which serializes the app's writers on PostgreSQL
//! (SQLite's `BEGIN IMMEDIATE` serializes all writers anyway), so the usage
//! counters, the quota checks and the read-merge-write of an update are
//! exact under any concurrency.
//!
//! Queries look inside the JSON with each engine's own functions (SQLite's
//! `json_each`, PostgreSQL's `jsonb`), but both reduce a field to the same
//! three values — a type rank, a number (64-bit float) and a string (byte
//! order) — and every comparison and ordering is written once against
//! those, so a query answers the same on both engines.
//!
//! The parts: [`types`] holds what callers see and the quota arithmetic,
//! [`validate`] checks what the guest and the admin API send (and applies
//! merge patches), [`query`] compiles a find into SQL for either engine
//! without touching a database, and [`repo`] runs the statements. Only the
//! last one needs a database to test.

mod query;
mod repo;
mod types;
mod validate;

pub use query::MAX_FIND_LIMIT;
pub(crate) use repo::put_document;
pub use types::{Collection, DocRecord, DocsQuota, DocsUsage, StoredDoc, StoredDocPage};
pub use validate::{MAX_FIELD_BYTES, parse_where, validate_collection};
