//! Moving one app's data between apps or servers (`picloud data export` and
//! `picloud data import`): its key-value entries, documents and variables as
//! JSON lines, and its secrets by name only.
//!
//! The format (version [`EXPORT_VERSION`]), one JSON object per line:
//!
//! ```text
//! {"picloud_export":1,"app":"shop","app_id":"…","schema":9,"exported_at":"2025-01-01T00:00:00.000Z"}
//! {"kind":"kv","key":"k","value":{"any":"json"},"expires_at":null}
//! {"kind":"document","collection":"orders","id":"<uuid>","body":{…},"created_at":"…","updated_at":"…"}
//! {"kind":"variable","name":"API_URL","value":"https://…"}
//! {"kind":"secret","name":"API_TOKEN"}
//! {"kind":"end","kv":1,"documents":1,"variables":1,"secrets":1}
//! ```
//!
//! The closing `end` line carries the counts: a file cut off at a line
//! boundary still parses line by line, and only the missing `end` line (or
//! counts that disagree) tells the import that the tail is gone. A secret's
//! value never leaves the server, not even encrypted (it is sealed under
//! this server's key, which the target does not have): the import lists
//! the names so the operator can set them.
//!
//! An export reads one snapshot of the database and streams it out row by
//! row; an import validates as it reads and applies everything in one write
//! transaction, through the same checks, quotas and usage counters as the
//! ordinary writes, so a bad line or a full quota leaves the target as it
//! was.

use std::io::{BufRead, Write};

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::AppId;
use sqlx::Row;

use super::{Store, docs, kv, variables};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{DocsQuota, KvQuota, Result, StoreError, validate_variable_name};

/// The version of the format this PiCloud writes and reads; a file of any
/// other version is refused rather than half understood.
pub const EXPORT_VERSION: u32 = 1;

/// What [`Store::export_app_data`] wrote: items per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Live key-value entries (expired ones are left out).
    pub kv: u64,
    /// Documents, over all collections.
    pub documents: u64,
    /// Plain variables, with their values.
    pub variables: u64,
    /// Secrets, by name only.
    pub secrets: u64,
}

/// What [`Store::import_app_data`] applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// The slug of the app the file was exported from.
    pub source_app: String,
    /// RFC 3339: when the file was exported.
    pub exported_at: String,
    /// Key-value entries stored (created or replaced).
    pub kv: u64,
    /// Key-value entries left out because they expired since the export.
    pub kv_expired: u64,
    /// Documents stored (created or replaced), ids kept.
    pub documents: u64,
    /// Plain variables stored (created or replaced).
    pub variables: u64,
    /// The names of the source app's secrets, in file order. None was
    /// created: the operator sets each one on the target.
    pub secrets: Vec<String>,
}

/// The first line of an export.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    /// The format version, [`EXPORT_VERSION`].
    picloud_export: u32,
    /// The source app's slug.
    app: String,
    /// The source app's id.
    app_id: String,
    /// The source database's schema version (for the operator; the format
    /// version is what the import goes by).
    schema: i64,
    /// RFC 3339.
    exported_at: String,
}

/// Every line after the header. Unknown fields are ignored; a change of
/// meaning needs a new [`EXPORT_VERSION`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Item {
    Kv {
        key: String,
        /// The stored JSON value itself, not its text.
        value: Value,
        /// RFC 3339; `null` = never.
        expires_at: Option<String>,
    },
    Document {
        collection: String,
        id: String,
        /// A JSON object, without `_id`.
        body: Value,
        created_at: String,
        updated_at: String,
    },
    Variable {
        name: String,
        value: String,
    },
    Secret {
        name: String,
    },
    /// The last line: the counts, so a truncated file is detected.
    End {
        kv: u64,
        documents: u64,
        variables: u64,
        secrets: u64,
    },
}

/// A failure writing the export. The store has no I/O error of its own;
/// [`StoreError::Corrupt`] carries the message as it is and counts as a
/// server-side fault, which a failed write to the operator's file is.
fn write_failed(err: std::io::Error) -> StoreError {
    StoreError::Corrupt(format!("writing the export: {err}"))
}

/// Writes `value` as one line.
fn put_line(out: &mut impl Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(|err| write_failed(err.into()))?;
    out.write_all(b"\n").map_err(write_failed)
}

