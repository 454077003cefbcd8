//! HTTP ingress: user routes (Host → app → route → executor) and
//! `/api/v1/execute/{id}`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{Body, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::{
    AppId, ExecutionError, ExecutionId, ExecutionKind, ExecutionOutcome, ExecutionRecord,
    ExecutionRequest, InterceptorResult, InterceptorRun, Limits, Miss, ModuleSource, RouteId,
    ScriptId, ScriptRequest, ScriptResponse, Trigger,
};

use compact_str::CompactString;
use tracing::Instrument as _;

use crate::Orchestrator;
use crate::cache::{Hit, Interceptor, Tables};

/// A JSON error in the platform's one shape.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message.into() } })),
    )
        .into_response()
}

/// Fallback handler: every request no platform route claimed.
pub(crate) async fn user_request(State(o): State<Orchestrator>, request: Request) -> Response {
    let (routed, cors, app_slug) = route(&o, &request);
    // The app's CORS headers go on every answer of that app, errors too, so
    // a browser shows the error rather than an opaque CORS failure.
    let cors = cors.and_then(|policy| {
        let origin = request.headers().get(header::ORIGIN)?.to_str().ok()?;
        policy
            .allows(origin)
            .then(|| (policy.clone(), origin.to_owned()))
    });
    let routed = routed.and_then(|target| match rate_limited(&o, &target, &request) {
        Some(refusal) => Err(refusal),
        None => Ok(target),
    });
    let mut response = match routed {
        Ok(target) => run(&o, target, request).await,
        Err(response) => {
            let mut response = *response;
            if has_body(request.headers()) {
                close_connection(&mut response);
            }
            response
        }
    };
    if let Some((policy, origin)) = cors {
        add_cors_headers(&mut response, &policy, &origin);
    }
    shared::metrics::metrics().observe_request(&app_slug, response.status().as_u16());
    response
}

/// `429 rate_limited` (with `Retry-After`) when the app's rate limit has no
/// token left for this request; the script does not run.
fn rate_limited(o: &Orchestrator, target: &Target, request: &Request) -> Option<Box<Response>> {
    let limit = target.rate_limit.as_deref()?;
    let client = limit
        .per_client_ip
        .then(|| {
            let peer = request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0);
            o.config.trusted_proxies.client_ip(
                peer,
                request
                    .headers()
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        })
        .flatten();
    let wait = o.limiter.take(target.app_id, client, limit).err()?;
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; retry in {wait} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    Some(Box::new(response))
}

/// `Access-Control-Allow-Origin` and its companions, unless the script set
/// its own (a script's CORS headers win).
fn add_cors_headers(response: &mut Response, policy: &shared::CorsPolicy, origin: &str) {
    let headers = response.headers_mut();
    if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        return;
    }
    let value = policy.allow_origin_value(origin);
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if value != "*" {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if policy.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !policy.expose_headers.is_empty()
        && let Ok(value) = HeaderValue::from_str(&policy.expose_headers.join(", "))
    {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
    }
}

