//! The find query compiler: a [`DocQuery`] (already checked for its size
//! and cursor) becomes one SQL statement and its parameters, for SQLite or
//! PostgreSQL. Pure text building, so the SQL each engine gets can be pinned
//! by unit tests; running it is [`repo`](super::repo)'s job.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::{DocFilter, DocOp, DocQuery};

use super::validate::{describe, is_doc_id, validate_field};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

// Defined in `shared`: the executor and the admin API enforce the same cap.
pub use shared::MAX_FIND_LIMIT;

/// Most conditions one query may have.
pub(super) const MAX_FILTERS: usize = 32;

/// Most distinct fields one query may look at (its filters and its sort).
/// Each is a join on SQLite, which allows 64 tables in one query.
const MAX_QUERY_FIELDS: usize = 16;

/// Type ranks: the first part of every field's sort key, and what equality
/// and range filters test before they compare values. Ascending order is
/// missing, null, numbers, strings, false, true, arrays, objects.
pub(super) mod rank {
    pub(in crate::store::docs) const MISSING: i64 = 0;
    pub(in crate::store::docs) const NULL: i64 = 1;
    pub(in crate::store::docs) const NUMBER: i64 = 2;
    pub(in crate::store::docs) const STRING: i64 = 3;
    pub(in crate::store::docs) const FALSE: i64 = 4;
    pub(in crate::store::docs) const TRUE: i64 = 5;
    pub(in crate::store::docs) const ARRAY: i64 = 6;
    pub(in crate::store::docs) const OBJECT: i64 = 7;
}

/// What a find cursor carries: the query's order (so a cursor is not reused
/// with another), and the last document's sort key and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cursor {
    /// The sort field; `None` sorts by id.
    pub(super) s: Option<String>,
    /// Descending.
    pub(super) d: bool,
    /// The last document's id.
    pub(super) i: String,
    /// Its sort key, with a sort field: type rank and the number or string
    /// (null for the other ranks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) k: Option<(i64, Value)>,
}

