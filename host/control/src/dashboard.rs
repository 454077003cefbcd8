//! The web dashboard at `/admin`: SvelteKit's static build, compiled into the
//! binary so a single file is the whole install. Every path that is not an
//! asset gets `index.html`, and the single-page app routes on the client.
//! The dashboard holds no secrets of its own; it signs in through the admin
//! API like any other client.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$PICLOUD_DASHBOARD_DIR"]
struct Assets;

/// `/admin` and everything under it.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/admin", get(|| async { Redirect::temporary("/admin/apps") }))
        .route("/admin/", get(|| async { Redirect::temporary("/admin/apps") }))
        .route(
            "/admin/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { asset(&path, &headers) }),
        )
        .layer(tower_http::compression::CompressionLayer::new())
}

fn asset(path: &str, request: &HeaderMap) -> Response {
    let (file, cache) = match Assets::get(path) {
        // Vite puts a content hash in every name under `_app/immutable/`.
        Some(file) if path.starts_with("_app/immutable/") => {
            (file, "public, max-age=31536000, immutable")
        }
        Some(file) => (file, "no-cache"),
        // A missing script or style must not come back as HTML: the browser
        // would report a confusing MIME error instead of the 404.
        None if path.starts_with("_app/") => {
            return (StatusCode::NOT_FOUND, "no such dashboard asset").into_response();
        }
        None => match Assets::get("index.html") {
            Some(file) => (file, "no-cache"),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if let Ok(value) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    (headers, file.data).into_response()
}
