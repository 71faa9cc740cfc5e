//! The key ring: which keys a node knows, in which state, and the pure transitions between
//! states that a service persists (atomically, with each change's `from` state as the
//! condition) and every node then reloads.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::{Jwks, KeyError, KeyPair, KeyResolver, VerificationKey};

pub use crate::store::KeyState;

// What each state allows. The enum lives with the store traits (stores keep it); its meaning
// lives here, with the ring that acts on it:
//
// | state | published in the JWKS | signs | verifies |
// |---|---|---|---|
// | `Next` | yes | no | yes |
// | `Active` | yes | yes (the one signing key) | yes |
// | `Retiring` | yes | no | yes |
// | `Retired` | no | no | no |
//
// - `Next`: the successor, published ahead of use so that every verifier (other nodes,
//   downstream services caching our JWKS) knows it before the first token it signs. It also
//   verifies, so a node that has already promoted it can hand tokens to a node that has not
//   reloaded yet.
// - `Active`: signs every new token. Exactly one key is active in a working ring.
// - `Retiring`: signed tokens that may still be live; kept (verifying and published) until the
//   last of them expires, i.e. for the access-token lifetime plus leeway after it left `Active`.
// - `Retired`: no token signed by it can be live any more; it verifies nothing and is no longer
//   published. A store may delete it.
impl KeyState {
    /// Whether a token naming a key in this state may be verified with it.
    pub fn verifies(self) -> bool {
        matches!(self, Self::Next | Self::Active | Self::Retiring)
    }

    /// Whether the key's public half belongs in the JWKS (asymmetric keys only).
    pub fn is_published(self) -> bool {
        self.verifies()
    }
}

/// One key in a ring: the key, its state, and since when it has been in that state.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The key.
    pub key: Arc<KeyPair>,
    /// Its state.
    pub state: KeyState,
    /// When it entered that state (for `Retiring`: when it stopped signing).
    pub since: OffsetDateTime,
}

/// One state change for a store to apply. `from: None` means "insert this new key". A store
/// applies the changes of one [`Transition`] atomically, each conditional on the key still
/// being in `from`, so two nodes rotating at once cannot both succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The key.
    pub kid: String,
    /// The state the key must be in now (`None`: the key is new).
    pub from: Option<KeyState>,
    /// The state it moves to.
    pub to: KeyState,
    /// When (becomes the entry's `since`).
    pub at: OffsetDateTime,
}

/// The result of a transition: the ring after it and the changes that lead there.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The ring after the transition.
    pub ring: KeyRing,
    /// What to persist, in order.
    pub changes: Vec<KeyChange>,
}

/// A snapshot of the keys a node knows. Cheap to clone (keys are shared); a node swaps its
/// whole ring when the store says something changed.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    entries: Vec<KeyEntry>,
}

impl KeyRing {
    /// A ring with no keys: signs nothing, verifies nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A ring from stored entries. Refuses two keys with one `kid`, more than one `Active` key
    /// and more than one `Next` key.
    pub fn new(entries: Vec<KeyEntry>) -> Result<Self, KeyError> {
        for (i, entry) in entries.iter().enumerate() {
            if entries[..i].iter().any(|e| e.key.kid() == entry.key.kid()) {
                return Err(KeyError::Ring(format!(
                    "two keys named {:?}",
                    entry.key.kid()
                )));
            }
        }
        for state in [KeyState::Active, KeyState::Next] {
            if entries.iter().filter(|e| e.state == state).count() > 1 {
                return Err(KeyError::Ring(format!("more than one {state} key")));
            }
        }
        Ok(Self { entries })
    }

    /// The ring for a store that has no keys yet: `active` signs, `next` waits, both published.
    pub fn initial(
        active: KeyPair,
        next: KeyPair,
        now: OffsetDateTime,
    ) -> Result<Transition, KeyError> {
        let entries = vec![
            KeyEntry {
                key: Arc::new(active),
                state: KeyState::Active,
                since: now,
            },
            KeyEntry {
                key: Arc::new(next),
                state: KeyState::Next,
                since: now,
            },
        ];
        let changes = entries
            .iter()
            .map(|e| KeyChange {
                kid: e.key.kid().to_owned(),
                from: None,
                to: e.state,
                at: now,
            })
            .collect();
        Ok(Transition {
            ring: Self::new(entries)?,
            changes,
        })
    }

