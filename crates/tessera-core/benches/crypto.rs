//! Micro-benchmarks of the domain's cryptography: bearer secrets, access-token signing and
//! verification per algorithm (EdDSA also in batches of concurrent checks), and argon2id
//! password hashing.
//!
//! Run with `cargo bench -p tessera-core` (or `cargo bench --workspace`); a subset with a filter,
//! e.g. `cargo bench -p tessera-core -- jwt/verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration as StdDuration;

use std::sync::Arc;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use tessera_core::account::{HashingPolicy, Password, PasswordHasher};
use tessera_core::key::{Algorithm, KeyPair, KeyRing, SignatureBatcher};
use tessera_core::secret::PlainSecret;
use tessera_core::token::{AccessClaims, Verifier, sign};
use time::{Duration, OffsetDateTime};

const ISSUER: &str = "https://tessera.bench";
const AUDIENCE: &str = "tessera-bench";

fn secret(c: &mut Criterion) {
    let mut g = c.benchmark_group("secret");
    let s = PlainSecret::generate().unwrap();
    let text = s.expose().to_owned();
    let a = s.hash();
    let b = PlainSecret::parse(&text).unwrap().hash();

    g.bench_function("generate", |bench| {
        bench.iter(|| PlainSecret::generate().unwrap())
    });
    g.bench_function("hash", |bench| bench.iter(|| black_box(&s).hash()));
    g.bench_function("parse", |bench| {
        bench.iter(|| PlainSecret::parse(black_box(&text)).unwrap())
    });
    g.bench_function("ct_eq", |bench| {
        bench.iter(|| black_box(&a).ct_eq(black_box(&b)))
    });
    g.finish();
}

fn jwt(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let verifier = Verifier::new(ISSUER, AUDIENCE);
    let claims = AccessClaims::new(
        ISSUER,
        "0190f0c4-8a4e-7c3b-9d51-3f2a6b1e9c70",
        AUDIENCE,
        now,
        Duration::hours(1),
    )
    .unwrap()
    .with_sid("0190f0c4-8a4e-7c3b-9d51-3f2a6b1e9c71");

    let rings: Vec<(Algorithm, KeyRing)> = Algorithm::ALL
        .into_iter()
        .map(|alg| {
            let ring = KeyRing::initial(
                KeyPair::generate(alg).unwrap(),
                KeyPair::generate(alg).unwrap(),
                now,
            )
            .unwrap()
            .ring;
            (alg, ring)
        })
        .collect();

    let mut g = c.benchmark_group("jwt/sign");
    for (alg, ring) in &rings {
        g.bench_with_input(BenchmarkId::from_parameter(alg), ring, |bench, ring| {
            bench.iter(|| sign(ring, black_box(&claims)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("jwt/verify");
    for (alg, ring) in &rings {
        let token = sign(ring, &claims).unwrap();
        assert_eq!(verifier.verify(ring, &token, now).unwrap(), claims);
        g.bench_with_input(BenchmarkId::from_parameter(alg), ring, |bench, ring| {
            bench.iter(|| verifier.verify(ring, black_box(&token), now).unwrap())
        });
    }
    g.finish();

    // n distinct EdDSA tokens verified at once, each on its own task, through the node's
    // batcher: per token (criterion's throughput), against jwt/verify/EdDSA above. One
    // thread, so all n are queued before the batch runs: a batch of exactly n.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (_, ring) = rings
        .iter()
        .find(|(alg, _)| *alg == Algorithm::EdDSA)
        .unwrap();
    let ring = Arc::new(ring.clone());
    let tokens: Vec<String> = (0..16)
        .map(|_| {
            let fresh = AccessClaims::new(ISSUER, &claims.sub, AUDIENCE, now, Duration::hours(1));
            sign(&ring, &fresh.unwrap()).unwrap()
        })
        .collect();
    let batcher = SignatureBatcher::default();
    let mut g = c.benchmark_group("jwt/verify-batched/EdDSA");
    for n in [1usize, 2, 4, 8, 16] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, &n| {
            bench.to_async(&rt).iter(|| async {
                let mut checks = tokio::task::JoinSet::new();
                for token in &tokens[..n] {
                    let (verifier, ring) = (verifier.clone(), ring.clone());
                    let (batcher, token) = (batcher.clone(), token.clone());
                    checks.spawn(async move {
                        verifier
                            .verify_batched(ring.as_ref(), &token, now, &batcher)
                            .await
                            .unwrap()
                    });
                }
                while let Some(done) = checks.join_next().await {
                    done.unwrap();
                }
            })
        });
    }
    g.finish();
}

fn argon2id(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let hasher = PasswordHasher::new(HashingPolicy::default()).unwrap();
    let password = Password::new("correct horse battery staple".into());

    let mut g = c.benchmark_group("argon2id");
    // One hash takes tens of milliseconds: a few flat samples are enough.
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(StdDuration::from_secs(5));
    g.bench_function("hash/default", |bench| {
        bench
            .to_async(&rt)
            .iter(|| async { hasher.hash(&password).await.unwrap() })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = secret, jwt, argon2id
}
criterion_main!(benches);
