//! The admin API under `/api/v1/admin/`: one router per resource, merged here
//! behind [`require_admin`]. docs/api.md is the reference.

mod app_users;
mod apps;
mod auth;
mod cron;
mod docs;
mod email;
mod executions;
mod http_allow;
mod interceptors;
mod kv;
mod manifest;
pub mod openapi;
mod queues;
mod roles;
mod routes;
mod run;
mod scripts;
mod tls;
mod variables;
mod versions;

pub(crate) use versions::prune as prune_versions;

use crate::ErrorCode;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Router, extract::DefaultBodyLimit};
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Principal;
use crate::policy::Access;
use crate::store::Page;
use crate::{Error, Manager};
use axum::extract::{FromRequestParts as _, MatchedPath, RawPathParams};

/// The admin router: every route under `/api/v1/admin` requires an admin
/// (API token or session) except `POST /auth/login`; plus the unauthenticated
/// `GET /api/v1/tls/ask` (Caddy's on-demand TLS) and the OpenAPI document at
/// `/api/v1/openapi.json`, generated from the same route registrations.
pub fn router(manager: Manager) -> Router {
    let limit = manager.config.max_body_bytes;
    let Parts {
        protected,
        public,
        tls,
        document,
    } = parts();
    let protected = protected
        .fallback(
            |method: axum::http::Method, uri: axum::extract::OriginalUri| async move {
                Error::not_found("admin endpoint", format!("{method} {}", uri.path()))
            },
        )
        .layer(middleware::from_fn_with_state(
            manager.clone(),
            require_admin,
        ));
    // Merged after the layer above, so sign-in is the one route without it.
    let admin = protected
        .merge(public)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(manager.clone());
    let document = std::sync::Arc::new(document);
    Router::new()
        .nest("/api/v1/admin", admin)
        .nest(tls::PREFIX, tls.with_state(manager))
        // For editors (Taplo, Even Better TOML): public, like the OpenAPI
        // document.
        .route(
            "/api/v1/schemas/manifest.json",
            axum::routing::get(|| async { axum::Json(crate::manifest::schema()) }),
        )
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
}

/// The admin API's routers, before they get their state, and the OpenAPI
/// document generated from the same registrations.
struct Parts {
    protected: Router<Manager>,
    public: Router<Manager>,
    tls: Router<Manager>,
    document: serde_json::Value,
}

fn parts() -> Parts {
    let (protected, protected_doc) = OpenApiRouter::new()
        .merge(scripts::router())
        .merge(versions::router())
        .merge(manifest::router())
        .merge(run::router())
        .merge(apps::router())
        .merge(executions::router())
        .merge(routes::router())
        .merge(auth::router())
        .merge(kv::router())
        .merge(docs::router())
        .merge(variables::router())
        .merge(http_allow::router())
        .merge(cron::router())
        .merge(interceptors::router())
        .merge(app_users::router())
        .merge(roles::router())
        .merge(queues::router())
        .merge(email::router())
        .split_for_parts();
    let (public, public_doc) = auth::public_router().split_for_parts();
    let (tls, tls_doc) = tls::router().split_for_parts();
    let document = openapi::document([protected_doc, public_doc], (tls::PREFIX, tls_doc));
    Parts {
        protected,
        public,
        tls,
        document,
    }
}

/// The OpenAPI 3.1 document `/api/v1/openapi.json` serves (`picloud
/// openapi` prints it; the dashboard's types are generated from a copy).
pub fn openapi_document() -> serde_json::Value {
    parts().document
}

