//! `tessera bench`: what each way of staying signed in costs per request, in numbers.
//!
//! Every mode is measured the same way: `--connections` keep-alive HTTP/1.1 connections (one
//! task each) send requests back to back for `--warmup`, then for `--duration` while latencies
//! are recorded. A mode with a credential gets it once per connection before any clock starts
//! (logins run concurrently, a few at a time) and reuses it on every request, as real clients
//! do. The modes take turns: each one's warm-up and duration are cut into up to five slices
//! (of at least 2 s measured), and every round measures one slice of each mode, each round
//! starting one mode later, so a drift of the machine during the run (other load, clock
//! speed) and the after-effects of a CPU-heavy mode touch all modes alike; a 1 s run is one
//! slice per mode. `GET /healthz` is always measured too: it is the
//! baseline every ratio is relative to, because the server and the load generator share the
//! same few cores and only relative numbers carry over between machines.
//!
//! By default the servers run in this process, on their own tokio runtime (threads named
//! [`SERVER_THREAD`]), while the load generator has another (threads named [`LOADGEN_THREAD`]);
//! each runtime has the default number of workers (one per core). The load generator's
//! threads run under `SCHED_BATCH` ([`yielding`]): they take their share of the cores, but
//! their wake-ups do not preempt a server thread in the middle of a request, as a client on
//! another machine would not. `session-sqlite` gets a
//! fresh SQLite file in a temporary directory, `session-memory` a second server on `memory:`.
//! Every JWT mode gets a server of its own, on a fresh SQLite file too (verifying a token reads
//! no store), whose `[jwt] algorithm` is the mode's; the `-cold` modes' servers also have the
//! verified-token cache turned off (`jwt.cache_capacity = 0`). All of them otherwise use the
//! default configuration (`tessera.toml` and `TESSERA_*` are not read), so runs are
//! comparable. With `--url` an already running server is measured instead, over HTTP only: a
//! random `bench-…@example.com` user is registered; the session mode that matches the store
//! the server reports on `/readyz` is available, and so is the warm JWT mode of the algorithm
//! its `/.well-known/openid-configuration` says it signs with (cold modes need a server
//! configured for them, so they are in-process only).
//!
//! JWT modes also time the signature check alone: before the warm-up, one thread of this
//! process verifies one of the mode's tokens with tessera-core's [`Verifier`] (the server's
//! own keys, issuer and audience) in a tight loop for about half a second. That rate, per
//! core, bounds what the cold modes can reach; see [`report`] for how the two are compared.
//! JWT connections never refresh their token: a mode warmed up and measured for longer than
//! the access-token lifetime (`jwt.access_ttl`, 15 minutes by default) ends in 401s.
//!
//! Layout: [`load`] is the load generator (hyper 1 client, hdrhistogram), [`server`] starts
//! the in-process servers, [`cpu`] reads CPU times from `/proc`, [`report`] is the report, its
//! JSON schema and its renderings.

mod chart;
mod cpu;
mod footprint;
mod load;
mod login;
mod refresh;
pub mod report;
mod revocation;
mod server;
mod yielding;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use http::Uri;
use tessera_core::Tessera;
use tessera_core::account::HashingPolicy;
use tessera_core::key::{Algorithm, BatchStats};
use tessera_core::token::Verifier;
use tokio::runtime::Runtime;

use self::load::{Account, Credential, Endpoint, Measured};
use self::report::{FloodReport, MachineInfo, Phases, Report, RunConfig, round};
use crate::config::LogFormat;
use crate::telemetry;

/// Name of the load generator's runtime threads; CPU time is split by it.
pub const LOADGEN_THREAD: &str = "bench-load";
/// Name of the in-process server's runtime threads.
pub const SERVER_THREAD: &str = "tessera-server";
/// Name of the thread that times the signature check alone.
const VERIFY_THREAD: &str = "bench-verify";
/// How long the signature check alone is timed (at most the mode's `--duration`).
const VERIFY_FOR: Duration = Duration::from_millis(500);
/// A mode's `--duration` is cut into slices of at least this long (see [`run_modes`]).
const SLICE_AT_LEAST: Duration = Duration::from_secs(2);
/// At most this many slices per mode.
const MAX_ROUNDS: u32 = 5;

/// Arguments of `tessera bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// How long each mode is measured, after its warm-up (humantime: 10s, 1m, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub duration: Duration,
    /// How long each mode runs unmeasured first.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = any_duration)]
    pub warmup: Duration,
    /// Concurrent keep-alive connections, one request in flight on each.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub connections: u32,
    /// Modes to measure, comma-separated, in order; `healthz` (the baseline) is added first
    /// when missing. `all`: every mode the target offers.
    ///
    /// Default in-process: healthz, session-sqlite, jwt-hs256, jwt-eddsa, jwt-es256,
    /// jwt-rs256, jwt-eddsa-cold — every mode would take over 2 minutes at the default
    /// --duration and --warmup, so session-memory and three of the cold modes run only when
    /// asked for (or with `--modes all`). Default with --url: every mode that server offers.
    #[arg(long, value_name = "MODE,...", value_delimiter = ',')]
    pub modes: Vec<ModeArg>,
    /// Measure the server already running at this URL (plain http) instead of in-process ones.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Also write report.json and report.md into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Internal: measure one store's footprint in this fresh process and print it as JSON
    /// (the bench runs itself with this, so no earlier allocation blurs the memory figure).
    #[arg(long, value_name = "STORE", hide = true, value_parser = ["memory"])]
    pub footprint_probe: Option<String>,
}

fn any_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write it like 10s, 500ms or 1m)"))
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    match any_duration(s)? {
        d if d.is_zero() => Err("must be longer than zero".into()),
        d => Ok(d),
    }
}

/// One measured run: a request, the credential it carries, the server behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Mode {
    /// GET /healthz with no credential: the HTTP stack alone, the baseline of every ratio.
    #[value(name = "healthz")]
    Healthz,
    /// GET /v1/me with a session cookie; sessions in SQLite.
    #[value(name = "session-sqlite")]
    SessionSqlite,
    /// GET /v1/me with a session cookie; sessions in memory.
    #[value(name = "session-memory")]
    SessionMemory,
    /// GET /v1/me with an HS256 Bearer token from POST /v1/token, reused on every request
    /// (repeats are served by the verified-token cache; revocation is checked every time).
    #[value(name = "jwt-hs256")]
    JwtHs256,
    /// GET /v1/me with an EdDSA (Ed25519) Bearer token, reused (as jwt-hs256).
    #[value(name = "jwt-eddsa")]
    JwtEddsa,
    /// GET /v1/me with an ES256 (P-256) Bearer token, reused (as jwt-hs256).
    #[value(name = "jwt-es256")]
    JwtEs256,
    /// GET /v1/me with an RS256 (RSA-2048) Bearer token, reused (as jwt-hs256).
    #[value(name = "jwt-rs256")]
    JwtRs256,
    /// jwt-hs256 on a server without the verified-token cache (jwt.cache_capacity = 0):
    /// every request has its token parsed, its signature verified and its claims checked, so
    /// as far as the server's work goes it is a fresh token on every request.
    #[value(name = "jwt-hs256-cold")]
    JwtHs256Cold,
    /// jwt-eddsa without the verified-token cache: parse, signature and claims checked on
    /// every request (as jwt-hs256-cold), the server's work for a fresh token each time.
    #[value(name = "jwt-eddsa-cold")]
    JwtEddsaCold,
    /// jwt-es256 without the verified-token cache: parse, signature and claims checked on
    /// every request (as jwt-hs256-cold), the server's work for a fresh token each time.
    #[value(name = "jwt-es256-cold")]
    JwtEs256Cold,
    /// jwt-rs256 without the verified-token cache: parse, signature and claims checked on
    /// every request (as jwt-hs256-cold), the server's work for a fresh token each time.
    #[value(name = "jwt-rs256-cold")]
    JwtRs256Cold,
}

