//! Server-side sessions: a 256-bit secret in the client's cookie, its hash and the session's
//! times in the store.
//!
//! Expiry: a session ends `idle_timeout` after its last use (sliding) or `absolute_timeout`
//! after login, whichever comes first. Sliding costs no write per request: `last_seen_at` is
//! written at most once per `touch_interval`, so the idle expiry slides in steps of that size.
//!
//! Lookups go through [`SessionCache`], which is safe against revocation: a session deleted on
//! this node is never served from the cache after the delete returns, and entries live at most
//! `cache_ttl`, which bounds how long a delete made by another node can go unseen (until
//! revocations are pushed between nodes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::id::{SessionId, UserId};
use crate::secret::{PlainSecret, SecretHash};
use crate::store::Store;
use crate::{Error, Result};

/// Longest user agent we keep; the rest is cut (at a character boundary).
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// How sessions expire and how they are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    #[serde(with = "crate::duration_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    #[serde(with = "crate::duration_serde")]
    pub absolute_timeout: Duration,
    /// Use is written to the store at most this often per session.
    #[serde(with = "crate::duration_serde")]
    pub touch_interval: Duration,
    /// How long a looked-up session may be served from this node's memory. Zero disables
    /// the cache.
    #[serde(with = "crate::duration_serde")]
    pub cache_ttl: Duration,
    /// Most sessions the cache holds.
    pub cache_capacity: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::minutes(30),
            absolute_timeout: Duration::hours(12),
            touch_interval: Duration::minutes(1),
            cache_ttl: Duration::seconds(1),
            cache_capacity: 100_000,
        }
    }
}

impl SessionPolicy {
    /// Checks that the timeouts make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.idle_timeout <= Duration::ZERO || self.absolute_timeout <= Duration::ZERO {
            return Err(Error::InvalidRequest(
                "session timeouts must be positive".into(),
            ));
        }
        if self.touch_interval < Duration::ZERO || self.touch_interval >= self.idle_timeout {
            return Err(Error::InvalidRequest(
                "touch_interval must be shorter than idle_timeout".into(),
            ));
        }
        if self.cache_ttl < Duration::ZERO {
            return Err(Error::InvalidRequest(
                "cache_ttl must not be negative".into(),
            ));
        }
        Ok(())
    }
}

/// Where a session was started from, as shown in device listings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Device {
    /// A device description, with the user agent cut to a bounded length.
    pub fn new(user_agent: Option<&str>, ip: Option<String>) -> Self {
        let user_agent = user_agent.map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT_BYTES);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
        Self { user_agent, ip }
    }
}

/// A session as the store keeps it. Holds the secret's hash, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    pub secret_hash: SecretHash,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// Absolute expiry.
    pub expires_at: OffsetDateTime,
    /// Idle expiry: `last_seen_at + idle_timeout`, never after `expires_at`.
    pub idle_expires_at: OffsetDateTime,
    pub device: Device,
}

impl SessionRecord {
    /// Whether the session may be used at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.idle_expires_at && now < self.expires_at
    }
}

/// A session just started: the record, and the secret for the client's cookie (shown once).
#[derive(Debug)]
pub struct NewSession {
    pub record: SessionRecord,
    pub secret: PlainSecret,
}

/// The CSRF token of the session whose cookie holds `secret`. Derived, not stored: it changes
/// with every login, cannot be computed from the stored hash, and does not reveal the secret.
pub fn csrf_token(secret: &PlainSecret) -> String {
    secret.derive("session-csrf")
}

/// The sessions service.
#[derive(Debug)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
    cache: SessionCache,
}

