//! What a password login costs, and what a flood of them does to everything else.
//!
//! - [`hash_alone`]: one argon2id verification through the server's own `PasswordHasher` (its
//!   parameters, its blocking pool), one at a time, with nothing else running: the wall time
//!   of one hash, and the process's CPU time per hash. The server's hashing slots (its
//!   `max_concurrent`, 0 meaning one per core) divided by that time is the most logins per
//!   second the node can do: the *bound*. Then every slot at once, back to back: the rate the
//!   hashing alone reaches, which says whether the cores scale as the bound assumes.
//! - [`login_cost`]: whole logins over HTTP, one at a time on one connection (`POST
//!   /v1/session/login` for session modes, the password grant of `POST /v1/token` for JWT
//!   modes): what a user waits for, and the process's CPU time per login in-process.
//! - [`flood`]: connections sending correct-password logins back to back (the throttle counts
//!   only failures, so none is refused) while the caller drives `GET /v1/me` on the same
//!   server; logins completed per second, against the bound.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use http::StatusCode;
use tessera_core::Tessera;
use tessera_core::account::{HashingPolicy, Password};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cpu;
use super::load::{self, Account, Credential, Endpoint};
use super::report::{HashingReport, LoginCost, round};

/// Logins (or hashes) timed one at a time, after one untimed: enough for a stable mean at
/// about 25 ms each, few enough to cost well under a second per mode.
pub const SAMPLES: u32 = 6;

/// The request that logs `credential`'s kind of client in.
fn login_request(
    credential: Credential,
    endpoint: &Endpoint,
    account: &Account,
) -> anyhow::Result<http::Request<http_body_util::Full<hyper::body::Bytes>>> {
    match credential {
        Credential::SessionCookie | Credential::None => {
            endpoint.json_post("/v1/session/login", &account.json())
        }
        Credential::Bearer => endpoint.json_post("/v1/token", &load::password_grant(account)),
    }
}

/// `POST /v1/session/login` or `POST /v1/token`, for the report.
pub fn login_endpoint(credential: Credential) -> &'static str {
    match credential {
        Credential::SessionCookie | Credential::None => "POST /v1/session/login",
        Credential::Bearer => "POST /v1/token",
    }
}

/// `argon2id m=19456 KiB, t=2, p=1`.
pub fn describe(policy: &HashingPolicy) -> String {
    format!(
        "argon2id m={} KiB, t={}, p={}",
        policy.memory_kib, policy.iterations, policy.parallelism
    )
}

/// Times the server's own password verification alone, [`SAMPLES`] times in a row (after two
/// untimed: a hash and a verification), then every slot at once.
pub async fn hash_alone(
    tessera: &Tessera,
    policy: &HashingPolicy,
) -> anyhow::Result<HashingReport> {
    let hasher = tessera.accounts.hasher();
    fn password() -> Password {
        Password::new("bench: a correct horse battery".to_owned())
    }
    let hash = hasher
        .hash(&password())
        .await
        .map_err(|e| anyhow!("could not hash a password: {e}"))?;
    // One more untimed: the first passes also pay for faulting in argon2's 19 MiB.
    hasher
        .verify(&password(), Some(&hash))
        .await
        .map_err(|e| anyhow!("could not verify a password: {e}"))?;
    let mut times = Vec::with_capacity(SAMPLES as usize);
    let cpu_before = cpu::process_cpu_time();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let verified = hasher
            .verify(&password(), Some(&hash))
            .await
            .map_err(|e| anyhow!("could not verify a password: {e}"))?;
        times.push(started.elapsed());
        if verified == tessera_core::account::Verified::No {
            anyhow::bail!("the server's hasher refused the password it had just hashed");
        }
    }
    let cpu = cpu::process_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    // The median: one pass preempted by something else must not move the bound.
    times.sort();
    let per_hash = times[times.len() / 2].as_secs_f64();
    let slots = policy.slots();

    // Then every slot at once, each verifying back to back: what the hashing alone reaches
    // when it has the machine, which is below the bound where the cores do not scale (shared
    // by a hypervisor, throttled, or starved of memory bandwidth by argon2's 19 MiB passes).
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..slots {
        let (hasher, hash) = (hasher.clone(), hash.clone());
        tasks.spawn(async move {
            for _ in 0..SAMPLES {
                hasher
                    .verify(&password(), Some(&hash))
                    .await
                    .map_err(|e| anyhow!("could not verify a password: {e}"))?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a hashing task failed")??;
    }
    let parallel = (slots as f64 * f64::from(SAMPLES)) / started.elapsed().as_secs_f64();
    let cpu_per_hash = cpu.map(|c| c.as_secs_f64() / f64::from(SAMPLES));
    // The bound is the most the hashing was seen to do: one hash's wall time or its CPU time
    // (whichever is shorter: wall time may include waiting for a core), or every slot at
    // once. Taking the best keeps the flood's target strict when one of them ran slow.
    let per_slot = |t: f64| if t > 0.0 { slots as f64 / t } else { 0.0 };
    let bound = per_slot(per_hash)
        .max(cpu_per_hash.map_or(0.0, per_slot))
        .max(parallel);
    Ok(HashingReport {
        algorithm: describe(policy),
        samples: SAMPLES,
        hash_ms: round(per_hash * 1e3, 2),
        hash_cpu_ms: cpu_per_hash.map(|c| round(c * 1e3, 2)),
        slots,
        bound_per_s: round(bound, 1),
        parallel_per_s: round(parallel, 1),
    })
}

/// Times [`SAMPLES`] logins of `account` one at a time on one connection (after one untimed,
/// which opens the connection's path through the server).
pub async fn login_cost(
    credential: Credential,
    endpoint: &Endpoint,
    account: &Account,
    remote: bool,
) -> anyhow::Result<LoginCost> {
    let mut sender = load::connect(endpoint).await?;
    let once = async |sender: &mut load::Sender| {
        let reply = load::call(sender, login_request(credential, endpoint, account)?).await?;
        if reply.status != StatusCode::OK {
            anyhow::bail!(
                "{} answered {}",
                login_endpoint(credential),
                reply.describe()
            );
        }
        Ok::<_, anyhow::Error>(())
    };
    once(&mut sender).await?;
    let mut times = Vec::with_capacity(SAMPLES as usize);
    let cpu_before = cpu::process_cpu_time();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        once(&mut sender).await?;
        times.push(started.elapsed());
    }
    let cpu = cpu::process_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before))
        .filter(|_| !remote);
    times.sort();
    let ms = |d: Duration| round(d.as_secs_f64() * 1e3, 2);
    let total: Duration = times.iter().sum();
    Ok(LoginCost {
        endpoint: login_endpoint(credential).to_owned(),
        samples: SAMPLES,
        mean_ms: ms(total / SAMPLES),
        p50_ms: ms(times[times.len() / 2]),
        max_ms: ms(times.last().copied().unwrap_or_default()),
        cpu_ms: cpu.map(|c| ms(c / SAMPLES)),
    })
}