/// The platform's answer to a CORS preflight for a path that has routes:
/// `204` with the methods the path accepts (within the policy's), the
/// headers the policy allows (or, with none listed, the ones asked for),
/// and the policy's max age. The origin headers are added by the caller.
fn preflight(
    policy: &shared::CorsPolicy,
    route_methods: Vec<String>,
    asked_headers: Option<&HeaderValue>,
) -> Response {
    let mut methods: Vec<String> = if route_methods.iter().any(|m| m == "*") {
        if policy.allow_methods.is_empty() {
            ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .map(str::to_owned)
                .to_vec()
        } else {
            policy.allow_methods.clone()
        }
    } else {
        route_methods
    };
    if !policy.allow_methods.is_empty() {
        methods.retain(|m| {
            policy
                .allow_methods
                .iter()
                .any(|a| a.eq_ignore_ascii_case(m))
        });
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&methods.join(", ")) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    let allowed_headers = if policy.allow_headers.is_empty() {
        asked_headers.cloned()
    } else {
        HeaderValue::from_str(&policy.allow_headers.join(", ")).ok()
    };
    if let Some(value) = allowed_headers {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    if let Some(age) = policy.max_age {
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    response
}

/// Whether the request announces a body (which an early error leaves unread).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// A response sent before the request body was read ends the connection, and
/// says so: hyper will not reuse a connection with unread body bytes, and a
/// client that is not told would send its next request into a closing socket.
fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Host → app → route; a miss is the error response that explains it. The
/// third part is the slug of the app that serves the host (empty when none
/// does), for the request metrics.
///
/// What an anonymous caller learns from a miss: that no app serves the host
/// (with the command an operator runs to claim it), or the method and path
/// that did not match and the methods that would. Never which app a host
/// belongs to: slugs are the operator's (docs/security.md).
fn route(
    o: &Orchestrator,
    request: &Request,
) -> (
    Result<Target, Box<Response>>,
    Option<Arc<shared::CorsPolicy>>,
    CompactString,
) {
    let raw_host = match host_header(request) {
        Ok(host) => host,
        Err(response) => return (Err(response), None, CompactString::default()),
    };
    let tables = o.cache.tables();
    // An admin host serves the dashboard and admin API, and outside those
    // paths the default app's routes without a host, sandboxed so no page
    // of theirs shares the admin's origin (ADR 006).
    let sandbox = o.config.admin_hosts.contains_header(raw_host);
    let method = request.method().as_str();
    let path = request.uri().path();
    let lookup = |method: &str| {
        if sandbox {
            tables.lookup_in(&AppId::DEFAULT, raw_host, method, path)
        } else {
            tables.lookup(raw_host, method, path)
        }
    };
    let found = lookup(method);
    let app = match &found {
        Ok(hit) => Some(hit.app),
        Err(Miss::NoRoute { app_id, .. } | Miss::MethodNotAllowed { app_id, .. }) => {
            tables.app(app_id)
        }
        Err(_) => None,
    };
    let cors = app.and_then(|app| app.cors.clone());
    let slug = app.map(|app| app.slug.clone()).unwrap_or_default();
    if let Some(policy) = &cors
        && request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && let Some(asked) = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
    {
        // Which methods the path has: the asked one if a route takes it,
        // and every other method its routes name.
        let mut methods = match lookup(asked) {
            Ok(hit) => vec![hit.route.route.method.to_string()],
            Err(_) => Vec::new(),
        };
        if let Err(Miss::MethodNotAllowed { allowed, .. }) = lookup("\u{0}") {
            methods.extend(allowed);
        }
        if !methods.is_empty() {
            methods.dedup();
            let answer = preflight(
                policy,
                methods,
                request
                    .headers()
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS),
            );
            return (Err(Box::new(answer)), cors, slug);
        }
    }
    (
        dispatch_target(&tables, found, sandbox, method, path),
        cors,
        slug,
    )
}

/// The `Host` header as text (or the URI's authority).
fn host_header(request: &Request) -> Result<&str, Box<Response>> {
    Ok(request
        .headers()
        .get(header::HOST)
        .map(|h| {
            h.to_str().map_err(|_| {
                invalid_host(
                    "the Host header is not a valid host name: it has bytes outside \
                         printable ASCII (send an international name as punycode, xn--…)",
                )
            })
        })
        .transpose()?
        .or_else(|| request.uri().host())
        .unwrap_or(""))
}

/// A lookup's result as the script to run, or the error that explains the
/// miss.
fn dispatch_target(
    tables: &Tables,
    found: Result<Hit<'_>, Miss>,
    sandbox: bool,
    method: &str,
    path: &str,
) -> Result<Target, Box<Response>> {
    let hit = match found {
        Ok(hit) => hit,
        Err(Miss::InvalidHost { message }) => return Err(invalid_host(&message)),
        Err(Miss::UnknownHost { host }) => {
            return Err(Box::new(error(
                StatusCode::NOT_FOUND,
                "unknown_host",
                format!(
                    "no app serves the host '{host}'; to serve it from the default app, \
                     run: picloud domains add default {host}"
                ),
            )));
        }
        Err(Miss::MethodNotAllowed { allowed, .. }) => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "{path} does not accept {method}; it accepts {}",
                    allowed.join(", ")
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Err(Box::new(response));
        }
        Err(Miss::NoRoute { .. }) => {
            return Err(Box::new(error(
                StatusCode::NOT_FOUND,
                "no_route",
                format!("no route for {method} {path} on this host"),
            )));
        }
    };
    let script_id = hit.route.route.script_id;
    Ok(Target {
        app_id: hit.app.id,
        app_slug: hit.app.slug.clone(),
        script_id,
        route_id: Some(hit.route.route.id),
        source: hit.route.route.source.clone(),
        script_version: hit.route.route.version,
        name: tables.name_of(&script_id),
        modules: tables.modules_of(&script_id),
        interceptors: hit
            .app
            .interceptors
            .iter()
            .filter(|i| path.starts_with(i.prefix.as_str()))
            .cloned()
            .collect(),
        limits: hit.app.limits,
        params: hit.route.params,
        host_params: hit.host_params,
        trigger: Trigger::Http,
        sandbox,
        rate_limit: hit.app.rate_limit.clone(),
    })
}

