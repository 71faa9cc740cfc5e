//! The cache of access tokens already verified on this node, so a token used again is not
//! parsed and its signature not checked again.
//!
//! An entry is used only until the token's `exp` (plus leeway), and only after the revocation
//! check passes, so the cache changes the cost of a request, never its outcome. The revocation
//! check itself is skipped when nothing was revoked since the entry last passed it: the entry
//! remembers the [`RevocationList`](crate::revocation::RevocationList) generation it was
//! checked at, and every revocation this node learns of moves the generation on. Entries never
//! need un-revoking: a revocation lasts until the tokens it covers have expired.

use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use hashbrown::HashTable;
use time::{Duration, OffsetDateTime};

use crate::account::User;
use crate::id::UserId;
use crate::token::AccessClaims;

/// An access token that verified: its claims, its subject as a user id (and, once looked up,
/// the user), and when it last passed the revocation check.
#[derive(Debug)]
pub struct VerifiedToken {
    claims: AccessClaims,
    user: Option<UserId>,
    /// The user, as first looked up for this token: a copy of its own, so that requests with
    /// different tokens of one user share no reference count (on a busy user that counter
    /// bounced between cores on every request). A user never changes once created; a
    /// deleted one is ended by revoking its tokens, like a logout everywhere.
    owner: OnceLock<Arc<User>>,
    /// The revocation generation at which it was last found not revoked; `u64::MAX`: never.
    checked: AtomicU64,
}

impl VerifiedToken {
    /// A token that has just verified (not yet checked for revocation).
    pub fn new(claims: AccessClaims) -> Self {
        Self {
            user: claims.sub.parse().ok(),
            claims,
            owner: OnceLock::new(),
            checked: AtomicU64::new(u64::MAX),
        }
    }

    /// Its claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// Its `sub` as a user id; `None` if `sub` is not one (such a token authenticates nobody).
    pub fn user_id(&self) -> Option<UserId> {
        self.user
    }

    /// The user of this token, if it was looked up before.
    pub fn owner(&self) -> Option<&Arc<User>> {
        self.owner.get()
    }

    /// Remembers the user of this token (a copy of `user`, see the field); returns it. The
    /// caller must have found `user` by [`Self::user_id`].
    pub fn remember_owner(&self, user: &User) -> Arc<User> {
        self.owner.get_or_init(|| Arc::new(user.clone())).clone()
    }

    /// Whether it passed the revocation check at `generation`.
    pub(crate) fn checked_at(&self, generation: u64) -> bool {
        self.checked.load(Ordering::Relaxed) == generation
    }

    /// Records that it passed the revocation check at `generation`.
    pub(crate) fn mark_checked(&self, generation: u64) {
        self.checked.store(generation, Ordering::Relaxed);
    }
}

impl Deref for VerifiedToken {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.claims
    }
}

/// Enough that two workers seldom want the same lock at once (each lock's cache line moves
/// between cores when they do).
const SHARDS: usize = 64;
/// Bytes of the token's end that are hashed: the end of the signature, as good as random for
/// any token that verified (and only those are ever inserted), so hashing the ~500 bytes of a
/// whole token would buy nothing. Lookups still compare the whole token.
const HASHED_TAIL: usize = 16;

type Shard = HashTable<(Box<str>, Arc<VerifiedToken>)>;

/// Tokens whose signature and claims were verified, keyed by the whole token.
#[derive(Debug)]
pub(crate) struct VerifiedCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: std::hash::RandomState,
}

