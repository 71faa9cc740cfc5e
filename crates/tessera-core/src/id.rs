//! Public identifiers. They name things in URLs and listings; they are never secrets.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident, $new:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh identifier.
            pub fn new() -> Self {
                Self(Uuid::$new())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }
    };
}

public_id!(
    /// A user's id: UUIDv7, so ids sort by creation.
    UserId,
    now_v7
);
public_id!(
    /// A session's public handle, used to list and revoke it. Random (UUIDv4) so it says
    /// nothing about when the session began; it is not the cookie secret.
    SessionId,
    new_v4
);
public_id!(
    /// A refresh family's public handle: one per login in JWT mode, listed beside sessions as a
    /// device of kind "token" and revocable by it. Random (UUIDv4) like [`SessionId`]; it is
    /// the `sid` claim of the family's access tokens, never a refresh token.
    FamilyId,
    new_v4
);
