//! `POST /scripts/{id}/run`: a test request from the dashboard's run panel.
//! It runs the stored script in the same sandbox, with the app's limits, as a
//! user route would, and answers with everything a developer debugging it
//! wants in one place: the response, its costs and the log lines.

use crate::ErrorCode;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, Method};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shared::{
    ExecutionId, ExecutionRecord, ExecutionRecorder as _, ExecutionRequest, LogLine, ScriptRequest,
    Trigger,
};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use crate::store::{ExecutionFailure, app_limits};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new().routes(routes!(run))
}

/// The request to simulate. Every field is optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// HTTP method (default `GET`).
    #[schema(pattern = "^[A-Za-z]{1,16}$")]
    method: Option<String>,
    /// Request path as the script sees it (default `/`).
    #[schema(max_length = 2048, pattern = "^/")]
    path: Option<String>,
    /// Route parameters (`request.params`).
    #[serde(default)]
    params: BTreeMap<String, String>,
    /// Query string, without or with the leading `?` (`request.query`).
    #[serde(default)]
    #[schema(max_length = 8192)]
    query: String,
    /// Request headers; names are lower-cased as for real requests.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Request body as text.
    #[serde(default)]
    body: String,
    /// The host the request comes in on: one of the app's domains, e.g. a
    /// tenant of a wildcard claim (`acme.shop.example.com` fills
    /// `request.host_params`). Default: the public base URL's host.
    #[schema(max_length = 253)]
    host: Option<String>,
}

/// What the script answered, with its costs and log.
#[derive(Serialize, ToSchema)]
pub(crate) struct RunResult {
    /// The execution-log record of this run (trigger `test`).
    execution_id: String,
    /// The status a caller would have received.
    status: u16,
    /// Response headers the script set.
    headers: BTreeMap<String, String>,
    /// The response body, when it is UTF-8 text.
    body: Option<String>,
    /// The response body in base64, when it is not UTF-8.
    body_base64: Option<String>,
    /// Wall time including sandbox start, in fractional milliseconds.
    duration_ms: f64,
    /// Fuel consumed.
    fuel_used: u64,
    /// Lines the script logged.
    #[schema(value_type = Vec<super::openapi::LogLineSchema>)]
    logs: Vec<LogLine>,
    /// Lines dropped at the per-execution cap.
    logs_dropped: u32,
    /// Why the script failed, when it did.
    error: Option<ExecutionFailure>,
}

const MAX_PATH: usize = 2048;
const MAX_QUERY: usize = 8192;

