//! How soon a revoked credential stops working: revoke → first rejection.
//!
//! Each trial signs in afresh (a session cookie, or an access token from the password grant)
//! and has [`PROBES`] connections send `GET /v1/me` with that credential back to back. Once
//! every probe has been answered 200 a few times (the credential is warm: in the session cache,
//! or in the verified-token cache of a warm JWT server), the credential is revoked on another
//! connection: `POST /v1/session/logout` (cookie + CSRF header) for a session,
//! `POST /v1/token/revoke` (RFC 7009) of the access token for a JWT. The probes go on until
//! each has sent [`AFTER`] requests after the revoke's response arrived.
//!
//! Recorded per trial: the revoke call's latency; the time from the revoke's response to the
//! first 401 any probe received (0 when a request in flight was already refused before the
//! revoke answered); and how many requests *sent after* the revoke's response were answered
//! 2xx, which "takes effect on the next request on the same node" requires to be 0. Requests
//! already in flight when the revoke answered may go either way and are not counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::load::{self, Account, Credential, Endpoint};
use super::report::RevocationReport;

/// Trials per mode, each with a fresh credential.
pub const TRIALS: u32 = 3;
/// Connections using the credential at once.
pub const PROBES: usize = 4;
/// Requests each probe sends after the revoke's response arrived.
pub const AFTER: u64 = 3;
/// 200s each probe must get before the revoke (the credential is then cached).
const WARM_HITS: u64 = 3;
/// A trial that has not finished by then failed.
const DEADLINE: Duration = Duration::from_secs(10);

/// The revocation request a mode's credential is ended with, for the report.
pub fn method(credential: Credential) -> &'static str {
    match credential {
        Credential::Bearer => "POST /v1/token/revoke (the access token, RFC 7009)",
        Credential::SessionCookie | Credential::None => "POST /v1/session/logout",
    }
}

/// What one probe saw: (sent, received, status) per request.
type Seen = Vec<(Instant, Instant, StatusCode)>;

/// One trial's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trial {
    revoke_us: u64,
    /// From the revoke's response to the first 401 received (0 if one came earlier); `None`
    /// if no probe was refused at all.
    rejection_us: Option<u64>,
    after: u64,
    accepted_after: u64,
}

/// Runs [`TRIALS`] trials and sums them up.
pub async fn measure(
    credential: Credential,
    endpoint: Arc<Endpoint>,
    account: Arc<Account>,
) -> anyhow::Result<RevocationReport> {
    let mut trials = Vec::with_capacity(TRIALS as usize);
    for _ in 0..TRIALS {
        let trial = tokio::time::timeout(DEADLINE, trial(credential, &endpoint, &account))
            .await
            .map_err(|_| anyhow!("a revocation trial did not finish within {DEADLINE:?}"))??;
        trials.push(trial);
    }
    Ok(summarise(credential, &trials))
}

fn summarise(credential: Credential, trials: &[Trial]) -> RevocationReport {
    let median_max = |mut v: Vec<u64>| {
        v.sort_unstable();
        (
            v.get(v.len() / 2).copied().unwrap_or(0),
            v.last().copied().unwrap_or(0),
        )
    };
    let (revoke_p50_us, revoke_max_us) = median_max(trials.iter().map(|t| t.revoke_us).collect());
    let rejections: Vec<u64> = trials.iter().filter_map(|t| t.rejection_us).collect();
    let (rejection_p50_us, rejection_max_us) = if rejections.len() == trials.len() {
        let (p50, max) = median_max(rejections);
        (Some(p50), Some(max))
    } else {
        (None, None)
    };
    RevocationReport {
        method: method(credential).to_owned(),
        trials: u32::try_from(trials.len()).unwrap_or(u32::MAX),
        probes: PROBES,
        revoke_p50_us,
        revoke_max_us,
        rejection_p50_us,
        rejection_max_us,
        requests_after_revoke: trials.iter().map(|t| t.after).sum(),
        accepted_after_revoke: trials.iter().map(|t| t.accepted_after).sum(),
    }
}