/// A value of `--modes`: a mode, or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeArg {
    /// Every mode the target offers.
    All,
    /// This mode.
    One(Mode),
}

/// `all`, then every mode, in the default order.
static MODE_ARGS: LazyLock<Vec<ModeArg>> = LazyLock::new(|| {
    std::iter::once(ModeArg::All)
        .chain(Mode::value_variants().iter().copied().map(ModeArg::One))
        .collect()
});

impl ValueEnum for ModeArg {
    fn value_variants<'a>() -> &'a [Self] {
        &MODE_ARGS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::All => Some(
                PossibleValue::new("all")
                    .help("Every mode the target offers (in-process: over 2 minutes by default)"),
            ),
            Self::One(mode) => mode.to_possible_value(),
        }
    }
}

/// The stores a mode can be about; the name is what `Store::backend()` and `/readyz` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreKind {
    Sqlite,
    Memory,
}

impl StoreKind {
    const ALL: [Self; 2] = [Self::Sqlite, Self::Memory];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Memory => "memory",
        }
    }
}

/// The signing algorithms the JWT modes measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JwtAlg {
    Hs256,
    EdDsa,
    Es256,
    Rs256,
}

impl JwtAlg {
    const ALL: [Self; 4] = [Self::Hs256, Self::EdDsa, Self::Es256, Self::Rs256];

    /// tessera-core's algorithm (and, with `as_str`, the JOSE `alg`).
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
            Self::Rs256 => Algorithm::RS256,
        }
    }

    /// The one with this JOSE name (`"EdDSA"`), if the bench measures it.
    fn from_jose(alg: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.algorithm().as_str() == alg)
    }
}

/// What a JWT mode measures: an algorithm, with or without the verified-token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Jwt {
    pub alg: JwtAlg,
    /// The server keeps its verified-token cache (warm); `false`: `cache_capacity = 0` (cold).
    pub cached: bool,
}

/// The in-process server a mode needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerKind {
    /// Default configuration on this store.
    Store(StoreKind),
    /// Default configuration on SQLite, signing with the algorithm, cache on or off.
    Jwt(Jwt),
}

impl ServerKind {
    /// For messages and file names: `sqlite`, `jwt-eddsa`, `jwt-eddsa-cold`.
    pub fn label(self) -> String {
        match self {
            Self::Store(store) => store.name().to_owned(),
            Self::Jwt(jwt) => format!(
                "jwt-{}{}",
                jwt.alg.algorithm().as_str().to_ascii_lowercase(),
                if jwt.cached { "" } else { "-cold" }
            ),
        }
    }
}

impl Mode {
    /// The mode every ratio is relative to.
    pub const BASELINE: Self = Self::Healthz;

    /// What runs in-process without `--modes`: everything would take over 2 minutes with
    /// the default `--duration` and `--warmup` (11 modes × 11 s, plus logins).
    const DEFAULT: [Self; 7] = [
        Self::Healthz,
        Self::SessionSqlite,
        Self::JwtHs256,
        Self::JwtEddsa,
        Self::JwtEs256,
        Self::JwtRs256,
        Self::JwtEddsaCold,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthz => "healthz",
            Self::SessionSqlite => "session-sqlite",
            Self::SessionMemory => "session-memory",
            Self::JwtHs256 => "jwt-hs256",
            Self::JwtEddsa => "jwt-eddsa",
            Self::JwtEs256 => "jwt-es256",
            Self::JwtRs256 => "jwt-rs256",
            Self::JwtHs256Cold => "jwt-hs256-cold",
            Self::JwtEddsaCold => "jwt-eddsa-cold",
            Self::JwtEs256Cold => "jwt-es256-cold",
            Self::JwtRs256Cold => "jwt-rs256-cold",
        }
    }

    /// The path requested (below the base URL).
    pub fn path(self) -> &'static str {
        match self {
            Self::Healthz => "/healthz",
            _ => "/v1/me",
        }
    }

    /// What each connection presents.
    pub fn credential(self) -> Credential {
        match self {
            Self::Healthz => Credential::None,
            Self::SessionSqlite | Self::SessionMemory => Credential::SessionCookie,
            _ => Credential::Bearer,
        }
    }

    /// The store the mode measures; `None` when it does not touch one (JWT modes: verifying
    /// a token reads no store).
    pub fn store(self) -> Option<StoreKind> {
        match self {
            Self::SessionSqlite => Some(StoreKind::Sqlite),
            Self::SessionMemory => Some(StoreKind::Memory),
            _ => None,
        }
    }

    /// The algorithm and cache setting a JWT mode measures; `None` for the others.
    pub fn jwt(self) -> Option<Jwt> {
        let (alg, cached) = match self {
            Self::Healthz | Self::SessionSqlite | Self::SessionMemory => return None,
            Self::JwtHs256 => (JwtAlg::Hs256, true),
            Self::JwtEddsa => (JwtAlg::EdDsa, true),
            Self::JwtEs256 => (JwtAlg::Es256, true),
            Self::JwtRs256 => (JwtAlg::Rs256, true),
            Self::JwtHs256Cold => (JwtAlg::Hs256, false),
            Self::JwtEddsaCold => (JwtAlg::EdDsa, false),
            Self::JwtEs256Cold => (JwtAlg::Es256, false),
            Self::JwtRs256Cold => (JwtAlg::Rs256, false),
        };
        Some(Jwt { alg, cached })
    }

    /// Whether this is a cold JWT mode (no verified-token cache on its server).
    pub fn is_cold(self) -> bool {
        self.jwt().is_some_and(|j| !j.cached)
    }

    /// The in-process server the mode needs; `None` for the baseline (any server will do).
    pub fn server(self) -> Option<ServerKind> {
        self.store()
            .map(ServerKind::Store)
            .or_else(|| self.jwt().map(ServerKind::Jwt))
    }

    /// Every mode, in the order `--modes all` runs them.
    fn all() -> &'static [Self] {
        Self::value_variants()
    }
}