impl Sessions {
    /// The service over a store.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, policy: SessionPolicy) -> Self {
        let cache = SessionCache::new(policy.cache_capacity, policy.cache_ttl);
        Self {
            store,
            clock,
            policy,
            cache,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Starts a session for `user`. A session whose secret the client presented (an old
    /// cookie, or one planted by an attacker) is ended: a login always issues a new secret.
    pub async fn start(
        &self,
        user: UserId,
        device: Device,
        replacing: Option<&PlainSecret>,
    ) -> Result<NewSession> {
        if let Some(old) = replacing
            && let Some(old) = self.store.session_by_hash(&old.hash()).await?
        {
            self.store.delete_session(old.user_id, old.id).await?;
            self.cache.invalidate(|r| r.id == old.id);
        }
        let now = self.clock.now();
        let secret = PlainSecret::generate()?;
        let expires_at = now + self.policy.absolute_timeout;
        let record = SessionRecord {
            id: SessionId::new(),
            user_id: user,
            secret_hash: secret.hash(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            idle_expires_at: (now + self.policy.idle_timeout).min(expires_at),
            device,
        };
        self.store.insert_session(&record).await?;
        Ok(NewSession { record, secret })
    }

    /// The live session whose cookie holds `secret`, with its use recorded; `None` if there is
    /// none (unknown, expired, revoked).
    pub async fn authenticate(&self, secret: &PlainSecret) -> Result<Option<SessionRecord>> {
        let hash = secret.hash();
        let now = self.clock.now();
        let mut record = match self.cache.get(&hash) {
            Some(r) => r,
            None => {
                let epoch = self.cache.epoch();
                let Some(r) = self.store.session_by_hash(&hash).await? else {
                    return Ok(None);
                };
                // The index found it by hash; check the whole hash in constant time anyway.
                if !r.secret_hash.ct_eq(&hash) {
                    return Ok(None);
                }
                self.cache.insert_unless_invalidated(hash, r.clone(), epoch);
                r
            }
        };
        if !record.is_live(now) {
            return Ok(None);
        }
        if now - record.last_seen_at >= self.policy.touch_interval {
            let idle = (now + self.policy.idle_timeout).min(record.expires_at);
            // Claim the touch in the cache first so concurrent requests do not all write.
            self.cache.record_touch(&hash, now, idle);
            match self.store.touch_session(record.id, now, idle).await {
                Ok(true) => {
                    record.last_seen_at = now;
                    record.idle_expires_at = idle;
                }
                Ok(false) => {
                    self.cache.invalidate(|r| r.id == record.id);
                    return Ok(None);
                }
                // The session was found and is live; failing to slide its expiry is not a
                // reason to refuse it. The next request tries again.
                Err(e) => {
                    tracing::warn!(session = %record.id, error = %e, "could not record session use")
                }
            }
        }
        Ok(Some(record))
    }

    /// The live sessions of a user, oldest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<SessionRecord>> {
        let now = self.clock.now();
        let mut all = self.store.sessions_of_user(user).await?;
        all.retain(|s| s.is_live(now));
        Ok(all)
    }

    /// Ends one of `user`'s sessions. `Ok(false)` if `user` has no such session (another user's
    /// handle included). Once this returns, the session is refused on this node.
    pub async fn revoke(&self, user: UserId, id: SessionId) -> Result<bool> {
        let deleted = self.store.delete_session(user, id).await?;
        self.cache.invalidate(|r| r.id == id);
        Ok(deleted)
    }

    /// Ends every session of `user` but `keep`. Returns how many ended.
    pub async fn revoke_all(&self, user: UserId, keep: Option<SessionId>) -> Result<u64> {
        let n = self.store.delete_sessions_of_user(user, keep).await?;
        self.cache
            .invalidate(|r| r.user_id == user && Some(r.id) != keep);
        Ok(n)
    }

    /// Deletes expired sessions from the store. Returns how many.
    pub async fn purge_expired(&self) -> Result<u64> {
        Ok(self.store.purge_expired_sessions(self.clock.now()).await?)
    }
}

const SHARDS: usize = 16;

/// A bounded, sharded map from secret hash to session record, with revocation-safe inserts.
///
/// The race it closes: a request reads a session from the store, a revoke deletes it and
/// clears the cache, and only then does the request put its (now stale) copy into the cache.
/// Every invalidation bumps `epoch` before clearing; a reader notes the epoch before its store
/// read and inserts only if no invalidation happened meanwhile (checked under the shard lock).
#[derive(Debug)]
pub struct SessionCache {
    shards: Vec<Mutex<HashMap<SecretHash, Cached>>>,
    per_shard: usize,
    ttl: std::time::Duration,
    epoch: AtomicU64,
}

#[derive(Debug, Clone)]
struct Cached {
    record: SessionRecord,
    at: Instant,
}

impl SessionCache {
    /// A cache of at most `capacity` records, each served for at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let ttl = std::time::Duration::try_from(ttl).unwrap_or_default();
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            ttl,
            epoch: AtomicU64::new(0),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.per_shard > 0
    }

    fn shard(&self, hash: &SecretHash) -> MutexGuard<'_, HashMap<SecretHash, Cached>> {
        let i = usize::from(hash.as_bytes()[0]) % SHARDS;
        // A panic while holding the lock cannot leave a half-written entry: recover the map.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn get(&self, hash: &SecretHash) -> Option<SessionRecord> {
        if !self.enabled() {
            return None;
        }
        let mut shard = self.shard(hash);
        match shard.get(hash) {
            Some(c) if c.at.elapsed() < self.ttl => Some(c.record.clone()),
            Some(_) => {
                shard.remove(hash);
                None
            }
            None => None,
        }
    }

