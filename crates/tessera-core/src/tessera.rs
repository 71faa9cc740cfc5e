//! [`Tessera`]: the services of one node, wired to one store and one clock.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::account::{Accounts, HashingPolicy, PasswordHasher, User};
use crate::clock::Clock;
use crate::id::{FamilyId, SessionId, UserId};
use crate::jwt::{Issued, JwtPolicy, Tokens};
use crate::refresh::RefreshFamily;
use crate::secret::PlainSecret;
use crate::session::{Device, NewSession, SessionPolicy, SessionRecord, Sessions};
use crate::store::Store;
use crate::throttle::{Attempt, LoginThrottle, ThrottlePolicy};
use crate::{Error, Result};

/// The domain's configuration (the `[session]`, `[password]`, `[limits]` and `[jwt]` tables).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TesseraConfig {
    pub session: SessionPolicy,
    pub password: HashingPolicy,
    pub limits: ThrottlePolicy,
    pub jwt: JwtPolicy,
}

/// A signed-in device of either kind, for `GET /v1/sessions`.
#[derive(Debug, Clone)]
pub enum DeviceSession {
    /// A cookie session.
    Session(SessionRecord),
    /// A refresh family from `/v1/token`.
    Token(RefreshFamily),
}

/// What a credential-changing operation leaves alone: the caller's own session or family.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    pub session: Option<SessionId>,
    pub family: Option<FamilyId>,
}

/// One node's services.
#[derive(Debug)]
pub struct Tessera {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub throttle: LoginThrottle,
    pub tokens: Tokens,
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
    /// Wires the services: computes one argon2 hash (the dummy for unknown emails), loads or
    /// creates the signing keys, loads the revocations.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &TesseraConfig,
    ) -> Result<Self> {
        config.session.validate()?;
        let hasher = PasswordHasher::new(config.password)?;
        let tokens = Tokens::start(store.clone(), clock.clone(), config.jwt.clone()).await?;
        Ok(Self {
            tokens,
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

    /// JWT-mode login: checks the password (throttled) and starts a refresh family.
    pub async fn token_login(
        &self,
        email: &str,
        password: String,
        client: &Client,
    ) -> Result<(User, Issued)> {
        let user = self.check_password(email, password, client).await?;
        let device = Device::new(client.user_agent.as_deref(), client.ip.clone());
        let issued = self.tokens.issue(user.id, device).await?;
        Ok((user, issued))
    }

    /// Changes a password (the current one is checked, throttled like a login) and ends every
    /// other session and refresh family of the user; the caller's own (`keep`) stays.
    pub async fn change_password(
        &self,
        user: &User,
        current: String,
        new: String,
        keep: Keep,
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
        let sessions = self.end_sessions(user.id, keep.session).await?;
        let families = self.tokens.revoke_families(user.id, keep.family).await?;
        tracing::info!(user = %user.id, sessions, families, "password changed; other sessions ended");
        Ok(())
    }

    /// Ends every session of `user` but `keep`, and denies the access tokens minted from them.
    async fn end_sessions(&self, user: UserId, keep: Option<SessionId>) -> Result<usize> {
        let ids: Vec<SessionId> = self
            .sessions
            .list(user)
            .await?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(*id) != keep)
            .collect();
        self.sessions.revoke_all(user, keep).await?;
        for id in &ids {
            self.tokens.deny_sid(&id.to_string()).await?;
        }
        Ok(ids.len())
    }

    /// Logs `user` out everywhere: every session, every refresh family, and every access token
    /// issued before now.
    pub async fn logout_all(&self, user: UserId) -> Result<()> {
        // The cutoff first: from here on no earlier access token passes, whatever else fails.
        self.tokens.cut_off(user).await?;
        let sessions = self.end_sessions(user, None).await?;
        let families = self.tokens.revoke_families(user, None).await?;
        tracing::info!(user = %user, sessions, families, "logged out everywhere");
        Ok(())
    }

    /// Every live signed-in device of `user`, sessions and refresh families, oldest first.
    pub async fn devices(&self, user: UserId) -> Result<Vec<DeviceSession>> {
        let mut all: Vec<DeviceSession> = self
            .sessions
            .list(user)
            .await?
            .into_iter()
            .map(DeviceSession::Session)
            .collect();
        all.extend(
            self.tokens
                .families(user)
                .await?
                .into_iter()
                .map(DeviceSession::Token),
        );
        all.sort_by_key(|d| match d {
            DeviceSession::Session(s) => s.created_at,
            DeviceSession::Token(f) => f.created_at,
        });
        Ok(all)
    }

    /// Ends one device of `user`, of either kind, by its public id. `false` if `user` has none
    /// with that id. Access tokens minted from it are denied too.
    pub async fn revoke_device(&self, user: UserId, id: &str) -> Result<bool> {
        if let Ok(session) = id.parse::<SessionId>()
            && self.sessions.revoke(user, session).await?
        {
            self.tokens.deny_sid(id).await?;
            return Ok(true);
        }
        match id.parse::<FamilyId>() {
            Ok(family) => self.tokens.revoke_family(user, family).await,
            Err(_) => Ok(false),
        }
    }

    /// Ends a session (logout) and denies the access tokens minted from it.
    pub async fn end_session(&self, user: UserId, id: SessionId) -> Result<bool> {
        let ended = self.sessions.revoke(user, id).await?;
        self.tokens.deny_sid(&id.to_string()).await?;
        Ok(ended)
    }

    /// The user behind a session, if both still exist.
    pub async fn user(&self, id: UserId) -> Result<Option<Arc<User>>> {
        self.accounts.user(id).await
    }

    /// Deletes what has expired (sessions, throttle windows, ended refresh families, past
    /// revocations) and retires spent keys. Run periodically.
    pub async fn purge_expired(&self) -> Result<Purged> {
        let sessions = self.sessions.purge_expired().await?;
        let throttle_windows = self.throttle.purge_expired().await?;
        let (families, revocations) = self.tokens.purge().await?;
        Ok(Purged {
            sessions,
            throttle_windows,
            families,
            revocations,
        })
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub throttle_windows: u64,
    pub families: u64,
    pub revocations: u64,
}