    /// Every entry, in the order the store gave them.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The entry for `kid`, in any state.
    pub fn get(&self, kid: &str) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| e.key.kid() == kid)
    }

    /// The `Active` key: the one that signs.
    pub fn signing_key(&self) -> Option<&KeyPair> {
        self.in_state(KeyState::Active)
    }

    /// The `Next` key, if any.
    pub fn next_key(&self) -> Option<&KeyPair> {
        self.in_state(KeyState::Next)
    }

    fn in_state(&self, state: KeyState) -> Option<&KeyPair> {
        self.entries
            .iter()
            .find(|e| e.state == state)
            .map(|e| e.key.as_ref())
    }

    /// The public keys to publish: every `Next`, `Active` and `Retiring` asymmetric key
    /// (Active first, then Next, then Retiring, newest first). HS256 keys never appear.
    pub fn jwks(&self) -> Jwks {
        let mut published: Vec<&KeyEntry> = self
            .entries
            .iter()
            .filter(|e| e.state.is_published() && e.key.public_jwk().is_some())
            .collect();
        let rank = |s: KeyState| match s {
            KeyState::Active => 0,
            KeyState::Next => 1,
            _ => 2,
        };
        published.sort_by(|a, b| {
            rank(a.state)
                .cmp(&rank(b.state))
                .then(b.since.cmp(&a.since))
        });
        Jwks {
            keys: published
                .into_iter()
                .filter_map(|e| e.key.public_jwk().cloned())
                .collect(),
        }
    }

    /// Rotation: `Next` becomes `Active`, the old `Active` becomes `Retiring`, and `new_next`
    /// becomes the new `Next`. Refused if the ring has no `Next` (a key must be published
    /// before it signs: add one with [`Self::add_next`] first).
    pub fn rotate(&self, new_next: KeyPair, now: OffsetDateTime) -> Result<Transition, KeyError> {
        let Some(next_kid) = self.next_key().map(|k| k.kid().to_owned()) else {
            return Err(KeyError::Ring(
                "no next key to promote; add one and let it be published first".into(),
            ));
        };
        self.refuse_known(&new_next)?;
        let mut changes = Vec::new();
        let mut entries = self.entries.clone();
        for entry in &mut entries {
            let to = match entry.state {
                KeyState::Active => KeyState::Retiring,
                KeyState::Next if entry.key.kid() == next_kid => KeyState::Active,
                _ => continue,
            };
            changes.push(KeyChange {
                kid: entry.key.kid().to_owned(),
                from: Some(entry.state),
                to,
                at: now,
            });
            entry.state = to;
            entry.since = now;
        }
        changes.push(KeyChange {
            kid: new_next.kid().to_owned(),
            from: None,
            to: KeyState::Next,
            at: now,
        });
        entries.push(KeyEntry {
            key: Arc::new(new_next),
            state: KeyState::Next,
            since: now,
        });
        Ok(Transition {
            ring: Self::new(entries)?,
            changes,
        })
    }

    /// Adds a `Next` key to a ring that has none (e.g. one that started from a PEM file).
    pub fn add_next(&self, key: KeyPair, now: OffsetDateTime) -> Result<Transition, KeyError> {
        if self.next_key().is_some() {
            return Err(KeyError::Ring("the ring already has a next key".into()));
        }
        self.refuse_known(&key)?;
        let change = KeyChange {
            kid: key.kid().to_owned(),
            from: None,
            to: KeyState::Next,
            at: now,
        };
        let mut entries = self.entries.clone();
        entries.push(KeyEntry {
            key: Arc::new(key),
            state: KeyState::Next,
            since: now,
        });
        Ok(Transition {
            ring: Self::new(entries)?,
            changes: vec![change],
        })
    }

    /// Retires one `Retiring` key now (`tessera keys retire KID`). Tokens it signed stop
    /// verifying. Refused for keys in any other state.
    pub fn retire(&self, kid: &str, now: OffsetDateTime) -> Result<Transition, KeyError> {
        match self.get(kid) {
            None => Err(KeyError::Ring(format!("no key named {kid:?}"))),
            Some(e) if e.state != KeyState::Retiring => Err(KeyError::Ring(format!(
                "key {kid:?} is {}; only a retiring key can be retired",
                e.state
            ))),
            Some(_) => Ok(self.retire_where(now, |e| e.key.kid() == kid)),
        }
    }

    /// Retires every `Retiring` key that has not signed for at least `max_token_lifetime`
    /// (the access-token lifetime plus the verifier's leeway): none of its tokens can be live.
    /// The changes are empty when there is nothing to do.
    pub fn retire_expired(&self, now: OffsetDateTime, max_token_lifetime: Duration) -> Transition {
        self.retire_where(now, |e| {
            e.state == KeyState::Retiring && e.since + max_token_lifetime <= now
        })
    }

    fn retire_where(&self, now: OffsetDateTime, pick: impl Fn(&KeyEntry) -> bool) -> Transition {
        let mut changes = Vec::new();
        let mut entries = self.entries.clone();
        for entry in entries.iter_mut().filter(|e| pick(e)) {
            changes.push(KeyChange {
                kid: entry.key.kid().to_owned(),
                from: Some(entry.state),
                to: KeyState::Retired,
                at: now,
            });
            entry.state = KeyState::Retired;
            entry.since = now;
        }
        Transition {
            ring: Self { entries },
            changes,
        }
    }

    fn refuse_known(&self, key: &KeyPair) -> Result<(), KeyError> {
        if self.get(key.kid()).is_some() {
            return Err(KeyError::Ring(format!(
                "key {:?} is already in the ring",
                key.kid()
            )));
        }
        Ok(())
    }
}

impl KeyResolver for KeyRing {
    /// `Next`, `Active` and `Retiring` keys; `Retired` ones verify nothing.
    fn verification_key(&self, kid: &str) -> Option<&VerificationKey> {
        self.entries
            .iter()
            .find(|e| e.state.verifies() && e.key.kid() == kid)
            .map(|e| e.key.verification_key())
    }
}

impl KeyRing {
    /// The key that may verify a token naming `kid` (`Next`, `Active` or `Retiring`).
    /// Same as the [`KeyResolver`] method, callable without importing the trait.
    pub fn verification_key(&self, kid: &str) -> Option<&VerificationKey> {
        KeyResolver::verification_key(self, kid)
    }
}