/// What a target can measure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    /// Stores it keeps sessions in.
    stores: Vec<StoreKind>,
    /// Algorithms it signs access tokens with.
    algorithms: Vec<JwtAlg>,
    /// Servers without the verified-token cache (in-process only).
    cold: bool,
}

impl Offer {
    /// In-process: any server the bench starts.
    fn everything() -> Self {
        Self {
            stores: StoreKind::ALL.to_vec(),
            algorithms: JwtAlg::ALL.to_vec(),
            cold: true,
        }
    }

    fn has(&self, mode: Mode) -> bool {
        self.missing(mode, "").is_none()
    }

    /// Why `target` (for the message) cannot measure `mode`, if it cannot.
    fn missing(&self, mode: Mode, target: &str) -> Option<String> {
        if let Some(store) = mode.store()
            && !self.stores.contains(&store)
        {
            return Some(format!(
                "{} measures the {} store, which {target} does not use",
                mode.name(),
                store.name()
            ));
        }
        let jwt = mode.jwt()?;
        if !jwt.cached && !self.cold {
            return Some(format!(
                "{} needs a server started without the verified-token cache \
                 (jwt.cache_capacity = 0), which only the in-process servers are",
                mode.name()
            ));
        }
        if !self.algorithms.contains(&jwt.alg) {
            return Some(format!(
                "{} needs a server signing with {}, which {target} does not do",
                mode.name(),
                jwt.alg.algorithm().as_str()
            ));
        }
        None
    }

    /// The same, for a server that says which store it uses and which algorithm it signs with.
    fn remote(store: &str, algorithm: Option<&str>) -> Self {
        Self {
            stores: StoreKind::ALL
                .into_iter()
                .filter(|s| s.name() == store)
                .collect(),
            algorithms: algorithm.and_then(JwtAlg::from_jose).into_iter().collect(),
            cold: false,
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
enum Target {
    /// Servers started in this process.
    InProcess,
    /// A server already running.
    Url(RemoteUrl),
}

/// A checked `--url`: plain http, no credentials, no query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteUrl {
    /// As given, for the report (without a trailing slash).
    display: String,
    /// Host name or address, without IPv6 brackets, for resolving.
    host: String,
    port: u16,
    /// The `Host` header: the URL's authority.
    authority: String,
    /// Path prefix without trailing slash (`""` for the root).
    base: String,
}

impl RemoteUrl {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let bad = |why: &str| anyhow!("--url {url:?}: {why}");
        let uri: Uri = url.parse().map_err(|e| {
            bad(&format!(
                "not a URL ({e}); write it like http://127.0.0.1:8080"
            ))
        })?;
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => {}
            Some(s) if s.eq_ignore_ascii_case("https") => {
                return Err(bad(
                    "https is not supported: the load generator speaks plain HTTP/1.1; \
                     point it at the server's own listen address",
                ));
            }
            _ => return Err(bad("must start with http://")),
        }
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not contain credentials"));
        }
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let base = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            display: format!("http://{}{}", authority.as_str(), base),
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
            base,
        })
    }
}

/// Which modes were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requested {
    /// No `--modes`: [`Mode::DEFAULT`] in-process, everything offered with `--url`.
    Default,
    /// `--modes all`: everything the target offers.
    All,
    /// These, in this order (deduplicated, baseline first if it was missing).
    These(Vec<Mode>),
}

/// The checked arguments.
#[derive(Debug, Clone)]
struct Plan {
    target: Target,
    requested: Requested,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    out: Option<PathBuf>,
    json: bool,
}

impl Plan {
    fn new(args: BenchArgs) -> anyhow::Result<Self> {
        let target = match args.url.as_deref() {
            Some(url) => Target::Url(RemoteUrl::parse(url)?),
            None => Target::InProcess,
        };
        let requested = if args.modes.is_empty() {
            Requested::Default
        } else if args.modes.contains(&ModeArg::All) {
            if args.modes.len() > 1 {
                bail!("--modes all runs every mode; name no other mode with it");
            }
            Requested::All
        } else {
            let mut modes: Vec<Mode> = Vec::new();
            for arg in args.modes {
                let ModeArg::One(mode) = arg else { continue };
                if modes.contains(&mode) {
                    bail!("--modes names {} twice", mode.name());
                }
                modes.push(mode);
            }
            if !modes.contains(&Mode::BASELINE) {
                modes.insert(0, Mode::BASELINE);
            }
            Requested::These(modes)
        };
        let connections = usize::try_from(args.connections).context("too many connections")?;
        Ok(Self {
            target,
            requested,
            connections,
            warmup: args.warmup,
            duration: args.duration,
            out: args.out,
            json: args.json,
        })
    }

    /// Whether the JWT modes may be among those run (so the target's algorithm is needed).
    fn may_need_jwt(&self) -> bool {
        match &self.requested {
            Requested::Default | Requested::All => true,
            Requested::These(modes) => modes.iter().any(|m| m.jwt().is_some()),
        }
    }

    /// The modes to run, given what the target offers; errors name what is missing.
    fn modes(&self, offer: &Offer, target: &str) -> anyhow::Result<Vec<Mode>> {
        let offered = || Mode::all().iter().copied().filter(|m| offer.has(*m));
        let requested = match &self.requested {
            Requested::Default if matches!(self.target, Target::InProcess) => {
                return Ok(Mode::DEFAULT
                    .into_iter()
                    .filter(|m| offer.has(*m))
                    .collect());
            }
            Requested::Default | Requested::All => return Ok(offered().collect()),
            Requested::These(modes) => modes,
        };
        if let Some(why) = requested.iter().find_map(|m| offer.missing(*m, target)) {
            let available: Vec<&str> = offered().map(Mode::name).collect();
            bail!("{why}; modes available there: {}", available.join(", "));
        }
        Ok(requested.clone())
    }

