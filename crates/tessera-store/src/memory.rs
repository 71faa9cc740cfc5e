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
use tessera_core::id::{FamilyId, SessionId, UserId};
use tessera_core::refresh::{RefreshFamily, RefreshTokenRecord};
use tessera_core::secret::SecretHash;
use tessera_core::session::SessionRecord;
use tessera_core::store::{
    KeyMaterial, KeyState, KeyStateChange, KeyStore, RefreshStore, Revocation, RevocationChanges,
    RevocationStore, SessionStore, Store, StoreError, StoredKey, ThrottleStore, ThrottleWindow,
    UserStore,
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
    families: HashMap<FamilyId, RefreshFamily>,
    families_by_user: HashMap<UserId, BTreeSet<FamilyId>>,
    /// Every refresh token hash ever issued, with its family and generation.
    refresh_tokens: HashMap<SecretHash, (FamilyId, u32)>,
    tokens_by_family: HashMap<FamilyId, Vec<SecretHash>>,
    keys: HashMap<String, StoredKey>,
    server_secrets: HashMap<String, KeyMaterial>,
    revocations: HashMap<RevocationKey, Versioned>,
    /// The highest revocation version ever given.
    revocation_version: u64,
}

/// What a revocation entry is unique by, as `UNIQUE (kind, key)` in SQL.
#[derive(Clone, PartialEq, Eq, Hash)]
enum RevocationKey {
    Denied(String),
    Cutoff(UserId),
}

struct Versioned {
    version: u64,
    revocation: Revocation,
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
            .field("refresh_families", &inner.families.len())
            .field("keys", &inner.keys.len())
            .field("revocations", &inner.revocations.len())
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

fn normalise_family(family: &RefreshFamily) -> RefreshFamily {
    let mut f = family.clone();
    f.created_at = truncate(f.created_at);
    f.last_used_at = truncate(f.last_used_at);
    f.rotated_at = truncate(f.rotated_at);
    f.expires_at = truncate(f.expires_at);
    f.revoked_at = f.revoked_at.map(truncate);
    f
}

fn normalise_key(key: &StoredKey) -> StoredKey {
    let mut k = key.clone();
    k.created_at = truncate(k.created_at);
    k.state_changed_at = truncate(k.state_changed_at);
    k
}

/// Whether a family ended (expired or was revoked) at or before `t`.
fn ended_by(f: &RefreshFamily, t: OffsetDateTime) -> bool {
    f.expires_at <= t || f.revoked_at.is_some_and(|r| r <= t)
}

impl Inner {
    fn remove_family(&mut self, id: FamilyId) -> bool {
        let Some(f) = self.families.remove(&id) else {
            return false;
        };
        for hash in self.tokens_by_family.remove(&id).unwrap_or_default() {
            self.refresh_tokens.remove(&hash);
        }
        if let Some(ids) = self.families_by_user.get_mut(&f.user_id) {
            ids.remove(&id);
            if ids.is_empty() {
                self.families_by_user.remove(&f.user_id);
            }
        }
        true
    }

    /// Marks a family revoked at `now` unless it already is. Returns whether it changed.
    fn revoke_family(&mut self, id: FamilyId, now: OffsetDateTime) -> bool {
        match self.families.get_mut(&id) {
            Some(f) if f.revoked_at.is_none() => {
                f.revoked_at = Some(truncate(now));
                true
            }
            _ => false,
        }
    }

    /// Writes a revocation entry under a new version.
    fn put_revocation(&mut self, key: RevocationKey, revocation: Revocation) {
        self.revocation_version += 1;
        let version = self.revocation_version;
        self.revocations.insert(
            key,
            Versioned {
                version,
                revocation,
            },
        );
    }

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
impl RefreshStore for MemoryStore {
    async fn create_family(
        &self,
        family: &RefreshFamily,
        token_hash: &SecretHash,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        // The same rules as the SQL schema: unique id and hash, an existing user.
        if inner.families.contains_key(&family.id) {
            return Err(StoreError::Conflict(
                "refresh family id already exists".into(),
            ));
        }
        if inner.refresh_tokens.contains_key(token_hash) {
            return Err(StoreError::Conflict(
                "refresh token hash already exists".into(),
            ));
        }
        if !inner.users.contains_key(&family.user_id) {
            return Err(StoreError::Conflict(
                "refresh family for a user that does not exist".into(),
            ));
        }
        inner
            .refresh_tokens
            .insert(*token_hash, (family.id, family.generation));
        inner.tokens_by_family.insert(family.id, vec![*token_hash]);
        inner
            .families_by_user
            .entry(family.user_id)
            .or_default()
            .insert(family.id);
        inner.families.insert(family.id, normalise_family(family));
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner.refresh_tokens.get(hash).and_then(|(id, generation)| {
            inner.families.get(id).map(|family| RefreshTokenRecord {
                family: family.clone(),
                generation: *generation,
            })
        }))
    }

    async fn family(&self, id: FamilyId) -> Result<Option<RefreshFamily>, StoreError> {
        Ok(self.lock().families.get(&id).cloned())
    }

    async fn rotate_family(
        &self,
        id: FamilyId,
        from_generation: u32,
        next_hash: &SecretHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let now = truncate(now);
        let mut inner = self.lock();
        let Some(next) = from_generation.checked_add(1) else {
            return Ok(false);
        };
        match inner.families.get(&id) {
            Some(f)
                if f.generation == from_generation
                    && f.revoked_at.is_none()
                    && f.expires_at > now => {}
            _ => return Ok(false),
        }
        if inner.refresh_tokens.contains_key(next_hash) {
            return Err(StoreError::Conflict(
                "refresh token hash already exists".into(),
            ));
        }
        if let Some(f) = inner.families.get_mut(&id) {
            f.generation = next;
            f.rotated_at = now;
            f.last_used_at = now;
            f.expires_at = truncate(expires_at);
        }
        inner.refresh_tokens.insert(*next_hash, (id, next));
        inner
            .tokens_by_family
            .entry(id)
            .or_default()
            .push(*next_hash);
        Ok(true)
    }

