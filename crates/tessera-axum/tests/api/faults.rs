//! A store that fails: 503 `unavailable`, nothing half-done, and recovery without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::http::StatusCode;
use serde_json::json;
use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::id::{FamilyId, SessionId, UserId};
use tessera_core::refresh::{RefreshFamily, RefreshTokenRecord};
use tessera_core::secret::SecretHash;
use tessera_core::session::SessionRecord;
use tessera_core::store::{
    KeyMaterial, KeyStateChange, KeyStore, RefreshStore, RevocationChanges, RevocationStore,
    SessionStore, Store, StoreError, StoredKey, ThrottleStore, ThrottleWindow, UserStore,
};
use tessera_store::memory::MemoryStore;
use time::{Duration, OffsetDateTime};

use crate::support::*;

/// A memory store that can be switched off.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    down: AtomicBool,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("switched off by the test".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl UserStore for Flaky {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_user(user).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.check()?;
        self.inner.user_by_email(email).await
    }
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.check()?;
        self.inner.user_by_id(id).await
    }
    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_password_hash(id, hash).await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.check()?;
        self.inner.list_users().await
    }
}

#[async_trait]
impl SessionStore for Flaky {
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_session(s).await
    }
    async fn session_by_hash(&self, h: &SecretHash) -> Result<Option<SessionRecord>, StoreError> {
        self.check()?;
        self.inner.session_by_hash(h).await
    }
    async fn touch_session(
        &self,
        id: SessionId,
        a: OffsetDateTime,
        b: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.touch_session(id, a, b).await
    }
    async fn sessions_of_user(&self, u: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        self.check()?;
        self.inner.sessions_of_user(u).await
    }
    async fn delete_session(&self, u: UserId, id: SessionId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_session(u, id).await
    }
    async fn delete_sessions_of_user(
        &self,
        u: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.delete_sessions_of_user(u, keep).await
    }
    async fn purge_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.purge_expired_sessions(now).await
    }
}

#[async_trait]
impl ThrottleStore for Flaky {
    async fn throttle_hit(
        &self,
        k: &str,
        w: Duration,
        now: OffsetDateTime,
    ) -> Result<ThrottleWindow, StoreError> {
        self.check()?;
        self.inner.throttle_hit(k, w, now).await
    }
    async fn throttle_peek(
        &self,
        k: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ThrottleWindow>, StoreError> {
        self.check()?;
        self.inner.throttle_peek(k, now).await
    }
    async fn throttle_clear(&self, k: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.throttle_clear(k).await
    }
    async fn purge_expired_throttles(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.purge_expired_throttles(now).await
    }
}

#[async_trait]
impl RefreshStore for Flaky {
    async fn create_family(&self, f: &RefreshFamily, h: &SecretHash) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_family(f, h).await
    }
    async fn find_refresh_token(
        &self,
        h: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        self.check()?;
        self.inner.find_refresh_token(h).await
    }
    async fn family(&self, id: FamilyId) -> Result<Option<RefreshFamily>, StoreError> {
        self.check()?;
        self.inner.family(id).await
    }
    async fn rotate_family(
        &self,
        id: FamilyId,
        from: u32,
        next: &SecretHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner
            .rotate_family(id, from, next, now, expires_at)
            .await
    }
    async fn revoke_family(&self, id: FamilyId, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.revoke_family(id, now).await
    }
    async fn revoke_family_of_user(
        &self,
        u: UserId,
        id: FamilyId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.revoke_family_of_user(u, id, now).await
    }
    async fn revoke_families_of_user(
        &self,
        u: UserId,
        keep: Option<FamilyId>,
        now: OffsetDateTime,
    ) -> Result<Vec<FamilyId>, StoreError> {
        self.check()?;
        self.inner.revoke_families_of_user(u, keep, now).await
    }
    async fn families_of_user(&self, u: UserId) -> Result<Vec<RefreshFamily>, StoreError> {
        self.check()?;
        self.inner.families_of_user(u).await
    }
    async fn purge_families(&self, ended_by: OffsetDateTime) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.purge_families(ended_by).await
    }
}

#[async_trait]
impl KeyStore for Flaky {
    async fn insert_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_key(k).await
    }
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.check()?;
        self.inner.keys().await
    }
    async fn set_key_states(
        &self,
        changes: &[KeyStateChange],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_key_states(changes, at).await
    }
    async fn delete_key(&self, kid: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_key(kid).await
    }
    async fn server_secret(
        &self,
        name: &str,
        candidate: &KeyMaterial,
    ) -> Result<KeyMaterial, StoreError> {
        self.check()?;
        self.inner.server_secret(name, candidate).await
    }
}

#[async_trait]
impl RevocationStore for Flaky {
    async fn deny(&self, key: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        self.check()?;
        self.inner.deny(key, until).await
    }
    async fn set_cutoff(
        &self,
        u: UserId,
        at: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set_cutoff(u, at, until).await
    }
    async fn revocations_since(&self, version: u64) -> Result<RevocationChanges, StoreError> {
        self.check()?;
        self.inner.revocations_since(version).await
    }
    async fn purge_revocations(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.purge_revocations(now).await
    }
}

#[async_trait]
impl Store for Flaky {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

#[tokio::test]
async fn a_store_outage_is_503_and_the_node_recovers() {
    let store = Arc::new(Flaky::default());
    let app = TestApp::builder()
        .store(store.clone())
        .config(|c| c.session.cache_ttl = Duration::ZERO)
        .build()
        .await;
    let login = app.user_and_login("a@example.com").await;

    store.down.store(true, Ordering::SeqCst);
    app.get("/readyz")
        .send()
        .await
        .assert_problem(503, "unavailable");
    assert_eq!(
        app.get("/healthz").send().await.status,
        StatusCode::OK,
        "the process itself is fine"
    );
    app.get("/v1/me")
        .cookie(&login)
        .send()
        .await
        .assert_problem(503, "unavailable");
    app.post("/v1/session/login")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await
        .assert_problem(503, "unavailable");
    app.post("/v1/users")
        .json(json!({"email": "b@example.com", "password": PASSWORD}))
        .send()
        .await
        .assert_problem(503, "unavailable");
    app.delete(&format!("/v1/sessions/{}", login.session_id))
        .auth(&login)
        .send()
        .await
        .assert_problem(503, "unavailable");

    store.down.store(false, Ordering::SeqCst);
    assert_eq!(app.get("/readyz").send().await.status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/me").cookie(&login).send().await.status,
        StatusCode::OK,
        "the session survived the outage"
    );
    app.login("a@example.com").await;
    app.register("b@example.com").await;
}

#[tokio::test]
async fn a_closed_sqlite_pool_is_503_not_a_panic() {
    let app = TestApp::sqlite().await;
    let login = app.user_and_login("a@example.com").await;
    app.sqlite.as_ref().unwrap().pool().close().await;
    app.clock.advance(Duration::seconds(5));
    app.get("/readyz")
        .send()
        .await
        .assert_problem(503, "unavailable");
    app.post("/v1/session/login")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await
        .assert_problem(503, "unavailable");
    let _ = login;
}