async fn trial(
    credential: Credential,
    endpoint: &Arc<Endpoint>,
    account: &Account,
) -> anyhow::Result<Trial> {
    let mut control = load::connect(endpoint).await?;
    // The credential, and the revoke request that ends it.
    let (header, revoke) = match credential {
        Credential::SessionCookie | Credential::None => {
            let login = load::session_login(&mut control, endpoint, account).await?;
            let mut req = endpoint.request("/v1/session/logout", Full::default())?;
            *req.method_mut() = Method::POST;
            req.headers_mut().insert(COOKIE, login.cookie.clone());
            req.headers_mut().insert(
                HeaderName::from_static("x-csrf-token"),
                HeaderValue::from_str(&login.csrf).context("the CSRF token is not a header")?,
            );
            ((COOKIE, login.cookie), req)
        }
        Credential::Bearer => {
            let pair =
                load::token_pair(&mut control, endpoint, &load::password_grant(account)).await?;
            let req = endpoint.json_post(
                "/v1/token/revoke",
                &serde_json::json!({"token": pair.access, "token_type_hint": "access_token"}),
            )?;
            ((AUTHORIZATION, load::bearer(&pair.access)?), req)
        }
    };

    // Set just before the revoke is sent: a refusal from then on is the revoke's doing.
    let revoking = Arc::new(AtomicBool::new(false));
    // When the revoke's response arrived.
    let revoked_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let warm = Arc::new(AtomicU64::new(0));
    let mut probes = JoinSet::new();
    for _ in 0..PROBES {
        let (endpoint, header) = (endpoint.clone(), header.clone());
        let (revoking, revoked_at, warm) = (revoking.clone(), revoked_at.clone(), warm.clone());
        probes.spawn(async move {
            let mut sender = load::connect(&endpoint).await?;
            let mut seen: Seen = Vec::new();
            let (mut hits, mut after) = (0u64, 0u64);
            loop {
                let mut req = endpoint.request("/v1/me", Full::default())?;
                req.headers_mut().insert(header.0.clone(), header.1.clone());
                let sent = Instant::now();
                let status = load::exchange(&mut sender, req)
                    .await
                    .context("a probe request failed")?;
                let received = Instant::now();
                seen.push((sent, received, status));
                match revoked_at.get() {
                    Some(t) => {
                        if sent >= *t {
                            after += 1;
                            if after >= AFTER {
                                return Ok::<_, anyhow::Error>(seen);
                            }
                        }
                    }
                    None if revoking.load(Ordering::SeqCst) => {}
                    None if status.is_success() => {
                        hits += 1;
                        if hits == WARM_HITS {
                            warm.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    None => bail!("GET /v1/me with a fresh credential answered {status}"),
                }
            }
        });
    }
    // Revoke once every probe has used the credential a few times (or, if a probe failed,
    // after a while: its error is reported when it is joined).
    let waiting = Instant::now();
    while warm.load(Ordering::Relaxed) < PROBES as u64 && waiting.elapsed() < DEADLINE / 4 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    revoking.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let reply = load::call(&mut control, revoke).await;
    let answered = Instant::now();
    let _ = revoked_at.set(answered);
    let reply = reply?;
    if !reply.status.is_success() {
        bail!("{} answered {}", method(credential), reply.describe());
    }
    let mut all: Seen = Vec::new();
    while let Some(joined) = probes.join_next().await {
        all.extend(joined.context("a probe task failed")??);
    }
    Ok(judge(&all, started, answered))
}

/// The trial's numbers from every probe's requests.
fn judge(seen: &[(Instant, Instant, StatusCode)], started: Instant, answered: Instant) -> Trial {
    let after: Vec<&(Instant, Instant, StatusCode)> = seen
        .iter()
        .filter(|(sent, _, _)| *sent >= answered)
        .collect();
    let first_401 = seen
        .iter()
        .filter(|(_, _, status)| *status == StatusCode::UNAUTHORIZED)
        .map(|(_, received, _)| *received)
        .min();
    Trial {
        revoke_us: load::micros(answered - started),
        rejection_us: first_401.map(|t| load::micros(t.saturating_duration_since(answered))),
        after: after.len() as u64,
        accepted_after: after.iter().filter(|(_, _, s)| s.is_success()).count() as u64,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn only_requests_sent_after_the_revoke_answered_count() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let (ok, no) = (StatusCode::OK, StatusCode::UNAUTHORIZED);
        let seen = [
            (at(0), at(1), ok),
            (at(9), at(12), ok), // in flight when the revoke answered at 10: either way
            (at(10), at(13), no),
            (at(11), at(15), no),
            (at(12), at(14), ok), // sent after: a violation
        ];
        let t = judge(&seen, at(8), at(10));
        assert_eq!(t.revoke_us, 2_000);
        assert_eq!(t.rejection_us, Some(3_000));
        assert_eq!(t.after, 3);
        assert_eq!(t.accepted_after, 1);

        let early = [(at(9), at(9), no), (at(10), at(11), no)];
        let t = judge(&early, at(8), at(10));
        assert_eq!(
            t.rejection_us,
            Some(0),
            "refused before the revoke answered"
        );
        assert_eq!(t.accepted_after, 0);

        let never = [(at(10), at(11), ok)];
        assert_eq!(judge(&never, at(8), at(10)).rejection_us, None);
    }

    #[test]
    fn trials_sum_up_with_medians() {
        let trial = |revoke_us, rejection_us| Trial {
            revoke_us,
            rejection_us,
            after: 12,
            accepted_after: 0,
        };
        let r = summarise(
            Credential::Bearer,
            &[
                trial(300, Some(90)),
                trial(100, Some(70)),
                trial(200, Some(80)),
            ],
        );
        assert_eq!((r.revoke_p50_us, r.revoke_max_us), (200, 300));
        assert_eq!(
            (r.rejection_p50_us, r.rejection_max_us),
            (Some(80), Some(90))
        );
        assert_eq!((r.requests_after_revoke, r.accepted_after_revoke), (36, 0));
        assert!(r.method.contains("/v1/token/revoke"));
        let r = summarise(
            Credential::SessionCookie,
            &[trial(100, Some(70)), trial(100, None)],
        );
        assert_eq!(r.rejection_p50_us, None, "a trial was never refused");
        assert_eq!(r.method, "POST /v1/session/logout");
    }
}
