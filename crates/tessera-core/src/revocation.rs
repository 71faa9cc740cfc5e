//! A node's copy of the access-token revocations, so that checking one costs no store read.
//!
//! The store ([`RevocationStore`]) is the single source of truth. A node writes there first,
//! then applies the same entry to its copy (so its own next request already sees it), and
//! pulls what other nodes wrote with [`RevocationList::sync`] (periodically; pushed later).
//! Entries are dropped once they no longer matter: a denied `jti` or `sid` after the last
//! token it covers has expired, a user cutoff after every token issued before it has.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

use crate::Result;
use crate::id::UserId;
use crate::store::{Revocation, Store};
use crate::token::AccessClaims;

/// Why a verified access token is refused anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Its `jti` was revoked (RFC 7009).
    Token,
    /// Its refresh family or session (`sid`) was revoked.
    Session,
    /// Its user logged out everywhere (or changed password) after it was issued.
    User,
}

#[derive(Debug, Default)]
struct State {
    version: u64,
    /// Denied `jti`s and `sid`s (the store's `jti:` and `sid:` keys, split by prefix).
    denied_jti: HashMap<String, OffsetDateTime>,
    denied_sid: HashMap<String, OffsetDateTime>,
    cutoffs: HashMap<UserId, (OffsetDateTime, OffsetDateTime)>,
}

/// The in-memory revocation list of one node.
#[derive(Debug, Clone)]
pub struct RevocationList {
    store: Arc<dyn Store>,
    state: Arc<RwLock<State>>,
    /// Moves on after every change that can revoke something, once the change is visible to
    /// [`Self::check`]: a token found not revoked at generation `g` is still not revoked while
    /// the generation is `g` (entries only ever un-revoke tokens that have expired anyway).
    generation: Arc<AtomicU64>,
}

/// The denylist key of one access token.
pub fn jti_key(jti: &str) -> String {
    format!("jti:{jti}")
}

/// The denylist key of every access token of a session or refresh family.
pub fn sid_key(sid: &str) -> String {
    format!("sid:{sid}")
}

impl RevocationList {
    /// An empty list over `store`; call [`Self::sync`] before serving.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            state: Arc::default(),
            generation: Arc::default(),
        }
    }

    /// The current generation; read it *before* [`Self::check`], and a later equal reading
    /// means the answer still holds.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether `claims` are revoked at `now`. Pure memory: the hot path of every JWT request.
    pub fn check(&self, claims: &AccessClaims, now: OffsetDateTime) -> Option<Revoked> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let live = |until: &OffsetDateTime| *until > now;
        // Keys are looked up without building "jti:…" strings: this runs on every request.
        if state.denied_jti.get(claims.jti.as_str()).is_some_and(live) {
            return Some(Revoked::Token);
        }
        if let Some(sid) = &claims.sid
            && state.denied_sid.get(sid.as_str()).is_some_and(live)
        {
            return Some(Revoked::Session);
        }
        if !state.cutoffs.is_empty()
            && let Ok(user) = claims.sub.parse::<UserId>()
            && let Some((at, until)) = state.cutoffs.get(&user)
            && live(until)
            && claims.issued_at() < *at
        {
            return Some(Revoked::User);
        }
        None
    }

    /// Denies `key` until `until`: in the store, then here.
    pub async fn deny(&self, key: &str, until: OffsetDateTime) -> Result<()> {
        self.store.deny(key, until).await?;
        self.apply(&[Revocation::Denied {
            key: key.to_owned(),
            until,
        }]);
        Ok(())
    }

    /// Refuses every token of `user` issued before `at` (whole seconds), until `until`: in the
    /// store, then here. Tokens issued in the second of `at` itself are not covered (a new
    /// login right after must work); revoke their `sid`s as well to cover those.
    pub async fn cut_off(
        &self,
        user: UserId,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<()> {
        self.store.set_cutoff(user, at, until).await?;
        self.apply(&[Revocation::Cutoff { user, at, until }]);
        Ok(())
    }

    /// Pulls what was written since the last sync (by any node).
    pub async fn sync(&self) -> Result<()> {
        let since = self.state.read().unwrap_or_else(|p| p.into_inner()).version;
        let changes = self.store.revocations_since(since).await?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if changes.version < state.version {
            // The store was replaced (restored from a backup): start again from everything.
            *state = State::default();
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        state.version = changes.version;
        drop(state);
        self.apply(&changes.revocations);
        Ok(())
    }

    /// Drops entries that no longer matter at `now`.
    pub fn prune(&self, now: OffsetDateTime) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.denied_jti.retain(|_, until| *until > now);
        state.denied_sid.retain(|_, until| *until > now);
        state.cutoffs.retain(|_, (_, until)| *until > now);
    }

    /// How many entries this node holds (for metrics and tests).
    pub fn len(&self) -> usize {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.denied_jti.len() + state.denied_sid.len() + state.cutoffs.len()
    }

    /// Whether this node holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn apply(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        for r in revocations {
            match r {
                Revocation::Denied { key, until } => {
                    let map = match key.split_once(':') {
                        Some(("jti", rest)) => Some((&mut state.denied_jti, rest)),
                        Some(("sid", rest)) => Some((&mut state.denied_sid, rest)),
                        // A kind this version does not know: nothing it checks can match it.
                        _ => None,
                    };
                    if let Some((map, rest)) = map {
                        let e = map.entry(rest.to_owned()).or_insert(*until);
                        *e = (*e).max(*until);
                    }
                }
                Revocation::Cutoff { user, at, until } => {
                    let e = state.cutoffs.entry(*user).or_insert((*at, *until));
                    *e = (e.0.max(*at), e.1.max(*until));
                }
            }
        }
        drop(state);
        // After the entries are in: whoever reads the new generation, then checks, sees them.
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