    fn insert_unless_invalidated(&self, hash: SecretHash, record: SessionRecord, seen_epoch: u64) {
        if !self.enabled() {
            return;
        }
        let ttl = self.ttl;
        let mut shard = self.shard(&hash);
        if self.epoch() != seen_epoch {
            return;
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, c| c.at.elapsed() < ttl);
            if shard.len() >= self.per_shard
                && let Some(k) = shard.keys().next().copied()
            {
                shard.remove(&k);
            }
        }
        shard.insert(
            hash,
            Cached {
                record,
                at: Instant::now(),
            },
        );
    }

    fn record_touch(&self, hash: &SecretHash, now: OffsetDateTime, idle: OffsetDateTime) {
        if let Some(c) = self.shard(hash).get_mut(hash) {
            c.record.last_seen_at = now;
            c.record.idle_expires_at = idle;
        }
    }

    /// Drops every entry matching `which`. Call after the store delete.
    fn invalidate(&self, which: impl Fn(&SessionRecord) -> bool) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, c| !which(&c.record));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(secret: &PlainSecret) -> SessionRecord {
        let now = OffsetDateTime::UNIX_EPOCH;
        SessionRecord {
            id: SessionId::new(),
            user_id: UserId::new(),
            secret_hash: secret.hash(),
            created_at: now,
            last_seen_at: now,
            expires_at: now + Duration::hours(1),
            idle_expires_at: now + Duration::minutes(1),
            device: Device::default(),
        }
    }

    #[test]
    fn an_insert_racing_an_invalidation_is_dropped() {
        let cache = SessionCache::new(10, Duration::seconds(60));
        let s = PlainSecret::generate().unwrap();
        let seen = cache.epoch();
        let r = record(&s);
        let id = r.id;
        cache.invalidate(|x| x.id == id);
        cache.insert_unless_invalidated(s.hash(), r.clone(), seen);
        assert!(cache.get(&s.hash()).is_none());
        cache.insert_unless_invalidated(s.hash(), r, cache.epoch());
        assert!(cache.get(&s.hash()).is_some());
    }

    #[test]
    fn the_cache_stays_within_capacity() {
        let cache = SessionCache::new(SHARDS, Duration::seconds(60));
        for _ in 0..200 {
            let s = PlainSecret::generate().unwrap();
            cache.insert_unless_invalidated(s.hash(), record(&s), cache.epoch());
        }
        let total: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= SHARDS, "{total}");
    }

    #[test]
    fn zero_ttl_disables_the_cache() {
        let cache = SessionCache::new(100, Duration::ZERO);
        let s = PlainSecret::generate().unwrap();
        cache.insert_unless_invalidated(s.hash(), record(&s), cache.epoch());
        assert!(cache.get(&s.hash()).is_none());
    }

    #[test]
    fn user_agents_are_bounded_at_a_char_boundary() {
        let ua = "é".repeat(200);
        let d = Device::new(Some(&ua), None);
        assert!(d.user_agent.unwrap().len() <= MAX_USER_AGENT_BYTES);
    }

    #[test]
    fn policy_validation() {
        assert!(SessionPolicy::default().validate().is_ok());
        let bad = SessionPolicy {
            touch_interval: Duration::hours(1),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
