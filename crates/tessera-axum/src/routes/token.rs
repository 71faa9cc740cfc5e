//! JWT mode: `POST /v1/token` (password and refresh grants), `POST /v1/token/revoke`
//! (RFC 7009), `POST /v1/token/introspect` (RFC 7662).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_core::Error;
use tessera_core::jwt::{Introspected, Issued};
use utoipa::ToSchema;

use crate::cookie::{SameSite, clear_cookie, set_cookie};
use crate::extract::{
    ACCESS_COOKIE, ClientInfo, FormOrJson, JsonBody, REFRESH_COOKIE, bearer_is, cookie,
};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::view::rfc3339;
use crate::{AppState, HttpConfig};

/// The refresh cookie is only ever sent to the token endpoint.
const REFRESH_PATH: &str = "/v1/token";

/// A token request: a password grant (`email`, `password`) or a refresh grant.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password` (the default when `email` is given) or `refresh_token`.
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    pub email: Option<String>,
    #[schema(format = Password)]
    pub password: Option<String>,
    /// For the refresh grant; may be omitted when the `tessera_refresh` cookie is sent.
    pub refresh_token: Option<String>,
    /// `cookie`: set the tokens as HttpOnly cookies instead of returning them.
    #[schema(example = "body")]
    pub delivery: Option<String>,
}

/// Tokens for the client. With cookie delivery, both tokens are omitted (they are in
/// `Set-Cookie`) and `csrf_token` is given instead.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT (`typ: at+jwt`); absent with cookie delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque, single use; absent with cookie delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires unless used.
    #[schema(example = 2592000)]
    pub refresh_expires_in: i64,
    /// With cookie delivery: send as `X-CSRF-Token` on unsafe requests authenticated by the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// The `Set-Cookie` values that clear JWT mode's cookies.
pub fn clear_token_cookies(http: &HttpConfig) -> ApiResult<[HeaderValue; 2]> {
    Ok([
        clear_cookie(http, ACCESS_COOKIE, SameSite::Lax, "/")?,
        clear_cookie(http, REFRESH_COOKIE, SameSite::Strict, REFRESH_PATH)?,
    ])
}

/// Log in for tokens, or refresh them.
#[utoipa::path(post, path = "/v1/token", tag = "jwt", request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens (or, with `delivery: cookie`, `Set-Cookie: tessera_access=…; tessera_refresh=…`)", body = TokenResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`, `invalid_grant` (unknown, expired or revoked refresh token) or `refresh_reused` (the family is now revoked)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins (`rate_limited`), with `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn token(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TokenRequest>,
) -> ApiResult<Response> {
    let grant = body
        .grant_type
        .as_deref()
        .unwrap_or(if body.email.is_some() {
            "password"
        } else {
            "refresh_token"
        });
    let cookie_refresh = cookie(&headers, REFRESH_COOKIE);
    let (issued, user_for_log) = match grant {
        "password" => {
            let (Some(email), Some(password)) = (body.email, body.password) else {
                return Err(ApiError::invalid_request(
                    "the password grant needs email and password",
                ));
            };
            let (user, issued) = state.tessera.token_login(&email, password, &client).await?;
            (issued, Some(user.id))
        }
        "refresh_token" => {
            let presented = body
                .refresh_token
                .as_deref()
                .or(cookie_refresh)
                .ok_or_else(|| {
                    ApiError::invalid_request(
                        "the refresh grant needs refresh_token (or the tessera_refresh cookie)",
                    )
                })?;
            match state.tessera.tokens.refresh(presented).await {
                Ok(issued) => (issued, None),
                Err(e @ (Error::RefreshReused | Error::InvalidGrant(_)))
                    if cookie_refresh.is_some() =>
                {
                    // The cookies are dead: clear them along with the error.
                    let mut res = ApiError::from(e).into_response();
                    for c in clear_token_cookies(&state.http)? {
                        res.headers_mut().append(header::SET_COOKIE, c);
                    }
                    return Ok(res);
                }
                Err(e) => return Err(e.into()),
            }
        }
        other => {
            return Err(ApiError::invalid_request(format!(
                "unsupported grant_type {other:?}: use \"password\" or \"refresh_token\""
            )));
        }
    };
    // A refresh through the cookie keeps the cookie delivery.
    let cookies = match body.delivery.as_deref() {
        Some("cookie") => true,
        Some("body") => false,
        None => grant == "refresh_token" && body.refresh_token.is_none(),
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "unknown delivery {other:?}: use \"body\" or \"cookie\""
            )));
        }
    };
    if let Some(user) = user_for_log {
        tracing::info!(user = %user, "token login");
    }
    respond(&state, issued, cookies)
}

