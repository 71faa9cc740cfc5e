//! Tessera's domain: everything about keeping users logged in that is neither HTTP nor a database.
//!
//! - [`secret`]: 256-bit secrets, their SHA-256 hashes, constant-time comparison.
//! - [`account`]: emails, passwords, argon2id hashing off the async workers, the [`account::Accounts`] service.
//! - [`session`]: server-side sessions with idle and absolute expiry and a revocation-safe cache.
//! - [`throttle`]: login throttling per account+address and per address, kept in the store.
//! - [`store`]: the traits every backend implements (memory, SQLite, and later Postgres, Redis).
//! - [`clock`]: time that tests can move.
//!
//! [`Tessera`] ties them together; the HTTP layer (`tessera-axum`) only translates.

pub mod account;
pub mod clock;
pub mod error;
pub mod id;
pub mod jwt;
pub mod key;
pub mod refresh;
pub mod revocation;
pub mod secret;
pub mod session;
pub mod store;
pub mod tessera;
pub mod throttle;
pub mod token;
pub mod verified;

pub use error::{Error, ErrorCode};
pub use tessera::{Tessera, TesseraConfig};

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `time::Duration` as a humantime string (`"30m"`, `"12h"`) in configuration, or whole seconds.
pub mod duration_serde {
    use serde::{Deserialize, Deserializer, Serializer, de};
    use time::Duration;

    /// Writes a duration as humantime text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let std = std::time::Duration::try_from(*d).unwrap_or_default();
        s.serialize_str(&humantime::format_duration(std).to_string())
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Seconds(u64),
    }

    /// Reads `"15m"`, `"900s"`, `"1h 30m"` or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let std = match Raw::deserialize(d)? {
            Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
                de::Error::custom(format!(
                    "{e} (expected a duration like \"900s\", \"15m\", \"12h\", \"30d\")"
                ))
            })?,
            Raw::Seconds(s) => std::time::Duration::from_secs(s),
        };
        Duration::try_from(std).map_err(|_| de::Error::custom("duration out of range"))
    }
}