fn invalid_host(message: &str) -> Box<Response> {
    Box::new(error(StatusCode::BAD_REQUEST, "invalid_host", message))
}

/// `/api/v1/execute/{id}`: run a script by id, whatever its domains or routes.
/// Authentication is layered on by the binary (the manager's `require_admin`).
pub(crate) async fn execute_by_id(
    State(o): State<Orchestrator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let tables = o.cache.tables();
    let script = id
        .parse::<ScriptId>()
        .ok()
        .and_then(|id| tables.scripts.get(&id));
    let Some(script) = script else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("script '{id}' not found"),
        );
    };
    let app = tables.app(&script.app_id);
    let target = Target {
        app_id: script.app_id,
        app_slug: app.map(|a| a.slug.clone()).unwrap_or_default(),
        script_id: script.id,
        route_id: None,
        source: script.source.clone(),
        script_version: script.version,
        name: script.name.clone(),
        modules: tables.modules_of(&script.id),
        // Interceptors guard routes; a direct call is an admin's.
        interceptors: Vec::new(),
        limits: app.map(|a| a.limits).unwrap_or_default(),
        params: Vec::new(),
        host_params: Vec::new(),
        trigger: Trigger::Direct,
        // Served on an admin host.
        sandbox: true,
        // An admin's call, not the app's public traffic.
        rate_limit: None,
    };
    drop(tables);
    let slug = target.app_slug.clone();
    let response = run(&o, target, request).await;
    shared::metrics::metrics().observe_request(&slug, response.status().as_u16());
    response
}

struct Target {
    app_id: AppId,
    /// The app's slug, for metrics and trace spans.
    app_slug: CompactString,
    script_id: ScriptId,
    route_id: Option<RouteId>,
    source: std::sync::Arc<str>,
    /// The version `source` is, for the execution record.
    script_version: i64,
    /// The script's name.
    name: String,
    /// The modules it imports.
    modules: Arc<[ModuleSource]>,
    /// The app's interceptors whose prefix the path has, in order.
    interceptors: Vec<Interceptor>,
    limits: Limits,
    params: Vec<(String, String)>,
    host_params: Vec<(String, String)>,
    trigger: Trigger,
    /// The response is served on an admin host: a browser that renders it
    /// gets an opaque origin, so its page cannot use the admin's session
    /// (ADR 006).
    sandbox: bool,
    /// The app's rate limit (user routes only).
    rate_limit: Option<Arc<shared::RateLimit>>,
}