/// A refused import file: `invalid_json`, naming the line.
fn bad_line(line: usize, message: impl std::fmt::Display) -> StoreError {
    StoreError::bad_request(ErrorCode::InvalidJson, format!("line {line}: {message}"))
}

/// Prefixes the message of a refused item with its line, keeping the
/// error's kind and code (an invalid key stays `invalid_key`, a full quota
/// stays `quota_exceeded`).
fn at_line(line: usize, err: StoreError) -> StoreError {
    match err {
        StoreError::Invalid { code, message } => StoreError::Invalid {
            code,
            message: format!("line {line}: {message}"),
        },
        StoreError::Conflict { code, message } => StoreError::Conflict {
            code,
            message: format!("line {line}: {message}"),
        },
        StoreError::QuotaExceeded(message) => {
            StoreError::QuotaExceeded(format!("line {line}: {message}"))
        }
        StoreError::WrongType(message) => StoreError::WrongType(format!("line {line}: {message}")),
        other => other,
    }
}

/// serde_json's message without its position: every line is parsed on its
/// own, so its "line 1" would contradict the line number the caller reports.
fn json_problem(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) if err.line() != 0 => format!("{} (column {})", &text[..at], err.column()),
        _ => text,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time in the file.
fn parse_time(line: usize, field: &str, text: &str) -> Result<i64> {
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|err| {
            StoreError::bad_request(
                ErrorCode::InvalidTime,
                format!("line {line}: {field} '{text}' is not an RFC 3339 time: {err}"),
            )
        })?;
    i64::try_from(time.unix_timestamp_nanos().div_euclid(1_000_000)).map_err(|_| {
        StoreError::bad_request(
            ErrorCode::InvalidTime,
            format!("line {line}: {field} '{text}' is out of range"),
        )
    })
}

/// Reads the import file a line at a time, numbering lines from 1 and
/// skipping blank ones (an export writes none, but an editor may add one).
struct Lines<R> {
    input: R,
    number: usize,
    buffer: String,
}

impl<R: BufRead> Lines<R> {
    fn next(&mut self) -> Result<Option<(usize, &str)>> {
        loop {
            self.buffer.clear();
            self.number += 1;
            let read = self.input.read_line(&mut self.buffer).map_err(|err| {
                if err.kind() == std::io::ErrorKind::InvalidData {
                    bad_line(self.number, "not UTF-8 text; is this a PiCloud export?")
                } else {
                    StoreError::Corrupt(format!(
                        "reading the import file at line {}: {err}",
                        self.number
                    ))
                }
            })?;
            if read == 0 {
                return Ok(None);
            }
            if !self.buffer.trim().is_empty() {
                return Ok(Some((
                    self.number,
                    self.buffer.trim_end_matches(['\n', '\r']),
                )));
            }
        }
    }
}

/// Checks the first line: it must be a PiCloud export header of a version
/// this PiCloud reads.
fn read_header(line: Option<(usize, &str)>) -> Result<Header> {
    let Some((number, text)) = line else {
        return Err(bad_line(
            1,
            "the file is empty; a PiCloud export starts with a header line",
        ));
    };
    let not_an_export = || {
        bad_line(
            number,
            "not a PiCloud export: the first line must be its header, {\"picloud_export\":1,…}",
        )
    };
    let value: Value = serde_json::from_str(text).map_err(|_| not_an_export())?;
    let Some(version) = value.get("picloud_export") else {
        return Err(not_an_export());
    };
    if version.as_u64() != Some(u64::from(EXPORT_VERSION)) {
        return Err(bad_line(
            number,
            format!(
                "the file is a PiCloud export of format version {version}; this PiCloud reads version {EXPORT_VERSION}"
            ),
        ));
    }
    serde_json::from_value(value)
        .map_err(|err| bad_line(number, format!("the export header is incomplete: {err}")))
}