/// The one authentication and authorization seam: every admin and execute
/// route passes here. It authenticates the caller, works out what it may do
/// ([`Access`]) and decides the request with the role table
/// ([`crate::policy::OPERATIONS`]) before any handler runs; it leaves the
/// [`Principal`] and the [`Access`] in the request for handlers that scope
/// their answer to the caller.
pub async fn require_admin(
    State(manager): State<Manager>,
    request: Request,
    next: Next,
) -> Response {
    match authorize(&manager, request).await {
        Ok(request) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

async fn authorize(manager: &Manager, request: Request) -> crate::Result<Request> {
    let principal = auth::authenticate(manager, request.method(), request.headers()).await?;
    if let Principal::Token {
        scope: crate::store::TokenScope::Metrics,
        ..
    } = principal
    {
        return Err(Error::Forbidden {
            code: ErrorCode::MetricsOnlyToken,
            message: "this token may only read /metrics; use an admin token for the admin API"
                .into(),
        });
    }
    let access = Access::of(&manager.store, &principal).await?;
    let (mut parts, body) = request.into_parts();
    // No matched path: the request goes to the API's fallback (a 404 that
    // names the method and path), which needs no decision.
    if let Some(template) = parts.extensions.get::<MatchedPath>().cloned() {
        let params: Vec<(String, String)> =
            match RawPathParams::from_request_parts(&mut parts, &()).await {
                Ok(params) => params
                    .iter()
                    .map(|(key, value)| (key.to_owned(), value.to_owned()))
                    .collect(),
                Err(_) => Vec::new(),
            };
        crate::policy::check(
            manager,
            &access,
            parts.method.as_str(),
            template.as_str(),
            &params,
            parts.uri.query(),
        )
        .await?;
    }
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(access);
    Ok(request)
}

/// `GET /metrics` on the admin surface: the process's metrics in the
/// Prometheus text format, for a server admin (token or session) or a
/// metrics-only token (docs/operations.md).
pub async fn metrics(State(manager): State<Manager>, request: Request) -> Response {
    // Every app's numbers: for a server admin, or a token made for this.
    let allowed = match auth::authenticate(&manager, request.method(), request.headers()).await {
        Ok(Principal::Token {
            scope: crate::store::TokenScope::Metrics,
            ..
        }) => Ok(()),
        Ok(principal) => match Access::of(&manager.store, &principal).await {
            Ok(access) => access.require_server_admin(),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    if let Err(err) = allowed {
        return err.into_response();
    }
    manager.store.db().export_pool_metrics();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            shared::metrics::CONTENT_TYPE,
        )],
        shared::metrics::render(),
    )
        .into_response()
}

/// `Json` whose rejections use the API's error shape and name the problem
/// (missing or unknown field, wrong type, body too large). Every request body
/// of the API is an object: serde would also build a struct from a JSON array
/// of its fields in order (`[null, null]`), which no client means.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Manager> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &Manager) -> Result<Self, Self::Rejection> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            // The path names the offending field, as axum's own message does.
            Ok(axum::Json(value)) if value.is_object() => serde_path_to_error::deserialize(&value)
                .map(ApiJson)
                .map_err(|err| {
                    Error::bad_request(
                        ErrorCode::InvalidJson,
                        format!("Failed to deserialize the JSON body into the target type: {err}"),
                    )
                }),
            Ok(_) => Err(Error::bad_request(
                ErrorCode::InvalidJson,
                "the body must be a JSON object",
            )),
            Err(JsonRejection::BytesRejection(rejection)) if rejection.status() == 413 => {
                Err(Error::PayloadTooLarge {
                    limit: state.config.max_body_bytes,
                })
            }
            Err(JsonRejection::BytesRejection(rejection))
                if shared::caused_by::<tower_http::timeout::TimeoutError>(&rejection) =>
            {
                Err(Error::RequestTimeout)
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::bad_request(
                ErrorCode::InvalidContentType,
                "send the body as JSON with `content-type: application/json`",
            )),
            Err(rejection) => Err(Error::bad_request(
                ErrorCode::InvalidJson,
                rejection.body_text(),
            )),
        }
    }
}

/// `Query` whose rejections use the API's error shape and name the parameter.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| Error::bad_request(ErrorCode::InvalidQuery, rejection.body_text()))
    }
}

/// `?limit=&cursor=` of the list endpoints that have no other filters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub(crate) limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^([0-9a-f]{2})*[.].+$")]
    pub(crate) cursor: Option<String>,
}

impl PageQuery {
    /// The page it asks for.
    pub(crate) fn page(&self) -> crate::Result<Page> {
        page_request(self.limit, self.cursor.as_deref())
    }
}

/// A page request from `?limit=&cursor=`.
pub(crate) fn page_request(limit: Option<i64>, cursor: Option<&str>) -> crate::Result<Page> {
    let limit = page_limit(limit)?;
    let after = cursor
        .map(|c| {
            c.split_once('.')
                .and_then(|(key, id)| {
                    // Lossy: a key that is not UTF-8 sorts like its
                    // replacement, which only shifts where the page starts.
                    let key = String::from_utf8_lossy(&hex::decode(key).ok()?).into_owned();
                    Some((key, id.to_owned()))
                })
                .ok_or_else(|| {
                    Error::bad_request(
                        ErrorCode::InvalidCursor,
                        format!("cursor '{c}' is not one this server issued"),
                    )
                })
        })
        .transpose()?;
    // One more than asked, to learn whether another page follows.
    Ok(Page {
        after,
        limit: limit + 1,
    })
}

/// A typed id from the URL path. A string that cannot be an id names
/// nothing, so it is the same 404 as an id that is not there.
pub(crate) fn path_id<T: std::str::FromStr>(what: &'static str, raw: &str) -> crate::Result<T> {
    raw.parse().map_err(|_| Error::not_found(what, raw))
}

/// `{"<field>": [...], "next_cursor": ...}` for a page fetched with
/// [`page_request`]; `key` gives an item's (sort key, id).
pub(crate) fn paged<T: serde::Serialize, Id: std::fmt::Display>(
    field: &str,
    mut items: Vec<T>,
    page: &Page,
    key: impl Fn(&T) -> (String, Id),
) -> serde_json::Value {
    let limit = usize::try_from(page.limit - 1).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more
        .then(|| items.last().map(&key))
        .flatten()
        .map(|(sort, id)| format!("{}.{id}", hex::encode(sort)));
    serde_json::json!({ field: items, "next_cursor": next })
}

/// Limit and cursor parameters shared by list endpoints.
pub(crate) fn page_limit(limit: Option<i64>) -> crate::Result<i64> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(n) => Err(Error::bad_request(
            ErrorCode::InvalidLimit,
            format!("limit {n} is out of range: use 1 to 500"),
        )),
    }
}

#[cfg(test)]
mod openapi_copy {
    /// The dashboard generates its API types from a committed copy of the
    /// document (dashboard/openapi.json), so that `npm run check` needs no
    /// server. The copy must be the document this code serves.
    #[test]
    fn the_dashboards_copy_of_the_document_is_current() {
        let copy: serde_json::Value =
            serde_json::from_str(include_str!("../../../../dashboard/openapi.json"))
                .expect("dashboard/openapi.json is JSON");
        let served = super::openapi_document();
        assert!(
            copy == served,
            "dashboard/openapi.json is stale: run `make openapi` (picloud openapi > \
             dashboard/openapi.json), then `npm run check` in dashboard/ to regenerate \
             the types, and commit both"
        );
    }
}
