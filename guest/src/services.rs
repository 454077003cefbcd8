//! The data-plane services as Rhai modules: `kv::…`, `docs::…`, `http::…`
//! and `env::…`. Each
//! function calls one WIT import; the host scopes it to the calling app.
//! A failure becomes a Rhai error reading `kv::set: <what went wrong>`, which
//! a script can catch with `try`/`catch`.

use rhai::{
    Array, Dynamic, EvalAltResult, FuncRegistration, ImmutableString, Map, Module,
    NativeCallContext, Position,
};

use crate::picloud::platform::http_client::{self, HttpError};
use crate::picloud::platform::types::ServiceError;
use crate::picloud::platform::{docs, env, invoke, kv, queue};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Keys per `kv::list` page.
const LIST_PAGE: u32 = 100;
/// Documents per `docs::find` page unless the script asks for another limit.
const FIND_PAGE: u32 = 100;

/// The error a failed call raises, at the position of the call in the
/// script (Rhai leaves errors from native functions without one).
fn raise(at: Position, message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), at).into()
}

fn fail(at: Position, function: &str, error: ServiceError) -> Box<EvalAltResult> {
    raise(at, format!("{function}: {}", error.message))
}

/// A Rhai value as JSON, refusing what JSON cannot hold (functions,
/// timestamps, infinities) instead of storing something else.
pub(crate) fn to_json(value: &Dynamic) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("the number {f} cannot be stored as JSON"));
    }
    if value.is_string() || value.is_char() {
        return Ok(Value::String(value.to_string()));
    }
    if value.is_blob() {
        let blob = value
            .read_lock::<rhai::Blob>()
            .expect("checked to be a blob");
        return Ok(Value::Array(blob.iter().map(|b| Value::from(*b)).collect()));
    }
    if value.is_array() {
        let array = value.read_lock::<Array>().expect("checked to be an array");
        return array
            .iter()
            .map(to_json)
            .collect::<std::result::Result<Vec<_>, String>>()
            .map(Value::Array);
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().expect("checked to be a map");
        return map
            .iter()
            .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
            .collect::<std::result::Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object);
    }
    Err(format!(
        "a value of type '{}' cannot be stored: use a string, number, boolean, array, map or ()",
        value.type_name()
    ))
}

fn from_json(at: Position, function: &str, text: &str) -> Result<Dynamic> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| raise(at, format!("{function}: the stored value is not JSON: {e}")))?;
    rhai::serde::to_dynamic(value)
}

/// A number of seconds (integer or fractional) a script passed to
/// `function` as its `what`.
fn seconds(at: Position, function: &str, what: &str, value: &Dynamic) -> Result<f64> {
    match (value.as_int(), value.as_float()) {
        (Ok(i), _) => Ok(i as f64),
        (_, Ok(f)) if f.is_finite() => Ok(f),
        _ => Err(raise(
            at,
            format!(
                "{function}: the {what} must be a number of seconds, not a {}",
                value.type_name()
            ),
        )),
    }
}

/// Seconds (integer or fractional) as whole milliseconds, at least 1.
fn ttl_ms(at: Position, ttl: &Dynamic) -> Result<u64> {
    let seconds = seconds(at, "kv::set", "time to live", ttl)?;
    if seconds <= 0.0 {
        return Err(raise(
            at,
            format!("kv::set: the time to live must be more than 0 seconds, not {seconds}"),
        ));
    }
    Ok(((seconds * 1000.0).ceil() as u64).max(1))
}

fn set(at: Position, key: &str, value: &Dynamic, ttl: Option<u64>) -> Result<()> {
    let json = to_json(value).map_err(|e| raise(at, format!("kv::set: {e}")))?;
    kv::set(key, &json.to_string(), ttl).map_err(|e| fail(at, "kv::set", e))
}

