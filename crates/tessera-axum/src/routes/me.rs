//! `GET /v1/me`: who is calling, in either mode.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::Authenticated;
use crate::problem::Problem;
use crate::view::{Timestamp, UserView};

/// How the caller is authenticated.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthView {
    /// `session` or `jwt`.
    #[schema(example = "session")]
    pub mode: &'static str,
    /// When the credential stops working if nothing else happens (for a session, the earlier
    /// of its idle and absolute expiry).
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    pub auth: AuthView,
}

/// The caller and how they are signed in.
#[utoipa::path(get, path = "/v1/me", tag = "either mode", security(("bearer" = []), ("access_cookie" = []), ("session_cookie" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "No live credential (`unauthorized`, `token_expired`, `token_revoked`); a rejected Bearer token also gets `WWW-Authenticate: Bearer error=\"invalid_token\"`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(auth: Authenticated) -> Json<Me> {
    Json(Me {
        user: UserView::from(&auth.user),
        auth: AuthView {
            mode: auth.mode(),
            expires_at: Timestamp(auth.expires_at()),
        },
    })
}
