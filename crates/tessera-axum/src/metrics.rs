//! `GET /metrics`: what this node has served, as Prometheus text (exposition format 0.0.4).
//!
//! - `tessera_http_requests_total{method, route, status}`: responses, by endpoint (the route
//!   template, `/v1/sessions/{id}`, never the raw path, so the label set stays bounded) and
//!   status. Requests that match no route count under `route="unmatched"`.
//! - `tessera_http_request_duration_seconds{method, route}`: a histogram of the time from
//!   routing to the response's head (the bodies are small and already built by then).
//! - `tessera_http_errors_total{code}`: problem+json answers by their stable `code`
//!   (`refresh_reused`, `rate_limited`, …): what went wrong, across endpoints.
//! - `tessera_signature_batches_total`, `…_batch_signatures_total`,
//!   `…_batches_failed_total`, `tessera_signatures_checked_alone_total`: the node's Ed25519
//!   batches (see `tessera_core::key::SignatureBatcher`).
//! - `tessera_revocations`: entries in this node's revocation list (a gauge).
//! - `tessera_build_info{version}` and `process_start_time_seconds`.
//!
//! No label carries anything of a user: no path parameter, no email, no token.
//!
//! Cost on the hot path, per request: two clock reads and three relaxed atomic additions on
//! the current thread's own shard of counters (own cache lines, so workers never contend for
//! them); everything is summed when scraped. The rest is read at scrape time only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tessera_core::ErrorCode;

use crate::AppState;

/// The route label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Status codes with their own counter; any other counts as `other`.
const STATUSES: [u16; 17] = [
    200, 201, 204, 302, 304, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503, 504,
];
const OTHER_STATUS: usize = STATUSES.len();
/// Upper bounds of the latency histogram, µs (Prometheus `le` in seconds); `+Inf` is implied.
const BUCKETS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 500_000, 2_500_000,
];
/// Cells per endpoint: its statuses, `other`, its buckets (and `+Inf`), its total µs.
const STATUS_CELLS: usize = STATUSES.len() + 1;
const BUCKET_CELLS: usize = BUCKETS_US.len() + 1;
const ENDPOINT_CELLS: usize = STATUS_CELLS + BUCKET_CELLS + 1;

/// FNV-1a: the endpoint key is a short string and a method, looked up once per request; the
/// keys are ours, not a client's, so no flooding to resist.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A thread's shard number, handed out in turn as threads first record something.
fn shard_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SHARD.with(|s| *s)
}

/// One shard of every counter. Shards are separate allocations, each of several cache lines,
/// so two threads writing their own shards do not share lines.
struct Shard {
    cells: Box<[AtomicU64]>,
}

/// The node's HTTP metrics (see the module docs). One per router.
pub struct Metrics {
    /// (method, route) of each endpoint; index = position; the last is `unmatched`.
    endpoints: Vec<(Method, String)>,
    /// Route → its methods' endpoint numbers (looked up by `&str`, no allocation).
    index: HashMap<String, Vec<(Method, usize)>, BuildHasherDefault<Fnv>>,
    shards: Box<[Shard]>,
    started: SystemTime,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Counters for these endpoints (method and route template), and for requests that match
    /// none of them.
    pub fn new(endpoints: impl IntoIterator<Item = (Method, String)>) -> Self {
        let mut list: Vec<(Method, String)> = Vec::new();
        for e in endpoints {
            if !list.contains(&e) {
                list.push(e);
            }
        }
        list.push((Method::GET, UNMATCHED.to_owned()));
        let mut index: HashMap<String, Vec<(Method, usize)>, BuildHasherDefault<Fnv>> =
            HashMap::default();
        for (i, (method, route)) in list.iter().enumerate().take(list.len() - 1) {
            index
                .entry(route.clone())
                .or_default()
                .push((method.clone(), i));
        }
        let shards = std::thread::available_parallelism()
            .map_or(4, usize::from)
            .next_power_of_two()
            .clamp(2, 64);
        let cells = list.len() * ENDPOINT_CELLS + ErrorCode::ALL.len();
        Self {
            endpoints: list,
            index,
            shards: (0..shards)
                .map(|_| Shard {
                    cells: (0..cells).map(|_| AtomicU64::new(0)).collect(),
                })
                .collect(),
            started: SystemTime::now(),
        }
    }