impl VerifiedCache {
    /// A cache of at most about `capacity` tokens; zero disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn hash(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        self.hasher
            .hash_one(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..])
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // The top bits pick the shard; the table uses the low ones.
        let i = usize::try_from(hash >> 58).unwrap_or(0) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        if self.per_shard == 0 {
            return None;
        }
        let hash = self.hash(token);
        self.shard(hash)
            .find(hash, |(t, _)| **t == *token)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn insert(&self, token: &str, verified: &Arc<VerifiedToken>) {
        if self.per_shard == 0 {
            return;
        }
        let hash = self.hash(token);
        let mut shard = self.shard(hash);
        if shard.len() >= self.per_shard {
            // Full of live tokens: start the shard afresh rather than track recency per hit.
            shard.clear();
        }
        match shard.find_entry(hash, |(t, _)| **t == *token) {
            Ok(mut entry) => entry.get_mut().1 = verified.clone(),
            Err(_) => {
                shard.insert_unique(hash, (token.into(), verified.clone()), |(t, _)| {
                    self.hash(t)
                });
            }
        }
    }

    pub(crate) fn remove(&self, token: &str) {
        let hash = self.hash(token);
        if let Ok(entry) = self.shard(hash).find_entry(hash, |(t, _)| **t == *token) {
            entry.remove();
        }
    }

    pub(crate) fn clear(&self) {
        for s in &self.shards {
            s.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Drops the entries of tokens expired at `now`.
    pub(crate) fn purge(&self, now: OffsetDateTime, leeway: Duration) {
        for s in &self.shards {
            s.lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(_, v)| v.expires_at() + leeway >= now);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(jti: &str) -> AccessClaims {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut c = AccessClaims::new(
            "https://iss",
            "0190f0c4-8a4e-7c3b-9d51-3f2a6b1e9c70",
            "aud",
            now,
            Duration::minutes(15),
        )
        .unwrap();
        c.jti = jti.into();
        c
    }

    #[test]
    fn tokens_with_the_same_tail_are_told_apart_by_the_whole_token() {
        let cache = VerifiedCache::new(100);
        let tail = "x".repeat(HASHED_TAIL);
        let (a, b) = (format!("a.{tail}"), format!("b.{tail}"));
        cache.insert(&a, &Arc::new(VerifiedToken::new(claims("A"))));
        assert!(cache.get(&b).is_none());
        cache.insert(&b, &Arc::new(VerifiedToken::new(claims("B"))));
        assert_eq!(cache.get(&a).unwrap().jti, "A");
        assert_eq!(cache.get(&b).unwrap().jti, "B");
        cache.remove(&a);
        assert!(cache.get(&a).is_none());
        assert_eq!(cache.get(&b).unwrap().jti, "B");
        // Shorter than the hashed tail, and empty, work too.
        cache.insert("t", &Arc::new(VerifiedToken::new(claims("T"))));
        assert_eq!(cache.get("t").unwrap().jti, "T");
        assert!(cache.get("").is_none());
    }

    #[test]
    fn capacity_zero_is_no_cache_and_a_full_shard_starts_afresh() {
        let off = VerifiedCache::new(0);
        off.insert("t", &Arc::new(VerifiedToken::new(claims("T"))));
        assert!(off.get("t").is_none());

        let small = VerifiedCache::new(SHARDS); // one per shard
        for i in 0..10 * SHARDS {
            small.insert(
                &format!("token-{i:04}"),
                &Arc::new(VerifiedToken::new(claims("x"))),
            );
        }
        assert!(small.len() <= SHARDS, "{}", small.len());
    }

    #[test]
    fn the_subject_is_parsed_once_and_revocation_checks_are_remembered_per_generation() {
        let v = VerifiedToken::new(claims("A"));
        assert_eq!(
            v.user_id().map(|u| u.to_string()).as_deref(),
            Some("0190f0c4-8a4e-7c3b-9d51-3f2a6b1e9c70")
        );
        assert!(!v.checked_at(0));
        v.mark_checked(3);
        assert!(v.checked_at(3) && !v.checked_at(4));
        // The owner is looked up once; later requests get the same copy.
        assert!(v.owner().is_none());
        let user = User {
            id: v.user_id().unwrap(),
            email: crate::account::Email::parse("a@example.com").unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let first = v.remember_owner(&user);
        assert_eq!(*first, user);
        assert!(Arc::ptr_eq(&first, v.owner().unwrap()));
        assert!(Arc::ptr_eq(&first, &v.remember_owner(&user)));
        let mut odd = claims("B");
        odd.sub = "not-a-user".into();
        assert_eq!(VerifiedToken::new(odd).user_id(), None);
    }
}