/// What makes a script's response harmless on an admin host.
fn sandbox(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

async fn run(o: &Orchestrator, mut target: Target, request: Request) -> Response {
    let started_at = SystemTime::now();
    let execution_id = ExecutionId::new();
    let (parts, body) = request.into_parts();
    let max_body = usize::try_from(target.limits.max_request_bytes)
        .unwrap_or(usize::MAX)
        .min(o.config.max_request_bytes);
    let body = match to_bytes(body, max_body).await {
        Ok(bytes) => bytes,
        Err(err) => {
            let mut response = if shared::caused_by::<tower_http::timeout::TimeoutError>(&err) {
                error(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body stopped arriving",
                )
            } else if shared::caused_by::<http_body_util::LengthLimitError>(&err) {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the request body is larger than {max_body} bytes"),
                )
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the request body could not be read",
                )
            };
            close_connection(&mut response);
            return response;
        }
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    // The server's request-id layer (picloud-node's `harden`) has set it;
    // a router used on its own gets a fresh one.
    let request_id = parts
        .headers
        .get(shared::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(shared::new_request_id, str::to_owned);
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_owned();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let trusted = &o.config.trusted_proxies;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let url = trusted.request_url(
        peer,
        header("host")
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or(""),
        header("x-forwarded-proto"),
        header("x-forwarded-host"),
        parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
    );
    let client_ip = trusted
        .client_ip(
            peer,
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let script_request = ScriptRequest {
        method: method.clone(),
        path: path.clone(),
        query: parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        headers: header_pairs(&parts.headers),
        params: std::mem::take(&mut target.params),
        host_params: std::mem::take(&mut target.host_params),
        body: Vec::from(body),
        url,
        client_ip,
        id: request_id.clone(),
        locals: String::new(),
    };
    let request_headers = shared::redact_headers(&script_request.headers, &o.config.redact_headers);
    let head = parts.method == Method::HEAD;
    // Anonymous callers of user routes learn the error code, not the script's
    // internals (messages, thrown values, positions): those go to the
    // execution log. Authenticated direct calls get the details.
    let detailed = target.trigger == Trigger::Direct;
    let base = RecordBase {
        app_id: target.app_id,
        route_id: target.route_id,
        method,
        path,
        host,
        request_id,
        request_headers,
    };
    let modules = target.modules.iter().map(ModuleSource::usage).collect();
    let mut script_request = script_request;
    let mut interceptors = Vec::with_capacity(target.interceptors.len());
    let mut answered = None;
    for step in &target.interceptors {
        let (run, response) = intercept(
            o,
            &target,
            step,
            &mut script_request,
            execution_id,
            &base,
            (head, detailed),
        )
        .await;
        interceptors.push(run);
        if let Some(response) = response {
            answered = Some(response);
            break;
        }
    }
    let (mut response, outcome) = match answered {
        // The route's script did not run: its record says what the client
        // got and which interceptor answered.
        Some((response, outcome)) => (response, outcome),
        None => {
            let span = tracing::debug_span!(
                "execution",
                app = %target.app_slug,
                script = %target.script_id,
                execution_id = %execution_id,
            );
            let mut outcome = o
                .executor
                .execute(ExecutionRequest {
                    execution_id,
                    app_id: target.app_id,
                    script_id: target.script_id,
                    route_id: target.route_id,
                    source: target.source,
                    request: script_request,
                    limits: target.limits,
                    trigger: target.trigger,
                    name: target.name,
                    modules: target.modules,
                    kind: ExecutionKind::Handler,
                })
                .instrument(span)
                .await;
            shared::metrics::metrics().observe_execution(
                &target.app_slug,
                target.trigger,
                &outcome,
            );
            let response = to_response(&mut outcome, head, detailed);
            (response, outcome)
        }
    };
    if target.sandbox {
        sandbox(&mut response);
    }
    let mut record = base.record(
        execution_id,
        target.script_id,
        target.script_version,
        target.trigger,
        (response.status().as_u16(), body_length(&response)),
        started_at,
        outcome,
    );
    record.interceptors = interceptors;
    record.modules = modules;
    o.recorder.record(record);
    response
}

/// What every record of one request shares.
struct RecordBase {
    app_id: AppId,
    route_id: Option<RouteId>,
    method: String,
    path: String,
    host: String,
    request_id: String,
    request_headers: Vec<(String, String)>,
}

impl RecordBase {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        id: ExecutionId,
        script_id: ScriptId,
        script_version: i64,
        trigger: Trigger,
        (status, response_bytes): (u16, u64),
        started_at: SystemTime,
        outcome: ExecutionOutcome,
    ) -> ExecutionRecord {
        ExecutionRecord {
            id,
            app_id: self.app_id,
            script_id,
            route_id: self.route_id,
            script_version,
            trigger,
            method: self.method.clone(),
            path: self.path.clone(),
            host: self.host.clone(),
            request_id: self.request_id.clone(),
            request_headers: self.request_headers.clone(),
            status,
            response_bytes,
            started_at,
            outcome,
            parent_id: None,
            modules: Vec::new(),
            interceptors: Vec::new(),
        }
    }
}

/// Runs one interceptor (its own fresh instance, its own record under the
/// request's). It either passes `request.locals` on, or ends the request:
/// then the response and the outcome the route's record keeps.
async fn intercept(
    o: &Orchestrator,
    target: &Target,
    step: &Interceptor,
    request: &mut ScriptRequest,
    parent: ExecutionId,
    base: &RecordBase,
    (head, detailed): (bool, bool),
) -> (InterceptorRun, Option<(Response, ExecutionOutcome)>) {
    let id = ExecutionId::new();
    let started_at = SystemTime::now();
    let span = tracing::debug_span!(
        "interceptor",
        app = %target.app_slug,
        script = %step.script_id,
        execution_id = %id,
    );
    let modules = step.modules.iter().map(ModuleSource::usage).collect();
    let mut outcome = o
        .executor
        .execute(ExecutionRequest {
            execution_id: id,
            app_id: target.app_id,
            script_id: step.script_id,
            route_id: target.route_id,
            source: step.source.clone(),
            request: request.clone(),
            limits: target.limits,
            trigger: Trigger::Interceptor,
            name: step.name.clone(),
            modules: step.modules.clone(),
            kind: ExecutionKind::Interceptor,
        })
        .instrument(span)
        .await;
    shared::metrics::metrics().observe_execution(&target.app_slug, Trigger::Interceptor, &outcome);
    let (result, status) = match (&outcome.outcome, &outcome.next) {
        (Ok(_), Some(_)) => (InterceptorResult::Continued, 0),
        (Ok(response), None) => (InterceptorResult::Answered, response.status),
        (Err(error), _) => (InterceptorResult::Failed, error.http_status()),
    };
    let run = InterceptorRun {
        execution_id: id,
        script_id: step.script_id,
        script_name: step.name.clone(),
        result,
        status,
    };
    let ended = match outcome.next.take() {
        Some(locals) => {
            request.locals = locals;
            None
        }
        None => {
            let response = to_response(&mut outcome, head, detailed);
            // What the route's record keeps: the answer's status or the
            // error, none of the interceptor's costs (its own record has them).
            let kept = ExecutionOutcome {
                outcome: match &outcome.outcome {
                    Ok(answer) => Ok(ScriptResponse {
                        status: answer.status,
                        headers: Vec::new(),
                        body: Vec::new(),
                    }),
                    Err(error) => Err(error.clone()),
                },
                ..ExecutionOutcome::failed(ExecutionError::Internal)
            };
            Some((response, kept))
        }
    };
    let mut record = base.record(
        id,
        step.script_id,
        step.version,
        Trigger::Interceptor,
        // One that let the request go on answered nobody: its record shows
        // the 204 its `()` stands for.
        ended
            .as_ref()
            .map_or((204, 0), |(r, _)| (r.status().as_u16(), body_length(r))),
        started_at,
        outcome,
    );
    record.parent_id = Some(parent);
    record.modules = modules;
    o.recorder.record(record);
    (run, ended)
}

/// The body length the caller receives: for `HEAD`, the `Content-Length`
/// a `GET` would have had.
fn body_length(response: &Response) -> u64 {
    use axum::body::HttpBody as _;
    response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or_else(|| response.body().size_hint().exact())
        .unwrap_or(0)
}

/// Headers as the script sees them: lower-case names, repeats joined by ", "
/// (by "; " for `cookie`, whose own separator that is). The admin session
/// cookie is taken out: no script ever sees it (ADR 006).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let value = if name == header::COOKIE {
            match shared::response::without_session_cookies(&value) {
                Some(kept) => kept,
                None => continue,
            }
        } else {
            value.into_owned()
        };
        match pairs.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, existing)) => {
                existing.push_str(if name == header::COOKIE { "; " } else { ", " });
                existing.push_str(&value);
            }
            None => pairs.push((name.as_str().to_owned(), value)),
        }
    }
    pairs
}

