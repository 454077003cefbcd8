//! The admin API as the router-level tests call it: a manager's router
//! served in-process (`tower::oneshot`), signed in with a fresh API token,
//! and the stand-ins for the services those tests never use.

// Each test crate that declares `mod support;` uses a different part of it.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use manager_core::Manager;
use serde_json::Value;
use shared::{
    ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient, Miss, RouteMatch,
    RoutingTables,
};
use tower::ServiceExt;

/// An executor for admin-API tests that run no scripts; uploads compile.
pub(crate) struct NoExecutor;

#[async_trait::async_trait]
impl ExecutorClient for NoExecutor {
    async fn execute(&self, _: ExecutionRequest) -> ExecutionOutcome {
        panic!("these tests run no scripts")
    }

    async fn check(&self, _: &str) -> Result<Vec<shared::ImportRef>, ExecutionError> {
        Ok(Vec::new())
    }
}

/// Routing the admin-API tests never consult.
pub(crate) struct NoRouting;

#[async_trait::async_trait]
impl RoutingTables for NoRouting {
    async fn routing_changed(&self) {}

    fn resolve(&self, _: &str, _: &str, _: &str) -> Result<RouteMatch, Miss> {
        Err(Miss::InvalidHost {
            message: "no routing in these tests".into(),
        })
    }
}

pub(crate) struct Api {
    pub(crate) router: axum::Router,
    pub(crate) token: String,
}

impl Api {
    /// Adds a new API token to `manager`'s store and serves its admin router.
    pub(crate) async fn serve(manager: Manager) -> Api {
        let token = manager_core::store::generate_token();
        manager
            .store()
            .add_token("test", &token, None)
            .await
            .unwrap();
        Api {
            router: manager_core::api::router(manager),
            token,
        }
    }

    /// An authenticated call; status and JSON body (`Null` when empty).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.call_full(method, path, body).await;
        (status, body)
    }

    /// [`Api::call`] with the response headers. `path` is under
    /// `/api/v1/admin` unless it starts with `/api/`.
    pub(crate) async fn call_full(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let request = Request::builder()
            .method(method)
            .uri(if path.starts_with("/api/") {
                path.to_owned()
            } else {
                format!("/api/v1/admin{path}")
            })
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, headers, body)
    }
}