    fn shard(&self) -> &Shard {
        &self.shards[shard_of_thread() % self.shards.len()]
    }

    /// The endpoint number of a matched route; `unmatched` for a method it was not
    /// registered with (its 405).
    pub(crate) fn endpoint(&self, method: &Method, route: &str) -> usize {
        // axum answers HEAD with the GET route.
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.index
            .get(route)
            .and_then(|methods| methods.iter().find(|(m, _)| m == method))
            .map_or(self.unmatched(), |(_, i)| *i)
    }

    pub(crate) fn unmatched(&self) -> usize {
        self.endpoints.len() - 1
    }

    /// The cell of an error code, after every endpoint's.
    fn error_cell(&self, code: ErrorCode) -> usize {
        let n = ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(0);
        self.endpoints.len() * ENDPOINT_CELLS + n
    }

    /// Records one response of endpoint `endpoint`.
    pub(crate) fn record(
        &self,
        endpoint: usize,
        status: u16,
        elapsed_us: u64,
        error: Option<ErrorCode>,
    ) {
        let cells = &self.shard().cells;
        let base = endpoint * ENDPOINT_CELLS;
        let status_cell = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(OTHER_STATUS);
        let bucket = BUCKETS_US
            .iter()
            .position(|b| elapsed_us <= *b)
            .unwrap_or(BUCKETS_US.len());
        cells[base + status_cell].fetch_add(1, Ordering::Relaxed);
        cells[base + STATUS_CELLS + bucket].fetch_add(1, Ordering::Relaxed);
        cells[base + STATUS_CELLS + BUCKET_CELLS].fetch_add(elapsed_us, Ordering::Relaxed);
        if let Some(code) = error {
            cells[self.error_cell(code)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A cell summed over the shards.
    fn sum(&self, cell: usize) -> u64 {
        self.shards
            .iter()
            .map(|s| s.cells[cell].load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text of these counters and of what `state`'s services report.
    pub fn render(&self, state: &AppState) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let label = |(method, route): &(Method, String)| {
            format!("method=\"{method}\",route=\"{}\"", escape(route))
        };

        out.push_str(
            "# HELP tessera_http_requests_total HTTP responses, by endpoint and status.\n\
             # TYPE tessera_http_requests_total counter\n",
        );
        for (i, e) in self.endpoints.iter().enumerate() {
            let base = i * ENDPOINT_CELLS;
            for cell in 0..STATUS_CELLS {
                let n = self.sum(base + cell);
                if n == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(cell)
                    .map_or_else(|| "other".to_owned(), u16::to_string);
                let _ = writeln!(
                    out,
                    "tessera_http_requests_total{{{},status=\"{status}\"}} {n}",
                    label(e)
                );
            }
        }

        out.push_str(
            "# HELP tessera_http_request_duration_seconds Time from routing to the response's \
             head, by endpoint.\n\
             # TYPE tessera_http_request_duration_seconds histogram\n",
        );
        for (i, e) in self.endpoints.iter().enumerate() {
            let base = i * ENDPOINT_CELLS + STATUS_CELLS;
            let counts: Vec<u64> = (0..BUCKET_CELLS).map(|b| self.sum(base + b)).collect();
            let count: u64 = counts.iter().sum();
            if count == 0 {
                continue;
            }
            let labels = label(e);
            let mut cumulative = 0;
            for (b, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS_US
                    .get(b)
                    .map_or_else(|| "+Inf".to_owned(), |us| seconds(*us));
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let total_us = self.sum(base + BUCKET_CELLS);
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 tessera_http_request_duration_seconds_count{{{labels}}} {count}",
                seconds(total_us)
            );
        }

        out.push_str(
            "# HELP tessera_http_errors_total problem+json answers, by their code.\n\
             # TYPE tessera_http_errors_total counter\n",
        );
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "tessera_http_errors_total{{code=\"{}\"}} {}",
                code.as_str(),
                self.sum(self.error_cell(code))
            );
        }

        let tokens = &state.tessera.tokens;
        let batches = tokens.batch_stats();
        for (name, help, kind, value) in [
            (
                "tessera_signature_batches_total",
                "Batches of Ed25519 signatures checked together.",
                "counter",
                batches.batches,
            ),
            (
                "tessera_signature_batch_signatures_total",
                "Signatures in those batches.",
                "counter",
                batches.batched,
            ),
            (
                "tessera_signature_batches_failed_total",
                "Batches with a bad signature; each of theirs was then checked alone.",
                "counter",
                batches.failed_batches,
            ),
            (
                "tessera_signatures_checked_alone_total",
                "Queued Ed25519 signatures checked one at a time.",
                "counter",
                batches.alone,
            ),
            (
                "tessera_revocations",
                "Entries in this node's revocation list.",
                "gauge",
                tokens.revocations.len() as u64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }

        let started = self
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let _ = writeln!(
            out,
            "# HELP tessera_build_info The running version.\n\
             # TYPE tessera_build_info gauge\n\
             tessera_build_info{{version=\"{}\"}} 1\n\
             # HELP process_start_time_seconds When this node's metrics started, Unix seconds.\n\
             # TYPE process_start_time_seconds gauge\n\
             process_start_time_seconds {started:.3}",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// `us` microseconds as seconds, exactly (no float rounding in the text).
fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:06}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// A label value with `\`, `"` and newlines escaped (route templates have none, but the text
/// must stay well-formed whatever a route is called).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The body of `GET /metrics` (the route, with its secret, is `routes::health::metrics`).
pub(crate) fn serve(state: &AppState) -> Response {
    let text = state.metrics.render(state);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Prometheus text exposition format 0.0.4.
const CONTENT_TYPE: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(100), "0.0001");
        assert_eq!(seconds(2_500), "0.0025");
        assert_eq!(seconds(1_000_000), "1");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(1_234_567), "1.234567");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_eq!(escape("/v1/sessions/{id}"), "/v1/sessions/{id}");
    }

    #[test]
    fn endpoints_are_found_by_template_and_method_and_counted_across_threads() {
        let m = Metrics::new([
            (Method::GET, "/v1/me".to_owned()),
            (Method::GET, "/v1/sessions".to_owned()),
            (Method::DELETE, "/v1/sessions/{id}".to_owned()),
            (Method::GET, "/v1/me".to_owned()), // listed twice: one endpoint
        ]);
        assert_eq!(m.endpoints.len(), 4, "three endpoints and unmatched");
        let me = m.endpoint(&Method::GET, "/v1/me");
        assert_eq!(m.endpoint(&Method::HEAD, "/v1/me"), me);
        assert_eq!(m.endpoint(&Method::POST, "/v1/me"), m.unmatched());
        assert_eq!(m.endpoint(&Method::GET, "/v1/sessions/{id}"), m.unmatched());
        assert_ne!(
            m.endpoint(&Method::DELETE, "/v1/sessions/{id}"),
            m.unmatched()
        );

        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        m.record(me, 200, 700, None);
                    }
                    m.record(me, 418, 3_000_000, Some(ErrorCode::RateLimited));
                });
            }
        });
        let base = me * ENDPOINT_CELLS;
        assert_eq!(m.sum(base), 4000, "status 200");
        assert_eq!(m.sum(base + OTHER_STATUS), 4, "418 counts as other");
        let bucket_1ms = BUCKETS_US.iter().position(|b| *b == 1_000).unwrap();
        assert_eq!(m.sum(base + STATUS_CELLS + bucket_1ms), 4000);
        assert_eq!(
            m.sum(base + STATUS_CELLS + BUCKETS_US.len()),
            4,
            "+Inf only"
        );
        assert_eq!(
            m.sum(base + STATUS_CELLS + BUCKET_CELLS),
            4000 * 700 + 4 * 3_000_000
        );
        assert_eq!(m.sum(m.error_cell(ErrorCode::RateLimited)), 4);
        assert_eq!(m.sum(m.error_cell(ErrorCode::Internal)), 0);
    }
}
