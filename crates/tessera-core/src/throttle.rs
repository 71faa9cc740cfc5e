//! Login throttling, per account+client address and per client address, in the store so that
//! every node sees the same counts.
//!
//! Both keys count failures, so a user logging in from many tabs at once is never throttled,
//! and an office behind one address is not locked out by its own successful logins. A success
//! clears the account+address count. The check runs as the gate of the password hash (after a
//! hashing slot is taken), so a burst of parallel guesses overshoots a limit by at most the
//! number of hashing slots per node, not by the size of the burst.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::account::Email;
use crate::clock::Clock;
use crate::store::{Store, ThrottleWindow};
use crate::{Error, Result};

/// Limits on failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// The counting window.
    #[serde(with = "crate::duration_serde")]
    pub window: Duration,
    /// Attempts allowed per account and client address in a window (a success resets).
    pub per_account: u32,
    /// Failed attempts allowed per client address in a window, whatever the account.
    pub per_address: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            window: Duration::minutes(15),
            per_account: 10,
            per_address: 100,
        }
    }
}

/// The login throttle.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: ThrottlePolicy,
}

/// The keys for one attempt. Hashed, so the store holds no emails of accounts that may not exist.
#[derive(Debug, Clone)]
pub struct Attempt {
    account_key: String,
    address_key: String,
}

impl Attempt {
    /// The keys for a login of `email` (normalised if plausible) from `address`.
    pub fn new(email: &str, address: &str) -> Self {
        let email = Email::parse(email)
            .map(|e| e.as_str().to_owned())
            .unwrap_or_else(|_| email.to_owned());
        let key = |parts: &[&str]| {
            let mut h = Sha256::new();
            for p in parts {
                h.update(p.as_bytes());
                h.update([0u8]);
            }
            h.finalize()
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        Self {
            account_key: format!("login:acct:{}", key(&[&email, address])),
            address_key: format!("login:addr:{}", key(&[address])),
        }
    }
}

impl LoginThrottle {
    /// A throttle over a store.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, policy: ThrottlePolicy) -> Self {
        Self {
            store,
            clock,
            policy,
        }
    }

    /// Refuses the attempt if the account+address or the address has failed too often.
    /// Run it as the gate of the password check, right before hashing.
    pub async fn check(&self, attempt: &Attempt) -> Result<()> {
        let now = self.clock.now();
        for (key, max) in [
            (&attempt.account_key, self.policy.per_account),
            (&attempt.address_key, self.policy.per_address),
        ] {
            if let Some(w) = self.store.throttle_peek(key, now).await?
                && w.count >= max
            {
                return Err(limited(w, now));
            }
        }
        Ok(())
    }

    /// Call after the password was wrong.
    pub async fn failed(&self, attempt: &Attempt) -> Result<()> {
        let now = self.clock.now();
        self.store
            .throttle_hit(&attempt.account_key, self.policy.window, now)
            .await?;
        self.store
            .throttle_hit(&attempt.address_key, self.policy.window, now)
            .await?;
        Ok(())
    }

    /// Call after the password was right.
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<()> {
        Ok(self.store.throttle_clear(&attempt.account_key).await?)
    }

    /// Deletes ended windows.
    pub async fn purge_expired(&self) -> Result<u64> {
        Ok(self.store.purge_expired_throttles(self.clock.now()).await?)
    }
}

fn limited(w: ThrottleWindow, now: OffsetDateTime) -> Error {
    let secs = (w.resets_at - now).whole_seconds().max(1);
    Error::RateLimited {
        retry_after: std::time::Duration::from_secs(secs.unsigned_abs()),
    }
}
