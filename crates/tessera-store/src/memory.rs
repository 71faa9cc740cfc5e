//! A store in this process's memory (database URL `memory:`): for tests and demos.
//! Nothing survives a restart and nothing is shared between nodes.
//!
//! One mutex guards all the maps, so every operation is atomic and sees the indexes agree.
//! It is never held across an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::clock::{from_unix, truncate};
use tessera_core::id::{SessionId, UserId};
use tessera_core::secret::SecretHash;
use tessera_core::session::SessionRecord;
use tessera_core::store::{
    SessionStore, Store, StoreError, ThrottleStore, ThrottleWindow, UserStore,
};
use time::{Duration, OffsetDateTime};

/// The in-memory store. Cheap to create; share it as `Arc<MemoryStore>` or `Arc<dyn Store>`.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    users: HashMap<UserId, UserRecord>,
    user_by_email: HashMap<String, UserId>,
    sessions: HashMap<SessionId, SessionRecord>,
    session_by_hash: HashMap<SecretHash, SessionId>,
    sessions_by_user: HashMap<UserId, BTreeSet<SessionId>>,
    throttles: HashMap<String, Window>,
}

/// A throttle window in Unix seconds, as the SQL stores keep it.
#[derive(Clone, Copy)]
struct Window {
    count: u32,
    resets_at: i64,
}

impl Window {
    fn public(self) -> ThrottleWindow {
        ThrottleWindow {
            count: self.count,
            resets_at: from_unix(self.resets_at),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No operation can panic halfway through an update, so a poisoned lock still guards
        // consistent maps; refusing every later request would be the worse failure.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("users", &inner.users.len())
            .field("sessions", &inner.sessions.len())
            .field("throttles", &inner.throttles.len())
            .finish()
    }
}

/// Drops sub-seconds and the offset, so a value reads back as it would from an SQL store.
fn normalise_user(record: &UserRecord) -> UserRecord {
    let mut r = record.clone();
    r.user.created_at = truncate(r.user.created_at);
    r
}

fn normalise_session(record: &SessionRecord) -> SessionRecord {
    let mut r = record.clone();
    r.created_at = truncate(r.created_at);
    r.last_seen_at = truncate(r.last_seen_at);
    r.expires_at = truncate(r.expires_at);
    r.idle_expires_at = truncate(r.idle_expires_at);
    r
}

impl Inner {
    fn remove_session(&mut self, id: SessionId) -> bool {
        let Some(s) = self.sessions.remove(&id) else {
            return false;
        };
        self.session_by_hash.remove(&s.secret_hash);
        if let Some(ids) = self.sessions_by_user.get_mut(&s.user_id) {
            ids.remove(&id);
            if ids.is_empty() {
                self.sessions_by_user.remove(&s.user_id);
            }
        }
        true
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let email = user.user.email.as_str();
        if inner.user_by_email.contains_key(email) {
            return Err(StoreError::Conflict("email already registered".into()));
        }
        if inner.users.contains_key(&user.user.id) {
            return Err(StoreError::Conflict("user id already exists".into()));
        }
        inner.user_by_email.insert(email.to_owned(), user.user.id);
        inner.users.insert(user.user.id, normalise_user(user));
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .user_by_email
            .get(email.as_str())
            .and_then(|id| inner.users.get(id))
            .cloned())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError> {
        Ok(match self.lock().users.get_mut(&id) {
            Some(u) => {
                u.password_hash = hash.clone();
                true
            }
            None => false,
        })
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let inner = self.lock();
        let mut users: Vec<User> = inner.users.values().map(|r| r.user.clone()).collect();
        users.sort_by_key(|u| (u.created_at, u.id));
        Ok(users)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        // The same rules as the SQL schema: unique id and hash, an existing user.
        if inner.sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict("session id already exists".into()));
        }
        if inner.session_by_hash.contains_key(&session.secret_hash) {
            return Err(StoreError::Conflict(
                "session secret hash already exists".into(),
            ));
        }
        if !inner.users.contains_key(&session.user_id) {
            return Err(StoreError::Conflict(
                "session for a user that does not exist".into(),
            ));
        }
        inner
            .session_by_hash
            .insert(session.secret_hash, session.id);
        inner
            .sessions_by_user
            .entry(session.user_id)
            .or_default()
            .insert(session.id);
        inner
            .sessions
            .insert(session.id, normalise_session(session));
        Ok(())
    }

    async fn session_by_hash(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .session_by_hash
            .get(hash)
            .and_then(|id| inner.sessions.get(id))
            .cloned())
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(match self.lock().sessions.get_mut(&id) {
            Some(s) => {
                s.last_seen_at = truncate(last_seen_at);
                s.idle_expires_at = truncate(idle_expires_at);
                true
            }
            None => false,
        })
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let inner = self.lock();
        let mut sessions: Vec<SessionRecord> = inner
            .sessions_by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|id| inner.sessions.get(id).cloned())
            .collect();
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.sessions.get(&id) {
            Some(s) if s.user_id == user => Ok(inner.remove_session(id)),
            _ => Ok(false),
        }
    }

    async fn delete_sessions_of_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let doomed: Vec<SessionId> = inner
            .sessions_by_user
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| Some(*id) != keep)
            .collect();
        Ok(doomed
            .into_iter()
            .filter(|id| inner.remove_session(*id))
            .count() as u64)
    }

    async fn purge_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let doomed: Vec<SessionId> = inner
            .sessions
            .values()
            .filter(|s| s.idle_expires_at <= now || s.expires_at <= now)
            .map(|s| s.id)
            .collect();
        Ok(doomed
            .into_iter()
            .filter(|id| inner.remove_session(*id))
            .count() as u64)
    }
}

#[async_trait]
impl ThrottleStore for MemoryStore {
    async fn throttle_hit(
        &self,
        key: &str,
        window: Duration,
        now: OffsetDateTime,
    ) -> Result<ThrottleWindow, StoreError> {
        let now = now.unix_timestamp();
        let fresh = Window {
            count: 1,
            resets_at: now.saturating_add(window.whole_seconds()),
        };
        let mut inner = self.lock();
        let w = match inner.throttles.get_mut(key) {
            Some(w) if w.resets_at > now => {
                w.count = w.count.saturating_add(1);
                *w
            }
            Some(w) => {
                *w = fresh;
                fresh
            }
            None => {
                inner.throttles.insert(key.to_owned(), fresh);
                fresh
            }
        };
        Ok(w.public())
    }

    async fn throttle_peek(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ThrottleWindow>, StoreError> {
        let now = now.unix_timestamp();
        Ok(self
            .lock()
            .throttles
            .get(key)
            .filter(|w| w.resets_at > now)
            .map(|w| w.public()))
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        self.lock().throttles.remove(key);
        Ok(())
    }

    async fn purge_expired_throttles(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = now.unix_timestamp();
        let mut inner = self.lock();
        let before = inner.throttles.len();
        inner.throttles.retain(|_, w| w.resets_at > now);
        Ok((before - inner.throttles.len()) as u64)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
