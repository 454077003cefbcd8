//! The request a script sees and the response its value becomes.

use rhai::{Array, Blob, Dynamic, Engine, EvalAltResult, ImmutableString, Map};

use crate::picloud::platform::types::{HttpRequest, HttpResponse};

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// A full HTTP response built with `response(status, body)` /
/// `response(status, body, headers)`, optionally refined with `.header(n, v)`.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    status: rhai::INT,
    headers: Vec<(String, String)>,
    body: Dynamic,
}

pub(crate) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Response>("Response")
        .register_fn("response", |status: rhai::INT, body: Dynamic| Response {
            status,
            headers: Vec::new(),
            body,
        })
        .register_fn(
            "response",
            |status: rhai::INT, body: Dynamic, headers: Map| Response {
                status,
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (k.to_lowercase(), v.to_string()))
                    .collect(),
                body,
            },
        )
        .register_fn("header", |r: &mut Response, name: &str, value: Dynamic| {
            let mut r = r.clone();
            r.headers.push((name.to_lowercase(), value.to_string()));
            r
        })
        .register_get("status", |r: &mut Response| r.status)
        .register_get("body", |r: &mut Response| r.body.clone())
        .register_fn("parse_json", |text: &str| parse_json(text))
        .register_fn("to_json", |value: Dynamic| {
            serde_json::to_string(&value)
                .map_err(|e| -> Box<EvalAltResult> { e.to_string().into() })
        })
        // `request.json()`: the body parsed as JSON (a map, array or scalar).
        .register_fn("json", |request: &mut Map| {
            let body = request
                .get("body")
                .and_then(|b| b.clone().into_immutable_string().ok());
            parse_json(body.as_deref().unwrap_or(""))
        });
}

pub(crate) fn parse_json(text: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| -> Box<EvalAltResult> { format!("invalid JSON: {e}").into() })?;
    rhai::serde::to_dynamic(value)
}

fn pairs_to_map(pairs: Vec<(String, String)>) -> Dynamic {
    let map: Map = pairs
        .into_iter()
        .map(|(k, v)| (k.into(), Dynamic::from(ImmutableString::from(v))))
        .collect();
    map.into()
}

/// Every value of each name, in request order (`request.query_all`).
fn pairs_to_arrays(pairs: &[(String, String)]) -> Dynamic {
    let mut map = Map::new();
    for (name, value) in pairs {
        let values = map
            .entry(name.as_str().into())
            .or_insert_with(|| Dynamic::from_array(Array::new()));
        if let Some(mut values) = values.write_lock::<Array>() {
            values.push(Dynamic::from(ImmutableString::from(value.as_str())));
        }
    }
    map.into()
}

pub(crate) fn request_to_map(request: HttpRequest) -> Dynamic {
    let mut map = Map::new();
    map.insert("method".into(), request.method.into());
    map.insert("path".into(), request.path.into());
    map.insert("url".into(), request.url.into());
    map.insert("client_ip".into(), request.client_ip.into());
    map.insert("id".into(), request.id.into());
    map.insert("query_all".into(), pairs_to_arrays(&request.query));
    map.insert("query".into(), pairs_to_map(request.query));
    map.insert("headers".into(), pairs_to_map(request.headers));
    map.insert("params".into(), pairs_to_map(request.params));
    map.insert("host_params".into(), pairs_to_map(request.host_params));
    // The body as text (invalid UTF-8 replaced) and as the raw bytes: a
    // body costs about twice its size against the memory cap.
    map.insert(
        "body".into(),
        String::from_utf8_lossy(&request.body).into_owned().into(),
    );
    map.insert("body_blob".into(), Dynamic::from_blob(request.body));
    // What the app's interceptors left for this step (a JSON object the
    // host passes on as it got it).
    let locals = if request.locals.is_empty() {
        Map::new().into()
    } else {
        parse_json(&request.locals).unwrap_or_else(|_| Map::new().into())
    };
    map.insert("locals".into(), locals);
    map.into()
}

/// `#{ status: 200, headers: #{…}, body: … }`: a map with an integer
/// `status` and no keys but these three is a response, not JSON data.
fn is_map_response(map: &Map) -> bool {
    map.get("status").is_some_and(|s| s.is_int())
        && map.get("headers").is_none_or(|h| h.is_map())
        && map
            .keys()
            .all(|k| matches!(k.as_str(), "status" | "headers" | "body"))
}

/// Takes the map apart (the body is moved, never copied).
fn map_to_response(mut map: Map) -> Response {
    let status = map
        .remove("status")
        .and_then(|s| s.as_int().ok())
        .unwrap_or(200);
    let headers = map
        .remove("headers")
        .and_then(|h| h.try_cast::<Map>())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v.to_string()))
        .collect();
    Response {
        status,
        headers,
        body: map.remove("body").unwrap_or(Dynamic::UNIT),
    }
}

/// Turns the script's value into a response (docs/scripting.md, "Responses").
pub(crate) fn to_response(value: Dynamic) -> Result<HttpResponse, String> {
    let response = if value.is::<Response>() {
        Some(value.cast::<Response>())
    } else if value
        .read_lock::<Map>()
        .is_some_and(|map| is_map_response(&map))
    {
        value.try_cast::<Map>().map(map_to_response)
    } else {
        return plain_response(value);
    };
    let Some(r) = response else {
        return Err("the response could not be read".into());
    };
    let status = u16::try_from(r.status)
        .ok()
        .filter(|s| (200..=599).contains(s))
        .ok_or_else(|| format!("response status {} is not between 200 and 599", r.status))?;
    let (content_type, body) = body_bytes(r.body)?;
    let mut headers = r.headers;
    if !headers.iter().any(|(n, _)| n == "content-type") && !body.is_empty() {
        headers.push(("content-type".into(), content_type.into()));
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A value that is not a response: the body of a `200` (or a `204`).
fn plain_response(value: Dynamic) -> Result<HttpResponse, String> {
    if value.is_unit() {
        return Ok(HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        });
    }
    let (content_type, body) = body_bytes(value)?;
    Ok(HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        body,
    })
}

/// A body value as bytes plus the content type it implies.
fn body_bytes(value: Dynamic) -> Result<(&'static str, Vec<u8>), String> {
    if value.is_unit() {
        return Ok((TEXT, Vec::new()));
    }
    if value.is_string() || value.is_char() {
        return Ok((TEXT, value.to_string().into_bytes()));
    }
    if value.is_blob() {
        return Ok(("application/octet-stream", value.cast::<Blob>()));
    }
    if value.is_map()
        || value.is::<Array>()
        || value.is_int()
        || value.is_float()
        || value.is_bool()
    {
        let json = serde_json::to_vec(&value)
            .map_err(|e| format!("the value cannot be sent as JSON: {e}"))?;
        return Ok((JSON, json));
    }
    // Custom types report their Rust path; scripts know them by Rhai name.
    let type_name = if crate::time::is_timestamp(&value) {
        "timestamp"
    } else {
        value.type_name()
    };
    Err(format!(
        "a value of type '{type_name}' cannot be sent as a response body"
    ))
}
