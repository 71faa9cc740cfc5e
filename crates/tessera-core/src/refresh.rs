//! Refresh families: what JWT mode keeps per login, and the pure rules for refresh tokens.
//!
//! A login in JWT mode starts a *family* ([`RefreshFamily`]) and hands out its first refresh
//! token, generation 0, a random [`PlainSecret`]. Each refresh *rotates* the family: the
//! presented token of the current generation `g` is exchanged for generation `g + 1`, and the
//! store moves the family on with an atomic compare-and-set
//! ([`crate::store::RefreshStore::rotate_family`]), so two racing refreshes can never both mint a
//! successor.
//!
//! The store keeps the hash of every token a family ever had, with its generation, so any
//! token presented later is recognised ([`RefreshTokenRecord::classify`]):
//! - the current generation: rotate;
//! - the previous generation, within the reuse grace of the rotation: a racing tab, which is
//!   given the *same* successor again (see [`successor_token`]);
//! - anything older, or later than the grace: reuse, so the token was stolen or leaked, and the
//!   whole family is revoked;
//! - any token of a revoked or expired family: refused.
//!
//! Successors are derived, not stored: `successor = HMAC-SHA256(server secret, family ‖
//! generation ‖ presented token)`. Deriving from the *presented token* (rather than from the
//! family id and generation alone) means that whoever can read the database, which holds only
//! hashes of tokens (and possibly the server secret), still cannot compute any token, while the
//! client that presents a rotated token within the grace gets exactly the token the winning
//! rotation issued.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::{Duration, OffsetDateTime};

use crate::id::{FamilyId, UserId};
use crate::secret::PlainSecret;
use crate::session::Device;
use crate::store::KeyMaterial;
use crate::{Error, Result};

/// The name under which the refresh-token HMAC secret is kept
/// ([`crate::store::KeyStore::server_secret`]).
pub const REFRESH_SECRET_NAME: &str = "refresh-token-hmac";

/// Bytes of a freshly generated server secret.
pub const SERVER_SECRET_BYTES: usize = 32;

/// One login's chain of refresh tokens, as the store keeps it. Holds no token, not even a hash:
/// those are kept apart, one per generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub id: FamilyId,
    pub user_id: UserId,
    /// The generation of the family's current token; 0 for the token issued at login.
    pub generation: u32,
    pub created_at: OffsetDateTime,
    /// The last successful refresh (or the login).
    pub last_used_at: OffsetDateTime,
    /// When the current generation was issued (the login for generation 0). A token of the
    /// previous generation is a racing client only shortly after this.
    pub rotated_at: OffsetDateTime,
    /// When the family ends unless refreshed: `refresh_ttl` after the last rotation.
    pub expires_at: OffsetDateTime,
    /// When the family was revoked (logout, theft detected, revoked from a device list).
    pub revoked_at: Option<OffsetDateTime>,
    pub device: Device,
}

impl RefreshFamily {
    /// Whether the family's current token may be used at `now`: not revoked and not expired.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// Whether the family has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A refresh token found by the hash of its text: its family (as it is now) and the generation
/// the token was issued as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub family: RefreshFamily,
    pub generation: u32,
}

/// What a presented refresh token is, and so what to do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenUse {
    /// The family's current token: rotate from its generation.
    Current,
    /// The previous generation, presented within the reuse grace of the rotation that replaced
    /// it: a racing client. Give it the current token again ([`successor_token`] of the
    /// presented token), without rotating.
    Replay,
    /// An older token, or the previous one after the grace: theft. Revoke the family.
    Reuse,
    /// The family is revoked or expired: refuse (`invalid_grant`).
    Dead,
}

impl RefreshTokenRecord {
    /// Whether this is the family's current token.
    pub fn is_current(&self) -> bool {
        self.generation == self.family.generation
    }

    /// Classifies a presented token at `now` with the configured reuse `grace`. A zero grace
    /// turns replays into reuse.
    pub fn classify(&self, now: OffsetDateTime, grace: Duration) -> RefreshTokenUse {
        if !self.family.is_live(now) {
            RefreshTokenUse::Dead
        } else if self.is_current() {
            RefreshTokenUse::Current
        } else if self.generation.checked_add(1) == Some(self.family.generation)
            && now - self.family.rotated_at < grace
        {
            RefreshTokenUse::Replay
        } else {
            RefreshTokenUse::Reuse
        }
    }
}

