//! The storage contract. Every backend (memory, SQLite, Postgres, Redis) implements these traits
//! and passes the one conformance suite in `tessera-store`.
//!
//! Rules every implementation keeps:
//! - Times are whole seconds ([`crate::clock`]); stores are told `now`, they never read a clock,
//!   so expiry is decided by the domain and tests can move time.
//! - Operations that decide security are atomic in the store: a deleted session is gone for every
//!   later read; a throttle hit is counted exactly once however many nodes race; a refresh
//!   family rotates once from each generation; a key state changes by compare-and-set.
//! - Secrets that clients hold never reach a store: only [`SecretHash`]es do. The server's own
//!   secrets (signing keys, server secrets) are kept as [`KeyMaterial`].
//! - A backend that cannot answer returns [`StoreError::Unavailable`], never panics.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroize;

use crate::account::{Email, PasswordHash, User, UserRecord};
use crate::id::{FamilyId, SessionId, UserId};
use crate::refresh::{RefreshFamily, RefreshTokenRecord};
use crate::secret::SecretHash;
use crate::session::SessionRecord;

/// How a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or failed (I/O, pool exhausted, server gone).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (an email that is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend returned data that does not decode; a bug or a hand-edited database.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; [`StoreError::Conflict`] if the (normalised) email is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// The user with this normalised email.
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
    /// The user with this id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces a user's password hash. Returns whether the user exists.
    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError>;
    /// Every user, oldest first (for the CLI; paging comes when someone has that many).
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
}

/// Server-side sessions, found by the hash of their secret, listed and revoked by their handle.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a new session.
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session whose secret hashes to `hash`, expired or not (the domain decides).
    async fn session_by_hash(&self, hash: &SecretHash)
    -> Result<Option<SessionRecord>, StoreError>;
    /// Records use of a session: sets `last_seen_at` and `idle_expires_at`. Returns whether the
    /// session still exists (a session deleted meanwhile stays deleted).
    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Every session of a user, expired or not, oldest first.
    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes one session of `user`. A session of another user is not touched and reported
    /// as absent, so handles cannot be probed across accounts. Returns whether one was deleted.
    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError>;
    /// Deletes every session of `user` except `keep`. Returns how many were deleted.
    async fn delete_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError>;
    /// Deletes sessions whose idle or absolute expiry is at or before `now`. Returns how many.
    async fn purge_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A fixed-window counter's state after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleWindow {
    /// Hits counted in the current window, this one included.
    pub count: u32,
    /// When the window ends and the count starts again from zero.
    pub resets_at: OffsetDateTime,
}