    async fn revoke_family(&self, id: FamilyId, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self.lock().revoke_family(id, now))
    }

    async fn revoke_family_of_user(
        &self,
        user: UserId,
        id: FamilyId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.families.get(&id) {
            Some(f) if f.user_id == user => Ok(inner.revoke_family(id, now)),
            _ => Ok(false),
        }
    }

    async fn revoke_families_of_user(
        &self,
        user: UserId,
        keep: Option<FamilyId>,
        now: OffsetDateTime,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let mut inner = self.lock();
        let candidates: Vec<FamilyId> = inner
            .families_by_user
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| Some(*id) != keep)
            .collect();
        let mut revoked: Vec<(OffsetDateTime, FamilyId)> = Vec::new();
        for id in candidates {
            if inner.revoke_family(id, now)
                && let Some(f) = inner.families.get(&id)
            {
                revoked.push((f.created_at, id));
            }
        }
        revoked.sort_unstable();
        Ok(revoked.into_iter().map(|(_, id)| id).collect())
    }

    async fn families_of_user(&self, user: UserId) -> Result<Vec<RefreshFamily>, StoreError> {
        let inner = self.lock();
        let mut families: Vec<RefreshFamily> = inner
            .families_by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|id| inner.families.get(id).cloned())
            .collect();
        families.sort_by_key(|f| (f.created_at, f.id));
        Ok(families)
    }

    async fn purge_families(&self, ended_by_at: OffsetDateTime) -> Result<u64, StoreError> {
        let t = truncate(ended_by_at);
        let mut inner = self.lock();
        let doomed: Vec<FamilyId> = inner
            .families
            .values()
            .filter(|f| ended_by(f, t))
            .map(|f| f.id)
            .collect();
        Ok(doomed
            .into_iter()
            .filter(|id| inner.remove_family(*id))
            .count() as u64)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.keys.contains_key(&key.kid) {
            return Err(StoreError::Conflict("key id already exists".into()));
        }
        inner.keys.insert(key.kid.clone(), normalise_key(key));
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let inner = self.lock();
        let mut keys: Vec<StoredKey> = inner.keys.values().cloned().collect();
        keys.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        Ok(keys)
    }

    async fn set_key_states(
        &self,
        changes: &[KeyStateChange],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        // Run the steps on a scratch copy of the states first, so a failing step changes nothing.
        let mut states: HashMap<&str, KeyState> = HashMap::new();
        for change in changes {
            let current = match states.get(change.kid.as_str()) {
                Some(s) => *s,
                None => match inner.keys.get(&change.kid) {
                    Some(k) => k.state,
                    None => return Ok(false),
                },
            };
            if current != change.from {
                return Ok(false);
            }
            states.insert(&change.kid, change.to);
        }
        let at = truncate(at);
        for (kid, state) in states {
            if let Some(k) = inner.keys.get_mut(kid) {
                k.state = state;
                k.state_changed_at = at;
            }
        }
        Ok(true)
    }

    async fn delete_key(&self, kid: &str) -> Result<bool, StoreError> {
        Ok(self.lock().keys.remove(kid).is_some())
    }

    async fn server_secret(
        &self,
        name: &str,
        candidate: &KeyMaterial,
    ) -> Result<KeyMaterial, StoreError> {
        Ok(self
            .lock()
            .server_secrets
            .entry(name.to_owned())
            .or_insert_with(|| candidate.clone())
            .clone())
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn deny(&self, key: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        let until = truncate(until);
        let mut inner = self.lock();
        let id = RevocationKey::Denied(key.to_owned());
        if let Some(old) = inner.revocations.get(&id)
            && old.revocation.until() >= until
        {
            return Ok(());
        }
        let key = key.to_owned();
        inner.put_revocation(id, Revocation::Denied { key, until });
        Ok(())
    }

    async fn set_cutoff(
        &self,
        user: UserId,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (mut at, mut until) = (truncate(at), truncate(until));
        let mut inner = self.lock();
        let id = RevocationKey::Cutoff(user);
        if let Some(Versioned {
            revocation:
                Revocation::Cutoff {
                    at: old_at,
                    until: old_until,
                    ..
                },
            ..
        }) = inner.revocations.get(&id)
        {
            if *old_at >= at && *old_until >= until {
                return Ok(());
            }
            at = at.max(*old_at);
            until = until.max(*old_until);
        }
        inner.put_revocation(id, Revocation::Cutoff { user, at, until });
        Ok(())
    }

    async fn revocations_since(&self, version: u64) -> Result<RevocationChanges, StoreError> {
        let inner = self.lock();
        let since = if version > inner.revocation_version {
            0
        } else {
            version
        };
        let mut changed: Vec<&Versioned> = inner
            .revocations
            .values()
            .filter(|v| v.version > since)
            .collect();
        changed.sort_unstable_by_key(|v| v.version);
        Ok(RevocationChanges {
            version: inner.revocation_version,
            revocations: changed.into_iter().map(|v| v.revocation.clone()).collect(),
        })
    }

    async fn purge_revocations(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = truncate(now);
        let mut inner = self.lock();
        let before = inner.revocations.len();
        inner.revocations.retain(|_, v| v.revocation.until() > now);
        Ok((before - inner.revocations.len()) as u64)
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
