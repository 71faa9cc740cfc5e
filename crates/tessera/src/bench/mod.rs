//! `tessera bench`: what each way of staying signed in costs per request, in numbers.
//!
//! Every mode is measured the same way, one after another: `--connections` keep-alive HTTP/1.1
//! connections (one task each) send requests back to back for `--warmup`, then for
//! `--duration` while latencies are recorded. A mode with a credential gets it once per
//! connection before the clock starts (logins run concurrently, a few at a time) and reuses it
//! on every request, as real clients do. `GET /healthz` is always measured too: it is the
//! baseline every ratio is relative to, because the server and the load generator share the
//! same few cores and only relative numbers carry over between machines.
//!
//! By default the servers run in this process, on their own tokio runtime (threads named
//! [`SERVER_THREAD`]), while the load generator has another (threads named [`LOADGEN_THREAD`]);
//! each runtime has the default number of workers (one per core). `session-sqlite` gets a
//! fresh SQLite file in a temporary directory, `session-memory` a second server on `memory:`.
//! Both use the default configuration (`tessera.toml` and `TESSERA_*` are not read), so runs
//! are comparable. With `--url` an already running server is measured instead, over HTTP
//! only: a random `bench-…@example.com` user is registered, and the session mode that matches
//! the store the server reports on `/readyz` is available.
//!
//! Layout: [`load`] is the load generator (hyper 1 client, hdrhistogram), [`server`] starts
//! the in-process servers, [`cpu`] reads CPU times from `/proc`, [`report`] is the report, its
//! JSON schema and its renderings.

mod cpu;
mod load;
pub mod report;
mod server;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, ValueEnum};
use http::Uri;
use tokio::runtime::Runtime;

use self::load::{Account, Credential, Endpoint, Measured};
use self::report::{MachineInfo, Report, RunConfig};
use crate::config::LogFormat;
use crate::telemetry;

/// Name of the load generator's runtime threads; CPU time is split by it.
pub const LOADGEN_THREAD: &str = "bench-load";
/// Name of the in-process server's runtime threads.
pub const SERVER_THREAD: &str = "tessera-server";

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
    /// when missing. Default: every mode the target offers.
    #[arg(long, value_name = "MODE,...", value_delimiter = ',')]
    pub modes: Vec<Mode>,
    /// Measure the server already running at this URL (plain http) instead of in-process ones.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Also write report.json and report.md into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
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

/// One measured run: a request, the credential it carries, the store behind it.
///
/// JWT modes (`jwt-hs256`, `jwt-eddsa`, …) will be more variants: a [`Credential`] kind that
/// logs in at `/v1/token` and sends `Authorization: Bearer`, and the server settings they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Mode {
    /// GET /healthz with no credential: the HTTP stack alone, the baseline of every ratio.
    Healthz,
    /// GET /v1/me with a session cookie; sessions in SQLite.
    SessionSqlite,
    /// GET /v1/me with a session cookie; sessions in memory.
    SessionMemory,
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

impl Mode {
    /// The mode every ratio is relative to.
    pub const BASELINE: Self = Self::Healthz;

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Healthz => "healthz",
            Self::SessionSqlite => "session-sqlite",
            Self::SessionMemory => "session-memory",
        }
    }

    /// The path requested (below the base URL).
    pub fn path(self) -> &'static str {
        match self {
            Self::Healthz => "/healthz",
            Self::SessionSqlite | Self::SessionMemory => "/v1/me",
        }
    }

    /// What each connection presents.
    pub fn credential(self) -> Credential {
        match self {
            Self::Healthz => Credential::None,
            Self::SessionSqlite | Self::SessionMemory => Credential::SessionCookie,
        }
    }

    /// The store the mode measures; `None` when it does not touch one.
    pub fn store(self) -> Option<StoreKind> {
        match self {
            Self::Healthz => None,
            Self::SessionSqlite => Some(StoreKind::Sqlite),
            Self::SessionMemory => Some(StoreKind::Memory),
        }
    }

    /// Every mode, in the default order.
    fn all() -> &'static [Self] {
        Self::value_variants()
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