/// Counters for throttling, shared by every node that uses the store.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts one hit on `key`, atomically. If the key's window ended at or before `now`, a new
    /// window of length `window` starts with this hit.
    async fn throttle_hit(
        &self,
        key: &str,
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<ThrottleWindow, StoreError>;
    /// The current window of `key`, if one is open at `now`.
    async fn throttle_peek(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ThrottleWindow>, StoreError>;
    /// Forgets `key` (after a successful login).
    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes windows that ended at or before `now`. Returns how many.
    async fn purge_expired_throttles(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Refresh families (JWT mode) and the hash of every refresh token each one issued.
///
/// A family's tokens are kept by hash, one per generation, for as long as the family is kept,
/// so that a token presented long after its rotation is still recognised as reuse rather
/// than as unknown. Revocation is a mark (`revoked_at`), not a delete, for the same reason;
/// [`RefreshStore::purge_families`] removes families some retention after they ended.
#[async_trait]
pub trait RefreshStore: Send + Sync {
    /// Inserts a new family with the hash of its current token (recorded as generation
    /// `family.generation`, normally 0), atomically: both or neither. [`StoreError::Conflict`]
    /// if the family id or the hash exists, or the user does not.
    async fn create_family(
        &self,
        family: &RefreshFamily,
        token_hash: &SecretHash,
    ) -> Result<(), StoreError>;
    /// The token whose text hashes to `hash`, of whatever generation, with its family as it is
    /// now (revoked or expired included: the domain decides).
    async fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;
    /// The family with this id, revoked or expired included.
    async fn family(&self, id: FamilyId) -> Result<Option<RefreshFamily>, StoreError>;
    /// Rotates a family, as one atomic compare-and-set: only if it is at `from_generation`, not
    /// revoked and not expired at `now`, it moves to `from_generation + 1` with `rotated_at =
    /// last_used_at = now` and the new `expires_at`, and `next_hash` is recorded as that
    /// generation's token. Returns `false` and changes nothing otherwise (a racing rotation
    /// won, or the family ended): of any number of concurrent calls from one generation,
    /// exactly one returns `true`. [`StoreError::Conflict`] if `next_hash` is already recorded
    /// (nothing changes then either).
    async fn rotate_family(
        &self,
        id: FamilyId,
        from_generation: u32,
        next_hash: &SecretHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Revokes a family (its tokens stay recorded, so they are recognised and refused).
    /// Returns `true` only for the call that revoked it: `false` if it was already revoked or
    /// does not exist.
    async fn revoke_family(&self, id: FamilyId, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Revokes one of `user`'s families, like [`RefreshStore::revoke_family`]; a family of
    /// another user is not touched and reported as absent (`false`), as with
    /// [`SessionStore::delete_session`].
    async fn revoke_family_of_user(
        &self,
        user: UserId,
        id: FamilyId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Revokes every family of `user` that is not yet revoked, except `keep`. Returns the ids
    /// this call revoked (oldest first), so their access tokens can be denied by `sid`.
    async fn revoke_families_of_user(
        &self,
        user: UserId,
        keep: Option<FamilyId>,
        now: OffsetDateTime,
    ) -> Result<Vec<FamilyId>, StoreError>;
    /// Every family of `user`, revoked and expired included, oldest first (ties by id).
    async fn families_of_user(&self, user: UserId) -> Result<Vec<RefreshFamily>, StoreError>;
    /// Deletes, with all their token hashes, the families that expired or were revoked at or
    /// before `ended_by` (pass `now - retention`). Returns how many families.
    async fn purge_families(&self, ended_by: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The life-cycle state of a signing key, as stores keep it (`"next"`, `"active"`,
/// `"retiring"`, `"retired"`). The key ring decides what each state allows; stores only keep
/// it and change it by compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    /// Published, not yet signing: verifiers learn it before the first token it signs.
    Next,
    /// Signing new tokens.
    Active,
    /// No longer signing; still verifying tokens it signed that may be live.
    Retiring,
    /// Neither signing nor verifying; kept for the record until deleted.
    Retired,
}

impl KeyState {
    /// Every state, in life-cycle order.
    pub const ALL: [KeyState; 4] = [Self::Next, Self::Active, Self::Retiring, Self::Retired];

    /// The name stores keep.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key state name that is none of [`KeyState`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key state {0:?} (expected next, active, retiring or retired)")]
pub struct UnknownKeyState(pub String);

impl FromStr for KeyState {
    type Err = UnknownKeyState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKeyState(s.to_owned()))
    }
}

/// Secret key bytes (a private key's encoding, an HMAC key, a server secret), as stores keep
/// them. Its `Debug` shows only the length, equality is constant-time, and the bytes are
/// zeroed when dropped. Built from and turned into bytes only explicitly.
#[derive(Clone, Default)]
pub struct KeyMaterial(Vec<u8>);

impl KeyMaterial {
    /// Wraps secret bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes, to use or to store. Call it only there.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, taken out.
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }

    /// How many bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyMaterial(<redacted, {} bytes>)", self.0.len())
    }
}

impl PartialEq for KeyMaterial {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyMaterial {}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A signing key as the store keeps it. The key ring turns it into a usable key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (an RFC 7638 thumbprint); unique.
    pub kid: String,
    /// The JOSE algorithm the key is pinned to (`"EdDSA"`, `"ES256"`, `"RS256"`, `"HS256"`).
    pub algorithm: String,
    pub state: KeyState,
    /// The private key (or the HMAC key), in the key ring's encoding.
    pub material: KeyMaterial,
    /// The public key as a JWK (JSON text); `None` for keys that are never published (HS256).
    pub public_jwk: Option<String>,
    pub created_at: OffsetDateTime,
    pub state_changed_at: OffsetDateTime,
}

/// One compare-and-set step of a key state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStateChange {
    pub kid: String,
    pub from: KeyState,
    pub to: KeyState,
}

/// Signing keys and server secrets, shared by every node that uses the store.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key; [`StoreError::Conflict`] if its kid exists.
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Every key, oldest first (ties by kid).
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Applies every change, in order, atomically: each key named must be in its `from` state
    /// when its step runs, and then moves to `to` with `state_changed_at = at`. If any step
    /// finds its key absent or in another state, nothing changes and the result is `false`.
    /// (A rotation is one call: next → active and active → retiring together, so no node ever
    /// sees zero or two active keys.)
    async fn set_key_states(
        &self,
        changes: &[KeyStateChange],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// One compare-and-set state change: `false` if the key is absent or not in `from`.
    async fn set_key_state(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let change = KeyStateChange {
            kid: kid.to_owned(),
            from,
            to,
        };
        self.set_key_states(std::slice::from_ref(&change), at).await
    }
    /// Deletes a key. Returns whether it existed.
    async fn delete_key(&self, kid: &str) -> Result<bool, StoreError>;
    /// The server secret called `name`, created as `candidate` if there is none yet,
    /// atomically: of any number of concurrent first callers, one's candidate is kept and every
    /// caller gets those same bytes. (The caller generates the candidate, e.g. 32 random bytes;
    /// it is discarded unless it wins.)
    async fn server_secret(
        &self,
        name: &str,
        candidate: &KeyMaterial,
    ) -> Result<KeyMaterial, StoreError>;
}

/// One access-token revocation, as the store keeps it and nodes copy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every token matching `key` (by convention `jti:<jti>` for one access token,
    /// `sid:<family id>` for every access token of a refresh family) is refused until `until`
    /// (when the last such token would have expired anyway).
    Denied { key: String, until: OffsetDateTime },
    /// Every token of `user` issued before `at` is refused; the entry is kept until `until`.
    Cutoff {
        user: UserId,
        at: OffsetDateTime,
        until: OffsetDateTime,
    },
}

impl Revocation {
    /// When the entry stops mattering and may be dropped.
    pub fn until(&self) -> OffsetDateTime {
        match self {
            Self::Denied { until, .. } | Self::Cutoff { until, .. } => *until,
        }
    }
}

/// What changed in a revocation store since a version a node had seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationChanges {
    /// The store's version now: pass it to the next [`RevocationStore::revocations_since`].
    pub version: u64,
    /// Every entry written after the version asked for, as it is now, in write order.
    pub revocations: Vec<Revocation>,
}

/// Access-token revocations: the single source of truth that every node's in-memory copy is
/// loaded from ([`RevocationStore::revocations_since`] with 0), then kept up to date (the same
/// call with the version last returned). Writes merge: an entry only ever gets stronger.
///
/// Every write that changes an entry gives it a new version, higher than every version the
/// store has given before (deleted entries included); a write that changes nothing (an earlier
/// `until`, an earlier cutoff) keeps the entry's version.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Denies `key` until `until`. Idempotent; of two `until`s the later is kept.
    async fn deny(&self, key: &str, until: OffsetDateTime) -> Result<(), StoreError>;
    /// Sets `user`'s cutoff: tokens issued before `at` are refused, kept until `until`. Of two
    /// cutoffs the later `at` is kept, and the later `until`.
    async fn set_cutoff(
        &self,
        user: UserId,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The entries written since `version` (all of them for 0) and the store's current
    /// version. Entries past their `until` but not yet purged may be included. If `version` is
    /// above the store's (the store was replaced), every entry is returned.
    async fn revocations_since(&self, version: u64) -> Result<RevocationChanges, StoreError>;
    /// Deletes entries whose `until` is at or before `now`. Returns how many. (Nodes drop
    /// them from their copies by `until` themselves.)
    async fn purge_revocations(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Everything a Tessera node needs from its store.
#[async_trait]
pub trait Store:
    UserStore + SessionStore + ThrottleStore + RefreshStore + KeyStore + RevocationStore + fmt::Debug
{
    /// A short name for logs and `/readyz` ("memory", "sqlite").
    fn backend(&self) -> &'static str;
    /// Answers if the store can serve requests now (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_never_shows_its_bytes() {
        let m = KeyMaterial::from_vec(b"very secret key bytes".to_vec());
        let shown = format!("{m:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("21 bytes"), "{shown}");
        let k = StoredKey {
            kid: "k".into(),
            algorithm: "HS256".into(),
            state: KeyState::Active,
            material: m.clone(),
            public_jwk: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            state_changed_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(!format!("{k:?}").contains("secret"));
        assert_eq!(m.clone().into_vec(), b"very secret key bytes");
        assert_eq!(m, KeyMaterial::from_vec(b"very secret key bytes".to_vec()));
        assert_ne!(m, KeyMaterial::from_vec(b"very secret key byteZ".to_vec()));
        assert_ne!(m, KeyMaterial::from_vec(b"short".to_vec()));
    }

    #[test]
    fn key_state_names_round_trip() {
        for s in KeyState::ALL {
            assert_eq!(s.as_str().parse::<KeyState>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert!("Active".parse::<KeyState>().is_err());
        assert!("".parse::<KeyState>().is_err());
    }

    #[test]
    fn revocations_know_when_they_end() {
        let t = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        let denied = Revocation::Denied {
            key: "jti:x".into(),
            until: t,
        };
        let cutoff = Revocation::Cutoff {
            user: UserId::new(),
            at: OffsetDateTime::UNIX_EPOCH,
            until: t,
        };
        assert_eq!(denied.until(), t);
        assert_eq!(cutoff.until(), t);
    }
}