    fn run_config(&self, modes: &[Mode], server_threads: Option<usize>) -> RunConfig {
        RunConfig {
            target: match self.target {
                Target::InProcess => "in-process".into(),
                Target::Url(_) => "url".into(),
            },
            url: match &self.target {
                Target::InProcess => None,
                Target::Url(u) => Some(u.display.clone()),
            },
            duration_ms: millis(self.duration),
            warmup_ms: millis(self.warmup),
            slices: rounds(self.duration),
            connections: self.connections,
            modes: modes.iter().map(|m| m.name().to_owned()).collect(),
            server_threads,
            loadgen_threads: cores(),
            loadgen_batch: yielding::all_batched(),
            build: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Logical CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `tessera bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.footprint_probe.is_some() {
        let report = footprint::memory_probe().await?;
        let json = serde_json::to_string(&report).context("could not encode JSON")?;
        println!("{json}");
        return Ok(());
    }
    let plan = Plan::new(args)?;
    telemetry::init(LogFormat::Text, "warn")?;
    // The runtimes are built, blocked on and dropped on a thread of their own: none of that
    // is allowed on a worker of the runtime `main` runs on.
    let measuring = plan.clone();
    let report = tokio::task::spawn_blocking(move || measure(&measuring))
        .await
        .context("the benchmark thread failed")??;
    output(&plan, &report)?;
    let errors: u64 = report.modes.iter().map(|m| m.errors).sum();
    if errors > 0 {
        bail!(
            "{errors} request{} failed (see ERRORS); their modes' numbers are not valid",
            if errors == 1 { "" } else { "s" }
        );
    }
    if let Some(first) = report.failures().first() {
        bail!("{first}");
    }
    Ok(())
}

/// A runtime whose threads are named `name`; each runs `on_start` first, if given.
fn runtime(name: &str, on_start: Option<fn()>) -> anyhow::Result<Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(f) = on_start {
        builder.on_thread_start(f);
    }
    builder
        .thread_name(name)
        .enable_all()
        .build()
        .with_context(|| format!("could not start the {name} runtime"))
}

/// The server behind a mode: where it listens and, in-process, its services (for timing the
/// signature check alone with its own keys).
#[derive(Debug, Clone)]
struct Server {
    endpoint: Arc<Endpoint>,
    tessera: Option<Arc<Tessera>>,
    /// In-process: the password hashing policy it was started with.
    hashing: Option<HashingPolicy>,
    /// In-process: the runtime it serves on (its blocking pool runs the password hashes).
    runtime: Option<tokio::runtime::Handle>,
}

impl Server {
    /// In-process: what its signature batcher has done so far.
    fn batch_stats(&self) -> Option<BatchStats> {
        self.tessera.as_ref().map(|t| t.tokens.batch_stats())
    }
}

/// Starts what is needed, runs every mode, and builds the report. Blocks.
fn measure(plan: &Plan) -> anyhow::Result<Report> {
    let started_at = report::now_rfc3339();
    // The load generator yields to the server it measures (see `yielding`).
    let loadgen = runtime(LOADGEN_THREAD, Some(yielding::yield_to_server))?;
    let outcome = match &plan.target {
        Target::InProcess => {
            let dir = tempfile::Builder::new()
                .prefix("tessera-bench-")
                .tempdir()
                .context("could not create a temporary directory for the databases")?;
            let servers = runtime(SERVER_THREAD, None)?;
            let modes = plan.modes(&Offer::everything(), "the in-process server");
            let outcome = modes.and_then(|modes| {
                // The stores' footprint first, while nothing else runs.
                let footprint = loadgen.block_on(measure_footprint(&modes, dir.path()))?;
                let started = servers.block_on(server::start_all(&modes, dir.path()))?;
                let (results, mut phases) =
                    loadgen.block_on(run_modes(plan, &modes, &started, false))?;
                phases.footprint = footprint;
                Ok((modes, results, Some(cores()), phases))
            });
            servers.shutdown_timeout(Duration::from_secs(1));
            drop(dir);
            outcome
        }
        Target::Url(url) => loadgen.block_on(async {
            let endpoint = Arc::new(Endpoint::resolve(url).await?);
            let store = load::store_of(&endpoint).await?;
            let algorithm = if plan.may_need_jwt() {
                load::signing_algorithm(&endpoint).await
            } else {
                None
            };
            let offer = Offer::remote(&store, algorithm.as_deref());
            let modes = plan.modes(
                &offer,
                &format!(
                    "the server at {} (store: {store}; {})",
                    url.display,
                    algorithm.as_deref().map_or_else(
                        || "no JWT signing algorithm advertised".to_owned(),
                        |a| format!("signing with {a}")
                    )
                ),
            )?;
            let server = Server {
                endpoint,
                tessera: None,
                hashing: None,
                runtime: None,
            };
            let servers = modes
                .iter()
                .map(|m| (*m, server.clone()))
                .collect::<BTreeMap<_, _>>();
            let (results, phases) = run_modes(plan, &modes, &servers, true).await?;
            Ok((modes, results, None, phases))
        }),
    };
    loadgen.shutdown_timeout(Duration::from_secs(1));
    let (modes, results, server_threads, phases) = outcome?;
    Ok(Report::new(
        started_at,
        MachineInfo::detect(),
        plan.run_config(&modes, server_threads),
        &results,
        phases,
    ))
}

/// The footprint of SQLite (where the session-sqlite mode and every JWT server keep their
/// records) and, when a mode measures it, of the memory store.
async fn measure_footprint(
    modes: &[Mode],
    dir: &Path,
) -> anyhow::Result<Vec<report::FootprintReport>> {
    let progress = Progress::new();
    progress.update("bench: measuring what the stores keep per credential");
    let mut all = Vec::new();
    let wants = |store: StoreKind| modes.iter().any(|m| m.store() == Some(store));
    if wants(StoreKind::Sqlite) || modes.iter().any(|m| m.jwt().is_some()) {
        let sqlite = footprint::sqlite(dir)
            .await
            .context("could not measure the SQLite store's footprint")?;
        all.push(sqlite);
    }
    if wants(StoreKind::Memory) {
        all.push(match footprint::memory().await {
            Ok(memory) => memory,
            // A figure that cannot be measured honestly is reported as such, not guessed.
            Err(e) => footprint::not_measured(StoreKind::Memory.name(), &format!("{e:#}")),
        });
    }
    for f in &all {
        let b = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} B"));
        progress.line(&format!(
            "bench: {} store: {} per session, {} per refresh family, {} per rotation, {} per \
             access token",
            f.store,
            b(f.session_bytes),
            b(f.refresh_family_bytes),
            b(f.refresh_rotation_bytes),
            b(f.access_token_bytes)
        ));
    }
    Ok(all)
}

/// The mode whose server takes the login flood: session-sqlite (logins write sessions, and
/// `/v1/me` reads them, from the same store), else jwt-hs256, else the first with a
/// credential. `None` with `--url` (the bound needs the server's hasher) or when no mode has
/// a credential.
fn flood_mode(modes: &[Mode], remote: bool) -> Option<Mode> {
    if remote {
        return None;
    }
    [Mode::SessionSqlite, Mode::JwtHs256]
        .into_iter()
        .find(|m| modes.contains(m))
        .or_else(|| {
            modes
                .iter()
                .copied()
                .find(|m| m.credential() != Credential::None)
        })
}

/// The flood's window is the mode's `--duration`, but at most this (and its warm-up at most
/// [`FLOOD_WARMUP`]): logins per second settle within a second or two.
const FLOOD_WINDOW: Duration = Duration::from_secs(5);
const FLOOD_WARMUP: Duration = Duration::from_secs(1);
/// The logins alone (no `/v1/me` beside them) are measured for at most this, after the same
/// warm-up.
const FLOOD_ALONE_WINDOW: Duration = Duration::from_secs(2);

/// Floods `server` with logins while `opened`'s connections drive `GET /v1/me` on it, and
/// compares with `unloaded` (the mode's own run, same connections, just before).
async fn login_flood(
    plan: &Plan,
    mode: Mode,
    settings: &load::Settings,
    opened: load::Opened,
    unloaded: &Measured,
    hashing: Option<&report::HashingReport>,
    progress: &Progress,
) -> anyhow::Result<FloodReport> {
    let account = settings
        .account
        .clone()
        .ok_or_else(|| anyhow!("no account to log in with"))?;
    let slots = hashing.map_or_else(cores, |h| h.slots);
    let login_connections = (2 * slots).max(plan.connections / 2);
    let warmup = plan.warmup.min(FLOOD_WARMUP);
    let window = plan.duration.min(FLOOD_WINDOW);
    let me = load::Settings {
        mode,
        label: format!("login flood on {}: /v1/me", mode.name()),
        endpoint: settings.endpoint.clone(),
        account: settings.account.clone(),
        connections: settings.connections,
        warmup,
        duration: window,
        remote: false,
    };
    let me_connections = opened.len();
    // The logins alone first, no /v1/me: what the hasher reaches when it has the cores, to
    // tell a slow hasher from one that shares its cores.
    let alone_window = plan.duration.min(FLOOD_ALONE_WINDOW);
    progress.update(&format!(
        "bench: login flood on {}: {login_connections} connections logging in, alone, for {}",
        mode.name(),
        humantime::format_duration(alone_window)
    ));
    let start = tokio::time::Instant::now();
    let alone = login::flood(
        mode.credential(),
        settings.endpoint.clone(),
        account.clone(),
        login_connections,
        start + warmup,
        start + warmup + alone_window,
    )
    .await?;
    let alone_per_s = alone.logins as f64 / alone_window.as_secs_f64();
    progress.line(&format!(
        "bench: login flood on {}: {login_connections} connections logging in back to back \
         ({}) beside {me_connections} on /v1/me",
        mode.name(),
        login::login_endpoint(mode.credential())
    ));
    let start = tokio::time::Instant::now();
    let logins = login::flood(
        mode.credential(),
        settings.endpoint.clone(),
        account,
        login_connections,
        start + warmup,
        start + warmup + window,
    );
    let (me, logins) = tokio::join!(load::measure(&me, opened, None, progress), logins);
    let ((me, _), logins) = (me?, logins?);
    let secs = window.as_secs_f64();
    let logins_per_s = logins.logins as f64 / secs;
    let bound = hashing.map(|h| h.bound_per_s).filter(|b| *b > 0.0);
    let unloaded_rps = unloaded.rps();
    let ms = |us: u64| round(us as f64 / 1e3, 1);
    let report = FloodReport {
        mode: mode.name().to_owned(),
        endpoint: login::login_endpoint(mode.credential()).to_owned(),
        window_ms: millis(window),
        login_connections,
        me_connections,
        logins: logins.logins,
        logins_per_s: round(logins_per_s, 1),
        login_p50_ms: ms(logins.histogram.value_at_quantile(0.5)),
        login_p99_ms: ms(logins.histogram.value_at_quantile(0.99)),
        login_errors: logins.errors.values().sum::<u64>() + alone.errors.values().sum::<u64>(),
        login_error_kinds: {
            let mut kinds = logins.errors;
            for (label, n) in alone.errors {
                *kinds.entry(label).or_default() += n;
            }
            kinds
        },
        bound_per_s: bound,
        ratio_to_bound: bound.map(|b| round(logins_per_s / b, 3)),
        alone_window_ms: millis(alone_window),
        alone_logins_per_s: round(alone_per_s, 1),
        alone_ratio_to_bound: bound.map(|b| round(alone_per_s / b, 3)),
        me_rps_unloaded: round(unloaded_rps, 1),
        me_rps: round(me.rps(), 1),
        me_ratio: (unloaded_rps > 0.0).then(|| round(me.rps() / unloaded_rps, 3)),
        me_errors: me.errors_total(),
        me_error_kinds: me.errors,
    };
    progress.line(&format!(
        "bench: login flood on {}: {:.1} logins/s{}; /v1/me {:.0} req/s{}",
        mode.name(),
        report.logins_per_s,
        report
            .ratio_to_bound
            .map_or_else(String::new, |r| format!(" ({r:.2} of the bound)")),
        report.me_rps,
        report
            .me_ratio
            .map_or_else(String::new, |r| format!(" ({r:.2} of unloaded)")),
    ));
    Ok(report)
}

/// How many slices a mode's `--duration` is measured in: one per [`SLICE_AT_LEAST`], at most
/// [`MAX_ROUNDS`], at least one.
fn rounds(duration: Duration) -> u32 {
    let n = duration.as_nanos() / SLICE_AT_LEAST.as_nanos().max(1);
    u32::try_from(n).unwrap_or(MAX_ROUNDS).clamp(1, MAX_ROUNDS)
}

/// A mode ready to be measured: its server, settings and open, signed-in connections.
struct Prepared {
    mode: Mode,
    server: Server,
    settings: load::Settings,
    opened: Option<load::Opened>,
    verify: Option<f64>,
    measured: Option<Measured>,
}

/// Runs every mode against its server: first every mode's connections are opened and signed
/// in; then the modes are measured in rounds, each round giving every mode one slice of its
/// `--duration` in turn (rotated by one mode per round), so that whatever drifts during a run
/// (the machine's other load, its clock speed, the servers' caches) touches every mode alike
/// instead of the ones measured early or late; last, each mode's login, refresh and
/// revocation costs (and the flood).
async fn run_modes(
    plan: &Plan,
    modes: &[Mode],
    servers: &BTreeMap<Mode, Server>,
    remote: bool,
) -> anyhow::Result<(Vec<(Mode, Measured)>, Phases)> {
    // One account per server, registered over HTTP like any client would.
    let mut accounts: Vec<(Arc<Endpoint>, Arc<Account>)> = Vec::new();
    let mut phases = Phases::default();
    let progress = Progress::new();
    let flood = flood_mode(modes, remote);
    let rounds = rounds(plan.duration);
    let mut prepared = Vec::with_capacity(modes.len());
    for &mode in modes {
        let server = servers
            .get(&mode)
            .cloned()
            .ok_or_else(|| anyhow!("no server was started for {}", mode.name()))?;
        let endpoint = server.endpoint.clone();
        let account = match mode.credential() {
            Credential::None => None,
            Credential::SessionCookie | Credential::Bearer => {
                match accounts.iter().find(|(e, _)| Arc::ptr_eq(e, &endpoint)) {
                    Some((_, a)) => Some(a.clone()),
                    None => {
                        let account = Arc::new(Account::random());
                        load::register(&endpoint, &account).await.with_context(|| {
                            format!("could not register the bench user for {}", mode.name())
                        })?;
                        accounts.push((endpoint.clone(), account.clone()));
                        Some(account)
                    }
                }
            }
        };
        let settings = load::Settings {
            mode,
            label: mode.name().to_owned(),
            endpoint,
            account,
            connections: plan.connections,
            // Split like the duration: every slice warms its mode up again.
            warmup: plan.warmup / rounds,
            duration: plan.duration / rounds,
            remote,
        };
        let (opened, verify) = async {
            let opened = load::open(&settings, &progress).await?;
            let verify = match mode.jwt() {
                Some(jwt) => check_tokens(jwt, &opened, &server, plan.duration, &progress).await?,
                None => None,
            };
            Ok::<_, anyhow::Error>((opened, verify))
        }
        .await
        .with_context(|| format!("mode {}", mode.name()))?;
        prepared.push(Prepared {
            mode,
            server,
            settings,
            opened: Some(opened),
            verify,
            measured: None,
        });
    }

    let n = prepared.len();
    for round in 1..=rounds {
        // Each round starts one mode later, so no mode always follows the same one: in one
        // run without this, the baseline (always right after the CPU-heavy cold mode) came
        // out 3 % below its first slice in every later round.
        let start = usize::try_from(round - 1).unwrap_or(0);
        for i in 0..n {
            let p = &mut prepared[(start + i) % n];
            let opened = p
                .opened
                .take()
                .ok_or_else(|| anyhow!("{}: its connections were lost", p.mode.name()))?;
            let slice = (rounds > 1).then_some((round, rounds));
            let batches_before = p.server.batch_stats();
            let (mut measured, opened) = load::measure(&p.settings, opened, slice, &progress)
                .await
                .with_context(|| format!("mode {}", p.mode.name()))?;
            measured.signature_batches = p
                .server
                .batch_stats()
                .zip(batches_before)
                .map(|(after, before)| after.since(before));
            p.opened = Some(opened);
            p.measured = Some(match p.measured.take() {
                Some(mut so_far) => {
                    so_far.add(measured)?;
                    so_far
                }
                None => measured,
            });
        }
    }

    let mut results = Vec::with_capacity(prepared.len());
    for p in prepared {
        let Prepared {
            mode,
            server,
            settings,
            opened,
            verify,
            measured,
        } = p;
        let mut measured = measured.ok_or_else(|| anyhow!("{} was never measured", mode.name()))?;
        measured.verify_per_core_rps = verify;
        if rounds > 1 {
            progress.line(&format!(
                "bench: {}: {:.0} req/s over {rounds} slices, p50 {}, p99 {}",
                mode.name(),
                measured.rps(),
                report::latency(measured.histogram.value_at_quantile(0.5)),
                report::latency(measured.histogram.value_at_quantile(0.99)),
            ));
        }
        async {
            if Some(mode) == flood
                && let Some(opened) = opened
            {
                // One hash's time, the flood's bound, measured here rather than at the start:
                // right after load, the machine is as warm as during the flood (cold, the
                // first seconds of a run hash measurably slower).
                phases.hashing = match (&server.tessera, server.hashing, &server.runtime) {
                    (Some(tessera), Some(policy), Some(runtime)) => {
                        Some(time_hashing(tessera, policy, runtime, &progress).await?)
                    }
                    _ => None,
                };
                let report = login_flood(
                    plan,
                    mode,
                    &settings,
                    opened,
                    &measured,
                    phases.hashing.as_ref(),
                    &progress,
                )
                .await
                .context("login flood")?;
                phases.login_flood = Some(report);
            }
            costs(plan, &settings, &mut measured, &progress).await?;
            Ok::<_, anyhow::Error>(())
        }
        .await
        .with_context(|| format!("mode {}", mode.name()))?;
        results.push((mode, measured));
    }
    Ok((results, phases))
}

/// Times the server's password hashing alone (see [`login::hash_alone`]), on the server's
/// runtime: its blocking pool's threads are the ones that hash the logins.
async fn time_hashing(
    tessera: &Arc<Tessera>,
    policy: HashingPolicy,
    runtime: &tokio::runtime::Handle,
    progress: &Progress,
) -> anyhow::Result<report::HashingReport> {
    progress.update("bench: timing password verifications alone");
    let tessera = tessera.clone();
    let hashing = runtime
        .spawn(async move { login::hash_alone(&tessera, &policy).await })
        .await
        .context("the hashing task failed")?
        .context("could not time the password hash")?;
    progress.line(&format!(
        "bench: {}: {} per verification, {} slots → at most {:.1} logins/s; all slots at \
         once: {:.1}/s",
        hashing.algorithm,
        report::latency((hashing.hash_ms * 1e3) as u64),
        hashing.slots,
        hashing.bound_per_s,
        hashing.parallel_per_s
    ));
    Ok(hashing)
}

/// A mode's login, refresh and revocation costs, measured after its load (so they run on an
/// otherwise idle server).
async fn costs(
    plan: &Plan,
    s: &load::Settings,
    measured: &mut Measured,
    progress: &Progress,
) -> anyhow::Result<()> {
    let credential = s.mode.credential();
    let Some(account) = s.account.clone() else {
        return Ok(());
    };
    progress.update(&format!(
        "bench: {}: timing {} logins one at a time",
        s.label,
        login::SAMPLES
    ));
    let login = login::login_cost(credential, &s.endpoint, &account, s.remote)
        .await
        .context("login cost")?;
    let mut line = format!(
        "bench: {}: login {} ({})",
        s.label,
        report::latency((login.mean_ms * 1e3) as u64),
        login.endpoint
    );
    measured.login = Some(login);
    if s.mode.jwt().is_some() {
        let families = plan.connections.min(refresh::MAX_FAMILIES);
        let window = plan.duration.min(refresh::MAX_WINDOW);
        progress.update(&format!(
            "bench: {}: refreshing {families} families for {}",
            s.label,
            humantime::format_duration(window)
        ));
        let refresh = refresh::measure(
            s.endpoint.clone(),
            account.clone(),
            families,
            window,
            s.remote,
        )
        .await
        .context("refresh cost")?;
        line.push_str(&format!(
            ", refresh {} ({:.0}/s)",
            report::latency(refresh.p50_us),
            refresh.per_second
        ));
        measured.refresh = Some(refresh);
    }
    progress.update(&format!("bench: {}: revoking warm credentials", s.label));
    let revocation = revocation::measure(credential, s.endpoint.clone(), account)
        .await
        .context("revocation")?;
    line.push_str(&format!(
        ", revoke {} → 401 after {}, {} accepted after",
        report::latency(revocation.revoke_p50_us),
        revocation
            .rejection_p50_us
            .map_or_else(|| "never".to_owned(), report::latency),
        revocation.accepted_after_revoke
    ));
    measured.revocation = Some(revocation);
    progress.line(&line);
    Ok(())
}

/// Checks that a JWT mode's tokens carry its algorithm and, in-process, times the signature
/// check alone on one of them: verifications per second on one core.
async fn check_tokens(
    jwt: Jwt,
    opened: &load::Opened,
    server: &Server,
    duration: Duration,
    progress: &Progress,
) -> anyhow::Result<Option<f64>> {
    let token = opened
        .bearer_token()
        .ok_or_else(|| anyhow!("no connection holds an access token"))?;
    let expected = jwt.alg.algorithm().as_str();
    match load::token_alg(token) {
        Some(alg) if alg == expected => {}
        found => bail!(
            "the server's access tokens are signed with {}, not {expected}: its active key is \
             of another algorithm than the one configured (`tessera keys rotate` twice switches)",
            found.as_deref().unwrap_or("an unreadable algorithm")
        ),
    }
    let Some(tessera) = server.tessera.clone() else {
        return Ok(None);
    };
    let spend = VERIFY_FOR.min(duration);
    progress.update(&format!(
        "bench: timing the {expected} signature check alone for {}",
        humantime::format_duration(spend)
    ));
    let token = token.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A thread of its own: not one of the load generator's, whose CPU time is counted apart,
    // and not a worker, which must not block.
    std::thread::Builder::new()
        .name(VERIFY_THREAD.into())
        .spawn(move || {
            let _ = tx.send(verify_rate(&tessera, &token, spend));
        })
        .context("could not start the verification thread")?;
    let rate = rx
        .await
        .context("the verification thread ended without an answer")??;
    progress.line(&format!(
        "bench: {expected} signature check alone: {rate:.0} verifications/s on one core"
    ));
    Ok(Some(rate))
}

/// Verifies `token` with the server's keys, issuer, audience and leeway, back to back on this
/// thread for about `spend`, as the server does without its cache (the key ring is fetched
/// each time, as [`tessera_core::jwt::Tokens::authenticate`] does); verifications per second
/// of this thread's CPU time (so per core, and unaffected by time other processes take the
/// core away), or per second of wall time where the thread's CPU time cannot be read.
fn verify_rate(tessera: &Tessera, token: &str, spend: Duration) -> anyhow::Result<f64> {
    let policy = tessera.tokens.policy();
    let verifier =
        Verifier::new(policy.issuer.clone(), policy.audience.clone()).with_leeway(policy.leeway);
    let now = tessera.clock().now();
    verifier
        .verify(&*tessera.tokens.ring(), token, now)
        .map_err(|e| anyhow!("the bench's access token does not verify: {e}"))?;
    let cpu_before = cpu::thread_cpu_time();
    let started = std::time::Instant::now();
    let mut done: u64 = 0;
    let wall = loop {
        let verified = verifier.verify(&*tessera.tokens.ring(), std::hint::black_box(token), now);
        if std::hint::black_box(verified).is_err() {
            bail!("the bench's access token stopped verifying");
        }
        done += 1;
        let elapsed = started.elapsed();
        if elapsed >= spend {
            break elapsed;
        }
    };
    let cpu = cpu::thread_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before))
        // Implausible (under a tenth of the wall time): not worth more than the wall clock.
        .filter(|cpu| *cpu > wall / 10);
    Ok(done as f64 / cpu.unwrap_or(wall).as_secs_f64())
}

/// Writes the report where it was asked for.
fn output(plan: &Plan, report: &Report) -> anyhow::Result<()> {
    if let Some(dir) = &plan.out {
        write_files(dir, report)?;
    }
    let text = if plan.json {
        let mut json = serde_json::to_string_pretty(report).context("could not encode JSON")?;
        json.push('\n');
        json
    } else {
        report.table()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("could not write to stdout")?;
    if let Some(dir) = &plan.out {
        eprintln!(
            "bench: wrote {}, {} and {}",
            dir.join("report.json").display(),
            dir.join("report.md").display(),
            dir.join("report.svg").display()
        );
    }
    Ok(())
}

fn write_files(dir: &Path, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut json = serde_json::to_string_pretty(report).context("could not encode JSON")?;
    json.push('\n');
    for (name, text) in [
        ("report.json", json),
        ("report.md", report.markdown()),
        ("report.svg", chart::svg(report)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

/// Progress lines on stderr: redrawn in place on a terminal, a line per phase otherwise.
#[derive(Debug)]
pub struct Progress {
    terminal: bool,
}

impl Progress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Whether lines are redrawn in place (stderr is a terminal).
    pub fn redraws(&self) -> bool {
        self.terminal
    }

    /// A phase that may be redrawn (`update`) before the next `line`.
    pub fn update(&self, text: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K{text}");
        }
    }

    /// A phase every reader sees.
    pub fn line(&self, text: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{text}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn a_mode_is_measured_in_slices_of_at_least_two_seconds_and_at_most_five() {
        let s = Duration::from_secs;
        assert_eq!(rounds(Duration::ZERO), 1);
        assert_eq!(rounds(s(1)), 1, "CI's 1 s run is one slice");
        assert_eq!(rounds(s(3)), 1);
        assert_eq!(rounds(s(4)), 2);
        assert_eq!(rounds(s(10)), 5, "the default: five slices of 2 s");
        assert_eq!(rounds(s(3600)), 5);
        // The slices add up to the duration asked for.
        assert_eq!(s(10) / rounds(s(10)) * rounds(s(10)), s(10));
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    fn plan(args: &[&str]) -> anyhow::Result<Plan> {
        Plan::new(parse(args)?)
    }

    fn everything(p: &Plan) -> Vec<Mode> {
        p.modes(&Offer::everything(), "x").unwrap()
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.warmup, Duration::from_secs(1));
        assert_eq!(a.connections, 64);
        assert!(a.modes.is_empty() && a.url.is_none() && a.out.is_none() && !a.json);
        let p = Plan::new(a).unwrap();
        assert_eq!(
            everything(&p),
            [
                Mode::Healthz,
                Mode::SessionSqlite,
                Mode::JwtHs256,
                Mode::JwtEddsa,
                Mode::JwtEs256,
                Mode::JwtRs256,
                Mode::JwtEddsaCold,
            ]
        );
    }

    #[test]
    fn the_default_run_stays_under_two_minutes_and_all_would_not() {
        let per_mode = Duration::from_secs(11); // default --duration + --warmup
        let default = per_mode * u32::try_from(Mode::DEFAULT.len()).unwrap();
        let all = per_mode * u32::try_from(Mode::all().len()).unwrap();
        // The timed phases besides: the login flood on one mode, a refresh window per JWT mode.
        let jwt_modes = Mode::DEFAULT.iter().filter(|m| m.jwt().is_some()).count();
        let phases = FLOOD_WARMUP * 2
            + FLOOD_ALONE_WINDOW
            + FLOOD_WINDOW
            + refresh::MAX_WINDOW * u32::try_from(jwt_modes).unwrap();
        // Logins (64 connections' and the login costs'), revocation trials, server starts,
        // the stores' footprint and the signature timings add under 20 s on this machine.
        assert!(
            default + phases <= Duration::from_secs(100),
            "{default:?} + {phases:?}"
        );
        assert!(
            all > Duration::from_secs(120),
            "then make every mode the default"
        );
    }

    #[test]
    fn all_means_every_mode() {
        let p = plan(&["--modes", "all"]).unwrap();
        assert_eq!(p.requested, Requested::All);
        assert_eq!(everything(&p), Mode::all());
        assert_eq!(Mode::all().len(), 11);
        let msg = plan(&["--modes", "all,jwt-hs256"]).unwrap_err().to_string();
        assert!(msg.contains("no other mode"), "{msg}");
    }

    #[test]
    fn humantime_durations_and_flags() {
        let a = parse(&[
            "--duration",
            "1m 30s",
            "--warmup",
            "0s",
            "--connections",
            "8",
            "--out",
            "r",
            "--json",
        ])
        .unwrap();
        assert_eq!(a.duration, Duration::from_secs(90));
        assert_eq!(a.warmup, Duration::ZERO);
        assert_eq!(a.connections, 8);
        assert_eq!(a.out.as_deref(), Some(Path::new("r")));
        assert!(a.json);
        assert_eq!(
            parse(&["--duration", "300ms"]).unwrap().duration,
            Duration::from_millis(300)
        );
    }

    #[test]
    fn bad_values_are_refused_clearly() {
        let msg = parse(&["--duration", "soon"]).unwrap_err().to_string();
        assert!(msg.contains("--duration") && msg.contains("10s"), "{msg}");
        let msg = parse(&["--duration", "0s"]).unwrap_err().to_string();
        assert!(msg.contains("longer than zero"), "{msg}");
        let msg = parse(&["--connections", "0"]).unwrap_err().to_string();
        assert!(msg.contains("--connections"), "{msg}");
        assert!(parse(&["--connections", "10001"]).is_err());
    }

    #[test]
    fn an_unknown_mode_lists_the_valid_ones() {
        let msg = parse(&["--modes", "healthz,jwt-nope"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("jwt-nope"), "{msg}");
        assert!(msg.contains("all"), "{msg}");
        for mode in Mode::all() {
            assert!(msg.contains(mode.name()), "{msg}");
        }
    }

    #[test]
    fn mode_names_are_the_command_line_names() {
        for mode in Mode::all() {
            let value = mode.to_possible_value().unwrap();
            assert_eq!(value.get_name(), mode.name());
            assert_eq!(Mode::from_str(mode.name(), false), Ok(*mode));
            assert_eq!(
                ModeArg::from_str(mode.name(), false),
                Ok(ModeArg::One(*mode))
            );
        }
        assert_eq!(ModeArg::from_str("all", false), Ok(ModeArg::All));
    }

    #[test]
    fn jwt_modes_say_what_they_measure() {
        let jwt: Vec<Mode> = Mode::all()
            .iter()
            .copied()
            .filter(|m| m.jwt().is_some())
            .collect();
        assert_eq!(jwt.len(), 8);
        for mode in jwt {
            let j = mode.jwt().unwrap();
            let alg = j.alg.algorithm().as_str().to_ascii_lowercase();
            assert!(mode.name().starts_with(&format!("jwt-{alg}")), "{mode:?}");
            assert_eq!(mode.name().ends_with("-cold"), !j.cached, "{mode:?}");
            assert_eq!(mode.is_cold(), !j.cached);
            assert_eq!(mode.credential(), Credential::Bearer);
            assert_eq!(mode.path(), "/v1/me");
            assert_eq!(mode.store(), None, "verification reads no store");
            assert_eq!(
                mode.server().map(ServerKind::label).as_deref(),
                Some(mode.name())
            );
        }
        assert_eq!(Mode::Healthz.server(), None);
        assert_eq!(
            Mode::SessionSqlite.server(),
            Some(ServerKind::Store(StoreKind::Sqlite))
        );
        assert_eq!(JwtAlg::from_jose("EdDSA"), Some(JwtAlg::EdDsa));
        assert_eq!(JwtAlg::from_jose("eddsa"), None);
    }

    #[test]
    fn modes_keep_their_order_and_get_the_baseline() {
        let p = plan(&["--modes", "session-memory,jwt-rs256-cold,session-sqlite"]).unwrap();
        assert_eq!(
            everything(&p),
            [
                Mode::Healthz,
                Mode::SessionMemory,
                Mode::JwtRs256Cold,
                Mode::SessionSqlite
            ]
        );
        let p = plan(&["--modes", "session-sqlite,healthz"]).unwrap();
        assert_eq!(everything(&p), [Mode::SessionSqlite, Mode::Healthz]);
        let msg = plan(&["--modes", "healthz,healthz"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("twice"), "{msg}");
    }

    #[test]
    fn a_remote_server_offers_the_modes_of_its_store_and_algorithm() {
        let p = plan(&["--url", "http://127.0.0.1:8080"]).unwrap();
        assert!(p.may_need_jwt());
        let sqlite_eddsa = Offer::remote("sqlite", Some("EdDSA"));
        assert_eq!(
            p.modes(&sqlite_eddsa, "x").unwrap(),
            [Mode::Healthz, Mode::SessionSqlite, Mode::JwtEddsa]
        );
        assert_eq!(
            p.modes(&Offer::remote("memory", Some("RS256")), "x")
                .unwrap(),
            [Mode::Healthz, Mode::SessionMemory, Mode::JwtRs256]
        );
        assert_eq!(
            p.modes(&Offer::remote("postgres", None), "x").unwrap(),
            [Mode::Healthz]
        );
        let p = plan(&["--url", "http://127.0.0.1:8080", "--modes", "all"]).unwrap();
        assert_eq!(
            p.modes(&sqlite_eddsa, "x").unwrap(),
            [Mode::Healthz, Mode::SessionSqlite, Mode::JwtEddsa]
        );

        let refused = |modes: &str| {
            plan(&["--url", "http://127.0.0.1:8080", "--modes", modes])
                .unwrap()
                .modes(&sqlite_eddsa, "the server at U")
                .unwrap_err()
                .to_string()
        };
        let msg = refused("session-memory");
        assert!(
            msg.contains("session-memory measures the memory store, which the server at U"),
            "{msg}"
        );
        assert!(msg.contains("healthz, session-sqlite, jwt-eddsa"), "{msg}");
        let msg = refused("jwt-es256");
        assert!(
            msg.contains("jwt-es256 needs a server signing with ES256, which the server at U"),
            "{msg}"
        );
        let msg = refused("jwt-eddsa-cold");
        assert!(msg.contains("jwt.cache_capacity = 0"), "{msg}");
        assert!(msg.contains("in-process"), "{msg}");

        let p = plan(&["--url", "http://h", "--modes", "session-sqlite"]).unwrap();
        assert!(!p.may_need_jwt());
    }

    #[test]
    fn urls() {
        let u = RemoteUrl::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            u,
            RemoteUrl {
                display: "http://127.0.0.1:8080".into(),
                host: "127.0.0.1".into(),
                port: 8080,
                authority: "127.0.0.1:8080".into(),
                base: String::new(),
            }
        );
        let u = RemoteUrl::parse("http://[::1]/auth/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert_eq!(u.base, "/auth");
        assert_eq!(u.display, "http://[::1]/auth");
        for (bad, why) in [
            ("https://auth.example.com", "https is not supported"),
            ("127.0.0.1:8080", "must start with http://"),
            ("http://u:p@host", "credentials"),
            ("http://host/?x=1", "query"),
            ("not a url", "not a URL"),
        ] {
            let msg = RemoteUrl::parse(bad).unwrap_err().to_string();
            assert!(msg.contains(why), "{bad}: {msg}");
        }
    }
}
