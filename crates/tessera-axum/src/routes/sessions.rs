//! Devices: `GET /v1/sessions`, `DELETE /v1/sessions/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::id::SessionId;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::Authenticated;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::routes::session::clear_session_cookie;
use crate::view::SessionView;

/// Every signed-in device of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// List the caller's live sessions, oldest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "session", security(("session_cookie" = [])),
    responses(
        (status = 200, body = SessionList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> ApiResult<Json<SessionList>> {
    let sessions = state.tessera.sessions.list(auth.user.id).await?;
    Ok(Json(SessionList {
        sessions: sessions
            .iter()
            .map(|s| SessionView::new(s, s.id == auth.session.id))
            .collect(),
    }))
}

/// Revoke one of the caller's sessions. Revoking the current one also clears its cookie.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "session", security(("session_cookie" = [])),
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
    let not_found = || ApiError::not_found("you have no session with this id");
    let id: SessionId = id.parse().map_err(|_| not_found())?;
    if !state.tessera.sessions.revoke(auth.user.id, id).await? {
        return Err(not_found());
    }
    tracing::info!(user = %auth.user.id, session = %id, "session revoked");
    if id == auth.session.id {
        return Ok((
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, clear_session_cookie(&state.http)?)],
        )
            .into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
