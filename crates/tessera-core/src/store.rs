//! The storage contract. Every backend (memory, SQLite, Postgres, Redis) implements these traits
//! and passes the one conformance suite in `tessera-store`.
//!
//! Rules every implementation keeps:
//! - Times are whole seconds ([`crate::clock`]); stores are told `now`, they never read a clock,
//!   so expiry is decided by the domain and tests can move time.
//! - Operations that decide security are atomic in the store: a deleted session is gone for every
//!   later read; a throttle hit is counted exactly once however many nodes race.
//! - Secrets never reach a store: only [`SecretHash`]es do.
//! - A backend that cannot answer returns [`StoreError::Unavailable`], never panics.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::account::{Email, PasswordHash, User, UserRecord};
use crate::id::{SessionId, UserId};
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

/// Everything a Tessera node needs from its store.
#[async_trait]
pub trait Store: UserStore + SessionStore + ThrottleStore + std::fmt::Debug {
    /// A short name for logs and `/readyz` ("memory", "sqlite").
    fn backend(&self) -> &'static str;
    /// Answers if the store can serve requests now (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}