/// The refresh token that follows `presented` (of generation `next_generation - 1`) in
/// `family`: deterministic, so a replay within the grace gets the token the rotation issued;
/// unpredictable without both the server `secret` and the presented token.
pub fn successor_token(
    secret: &KeyMaterial,
    family: FamilyId,
    next_generation: u32,
    presented: &PlainSecret,
) -> Result<PlainSecret> {
    let mut message = Vec::with_capacity(64 + presented.expose().len());
    message.extend_from_slice(b"tessera/v1/refresh-successor\0");
    message.extend_from_slice(family.as_uuid().as_bytes());
    message.extend_from_slice(&next_generation.to_be_bytes());
    message.extend_from_slice(presented.expose().as_bytes());
    let mac = hmac_sha256(secret.expose(), &message);
    PlainSecret::parse(&URL_SAFE_NO_PAD.encode(mac))
        .ok_or_else(|| Error::Internal("a derived refresh token has the wrong shape".into()))
}

/// HMAC-SHA256 (RFC 2104, by aws-lc-rs), checked against the RFC 4231 vectors below.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&key, message).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the output.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block, hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn family(generation: u32) -> RefreshFamily {
        RefreshFamily {
            id: FamilyId::new(),
            user_id: UserId::new(),
            generation,
            created_at: from_unix(0),
            last_used_at: from_unix(100),
            rotated_at: from_unix(100),
            expires_at: from_unix(1000),
            revoked_at: None,
            device: Device::default(),
        }
    }

    #[test]
    fn liveness() {
        let f = family(0);
        assert!(f.is_live(from_unix(999)));
        assert!(!f.is_live(from_unix(1000)));
        let revoked = RefreshFamily {
            revoked_at: Some(from_unix(50)),
            ..f
        };
        assert!(!revoked.is_live(from_unix(60)));
        assert!(revoked.is_revoked());
    }

    #[test]
    fn classification() {
        let grace = Duration::seconds(10);
        let at = |generation, family| RefreshTokenRecord { family, generation };
        let f = family(3);
        assert_eq!(
            at(3, f.clone()).classify(from_unix(500), grace),
            RefreshTokenUse::Current
        );
        assert_eq!(
            at(2, f.clone()).classify(from_unix(100), grace),
            RefreshTokenUse::Replay
        );
        assert_eq!(
            at(2, f.clone()).classify(from_unix(109), grace),
            RefreshTokenUse::Replay
        );
        assert_eq!(
            at(2, f.clone()).classify(from_unix(110), grace),
            RefreshTokenUse::Reuse
        );
        assert_eq!(
            at(1, f.clone()).classify(from_unix(100), grace),
            RefreshTokenUse::Reuse
        );
        assert_eq!(
            at(2, f.clone()).classify(from_unix(100), Duration::ZERO),
            RefreshTokenUse::Reuse
        );
        assert_eq!(
            at(3, f.clone()).classify(from_unix(1000), grace),
            RefreshTokenUse::Dead
        );
        let revoked = RefreshFamily {
            revoked_at: Some(from_unix(100)),
            ..f
        };
        assert_eq!(
            at(2, revoked.clone()).classify(from_unix(100), grace),
            RefreshTokenUse::Dead
        );
        assert_eq!(
            at(3, revoked).classify(from_unix(100), grace),
            RefreshTokenUse::Dead
        );
    }

    #[test]
    fn successors_are_deterministic_and_depend_on_every_input() {
        let secret = KeyMaterial::from_vec(vec![7; SERVER_SECRET_BYTES]);
        let other_secret = KeyMaterial::from_vec(vec![8; SERVER_SECRET_BYTES]);
        let id = FamilyId::new();
        let t0 = PlainSecret::generate().unwrap();
        let t0_again = PlainSecret::parse(t0.expose()).unwrap();
        let a = successor_token(&secret, id, 1, &t0).unwrap();
        let b = successor_token(&secret, id, 1, &t0_again).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert!(PlainSecret::parse(a.expose()).is_some());
        assert_ne!(a.expose(), t0.expose());
        let variants = [
            successor_token(&other_secret, id, 1, &t0).unwrap(),
            successor_token(&secret, FamilyId::new(), 1, &t0).unwrap(),
            successor_token(&secret, id, 2, &t0).unwrap(),
            successor_token(&secret, id, 1, &PlainSecret::generate().unwrap()).unwrap(),
        ];
        for v in &variants {
            assert_ne!(v.expose(), a.expose());
        }
    }
}