/// The checked arguments.
#[derive(Debug, Clone)]
struct Plan {
    target: Target,
    /// The modes asked for (deduplicated, baseline first if it was missing); `None`: every
    /// mode the target offers.
    requested: Option<Vec<Mode>>,
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
            None
        } else {
            let mut modes: Vec<Mode> = Vec::new();
            for mode in args.modes {
                if modes.contains(&mode) {
                    bail!("--modes names {} twice", mode.name());
                }
                modes.push(mode);
            }
            if !modes.contains(&Mode::BASELINE) {
                modes.insert(0, Mode::BASELINE);
            }
            Some(modes)
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

    /// The modes to run, given which stores the target offers; errors name what is missing.
    fn modes(&self, offered: &[StoreKind], target: &str) -> anyhow::Result<Vec<Mode>> {
        let available = |m: &Mode| m.store().is_none_or(|s| offered.contains(&s));
        let Some(requested) = &self.requested else {
            return Ok(Mode::all().iter().copied().filter(available).collect());
        };
        if let Some(missing) = requested.iter().find(|m| !available(m)) {
            let offered: Vec<String> = Mode::all()
                .iter()
                .filter(|m| available(m))
                .map(|m| m.name().to_owned())
                .collect();
            bail!(
                "{} measures the {} store, which {target} does not use; modes available \
                 there: {}",
                missing.name(),
                missing.store().map_or("?", StoreKind::name),
                offered.join(", ")
            );
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
            connections: self.connections,
            modes: modes.iter().map(|m| m.name().to_owned()).collect(),
            server_threads,
            loadgen_threads: cores(),
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
    Ok(())
}

fn runtime(name: &str) -> anyhow::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .enable_all()
        .build()
        .with_context(|| format!("could not start the {name} runtime"))
}

/// Starts what is needed, runs every mode, and builds the report. Blocks.
fn measure(plan: &Plan) -> anyhow::Result<Report> {
    let started_at = report::now_rfc3339();
    let loadgen = runtime(LOADGEN_THREAD)?;
    let outcome = match &plan.target {
        Target::InProcess => {
            let dir = tempfile::Builder::new()
                .prefix("tessera-bench-")
                .tempdir()
                .context("could not create a temporary directory for the database")?;
            let servers = runtime(SERVER_THREAD)?;
            let modes = plan.modes(&StoreKind::ALL, "the in-process server");
            let outcome = modes.and_then(|modes| {
                let endpoints = servers.block_on(server::start_all(&modes, dir.path()))?;
                let results = loadgen.block_on(run_modes(plan, &modes, &endpoints, false))?;
                Ok((modes, results, Some(cores())))
            });
            servers.shutdown_timeout(Duration::from_secs(1));
            drop(dir);
            outcome
        }
        Target::Url(url) => loadgen.block_on(async {
            let endpoint = Arc::new(Endpoint::resolve(url).await?);
            let store = load::store_of(&endpoint).await?;
            let offered: Vec<StoreKind> = StoreKind::ALL
                .into_iter()
                .filter(|s| s.name() == store)
                .collect();
            let modes = plan.modes(
                &offered,
                &format!("the server at {} (store: {store})", url.display),
            )?;
            let endpoints = modes
                .iter()
                .map(|m| (*m, endpoint.clone()))
                .collect::<BTreeMap<_, _>>();
            let results = run_modes(plan, &modes, &endpoints, true).await?;
            Ok((modes, results, None))
        }),
    };
    loadgen.shutdown_timeout(Duration::from_secs(1));
    let (modes, results, server_threads) = outcome?;
    Ok(Report::new(
        started_at,
        MachineInfo::detect(),
        plan.run_config(&modes, server_threads),
        &results,
    ))
}

/// Runs every mode in order against its endpoint.
async fn run_modes(
    plan: &Plan,
    modes: &[Mode],
    endpoints: &BTreeMap<Mode, Arc<Endpoint>>,
    remote: bool,
) -> anyhow::Result<Vec<(Mode, Measured)>> {
    // One account per server, registered over HTTP like any client would.
    let mut accounts: Vec<(Arc<Endpoint>, Arc<Account>)> = Vec::new();
    let mut results = Vec::new();
    let progress = Progress::new();
    for &mode in modes {
        let endpoint = endpoints
            .get(&mode)
            .cloned()
            .ok_or_else(|| anyhow!("no server was started for {}", mode.name()))?;
        let account = match mode.credential() {
            Credential::None => None,
            Credential::SessionCookie => {
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
        let measured = load::run(
            &load::Settings {
                mode,
                endpoint,
                account,
                connections: plan.connections,
                warmup: plan.warmup,
                duration: plan.duration,
                remote,
            },
            &progress,
        )
        .await
        .with_context(|| format!("mode {}", mode.name()))?;
        results.push((mode, measured));
    }
    Ok(results)
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
            "bench: wrote {} and {}",
            dir.join("report.json").display(),
            dir.join("report.md").display()
        );
    }
    Ok(())
}

fn write_files(dir: &Path, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut json = serde_json::to_string_pretty(report).context("could not encode JSON")?;
    json.push('\n');
    for (name, text) in [("report.json", json), ("report.md", report.markdown())] {
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

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    fn plan(args: &[&str]) -> anyhow::Result<Plan> {
        Plan::new(parse(args)?)
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
            p.modes(&StoreKind::ALL, "x").unwrap(),
            [Mode::Healthz, Mode::SessionSqlite, Mode::SessionMemory]
        );
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
        let msg = parse(&["--modes", "healthz,jwt-hs256"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("jwt-hs256"), "{msg}");
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
        }
    }

    #[test]
    fn modes_keep_their_order_and_get_the_baseline() {
        let p = plan(&["--modes", "session-memory,session-sqlite"]).unwrap();
        assert_eq!(
            p.modes(&StoreKind::ALL, "x").unwrap(),
            [Mode::Healthz, Mode::SessionMemory, Mode::SessionSqlite]
        );
        let p = plan(&["--modes", "session-sqlite,healthz"]).unwrap();
        assert_eq!(
            p.modes(&StoreKind::ALL, "x").unwrap(),
            [Mode::SessionSqlite, Mode::Healthz]
        );
        let msg = plan(&["--modes", "healthz,healthz"])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("twice"), "{msg}");
    }

    #[test]
    fn a_remote_server_offers_the_modes_of_its_store() {
        let p = plan(&["--url", "http://127.0.0.1:8080"]).unwrap();
        assert_eq!(
            p.modes(&[StoreKind::Sqlite], "x").unwrap(),
            [Mode::Healthz, Mode::SessionSqlite]
        );
        assert_eq!(p.modes(&[], "x").unwrap(), [Mode::Healthz]);
        let p = plan(&[
            "--url",
            "http://127.0.0.1:8080",
            "--modes",
            "session-memory",
        ])
        .unwrap();
        let msg = p
            .modes(&[StoreKind::Sqlite], "the server at U")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("session-memory measures the memory store, which the server at U"),
            "{msg}"
        );
        assert!(msg.contains("healthz, session-sqlite"), "{msg}");
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
