//! Session mode: `POST /v1/session/login`, `GET /v1/session`, `POST /v1/session/logout`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::secret::ct_eq_str;
use tessera_core::session::csrf_token;
use utoipa::ToSchema;

use crate::extract::{
    Authenticated, CSRF_HEADER, ClientInfo, JsonBody, authenticate, session_secret,
};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::view::{SessionView, UserView, rfc3339};
use crate::{AppState, HttpConfig};

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    #[schema(example = "a@example.com")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

/// The session just started.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginSession {
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub idle_expires_at: String,
}

/// A successful login. The secret is only in the `Set-Cookie` header.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
    pub session: LoginSession,
    /// Send as `X-CSRF-Token` on every cookie-authenticated POST, PUT, PATCH, DELETE.
    pub csrf_token: String,
}

/// The current session.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentSession {
    pub user: UserView,
    pub session: SessionView,
    pub csrf_token: String,
}

/// The `Set-Cookie` value that gives the client its session secret.
fn session_cookie(http: &HttpConfig, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = if http.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}",
        http.cookie_name
    ))
    .map_err(|_| {
        ApiError::from(tessera_core::Error::Internal(
            "cookie name is not header-safe".into(),
        ))
    })
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_session_cookie(http: &HttpConfig) -> Result<HeaderValue, ApiError> {
    session_cookie(http, "", 0)
}

/// Log in with email and password; get a session cookie.
#[utoipa::path(post, path = "/v1/session/login", tag = "session", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; `Set-Cookie: tessera_session=…; HttpOnly; SameSite=Lax; Path=/`", body = LoginResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown email or wrong password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures (`rate_limited`), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> ApiResult<Response> {
    // Whatever cookie came with the request is replaced, and its session ended (no fixation).
    let presented = session_secret(&headers, &state);
    let (user, new) = state
        .tessera
        .login(&body.email, body.password, &client, presented.as_ref())
        .await?;
    let max_age = (new.record.expires_at - new.record.created_at).whole_seconds();
    let cookie = session_cookie(&state.http, new.secret.expose(), max_age)?;
    tracing::info!(user = %user.id, session = %new.record.id, "session login");
    let body = LoginResponse {
        user: UserView::from(&user),
        session: LoginSession {
            id: new.record.id.to_string(),
            created_at: rfc3339(new.record.created_at),
            expires_at: rfc3339(new.record.expires_at),
            idle_expires_at: rfc3339(new.record.idle_expires_at),
        },
        csrf_token: csrf_token(&new.secret),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The current session.
#[utoipa::path(get, path = "/v1/session", tag = "session", security(("session_cookie" = [])),
    responses(
        (status = 200, body = CurrentSession),
        (status = 401, description = "No live session (`unauthorized`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn current(auth: Authenticated) -> Json<CurrentSession> {
    Json(CurrentSession {
        user: UserView::from(&auth.user),
        session: SessionView::new(&auth.session, true),
        csrf_token: auth.csrf_token(),
    })
}

/// End the current session and clear the cookie. Idempotent: without a live session it
/// still answers 204 and clears the cookie.
#[utoipa::path(post, path = "/v1/session/logout", tag = "session", security(("session_cookie" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The csrf_token from login")),
    responses(
        (status = 204, description = "Logged out; the cookie is cleared (`Max-Age=0`)"),
        (status = 403, description = "Missing or wrong CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(auth) = authenticate(&headers, &state).await? {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct_eq_str(presented, &auth.csrf_token()) {
            return Err(ApiError::csrf_failed());
        }
        state
            .tessera
            .sessions
            .revoke(auth.user.id, auth.session.id)
            .await?;
        tracing::info!(user = %auth.user.id, session = %auth.session.id, "session logout");
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_session_cookie(&state.http)?)],
    )
        .into_response())
}
