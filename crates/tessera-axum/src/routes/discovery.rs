//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AppState;

/// How long clients may cache the key set. Short: a rotation publishes the next key well
/// before it signs, so a client refreshing this often never meets an unknown `kid`.
const JWKS_MAX_AGE: &str = "public, max-age=60";

/// The public keys that may have live tokens (RFC 7517). HS256 keys are never published.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "jwt",
    responses((status = 200, description = "`{\"keys\": [{\"kty\", \"kid\", \"alg\", \"use\": \"sig\", …}]}`", body = Object, content_type = "application/jwk-set+json")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = Json(state.tessera.tokens.jwks()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(JWKS_MAX_AGE),
    );
    res
}

/// Minimal discovery: the issuer, where the keys are, and what we sign with.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "jwt",
    responses((status = 200, body = Object)))]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let base = state.http.public_url.trim_end_matches('/');
    let policy = state.tessera.tokens.policy();
    let algs = ["EdDSA", "ES256", "RS256"];
    let body: Value = json!({
        "issuer": policy.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/v1/token"),
        "revocation_endpoint": format!("{base}/v1/token/revoke"),
        "introspection_endpoint": format!("{base}/v1/token/introspect"),
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": algs,
        "access_token_signing_alg_values_supported": algs,
        "signing_algorithm": policy.algorithm.as_str(),
    });
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(JWKS_MAX_AGE),
    );
    res
}