/// The logins of a flood.
#[derive(Debug)]
pub struct Flooded {
    /// Logins answered 200 inside the window.
    pub logins: u64,
    /// Their latencies, µs.
    pub histogram: Histogram<u64>,
    /// Failed logins inside the window, by label.
    pub errors: BTreeMap<String, u64>,
}

/// `connections` connections logging `account` in back to back from now until `until`;
/// logins that *complete* between `measure_from` and `until` count (a flooded login waits
/// longer than a short window, so counting those that also started inside would count none).
pub async fn flood(
    credential: Credential,
    endpoint: Arc<Endpoint>,
    account: Arc<Account>,
    connections: usize,
    measure_from: Instant,
    until: Instant,
) -> anyhow::Result<Flooded> {
    let mut tasks = JoinSet::new();
    for _ in 0..connections {
        let (endpoint, account) = (endpoint.clone(), account.clone());
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, load::MAX_LATENCY_US, 3)
                .map_err(|e| anyhow!("could not create a histogram: {e}"))?;
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut sender = None;
            loop {
                let began = Instant::now();
                if began >= until {
                    break;
                }
                let conn = match sender.as_mut() {
                    Some(conn) => conn,
                    None => sender.insert(load::connect(&endpoint).await?),
                };
                let req = login_request(credential, &endpoint, &account)?;
                // Bounded by the window's end, plus time for a queued hash to finish.
                let outcome = tokio::time::timeout_at(
                    until + load::REQUEST_TIMEOUT,
                    load::exchange(conn, req),
                )
                .await;
                let finished = Instant::now();
                let counted = finished >= measure_from && finished <= until;
                let label = match outcome {
                    Ok(Ok(status)) if status == StatusCode::OK => None,
                    Ok(Ok(status)) => Some(status.to_string()),
                    Ok(Err(e)) => {
                        sender = None;
                        Some(format!("request: {e}"))
                    }
                    Err(_) => {
                        sender = None;
                        Some("request: no response in time".to_owned())
                    }
                };
                if counted {
                    histogram.saturating_record(load::micros(finished - began));
                    if let Some(label) = label {
                        *errors.entry(label).or_default() += 1;
                    }
                }
            }
            Ok::<_, anyhow::Error>((histogram, errors))
        });
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, load::MAX_LATENCY_US, 3)
        .map_err(|e| anyhow!("could not create a histogram: {e}"))?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (h, e) = joined.context("a login flood task failed")??;
        histogram
            .add(&h)
            .map_err(|e| anyhow!("could not merge histograms: {e}"))?;
        for (label, n) in e {
            *errors.entry(label).or_default() += n;
        }
    }
    let failed: u64 = errors.values().sum();
    Ok(Flooded {
        logins: histogram.len().saturating_sub(failed),
        histogram,
        errors,
    })
}
