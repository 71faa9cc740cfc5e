//! What a refresh costs: `POST /v1/token` with `grant_type=refresh_token`, which rotates the
//! refresh family in the store (an atomic compare-and-set, a new token hash recorded) and signs
//! a new access token.
//!
//! A few connections each log in once (one family each) and then refresh back to back, always
//! with the successor they were just given, as a well-behaved client does; so every request is
//! a real rotation, never a replay within the grace. Refreshes answered inside the window
//! count, with their latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cpu;
use super::load::{self, Account, Endpoint};
use super::report::{RefreshCost, round};

/// At most this many families rotate at once: "a few", as real clients of one user would,
/// and enough to keep the store's single writer busy.
pub const MAX_FAMILIES: usize = 4;
/// The window is the mode's `--duration`, but at most this: a refresh costs about the same
/// every time, so a second gives thousands of samples.
pub const MAX_WINDOW: Duration = Duration::from_secs(1);
/// Unmeasured refreshes per family before the window, so the first ones' connection set-up
/// is not counted.
const WARMUP_REFRESHES: u32 = 3;

/// Measures refreshes on `families` connections for `window`.
pub async fn measure(
    endpoint: Arc<Endpoint>,
    account: Arc<Account>,
    families: usize,
    window: Duration,
    remote: bool,
) -> anyhow::Result<RefreshCost> {
    // Log in first (one family per connection), then start every loop at the same moment.
    let mut logged_in = Vec::with_capacity(families);
    for _ in 0..families {
        let mut sender = load::connect(&endpoint).await?;
        let pair = load::token_pair(&mut sender, &endpoint, &load::password_grant(&account))
            .await
            .context("could not log in for the refresh measurement")?;
        let mut refresh = pair.refresh;
        for _ in 0..WARMUP_REFRESHES {
            refresh = load::token_pair(&mut sender, &endpoint, &load::refresh_grant(&refresh))
                .await
                .context("a warm-up refresh failed")?
                .refresh;
        }
        logged_in.push((sender, refresh));
    }
    let start = Instant::now();
    let until = start + window;
    let cpu_before = cpu::process_cpu_time();
    let mut tasks = JoinSet::new();
    for (mut sender, mut refresh) in logged_in {
        let endpoint = endpoint.clone();
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, load::MAX_LATENCY_US, 3)
                .map_err(|e| anyhow!("could not create a histogram: {e}"))?;
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut refreshes = 0u64;
            while Instant::now() < until {
                let began = Instant::now();
                let outcome = tokio::time::timeout(
                    load::REQUEST_TIMEOUT,
                    load::token_pair(&mut sender, &endpoint, &load::refresh_grant(&refresh)),
                )
                .await;
                let finished = Instant::now();
                if finished > until {
                    break;
                }
                refreshes += 1;
                histogram.saturating_record(load::micros(finished - began));
                match outcome {
                    Ok(Ok(pair)) => refresh = pair.refresh,
                    Ok(Err(e)) => {
                        // The family is lost (or the connection): nothing more to rotate.
                        *errors.entry(format!("{e:#}")).or_default() += 1;
                        break;
                    }
                    Err(_) => {
                        *errors
                            .entry("request: no response in time".to_owned())
                            .or_default() += 1;
                        break;
                    }
                }
            }
            Ok::<_, anyhow::Error>((refreshes, histogram, errors))
        });
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, load::MAX_LATENCY_US, 3)
        .map_err(|e| anyhow!("could not create a histogram: {e}"))?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut refreshes = 0u64;
    while let Some(joined) = tasks.join_next().await {
        let (n, h, e) = joined.context("a refresh task failed")??;
        refreshes += n;
        histogram
            .add(&h)
            .map_err(|e| anyhow!("could not merge histograms: {e}"))?;
        for (label, n) in e {
            *errors.entry(label).or_default() += n;
        }
    }
    let cpu = cpu::process_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before))
        .filter(|_| !remote && refreshes > 0);
    let secs = window.as_secs_f64();
    Ok(RefreshCost {
        families,
        window_ms: super::millis(window),
        refreshes,
        per_second: round(refreshes as f64 / secs, 1),
        p50_us: histogram.value_at_quantile(0.5),
        p99_us: histogram.value_at_quantile(0.99),
        mean_us: round(histogram.mean(), 1),
        cpu_us: cpu.map(|c| round(c.as_secs_f64() * 1e6 / refreshes as f64, 1)),
        errors: errors.values().sum(),
        error_kinds: errors,
    })
}
