//! The conformance suite: what every store must do, written once and run against each store.
//!
//! Each case is a public async function taking the store under test; it panics (like a failing
//! test) when the store breaks the contract of [`tessera_core::store`]. A store's test file
//! is normally just the macro:
//!
//! ```
//! use std::sync::Arc;
//! use tessera_store::MemoryStore;
//!
//! async fn memory_store() -> Arc<MemoryStore> {
//!     Arc::new(MemoryStore::new())
//! }
//!
//! tessera_store::conformance_tests!(memory, memory_store);
//! # fn main() {}
//! ```
//!
//! The factory (an async fn or a closure returning a future) is called once per case and must
//! return a store that no other case writes to meanwhile (a new database, schema or key
//! prefix): some cases check exact counts. It returns anything that converts into a
//! [`Fixture`]: `Arc<S>` or `Arc<dyn Store>`, or a `(store, guard)` pair when something (a
//! temporary directory, a container) must live as long as the store. Cases that race many
//! tasks run on a multi-threaded runtime.
//!
//! Times are whole seconds around a fixed instant, never the system clock.

// Test support: a broken contract fails the calling test by panicking, as `assert!` does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::clock::from_unix;
use tessera_core::id::{FamilyId, SessionId, UserId};
use tessera_core::refresh::{RefreshFamily, RefreshTokenRecord};
use tessera_core::secret::{PlainSecret, SecretHash};
use tessera_core::session::{Device, SessionRecord};
use tessera_core::store::{
    KeyMaterial, KeyState, KeyStateChange, Revocation, RevocationChanges, Store, StoreError,
    StoredKey, ThrottleWindow,
};
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;
use uuid::Uuid;

/// A store under test, with whatever must outlive it (a temporary directory, a container).
pub struct Fixture {
    store: Arc<dyn Store>,
    _guard: Option<Box<dyn Any + Send>>,
}

impl Fixture {
    /// A store that needs nothing kept alive.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            _guard: None,
        }
    }

    /// A store that needs `guard` kept alive until the case ends.
    pub fn with_guard(store: Arc<dyn Store>, guard: impl Any + Send) -> Self {
        Self {
            store,
            _guard: Some(Box::new(guard)),
        }
    }

    /// The store, for a case.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl From<Arc<dyn Store>> for Fixture {
    fn from(store: Arc<dyn Store>) -> Self {
        Self::new(store)
    }
}

impl<S: Store + 'static> From<Arc<S>> for Fixture {
    fn from(store: Arc<S>) -> Self {
        Self::new(store)
    }
}

impl<S: Store + 'static, G: Any + Send> From<(Arc<S>, G)> for Fixture {
    fn from((store, guard): (Arc<S>, G)) -> Self {
        Self::with_guard(store, guard)
    }
}

impl<G: Any + Send> From<(Arc<dyn Store>, G)> for Fixture {
    fn from((store, guard): (Arc<dyn Store>, G)) -> Self {
        Self::with_guard(store, guard)
    }
}

/// Expands to one `#[tokio::test]` per conformance case for the store a factory makes.
///
/// `conformance_tests!(name, factory)` puts the tests in `mod name` (so one file can test
/// several stores); `conformance_tests!(factory)` puts them in the current module. `factory`
/// is called with no arguments and awaited; its output converts into a [`Fixture`]. The
/// calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    ($module:ident, $factory:expr $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_tests!($factory);
        }
    };
    ($factory:expr $(,)?) => {
        $crate::__conformance_cases!(current; $factory;
            ping_answers,
            users_roundtrip,
            users_are_listed_oldest_first,
            duplicate_email_is_a_conflict,
            set_password_hash_reports_whether_the_user_exists,
            sessions_roundtrip_every_field,
            duplicate_session_hash_is_a_conflict,
            session_of_unknown_user_is_a_conflict,
            touch_session_until_deleted,
            sessions_of_user_lists_only_that_user_oldest_first,
            delete_session_of_another_user_is_refused,
            delete_sessions_of_user_with_and_without_keep,
            purge_expired_sessions_at_the_boundary,
            throttle_counts_hits_per_key,
            throttle_window_resets_at_the_boundary,
            throttle_peek_does_not_count,
            throttle_clear_forgets,
            throttle_purge_at_the_boundary,
            refresh_families_roundtrip_every_field,
            refresh_family_conflicts_leave_nothing_behind,
            rotate_family_is_a_compare_and_set,
            every_generation_of_a_family_is_recognised,
            revoke_family_succeeds_once,
            revoke_family_of_another_user_is_refused,
            revoke_families_of_user_with_and_without_keep,
            families_of_user_lists_only_that_user_oldest_first,
            purge_families_deletes_them_and_their_hashes,
            keys_insert_list_and_delete,
            key_state_changes_are_compare_and_set,
            server_secret_is_created_once,
            deny_keeps_the_later_until,
            cutoffs_keep_the_later_time,
            revocations_since_returns_only_later_writes,
            purge_revocations_at_the_boundary,
        );
        $crate::__conformance_cases!(multi; $factory;
            concurrent_throttle_hits_count_each_once,
            concurrent_deletes_of_one_session_succeed_once,
            concurrent_session_inserts_are_all_listed,
            concurrent_signups_with_one_email_one_wins,
            concurrent_rotations_from_one_generation_one_wins,
            concurrent_revokes_of_one_family_succeed_once,
            concurrent_server_secret_callers_agree,
            concurrent_revocations_are_all_seen_by_a_follower,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    (current; $factory:expr; $($case:ident),* $(,)?) => {$(
        #[::tokio::test]
        async fn $case() {
            let fixture: $crate::conformance::Fixture = ($factory)().await.into();
            $crate::conformance::$case(fixture.store()).await;
        }
    )*};
    (multi; $factory:expr; $($case:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture: $crate::conformance::Fixture = ($factory)().await.into();
            $crate::conformance::$case(fixture.store()).await;
        }
    )*};
}

// ---- helpers ----

/// A fixed instant (2023-11-14T22:13:20Z) that every case counts from.
const T0: i64 = 1_700_000_000;

