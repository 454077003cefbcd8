//! `/apps/{app}/emails`: the mail the app's scripts sent with
//! `email::send`, newest first, with each message's delivery status and
//! the relay's reply (never the body).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiQuery;
use super::apps::AppPath;
use super::openapi::ErrorBody;
use crate::store::EmailSend;
use crate::{Error, ErrorCode, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EmailQuery {
    /// Only messages in this state: `queued`, `sent` or `failed`.
    #[param(pattern = "^(queued|sent|failed)$")]
    status: Option<String>,
    /// At most this many, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The app's mail, newest first.
#[derive(Serialize, ToSchema)]
struct EmailList {
    /// Messages, newest first.
    emails: Vec<EmailSend>,
}

/// The mail the app's scripts sent, newest first: recipients, subject,
/// status (`queued`, `sent`, `failed`), attempts and the relay's last
/// reply. Records of delivered mail are kept as long as execution records.
#[utoipa::path(get, path = "/apps/{app}/emails", tag = "email",
    params(("app" = String, Path, description = "App id or slug"), EmailQuery),
    responses(
        (status = 200, description = "The messages", body = EmailList),
        (status = 400, description = "`invalid_field` (an unknown status) or `invalid_limit`", body = ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn list(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiQuery(q): ApiQuery<EmailQuery>,
) -> Result<Json<EmailList>> {
    if let Some(status) = q.status.as_deref()
        && !matches!(status, "queued" | "sent" | "failed")
    {
        return Err(Error::bad_request(
            ErrorCode::InvalidField,
            format!("status '{status}' is unknown: use queued, sent or failed"),
        ));
    }
    let limit = super::page_limit(Some(q.limit.unwrap_or(100)))?;
    let emails = m
        .store
        .list_emails(app.id, q.status.as_deref(), limit)
        .await?;
    Ok(Json(EmailList { emails }))
}
