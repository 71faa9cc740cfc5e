//! `GET /v1/me`: who is calling, in either mode.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::Authenticated;
use crate::problem::Problem;
use crate::view::{UserView, rfc3339};

/// How the caller is authenticated.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthView {
    /// `session` or `jwt`.
    #[schema(example = "session")]
    pub mode: &'static str,
    /// When the credential stops working if nothing else happens (for a session, the earlier
    /// of its idle and absolute expiry).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    pub auth: AuthView,
}

/// The caller and how they are signed in.
#[utoipa::path(get, path = "/v1/me", tag = "either mode", security(("session_cookie" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, description = "No live credential (`unauthorized`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(auth: Authenticated) -> Json<Me> {
    let expires = auth.session.idle_expires_at.min(auth.session.expires_at);
    Json(Me {
        user: UserView::from(&auth.user),
        auth: AuthView {
            mode: "session",
            expires_at: rfc3339(expires),
        },
    })
}