impl Cursor {
    pub(super) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    pub(super) fn decode(text: &str, query: &DocQuery) -> Result<Cursor> {
        let invalid = || {
            StoreError::bad_request(
                ErrorCode::InvalidCursor,
                "the cursor is not one this server issued; pass back a page's cursor as it came",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.s != query.sort || cursor.d != query.descending {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidCursor,
                "the cursor belongs to a query with another sort; keep the sort (and its direction) of the first page",
            ));
        }
        if !is_doc_id(&cursor.i) {
            return Err(invalid());
        }
        let key_ok = match (&cursor.s, &cursor.k) {
            (None, None) => true,
            (Some(_), Some((rank::NUMBER, Value::Number(n)))) => n.as_f64().is_some(),
            (Some(_), Some((rank::STRING, Value::String(s)))) => !s.contains('\0'),
            (Some(_), Some((rank, Value::Null))) => {
                (rank::MISSING..=rank::OBJECT).contains(rank)
                    && !matches!(*rank, rank::NUMBER | rank::STRING)
            }
            _ => false,
        };
        if !key_ok {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

/// A value bound to a query parameter.
#[derive(Debug, PartialEq)]
pub(super) enum Arg {
    Text(String),
    Real(f64),
}

/// How one field of the documents reads in SQL: its type rank, its value
/// as a number (numbers only, else NULL) and as a string (strings only,
/// else NULL; compared byte by byte).
struct FieldSql {
    rank: String,
    num: String,
    text: String,
}

/// Builds a find query: the engine-specific part is only how a field is
/// read ([`QueryBuilder::field`]); filters, order and keyset are the same.
struct QueryBuilder {
    postgres: bool,
    /// Parameters after `$1` (app) and `$2` (collection).
    args: Vec<Arg>,
    joins: String,
    fields: Vec<(String, FieldSql)>,
}

impl QueryBuilder {
    fn new(postgres: bool) -> Self {
        QueryBuilder {
            postgres,
            args: Vec::new(),
            joins: String::new(),
            fields: Vec::new(),
        }
    }

    /// Binds `arg` and returns its placeholder.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len() + 2)
    }

    /// The SQL of top-level field `name`, joined once however often it is used.
    fn field(&mut self, name: &str) -> Result<usize> {
        if let Some(index) = self.fields.iter().position(|(n, _)| n == name) {
            return Ok(index);
        }
        if self.fields.len() == MAX_QUERY_FIELDS {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidQuery,
                format!("a query may look at no more than {MAX_QUERY_FIELDS} different fields"),
            ));
        }
        let index = self.fields.len();
        let key = self.bind(Arg::Text(name.to_owned()));
        let sql = if self.postgres {
            if index == 0 {
                // Parsed once per row: `OFFSET 0` keeps the planner from
                // inlining the cast into every use of `x.j`.
                self.joins
                    .push_str(" CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x");
            }
            let v = format!("(x.j -> {key})");
            FieldSql {
                rank: format!(
                    "(CASE jsonb_typeof({v}) WHEN 'null' THEN {null} WHEN 'number' THEN {number} \
                     WHEN 'string' THEN {string} \
                     WHEN 'boolean' THEN (CASE WHEN {v} = 'true'::jsonb THEN {t} ELSE {f} END) \
                     WHEN 'array' THEN {array} WHEN 'object' THEN {object} ELSE {missing} END)",
                    null = rank::NULL,
                    number = rank::NUMBER,
                    string = rank::STRING,
                    t = rank::TRUE,
                    f = rank::FALSE,
                    array = rank::ARRAY,
                    object = rank::OBJECT,
                    missing = rank::MISSING,
                ),
                // jsonb numbers are decimals; as float8 they compare as
                // SQLite's REAL values do.
                num: format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::float8 END)"),
                text: format!(
                    "((CASE WHEN jsonb_typeof({v}) = 'string' THEN {v} #>> '{{}}' END) COLLATE \"C\")"
                ),
            }
        } else {
            // `json_each` matches the key as text, so any field name works;
            // a JSON path (`$."name"`) cannot express every name.
            let f = format!("f{index}");
            self.joins.push_str(&format!(
                " LEFT JOIN json_each(d.body) AS {f} ON {f}.key = {key}"
            ));
            FieldSql {
                rank: format!(
                    "(CASE {f}.type WHEN 'null' THEN {null} WHEN 'integer' THEN {number} \
                     WHEN 'real' THEN {number} WHEN 'text' THEN {string} WHEN 'false' THEN {false_} \
                     WHEN 'true' THEN {true_} WHEN 'array' THEN {array} WHEN 'object' THEN {object} \
                     ELSE {missing} END)",
                    null = rank::NULL,
                    number = rank::NUMBER,
                    string = rank::STRING,
                    true_ = rank::TRUE,
                    false_ = rank::FALSE,
                    array = rank::ARRAY,
                    object = rank::OBJECT,
                    missing = rank::MISSING,
                ),
                num: format!(
                    "(CASE WHEN {f}.type IN ('integer', 'real') THEN CAST({f}.atom AS REAL) END)"
                ),
                text: format!("(CASE WHEN {f}.type = 'text' THEN {f}.atom END)"),
            }
        };
        self.fields.push((name.to_owned(), sql));
        Ok(index)
    }

    /// The SQL condition of one filter. Never NULL, so `NOT` of it is exact.
    fn filter(&mut self, filter: &DocFilter) -> Result<String> {
        validate_field(&filter.field)?;
        let index = self.field(&filter.field)?;
        let op = match filter.op {
            DocOp::Eq | DocOp::Ne => "=",
            DocOp::Lt => "<",
            DocOp::Lte => "<=",
            DocOp::Gt => ">",
            DocOp::Gte => ">=",
        };
        let range = !matches!(filter.op, DocOp::Eq | DocOp::Ne);
        let condition = match &filter.value {
            Value::Null | Value::Bool(_) if range => {
                return Err(StoreError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!(
                        "the condition on '{}' compares with {}: range comparisons take a number or a string",
                        filter.field,
                        describe(&filter.value)
                    ),
                ));
            }
            Value::Null => format!("({} = {})", self.fields[index].1.rank, rank::NULL),
            Value::Bool(b) => format!(
                "({} = {})",
                self.fields[index].1.rank,
                if *b { rank::TRUE } else { rank::FALSE }
            ),
            Value::Number(n) => {
                let n = n.as_f64().expect("JSON numbers are finite");
                let value = self.bind(Arg::Real(n));
                let sql = &self.fields[index].1;
                format!(
                    "({} = {} AND {} {op} {value})",
                    sql.rank,
                    rank::NUMBER,
                    sql.num
                )
            }
            Value::String(s) => {
                if s.contains('\0') {
                    return Err(StoreError::bad_request(
                        ErrorCode::InvalidQuery,
                        format!(
                            "the condition on '{}' compares with a string containing a NUL character, which no document holds",
                            filter.field
                        ),
                    ));
                }
                let value = self.bind(Arg::Text(s.clone()));
                let sql = &self.fields[index].1;
                format!(
                    "({} = {} AND {} {op} {value})",
                    sql.rank,
                    rank::STRING,
                    sql.text
                )
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(StoreError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!(
                        "the condition on '{}' compares with {}: conditions take a string, a number, a boolean or null",
                        filter.field,
                        describe(&filter.value)
                    ),
                ));
            }
        };
        Ok(match filter.op {
            DocOp::Ne => format!("NOT {condition}"),
            _ => condition,
        })
    }

    /// The keyset condition: rows after the cursor in the query's order.
    fn after(&mut self, cursor: &Cursor, sort: Option<usize>) -> String {
        let (gt, _) = order_ops(cursor.d);
        let id = self.bind(Arg::Text(cursor.i.clone()));
        let past_id = format!("d.id {gt} {id}");
        let (Some(index), Some((rank, value))) = (sort, &cursor.k) else {
            return past_id;
        };
        let same_rank = match value {
            Value::Number(n) => {
                let v = self.bind(Arg::Real(n.as_f64().expect("checked in decode")));
                let num = &self.fields[index].1.num;
                format!("({num} {gt} {v} OR ({num} = {v} AND {past_id}))")
            }
            Value::String(s) => {
                let v = self.bind(Arg::Text(s.clone()));
                let text = &self.fields[index].1.text;
                format!("({text} {gt} {v} OR ({text} = {v} AND {past_id}))")
            }
            _ => past_id,
        };
        let r = &self.fields[index].1.rank;
        format!("({r} {gt} {rank} OR ({r} = {rank} AND {same_rank}))")
    }
}

