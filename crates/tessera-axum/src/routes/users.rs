//! `POST /v1/users`: registration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::extract::JsonBody;
use crate::problem::{ApiResult, Problem};
use crate::view::rfc3339;

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// Compared case-insensitively after trimming; at most 254 bytes.
    #[schema(example = "a@example.com")]
    pub email: String,
    /// 8 to 1024 bytes.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

/// The account created.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub id: String,
    pub email: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Create an account.
#[utoipa::path(post, path = "/v1/users", tag = "accounts", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = CreatedUser),
        (status = 400, description = "Email not plausible or password length out of range (`invalid_request`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<impl IntoResponse> {
    let user = state
        .tessera
        .accounts
        .register(&body.email, body.password)
        .await?;
    tracing::info!(user = %user.id, "account created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            id: user.id.to_string(),
            email: user.email.to_string(),
            created_at: rfc3339(user.created_at),
        }),
    ))
}