fn at(seconds: i64) -> OffsetDateTime {
    from_unix(T0 + seconds)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

fn email() -> Email {
    Email::parse(&format!("{}@example.test", unique("u"))).unwrap()
}

fn password_hash(tag: &str) -> PasswordHash {
    PasswordHash::from_stored(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${tag}"))
}

fn user_record(created_at: OffsetDateTime) -> UserRecord {
    UserRecord {
        user: User {
            id: UserId::new(),
            email: email(),
            created_at,
        },
        password_hash: password_hash("aGFzaA"),
    }
}

async fn new_user(store: &dyn Store, created_at: OffsetDateTime) -> UserRecord {
    let user = user_record(created_at);
    store.create_user(&user).await.unwrap();
    user
}

fn session_record(user: UserId, created_at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(),
        user_id: user,
        secret_hash: PlainSecret::generate().unwrap().hash(),
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + Duration::hours(12),
        idle_expires_at: created_at + Duration::minutes(30),
        device: Device::default(),
    }
}

async fn new_session(store: &dyn Store, user: UserId, created_at: OffsetDateTime) -> SessionRecord {
    let s = session_record(user, created_at);
    store.insert_session(&s).await.unwrap();
    s
}

async fn ids_of_user(store: &dyn Store, user: UserId) -> Vec<SessionId> {
    store
        .sessions_of_user(user)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

fn is_conflict<T: fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

// ---- the store as a whole ----

/// `ping` succeeds on a working store, which names its backend.
pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(!store.backend().is_empty());
}

// ---- users ----

/// A created user reads back exactly, by id and by email; unknown ones are absent.
pub async fn users_roundtrip(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    assert_eq!(
        store.user_by_id(user.user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.user_by_email(&user.user.email).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user_by_id(UserId::new()).await.unwrap(), None);
    assert_eq!(store.user_by_email(&email()).await.unwrap(), None);
}

/// `list_users` returns every user, oldest first, whatever the insertion order.
pub async fn users_are_listed_oldest_first(store: Arc<dyn Store>) {
    let c = new_user(&*store, at(20)).await;
    let a = new_user(&*store, at(0)).await;
    let b = new_user(&*store, at(10)).await;
    let ours = [a.user.id, b.user.id, c.user.id];
    let listed: Vec<User> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| ours.contains(&u.id))
        .collect();
    assert_eq!(listed, vec![a.user, b.user, c.user]);
}

/// A second user with a taken email is refused with `Conflict`; the first is untouched.
pub async fn duplicate_email_is_a_conflict(store: Arc<dyn Store>) {
    let first = new_user(&*store, at(0)).await;
    let mut second = user_record(at(5));
    second.user.email = first.user.email.clone();
    second.password_hash = password_hash("b3RoZXI");
    let r = store.create_user(&second).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        store.user_by_email(&first.user.email).await.unwrap(),
        Some(first)
    );
    assert_eq!(store.user_by_id(second.user.id).await.unwrap(), None);
}

/// `set_password_hash` replaces the hash of an existing user and reports `false` otherwise.
pub async fn set_password_hash_reports_whether_the_user_exists(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let other = new_user(&*store, at(1)).await;
    let new_hash = password_hash("bmV3");
    assert!(
        store
            .set_password_hash(user.user.id, &new_hash)
            .await
            .unwrap()
    );
    let read = store.user_by_id(user.user.id).await.unwrap().unwrap();
    assert_eq!(read.password_hash, new_hash);
    assert_eq!(read.user, user.user);
    assert_eq!(store.user_by_id(other.user.id).await.unwrap(), Some(other));
    assert!(
        !store
            .set_password_hash(UserId::new(), &new_hash)
            .await
            .unwrap()
    );
}

// ---- sessions ----

/// Every field of a session reads back exactly, with and without device details, and with
/// a user agent of the largest size kept (256 bytes of multi-byte UTF-8).
pub async fn sessions_roundtrip_every_field(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;

    let mut ua = String::from("Mozilla/5.0 (🦀; Ünïcode) ");
    while ua.len() + 2 <= 256 {
        ua.push('é');
    }
    while ua.len() < 256 {
        ua.push('x');
    }
    assert_eq!(ua.len(), 256);

    let bare = SessionRecord {
        last_seen_at: at(100),
        idle_expires_at: at(100 + 1800),
        ..session_record(user.user.id, at(10))
    };
    let full = SessionRecord {
        device: Device {
            user_agent: Some(ua),
            ip: Some("2001:db8::1".into()),
        },
        ..session_record(user.user.id, at(20))
    };
    let ip_only = SessionRecord {
        device: Device {
            user_agent: None,
            ip: Some("203.0.113.7".into()),
        },
        ..session_record(user.user.id, at(30))
    };
    for s in [&bare, &full, &ip_only] {
        store.insert_session(s).await.unwrap();
    }
    for s in [&bare, &full, &ip_only] {
        assert_eq!(
            store
                .session_by_hash(&s.secret_hash)
                .await
                .unwrap()
                .as_ref(),
            Some(s)
        );
    }
    assert_eq!(
        store.sessions_of_user(user.user.id).await.unwrap(),
        vec![bare, full, ip_only]
    );
    let unknown = PlainSecret::generate().unwrap().hash();
    assert_eq!(store.session_by_hash(&unknown).await.unwrap(), None);
}

