//! The API's one error type and its problem+json (RFC 9457) form.
//!
//! Every error leaves as `{"type", "title", "status", "detail", "code"}` with
//! `Content-Type: application/problem+json`. `code` is stable (API.md "Error codes");
//! `type` is `urn:tessera:problem:<code>`, a URI that never has to resolve.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::{Error, ErrorCode};
use utoipa::ToSchema;

/// An error on its way to becoming a problem+json response.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    retry_after: Option<Duration>,
    allow: Option<HeaderValue>,
    bearer_challenge: bool,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:tessera:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary, the same for every occurrence of the code.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, for humans.
    pub detail: String,
    /// The stable machine-readable code.
    #[schema(example = "invalid_credentials")]
    pub code: &'static str,
}

impl ApiError {
    /// An error with a code and a detail message (shown to the client: no secrets, no internals).
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            retry_after: None,
            allow: None,
            bearer_challenge: false,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, detail)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    /// 403 `csrf_failed`.
    pub fn csrf_failed() -> Self {
        Self::new(
            ErrorCode::CsrfFailed,
            "a cookie-authenticated POST, PUT, PATCH or DELETE needs the X-CSRF-Token header with the csrf_token from login",
        )
    }

    /// 404 `not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    /// 405 with the allowed methods.
    pub fn method_not_allowed(allow: Option<HeaderValue>) -> Self {
        Self {
            allow,
            ..Self::new(
                ErrorCode::MethodNotAllowed,
                "this method is not allowed on this path",
            )
        }
    }

    /// An error caused by a Bearer token: a 401 also carries
    /// `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
    pub fn bearer(e: Error) -> Self {
        let mut err = Self::from(e);
        err.bearer_challenge = err.code.status() == 401;
        err
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        match e {
            Error::RateLimited { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(code, e.to_string())
            },
            Error::Unavailable(source) => {
                tracing::error!(error = %source, "store unavailable");
                Self::new(code, "a store did not answer; try again shortly")
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Self::new(code, "something went wrong on our side")
            }
            other => Self::new(code, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = Problem {
            kind: format!("urn:tessera:problem:{}", self.code.as_str()),
            title: self.code.title(),
            status: status.as_u16(),
            detail: self.detail,
            code: self.code.as_str(),
        };
        let mut res = (status, Json(body)).into_response();
        // For the metrics middleware (`tessera_http_errors_total`).
        res.extensions_mut().insert(self.code);
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(after) = self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, allow);
        }
        if self.bearer_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        res
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