fn list(at: Position, prefix: &str, cursor: Option<&str>) -> Result<Map> {
    let page = kv::list(prefix, cursor, LIST_PAGE).map_err(|e| fail(at, "kv::list", e))?;
    let keys: Array = page.keys.into_iter().map(Dynamic::from).collect();
    let mut map = Map::new();
    map.insert("keys".into(), keys.into());
    map.insert(
        "cursor".into(),
        page.cursor.map_or(Dynamic::UNIT, Dynamic::from),
    );
    Ok(map)
}

/// `kv::get/set/delete/exists/list/incr`. Every function takes the call
/// context first, for the position errors are reported at.
pub(crate) fn kv_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("get").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str| -> Result<Dynamic> {
            let at = ctx.call_position();
            match kv::get(key).map_err(|e| fail(at, "kv::get", e))? {
                Some(text) => from_json(at, "kv::get", &text),
                None => Ok(Dynamic::UNIT),
            }
        },
    );
    FuncRegistration::new("set").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str, value: Dynamic| {
            set(ctx.call_position(), key, &value, None)
        },
    );
    FuncRegistration::new("set").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str, value: Dynamic, ttl_seconds: Dynamic| {
            let at = ctx.call_position();
            set(at, key, &value, Some(ttl_ms(at, &ttl_seconds)?))
        },
    );
    FuncRegistration::new("delete").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str| -> Result<bool> {
            kv::delete(key).map_err(|e| fail(ctx.call_position(), "kv::delete", e))
        },
    );
    FuncRegistration::new("exists").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str| -> Result<bool> {
            kv::exists(key).map_err(|e| fail(ctx.call_position(), "kv::exists", e))
        },
    );
    FuncRegistration::new("list")
        .set_into_module(&mut m, |ctx: NativeCallContext<'_>, prefix: &str| {
            list(ctx.call_position(), prefix, None)
        });
    FuncRegistration::new("list").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, prefix: &str, cursor: Dynamic| {
            let at = ctx.call_position();
            if cursor.is_unit() {
                return list(at, prefix, None);
            }
            match cursor.into_immutable_string() {
                Ok(cursor) => list(at, prefix, Some(&cursor)),
                Err(_) => Err(raise(
                    at,
                    "kv::list: the cursor must be a string from a previous page, or ()".into(),
                )),
            }
        },
    );
    FuncRegistration::new("incr").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str| -> Result<rhai::INT> {
            kv::incr(key, 1).map_err(|e| fail(ctx.call_position(), "kv::incr", e))
        },
    );
    FuncRegistration::new("incr").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, key: &str, delta: rhai::INT| -> Result<rhai::INT> {
            kv::incr(key, delta).map_err(|e| fail(ctx.call_position(), "kv::incr", e))
        },
    );
    m
}

/// Documents as scripts see them: the stored object plus its id as `_id`.
fn document_to_map(at: Position, document: docs::Document) -> Result<Dynamic> {
    let mut value = from_json(at, "docs", &document.body)?;
    if let Some(mut map) = value.write_lock::<Map>() {
        map.insert("_id".into(), document.id.into());
    }
    Ok(value)
}

/// A map as a document body: JSON object text, without `_id` (the id is the
/// server's; a document read, changed and written back carries it along).
fn document_body(at: Position, function: &str, value: &Dynamic) -> Result<String> {
    if !value.is_map() {
        return Err(raise(
            at,
            format!(
                "{function}: a document must be a map, not a value of type '{}'",
                value.type_name()
            ),
        ));
    }
    let mut json = to_json(value).map_err(|e| raise(at, format!("{function}: {e}")))?;
    if let serde_json::Value::Object(fields) = &mut json {
        fields.remove("_id");
    }
    Ok(json.to_string())
}

const OPS: [(&str, docs::Op); 6] = [
    ("eq", docs::Op::Eq),
    ("ne", docs::Op::Ne),
    ("lt", docs::Op::Lt),
    ("lte", docs::Op::Lte),
    ("gt", docs::Op::Gt),
    ("gte", docs::Op::Gte),
];

