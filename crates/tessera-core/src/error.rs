//! The domain's one error type, and the stable codes the HTTP layer turns into problem+json.

use std::time::Duration;

use crate::store::StoreError;

/// Stable, machine-readable error codes (API.md "Error codes"). Clients match on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidCredentials,
    Unauthorized,
    InvalidGrant,
    TokenExpired,
    TokenRevoked,
    RefreshReused,
    CsrfFailed,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 16] = [
        Self::InvalidRequest,
        Self::InvalidCredentials,
        Self::Unauthorized,
        Self::InvalidGrant,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::RefreshReused,
        Self::CsrfFailed,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthorized => "unauthorized",
            Self::InvalidGrant => "invalid_grant",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::RefreshReused => "refresh_reused",
            Self::CsrfFailed => "csrf_failed",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::InvalidCredentials
            | Self::Unauthorized
            | Self::InvalidGrant
            | Self::TokenExpired
            | Self::TokenRevoked
            | Self::RefreshReused => 401,
            Self::CsrfFailed => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// A short human title (RFC 9457 `title`), the same for every occurrence of the code.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is not valid",
            Self::InvalidCredentials => "Wrong email or password",
            Self::Unauthorized => "Not signed in",
            Self::InvalidGrant => "The grant is not valid",
            Self::TokenExpired => "The token has expired",
            Self::TokenRevoked => "The token has been revoked",
            Self::RefreshReused => "A used refresh token was presented again",
            Self::CsrfFailed => "CSRF check failed",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Request body too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::RateLimited => "Too many attempts",
            Self::Internal => "Internal error",
            Self::Unavailable => "Service unavailable",
        }
    }
}

/// What can go wrong in the domain. Each variant has exactly one [`ErrorCode`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule; the message says which, and is safe to show to the client.
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// No live credential was presented.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Something already exists (an email that is taken).
    #[error("{0}")]
    Conflict(String),
    /// An unknown, expired or revoked refresh token (or another grant that is not valid).
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// A refresh token used after its rotation (outside the grace): its family is revoked.
    #[error("this refresh token was already used; every token of its login has been revoked")]
    RefreshReused,
    /// An access token that does not verify (bad signature, wrong claims, expired, …).
    #[error("{0}")]
    InvalidToken(crate::token::TokenError),
    /// A valid access token that was revoked.
    #[error("the access token has been revoked")]
    TokenRevoked,
    /// The thing does not exist, or is not the caller's to see.
    #[error("{0}")]
    NotFound(&'static str),
    /// Too many failed attempts; try again after the given time.
    #[error("too many failed attempts; retry after {} s", retry_after.as_secs())]
    RateLimited {
        /// How long until the limit resets.
        retry_after: Duration,
    },
    /// A store could not answer. The request changed nothing it reports as changed.
    #[error("a store is unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or an impossible state; details go to the log, not to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::InvalidGrant(_) => ErrorCode::InvalidGrant,
            Self::RefreshReused => ErrorCode::RefreshReused,
            Self::InvalidToken(e) => e.code(),
            Self::TokenRevoked => ErrorCode::TokenRevoked,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Error::Unavailable(e),
            StoreError::Conflict(what) => Error::Conflict(what),
            StoreError::Corrupt(what) => {
                Error::Internal(format!("store returned bad data: {what}"))
            }
        }
    }
}
