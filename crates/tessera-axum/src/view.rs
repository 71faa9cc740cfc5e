//! How domain objects look in the API's JSON. One place, so every endpoint shows a user or a
//! session the same way.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use tessera_core::account::User;
use tessera_core::id::UserId;
use tessera_core::refresh::RefreshFamily;
use tessera_core::session::SessionRecord;
use tessera_core::tessera::DeviceSession;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// RFC 3339 in UTC, whole seconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    Timestamp(t).to_string()
}

/// A time as the API writes it: RFC 3339 in UTC, whole seconds. Serialises as that string
/// without allocating.
///
/// Written by hand: every authenticated response carries one, and the general formatter of
/// `time` showed up in profiles of the hot path. The test below checks it against `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub OffsetDateTime);

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SSZ`, or `None` outside years 0 to 9999 (which need more digits).
    pub(crate) fn digits(self) -> Option<[u8; 20]> {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        let year = u16::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut out = *b"0000-00-00T00:00:00Z";
        let two = |out: &mut [u8; 20], at: usize, v: u8| {
            out[at] = b'0' + v / 10;
            out[at + 1] = b'0' + v % 10;
        };
        two(&mut out, 0, u8::try_from(year / 100).ok()?);
        two(&mut out, 2, u8::try_from(year % 100).ok()?);
        two(&mut out, 5, u8::from(t.month()));
        two(&mut out, 8, t.day());
        two(&mut out, 11, t.hour());
        two(&mut out, 14, t.minute());
        two(&mut out, 17, t.second());
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digits() {
            // Only ASCII digits and separators were written.
            Some(d) => f.write_str(std::str::from_utf8(&d).map_err(|_| fmt::Error)?),
            None => {
                let t = self.0.to_offset(time::UtcOffset::UTC);
                match t.format(&Rfc3339) {
                    Ok(s) => f.write_str(&s),
                    Err(_) => write!(f, "{}", t.unix_timestamp()),
                }
            }
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The common case as a plain string; the rest through `Display`.
        if let Some(d) = self.digits()
            && let Ok(s) = std::str::from_utf8(&d)
        {
            serializer.serialize_str(s)
        } else {
            serializer.collect_str(self)
        }
    }
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

/// A user. Shares the user (`Arc`) rather than copying its fields into strings: every
/// `/v1/me` builds one.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The user's id.
    #[schema(value_type = String)]
    pub id: UserId,
    /// The normalised (trimmed, lower-case) email.
    #[schema(value_type = String)]
    pub email: SharedEmail,
}

/// A user's email, serialised from the shared user without copying it.
#[derive(Debug, Clone)]
pub struct SharedEmail(Arc<User>);

impl SharedEmail {
    pub fn as_str(&self) -> &str {
        self.0.email.as_str()
    }
}

impl Serialize for SharedEmail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.email.as_str())
    }
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self::from(&Arc::new(u))
    }
}

impl From<&Arc<User>> for UserView {
    fn from(u: &Arc<User>) -> Self {
        Self::from(u.clone())
    }
}

impl From<Arc<User>> for UserView {
    fn from(u: Arc<User>) -> Self {
        Self {
            id: u.id,
            email: SharedEmail(u),
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
