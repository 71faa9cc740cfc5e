//! JWT mode: signed access tokens, rotating refresh tokens, revocation.
//!
//! - Keys live in the store ([`KeyStore`]); every node loads the ring at start and reloads it on
//!   [`Tokens::sync`], so a rotation made anywhere is picked up without a restart.
//! - Access tokens are verified locally. A bounded cache of already-verified tokens (keyed by
//!   the whole token, each entry valid only until the token's `exp`) spares the signature check
//!   on repeat use; the revocation check runs on every request, cached or not, from memory
//!   (and costs one atomic read when nothing was revoked since the token last passed it; see
//!   [`crate::verified`]).
//! - Refresh tokens rotate on every use with an atomic compare-and-set in the store; see
//!   [`crate::refresh`] for the grace and reuse rules.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::clock::{self, Clock};
use crate::id::{FamilyId, UserId};
use crate::key::{
    Algorithm, BatchStats, DEFAULT_MAX_BATCH, Jwks, KeyEntry, KeyPair, KeyRing, KeyState,
    SignatureBatcher, Transition,
};
use crate::refresh::{
    REFRESH_SECRET_NAME, RefreshFamily, RefreshTokenUse, SERVER_SECRET_BYTES, successor_token,
};
use crate::revocation::{RevocationList, jti_key, sid_key};
use crate::secret::PlainSecret;
use crate::session::Device;
use crate::store::{KeyMaterial, KeyStateChange, Store, StoreError, StoredKey};
use crate::token::{AccessClaims, TokenError, Verifier};
use crate::verified::{VerifiedCache, VerifiedToken};
use crate::{Error, Result};

/// JWT mode's settings (the `[jwt]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtPolicy {
    /// Algorithm of newly generated keys.
    pub algorithm: Algorithm,
    /// `iss` of our tokens (the binary defaults it to the public URL).
    pub issuer: String,
    /// `aud` of our tokens (the binary defaults it to the issuer).
    pub audience: String,
    /// Lifetime of an access token.
    #[serde(with = "crate::duration_serde")]
    pub access_ttl: Duration,
    /// A refresh family ends this long after its last rotation.
    #[serde(with = "crate::duration_serde")]
    pub refresh_ttl: Duration,
    /// A rotated refresh token presented again within this time gets the same successor.
    #[serde(with = "crate::duration_serde")]
    pub reuse_grace: Duration,
    /// Clock skew tolerated on `exp`, `nbf`, `iat`.
    #[serde(with = "crate::duration_serde")]
    pub leeway: Duration,
    /// Most verified tokens a node remembers. Zero disables the cache.
    pub cache_capacity: usize,
    /// Most Ed25519 signatures of concurrent requests checked as one batch; 0 or 1 checks
    /// each alone (see [`SignatureBatcher`]).
    pub verify_batch: usize,
    /// How long ended refresh families are kept so their old tokens still count as reuse.
    #[serde(with = "crate::duration_serde")]
    pub family_retention: Duration,
}

impl Default for JwtPolicy {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::EdDSA,
            issuer: "http://127.0.0.1:8080".into(),
            audience: "http://127.0.0.1:8080".into(),
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            reuse_grace: Duration::seconds(10),
            leeway: Duration::seconds(30),
            cache_capacity: 100_000,
            verify_batch: DEFAULT_MAX_BATCH,
            family_retention: Duration::days(7),
        }
    }
}

impl JwtPolicy {
    /// How long after issue an access token can still be accepted.
    pub fn max_token_life(&self) -> Duration {
        self.access_ttl + self.leeway
    }
}

/// Tokens handed to a client.
#[derive(Debug)]
pub struct Issued {
    /// The signed access token.
    pub access_token: String,
    /// Its claims.
    pub claims: AccessClaims,
    /// The refresh token, when the grant produces one.
    pub refresh: Option<(PlainSecret, RefreshFamily)>,
}

/// What introspection (RFC 7662) reports of a live token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspected {
    /// A live access token.
    Access(AccessClaims),
    /// A live refresh token (its family's current one).
    Refresh(RefreshFamily),
}

