//! Accounts: normalised emails, passwords that cannot leak, argon2id hashing off the async
//! workers, and the [`Accounts`] service (register, check a password, change it).

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::id::UserId;
use crate::store::{Store, StoreError};
use crate::{Error, Result};

mod priority;

/// Longest email we accept (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Shortest password we accept.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest password we accept: long enough for any passphrase, short enough to bound hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// An email address, trimmed and lower-cased so that lookups are case-insensitive.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises and checks an address. The check is for plausibility, not RFC 5322
    /// conformance: one `@`, a non-empty local part of at most 64 bytes, a domain of
    /// dot-separated labels, no spaces or control characters.
    pub fn parse(input: &str) -> Result<Self> {
        let email = input.trim().to_lowercase();
        let bad = |why: &str| {
            Err(Error::InvalidRequest(format!(
                "email is not plausible: {why}"
            )))
        };
        if email.is_empty() {
            return bad("it is empty");
        }
        if email.len() > MAX_EMAIL_BYTES {
            return bad("it is longer than 254 bytes");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("it contains spaces or control characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return bad("it has no @");
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return bad("the part before @ is empty, too long or has another @");
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if domain.is_empty() || !domain.split('.').all(label_ok) {
            return bad("the domain is not a host name");
        }
        Ok(Self(email))
    }

    /// Rebuilds an email a store returned (it was normalised when stored).
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed. Redacted in `Debug`, not serialisable, wiped from memory when dropped
/// as far as `String` allows (we overwrite before freeing).
pub struct Password(String);

impl Password {
    /// Wraps a password without checking it (for login, where any input is merely wrong).
    pub fn new(p: String) -> Self {
        Self(p)
    }

    /// Wraps a new password, checking the length rules (8 to 1024 bytes).
    pub fn new_checked(p: String) -> Result<Self> {
        match p.len() {
            n if n < MIN_PASSWORD_BYTES => Err(Error::InvalidRequest(format!(
                "password must be at least {MIN_PASSWORD_BYTES} bytes"
            ))),
            n if n > MAX_PASSWORD_BYTES => Err(Error::InvalidRequest(format!(
                "password must be at most {MAX_PASSWORD_BYTES} bytes"
            ))),
            _ => Ok(Self(p)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes we own before the allocation is freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An argon2id hash in PHC string form (`$argon2id$v=19$m=19456,t=2,p=1$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Rebuilds a hash a store returned.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for a store to keep.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub created_at: OffsetDateTime,
}

/// A user as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: PasswordHash,
}

/// Argon2 cost parameters. The defaults are OWASP's argon2id recommendation (19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashingPolicy {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes allowed to run at once; 0 means half the CPU cores (at least one). More would
    /// take the cores request handling needs: a login flood must slow logins, not every
    /// other request.
    pub max_concurrent: usize,
}

impl HashingPolicy {
    /// The hashes allowed to run at once: `max_concurrent`, or for 0 half the cores (at least
    /// one). Half, not all: during a flood of logins the hashes would otherwise take every
    /// core, and `/v1/me` measured at 0.56–0.65 of its unloaded rate on 2 cores; with half it
    /// keeps about 0.75, and logins still get the cores the bound promises them.
    pub fn slots(&self) -> usize {
        match self.max_concurrent {
            0 => std::thread::available_parallelism()
                .map(|n| (n.get() / 2).max(1))
                .unwrap_or(1),
            n => n,
        }
    }
}

impl Default for HashingPolicy {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
        }
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Right password, hashed with the current parameters.
    Yes,
    /// Right password, but hashed with other parameters: store a new hash.
    YesButRehash,
    /// Wrong password (or no such user).
    No,
}

/// Hashes and verifies passwords with argon2id on the blocking pool, at most
/// `max_concurrent` at a time, so a login flood slows logins and not everything else.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Logins past the throttle (the gate of [`Self::verify_gated`]): twice the slots, so
    /// that while a slot hashes, the next login is already checked and waiting for it.
    gates: Arc<Semaphore>,
    /// A hash of a random password with the current parameters: unknown emails are verified
    /// against it so that they take as long as wrong passwords.
    dummy: Arc<PasswordHash>,
    runs: Arc<std::sync::atomic::AtomicU64>,
    memory: Arc<WorkingMemory>,
}

/// Argon2's working memory (`memory_kib` per hash), kept between verifications. A fresh
/// allocation that size is mapped page by page as the hash first touches it: thousands of
/// page faults per hash, and a hash time that moved by a fifth from run to run with whether
/// the allocator had the memory at hand. One buffer per slot is kept (never more hashes run
/// at once); what a buffer holds is overwritten by the next hash before it is read.
struct WorkingMemory {
    free: std::sync::Mutex<Vec<Vec<Block>>>,
    /// Buffers kept at most: the hashing slots.
    keep: usize,
}

impl fmt::Debug for WorkingMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkingMemory").finish_non_exhaustive()
    }
}

impl WorkingMemory {
    fn new(keep: usize) -> Self {
        Self {
            free: std::sync::Mutex::default(),
            keep,
        }
    }

    fn take(&self, blocks: usize) -> Vec<Block> {
        let mut buffer = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::new());
        }
        buffer
    }

    fn give_back(&self, buffer: Vec<Block>) {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < self.keep {
            free.push(buffer);
        }
    }
}

impl PasswordHasher {
    /// A hasher with the given policy. Computes the dummy hash once (about one hash's time).
    pub fn new(policy: HashingPolicy) -> Result<Self> {
        let params = Params::new(
            policy.memory_kib,
            policy.iterations,
            policy.parallelism,
            None,
        )
        .map_err(|e| Error::InvalidRequest(format!("bad argon2 parameters: {e}")))?;
        let permits = policy.slots();
        let mut random = [0u8; 32];
        crate::secret::random_bytes(&mut random)?;
        let dummy = hash_blocking(&params, &random)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            gates: Arc::new(Semaphore::new(2 * permits)),
            dummy: Arc::new(dummy),
            runs: Arc::default(),
            memory: Arc::new(WorkingMemory::new(permits)),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash> {
        let params = self.params.clone();
        let bytes = zeroizing_copy(password.as_bytes());
        self.run(move || hash_blocking(&params, &bytes.0)).await?
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is no
    /// user, so both cases cost the same.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&PasswordHash>,
    ) -> Result<Verified> {
        self.verify_gated(password, stored, async { Ok(()) }).await
    }

    /// Like [`Self::verify`], but runs `gate` before hashing, at most two per slot at a time;
    /// an error from the gate is returned without hashing. The login throttle is the gate:
    /// checked this late, parallel guesses can pass it at most twice per slot (one hashing,
    /// one ready), not once per request. Twice, not once: the gate reads the store, and a slot
    /// that waited for it sat idle for those reads, which under request load cost a login
    /// flood a tenth of its logins.
    pub async fn verify_gated(
        &self,
        password: &Password,
        stored: Option<&PasswordHash>,
        gate: impl Future<Output = Result<()>>,
    ) -> Result<Verified> {
        let (hash, real) = match stored {
            Some(h) => (h.clone(), true),
            None => ((*self.dummy).clone(), false),
        };
        let params = self.params.clone();
        let bytes = zeroizing_copy(password.as_bytes());
        let _gate = self.gates.acquire().await.map_err(|_| closed())?;
        gate.await?;
        let slot = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let memory = self.memory.clone();
        self.spawn(move || {
            let parsed = PhcHash::new(hash.as_str()).map_err(|e| {
                Error::Internal(format!("stored password hash does not parse: {e}"))
            })?;
            let ok = verify_blocking(&memory, &bytes.0, &parsed);
            // Freed here, not after the answer has reached the async side: the next login
            // (already past its gate) can start at once.
            drop(slot);
            let ok = ok?;
            Ok(match (ok && real, needs_rehash(&parsed, &params)) {
                (false, _) => Verified::No,
                (true, false) => Verified::Yes,
                (true, true) => Verified::YesButRehash,
            })
        })
        .await?
    }

    /// How many argon2 computations this hasher has run (hashes and verifications).
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.permits.acquire().await.map_err(|_| closed())
    }

    async fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // Only while hashing: the thread goes back to a pool other work shares.
            let _raised = priority::Raised::raise();
            f()
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing task failed: {e}")))
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permit().await?;
        self.spawn(f).await
    }
}

fn closed() -> Error {
    Error::Internal("password hashing pool closed".into())
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<PasswordHash> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| Error::Internal(format!("argon2 failed: {e}")))
}

/// Whether `password` matches `stored`: what argon2's own verifier computes (the test below
/// holds it to that), with working memory from `memory` instead of a fresh allocation.
fn verify_blocking(memory: &WorkingMemory, password: &[u8], stored: &PhcHash) -> Result<bool> {
    let bad = |e: &dyn fmt::Display| Error::Internal(format!("stored password hash: {e}"));
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(|e| bad(&e))?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| bad(&e))?
        .unwrap_or_default();
    let params = Params::try_from(stored).map_err(|e| bad(&e))?;
    let blocks = params.block_count();
    let mut out = zeroize::Zeroizing::new([0u8; 64]);
    let out = out
        .get_mut(..expected.as_bytes().len())
        .ok_or_else(|| bad(&"its output is longer than 64 bytes"))?;
    let mut buffer = memory.take(blocks);
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        out,
        buffer.get_mut(..blocks).unwrap_or_default(),
    );
    memory.give_back(buffer);
    hashed.map_err(|e| bad(&e))?;
    Ok(bool::from(out.ct_eq(expected.as_bytes())))
}

fn needs_rehash(parsed: &PhcHash, current: &Params) -> bool {
    let same_alg = parsed.algorithm.as_str() == argon2::ARGON2ID_IDENT.as_str();
    match Params::try_from(parsed) {
        Ok(p) => {
            !same_alg
                || p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
        }
        Err(_) => true,
    }
}

/// A byte copy that is wiped on drop, for moving a password into a blocking task.
struct Zeroizing(Vec<u8>);
impl Drop for Zeroizing {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&self.0);
    }
}
fn zeroizing_copy(b: &[u8]) -> Zeroizing {
    Zeroizing(b.to_vec())
}

/// Registering users and checking their passwords.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    users: Arc<UserCache>,
}

/// Users looked up per authenticated request. A [`User`] never changes once created (no email
/// change yet), so a short-lived copy is exact; entries still expire so that a deleted account
/// (when deletion exists) is forgotten quickly.
#[derive(Debug, Default)]
struct UserCache {
    map: std::sync::Mutex<std::collections::HashMap<UserId, (Arc<User>, std::time::Instant)>>,
}

impl UserCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(60);
    const CAPACITY: usize = 100_000;

    fn get(&self, id: UserId) -> Option<Arc<User>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(u, _)| u.clone())
    }

    fn put(&self, user: &Arc<User>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(user.id, (user.clone(), std::time::Instant::now()));
    }
}

impl Accounts {
    /// The accounts service over a store.
    pub fn new(store: Arc<dyn Store>, hasher: PasswordHasher, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            hasher,
            clock,
            users: Arc::default(),
        }
    }

    /// Creates an account. [`Error::Conflict`] if the email is taken (case-insensitively).
    pub async fn register(&self, email: &str, password: String) -> Result<User> {
        let email = Email::parse(email)?;
        let password = Password::new_checked(password)?;
        let password_hash = self.hasher.hash(&password).await?;
        let user = User {
            id: UserId::new(),
            email,
            created_at: self.clock.now(),
        };
        let record = UserRecord {
            user: user.clone(),
            password_hash,
        };
        self.store.create_user(&record).await.map_err(|e| match e {
            StoreError::Conflict(_) => Error::Conflict("an account with this email exists".into()),
            other => other.into(),
        })?;
        Ok(user)
    }

    /// Checks an email and password. Unknown email and wrong password are the same error and
    /// cost the same time. Rehashes the password when the parameters have changed.
    pub async fn authenticate(&self, email: &str, password: String) -> Result<User> {
        self.authenticate_gated(email, password, async { Ok(()) })
            .await
    }

    /// [`Self::authenticate`] with a gate run just before hashing (see [`PasswordHasher::verify_gated`]).
    pub async fn authenticate_gated(
        &self,
        email: &str,
        password: String,
        gate: impl Future<Output = Result<()>>,
    ) -> Result<User> {
        // An email that cannot exist, or an over-long password, still pays for a hash.
        let password = match password.len() {
            n if n > MAX_PASSWORD_BYTES => Password::new(String::new()),
            _ => Password::new(password),
        };
        let record = match Email::parse(email) {
            Ok(email) => self.store.user_by_email(&email).await?,
            Err(_) => None,
        };
        let verdict = self
            .hasher
            .verify_gated(&password, record.as_ref().map(|r| &r.password_hash), gate)
            .await?;
        match (verdict, record) {
            (Verified::No, _) | (_, None) => Err(Error::InvalidCredentials),
            (Verified::Yes, Some(r)) => Ok(r.user),
            (Verified::YesButRehash, Some(r)) => {
                // A failed rehash must not fail the login; the next login tries again.
                match self.hasher.hash(&password).await {
                    Ok(h) => match self.store.set_password_hash(r.user.id, &h).await {
                        Ok(_) => {
                            tracing::info!(user = %r.user.id, "password rehashed with current parameters")
                        }
                        Err(e) => {
                            tracing::warn!(user = %r.user.id, error = %e, "could not store rehashed password")
                        }
                    },
                    Err(e) => tracing::warn!(user = %r.user.id, error = %e, "rehash failed"),
                }
                Ok(r.user)
            }
        }
    }

    /// The password hasher (for its counters).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Changes a password after checking the current one.
    pub async fn change_password(
        &self,
        user: UserId,
        current: String,
        new: String,
        gate: impl Future<Output = Result<()>>,
    ) -> Result<()> {
        let current = Password::new(current);
        let new = Password::new_checked(new)?;
        let record = self
            .store
            .user_by_id(user)
            .await?
            .ok_or(Error::Unauthorized("the account no longer exists"))?;
        if self
            .hasher
            .verify_gated(&current, Some(&record.password_hash), gate)
            .await?
            == Verified::No
        {
            return Err(Error::InvalidCredentials);
        }
        let hash = self.hasher.hash(&new).await?;
        if !self.store.set_password_hash(user, &hash).await? {
            return Err(Error::Unauthorized("the account no longer exists"));
        }
        Ok(())
    }

    /// A user by id (served from a short-lived cache: this runs on every authenticated request).
    pub async fn user(&self, id: UserId) -> Result<Option<Arc<User>>> {
        if let Some(u) = self.users.get(id) {
            return Ok(Some(u));
        }
        let user = self.store.user_by_id(id).await?.map(|r| Arc::new(r.user));
        if let Some(u) = &user {
            self.users.put(u);
        }
        Ok(user)
    }

    /// Every user.
    pub async fn list(&self) -> Result<Vec<User>> {
        Ok(self.store.list_users().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_with_kept_memory_agrees_with_argon2s_own_verifier() {
        use argon2::PasswordVerifier as _;
        let memory = WorkingMemory::new(1);
        // Large then small then large again: a kept buffer is longer than the next hash needs.
        let cases = [
            (Algorithm::Argon2id, Version::V0x13, 256, 2, 1),
            (Algorithm::Argon2id, Version::V0x13, 64, 1, 1),
            (Algorithm::Argon2i, Version::V0x13, 128, 3, 2),
            (Algorithm::Argon2d, Version::V0x10, 96, 2, 1),
            (Algorithm::Argon2id, Version::V0x13, 512, 1, 4),
        ];
        for (alg, version, m, t, p) in cases {
            let params = Params::new(m, t, p, None).unwrap();
            let salt = [7u8; 16];
            let phc = Argon2::new(alg, version, params)
                .hash_password_with_salt(b"correct horse", &salt)
                .unwrap()
                .to_string();
            let parsed = PhcHash::new(&phc).unwrap();
            for (password, right) in [
                (&b"correct horse"[..], true),
                (b"correct hors", false),
                (b"", false),
            ] {
                let own = Argon2::default().verify_password(password, &parsed).is_ok();
                assert_eq!(own, right, "{phc}");
                assert_eq!(
                    verify_blocking(&memory, password, &parsed).unwrap(),
                    right,
                    "{phc} with {password:?}"
                );
            }
        }
        // One buffer kept per slot, not one per hash.
        assert_eq!(memory.free.lock().unwrap().len(), 1);
        // A hash without its output part verifies nothing.
        let bare = PhcHash::new("$argon2id$v=19$m=64,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw").unwrap();
        assert!(!verify_blocking(&memory, b"correct horse", &bare).unwrap());
    }

    #[test]
    fn hashing_leaves_half_the_cores_to_requests_unless_told_otherwise() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let auto = HashingPolicy::default();
        assert_eq!(auto.max_concurrent, 0);
        assert_eq!(auto.slots(), (cores / 2).max(1));
        let three = HashingPolicy {
            max_concurrent: 3,
            ..HashingPolicy::default()
        };
        assert_eq!(three.slots(), 3);
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        assert!(Email::parse("user@localhost").is_ok());
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@",
            "a b@x.com",
            "a@x..com",
            "a@-x.com",
            "a@x.com\n\0",
            &format!("{}@x.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(250)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_lengths() {
        assert!(Password::new_checked("short".into()).is_err());
        assert!(Password::new_checked("x".repeat(8)).is_ok());
        assert!(Password::new_checked("x".repeat(1024)).is_ok());
        assert!(Password::new_checked("x".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::new("hunter22".into())),
            "Password(<redacted>)"
        );
    }

    fn cheap() -> HashingPolicy {
        HashingPolicy {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        }
    }

    // One runtime thread: a login's count drops right as its verification returns (before
    // another task can run), so the count is exact; the hashes still run on the blocking pool.
    #[tokio::test]
    async fn at_most_two_logins_per_slot_are_past_the_gate_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = Arc::new(
            PasswordHasher::new(HashingPolicy {
                memory_kib: 1024,
                max_concurrent: 1,
                ..cheap()
            })
            .unwrap(),
        );
        let hash = h
            .hash(&Password::new("correct horse".into()))
            .await
            .unwrap();
        let (past, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut logins = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (h, hash, past, most) = (h.clone(), hash.clone(), past.clone(), most.clone());
            logins.spawn(async move {
                let gate = async {
                    let now = past.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    Ok(())
                };
                let verified = h
                    .verify_gated(&Password::new("wrong".into()), Some(&hash), gate)
                    .await;
                past.fetch_sub(1, Ordering::SeqCst);
                verified.unwrap()
            });
        }
        while let Some(v) = logins.join_next().await {
            assert_eq!(v.unwrap(), Verified::No);
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=2).contains(&most),
            "{most} logins were past the gate at once"
        );
    }

    #[tokio::test]
    async fn hash_verify_and_rehash_detection() {
        let h = PasswordHasher::new(cheap()).unwrap();
        let pw = Password::new("correct horse".into());
        let hash = h.hash(&pw).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(h.verify(&pw, Some(&hash)).await.unwrap(), Verified::Yes);
        assert_eq!(
            h.verify(&Password::new("wrong".into()), Some(&hash))
                .await
                .unwrap(),
            Verified::No
        );
        assert_eq!(h.verify(&pw, None).await.unwrap(), Verified::No);
        let stronger = PasswordHasher::new(HashingPolicy {
            memory_kib: 128,
            ..cheap()
        })
        .unwrap();
        assert_eq!(
            stronger.verify(&pw, Some(&hash)).await.unwrap(),
            Verified::YesButRehash
        );
    }

    #[test]
    fn default_policy_is_owasp_argon2id() {
        let p = HashingPolicy::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19_456, 2, 1));
    }
}
