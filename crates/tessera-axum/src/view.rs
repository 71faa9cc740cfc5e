//! How domain objects look in the API's JSON. One place, so every endpoint shows a user or a
//! session the same way.

use serde::Serialize;
use tessera_core::account::User;
use tessera_core::refresh::RefreshFamily;
use tessera_core::session::SessionRecord;
use tessera_core::tessera::DeviceSession;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// RFC 3339 in UTC, whole seconds.
///
/// Written by hand: every authenticated response carries one, and the general formatter of
/// `time` showed up in profiles of the hot path. The test below checks it against `time`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return t
            .format(&Rfc3339)
            .unwrap_or_else(|_| t.unix_timestamp().to_string());
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_the_general_formatter_in_utc_whole_seconds() {
        for unix in [
            0_i64,
            1,
            59,
            951_782_400,
            1_767_225_600,
            1_796_405_541,
            253_402_300_799,
        ] {
            let t = OffsetDateTime::from_unix_timestamp(unix).unwrap();
            assert_eq!(rfc3339(t), t.format(&Rfc3339).unwrap(), "{unix}");
        }
        let offset = OffsetDateTime::from_unix_timestamp(0)
            .unwrap()
            .to_offset(time::macros::offset!(+2));
        assert_eq!(rfc3339(offset), "1970-01-01T00:00:00Z");
    }
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: String,
    /// The normalised (trimmed, lower-case) email.
    pub email: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
        }
    }
}

/// A session as listed to its owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Public handle, for `DELETE /v1/sessions/{id}`. Not the cookie secret.
    pub id: String,
    /// `session` (a cookie session) or `token` (a refresh family from `/v1/token`).
    #[schema(example = "session")]
    pub kind: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// Absolute expiry.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Idle expiry (slides with use, in steps of the touch interval).
    #[schema(format = DateTime)]
    pub idle_expires_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl SessionView {
    /// The view of a device of either kind; `current` when its id is the caller's `sid`.
    pub fn of_device(d: &DeviceSession, current_sid: Option<&str>) -> Self {
        match d {
            DeviceSession::Session(s) => {
                Self::new(s, current_sid == Some(s.id.to_string().as_str()))
            }
            DeviceSession::Token(f) => {
                Self::of_family(f, current_sid == Some(f.id.to_string().as_str()))
            }
        }
    }

    /// The view of a refresh family. A family has no idle timeout apart from its refresh
    /// expiry, which slides with every refresh: both expiry fields show it.
    pub fn of_family(f: &RefreshFamily, current: bool) -> Self {
        Self {
            id: f.id.to_string(),
            kind: "token",
            created_at: rfc3339(f.created_at),
            last_seen_at: rfc3339(f.last_used_at),
            expires_at: rfc3339(f.expires_at),
            idle_expires_at: rfc3339(f.expires_at),
            user_agent: f.device.user_agent.clone(),
            ip: f.device.ip.clone(),
            current,
        }
    }

    /// The view of a session; `current` when it is the caller's own.
    pub fn new(s: &SessionRecord, current: bool) -> Self {
        Self {
            id: s.id.to_string(),
            kind: "session",
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(s.expires_at),
            idle_expires_at: rfc3339(s.idle_expires_at),
            user_agent: s.device.user_agent.clone(),
            ip: s.device.ip.clone(),
            current,
        }
    }
}