/// Two sessions cannot share a secret hash (a lookup by hash must be unambiguous).
pub async fn duplicate_session_hash_is_a_conflict(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let first = new_session(&*store, user.user.id, at(0)).await;
    let copy = SessionRecord {
        id: SessionId::new(),
        ..first.clone()
    };
    let r = store.insert_session(&copy).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        store.session_by_hash(&first.secret_hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(ids_of_user(&*store, user.user.id).await, vec![first.id]);
}

/// A session for a user the store does not know is refused with `Conflict`.
pub async fn session_of_unknown_user_is_a_conflict(store: Arc<dyn Store>) {
    let orphan = session_record(UserId::new(), at(0));
    let r = store.insert_session(&orphan).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(
        store.session_by_hash(&orphan.secret_hash).await.unwrap(),
        None
    );
}

/// `touch_session` moves `last_seen_at` and `idle_expires_at` only, and reports `false` for
/// a deleted session without bringing it back.
pub async fn touch_session_until_deleted(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let s = new_session(&*store, user.user.id, at(0)).await;
    assert!(store.touch_session(s.id, at(600), at(2400)).await.unwrap());
    let expected = SessionRecord {
        last_seen_at: at(600),
        idle_expires_at: at(2400),
        ..s.clone()
    };
    assert_eq!(
        store.session_by_hash(&s.secret_hash).await.unwrap(),
        Some(expected)
    );

    assert!(store.delete_session(user.user.id, s.id).await.unwrap());
    assert!(!store.touch_session(s.id, at(700), at(2500)).await.unwrap());
    assert_eq!(store.session_by_hash(&s.secret_hash).await.unwrap(), None);
    assert!(ids_of_user(&*store, user.user.id).await.is_empty());
    assert!(
        !store
            .touch_session(SessionId::new(), at(700), at(2500))
            .await
            .unwrap()
    );
}

/// `sessions_of_user` lists that user's sessions only, oldest first.
pub async fn sessions_of_user_lists_only_that_user_oldest_first(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let bob = new_user(&*store, at(0)).await;
    let a3 = new_session(&*store, alice.user.id, at(30)).await;
    let b1 = new_session(&*store, bob.user.id, at(15)).await;
    let a1 = new_session(&*store, alice.user.id, at(10)).await;
    let a2 = new_session(&*store, alice.user.id, at(20)).await;
    assert_eq!(
        store.sessions_of_user(alice.user.id).await.unwrap(),
        vec![a1, a2, a3]
    );
    assert_eq!(store.sessions_of_user(bob.user.id).await.unwrap(), vec![b1]);
    assert!(
        store
            .sessions_of_user(UserId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deleting another user's session by its handle does nothing and reports `false`; the owner
/// can delete it once, after which it is gone for every read.
pub async fn delete_session_of_another_user_is_refused(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let mallory = new_user(&*store, at(0)).await;
    let s = new_session(&*store, alice.user.id, at(0)).await;

    assert!(!store.delete_session(mallory.user.id, s.id).await.unwrap());
    assert_eq!(
        store.session_by_hash(&s.secret_hash).await.unwrap(),
        Some(s.clone())
    );

    assert!(store.delete_session(alice.user.id, s.id).await.unwrap());
    assert_eq!(store.session_by_hash(&s.secret_hash).await.unwrap(), None);
    assert!(ids_of_user(&*store, alice.user.id).await.is_empty());
    assert!(!store.delete_session(alice.user.id, s.id).await.unwrap());
    assert!(
        !store
            .delete_session(alice.user.id, SessionId::new())
            .await
            .unwrap()
    );
}

/// `delete_sessions_of_user` deletes all of a user's sessions but `keep`, counts them, and
/// never touches another user's sessions (even when `keep` names one of them).
pub async fn delete_sessions_of_user_with_and_without_keep(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let bob = new_user(&*store, at(0)).await;
    let a1 = new_session(&*store, alice.user.id, at(1)).await;
    let a2 = new_session(&*store, alice.user.id, at(2)).await;
    let a3 = new_session(&*store, alice.user.id, at(3)).await;
    let b1 = new_session(&*store, bob.user.id, at(4)).await;

    assert_eq!(
        store
            .delete_sessions_of_user(alice.user.id, Some(a2.id))
            .await
            .unwrap(),
        2
    );
    assert_eq!(ids_of_user(&*store, alice.user.id).await, vec![a2.id]);
    assert_eq!(store.session_by_hash(&a1.secret_hash).await.unwrap(), None);
    assert_eq!(store.session_by_hash(&a3.secret_hash).await.unwrap(), None);

    assert_eq!(
        store
            .delete_sessions_of_user(alice.user.id, None)
            .await
            .unwrap(),
        1
    );
    assert!(ids_of_user(&*store, alice.user.id).await.is_empty());
    assert_eq!(
        store
            .delete_sessions_of_user(alice.user.id, None)
            .await
            .unwrap(),
        0
    );

    let a4 = new_session(&*store, alice.user.id, at(5)).await;
    assert_eq!(
        store
            .delete_sessions_of_user(alice.user.id, Some(b1.id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.session_by_hash(&a4.secret_hash).await.unwrap(), None);

    assert_eq!(
        store.sessions_of_user(bob.user.id).await.unwrap(),
        vec![b1.clone()]
    );
    assert_eq!(
        store.session_by_hash(&b1.secret_hash).await.unwrap(),
        Some(b1)
    );
}

/// `purge_expired_sessions` deletes sessions whose idle or absolute expiry is at or before
/// `now` (a session expiring exactly now is expired), and keeps every other.
pub async fn purge_expired_sessions_at_the_boundary(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let bob = new_user(&*store, at(0)).await;
    let now = at(5000);
    let base = |user: &UserRecord| session_record(user.user.id, at(0));
    let idle_now = SessionRecord {
        idle_expires_at: now,
        expires_at: now + Duration::hours(1),
        ..base(&alice)
    };
    let idle_past = SessionRecord {
        idle_expires_at: now - Duration::seconds(1),
        expires_at: now + Duration::hours(1),
        ..base(&alice)
    };
    // Idle expiry after the absolute one: the store must not rely on idle <= absolute.
    let absolute_now = SessionRecord {
        idle_expires_at: now + Duration::seconds(100),
        expires_at: now,
        ..base(&alice)
    };
    let live = SessionRecord {
        idle_expires_at: now + Duration::seconds(1),
        expires_at: now + Duration::seconds(1),
        ..base(&alice)
    };
    let bobs_live = SessionRecord {
        idle_expires_at: now + Duration::minutes(30),
        expires_at: now + Duration::hours(1),
        ..base(&bob)
    };
    for s in [&idle_now, &idle_past, &absolute_now, &live, &bobs_live] {
        store.insert_session(s).await.unwrap();
    }

    assert_eq!(store.purge_expired_sessions(now).await.unwrap(), 3);
    for gone in [&idle_now, &idle_past, &absolute_now] {
        assert_eq!(
            store.session_by_hash(&gone.secret_hash).await.unwrap(),
            None
        );
    }
    assert_eq!(ids_of_user(&*store, alice.user.id).await, vec![live.id]);
    assert_eq!(
        store.session_by_hash(&live.secret_hash).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(
        store.session_by_hash(&bobs_live.secret_hash).await.unwrap(),
        Some(bobs_live)
    );
    assert_eq!(store.purge_expired_sessions(now).await.unwrap(), 0);
    assert_eq!(
        store.purge_expired_sessions(live.expires_at).await.unwrap(),
        1
    );
}

// ---- throttle ----

/// Hits in one window count up from 1 and keep the window's end; keys are independent.
pub async fn throttle_counts_hits_per_key(store: Arc<dyn Store>) {
    let key = unique("login");
    let other = unique("login");
    let window = Duration::minutes(15);
    let ends = at(0) + window;
    for (i, t) in [0, 1, 2, 899].into_iter().enumerate() {
        let w = store.throttle_hit(&key, window, at(t)).await.unwrap();
        assert_eq!(
            w,
            ThrottleWindow {
                count: i as u32 + 1,
                resets_at: ends
            }
        );
    }
    let w = store.throttle_hit(&other, window, at(3)).await.unwrap();
    assert_eq!(
        w,
        ThrottleWindow {
            count: 1,
            resets_at: at(3) + window
        }
    );
}

/// At the end of the window (resets_at == now) a hit starts a new window with count 1.
pub async fn throttle_window_resets_at_the_boundary(store: Arc<dyn Store>) {
    let key = unique("ip");
    let window = Duration::seconds(60);
    assert_eq!(
        store.throttle_hit(&key, window, at(0)).await.unwrap().count,
        1
    );
    assert_eq!(
        store
            .throttle_hit(&key, window, at(59))
            .await
            .unwrap()
            .count,
        2
    );
    let w = store.throttle_hit(&key, window, at(60)).await.unwrap();
    assert_eq!(
        w,
        ThrottleWindow {
            count: 1,
            resets_at: at(120)
        }
    );
    let w = store.throttle_hit(&key, window, at(61)).await.unwrap();
    assert_eq!(
        w,
        ThrottleWindow {
            count: 2,
            resets_at: at(120)
        }
    );
    // Long after the end, too.
    let w = store.throttle_hit(&key, window, at(10_000)).await.unwrap();
    assert_eq!(
        w,
        ThrottleWindow {
            count: 1,
            resets_at: at(10_060)
        }
    );
}

/// `throttle_peek` shows an open window without counting, and nothing when the key is
/// absent or its window has ended.
pub async fn throttle_peek_does_not_count(store: Arc<dyn Store>) {
    let key = unique("peek");
    let window = Duration::seconds(60);
    assert_eq!(store.throttle_peek(&key, at(0)).await.unwrap(), None);
    store.throttle_hit(&key, window, at(0)).await.unwrap();
    let open = Some(ThrottleWindow {
        count: 1,
        resets_at: at(60),
    });
    assert_eq!(store.throttle_peek(&key, at(0)).await.unwrap(), open);
    assert_eq!(store.throttle_peek(&key, at(59)).await.unwrap(), open);
    assert_eq!(
        store.throttle_hit(&key, window, at(1)).await.unwrap().count,
        2
    );
    assert_eq!(store.throttle_peek(&key, at(60)).await.unwrap(), None);
    assert_eq!(store.throttle_peek(&key, at(61)).await.unwrap(), None);
}

/// `throttle_clear` forgets a key (the next hit counts 1) and is fine on an absent key.
pub async fn throttle_clear_forgets(store: Arc<dyn Store>) {
    let key = unique("clear");
    let other = unique("clear");
    let window = Duration::seconds(60);
    store.throttle_hit(&key, window, at(0)).await.unwrap();
    store.throttle_hit(&key, window, at(1)).await.unwrap();
    store.throttle_hit(&other, window, at(1)).await.unwrap();
    store.throttle_clear(&key).await.unwrap();
    assert_eq!(store.throttle_peek(&key, at(2)).await.unwrap(), None);
    assert_eq!(
        store
            .throttle_peek(&other, at(2))
            .await
            .unwrap()
            .map(|w| w.count),
        Some(1)
    );
    let w = store.throttle_hit(&key, window, at(2)).await.unwrap();
    assert_eq!(
        w,
        ThrottleWindow {
            count: 1,
            resets_at: at(62)
        }
    );
    store.throttle_clear(&unique("never-hit")).await.unwrap();
}

/// `purge_expired_throttles` deletes windows that ended at or before `now` and counts them.
pub async fn throttle_purge_at_the_boundary(store: Arc<dyn Store>) {
    let short = unique("short");
    let long = unique("long");
    store
        .throttle_hit(&short, Duration::seconds(10), at(0))
        .await
        .unwrap();
    store
        .throttle_hit(&long, Duration::seconds(20), at(0))
        .await
        .unwrap();
    assert_eq!(store.purge_expired_throttles(at(9)).await.unwrap(), 0);
    assert_eq!(store.purge_expired_throttles(at(10)).await.unwrap(), 1);
    assert_eq!(store.throttle_peek(&short, at(5)).await.unwrap(), None);
    assert_eq!(
        store
            .throttle_peek(&long, at(10))
            .await
            .unwrap()
            .map(|w| w.count),
        Some(1)
    );
    assert_eq!(store.purge_expired_throttles(at(10)).await.unwrap(), 0);
    assert_eq!(store.purge_expired_throttles(at(20)).await.unwrap(), 1);
    assert_eq!(store.throttle_peek(&long, at(0)).await.unwrap(), None);
}

// ---- refresh families ----

fn family_record(user: UserId, created_at: OffsetDateTime) -> RefreshFamily {
    RefreshFamily {
        id: FamilyId::new(),
        user_id: user,
        generation: 0,
        created_at,
        last_used_at: created_at,
        rotated_at: created_at,
        expires_at: created_at + Duration::days(30),
        revoked_at: None,
        device: Device::default(),
    }
}

fn token_hash() -> SecretHash {
    PlainSecret::generate().unwrap().hash()
}

/// A family at generation 0, created, with the hash of its first token.
async fn new_family(
    store: &dyn Store,
    user: UserId,
    created_at: OffsetDateTime,
) -> (RefreshFamily, SecretHash) {
    let f = family_record(user, created_at);
    let h = token_hash();
    store.create_family(&f, &h).await.unwrap();
    (f, h)
}

async fn family_ids_of_user(store: &dyn Store, user: UserId) -> Vec<FamilyId> {
    store
        .families_of_user(user)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect()
}

async fn found(store: &dyn Store, hash: &SecretHash) -> Option<(RefreshFamily, u32)> {
    store
        .find_refresh_token(hash)
        .await
        .unwrap()
        .map(|r| (r.family, r.generation))
}

/// Every field of a family reads back exactly, found by its token's hash, by id and in the
/// user's list; with and without device details, revoked or not, and created at a generation
/// other than 0 (the token is recorded as that generation).
pub async fn refresh_families_roundtrip_every_field(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let mut ua = String::from("Mozilla/5.0 (🦀; Ünïcode) ");
    while ua.len() + 2 <= 256 {
        ua.push('é');
    }
    let plain = family_record(user.user.id, at(10));
    let full = RefreshFamily {
        generation: 7,
        last_used_at: at(300),
        rotated_at: at(200),
        expires_at: at(200) + Duration::days(30),
        revoked_at: Some(at(400)),
        device: Device {
            user_agent: Some(ua),
            ip: Some("2001:db8::1".into()),
        },
        ..family_record(user.user.id, at(20))
    };
    let (h_plain, h_full) = (token_hash(), token_hash());
    store.create_family(&plain, &h_plain).await.unwrap();
    store.create_family(&full, &h_full).await.unwrap();

    assert_eq!(
        store.find_refresh_token(&h_plain).await.unwrap(),
        Some(RefreshTokenRecord {
            family: plain.clone(),
            generation: 0
        })
    );
    assert_eq!(
        store.find_refresh_token(&h_full).await.unwrap(),
        Some(RefreshTokenRecord {
            family: full.clone(),
            generation: 7
        })
    );
    assert_eq!(store.family(plain.id).await.unwrap(), Some(plain.clone()));
    assert_eq!(store.family(full.id).await.unwrap(), Some(full.clone()));
    assert_eq!(
        store.families_of_user(user.user.id).await.unwrap(),
        vec![plain, full]
    );
    assert_eq!(store.find_refresh_token(&token_hash()).await.unwrap(), None);
    assert_eq!(store.family(FamilyId::new()).await.unwrap(), None);
}

/// A family with a taken id or token hash, or for an unknown user, is refused with `Conflict`,
/// and nothing of it is kept (neither the family nor its token).
pub async fn refresh_family_conflicts_leave_nothing_behind(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let (first, h) = new_family(&*store, user.user.id, at(0)).await;

    let same_id = family_record(user.user.id, at(1));
    let same_id = RefreshFamily {
        id: first.id,
        ..same_id
    };
    let fresh = token_hash();
    let r = store.create_family(&same_id, &fresh).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(store.find_refresh_token(&fresh).await.unwrap(), None);
    assert_eq!(store.family(first.id).await.unwrap(), Some(first.clone()));

    let same_hash = family_record(user.user.id, at(2));
    let r = store.create_family(&same_hash, &h).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(store.family(same_hash.id).await.unwrap(), None);
    assert_eq!(found(&*store, &h).await, Some((first.clone(), 0)));

    let orphan = family_record(UserId::new(), at(3));
    let orphan_hash = token_hash();
    let r = store.create_family(&orphan, &orphan_hash).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(store.family(orphan.id).await.unwrap(), None);
    assert_eq!(store.find_refresh_token(&orphan_hash).await.unwrap(), None);

    assert_eq!(
        family_ids_of_user(&*store, user.user.id).await,
        vec![first.id]
    );
}

/// `rotate_family` is a compare-and-set on the generation: it moves a live family on by one
/// and records the new hash, and otherwise (wrong generation, unknown, revoked, expired at
/// `now`) changes nothing and reports `false`. A taken `next_hash` is a `Conflict` that also
/// changes nothing.
pub async fn rotate_family_is_a_compare_and_set(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let (f, h0) = new_family(&*store, user.user.id, at(0)).await;
    let h1 = token_hash();
    let exp1 = at(100) + Duration::days(30);
    assert!(
        store
            .rotate_family(f.id, 0, &h1, at(100), exp1)
            .await
            .unwrap()
    );
    let g1 = RefreshFamily {
        generation: 1,
        last_used_at: at(100),
        rotated_at: at(100),
        expires_at: exp1,
        ..f.clone()
    };
    assert_eq!(store.family(f.id).await.unwrap(), Some(g1.clone()));
    assert_eq!(found(&*store, &h0).await, Some((g1.clone(), 0)));
    assert_eq!(found(&*store, &h1).await, Some((g1.clone(), 1)));

    // The generation it was at is gone: a second rotation from it loses.
    let late = token_hash();
    assert!(
        !store
            .rotate_family(f.id, 0, &late, at(101), exp1)
            .await
            .unwrap()
    );
    assert_eq!(store.find_refresh_token(&late).await.unwrap(), None);
    // A generation it has not reached, and an unknown family.
    assert!(
        !store
            .rotate_family(f.id, 2, &late, at(101), exp1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate_family(FamilyId::new(), 0, &late, at(101), exp1)
            .await
            .unwrap()
    );
    assert_eq!(store.find_refresh_token(&late).await.unwrap(), None);
    // A hash that is already recorded.
    let r = store.rotate_family(f.id, 1, &h0, at(102), exp1).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(store.family(f.id).await.unwrap(), Some(g1.clone()));
    assert_eq!(found(&*store, &h0).await, Some((g1.clone(), 0)));

    // Expired at `now` (expires_at == now counts as expired).
    assert!(
        !store
            .rotate_family(f.id, 1, &late, exp1, exp1 + Duration::days(30))
            .await
            .unwrap()
    );
    assert_eq!(store.family(f.id).await.unwrap(), Some(g1.clone()));
    let h2 = token_hash();
    let just_before = exp1 - Duration::seconds(1);
    assert!(
        store
            .rotate_family(f.id, 1, &h2, just_before, exp1 + Duration::days(1))
            .await
            .unwrap()
    );

    // Revoked.
    assert!(store.revoke_family(f.id, at(500)).await.unwrap());
    assert!(
        !store
            .rotate_family(f.id, 2, &late, at(501), exp1)
            .await
            .unwrap()
    );
    let dead = store.family(f.id).await.unwrap().unwrap();
    assert_eq!(dead.generation, 2);
    assert_eq!(dead.revoked_at, Some(at(500)));
    assert_eq!(store.find_refresh_token(&late).await.unwrap(), None);
}

/// The hash of every token a family ever issued is found, with its own generation and the
/// family as it is now, so any old token can be recognised as reuse.
pub async fn every_generation_of_a_family_is_recognised(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let (f, h0) = new_family(&*store, user.user.id, at(0)).await;
    let mut hashes = vec![h0];
    for g in 0..5u32 {
        let next = token_hash();
        let now = at(10 * (i64::from(g) + 1));
        assert!(
            store
                .rotate_family(f.id, g, &next, now, now + Duration::days(30))
                .await
                .unwrap()
        );
        hashes.push(next);
    }
    let current = store.family(f.id).await.unwrap().unwrap();
    assert_eq!(current.generation, 5);
    assert_eq!(current.rotated_at, at(50));
    assert_eq!(current.created_at, f.created_at);
    for (g, h) in hashes.iter().enumerate() {
        assert_eq!(found(&*store, h).await, Some((current.clone(), g as u32)));
    }
}

/// `revoke_family` marks a family revoked once: `true` the first time, `false` after (and
/// `revoked_at` keeps the first time); its tokens are still found, showing the revocation.
pub async fn revoke_family_succeeds_once(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let (f, h) = new_family(&*store, user.user.id, at(0)).await;
    let (other, other_hash) = new_family(&*store, user.user.id, at(1)).await;
    assert!(store.revoke_family(f.id, at(10)).await.unwrap());
    assert!(!store.revoke_family(f.id, at(20)).await.unwrap());
    let revoked = RefreshFamily {
        revoked_at: Some(at(10)),
        ..f.clone()
    };
    assert_eq!(found(&*store, &h).await, Some((revoked.clone(), 0)));
    assert_eq!(store.family(f.id).await.unwrap(), Some(revoked));
    assert_eq!(found(&*store, &other_hash).await, Some((other, 0)));
    assert!(!store.revoke_family(FamilyId::new(), at(10)).await.unwrap());
}

/// Revoking another user's family by its handle does nothing and reports `false`; the owner
/// can revoke it once.
pub async fn revoke_family_of_another_user_is_refused(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let mallory = new_user(&*store, at(0)).await;
    let (f, h) = new_family(&*store, alice.user.id, at(0)).await;
    assert!(
        !store
            .revoke_family_of_user(mallory.user.id, f.id, at(5))
            .await
            .unwrap()
    );
    assert_eq!(found(&*store, &h).await, Some((f.clone(), 0)));
    assert!(
        store
            .revoke_family_of_user(alice.user.id, f.id, at(6))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_family_of_user(alice.user.id, f.id, at(7))
            .await
            .unwrap()
    );
    assert_eq!(
        store.family(f.id).await.unwrap().unwrap().revoked_at,
        Some(at(6))
    );
    assert!(
        !store
            .revoke_family_of_user(alice.user.id, FamilyId::new(), at(7))
            .await
            .unwrap()
    );
}

/// `revoke_families_of_user` revokes every live-or-expired, not yet revoked family of the user
/// but `keep`, returns exactly those ids oldest first, and never touches another user's.
pub async fn revoke_families_of_user_with_and_without_keep(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let bob = new_user(&*store, at(0)).await;
    let (a3, _) = new_family(&*store, alice.user.id, at(3)).await;
    let (a1, _) = new_family(&*store, alice.user.id, at(1)).await;
    let (a2, _) = new_family(&*store, alice.user.id, at(2)).await;
    let (a0, _) = new_family(&*store, alice.user.id, at(0)).await;
    let (b1, _) = new_family(&*store, bob.user.id, at(1)).await;
    assert!(store.revoke_family(a0.id, at(5)).await.unwrap());

    let revoked = store
        .revoke_families_of_user(alice.user.id, Some(a2.id), at(10))
        .await
        .unwrap();
    assert_eq!(revoked, vec![a1.id, a3.id]);
    for (id, when) in [(a0.id, Some(at(5))), (a1.id, Some(at(10))), (a2.id, None)] {
        assert_eq!(store.family(id).await.unwrap().unwrap().revoked_at, when);
    }

    assert_eq!(
        store
            .revoke_families_of_user(alice.user.id, None, at(20))
            .await
            .unwrap(),
        vec![a2.id]
    );
    assert!(
        store
            .revoke_families_of_user(alice.user.id, None, at(30))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.family(a3.id).await.unwrap().unwrap().revoked_at,
        Some(at(10))
    );

    let (a4, _) = new_family(&*store, alice.user.id, at(40)).await;
    assert_eq!(
        store
            .revoke_families_of_user(alice.user.id, Some(b1.id), at(41))
            .await
            .unwrap(),
        vec![a4.id]
    );
    assert_eq!(store.family(b1.id).await.unwrap(), Some(b1.clone()));
    assert_eq!(store.families_of_user(bob.user.id).await.unwrap(), vec![b1]);
}

/// `families_of_user` lists that user's families only (revoked ones included), oldest first,
/// ties by id.
pub async fn families_of_user_lists_only_that_user_oldest_first(store: Arc<dyn Store>) {
    let alice = new_user(&*store, at(0)).await;
    let bob = new_user(&*store, at(0)).await;
    let (a3, _) = new_family(&*store, alice.user.id, at(30)).await;
    let (b1, _) = new_family(&*store, bob.user.id, at(15)).await;
    let (a1, _) = new_family(&*store, alice.user.id, at(10)).await;
    let mut ties = vec![
        new_family(&*store, alice.user.id, at(20)).await.0,
        new_family(&*store, alice.user.id, at(20)).await.0,
        new_family(&*store, alice.user.id, at(20)).await.0,
    ];
    ties.sort_by_key(|f| f.id);
    assert!(store.revoke_family(a3.id, at(40)).await.unwrap());
    let a3 = store.family(a3.id).await.unwrap().unwrap();
    let mut expected = vec![a1];
    expected.extend(ties);
    expected.push(a3);
    assert_eq!(
        store.families_of_user(alice.user.id).await.unwrap(),
        expected
    );
    assert_eq!(store.families_of_user(bob.user.id).await.unwrap(), vec![b1]);
    assert!(
        store
            .families_of_user(UserId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// `purge_families(t)` deletes the families that expired or were revoked at or before `t`,
/// with the hashes of all their tokens, counts them, and keeps every other.
pub async fn purge_families_deletes_them_and_their_hashes(store: Arc<dyn Store>) {
    let user = new_user(&*store, at(0)).await;
    let cutoff = at(10_000);
    let make = |expires_at: OffsetDateTime| RefreshFamily {
        expires_at,
        ..family_record(user.user.id, at(0))
    };
    let expired_at_cutoff = make(cutoff);
    let expired_before = make(cutoff - Duration::seconds(1));
    let revoked_at_cutoff = make(cutoff + Duration::days(1));
    let revoked_after = make(cutoff + Duration::days(1));
    let live = make(cutoff + Duration::seconds(1));
    let mut hashes = std::collections::HashMap::new();
    for f in [
        &expired_at_cutoff,
        &expired_before,
        &revoked_at_cutoff,
        &revoked_after,
        &live,
    ] {
        let h = token_hash();
        store.create_family(f, &h).await.unwrap();
        hashes.insert(f.id, vec![h]);
    }
    // Several generations for one doomed and one kept family.
    for f in [&revoked_at_cutoff, &live] {
        for g in 0..3 {
            let h = token_hash();
            assert!(
                store
                    .rotate_family(f.id, g, &h, at(1), f.expires_at)
                    .await
                    .unwrap()
            );
            hashes.get_mut(&f.id).unwrap().push(h);
        }
    }
    assert!(
        store
            .revoke_family(revoked_at_cutoff.id, cutoff)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_family(revoked_after.id, cutoff + Duration::seconds(1))
            .await
            .unwrap()
    );

    assert_eq!(store.purge_families(cutoff).await.unwrap(), 3);
    for gone in [&expired_at_cutoff, &expired_before, &revoked_at_cutoff] {
        assert_eq!(store.family(gone.id).await.unwrap(), None);
        for h in &hashes[&gone.id] {
            assert_eq!(store.find_refresh_token(h).await.unwrap(), None);
        }
    }
    for kept in [&revoked_after, &live] {
        let now = store.family(kept.id).await.unwrap().unwrap();
        for (g, h) in hashes[&kept.id].iter().enumerate() {
            assert_eq!(found(&*store, h).await, Some((now.clone(), g as u32)));
        }
    }
    assert_eq!(
        family_ids_of_user(&*store, user.user.id).await.len(),
        2,
        "the user's list no longer shows purged families"
    );
    assert_eq!(store.purge_families(cutoff).await.unwrap(), 0);
    assert_eq!(
        store
            .purge_families(cutoff + Duration::seconds(1))
            .await
            .unwrap(),
        2
    );
}

// ---- keys and server secrets ----

fn key_record(kid: &str, state: KeyState, created_at: OffsetDateTime) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        algorithm: "EdDSA".into(),
        state,
        // Bytes that are not UTF-8 and hold zeros, as private key encodings do.
        material: KeyMaterial::from_vec(vec![0x30, 0x00, 0xff, 0x80, 0x00, 0x7f, 0x01]),
        public_jwk: Some(format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"{kid}"}}"#
        )),
        created_at,
        state_changed_at: created_at,
    }
}

fn state_change(kid: &str, from: KeyState, to: KeyState) -> KeyStateChange {
    KeyStateChange {
        kid: kid.to_owned(),
        from,
        to,
    }
}

async fn state_of(store: &dyn Store, kid: &str) -> Option<KeyState> {
    store
        .keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kid == kid)
        .map(|k| k.state)
}

/// Keys read back exactly (material bytes, a missing public JWK), oldest first with ties by
/// kid; a taken kid is a `Conflict`; `delete_key` reports whether the key existed.
pub async fn keys_insert_list_and_delete(store: Arc<dyn Store>) {
    let b = key_record(&unique("b"), KeyState::Active, at(10));
    let a = key_record(&unique("a"), KeyState::Next, at(10));
    let hs = StoredKey {
        algorithm: "HS256".into(),
        public_jwk: None,
        material: KeyMaterial::from_vec((0..=255).collect()),
        state_changed_at: at(50),
        ..key_record(&unique("hs"), KeyState::Retired, at(0))
    };
    let c = key_record(&unique("c"), KeyState::Retiring, at(20));
    for k in [&b, &a, &hs, &c] {
        store.insert_key(k).await.unwrap();
    }
    assert_eq!(
        store.keys().await.unwrap(),
        vec![hs.clone(), a.clone(), b.clone(), c.clone()]
    );

    let dup = StoredKey {
        algorithm: "ES256".into(),
        ..key_record(&a.kid, KeyState::Next, at(30))
    };
    let r = store.insert_key(&dup).await;
    assert!(is_conflict(&r), "{r:?}");

    assert!(store.delete_key(&a.kid).await.unwrap());
    assert!(!store.delete_key(&a.kid).await.unwrap());
    assert!(!store.delete_key(&unique("never")).await.unwrap());
    assert_eq!(store.keys().await.unwrap(), vec![hs, b, c]);
}

/// Key states change by compare-and-set: a wrong `from` or an unknown kid changes nothing; a
/// batch applies wholly or not at all, in order.
pub async fn key_state_changes_are_compare_and_set(store: Arc<dyn Store>) {
    use KeyState::{Active, Next, Retired, Retiring};
    // Created together: listed by kid, so `a` first.
    let n = key_record(&unique("n"), Next, at(0));
    let a = key_record(&unique("a"), Active, at(0));
    store.insert_key(&n).await.unwrap();
    store.insert_key(&a).await.unwrap();

    assert!(
        !store
            .set_key_state(&n.kid, Active, Retiring, at(5))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_key_state(&unique("x"), Next, Active, at(5))
            .await
            .unwrap()
    );
    assert_eq!(store.keys().await.unwrap(), vec![a.clone(), n.clone()]);

    // A rotation that names a stale state fails whole: the first step is undone.
    let stale = [
        state_change(&n.kid, Next, Active),
        state_change(&a.kid, Next, Retiring),
    ];
    assert!(!store.set_key_states(&stale, at(6)).await.unwrap());
    assert_eq!(store.keys().await.unwrap(), vec![a.clone(), n.clone()]);

    let rotation = [
        state_change(&n.kid, Next, Active),
        state_change(&a.kid, Active, Retiring),
    ];
    assert!(store.set_key_states(&rotation, at(7)).await.unwrap());
    assert_eq!(
        store.keys().await.unwrap(),
        vec![
            StoredKey {
                state: Retiring,
                state_changed_at: at(7),
                ..a.clone()
            },
            StoredKey {
                state: Active,
                state_changed_at: at(7),
                ..n.clone()
            },
        ]
    );
    // The same rotation again: its `from` states are gone.
    assert!(!store.set_key_states(&rotation, at(8)).await.unwrap());

    // Steps on one key run in order.
    let twice = [
        state_change(&a.kid, Retiring, Retired),
        state_change(&a.kid, Retired, Active),
    ];
    assert!(store.set_key_states(&twice, at(9)).await.unwrap());
    assert_eq!(state_of(&*store, &a.kid).await, Some(Active));
    assert!(
        store
            .set_key_state(&a.kid, Active, Retired, at(10))
            .await
            .unwrap()
    );
    assert_eq!(state_of(&*store, &a.kid).await, Some(Retired));
    assert!(store.set_key_states(&[], at(11)).await.unwrap());
}

/// `server_secret` creates a secret once: later callers get the first bytes, whatever their
/// candidate; names are independent.
pub async fn server_secret_is_created_once(store: Arc<dyn Store>) {
    let name = unique("secret");
    let first = KeyMaterial::from_vec(vec![1, 0, 2, 0, 3]);
    let second = KeyMaterial::from_vec(vec![9; 32]);
    assert_eq!(store.server_secret(&name, &first).await.unwrap(), first);
    assert_eq!(store.server_secret(&name, &second).await.unwrap(), first);
    let other = unique("secret");
    assert_eq!(store.server_secret(&other, &second).await.unwrap(), second);
    assert_eq!(store.server_secret(&name, &second).await.unwrap(), first);
}

// ---- revocations ----

fn denied(key: &str, until: OffsetDateTime) -> Revocation {
    Revocation::Denied {
        key: key.to_owned(),
        until,
    }
}

/// `deny` is idempotent and keeps the later `until`; a write that changes nothing does not
/// show up as a change.
pub async fn deny_keeps_the_later_until(store: Arc<dyn Store>) {
    let key = format!("jti:{}", unique("t"));
    let v0 = store.revocations_since(0).await.unwrap().version;
    store.deny(&key, at(100)).await.unwrap();
    let c1 = store.revocations_since(v0).await.unwrap();
    assert!(c1.version > v0);
    assert_eq!(c1.revocations, vec![denied(&key, at(100))]);

    store.deny(&key, at(50)).await.unwrap();
    store.deny(&key, at(100)).await.unwrap();
    let c2 = store.revocations_since(c1.version).await.unwrap();
    assert_eq!(c2.version, c1.version);
    assert!(c2.revocations.is_empty());

    store.deny(&key, at(200)).await.unwrap();
    let c3 = store.revocations_since(c1.version).await.unwrap();
    assert!(c3.version > c1.version);
    assert_eq!(c3.revocations, vec![denied(&key, at(200))]);
    let all = store.revocations_since(0).await.unwrap().revocations;
    assert_eq!(
        all.iter()
            .filter(|r| matches!(r, Revocation::Denied { key: k, .. } if *k == key))
            .collect::<Vec<_>>(),
        vec![&denied(&key, at(200))]
    );
}

/// A user's cutoff keeps the later `at` and, separately, the later `until`; users are
/// independent.
pub async fn cutoffs_keep_the_later_time(store: Arc<dyn Store>) {
    let (alice, bob) = (UserId::new(), UserId::new());
    let cutoff_of = |changes: &RevocationChanges, user: UserId| -> Vec<Revocation> {
        changes
            .revocations
            .iter()
            .filter(|r| matches!(r, Revocation::Cutoff { user: u, .. } if *u == user))
            .cloned()
            .collect()
    };
    let cutoff = |user, a, u| Revocation::Cutoff {
        user,
        at: at(a),
        until: at(u),
    };
    store.set_cutoff(alice, at(10), at(100)).await.unwrap();
    let v1 = store.revocations_since(0).await.unwrap().version;
    store.set_cutoff(alice, at(5), at(100)).await.unwrap();
    store.set_cutoff(alice, at(10), at(90)).await.unwrap();
    let c = store.revocations_since(v1).await.unwrap();
    assert_eq!(c.version, v1, "nothing changed");
    assert!(c.revocations.is_empty());

    store.set_cutoff(alice, at(20), at(50)).await.unwrap();
    let c = store.revocations_since(v1).await.unwrap();
    assert_eq!(cutoff_of(&c, alice), vec![cutoff(alice, 20, 100)]);
    store.set_cutoff(alice, at(15), at(300)).await.unwrap();
    store.set_cutoff(bob, at(1), at(2)).await.unwrap();
    let all = store.revocations_since(0).await.unwrap();
    assert_eq!(cutoff_of(&all, alice), vec![cutoff(alice, 20, 300)]);
    assert_eq!(cutoff_of(&all, bob), vec![cutoff(bob, 1, 2)]);
}

/// Every write that changes an entry gets a higher version; `revocations_since(v)` returns
/// exactly the entries written after `v`, in write order, as they are now; a version above
/// the store's (a replaced store) returns everything.
pub async fn revocations_since_returns_only_later_writes(store: Arc<dyn Store>) {
    let (a, b) = (unique("jti:a"), unique("sid:b"));
    let user = UserId::new();
    let v0 = store.revocations_since(0).await.unwrap().version;

    store.deny(&a, at(100)).await.unwrap();
    let v1 = store.revocations_since(v0).await.unwrap().version;
    assert!(v1 > v0);
    store.deny(&b, at(100)).await.unwrap();
    store.set_cutoff(user, at(10), at(100)).await.unwrap();
    let c = store.revocations_since(v1).await.unwrap();
    assert!(c.version > v1);
    assert_eq!(
        c.revocations,
        vec![
            denied(&b, at(100)),
            Revocation::Cutoff {
                user,
                at: at(10),
                until: at(100)
            }
        ]
    );
    let v3 = c.version;
    let c = store.revocations_since(v3).await.unwrap();
    assert_eq!((c.version, c.revocations.len()), (v3, 0));

    // Strengthening an old entry moves it after the others.
    store.deny(&a, at(500)).await.unwrap();
    let c = store.revocations_since(v3).await.unwrap();
    assert_eq!(c.revocations, vec![denied(&a, at(500))]);
    let c = store.revocations_since(v0).await.unwrap();
    assert_eq!(c.revocations.len(), 3);
    assert_eq!(c.revocations.last(), Some(&denied(&a, at(500))));

    let everything = store.revocations_since(0).await.unwrap();
    let from_the_future = store
        .revocations_since(everything.version + 1_000)
        .await
        .unwrap();
    assert_eq!(from_the_future, everything);
}

/// `purge_revocations` deletes entries whose `until` is at or before `now`; versions never go
/// back, so a later write is still seen by a node that had seen the purged entries.
pub async fn purge_revocations_at_the_boundary(store: Arc<dyn Store>) {
    let (x, y) = (unique("jti:x"), unique("jti:y"));
    let user = UserId::new();
    store.deny(&x, at(10)).await.unwrap();
    store.deny(&y, at(11)).await.unwrap();
    store.set_cutoff(user, at(5), at(10)).await.unwrap();
    let seen = store.revocations_since(0).await.unwrap().version;

    assert_eq!(store.purge_revocations(at(9)).await.unwrap(), 0);
    assert_eq!(store.purge_revocations(at(10)).await.unwrap(), 2);
    assert_eq!(
        store.revocations_since(0).await.unwrap().revocations,
        vec![denied(&y, at(11))]
    );
    assert_eq!(store.purge_revocations(at(10)).await.unwrap(), 0);

    store.deny(&x, at(20)).await.unwrap();
    let c = store.revocations_since(seen).await.unwrap();
    assert!(c.version > seen);
    assert_eq!(c.revocations, vec![denied(&x, at(20))]);
}

// ---- races ----

/// 50 simultaneous hits on one key see the counts 1..=50, each exactly once.
pub async fn concurrent_throttle_hits_count_each_once(store: Arc<dyn Store>) {
    const N: usize = 50;
    let key = unique("race");
    let window = Duration::minutes(15);
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, key, start) = (store.clone(), key.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.throttle_hit(&key, window, at(0)).await
            })
        })
        .collect();
    let mut counts = Vec::with_capacity(N);
    for t in tasks {
        let w = t.await.unwrap().unwrap();
        assert_eq!(w.resets_at, at(0) + window);
        counts.push(w.count);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=N as u32).collect::<Vec<_>>());
    assert_eq!(
        store
            .throttle_peek(&key, at(1))
            .await
            .unwrap()
            .map(|w| w.count),
        Some(N as u32)
    );
}