/// A comparison value: a JSON scalar.
fn scalar(at: Position, field: &str, value: &Dynamic) -> Result<String> {
    let json =
        to_json(value).map_err(|e| raise(at, format!("docs::find: field '{field}': {e}")))?;
    if json.is_object() || json.is_array() {
        return Err(raise(
            at,
            format!(
                "docs::find: field '{field}' can only be compared with a string, number, boolean or ()"
            ),
        ));
    }
    Ok(json.to_string())
}

/// `#{ where: #{ status: "paid", total: #{ gt: 10 } }, sort: "-total",
/// limit: 20, cursor: c }` as the WIT query.
fn query(at: Position, options: &Map) -> Result<docs::Query> {
    let mut query = docs::Query {
        filters: Vec::new(),
        sort: None,
        descending: false,
        limit: FIND_PAGE,
        cursor: None,
    };
    for (name, value) in options {
        match name.as_str() {
            "where" => {
                let Some(conditions) = value.read_lock::<Map>() else {
                    return Err(raise(
                        at,
                        "docs::find: `where` must be a map of field conditions".into(),
                    ));
                };
                for (field, condition) in conditions.iter() {
                    if let Some(ops) = condition.read_lock::<Map>() {
                        for (op, operand) in ops.iter() {
                            let Some((_, op)) = OPS.iter().find(|(n, _)| *n == op.as_str()) else {
                                return Err(raise(
                                    at,
                                    format!(
                                        "docs::find: unknown operator '{op}' for field '{field}'; use eq, ne, lt, lte, gt or gte"
                                    ),
                                ));
                            };
                            query.filters.push(docs::Filter {
                                field: field.to_string(),
                                op: *op,
                                value: scalar(at, field, operand)?,
                            });
                        }
                    } else {
                        query.filters.push(docs::Filter {
                            field: field.to_string(),
                            op: docs::Op::Eq,
                            value: scalar(at, field, condition)?,
                        });
                    }
                }
            }
            "sort" => {
                let sort = value.clone().into_immutable_string().map_err(|_| {
                    raise(at, "docs::find: `sort` must be a field name, with a leading '-' for descending".into())
                })?;
                let (field, descending) = match sort.strip_prefix('-') {
                    Some(field) => (field, true),
                    None => (sort.as_str(), false),
                };
                query.sort = Some(field.to_owned());
                query.descending = descending;
            }
            "limit" => {
                let limit = value.as_int().ok().filter(|l| *l > 0).ok_or_else(|| {
                    raise(at, "docs::find: `limit` must be a positive integer".into())
                })?;
                query.limit = u32::try_from(limit).unwrap_or(u32::MAX);
            }
            "cursor" => {
                if !value.is_unit() {
                    let cursor = value.clone().into_immutable_string().map_err(|_| {
                        raise(
                            at,
                            "docs::find: `cursor` must be a string from a previous page, or ()"
                                .into(),
                        )
                    })?;
                    query.cursor = Some(cursor.to_string());
                }
            }
            other => {
                return Err(raise(
                    at,
                    format!(
                        "docs::find: unknown option '{other}'; use where, sort, limit or cursor"
                    ),
                ));
            }
        }
    }
    Ok(query)
}

fn find(at: Position, collection: &str, options: &Map) -> Result<Map> {
    let page =
        docs::find(collection, &query(at, options)?).map_err(|e| fail(at, "docs::find", e))?;
    let found = page
        .docs
        .into_iter()
        .map(|d| document_to_map(at, d))
        .collect::<Result<Array>>()?;
    let mut map = Map::new();
    map.insert("docs".into(), found.into());
    map.insert(
        "cursor".into(),
        page.cursor.map_or(Dynamic::UNIT, Dynamic::from),
    );
    Ok(map)
}

