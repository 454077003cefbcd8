//! What the store hands out (documents, pages, collections, usage) and the
//! quota every write is checked against.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::Document;

use crate::db::rfc3339;
use crate::store::{Result, StoreError};

/// The limits of one app's documents (the same for every app; set by the
/// operator through [`ManagerConfig::docs_quota`](crate::ManagerConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocsQuota {
    /// Largest document, in bytes of its compact JSON text.
    pub max_document_bytes: u64,
    /// Most documents an app may hold, over all its collections.
    pub max_documents: u64,
    /// Most bytes of documents an app may hold, over all its collections.
    pub max_total_bytes: u64,
}

impl Default for DocsQuota {
    fn default() -> Self {
        DocsQuota {
            max_document_bytes: 1 << 20,
            max_documents: 100_000,
            max_total_bytes: 256 << 20,
        }
    }
}

/// What an app's collections hold together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DocsUsage {
    /// Documents stored.
    pub documents: i64,
    /// Bytes stored (the documents' JSON text).
    pub bytes: i64,
}

/// One collection of an app, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Collection {
    /// The collection's name.
    pub name: String,
    /// Documents in it.
    pub documents: i64,
    /// Bytes of its documents' JSON text.
    pub bytes: i64,
}

/// A stored document as the store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// The id the store generated at insert.
    pub id: String,
    /// The document: a JSON object as compact text, without `_id`.
    pub body: String,
    /// Bytes of `body`: what the quota counts.
    pub size: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch: the last write.
    pub updated_at: i64,
}

/// One document as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DocRecord {
    /// The id (UUID v7: ids sort in insertion order).
    pub id: String,
    /// The document, a JSON object.
    #[schema(value_type = Object)]
    pub document: Value,
    /// RFC 3339: the insert.
    pub created_at: String,
    /// RFC 3339: the last write.
    pub updated_at: String,
    /// Bytes of the document's compact JSON text: what the quota counts.
    pub size: i64,
}

/// One page of [`Store::doc_find`](crate::Store::doc_find).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDocPage {
    /// The matching documents, in the query's order.
    pub docs: Vec<StoredDoc>,
    /// Pass back in [`DocQuery::cursor`](shared::DocQuery::cursor) for the
    /// next page; `None` on the last.
    pub cursor: Option<String>,
}

impl StoredDoc {
    /// The admin API's view, with the body parsed.
    pub fn record(&self) -> Result<DocRecord> {
        let document = serde_json::from_str(&self.body).map_err(|_| {
            StoreError::Corrupt(format!(
                "corrupt document '{}' in the database: not JSON",
                self.id
            ))
        })?;
        Ok(DocRecord {
            id: self.id.clone(),
            document,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            size: self.size,
        })
    }
}

impl From<StoredDoc> for Document {
    fn from(doc: StoredDoc) -> Self {
        Document {
            id: doc.id,
            body: doc.body,
        }
    }
}

/// Refuses a write that adds `documents` documents and `bytes` bytes beyond
/// the quota; only growth is checked, so an app over a lowered quota can
/// still shrink or delete.
pub(super) fn check_quota(
    quota: &DocsQuota,
    usage: DocsUsage,
    documents: i64,
    bytes: i64,
) -> Result<()> {
    let max_documents = i64::try_from(quota.max_documents).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(quota.max_total_bytes).unwrap_or(i64::MAX);
    if documents > 0 && usage.documents.saturating_add(documents) > max_documents {
        return Err(StoreError::QuotaExceeded(format!(
            "the app's collections hold {} documents, the most it may ({max_documents}); delete documents first",
            usage.documents
        )));
    }
    if bytes > 0 && usage.bytes.saturating_add(bytes) > max_bytes {
        return Err(StoreError::QuotaExceeded(format!(
            "the app's collections hold {} bytes of documents of their quota of {max_bytes}; this write needs {bytes} more",
            usage.bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only growth is checked: an app already over a lowered quota may
    /// still shrink, and a write that grows nothing always passes.
    #[test]
    fn quota_checks_only_growth() {
        let quota = DocsQuota {
            max_document_bytes: 100,
            max_documents: 2,
            max_total_bytes: 1000,
        };
        let at_limit = DocsUsage {
            documents: 2,
            bytes: 1000,
        };
        let err = check_quota(&quota, at_limit, 1, 0).unwrap_err();
        assert_eq!(err.code(), "quota_exceeded");
        let err = check_quota(&quota, at_limit, 0, 1).unwrap_err();
        assert_eq!(err.code(), "quota_exceeded");
        check_quota(&quota, at_limit, 0, 0).unwrap();
        check_quota(&quota, at_limit, -1, -10).unwrap();

        let over = DocsUsage {
            documents: 5,
            bytes: 5000,
        };
        check_quota(&quota, over, 0, -1).unwrap();
        check_quota(&quota, over, -1, 0).unwrap();

        // Quotas beyond i64 behave as unlimited rather than wrapping.
        let huge = DocsQuota {
            max_document_bytes: u64::MAX,
            max_documents: u64::MAX,
            max_total_bytes: u64::MAX,
        };
        check_quota(&huge, over, 1, 1).unwrap();
    }
}