/// 20 simultaneous deletes of one session: exactly one reports `true`.
pub async fn concurrent_deletes_of_one_session_succeed_once(store: Arc<dyn Store>) {
    const N: usize = 20;
    let user = new_user(&*store, at(0)).await;
    let s = new_session(&*store, user.user.id, at(0)).await;
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            let (user, id) = (user.user.id, s.id);
            tokio::spawn(async move {
                start.wait().await;
                store.delete_session(user, id).await
            })
        })
        .collect();
    let mut deleted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            deleted += 1;
        }
    }
    assert_eq!(deleted, 1);
    assert_eq!(store.session_by_hash(&s.secret_hash).await.unwrap(), None);
}

/// Sessions inserted simultaneously for one user are all listed afterwards.
pub async fn concurrent_session_inserts_are_all_listed(store: Arc<dyn Store>) {
    const N: usize = 20;
    let user = new_user(&*store, at(0)).await;
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (store, start) = (store.clone(), start.clone());
            let s = session_record(user.user.id, at(i as i64));
            tokio::spawn(async move {
                start.wait().await;
                store.insert_session(&s).await.map(|()| s.id)
            })
        })
        .collect();
    let mut inserted = BTreeSet::new();
    for t in tasks {
        inserted.insert(t.await.unwrap().unwrap());
    }
    let listed: BTreeSet<SessionId> = ids_of_user(&*store, user.user.id)
        .await
        .into_iter()
        .collect();
    assert_eq!(listed.len(), N);
    assert_eq!(listed, inserted);
}

