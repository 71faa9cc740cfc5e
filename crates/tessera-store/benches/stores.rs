//! Micro-benchmarks of the store operations on the request path, per store (memory, SQLite on a
//! temporary file):
//!
//! - `session_by_hash`: one existing session, found by hash in a store holding
//!   [`SESSIONS`] sessions;
//! - `authenticate`: the same through the [`Sessions`] service, with its cache on (the default
//!   policy) and off (`cache_ttl = 0`), to show what the cache buys. The clock stands still, so no
//!   request writes (`touch_interval` is never reached): this is the read path;
//! - `rotate_family`: one refresh rotation from the current generation (one family moved through
//!   successive generations; the next token's hash is made outside the timing).
//!
//! Run with `cargo bench -p tessera-store` (or `cargo bench --workspace`); a subset with a filter,
//! e.g. `cargo bench -p tessera-store -- sqlite`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration as StdDuration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::clock::{Clock, ManualClock, from_unix};
use tessera_core::id::{FamilyId, SessionId, UserId};
use tessera_core::refresh::RefreshFamily;
use tessera_core::secret::{PlainSecret, SecretHash};
use tessera_core::session::{Device, SessionPolicy, SessionRecord, Sessions};
use tessera_core::store::Store;
use tessera_store::{MemoryStore, SqliteStore};
use time::{Duration, OffsetDateTime};
use tokio::runtime::Runtime;

/// Sessions in each store while one is looked up.
const SESSIONS: usize = 10_000;
/// Users they belong to (and refresh families: one per user).
const USERS: usize = 1_000;
/// The time the benchmarks run at (the clock never moves).
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// A store filled with [`USERS`] users, [`SESSIONS`] sessions and a refresh family per user.
struct Filled {
    name: &'static str,
    store: Arc<dyn Store>,
    /// The secret of one session in the middle of the store.
    secret: PlainSecret,
    /// A family of the first user, to rotate.
    family: FamilyId,
    /// Keeps the SQLite file alive.
    _dir: Option<TempDir>,
}

fn now() -> OffsetDateTime {
    from_unix(NOW)
}

fn device() -> Device {
    Device::new(
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0"),
        Some("192.0.2.1".into()),
    )
}

async fn fill(name: &'static str, store: Arc<dyn Store>, dir: Option<TempDir>) -> Filled {
    let now = now();
    let mut users = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let id = UserId::new();
        store
            .create_user(&UserRecord {
                user: User {
                    id,
                    email: Email::parse(&format!("user{i}@bench.test")).unwrap(),
                    created_at: now,
                },
                password_hash: PasswordHash::from_stored(
                    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                ),
            })
            .await
            .unwrap();
        users.push(id);
    }
    let mut chosen = None;
    for i in 0..SESSIONS {
        let secret = PlainSecret::generate().unwrap();
        store
            .insert_session(&SessionRecord {
                id: SessionId::new(),
                user_id: users[i % USERS],
                secret_hash: secret.hash(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + Duration::hours(12),
                idle_expires_at: now + Duration::minutes(30),
                device: device(),
            })
            .await
            .unwrap();
        if i == SESSIONS / 2 {
            chosen = Some(secret);
        }
    }
    let mut family = None;
    for user in &users {
        let f = RefreshFamily {
            id: FamilyId::new(),
            user_id: *user,
            generation: 0,
            created_at: now,
            last_used_at: now,
            rotated_at: now,
            expires_at: now + Duration::days(30),
            revoked_at: None,
            device: device(),
        };
        store
            .create_family(&f, &PlainSecret::generate().unwrap().hash())
            .await
            .unwrap();
        family.get_or_insert(f.id);
    }
    Filled {
        name,
        store,
        secret: chosen.expect("SESSIONS > 0"),
        family: family.expect("USERS > 0"),
        _dir: dir,
    }
}

fn stores(rt: &Runtime) -> Vec<Filled> {
    rt.block_on(async {
        let memory = fill("memory", Arc::new(MemoryStore::new()), None).await;
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .unwrap();
        let sqlite = fill("sqlite", Arc::new(sqlite), Some(dir)).await;
        vec![memory, sqlite]
    })
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn session_by_hash(c: &mut Criterion, rt: &Runtime, stores: &[Filled]) {
    let mut g = c.benchmark_group("session_by_hash");
    for s in stores {
        let hash = s.secret.hash();
        assert!(
            rt.block_on(s.store.session_by_hash(&hash))
                .unwrap()
                .is_some()
        );
        g.bench_with_input(BenchmarkId::from_parameter(s.name), &hash, |b, hash| {
            b.to_async(rt).iter(|| async {
                s.store
                    .session_by_hash(black_box(hash))
                    .await
                    .unwrap()
                    .unwrap()
            })
        });
    }
    g.finish();
}

fn authenticate(c: &mut Criterion, rt: &Runtime, stores: &[Filled]) {
    let mut g = c.benchmark_group("authenticate");
    for s in stores {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now()));
        for (label, policy) in [
            ("cache", SessionPolicy::default()),
            (
                "no_cache",
                SessionPolicy {
                    cache_ttl: Duration::ZERO,
                    ..SessionPolicy::default()
                },
            ),
        ] {
            let sessions = Sessions::new(s.store.clone(), clock.clone(), policy);
            assert!(
                rt.block_on(sessions.authenticate(&s.secret))
                    .unwrap()
                    .is_some()
            );
            g.bench_function(BenchmarkId::new(s.name, label), |b| {
                b.to_async(rt).iter(|| async {
                    sessions
                        .authenticate(black_box(&s.secret))
                        .await
                        .unwrap()
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

fn rotate_family(c: &mut Criterion, rt: &Runtime, stores: &[Filled]) {
    let mut g = c.benchmark_group("rotate_family");
    for s in stores {
        let generation = rt
            .block_on(s.store.family(s.family))
            .unwrap()
            .unwrap()
            .generation;
        let generation = &AtomicU32::new(generation);
        let store = &s.store;
        let id = s.family;
        let now = now();
        g.bench_function(BenchmarkId::from_parameter(s.name), |b| {
            b.to_async(rt).iter_batched(
                || PlainSecret::generate().unwrap().hash(),
                |next: SecretHash| async move {
                    let from = generation.load(Ordering::Relaxed);
                    let rotated = store
                        .rotate_family(id, from, &next, now, now + Duration::days(30))
                        .await
                        .unwrap();
                    assert!(rotated, "the family did not rotate from generation {from}");
                    generation.store(from + 1, Ordering::Relaxed);
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let stores = stores(&rt);
    session_by_hash(c, &rt, &stores);
    authenticate(c, &rt, &stores);
    rotate_family(c, &rt, &stores);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = store_benches;
    config = config();
    targets = benches
}
criterion_main!(store_benches);