/// Run the script with a test request (recorded with trigger `test`).
#[utoipa::path(post, path = "/scripts/{id}/run", tag = "scripts", request_body = RunRequest,
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 200, description = "The script ran; `error` says whether it failed", body = RunResult),
        (status = 400, description = "`invalid_run`: a bad method, path, query or header (the message names it)", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn run(
    State(m): State<Manager>,
    Path(id): Path<String>,
    admin_headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<RunRequest>,
) -> Result<Json<RunResult>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    let app = m.store.app_by_id(script.app_id).await?;
    let host = match body.host.as_deref() {
        Some(host) => Some(claimed_host(&app, host)?),
        None => None,
    };
    let mut request = script_request(body, &m.config.public_base_url)?;
    let mut recorded_host = String::new();
    if let Some((host, params)) = host {
        // As the orchestrator would have seen it: the Host header, the URL
        // on that host, and the claim's `{name}` labels.
        let scheme = m
            .config
            .public_base_url
            .split("://")
            .next()
            .unwrap_or("http");
        let query = request
            .url
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        request.url = format!("{scheme}://{host}{}{query}", request.path);
        request.headers.retain(|(name, _)| name != "host");
        request.headers.push(("host".into(), host.clone()));
        request.host_params = params;
        recorded_host = host;
    }
    // The test run is part of the admin call: it carries that call's id.
    request.id = admin_headers
        .get(shared::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(shared::new_request_id, str::to_owned);
    let (app_id, script_id, script_version) = (app.id, script.id, script.version);
    let limits = app_limits(app.limits.as_ref().map(|l| l.to_string()).as_deref());
    let (method, path) = (request.method.clone(), request.path.clone());
    let (request_id, request_headers) = (
        request.id.clone(),
        shared::redact_headers(&request.headers, &m.config.redact_headers),
    );
    let modules = m.store.modules_of(app_id, script_id).await?;
    let used = modules.iter().map(shared::ModuleSource::usage).collect();
    let started_at = std::time::SystemTime::now();
    let execution_id = ExecutionId::new();
    let mut outcome = m
        .executor
        .execute(ExecutionRequest {
            execution_id,
            app_id,
            script_id,
            route_id: None,
            source: script.source.into(),
            request,
            limits,
            trigger: Trigger::Test,
            name: script.name,
            modules: modules.into(),
            kind: shared::ExecutionKind::Handler,
        })
        .await;
    shared::metrics::metrics().observe_execution(&app.slug, Trigger::Test, &outcome);
    let mut result = RunResult {
        execution_id: execution_id.to_string(),
        status: 200,
        headers: BTreeMap::new(),
        body: None,
        body_base64: None,
        duration_ms: outcome.duration.as_secs_f64() * 1000.0,
        fuel_used: outcome.fuel_used,
        logs: std::mem::take(&mut outcome.logs),
        logs_dropped: outcome.logs_dropped,
        error: None,
    };
    match &mut outcome.outcome {
        Ok(response) => {
            result.status = response.status;
            for (name, value) in &response.headers {
                result
                    .headers
                    .entry(name.clone())
                    .and_modify(|existing| {
                        existing.push_str(", ");
                        existing.push_str(value);
                    })
                    .or_insert_with(|| value.clone());
            }
            match String::from_utf8(std::mem::take(&mut response.body)) {
                Ok(text) => result.body = Some(text),
                Err(err) => {
                    result.body_base64 =
                        Some(base64::engine::general_purpose::STANDARD.encode(err.into_bytes()));
                }
            }
        }
        Err(err) => {
            result.status = err.http_status();
            let position = err.position();
            result.error = Some(ExecutionFailure {
                code: err.code().to_owned(),
                message: err.to_string(),
                line: position.map(|p| i64::from(p.line)),
                column: position.map(|p| i64::from(p.column)),
            });
        }
    }
    // The log keeps costs and errors; the lines go back to the caller too,
    // so the record gets its own copy.
    outcome.logs = result.logs.clone();
    m.recorder.record(ExecutionRecord {
        id: execution_id,
        app_id,
        script_id,
        route_id: None,
        script_version,
        trigger: Trigger::Test,
        method,
        path,
        host: recorded_host,
        request_id,
        request_headers,
        status: result.status,
        response_bytes: result
            .body
            .as_ref()
            .map(String::len)
            .or_else(|| result.body_base64.as_ref().map(|b| b.len() / 4 * 3))
            .unwrap_or(0) as u64,
        started_at,
        outcome,
        parent_id: None,
        modules: used,
        interceptors: Vec::new(),
    });
    Ok(Json(result))
}

/// `host`, normalized, when one of `app`'s claims matches it, with the
/// claim's `{name}` labels (the most specific claim, as for HTTP); 400
/// `invalid_run` naming the app's domains otherwise.
fn claimed_host(app: &crate::store::App, host: &str) -> Result<(String, Vec<(String, String)>)> {
    let invalid = |message: String| Error::bad_request(ErrorCode::InvalidRun, message);
    let host =
        shared::domain::normalize_host(host).map_err(|e| invalid(format!("host '{host}': {e}")))?;
    let best = app
        .domains
        .iter()
        .filter_map(|d| {
            let pattern = shared::domain::DomainPattern::parse(&d.pattern).ok()?;
            let params = pattern.matches(&host)?;
            Some((pattern, params))
        })
        .min_by(|a, b| a.0.specificity_cmp(&b.0));
    match best {
        Some((_, params)) => Ok((host, params)),
        None => {
            let claims: Vec<&str> = app.domains.iter().map(|d| d.pattern.as_str()).collect();
            Err(invalid(format!(
                "host '{host}' is not one of the app's domains ({})",
                if claims.is_empty() {
                    "it claims none".to_owned()
                } else {
                    claims.join(", ")
                }
            )))
        }
    }
}

/// Checks the simulated request the way the HTTP server would have parsed a
/// real one, so the script sees the same shapes.
/// `request.url` is the path under the public base URL; a test run has no
/// client address.
fn script_request(body: RunRequest, base: &str) -> Result<ScriptRequest> {
    let invalid = |message: String| Error::bad_request(ErrorCode::InvalidRun, message);
    let method = body.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    if method.is_empty() || method.len() > 16 || Method::from_bytes(method.as_bytes()).is_err() {
        return Err(invalid(format!("method '{method}' is not an HTTP method")));
    }
    let path = body.path.unwrap_or_else(|| "/".to_owned());
    if !path.starts_with('/') || path.len() > MAX_PATH || path.contains(['?', '#', ' ']) {
        return Err(invalid(format!(
            "path '{path}' must start with '/', have no query, fragment or spaces, and be at most {MAX_PATH} characters"
        )));
    }
    if body.query.len() > MAX_QUERY {
        return Err(invalid(format!(
            "the query is longer than {MAX_QUERY} characters"
        )));
    }
    let raw_query = body.query.trim_start_matches('?');
    let url = format!(
        "{}{path}{}{raw_query}",
        base.trim_end_matches('/'),
        if raw_query.is_empty() { "" } else { "?" }
    );
    let query = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let mut headers = Vec::with_capacity(body.headers.len());
    for (name, value) in body.headers {
        let name = name.to_ascii_lowercase();
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(format!("'{name}' is not a valid header name")));
        }
        if HeaderValue::from_str(&value).is_err() {
            return Err(invalid(format!(
                "the value of header '{name}' has characters a header cannot carry"
            )));
        }
        headers.push((name, value));
    }
    Ok(ScriptRequest {
        method,
        path,
        query,
        headers,
        params: body.params.into_iter().collect(),
        host_params: Vec::new(),
        body: body.body.into_bytes(),
        url,
        client_ip: String::new(),
        // Set by the caller, from the admin call's own id.
        id: String::new(),
        locals: String::new(),
    })
}