/// `(">", "ASC")` ascending, `("<", "DESC")` descending.
fn order_ops(descending: bool) -> (&'static str, &'static str) {
    if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    }
}

/// The columns every document query selects, in the names
/// [`repo`](super::repo) reads them by.
pub(super) const COLUMNS: &str = "d.id, d.body, d.size, d.created_at, d.updated_at";

/// A compiled find: the statement and what to bind from `$3` on (`$1` is
/// the app, `$2` the collection).
#[derive(Debug)]
pub(super) struct FindSql {
    pub(super) sql: String,
    pub(super) args: Vec<Arg>,
}

/// Compiles a find of one page of `limit` documents. `query`'s filter count
/// and sort field are checked by the caller and `cursor` is decoded from
/// `query.cursor`; the conditions and the field count are checked here.
/// With a sort field, the statement also selects the last row's sort key as
/// `sort_rank`, `sort_num` and `sort_text`, for the next cursor.
pub(super) fn compile_find(
    postgres: bool,
    query: &DocQuery,
    cursor: Option<&Cursor>,
    limit: u32,
) -> Result<FindSql> {
    let mut builder = QueryBuilder::new(postgres);
    let mut conditions = Vec::new();
    for filter in &query.filters {
        conditions.push(builder.filter(filter)?);
    }
    let sort = query
        .sort
        .as_deref()
        .map(|s| builder.field(s))
        .transpose()?;
    if let Some(cursor) = cursor {
        conditions.push(builder.after(cursor, sort));
    }
    let (_, dir) = order_ops(query.descending);
    let mut columns = COLUMNS.to_owned();
    let order = match sort {
        Some(index) => {
            let sql = &builder.fields[index].1;
            columns.push_str(&format!(
                ", {} AS sort_rank, {} AS sort_num, {} AS sort_text",
                sql.rank, sql.num, sql.text
            ));
            // Within one rank the number (or the string) is never NULL,
            // so how each engine orders NULLs does not matter.
            format!(
                "{} {dir}, {} {dir}, {} {dir}, d.id {dir}",
                sql.rank, sql.num, sql.text
            )
        }
        None => format!("d.id {dir}"),
    };
    let mut sql = format!(
        "SELECT {columns} FROM documents d{} WHERE d.app_id = $1 AND d.collection = $2",
        builder.joins
    );
    for condition in &conditions {
        sql.push_str(" AND ");
        sql.push_str(condition);
    }
    // One more than asked, to learn whether another page follows.
    sql.push_str(&format!(" ORDER BY {order} LIMIT {}", limit + 1));
    Ok(FindSql {
        sql,
        args: builder.args,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // These pin the exact SQL each engine gets, so a change to it is a
    // deliberate one: if one of them fails, check the new SQL against the
    // integration tests in `tests/docs.rs` on both engines, then update the
    // expectation here.

    const SELECT: &str = "SELECT d.id, d.body, d.size, d.created_at, d.updated_at";
    const ID: &str = "0190a8f2-4c6e-7000-8000-000000000001";

    /// How SQLite reads the field joined as `f`: type rank, number, string.
    /// Written out here rather than shared with the compiler, so that a
    /// change to either shows up.
    fn sqlite_field(f: &str) -> [String; 3] {
        [
            format!(
                "(CASE {f}.type WHEN 'null' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 \
                 WHEN 'text' THEN 3 WHEN 'false' THEN 4 WHEN 'true' THEN 5 WHEN 'array' THEN 6 \
                 WHEN 'object' THEN 7 ELSE 0 END)"
            ),
            format!("(CASE WHEN {f}.type IN ('integer', 'real') THEN CAST({f}.atom AS REAL) END)"),
            format!("(CASE WHEN {f}.type = 'text' THEN {f}.atom END)"),
        ]
    }

    /// How PostgreSQL reads the field whose name is bound as `key`.
    fn postgres_field(key: &str) -> [String; 3] {
        let v = format!("(x.j -> {key})");
        [
            format!(
                "(CASE jsonb_typeof({v}) WHEN 'null' THEN 1 WHEN 'number' THEN 2 \
                 WHEN 'string' THEN 3 WHEN 'boolean' THEN (CASE WHEN {v} = 'true'::jsonb \
                 THEN 5 ELSE 4 END) WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)"
            ),
            format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::float8 END)"),
            format!(
                "((CASE WHEN jsonb_typeof({v}) = 'string' THEN {v} #>> '{{}}' END) COLLATE \"C\")"
            ),
        ]
    }

    /// `sql` with every field's three expressions shortened to `rank(f0)`,
    /// `num(f0)` and `text(f0)` (SQLite: the join's alias) or `rank($3)`, …
    /// (PostgreSQL: the placeholder of the field's name). An expression
    /// that differs from [`sqlite_field`] / [`postgres_field`] stays long,
    /// and the comparison fails.
    fn abbreviate(postgres: bool, sql: &str) -> String {
        let mut sql = sql.to_owned();
        for n in 0..MAX_QUERY_FIELDS {
            let (name, expressions) = if postgres {
                let key = format!("${}", n * 2 + 3);
                (key.clone(), postgres_field(&key))
            } else {
                let alias = format!("f{n}");
                (alias.clone(), sqlite_field(&alias))
            };
            for (short, long) in ["rank", "num", "text"].iter().zip(expressions) {
                sql = sql.replace(&long, &format!("{short}({name})"));
            }
        }
        sql
    }

    /// Compiles a page of 20 for one engine: the abbreviated statement and
    /// the values bound from `$3` on.
    fn compile(postgres: bool, query: &DocQuery, cursor: Option<&Cursor>) -> (String, Vec<Arg>) {
        let find = compile_find(postgres, query, cursor, 20).unwrap();
        (abbreviate(postgres, &find.sql), find.args)
    }

    fn query(filters: Vec<DocFilter>, sort: Option<&str>, descending: bool) -> DocQuery {
        DocQuery {
            filters,
            sort: sort.map(str::to_owned),
            descending,
            limit: 20,
            cursor: None,
        }
    }

    fn filter(field: &str, op: DocOp, value: Value) -> DocFilter {
        DocFilter {
            field: field.to_owned(),
            op,
            value,
        }
    }

    fn text(s: &str) -> Arg {
        Arg::Text(s.to_owned())
    }

    #[test]
    fn empty_query_pages_by_id() {
        for postgres in [false, true] {
            let (sql, args) = compile(postgres, &query(vec![], None, false), None);
            assert_eq!(
                sql,
                format!(
                    "{SELECT} FROM documents d WHERE d.app_id = $1 AND d.collection = $2 \
                     ORDER BY d.id ASC LIMIT 21"
                )
            );
            assert_eq!(args, []);

            let (sql, args) = compile(postgres, &query(vec![], None, true), None);
            assert_eq!(
                sql,
                format!(
                    "{SELECT} FROM documents d WHERE d.app_id = $1 AND d.collection = $2 \
                     ORDER BY d.id DESC LIMIT 21"
                )
            );
            assert_eq!(args, []);
        }
    }

    /// The one statement written out in full, unabbreviated, per engine.
    #[test]
    fn equality_filter_in_full() {
        let paid = query(
            vec![filter("status", DocOp::Eq, json!("paid"))],
            None,
            false,
        );

        let find = compile_find(false, &paid, None, 20).unwrap();
        assert_eq!(
            find.sql,
            "SELECT d.id, d.body, d.size, d.created_at, d.updated_at FROM documents d \
             LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
             WHERE d.app_id = $1 AND d.collection = $2 \
             AND ((CASE f0.type WHEN 'null' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 \
             WHEN 'text' THEN 3 WHEN 'false' THEN 4 WHEN 'true' THEN 5 WHEN 'array' THEN 6 \
             WHEN 'object' THEN 7 ELSE 0 END) = 3 \
             AND (CASE WHEN f0.type = 'text' THEN f0.atom END) = $4) \
             ORDER BY d.id ASC LIMIT 21"
        );
        assert_eq!(find.args, [text("status"), text("paid")]);

        let find = compile_find(true, &paid, None, 20).unwrap();
        assert_eq!(
            find.sql,
            "SELECT d.id, d.body, d.size, d.created_at, d.updated_at FROM documents d \
             CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
             WHERE d.app_id = $1 AND d.collection = $2 \
             AND ((CASE jsonb_typeof((x.j -> $3)) WHEN 'null' THEN 1 WHEN 'number' THEN 2 \
             WHEN 'string' THEN 3 WHEN 'boolean' THEN (CASE WHEN (x.j -> $3) = 'true'::jsonb \
             THEN 5 ELSE 4 END) WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END) = 3 \
             AND ((CASE WHEN jsonb_typeof((x.j -> $3)) = 'string' THEN (x.j -> $3) #>> '{}' END) \
             COLLATE \"C\") = $4) \
             ORDER BY d.id ASC LIMIT 21"
        );
        assert_eq!(find.args, [text("status"), text("paid")]);
    }

    /// Two conditions on one field share its join (or its placeholder); a
    /// second field gets its own.
    #[test]
    fn range_filters() {
        let q = query(
            vec![
                filter("total", DocOp::Gt, json!(10)),
                filter("total", DocOp::Lte, json!(99.5)),
                filter("name", DocOp::Lt, json!("m")),
            ],
            None,
            false,
        );
        let args = [
            text("total"),
            Arg::Real(10.0),
            Arg::Real(99.5),
            text("name"),
            text("m"),
        ];

        let (sql, bound) = compile(false, &q, None);
        assert_eq!(
            sql,
            format!(
                "{SELECT} FROM documents d \
                 LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
                 LEFT JOIN json_each(d.body) AS f1 ON f1.key = $6 \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank(f0) = 2 AND num(f0) > $4) \
                 AND (rank(f0) = 2 AND num(f0) <= $5) \
                 AND (rank(f1) = 3 AND text(f1) < $7) \
                 ORDER BY d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);

        // The abbreviation assumes field n's name is bound as $(2n + 3);
        // here the second field's is $6, so it is spelled out.
        let (sql, bound) = compile(true, &q, None);
        let [rank6, _, text6] = postgres_field("$6");
        assert_eq!(
            sql,
            format!(
                "{SELECT} FROM documents d \
                 CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank($3) = 2 AND num($3) > $4) \
                 AND (rank($3) = 2 AND num($3) <= $5) \
                 AND ({rank6} = 3 AND {text6} < $7) \
                 ORDER BY d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);
    }

    /// Null and booleans are type ranks alone; `ne` is `NOT` of `eq`.
    #[test]
    fn null_boolean_and_not_equal() {
        let q = query(
            vec![
                filter("deleted", DocOp::Eq, json!(null)),
                filter("archived", DocOp::Ne, json!(true)),
                filter("total", DocOp::Ne, json!(3)),
            ],
            None,
            false,
        );
        let args = [
            text("deleted"),
            text("archived"),
            text("total"),
            Arg::Real(3.0),
        ];

        let (sql, bound) = compile(false, &q, None);
        assert_eq!(
            sql,
            format!(
                "{SELECT} FROM documents d \
                 LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
                 LEFT JOIN json_each(d.body) AS f1 ON f1.key = $4 \
                 LEFT JOIN json_each(d.body) AS f2 ON f2.key = $5 \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank(f0) = 1) \
                 AND NOT (rank(f1) = 5) \
                 AND NOT (rank(f2) = 2 AND num(f2) = $6) \
                 ORDER BY d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);

        let (sql, bound) = compile(true, &q, None);
        let [rank4, _, _] = postgres_field("$4");
        assert_eq!(
            sql,
            format!(
                "{SELECT} FROM documents d \
                 CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank($3) = 1) \
                 AND NOT ({rank4} = 5) \
                 AND NOT (rank($5) = 2 AND num($5) = $6) \
                 ORDER BY d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);
    }

    /// Fields are top-level keys: a dotted name is bound whole, as one key,
    /// never read as a path into nested objects.
    #[test]
    fn dotted_field_name_is_one_top_level_key() {
        let q = query(
            vec![filter("address.city", DocOp::Eq, json!("Oslo"))],
            None,
            false,
        );
        let args = [text("address.city"), text("Oslo")];

        let (sql, bound) = compile(false, &q, None);
        assert_eq!(
            sql,
            format!(
                "{SELECT} FROM documents d \
                 LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank(f0) = 3 AND text(f0) = $4) \
                 ORDER BY d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);

        let (sql, bound) = compile(true, &q, None);
        assert_eq!(
            sql,
            format!(
                "{SELECT} FROM documents d \
                 CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank($3) = 3 AND text($3) = $4) \
                 ORDER BY d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);
    }

    /// A descending sort with a cursor at a number: the statement selects
    /// the sort key, orders by (rank, number, string, id) and starts after
    /// the cursor's key; the id is bound before the key's value.
    #[test]
    fn sort_with_number_cursor() {
        let q = query(
            vec![filter("status", DocOp::Eq, json!("paid"))],
            Some("total"),
            true,
        );
        let cursor = Cursor {
            s: Some("total".to_owned()),
            d: true,
            i: ID.to_owned(),
            k: Some((rank::NUMBER, json!(10.5))),
        };
        let args = [
            text("status"),
            text("paid"),
            text("total"),
            text(ID),
            Arg::Real(10.5),
        ];

        let (sql, bound) = compile(false, &q, Some(&cursor));
        assert_eq!(
            sql,
            format!(
                "{SELECT}, rank(f1) AS sort_rank, num(f1) AS sort_num, text(f1) AS sort_text \
                 FROM documents d \
                 LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
                 LEFT JOIN json_each(d.body) AS f1 ON f1.key = $5 \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank(f0) = 3 AND text(f0) = $4) \
                 AND (rank(f1) < 2 OR (rank(f1) = 2 \
                 AND (num(f1) < $7 OR (num(f1) = $7 AND d.id < $6)))) \
                 ORDER BY rank(f1) DESC, num(f1) DESC, text(f1) DESC, d.id DESC LIMIT 21"
            )
        );
        assert_eq!(bound, args);

        let (sql, bound) = compile(true, &q, Some(&cursor));
        assert_eq!(
            sql,
            format!(
                "{SELECT}, rank($5) AS sort_rank, num($5) AS sort_num, text($5) AS sort_text \
                 FROM documents d \
                 CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank($3) = 3 AND text($3) = $4) \
                 AND (rank($5) < 2 OR (rank($5) = 2 \
                 AND (num($5) < $7 OR (num($5) = $7 AND d.id < $6)))) \
                 ORDER BY rank($5) DESC, num($5) DESC, text($5) DESC, d.id DESC LIMIT 21"
            )
        );
        assert_eq!(bound, args);
    }

    /// Sorting by a field a filter already reads reuses its join; an
    /// ascending cursor at a string compares with `>`.
    #[test]
    fn sort_on_a_filtered_field_with_string_cursor() {
        let q = query(
            vec![filter("name", DocOp::Gte, json!("a"))],
            Some("name"),
            false,
        );
        let cursor = Cursor {
            s: Some("name".to_owned()),
            d: false,
            i: ID.to_owned(),
            k: Some((rank::STRING, json!("kim"))),
        };
        let args = [text("name"), text("a"), text(ID), text("kim")];

        let (sql, bound) = compile(false, &q, Some(&cursor));
        assert_eq!(
            sql,
            format!(
                "{SELECT}, rank(f0) AS sort_rank, num(f0) AS sort_num, text(f0) AS sort_text \
                 FROM documents d \
                 LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank(f0) = 3 AND text(f0) >= $4) \
                 AND (rank(f0) > 3 OR (rank(f0) = 3 \
                 AND (text(f0) > $6 OR (text(f0) = $6 AND d.id > $5)))) \
                 ORDER BY rank(f0) ASC, num(f0) ASC, text(f0) ASC, d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);

        let (sql, bound) = compile(true, &q, Some(&cursor));
        assert_eq!(
            sql,
            format!(
                "{SELECT}, rank($3) AS sort_rank, num($3) AS sort_num, text($3) AS sort_text \
                 FROM documents d \
                 CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank($3) = 3 AND text($3) >= $4) \
                 AND (rank($3) > 3 OR (rank($3) = 3 \
                 AND (text($3) > $6 OR (text($3) = $6 AND d.id > $5)))) \
                 ORDER BY rank($3) ASC, num($3) ASC, text($3) ASC, d.id ASC LIMIT 21"
            )
        );
        assert_eq!(bound, args);
    }

    /// Cursors that carry no value: by id alone (no sort field), and at a
    /// rank with no value to compare (null here), where the id decides.
    #[test]
    fn cursors_without_a_value() {
        let by_id = Cursor {
            s: None,
            d: false,
            i: ID.to_owned(),
            k: None,
        };
        for postgres in [false, true] {
            let (sql, args) = compile(postgres, &query(vec![], None, false), Some(&by_id));
            assert_eq!(
                sql,
                format!(
                    "{SELECT} FROM documents d WHERE d.app_id = $1 AND d.collection = $2 \
                     AND d.id > $3 ORDER BY d.id ASC LIMIT 21"
                )
            );
            assert_eq!(args, [text(ID)]);
        }

        let q = query(vec![], Some("due"), true);
        let at_null = Cursor {
            s: Some("due".to_owned()),
            d: true,
            i: ID.to_owned(),
            k: Some((rank::NULL, Value::Null)),
        };
        let (sql, args) = compile(false, &q, Some(&at_null));
        assert_eq!(
            sql,
            format!(
                "{SELECT}, rank(f0) AS sort_rank, num(f0) AS sort_num, text(f0) AS sort_text \
                 FROM documents d \
                 LEFT JOIN json_each(d.body) AS f0 ON f0.key = $3 \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank(f0) < 1 OR (rank(f0) = 1 AND d.id < $4)) \
                 ORDER BY rank(f0) DESC, num(f0) DESC, text(f0) DESC, d.id DESC LIMIT 21"
            )
        );
        assert_eq!(args, [text("due"), text(ID)]);
        let (sql, args) = compile(true, &q, Some(&at_null));
        assert_eq!(
            sql,
            format!(
                "{SELECT}, rank($3) AS sort_rank, num($3) AS sort_num, text($3) AS sort_text \
                 FROM documents d \
                 CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x \
                 WHERE d.app_id = $1 AND d.collection = $2 \
                 AND (rank($3) < 1 OR (rank($3) = 1 AND d.id < $4)) \
                 ORDER BY rank($3) DESC, num($3) DESC, text($3) DESC, d.id DESC LIMIT 21"
            )
        );
        assert_eq!(args, [text("due"), text(ID)]);
    }

    /// Conditions no document could meet, or that would need too many
    /// joins, are refused before any SQL runs.
    #[test]
    fn refused_conditions() {
        let too_many: Vec<_> = (0..=MAX_QUERY_FIELDS)
            .map(|n| filter(&format!("f{n}"), DocOp::Eq, json!(1)))
            .collect();
        for filters in [
            vec![filter("done", DocOp::Gt, json!(true))],
            vec![filter("due", DocOp::Lte, json!(null))],
            vec![filter("tags", DocOp::Eq, json!(["a"]))],
            vec![filter("name", DocOp::Eq, json!("a\0b"))],
            vec![filter("", DocOp::Eq, json!(1))],
            too_many,
        ] {
            for postgres in [false, true] {
                let err = compile_find(postgres, &query(filters.clone(), None, false), None, 20)
                    .unwrap_err();
                let expected = if filters[0].field.is_empty() {
                    "invalid_field"
                } else {
                    "invalid_query"
                };
                assert_eq!(err.code(), expected, "{filters:?}");
            }
        }
    }
}