/// JWT mode's service.
#[derive(Debug)]
pub struct Tokens {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: JwtPolicy,
    verifier: Verifier,
    ring: RwLock<Arc<KeyRing>>,
    refresh_secret: KeyMaterial,
    /// This node's copy of the revocations.
    pub revocations: RevocationList,
    cache: VerifiedCache,
    batcher: SignatureBatcher,
}

impl Tokens {
    /// Loads (or on first start creates) the keys and the refresh secret, and the revocations.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: JwtPolicy,
    ) -> Result<Self> {
        let mut candidate = vec![0u8; SERVER_SECRET_BYTES];
        crate::secret::random_bytes(&mut candidate)?;
        let refresh_secret = store
            .server_secret(REFRESH_SECRET_NAME, &KeyMaterial::from_vec(candidate))
            .await?;
        let verifier = Verifier::new(policy.issuer.clone(), policy.audience.clone())
            .with_leeway(policy.leeway);
        let tokens = Self {
            revocations: RevocationList::new(store.clone()),
            cache: VerifiedCache::new(policy.cache_capacity),
            batcher: SignatureBatcher::new(policy.verify_batch),
            ring: RwLock::new(Arc::new(KeyRing::empty())),
            store,
            clock,
            policy,
            verifier,
            refresh_secret,
        };
        tokens.ensure_keys().await?;
        tokens.revocations.sync().await?;
        Ok(tokens)
    }

    /// The policy in force.
    pub fn policy(&self) -> &JwtPolicy {
        &self.policy
    }

    /// The current key ring.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What this node's signature batches have done so far (see [`SignatureBatcher`]).
    pub fn batch_stats(&self) -> BatchStats {
        self.batcher.stats()
    }

    /// The public keys that may have live tokens (RFC 7517).
    pub fn jwks(&self) -> Jwks {
        self.ring().jwks()
    }

    // ---- keys ----

    /// Reloads the key ring from the store (picks up rotations made by other nodes).
    pub async fn reload_keys(&self) -> Result<()> {
        let ring = load_ring(self.store.as_ref()).await?;
        let mut current = self.ring.write().unwrap_or_else(|p| p.into_inner());
        let removed = current
            .entries()
            .iter()
            .any(|e| e.state.verifies() && ring.verification_key(e.key.kid()).is_none());
        *current = Arc::new(ring);
        drop(current);
        if removed {
            // A key stopped verifying (retired, perhaps because it leaked): nothing it signed
            // may be served from the cache any more.
            self.cache.clear();
        }
        Ok(())
    }

    /// Makes sure there is an active key: on a store without keys, generates an active and a
    /// next key of the configured algorithm. Two nodes doing this at once each insert theirs;
    /// [`load_ring`] then settles on the oldest, and the extras are retired here.
    async fn ensure_keys(&self) -> Result<()> {
        self.reload_keys().await?;
        if self.ring().signing_key().is_none() {
            let now = self.clock.now();
            let alg = self.policy.algorithm;
            let (active, next) = (generate(alg).await?, generate(alg).await?);
            let t = KeyRing::initial(active, next, now)?;
            for entry in t.ring.entries() {
                match self.store.insert_key(&stored(entry)).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            tracing::info!(algorithm = %alg, "generated the first signing keys");
        }
        settle_duplicates(self.store.as_ref(), self.clock.now()).await?;
        self.reload_keys().await?;
        let ring = self.ring();
        if let Some(k) = ring.signing_key()
            && k.algorithm() != self.policy.algorithm
        {
            tracing::warn!(
                active = %k.algorithm(), configured = %self.policy.algorithm,
                "the active key's algorithm differs from the configured one; `tessera keys rotate` (twice) switches"
            );
        }
        Ok(())
    }

    /// Rotates: the next key starts signing, the active one retires (still verifying until its
    /// tokens expire), and a new next key of the configured algorithm is published.
    pub async fn rotate_keys(&self) -> Result<()> {
        self.reload_keys().await?;
        let mut ring = self.ring();
        if ring.next_key().is_none() {
            let t = ring.add_next(generate(self.policy.algorithm).await?, self.clock.now())?;
            self.persist(&t).await?;
            self.reload_keys().await?;
            ring = self.ring();
        }
        let t = ring.rotate(generate(self.policy.algorithm).await?, self.clock.now())?;
        if !self.persist(&t).await? {
            return Err(Error::Conflict(
                "another node rotated the keys at the same time; list them and retry".into(),
            ));
        }
        self.reload_keys().await
    }

    /// Publishes `key` (loaded from a PEM file, say) as the next key; the next rotation makes
    /// it sign. A next key already waiting is retired (it never signed anything).
    pub async fn import_key(&self, key: KeyPair) -> Result<String> {
        self.reload_keys().await?;
        let now = self.clock.now();
        if let Some(waiting) = self.ring().next_key() {
            let kid = waiting.kid().to_owned();
            if !self
                .store
                .set_key_state(&kid, KeyState::Next, KeyState::Retired, now)
                .await?
            {
                return Err(Error::Conflict(
                    "the keys changed meanwhile; list them and retry".into(),
                ));
            }
            self.reload_keys().await?;
        }
        let kid = key.kid().to_owned();
        let t = self.ring().add_next(key, now)?;
        self.persist(&t).await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Retires a key now: it neither signs nor verifies. Refuses the active key.
    pub async fn retire_key(&self, kid: &str) -> Result<()> {
        self.reload_keys().await?;
        let t = self.ring().retire(kid, self.clock.now())?;
        if !self.persist(&t).await? {
            return Err(Error::Conflict(
                "the key changed state meanwhile; list the keys and retry".into(),
            ));
        }
        self.reload_keys().await
    }

    /// Retires keys that stopped signing longer ago than any token lives.
    pub async fn retire_expired_keys(&self) -> Result<()> {
        let t = self
            .ring()
            .retire_expired(self.clock.now(), self.policy.max_token_life());
        if !t.changes.is_empty() {
            self.persist(&t).await?;
            self.reload_keys().await?;
        }
        Ok(())
    }

    /// Writes a transition: state changes first, as one compare-and-set (so of two nodes
    /// rotating at once only one wins), then the new keys. `false` if the CAS lost.
    async fn persist(&self, t: &Transition) -> Result<bool> {
        let changes: Vec<KeyStateChange> = t
            .changes
            .iter()
            .filter_map(|c| {
                c.from.map(|from| KeyStateChange {
                    kid: c.kid.clone(),
                    from,
                    to: c.to,
                })
            })
            .collect();
        let at = t
            .changes
            .first()
            .map(|c| c.at)
            .unwrap_or_else(|| self.clock.now());
        if !changes.is_empty() && !self.store.set_key_states(&changes, at).await? {
            return Ok(false);
        }
        for c in t.changes.iter().filter(|c| c.from.is_none()) {
            if let Some(entry) = t.ring.get(&c.kid) {
                self.store.insert_key(&stored(entry)).await?;
            }
        }
        Ok(true)
    }

    // ---- issuing ----

    /// Starts a refresh family for `user` (after a password check) and issues its first pair.
    pub async fn issue(&self, user: UserId, device: Device) -> Result<Issued> {
        let now = self.clock.now();
        let family = RefreshFamily {
            id: FamilyId::new(),
            user_id: user,
            generation: 0,
            created_at: now,
            last_used_at: now,
            rotated_at: now,
            expires_at: now + self.policy.refresh_ttl,
            revoked_at: None,
            device,
        };
        let refresh = PlainSecret::generate()?;
        self.store.create_family(&family, &refresh.hash()).await?;
        let (access_token, claims) = self.mint(user, &family.id.to_string())?;
        Ok(Issued {
            access_token,
            claims,
            refresh: Some((refresh, family)),
        })
    }

    /// Signs an access token for `user` bound to `sid` (a refresh family or a session).
    pub fn mint(&self, user: UserId, sid: &str) -> Result<(String, AccessClaims)> {
        let claims = AccessClaims::new(
            self.policy.issuer.clone(),
            user.to_string(),
            self.policy.audience.clone(),
            self.clock.now(),
            self.policy.access_ttl,
        )?
        .with_sid(sid);
        let token = crate::token::sign(&self.ring(), &claims)?;
        Ok((token, claims))
    }

    /// The refresh grant: rotates the family of `presented` and issues a new pair. A token
    /// rotated within the grace gets the same successor again; an older one revokes its family.
    pub async fn refresh(&self, presented: &str) -> Result<Issued> {
        let presented =
            PlainSecret::parse(presented).ok_or(Error::InvalidGrant("unknown refresh token"))?;
        // At most two rounds: a lost compare-and-set means a racing request rotated first, and
        // the second round then sees this token as a replay within the grace.
        for _ in 0..2 {
            let rec = self
                .store
                .find_refresh_token(&presented.hash())
                .await?
                .ok_or(Error::InvalidGrant("unknown refresh token"))?;
            let now = self.clock.now();
            let family = rec.family.clone();
            match rec.classify(now, self.policy.reuse_grace) {
                RefreshTokenUse::Dead => {
                    return Err(Error::InvalidGrant(
                        "the refresh token has expired or was revoked",
                    ));
                }
                RefreshTokenUse::Reuse => {
                    self.end_family(family.user_id, family.id, false).await?;
                    tracing::warn!(user = %family.user_id, family = %family.id, generation = rec.generation,
                        "refresh token reused after rotation; family revoked");
                    return Err(Error::RefreshReused);
                }
                RefreshTokenUse::Replay => {
                    let successor = successor_token(
                        &self.refresh_secret,
                        family.id,
                        family.generation,
                        &presented,
                    )?;
                    let (access_token, claims) =
                        self.mint(family.user_id, &family.id.to_string())?;
                    return Ok(Issued {
                        access_token,
                        claims,
                        refresh: Some((successor, family)),
                    });
                }
                RefreshTokenUse::Current => {
                    let next_generation = rec.generation.checked_add(1).ok_or(
                        Error::InvalidGrant("the refresh family is exhausted; log in again"),
                    )?;
                    let successor = successor_token(
                        &self.refresh_secret,
                        family.id,
                        next_generation,
                        &presented,
                    )?;
                    let expires_at = now + self.policy.refresh_ttl;
                    if self
                        .store
                        .rotate_family(
                            family.id,
                            rec.generation,
                            &successor.hash(),
                            now,
                            expires_at,
                        )
                        .await?
                    {
                        let (access_token, claims) =
                            self.mint(family.user_id, &family.id.to_string())?;
                        let family = RefreshFamily {
                            generation: next_generation,
                            last_used_at: now,
                            rotated_at: now,
                            expires_at,
                            ..family
                        };
                        return Ok(Issued {
                            access_token,
                            claims,
                            refresh: Some((successor, family)),
                        });
                    }
                }
            }
        }
        Err(Error::InvalidGrant(
            "the refresh token was rotated concurrently; retry",
        ))
    }

    /// The CSRF token for requests authenticated by the access-token cookie of `sid`'s family:
    /// stable across refreshes, derived (never stored) under the server secret.
    pub fn csrf_token(&self, sid: &str) -> String {
        use base64::Engine;
        let key =
            aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.refresh_secret.expose());
        let mut msg = b"tessera/v1/access-cookie-csrf\0".to_vec();
        msg.extend_from_slice(sid.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, &msg))
    }

    // ---- checking ----

    /// Verifies an access token and checks it is not revoked. Pure CPU and memory: no store.
    /// A token this node has not seen waits for its signature's batch (Ed25519; see
    /// [`SignatureBatcher`]); one it has is answered by [`Self::authenticate_cached`].
    pub async fn authenticate(&self, token: &str) -> Result<Arc<VerifiedToken>> {
        // Read before the check: if it has not moved since the token last passed, nothing
        // revoked since can cover it (see `RevocationList::generation`).
        let generation = self.revocations.generation();
        // Seconds only: a cached token needs no calendar date (see `Clock::unix_now`).
        let unix_now = self.clock.unix_now();
        if let Some(cached) = self.cached(token, generation, unix_now) {
            return cached;
        }
        let ring = self.ring();
        let claims = self
            .verifier
            .verify_batched(
                ring.as_ref(),
                token,
                clock::from_unix(unix_now),
                &self.batcher,
            )
            .await
            .map_err(Error::InvalidToken)?;
        let verified = Arc::new(VerifiedToken::new(claims));
        self.cache.insert(token, &verified);
        self.unrevoked(verified, generation, unix_now)
    }

    /// [`Self::authenticate`] for a token this node has verified before and still remembers;
    /// `None` for any other (which then needs [`Self::authenticate`]). Needs no future, so
    /// callers can keep the common case off the async path.
    pub fn authenticate_cached(&self, token: &str) -> Option<Result<Arc<VerifiedToken>>> {
        let generation = self.revocations.generation();
        self.cached(token, generation, self.clock.unix_now())
    }

    fn cached(
        &self,
        token: &str,
        generation: u64,
        unix_now: i64,
    ) -> Option<Result<Arc<VerifiedToken>>> {
        let verified = self.cache.get(token)?;
        if verified.is_expired(unix_now, self.policy.leeway.whole_seconds()) {
            self.cache.remove(token);
            return Some(Err(Error::InvalidToken(TokenError::Expired)));
        }
        Some(self.unrevoked(verified, generation, unix_now))
    }

    /// The revocation check, skipped when the token passed it at `generation` (read before
    /// the token was verified or found).
    fn unrevoked(
        &self,
        verified: Arc<VerifiedToken>,
        generation: u64,
        unix_now: i64,
    ) -> Result<Arc<VerifiedToken>> {
        if !verified.checked_at(generation) {
            let now = clock::from_unix(unix_now);
            if self.revocations.check(verified.claims(), now).is_some() {
                return Err(Error::TokenRevoked);
            }
            verified.mark_checked(generation);
        }
        Ok(verified)
    }

    /// RFC 7662: what a token is, if it is live. Never rotates or revokes anything.
    pub async fn introspect(&self, token: &str) -> Result<Option<Introspected>> {
        if let Some(secret) = PlainSecret::parse(token) {
            let now = self.clock.now();
            return Ok(self
                .store
                .find_refresh_token(&secret.hash())
                .await?
                .filter(|r| r.is_current() && r.family.is_live(now))
                .map(|r| Introspected::Refresh(r.family)));
        }
        match self.authenticate(token).await {
            Ok(verified) => Ok(Some(Introspected::Access(verified.claims().clone()))),
            Err(Error::InvalidToken(_) | Error::TokenRevoked) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- revoking ----

    /// RFC 7009: revokes a refresh token's family, or denies an access token until it expires.
    /// Unknown and invalid tokens are ignored (the endpoint answers 200 regardless).
    pub async fn revoke(&self, token: &str) -> Result<()> {
        if let Some(secret) = PlainSecret::parse(token) {
            if let Some(rec) = self.store.find_refresh_token(&secret.hash()).await? {
                self.end_family(rec.family.user_id, rec.family.id, false)
                    .await?;
            }
            return Ok(());
        }
        // Only a token we signed, still within its life, is worth an entry.
        if let Ok(claims) = self
            .verifier
            .verify(self.ring().as_ref(), token, self.clock.now())
        {
            self.revocations
                .deny(
                    &jti_key(&claims.jti),
                    claims.expires_at() + self.policy.leeway,
                )
                .await?;
            self.cache.remove(token);
        }
        Ok(())
    }

    /// The live refresh families of a user (devices of kind "token").
    pub async fn families(&self, user: UserId) -> Result<Vec<RefreshFamily>> {
        let now = self.clock.now();
        let mut all = self.store.families_of_user(user).await?;
        all.retain(|f| f.is_live(now));
        Ok(all)
    }

    /// Revokes one of `user`'s families and denies its access tokens. `false` if `user` has
    /// no such live family.
    pub async fn revoke_family(&self, user: UserId, id: FamilyId) -> Result<bool> {
        self.end_family(user, id, true).await
    }

    async fn end_family(&self, user: UserId, id: FamilyId, scoped: bool) -> Result<bool> {
        let now = self.clock.now();
        let revoked = if scoped {
            self.store.revoke_family_of_user(user, id, now).await?
        } else {
            self.store.revoke_family(id, now).await?
        };
        // Deny the family's access tokens even if another request revoked it first: the deny
        // is idempotent, and the family must not outlive a failure between the two writes.
        self.deny_sid(&id.to_string()).await?;
        Ok(revoked)
    }

    /// Denies every access token bound to `sid` (a family or a session) until the last could expire.
    pub async fn deny_sid(&self, sid: &str) -> Result<()> {
        let until = self.clock.now() + self.policy.max_token_life();
        self.revocations.deny(&sid_key(sid), until).await
    }

    /// Revokes every family of `user` but `keep`, denying their access tokens.
    pub async fn revoke_families(&self, user: UserId, keep: Option<FamilyId>) -> Result<usize> {
        let ids = self
            .store
            .revoke_families_of_user(user, keep, self.clock.now())
            .await?;
        for id in &ids {
            self.deny_sid(&id.to_string()).await?;
        }
        Ok(ids.len())
    }

    /// Refuses every access token of `user` issued before now (logout everywhere).
    pub async fn cut_off(&self, user: UserId) -> Result<()> {
        let now = self.clock.now();
        self.revocations
            .cut_off(user, now, now + self.policy.max_token_life())
            .await
    }

    // ---- upkeep ----

    /// Pulls revocations and key changes made by other nodes. Run every second or so.
    pub async fn sync(&self) -> Result<()> {
        self.revocations.sync().await?;
        self.revocations.prune(self.clock.now());
        self.reload_keys().await
    }

    /// Deletes what has ended: old families, past revocations; retires spent keys.
    pub async fn purge(&self) -> Result<(u64, u64)> {
        let now = self.clock.now();
        self.retire_expired_keys().await?;
        let families = self
            .store
            .purge_families(now - self.policy.family_retention)
            .await?;
        let revocations = self.store.purge_revocations(now).await?;
        self.cache.purge(now, self.policy.leeway);
        Ok((families, revocations))
    }
}

async fn generate(alg: Algorithm) -> Result<KeyPair> {
    // RSA key generation takes a noticeable fraction of a second: keep it off the workers.
    tokio::task::spawn_blocking(move || KeyPair::generate(alg))
        .await
        .map_err(|e| Error::Internal(format!("key generation task failed: {e}")))?
        .map_err(Error::from)
}

fn stored(entry: &KeyEntry) -> StoredKey {
    StoredKey {
        kid: entry.key.kid().to_owned(),
        algorithm: entry.key.algorithm().as_str().to_owned(),
        state: entry.state,
        material: entry.key.to_storage_bytes(),
        public_jwk: entry
            .key
            .public_jwk()
            .and_then(|j| serde_json::to_string(j).ok()),
        created_at: entry.since,
        state_changed_at: entry.since,
    }
}

/// The ring from the stored keys. Retired keys are left out. Should the store hold two active
/// (or two next) keys — two nodes bootstrapping at once — the oldest wins, the same on every node.
pub async fn load_ring(store: &dyn Store) -> Result<KeyRing> {
    let mut entries: Vec<KeyEntry> = Vec::new();
    for k in store.keys().await? {
        let state = k.state;
        if state == KeyState::Retired {
            continue;
        }
        if matches!(state, KeyState::Active | KeyState::Next)
            && entries.iter().any(|e| e.state == state)
        {
            continue;
        }
        let alg: Algorithm = k.algorithm.parse().map_err(|_| {
            Error::Internal(format!(
                "stored key {} has unknown algorithm {:?}",
                k.kid, k.algorithm
            ))
        })?;
        let key = KeyPair::from_storage_bytes(alg, k.material.expose())?;
        if key.kid() != k.kid {
            return Err(Error::Internal(format!(
                "stored key {} does not match its kid",
                k.kid
            )));
        }
        entries.push(KeyEntry {
            key: Arc::new(key),
            state,
            since: k.state_changed_at,
        });
    }
    Ok(KeyRing::new(entries)?)
}

/// Retires the extra active and next keys two bootstrapping nodes may have inserted.
async fn settle_duplicates(store: &dyn Store, now: OffsetDateTime) -> Result<()> {
    let keys = store.keys().await?;
    for state in [KeyState::Active, KeyState::Next] {
        for extra in keys.iter().filter(|k| k.state == state).skip(1) {
            store
                .set_key_state(&extra.kid, state, KeyState::Retired, now)
                .await?;
        }
    }
    Ok(())
}