/// Builds the HTTP response, moving the body out of `outcome`: the execution
/// log records costs and errors, never bodies, so the body is not copied.
fn to_response(outcome: &mut ExecutionOutcome, head: bool, detailed: bool) -> Response {
    match &mut outcome.outcome {
        Ok(script_response) => {
            let body = std::mem::take(&mut script_response.body);
            let length = body.len();
            let mut response = Response::new(if head {
                Body::empty()
            } else {
                Body::from(body)
            });
            response
                .extensions_mut()
                .insert(shared::response::FromScript);
            if head {
                // The length a GET would have (RFC 9110 §9.3.2), not the
                // empty body's 0.
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
            // The executor allows 200-599 only; a 1xx here would switch
            // protocols or leave the connection waiting for a final answer.
            *response.status_mut() = StatusCode::from_u16(script_response.status)
                .ok()
                .filter(|_| shared::response::SCRIPT_STATUSES.contains(&script_response.status))
                .unwrap_or(StatusCode::BAD_GATEWAY);
            for (name, value) in &script_response.headers {
                // The executor checked the headers (shared::response); this
                // skips anything the http crate still refuses, and framing
                // headers whatever an executor sent, rather than failing or
                // mis-framing the response. `try_append` cannot panic.
                if shared::response::is_server_only_header(name) {
                    continue;
                }
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::from_str(value),
                ) && response.headers_mut().try_append(name, value).is_err()
                {
                    break;
                }
            }
            response
        }
        Err(err) => script_error(err, detailed),
    }
}