/// Simultaneous sign-ups with one email: exactly one succeeds, the rest are `Conflict`.
pub async fn concurrent_signups_with_one_email_one_wins(store: Arc<dyn Store>) {
    const N: usize = 10;
    let shared = email();
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            let mut u = user_record(at(0));
            u.user.email = shared.clone();
            tokio::spawn(async move {
                start.wait().await;
                store.create_user(&u).await.map(|()| u.user.id)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => winners.push(id),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("a racing sign-up failed with {e:?}, not Conflict"),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = store.user_by_email(&shared).await.unwrap().unwrap();
    assert_eq!(stored.user.id, winners[0]);
}

/// 20 simultaneous rotations from one generation: exactly one wins, and exactly its token
/// hash is recorded.
pub async fn concurrent_rotations_from_one_generation_one_wins(store: Arc<dyn Store>) {
    const N: usize = 20;
    let user = new_user(&*store, at(0)).await;
    let (f, _) = new_family(&*store, user.user.id, at(0)).await;
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (store, start) = (store.clone(), start.clone());
            let hash = token_hash();
            tokio::spawn(async move {
                start.wait().await;
                let now = at(10 + i as i64);
                let won = store
                    .rotate_family(f.id, 0, &hash, now, now + Duration::days(30))
                    .await;
                (hash, won)
            })
        })
        .collect();
    let mut winners = 0;
    let mut hashes = Vec::new();
    for t in tasks {
        let (hash, won) = t.await.unwrap();
        if won.unwrap() {
            winners += 1;
        }
        hashes.push(hash);
    }
    assert_eq!(winners, 1);
    let mut recorded = 0;
    for h in &hashes {
        if let Some((family, generation)) = found(&*store, h).await {
            assert_eq!((family.generation, generation), (1, 1));
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
    assert_eq!(store.family(f.id).await.unwrap().unwrap().generation, 1);
}

/// 20 simultaneous revocations of one family: exactly one reports `true`.
pub async fn concurrent_revokes_of_one_family_succeed_once(store: Arc<dyn Store>) {
    const N: usize = 20;
    let user = new_user(&*store, at(0)).await;
    let (f, _) = new_family(&*store, user.user.id, at(0)).await;
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (store, start) = (store.clone(), start.clone());
            let user = user.user.id;
            tokio::spawn(async move {
                start.wait().await;
                if i % 2 == 0 {
                    store.revoke_family(f.id, at(5)).await
                } else {
                    store.revoke_family_of_user(user, f.id, at(5)).await
                }
            })
        })
        .collect();
    let mut revoked = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            revoked += 1;
        }
    }
    assert_eq!(revoked, 1);
    assert!(store.family(f.id).await.unwrap().unwrap().is_revoked());
}