/// `docs::insert/get/update/delete/find`.
pub(crate) fn docs_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("insert").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>,
         collection: &str,
         document: Dynamic|
         -> Result<ImmutableString> {
            let at = ctx.call_position();
            let body = document_body(at, "docs::insert", &document)?;
            docs::insert(collection, &body)
                .map(Into::into)
                .map_err(|e| fail(at, "docs::insert", e))
        },
    );
    FuncRegistration::new("get").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, collection: &str, id: &str| -> Result<Dynamic> {
            let at = ctx.call_position();
            match docs::get(collection, id).map_err(|e| fail(at, "docs::get", e))? {
                Some(document) => document_to_map(at, document),
                None => Ok(Dynamic::UNIT),
            }
        },
    );
    FuncRegistration::new("update").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>,
         collection: &str,
         id: &str,
         changes: Dynamic|
         -> Result<Dynamic> {
            let at = ctx.call_position();
            let patch = document_body(at, "docs::update", &changes)?;
            match docs::update(collection, id, &patch).map_err(|e| fail(at, "docs::update", e))? {
                Some(document) => document_to_map(at, document),
                None => Ok(Dynamic::UNIT),
            }
        },
    );
    FuncRegistration::new("delete").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, collection: &str, id: &str| -> Result<bool> {
            docs::delete(collection, id).map_err(|e| fail(ctx.call_position(), "docs::delete", e))
        },
    );
    FuncRegistration::new("find").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, collection: &str| {
            find(ctx.call_position(), collection, &Map::new())
        },
    );
    FuncRegistration::new("find").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, collection: &str, options: Map| {
            find(ctx.call_position(), collection, &options)
        },
    );
    m
}

fn http_failure(at: Position, function: &str, error: HttpError) -> Box<EvalAltResult> {
    let message = match error {
        HttpError::InvalidRequest(m)
        | HttpError::NotAllowed(m)
        | HttpError::BlockedAddress(m)
        | HttpError::ConnectionFailed(m)
        | HttpError::Timeout(m)
        | HttpError::TooLarge(m)
        | HttpError::BudgetExceeded(m) => m,
    };
    raise(at, format!("{function}: {message}"))
}

/// The response as a map: `status`, `headers` (lower-case names; repeated
/// headers joined by `, ` as in `request.headers`) and `body` as text, so
/// that `response.json()` works on it as on the request.
fn response_map(response: http_client::Response) -> Map {
    let mut headers = Map::new();
    for (name, value) in response.headers {
        match headers.get_mut(name.as_str()) {
            Some(existing) => {
                let joined = format!("{existing}, {value}");
                *existing = joined.into();
            }
            None => {
                headers.insert(name.into(), value.into());
            }
        }
    }
    let mut map = Map::new();
    map.insert("status".into(), rhai::INT::from(response.status).into());
    map.insert("headers".into(), headers.into());
    map.insert(
        "body".into(),
        String::from_utf8_lossy(&response.body).into_owned().into(),
    );
    map
}

fn send(at: Position, function: &str, request: &http_client::Request) -> Result<Map> {
    http_client::send(request)
        .map(response_map)
        .map_err(|e| http_failure(at, function, e))
}

/// A request body from a script's value: text and blobs as they are, `()`
/// as none, anything else as JSON (then `true`: the caller adds a JSON
/// content type unless one is set).
fn body_bytes(value: &Dynamic) -> std::result::Result<(Vec<u8>, bool), String> {
    if value.is_unit() {
        Ok((Vec::new(), false))
    } else if value.is_string() || value.is_char() {
        Ok((value.to_string().into_bytes(), false))
    } else if value.is_blob() {
        Ok((value.clone().cast::<rhai::Blob>(), false))
    } else {
        let json = to_json(value).map_err(|e| format!("the body: {e}"))?;
        Ok((json.to_string().into_bytes(), true))
    }
}

