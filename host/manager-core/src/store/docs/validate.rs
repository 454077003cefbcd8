//! Checks on what the guest and the admin API send — collection and field
//! names, ids, document and patch bodies, `where` objects — and the merge
//! patch an update applies. Nothing here touches the database.

use serde_json::{Map, Value};
use shared::{DocFilter, DocOp};
use uuid::Uuid;

use super::types::DocsQuota;
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

/// Longest field name a query may name, in bytes.
pub const MAX_FIELD_BYTES: usize = 128;

/// The field scripts see a document's id under; never stored in the body.
const ID_FIELD: &str = "_id";

/// Collection names: `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`. Never `.` or
/// `..` (the first character is not a dot), so every name is one URL segment.
pub fn validate_collection(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = (1..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        return Ok(());
    }
    let shown = if name.len() <= 80 {
        format!("'{name}'")
    } else {
        format!("of {} bytes", name.len())
    };
    Err(StoreError::bad_request(
        ErrorCode::InvalidCollection,
        format!(
            "the collection name {shown} is invalid: use 1 to 64 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        ),
    ))
}

/// Field names in queries: any text of 1 to [`MAX_FIELD_BYTES`] bytes
/// without NUL (which no stored field name contains).
pub(super) fn validate_field(field: &str) -> Result<()> {
    let problem = if field.is_empty() {
        "a field name is empty".to_owned()
    } else if field.contains('\0') {
        "a field name contains a NUL character".to_owned()
    } else if field.len() > MAX_FIELD_BYTES {
        format!(
            "a field name is {} bytes long; the most is {MAX_FIELD_BYTES}",
            field.len()
        )
    } else {
        return Ok(());
    };
    Err(StoreError::bad_request(ErrorCode::InvalidField, problem))
}

/// Whether `id` is one the store could have generated: a UUID in lowercase
/// hyphenated form. Anything else names no document, so look-ups answer
/// "absent" without asking the database.
pub(super) fn is_doc_id(id: &str) -> bool {
    id.len() == 36 && Uuid::try_parse(id).is_ok_and(|uuid| uuid.hyphenated().to_string() == id)
}

fn invalid_document(message: impl Into<String>) -> StoreError {
    StoreError::bad_request(ErrorCode::InvalidDocument, message)
}

/// Whether any string or field name in `value` contains NUL. PostgreSQL's
/// `jsonb`, which queries read documents through, cannot hold one; refusing
/// it on both engines keeps them alike.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Parses a document or a patch (the guest and the admin API are not
/// trusted to send JSON): a JSON object without `_id` and without NUL.
pub(super) fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| invalid_document(format!("the {what} is not JSON: {err}")))?;
    let Value::Object(map) = value else {
        return Err(invalid_document(format!(
            "the {what} must be a JSON object (a map), not {}",
            describe(&value)
        )));
    };
    if map.contains_key(ID_FIELD) {
        return Err(invalid_document(format!(
            "the {what} has a field '_id', which is reserved for the document's id"
        )));
    }
    if map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)) {
        return Err(invalid_document(format!(
            "the {what} contains a NUL character (\\u0000), which documents may not"
        )));
    }
    Ok(map)
}

/// The stored text of a document: compact JSON within the size limit.
pub(super) fn serialize(document: &Map<String, Value>, quota: &DocsQuota) -> Result<String> {
    let text = serde_json::to_string(document).expect("a JSON map serializes");
    if text.len() as u64 > quota.max_document_bytes {
        return Err(invalid_document(format!(
            "the document is {} bytes of JSON; the most is {}",
            text.len(),
            quota.max_document_bytes
        )));
    }
    Ok(text)
}

/// RFC 7386 JSON merge patch of an object into an object: a null removes
/// the field, an object merges into the field recursively (a field that is
/// not an object becomes one first), anything else replaces it.
pub(super) fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                merge_patch(slot.as_object_mut().expect("made an object above"), inner);
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Names a JSON value's type for messages; the value itself may be large or
/// private, so it is not quoted.
pub(super) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Turns the `where` object of the admin API (the shape scripts use) into
/// filters: `{"status": "paid", "total": {"gt": 10, "lte": 99}}`. A scalar
/// means `eq`; an object maps operators (`eq`, `ne`, `lt`, `lte`, `gt`,
/// `gte`) to operands. Operands are checked by
/// [`Store::doc_find`](crate::Store::doc_find).
pub fn parse_where(value: &Value) -> Result<Vec<DocFilter>> {
    let invalid = |message: String| Err(StoreError::bad_request(ErrorCode::InvalidQuery, message));
    let Value::Object(fields) = value else {
        return invalid(format!(
            "`where` must be a JSON object of field conditions, not {}",
            describe(value)
        ));
    };
    let mut filters = Vec::new();
    for (field, condition) in fields {
        match condition {
            Value::Object(ops) if ops.is_empty() => {
                return invalid(format!(
                    "the condition on '{field}' is an empty object; give an operator (eq, ne, lt, lte, gt, gte) and a value"
                ));
            }
            Value::Object(ops) => {
                for (op, operand) in ops {
                    let op = match op.as_str() {
                        "eq" => DocOp::Eq,
                        "ne" => DocOp::Ne,
                        "lt" => DocOp::Lt,
                        "lte" => DocOp::Lte,
                        "gt" => DocOp::Gt,
                        "gte" => DocOp::Gte,
                        _ => {
                            return invalid(format!(
                                "unknown operator '{op}' on '{field}': use eq, ne, lt, lte, gt or gte"
                            ));
                        }
                    };
                    filters.push(DocFilter {
                        field: field.clone(),
                        op,
                        value: operand.clone(),
                    });
                }
            }
            scalar => filters.push(DocFilter {
                field: field.clone(),
                op: DocOp::Eq,
                value: scalar.clone(),
            }),
        }
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386, appendix A.
        for (original, patch, result) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({"a": "foo"}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ] {
            let mut target = original.as_object().unwrap().clone();
            merge_patch(&mut target, patch.as_object().unwrap());
            assert_eq!(Value::Object(target), result, "{original} + {patch}");
        }
    }

    #[test]
    fn collection_names() {
        for ok in ["a", "orders", "_x", "9lives", "a.b-c_d", &"x".repeat(64)] {
            validate_collection(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "-a",
            ".a",
            "a/b",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            let err = validate_collection(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_collection", "{bad:?}");
        }
    }

    #[test]
    fn ids_are_canonical_uuids() {
        let id = Uuid::now_v7().hyphenated().to_string();
        assert!(is_doc_id(&id));
        assert!(!is_doc_id(&id.to_uppercase()));
        assert!(!is_doc_id(&id.replace('-', "")));
        assert!(!is_doc_id(""));
        assert!(!is_doc_id(&format!("{{{id}}}")));
    }
}