fn script_error(err: &ExecutionError, detailed: bool) -> Response {
    let status =
        StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = if detailed {
        err.to_string()
    } else {
        public_message(err).to_owned()
    };
    let mut body = json!({ "error": { "code": err.code(), "message": message } });
    if let Some(position) = err.position().filter(|_| detailed) {
        body["error"]["line"] = json!(position.line);
        body["error"]["column"] = json!(position.column);
    }
    let mut response = (status, axum::Json(body)).into_response();
    if matches!(
        err,
        ExecutionError::Overloaded | ExecutionError::AppOverloaded | ExecutionError::Unavailable
    ) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// What an anonymous caller is told, per error kind.
fn public_message(err: &ExecutionError) -> &'static str {
    match err {
        ExecutionError::Compile(_)
        | ExecutionError::Runtime(_)
        | ExecutionError::BadResponse(_) => "the script failed; its execution log has the details",
        ExecutionError::ScriptLimit { .. }
        | ExecutionError::FuelExhausted { .. }
        | ExecutionError::MemoryLimit { .. } => {
            "the script was stopped at a resource limit (fuel, memory or an interpreter limit)"
        }
        ExecutionError::DeadlineExceeded { .. } => "the script ran past its deadline",
        ExecutionError::ResponseTooLarge { .. } => "the script's response is larger than its limit",
        ExecutionError::Overloaded => "the server is busy; retry shortly",
        ExecutionError::AppOverloaded => "this app is busy; retry shortly",
        ExecutionError::Unavailable => "no executor is available; retry shortly",
        ExecutionError::Internal => "internal error; the server log has details",
    }
}