/// 20 simultaneous first callers of `server_secret`, each with its own candidate, all get the
/// same bytes: one of the candidates.
pub async fn concurrent_server_secret_callers_agree(store: Arc<dyn Store>) {
    const N: usize = 20;
    let name = unique("race-secret");
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (store, start, name) = (store.clone(), start.clone(), name.clone());
            let candidate = KeyMaterial::from_vec(vec![i as u8; 32]);
            tokio::spawn(async move {
                start.wait().await;
                store.server_secret(&name, &candidate).await
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap());
    }
    let first = got[0].clone();
    assert!(got.iter().all(|m| *m == first));
    assert_eq!(first.len(), 32);
    assert!(first.expose().iter().all(|b| *b == first.expose()[0]));
    assert_eq!(
        store
            .server_secret(&name, &KeyMaterial::from_vec(vec![0xee; 32]))
            .await
            .unwrap(),
        first
    );
}

/// A node that follows the revocations (`revocations_since` with the version it last got)
/// while 20 writers deny at once misses none of them.
pub async fn concurrent_revocations_are_all_seen_by_a_follower(store: Arc<dyn Store>) {
    const N: usize = 20;
    let keys: Vec<String> = (0..N).map(|_| unique("jti")).collect();
    let v0 = store.revocations_since(0).await.unwrap().version;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let mut version = v0;
            let mut seen = BTreeSet::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let c = store.revocations_since(version).await.unwrap();
                assert!(c.version >= version, "versions never go back");
                version = c.version;
                for r in c.revocations {
                    if let Revocation::Denied { key, .. } = r {
                        seen.insert(key);
                    }
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let start = Arc::new(Barrier::new(N));
    let writers: Vec<_> = keys
        .iter()
        .map(|key| {
            let (store, start, key) = (store.clone(), start.clone(), key.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.deny(&key, at(1000)).await
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = follower.await.unwrap();
    let expected: BTreeSet<String> = keys.into_iter().collect();
    assert_eq!(seen, expected);
    let c = store.revocations_since(v0).await.unwrap();
    assert!(c.version >= v0 + N as u64);
    assert_eq!(c.revocations.len(), N);
}
