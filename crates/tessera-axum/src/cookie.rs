//! `Set-Cookie` values: one builder, so every cookie we set carries the same hardening.

use axum::http::HeaderValue;
use tessera_core::Error;

use crate::HttpConfig;
use crate::problem::ApiError;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent on top-level navigations from other sites (a link to us works), not on their
    /// subrequests or POSTs.
    Lax,
    /// Never sent from other sites (the refresh cookie: only our own pages refresh).
    Strict,
}

/// `name=value; HttpOnly; SameSite=…; Path=…; Max-Age=…` plus `Secure` when the public URL is
/// https. `max_age` 0 deletes the cookie.
pub fn set_cookie(
    http: &HttpConfig,
    name: &str,
    value: &str,
    same_site: SameSite,
    path: &str,
    max_age: i64,
) -> Result<HeaderValue, ApiError> {
    let same_site = match same_site {
        SameSite::Lax => "Lax",
        SameSite::Strict => "Strict",
    };
    let secure = if http.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite={same_site}; Path={path}; Max-Age={max_age}{secure}"
    ))
    .map_err(|_| ApiError::from(Error::Internal(format!("cookie {name} is not header-safe"))))
}

/// The `Set-Cookie` value that deletes a cookie set with the same name and path.
pub fn clear_cookie(
    http: &HttpConfig,
    name: &str,
    same_site: SameSite,
    path: &str,
) -> Result<HeaderValue, ApiError> {
    set_cookie(http, name, "", same_site, path, 0)
}
