//! `POST /v1/password`: change the password, ending every other session.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::{Authenticated, ClientInfo, JsonBody};
use crate::problem::{ApiResult, Problem};

/// The current and the new password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    #[schema(format = Password)]
    pub current_password: String,
    /// 8 to 1024 bytes.
    #[schema(format = Password)]
    pub new_password: String,
}

/// Change the password; every other session and refresh family of the user ends, the caller's stays.
#[utoipa::path(post, path = "/v1/password", tag = "either mode", request_body = PasswordChange,
    security(("bearer" = []), ("access_cookie" = []), ("session_cookie" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The csrf_token from login")),
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "New password length out of range", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or the current password is wrong (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    auth: Authenticated,
    JsonBody(body): JsonBody<PasswordChange>,
) -> ApiResult<StatusCode> {
    state
        .tessera
        .change_password(
            &auth.user,
            body.current_password,
            body.new_password,
            auth.keep(),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