fn respond(state: &AppState, issued: Issued, cookies: bool) -> ApiResult<Response> {
    let policy = state.tessera.tokens.policy();
    let expires_in = issued.claims.exp - issued.claims.iat;
    let (refresh, family) = issued
        .refresh
        .ok_or_else(|| ApiError::from(Error::Internal("a grant without a refresh token".into())))?;
    let now = state.tessera.clock().now();
    let refresh_expires_in = (family.expires_at - now).whole_seconds().max(0);
    if !cookies {
        let body = TokenResponse {
            access_token: Some(issued.access_token),
            token_type: "Bearer",
            expires_in,
            refresh_token: Some(refresh.expose().to_owned()),
            refresh_expires_in,
            csrf_token: None,
        };
        return Ok(Json(body).into_response());
    }
    let access = set_cookie(
        &state.http,
        ACCESS_COOKIE,
        &issued.access_token,
        SameSite::Lax,
        "/",
        policy.access_ttl.whole_seconds(),
    )?;
    let refresh = set_cookie(
        &state.http,
        REFRESH_COOKIE,
        refresh.expose(),
        SameSite::Strict,
        REFRESH_PATH,
        refresh_expires_in,
    )?;
    let body = TokenResponse {
        access_token: None,
        token_type: "Bearer",
        expires_in,
        refresh_token: None,
        refresh_expires_in,
        csrf_token: Some(state.tessera.tokens.csrf_token(&family.id.to_string())),
    };
    let mut res = Json(body).into_response();
    res.headers_mut().append(header::SET_COOKIE, access);
    res.headers_mut().append(header::SET_COOKIE, refresh);
    Ok(res)
}

/// An RFC 7009 / RFC 7662 request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenParam {
    /// An access token or a refresh token.
    pub token: String,
    /// `access_token` or `refresh_token`; a hint only (the token's shape decides).
    pub token_type_hint: Option<String>,
}

/// Revoke a token (RFC 7009). A refresh token revokes its whole family (and the family's
/// access tokens); an access token is denied until it would have expired. Always 200.
#[utoipa::path(post, path = "/v1/token/revoke", tag = "jwt",
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or was not a live token of ours"),
        (status = 400, description = "No `token`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    FormOrJson(body): FormOrJson<TokenParam>,
) -> ApiResult<StatusCode> {
    if body.token.len() > 8 * 1024 {
        // Not a token of ours; RFC 7009 answers 200 for tokens it does not know.
        return Ok(StatusCode::OK);
    }
    state.tessera.tokens.revoke(&body.token).await?;
    Ok(StatusCode::OK)
}

/// Introspect a token (RFC 7662). Needs `Authorization: Bearer <introspection_secret>`.
/// Anything that is not a live token is exactly `{"active": false}`.
#[utoipa::path(post, path = "/v1/token/introspect", tag = "jwt",
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    security(("introspection_secret" = [])),
    responses(
        (status = 200, description = "`{\"active\": true, \"sub\", \"exp\", \"iat\", \"jti\", \"token_type\", …}` or `{\"active\": false}`", body = Object),
        (status = 401, description = "Missing or wrong introspection secret", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormOrJson(body): FormOrJson<TokenParam>,
) -> ApiResult<Json<Value>> {
    let authorized = state
        .http
        .introspection_secret
        .as_ref()
        .is_some_and(|secret| bearer_is(&headers, secret));
    if !authorized {
        let detail = if state.http.introspection_secret.is_some() {
            "send Authorization: Bearer <introspection_secret>"
        } else {
            "introspection is disabled: set introspection_secret in the configuration"
        };
        return Err(ApiError::bearer(Error::Unauthorized(detail)));
    }
    if body.token.len() > 8 * 1024 {
        return Ok(Json(json!({"active": false})));
    }
    let policy = state.tessera.tokens.policy();
    Ok(Json(
        match state.tessera.tokens.introspect(&body.token).await? {
            None => json!({"active": false}),
            Some(Introspected::Access(c)) => json!({
                "active": true,
                "token_type": "access_token",
                "sub": c.sub,
                "iss": c.iss,
                "aud": c.aud,
                "exp": c.exp,
                "iat": c.iat,
                "jti": c.jti,
                "sid": c.sid,
            }),
            Some(Introspected::Refresh(f)) => json!({
                "active": true,
                "token_type": "refresh_token",
                "sub": f.user_id.to_string(),
                "iss": policy.issuer,
                "exp": f.expires_at.unix_timestamp(),
                "iat": f.rotated_at.unix_timestamp(),
                "jti": format!("{}.{}", f.id, f.generation),
                "sid": f.id.to_string(),
                "last_used_at": rfc3339(f.last_used_at),
            }),
        },
    ))
}
