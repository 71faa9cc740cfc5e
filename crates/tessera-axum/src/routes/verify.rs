//! `GET /v1/verify`: forward authentication for reverse proxies (nginx `auth_request`,
//! Traefik ForwardAuth, Caddy `forward_auth`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::extract::authenticate;
use crate::problem::{ApiError, ApiResult, Problem};

/// 200 with `X-Tessera-User`, `X-Tessera-Email`, `X-Tessera-Mode` for a live credential of
/// either kind; 401 otherwise. When the proxy passes the original method
/// (`X-Forwarded-Method`, as Traefik and Caddy do) and it is unsafe, a cookie credential also
/// needs the original request's `X-CSRF-Token`, so the proxy gets CSRF protection for free.
#[utoipa::path(get, path = "/v1/verify", tag = "either mode",
    security(("bearer" = []), ("access_cookie" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Authenticated; see the X-Tessera-* headers"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Unsafe forwarded method without the CSRF token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let auth = authenticate(&headers, &state)
        .await?
        .ok_or_else(|| ApiError::unauthorized("no live session cookie or access token"))?;
    let forwarded = headers
        .get("x-forwarded-method")
        .and_then(|v| v.to_str().ok())
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(Method::GET);
    auth.check_csrf(&state, &forwarded, &headers)?;
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-tessera-user", &auth.user.id.to_string());
    set("x-tessera-email", auth.user.email.as_str());
    set("x-tessera-mode", auth.mode());
    Ok(res)
}