/// `#{ method, url, headers, body }` as the WIT request. A map or array body
/// is sent as JSON (with `content-type: application/json` unless set).
fn outbound_request(at: Position, options: &Map) -> Result<http_client::Request> {
    let bad = |message: String| raise(at, format!("http::request: {message}"));
    let mut request = http_client::Request {
        method: "GET".into(),
        url: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let mut json_body = false;
    for (name, value) in options {
        match name.as_str() {
            "method" => request.method = value.to_string(),
            "url" => request.url = value.to_string(),
            "headers" => {
                let Some(headers) = value.read_lock::<Map>() else {
                    return Err(bad("`headers` must be a map of names to values".into()));
                };
                request.headers = headers
                    .iter()
                    .map(|(n, v)| (n.to_lowercase(), v.to_string()))
                    .collect();
            }
            "body" => {
                (request.body, json_body) = body_bytes(value).map_err(bad)?;
            }
            other => {
                return Err(bad(format!(
                    "unknown option '{other}'; use method, url, headers or body"
                )));
            }
        }
    }
    if request.url.is_empty() {
        return Err(bad("the request needs a `url`".into()));
    }
    if json_body && !request.headers.iter().any(|(n, _)| n == "content-type") {
        request
            .headers
            .push(("content-type".into(), "application/json".into()));
    }
    Ok(request)
}

/// `http::get(url)` and `http::request(#{ method, url, headers, body })`.
pub(crate) fn http_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("get").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, url: &str| {
            let request = http_client::Request {
                method: "GET".into(),
                url: url.into(),
                headers: Vec::new(),
                body: Vec::new(),
            };
            send(ctx.call_position(), "http::get", &request)
        },
    );
    FuncRegistration::new("request").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, options: Map| {
            let at = ctx.call_position();
            send(at, "http::request", &outbound_request(at, &options)?)
        },
    );
    m
}

/// `env::get(name)`: a variable or secret of the app, `()` when unset.
pub(crate) fn env_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("get").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, name: &str| -> Result<Dynamic> {
            Ok(env::get(name)
                .map_err(|e| fail(ctx.call_position(), "env::get", e))?
                .map_or(Dynamic::UNIT, |v| ImmutableString::from(v).into()))
        },
    );
    m
}

/// A `delay` in seconds (integer or fractional, 0 or more) as whole
/// milliseconds, rounded up.
fn delay_ms(at: Position, delay: &Dynamic) -> Result<u64> {
    let seconds = seconds(at, "queue::send", "delay", delay)?;
    if seconds < 0.0 {
        return Err(raise(
            at,
            format!("queue::send: the delay must be 0 or more seconds, not {seconds}"),
        ));
    }
    Ok((seconds * 1000.0).ceil() as u64)
}

fn queue_send(at: Position, name: &str, payload: &Dynamic, delay: u64) -> Result<Dynamic> {
    let json = to_json(payload).map_err(|e| raise(at, format!("queue::send: {e}")))?;
    let id = queue::send(name, &json.to_string(), delay).map_err(|e| fail(at, "queue::send", e))?;
    Ok(ImmutableString::from(id).into())
}

/// `queue::send(name, payload)` and `queue::send(name, payload, #{ delay })`:
/// stores a message (any JSON-able value) for the app's queue `name`; the
/// script bound to that queue runs for it later, at least once. Returns the
/// message id.
pub(crate) fn queue_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("send").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, name: &str, payload: Dynamic| -> Result<Dynamic> {
            queue_send(ctx.call_position(), name, &payload, 0)
        },
    );
    FuncRegistration::new("send").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>,
         name: &str,
         payload: Dynamic,
         options: Map|
         -> Result<Dynamic> {
            let at = ctx.call_position();
            if let Some(unknown) = options.keys().find(|k| k.as_str() != "delay") {
                return Err(raise(
                    at,
                    format!("queue::send: unknown option '{unknown}': the only option is delay (seconds)"),
                ));
            }
            let delay = match options.get("delay") {
                Some(delay) => delay_ms(at, delay)?,
                None => 0,
            };
            queue_send(at, name, &payload, delay)
        },
    );
    m
}

