//! `GET /v1/me`: who is calling, in either mode.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
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
pub async fn me(auth: Authenticated) -> Me {
    let auth_view = AuthView {
        mode: auth.mode(),
        expires_at: Timestamp(auth.expires_at()),
    };
    Me {
        user: UserView::from(auth.user),
        auth: auth_view,
    }
}

impl Me {
    /// The JSON body, the same bytes as serde's compact output (the test below holds them to
    /// it), written directly: `/v1/me` is the endpoint every client calls on every page, and
    /// the general serialiser (growing its buffer, escaping the id and the time character by
    /// character) was a third of what the handler cost.
    fn to_json(&self) -> Vec<u8> {
        const OPEN: &[u8] = br#"{"user":{"id":""#;
        const EMAIL: &[u8] = br#"","email":"#;
        const AUTH: &[u8] = br#"},"auth":{"mode":"#;
        const EXPIRES: &[u8] = br#","expires_at":"#;
        const CLOSE: &[u8] = b"}}";
        let email = self.user.email.as_str();
        let mode = self.auth.mode;
        // Exact when nothing needs escaping (the usual case): a full buffer becomes the
        // response body without another allocation.
        let capacity = OPEN.len()
            + uuid::fmt::Hyphenated::LENGTH
            + EMAIL.len()
            + email.len()
            + 2
            + AUTH.len()
            + mode.len()
            + 2
            + EXPIRES.len()
            + 22
            + CLOSE.len();
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(OPEN);
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        out.extend_from_slice(
            self.user
                .id
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut id)
                .as_bytes(),
        );
        out.extend_from_slice(EMAIL);
        json_string(&mut out, email);
        out.extend_from_slice(AUTH);
        json_string(&mut out, mode);
        out.extend_from_slice(EXPIRES);
        match self.auth.expires_at.digits() {
            Some(d) => {
                out.push(b'"');
                out.extend_from_slice(&d);
                out.push(b'"');
            }
            None => json_string(&mut out, &self.auth.expires_at.to_string()),
        }
        out.extend_from_slice(CLOSE);
        out
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail, and a &str always serialises.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

impl IntoResponse for Me {
    fn into_response(self) -> Response {
        // Built directly: a `(headers, Vec)` tuple would set a default content type first.
        let mut response = Response::new(Body::from(self.to_json()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use tessera_core::account::{Email, User};
    use tessera_core::id::UserId;
    use time::OffsetDateTime;

    use super::*;
    use crate::view::UserView;

    #[test]
    fn the_written_body_is_what_serde_writes() {
        for (email, mode, unix) in [
            ("ada@example.com", "jwt", 1_796_405_541_i64),
            ("o'brien+tag@example.com", "session", 0),
            (r#""quoted\local"@example.com"#, "jwt", 253_402_300_799),
            ("ünïcödé@exämple.com\u{7f}\u{1}", "session", 1),
        ] {
            // A stored email is trusted as it is: the body must escape whatever it holds.
            let user = Arc::new(User {
                id: UserId::new(),
                email: Email::from_trusted(email.to_owned()),
                created_at: OffsetDateTime::UNIX_EPOCH,
            });
            let me = Me {
                user: UserView::from(&user),
                auth: AuthView {
                    mode,
                    expires_at: Timestamp(OffsetDateTime::from_unix_timestamp(unix).unwrap()),
                },
            };
            let body = me.to_json();
            if !email.contains(['"', '\\']) && !email.chars().any(char::is_control) {
                assert_eq!(body.len(), body.capacity(), "{email}: not sized exactly");
            }
            let written = String::from_utf8(body).unwrap();
            assert_eq!(written, serde_json::to_string(&me).unwrap());
            let back: serde_json::Value = serde_json::from_str(&written).unwrap();
            assert_eq!(back["user"]["email"], email);
        }
    }
}
