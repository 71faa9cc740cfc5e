//! [`Tessera`]: the services of one node, wired to one store and one clock.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::account::{Accounts, HashingPolicy, PasswordHasher, User};
use crate::clock::Clock;
use crate::id::{SessionId, UserId};
use crate::secret::PlainSecret;
use crate::session::{Device, NewSession, SessionPolicy, Sessions};
use crate::store::Store;
use crate::throttle::{Attempt, LoginThrottle, ThrottlePolicy};
use crate::{Error, Result};

/// The domain's configuration (the `[session]`, `[password]` and `[limits]` tables).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TesseraConfig {
    pub session: SessionPolicy,
    pub password: HashingPolicy,
    pub limits: ThrottlePolicy,
}

/// One node's services.
#[derive(Debug)]
pub struct Tessera {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub throttle: LoginThrottle,
}

/// Who is asking: the client address (after trusted-proxy resolution) and user agent.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Client {
    fn address(&self) -> &str {
        self.ip.as_deref().unwrap_or("unknown")
    }
}

impl Tessera {
    /// Wires the services. Computes one argon2 hash (the dummy for unknown emails).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &TesseraConfig,
    ) -> Result<Self> {
        config.session.validate()?;
        let hasher = PasswordHasher::new(config.password)?;
        Ok(Self {
            accounts: Accounts::new(store.clone(), hasher, clock.clone()),
            sessions: Sessions::new(store.clone(), clock.clone(), config.session),
            throttle: LoginThrottle::new(store.clone(), clock.clone(), config.limits),
            store,
            clock,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Checks a password under the login throttle.
    pub async fn check_password(
        &self,
        email: &str,
        password: String,
        client: &Client,
    ) -> Result<User> {
        let attempt = Attempt::new(email, client.address());
        match self
            .accounts
            .authenticate_gated(email, password, self.throttle.check(&attempt))
            .await
        {
            Ok(user) => {
                self.throttle.succeeded(&attempt).await?;
                Ok(user)
            }
            Err(Error::InvalidCredentials) => {
                self.throttle.failed(&attempt).await?;
                Err(Error::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// Session-mode login: checks the password (throttled) and starts a session with a new
    /// secret, ending the session of any cookie the client presented.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &Client,
        replacing: Option<&PlainSecret>,
    ) -> Result<(User, NewSession)> {
        let user = self.check_password(email, password, client).await?;
        let device = Device::new(client.user_agent.as_deref(), client.ip.clone());
        let session = self.sessions.start(user.id, device, replacing).await?;
        Ok((user, session))
    }

    /// Changes a password (the current one is checked, throttled like a login) and ends every
    /// other session of the user; the caller's own (`keep`) stays.
    pub async fn change_password(
        &self,
        user: &User,
        current: String,
        new: String,
        keep: Option<SessionId>,
        client: &Client,
    ) -> Result<()> {
        let attempt = Attempt::new(user.email.as_str(), client.address());
        match self
            .accounts
            .change_password(user.id, current, new, self.throttle.check(&attempt))
            .await
        {
            Err(Error::InvalidCredentials) => {
                self.throttle.failed(&attempt).await?;
                return Err(Error::InvalidCredentials);
            }
            other => other?,
        }
        self.throttle.succeeded(&attempt).await?;
        let ended = self.sessions.revoke_all(user.id, keep).await?;
        tracing::info!(user = %user.id, ended, "password changed; other sessions ended");
        Ok(())
    }

    /// The user behind a session, if both still exist.
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.accounts.user(id).await
    }

    /// Deletes what has expired (sessions, throttle windows). Run periodically.
    pub async fn purge_expired(&self) -> Result<(u64, u64)> {
        Ok((
            self.sessions.purge_expired().await?,
            self.throttle.purge_expired().await?,
        ))
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