/// `invoke(name)` and `invoke(name, #{ method, path, query, headers, body })`:
/// runs another script of the same app and returns its response as
/// `#{ status, headers, body }`. A failure throws `#{ code, message, script }`.
pub(crate) fn register_invoke(engine: &mut rhai::Engine) {
    engine
        .register_fn(
            "invoke",
            |ctx: NativeCallContext<'_>, script: &str| -> Result<Map> {
                invoke_script(ctx.call_position(), script, &Map::new())
            },
        )
        .register_fn(
            "invoke",
            |ctx: NativeCallContext<'_>, script: &str, options: Map| -> Result<Map> {
                invoke_script(ctx.call_position(), script, &options)
            },
        );
}

fn invoke_script(at: Position, script: &str, options: &Map) -> Result<Map> {
    let request = invoke_request(at, options)?;
    match invoke::call(script, &request) {
        Ok(response) => Ok(response_map(http_client::Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })),
        Err(error) => {
            let mut thrown = Map::new();
            thrown.insert("code".into(), error.code.into());
            thrown.insert("message".into(), error.message.into());
            thrown.insert("script".into(), script.into());
            Err(EvalAltResult::ErrorRuntime(thrown.into(), at).into())
        }
    }
}

/// `#{ method, path, query, headers, body }` as the callee's request; a map
/// or array body travels as JSON, as with `http::request`.
fn invoke_request(at: Position, options: &Map) -> Result<invoke::InvokeRequest> {
    let bad = |message: String| raise(at, format!("invoke: {message}"));
    let pairs = |name: &str, value: &Dynamic| -> Result<Vec<(String, String)>> {
        let Some(map) = value.read_lock::<Map>() else {
            return Err(bad(format!("`{name}` must be a map of names to values")));
        };
        Ok(map
            .iter()
            .map(|(n, v)| {
                let n = if name == "headers" {
                    n.to_lowercase()
                } else {
                    n.to_string()
                };
                (n, v.to_string())
            })
            .collect())
    };
    let mut request = invoke::InvokeRequest {
        method: "GET".into(),
        path: "/".into(),
        query: Vec::new(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let mut json_body = false;
    for (name, value) in options {
        match name.as_str() {
            "method" => request.method = value.to_string().to_uppercase(),
            "path" => request.path = value.to_string(),
            "query" => request.query = pairs("query", value)?,
            "headers" => request.headers = pairs("headers", value)?,
            "body" => {
                (request.body, json_body) = body_bytes(value).map_err(bad)?;
            }
            other => {
                return Err(bad(format!(
                    "unknown option '{other}'; use method, path, query, headers or body"
                )));
            }
        }
    }
    if !request.path.starts_with('/') {
        return Err(bad(format!(
            "the path must start with '/', not '{}'",
            request.path
        )));
    }
    if json_body && !request.headers.iter().any(|(n, _)| n == "content-type") {
        request
            .headers
            .push(("content-type".into(), "application/json".into()));
    }
    Ok(request)
}

/// Whether a thrown value is what a failed `invoke` throws.
pub(crate) fn is_invoke_error(value: &Dynamic) -> bool {
    value.read_lock::<Map>().is_some_and(|map| {
        map.len() == 3
            && map.contains_key("code")
            && map.contains_key("message")
            && map.contains_key("script")
    })
}

/// `invoke("b"): runtime_error: …`, for a failed invoke nobody caught.
pub(crate) fn describe_invoke_error(value: &Dynamic) -> String {
    let map = value
        .read_lock::<Map>()
        .expect("checked by is_invoke_error");
    let field = |name: &str| map.get(name).map(ToString::to_string).unwrap_or_default();
    format!(
        "invoke(\"{}\"): {}: {}",
        field("script"),
        field("code"),
        field("message")
    )
}
