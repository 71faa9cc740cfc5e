//! Devices: `GET /v1/sessions`, `DELETE /v1/sessions/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{Authenticated, Credential};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::routes::session::clear_session_cookie;
use crate::routes::token::clear_token_cookies;
use crate::view::SessionView;

/// Every signed-in device of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// List the caller's signed-in devices of both kinds (cookie sessions and refresh families), oldest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "either mode", security(("bearer" = []), ("access_cookie" = []), ("session_cookie" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<SessionList>> {
    let devices = state.tessera.devices(auth.user.id).await?;
    let sid = auth.sid();
    Ok(Json(SessionList {
        sessions: devices
            .iter()
            .map(|d| SessionView::of_device(d, sid.as_deref()))
            .collect(),
    }))
}

/// Revoke one of the caller's sessions or refresh families (its access tokens are denied too).
/// Revoking the current cookie session also clears its cookie.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "either mode", security(("bearer" = []), ("access_cookie" = []), ("session_cookie" = [])),
    params(
        ("id" = String, Path, description = "A session handle from `GET /v1/sessions`"),
        ("X-CSRF-Token" = String, Header, description = "The csrf_token from login"),
    ),
    responses(
        (status = 204, description = "Revoked; refused from now on"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing or wrong CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of the caller's (another user's id included)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if !state.tessera.revoke_device(auth.user.id, &id).await? {
        return Err(ApiError::not_found("you have no session with this id"));
    }
    tracing::info!(user = %auth.user.id, session = %id, "session revoked");
    if matches!(auth.credential, Credential::Session { .. })
        && auth.sid().as_deref() == Some(id.as_str())
    {
        return Ok((
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, clear_session_cookie(&state.http)?)],
        )
            .into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Log out everywhere: every session, every refresh family and every access token of the
/// caller issued before now, on every node. Clears this client's cookies.
#[utoipa::path(post, path = "/v1/logout-all", tag = "either mode",
    security(("bearer" = []), ("access_cookie" = []), ("session_cookie" = [])),
    params(("X-CSRF-Token" = Option<String>, Header, description = "Needed when a cookie authenticates the request")),
    responses(
        (status = 204, description = "Everything revoked; cookies cleared"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout_all(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    state.tessera.logout_all(auth.user.id).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&state.http)?);
    for c in clear_token_cookies(&state.http)? {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}
