//! Session mode: `POST /v1/session/login`, `GET /v1/session`, `POST /v1/session/logout`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::session::{SessionRecord, csrf_token};
use utoipa::ToSchema;

use crate::cookie::{SameSite, clear_cookie, set_cookie};
use crate::extract::{
    Authenticated, ClientInfo, Credential, JsonBody, bearer_token, session_credential,
    session_secret,
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
    set_cookie(http, &http.cookie_name, value, SameSite::Lax, "/", max_age)
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_session_cookie(http: &HttpConfig) -> Result<HeaderValue, ApiError> {
    clear_cookie(http, &http.cookie_name, SameSite::Lax, "/")
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
        user: UserView::from(user),
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
pub async fn current(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<CurrentSession>> {
    let (auth, record) = session_auth(&state, &headers).await?;
    Ok(Json(CurrentSession {
        user: UserView::from(&auth.user),
        session: SessionView::new(&record, true),
        csrf_token: auth.csrf_token(&state).unwrap_or_default(),
    }))
}

/// The caller, who must be authenticated by the session cookie (not a token).
async fn session_auth(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<(Authenticated, SessionRecord)> {
    let no_session = || ApiError::unauthorized("sign in first: no live session cookie was sent");
    // A Bearer header is about tokens; only the cookie says which session this is, whatever
    // access cookie came along.
    if bearer_token(headers).is_some() {
        return Err(no_session());
    }
    let auth = session_credential(headers, state)
        .await?
        .ok_or_else(no_session)?;
    match &auth.credential {
        Credential::Session { record, .. } => {
            let record = SessionRecord::clone(record);
            Ok((auth, record))
        }
        _ => Err(no_session()),
    }
}

/// Mint a short-lived access token for the current session (session → JWT), so a browser
/// session can call JWT-only APIs. The token's `sid` is the session: ending the session denies it.
#[utoipa::path(post, path = "/v1/session/token", tag = "session", security(("session_cookie" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The csrf_token from login")),
    responses(
        (status = 200, body = MintedToken),
        (status = 401, description = "No live session cookie", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing or wrong CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn exchange(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Json<MintedToken>> {
    let (auth, record) = session_auth(&state, &headers).await?;
    auth.check_csrf(&state, &method, &headers)?;
    let (access_token, claims) = state
        .tessera
        .tokens
        .mint(auth.user.id, &record.id.to_string())?;
    tracing::info!(user = %auth.user.id, session = %record.id, "session exchanged for an access token");
    Ok(Json(MintedToken {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
    }))
}

/// An access token minted for a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct MintedToken {
    /// A JWT (`typ: at+jwt`).
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// End the current session and clear the cookie. Idempotent: without a live session it
/// still answers 204 and clears the cookie.
#[utoipa::path(post, path = "/v1/session/logout", tag = "session", security(("session_cookie" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The csrf_token from login")),
    responses(
        (status = 204, description = "Logged out; the cookie is cleared (`Max-Age=0`)"),
        (status = 403, description = "Missing or wrong CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Ok((auth, record)) = session_auth(&state, &headers).await {
        auth.check_csrf(&state, &method, &headers)?;
        state.tessera.end_session(auth.user.id, record.id).await?;
        tracing::info!(user = %auth.user.id, session = %record.id, "session logout");
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_session_cookie(&state.http)?)],
    )
        .into_response())
}
