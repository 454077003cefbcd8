//! `GET /api/v1/tls/ask`: the gate of Caddy's on-demand TLS
//! (`caddy/Caddyfile.prod`). Before Caddy obtains a certificate for a name it
//! has never seen, it asks here; only names some app claims get one, so a
//! stranger pointing DNS at the server cannot make it request certificates
//! (and spend the ACME rate limits) for arbitrary names.
//!
//! Caddy asks during TLS handshakes, and anyone can make it ask, so the answer
//! comes from the routing tables in memory, never from the database.

use crate::ErrorCode;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::Miss;
use shared::domain::normalize_host;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiQuery;
use super::openapi::ErrorBody;
use crate::{Error, Manager, Result};

/// Where [`router`]'s paths are mounted (outside the admin API's prefix).
pub(super) const PREFIX: &str = "/api/v1";

/// Unauthenticated: Caddy sends no credentials.
pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new().routes(routes!(ask))
}

// Unknown parameters are ignored, unlike elsewhere in the API: an operator
// may put their own in the `ask` URL, and Caddy appends `domain` to them.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AskQuery {
    /// The host name a TLS client asked for (SNI), without a port.
    #[param(required = true, example = "shop.example.com")]
    domain: Option<String>,
}

/// The answer when the domain is claimed.
#[derive(Serialize, ToSchema)]
struct Claimed {
    /// The domain as dispatch sees it: lower case, punycode, no trailing dot.
    domain: String,
}

/// Whether Caddy may obtain a certificate for `domain`: 200 when an app
/// claims it (exactly, or through a `{label}` wildcard pattern), 404 when no
/// app does. Answers from the routing tables in memory.
#[utoipa::path(get, path = "/tls/ask", tag = "tls", params(AskQuery),
    responses(
        (status = 200, description = "An app claims the domain", body = Claimed),
        (status = 400, description = "`invalid_domain`: `domain` is missing, has a port, or is not a host name; `invalid_query`: the query string is malformed", body = ErrorBody),
        (status = 404, description = "`not_found`: no app claims the domain", body = ErrorBody),
    ))]
async fn ask(
    State(m): State<Manager>,
    ApiQuery(query): ApiQuery<AskQuery>,
) -> Result<Json<Claimed>> {
    let domain = domain_name(query.domain.as_deref())?;
    // Which route would serve does not matter, only whether an app claims
    // the host, so any method and path will do.
    match m.routing.resolve(&domain, "GET", "/") {
        Err(Miss::UnknownHost { .. }) => Err(Error::not_found("domain claim", domain)),
        Err(Miss::InvalidHost { message }) => {
            Err(Error::bad_request(ErrorCode::InvalidDomain, message))
        }
        Ok(_) | Err(Miss::NoRoute { .. } | Miss::MethodNotAllowed { .. }) => {
            Ok(Json(Claimed { domain }))
        }
    }
}

/// `domain` normalized as dispatch normalizes a `Host`, or why it is not a
/// domain name.
fn domain_name(raw: Option<&str>) -> Result<String> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(Error::bad_request(
            ErrorCode::InvalidDomain,
            "the `domain` query parameter is required, e.g. ?domain=shop.example.com",
        ));
    }
    // A certificate names a host, never a port; `normalize_host` accepts a
    // `Host` header and would drop the port without a word.
    if raw.contains([':', '[', ']']) {
        return Err(Error::bad_request(
            ErrorCode::InvalidDomain,
            format!("'{raw}' is not a domain name: give the host name alone, without a port"),
        ));
    }
    normalize_host(raw).map_err(|message| Error::bad_request(ErrorCode::InvalidDomain, message))
}