impl Store {
    /// Writes app `app`'s data to `out` as JSON lines (the format is in
    /// this module's docs): a header, then every live key-value entry,
    /// document and plain variable with its value and every secret by name,
    /// then an `end` line with the counts. Everything comes from one
    /// snapshot of the database, streamed row by row, so writes during the
    /// export neither tear it nor wait for it. Unknown app: `not_found`.
    pub async fn export_app_data(
        &self,
        app: AppId,
        out: &mut (impl Write + Send),
    ) -> Result<ExportSummary> {
        let mut tx = self.db.begin_read().await?;
        let app_id = app.to_string();
        let slug: Option<String> = sqlx::query_scalar("SELECT slug FROM apps WHERE id = $1")
            .bind(&app_id)
            .fetch_optional(&mut *tx)
            .await?;
        let slug = slug.ok_or_else(|| StoreError::not_found("app", app))?;
        let now = now_ms();
        let schema: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut *tx)
            .await?;
        put_line(
            out,
            &Header {
                picloud_export: EXPORT_VERSION,
                app: slug,
                app_id: app_id.clone(),
                schema: schema.unwrap_or(0),
                exported_at: rfc3339(now),
            },
        )?;
        let mut summary = ExportSummary::default();

        // Expired entries are invisible to every read; an export is one too.
        let mut rows = sqlx::query(
            "SELECT key, value, expires_at FROM kv_entries
             WHERE app_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY key",
        )
        .bind(&app_id)
        .bind(now)
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let key: String = row.try_get("key")?;
            let value: String = row.try_get("value")?;
            let value = serde_json::from_str(&value).map_err(|_| {
                StoreError::Corrupt(format!(
                    "corrupt key-value entry '{key}' in the database: not JSON"
                ))
            })?;
            let expires_at: Option<i64> = row.try_get("expires_at")?;
            put_line(
                out,
                &Item::Kv {
                    key,
                    value,
                    expires_at: expires_at.map(rfc3339),
                },
            )?;
            summary.kv += 1;
        }
        drop(rows);

        let mut rows = sqlx::query(
            "SELECT collection, id, body, created_at, updated_at FROM documents
             WHERE app_id = $1 ORDER BY collection, id",
        )
        .bind(&app_id)
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let id: String = row.try_get("id")?;
            let body: String = row.try_get("body")?;
            let body = serde_json::from_str(&body).map_err(|_| {
                StoreError::Corrupt(format!("corrupt document '{id}' in the database: not JSON"))
            })?;
            put_line(
                out,
                &Item::Document {
                    collection: row.try_get("collection")?,
                    id,
                    body,
                    created_at: rfc3339(row.try_get("created_at")?),
                    updated_at: rfc3339(row.try_get("updated_at")?),
                },
            )?;
            summary.documents += 1;
        }
        drop(rows);

        let mut rows = sqlx::query(
            "SELECT name, secret, value FROM app_variables WHERE app_id = $1 ORDER BY name",
        )
        .bind(&app_id)
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let name: String = row.try_get("name")?;
            if row.try_get::<i64, _>("secret")? != 0 {
                // The name only: the sealed value is useless without this
                // server's key, and a copy of it is a copy of the secret.
                put_line(out, &Item::Secret { name })?;
                summary.secrets += 1;
            } else {
                let value = row.try_get("value")?;
                put_line(out, &Item::Variable { name, value })?;
                summary.variables += 1;
            }
        }
        drop(rows);
        tx.commit().await?;

        put_line(
            out,
            &Item::End {
                kv: summary.kv,
                documents: summary.documents,
                variables: summary.variables,
                secrets: summary.secrets,
            },
        )?;
        out.flush().map_err(write_failed)?;
        Ok(summary)
    }

    /// Reads an export written by [`Store::export_app_data`] (of this or
    /// another server or app) from `input` and merges it into app `app`:
    /// key-value entries (with their expiry; those expired since are left
    /// out), documents (with their ids and times) and plain variables are
    /// created or replaced by key, id or name, so running the same import
    /// again changes nothing. Secrets are not created; their names are in
    /// the summary.
    ///
    /// Every item passes the checks of the ordinary writes, against
    /// `kv_quota` and `docs_quota`, and all of them are applied in one
    /// transaction: a file that is not an export (or of another format
    /// version), a bad or unknown line, a missing `end` line or a full
    /// quota fails the import with an error naming the line, and leaves the
    /// app as it was. The app's writers wait while it runs (all writers on
    /// SQLite). Unknown app: `not_found`.
    pub async fn import_app_data(
        &self,
        app: AppId,
        input: impl BufRead,
        kv_quota: &KvQuota,
        docs_quota: &DocsQuota,
    ) -> Result<ImportSummary> {
        let mut lines = Lines {
            input,
            number: 0,
            buffer: String::new(),
        };
        // Checked before the write lock is taken: a wrong file costs nothing.
        let header = read_header(lines.next()?)?;
        let mut summary = ImportSummary {
            source_app: header.app,
            exported_at: header.exported_at,
            ..ImportSummary::default()
        };
        let mut tx = self.db.begin_write().await?;
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM apps WHERE id = $1")
            .bind(app.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found("app", app));
        }
        let mut ended = false;
        while let Some((line, text)) = lines.next()? {
            if ended {
                return Err(bad_line(
                    line,
                    "a line follows the 'end' line, which must be the last",
                ));
            }
            let item: Item =
                serde_json::from_str(text).map_err(|err| bad_line(line, json_problem(&err)))?;
            match item {
                Item::Kv {
                    key,
                    value,
                    expires_at,
                } => {
                    let expires_at = expires_at
                        .map(|at| parse_time(line, "expires_at", &at))
                        .transpose()?;
                    let value = serde_json::to_string(&value).expect("a JSON value serializes");
                    let stored = kv::put_entry(&mut tx, app, &key, &value, expires_at, kv_quota)
                        .await
                        .map_err(|err| at_line(line, err))?;
                    if stored {
                        summary.kv += 1;
                    } else {
                        summary.kv_expired += 1;
                    }
                }
                Item::Document {
                    collection,
                    id,
                    body,
                    created_at,
                    updated_at,
                } => {
                    let times = (
                        parse_time(line, "created_at", &created_at)?,
                        parse_time(line, "updated_at", &updated_at)?,
                    );
                    let body = serde_json::to_string(&body).expect("a JSON value serializes");
                    docs::put_document(&mut tx, app, &collection, &id, &body, times, docs_quota)
                        .await
                        .map_err(|err| at_line(line, err))?;
                    summary.documents += 1;
                }
                Item::Variable { name, value } => {
                    variables::put_plain_variable(&mut tx, app, &name, &value)
                        .await
                        .map_err(|err| at_line(line, err))?;
                    summary.variables += 1;
                }
                Item::Secret { name } => {
                    validate_variable_name(&name).map_err(|err| at_line(line, err))?;
                    summary.secrets.push(name);
                }
                Item::End {
                    kv,
                    documents,
                    variables,
                    secrets,
                } => {
                    let read = (
                        summary.kv + summary.kv_expired,
                        summary.documents,
                        summary.variables,
                        summary.secrets.len() as u64,
                    );
                    if read != (kv, documents, variables, secrets) {
                        return Err(bad_line(
                            line,
                            format!(
                                "the file is damaged: its end line counts {kv} key-value entries, \
                                 {documents} documents, {variables} variables and {secrets} secrets, \
                                 but it holds {}, {}, {} and {}",
                                read.0, read.1, read.2, read.3
                            ),
                        ));
                    }
                    ended = true;
                }
            }
        }
        if !ended {
            return Err(bad_line(
                lines.number,
                "the file ends without its 'end' line: it was cut short; export it again",
            ));
        }
        tx.commit().await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_messages_lose_their_own_line_number() {
        let err = serde_json::from_str::<Item>("{\"kind\":\"kv\"").unwrap_err();
        let message = json_problem(&err);
        assert!(!message.contains("line"), "{message}");
        let err = serde_json::from_str::<Item>("{\"kind\":\"table\"}").unwrap_err();
        assert!(json_problem(&err).contains("unknown variant `table`"));
    }

    #[test]
    fn times_parse_to_milliseconds() {
        assert_eq!(parse_time(1, "t", "1970-01-01T00:00:01.5Z").unwrap(), 1500);
        assert_eq!(parse_time(1, "t", "1970-01-01T01:00:00+01:00").unwrap(), 0);
        let ms = 1_700_000_000_123;
        assert_eq!(parse_time(1, "t", &rfc3339(ms)).unwrap(), ms);
        let err = parse_time(7, "expires_at", "tomorrow").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTime);
        assert!(err.to_string().starts_with("line 7: expires_at"), "{err}");
    }
}
