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
use tessera_core::id::{SessionId, UserId};
use tessera_core::secret::PlainSecret;
use tessera_core::session::{Device, SessionRecord};
use tessera_core::store::{Store, StoreError, ThrottleWindow};
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
        );
        $crate::__conformance_cases!(multi; $factory;
            concurrent_throttle_hits_count_each_once,
            concurrent_deletes_of_one_session_succeed_once,
            concurrent_session_inserts_are_all_listed,
            concurrent_signups_with_one_email_one_wins,
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
