//! The load generator: one task per keep-alive HTTP/1.1 connection (hyper 1's client
//! connection over a `TcpStream`, no pool), each sending its next request as soon as the last
//! response is read.
//!
//! Per request it allocates only what hyper needs for the request itself: the URI, `Host` and
//! credential header values are built once and cloned (reference-counted), the response body
//! is drained frame by frame without being collected, and latencies go to a fixed buffer that
//! is flushed into the shared histogram every [`FLUSH_EVERY`] requests.
//!
//! What counts: a request that starts after the warm-up and finishes before the end of the
//! measurement. Its latency (microseconds, from before `ready()` to the end of the body) goes
//! into the histogram; a non-2xx status or a transport error is counted as an error under its
//! label (`401 Unauthorized`, `request: connection closed…`). A connection that fails is
//! reopened with the same credential.
//!
//! A run is two steps, so that the caller can look at the credentials in between (the JWT
//! modes time the signature check alone on one of their tokens): [`open`] connects and signs
//! in every connection, [`measure`] warms up and measures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use hdrhistogram::Histogram;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tessera_core::key::BatchStats;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::cpu::CpuTimes;
use super::report::{LoginCost, RefreshCost, RevocationReport, latency};
use super::{Mode, Progress, RemoteUrl, cores};

/// Latencies a task buffers before taking the histogram's lock.
pub const FLUSH_EVERY: usize = 1024;
/// Largest latency the histogram tells apart (µs); slower ones count as this.
pub const MAX_LATENCY_US: u64 = 60_000_000;
/// A measured request that takes longer is an error, and its connection is reopened.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Registering and logging in wait behind password hashing; generous.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before reconnecting after a connection could not be opened.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// How often the progress line is redrawn on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

pub type Sender = SendRequest<Full<Bytes>>;

/// Where requests go.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    /// The `Host` header.
    host: HeaderValue,
    /// Path prefix without trailing slash.
    base: String,
    /// For messages: `http://127.0.0.1:8080`.
    label: String,
}

impl Endpoint {
    /// An in-process server.
    pub fn local(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).context("bad Host header")?,
            base: String::new(),
            label: format!("http://{addr}"),
        })
    }

    /// The server at `--url`.
    pub async fn resolve(url: &RemoteUrl) -> anyhow::Result<Self> {
        let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .with_context(|| format!("could not resolve {}", url.host))?
            .next()
            .ok_or_else(|| anyhow!("{} has no address", url.host))?;
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&url.authority).context("bad Host header")?,
            base: url.base.clone(),
            label: url.display.clone(),
        })
    }

    fn uri(&self, path: &str) -> anyhow::Result<Uri> {
        Uri::try_from(format!("{}{path}", self.base)).context("bad request path")
    }

    pub fn request(&self, path: &str, body: Full<Bytes>) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut req = Request::new(body);
        *req.uri_mut() = self.uri(path)?;
        req.headers_mut().insert(HOST, self.host.clone());
        Ok(req)
    }

    pub fn json_post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let body = serde_json::to_vec(body).context("could not encode a request body")?;
        let mut req = self.request(path, Full::new(Bytes::from(body)))?;
        *req.method_mut() = http::Method::POST;
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(req)
    }
}

/// The user the bench signs in as: random, so a shared server's real users are untouched
/// and runs do not collide.
#[derive(Debug)]
pub struct Account {
    email: String,
    password: String,
}

impl Account {
    pub fn random() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let secret = uuid::Uuid::new_v4().simple().to_string();
        Self {
            email: format!("bench-{}@example.com", &id[..12]),
            password: format!("bench-{secret}"),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"email": self.email, "password": self.password})
    }
}

/// What a connection presents on every request, obtained once when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Nothing.
    None,
    /// `Cookie: <name>=<secret>` from `POST /v1/session/login`.
    SessionCookie,
    /// `Authorization: Bearer <access token>` from `POST /v1/token` (password grant).
    Bearer,
}

/// What one mode's run needs.
#[derive(Debug)]
pub struct Settings {
    pub mode: Mode,
    /// For progress lines: the mode's name, or the phase's (`login-flood (session-sqlite)`).
    pub label: String,
    pub endpoint: Arc<Endpoint>,
    /// The registered user, for modes with a credential.
    pub account: Option<Arc<Account>>,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The server is another process: its CPU time is not ours to read.
    pub remote: bool,
}

/// One mode's raw results.
#[derive(Debug)]
pub struct Measured {
    /// Responses to requests inside the measurement window, 2xx or not.
    pub requests: u64,
    /// The window's length.
    pub window: Duration,
    /// Non-2xx statuses and transport errors inside the window, by label.
    pub errors: BTreeMap<String, u64>,
    /// Latencies of `requests`, µs.
    pub histogram: Histogram<u64>,
    /// Length of the credential's header line (`Cookie: …\r\n`, `Authorization: Bearer
    /// …\r\n`), 0 without one.
    pub credential_bytes: usize,
    /// JWT modes, in-process: verifications per second of one of the mode's tokens on one
    /// core, the signature check alone (set by the caller after [`measure`]).
    pub verify_per_core_rps: Option<f64>,
    /// CPU used during the window, if `/proc` could be read.
    pub cpu: Option<CpuTimes>,
    /// Whether the server ran in another process.
    pub remote: bool,
    /// Logins one at a time (modes with a credential; set by the caller).
    pub login: Option<LoginCost>,
    /// Refresh rotations (JWT modes; set by the caller).
    pub refresh: Option<RefreshCost>,
    /// Revoke → first rejection (modes with a credential; set by the caller).
    pub revocation: Option<RevocationReport>,
    /// In-process: what the server's signature batcher did during the window (set by the
    /// caller).
    pub signature_batches: Option<BatchStats>,
}

impl Measured {
    /// Adds another slice of the same mode: its requests, window, errors, latencies and CPU.
    pub fn add(&mut self, slice: Self) -> anyhow::Result<()> {
        self.requests += slice.requests;
        self.window += slice.window;
        for (label, n) in slice.errors {
            *self.errors.entry(label).or_default() += n;
        }
        self.histogram
            .add(&slice.histogram)
            .map_err(|e| anyhow!("could not merge latency histograms: {e}"))?;
        self.credential_bytes = self.credential_bytes.max(slice.credential_bytes);
        // A window whose CPU time could not be read makes the total unknown, not smaller.
        self.cpu = self.cpu.zip(slice.cpu).map(|(a, b)| a.plus(b));
        self.signature_batches = match (self.signature_batches, slice.signature_batches) {
            (Some(a), Some(b)) => Some(a.plus(b)),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The server's CPU time per request, µs: the process minus the load generator's threads
    /// (in-process only).
    pub fn server_us(&self) -> Option<f64> {
        self.cpu
            .filter(|_| !self.remote && self.requests > 0)
            .map(|c| c.rest().as_secs_f64() * 1e6 / self.requests as f64)
            .filter(|us| *us > 0.0)
    }

    pub fn rps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

/// Opens a keep-alive connection; its driver runs as a task until the sender is dropped.
pub async fn connect(endpoint: &Endpoint) -> anyhow::Result<Sender> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(endpoint.addr))
        .await
        .map_err(|_| {
            anyhow!(
                "no connection to {} within {CONNECT_TIMEOUT:?}",
                endpoint.label
            )
        })?
        .with_context(|| format!("could not connect to {}", endpoint.label))?;
    stream
        .set_nodelay(true)
        .context("could not set TCP_NODELAY")?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake failed")?;
    tokio::spawn(async move {
        // Its errors reach the sender's next request; nothing to do with them here.
        let _ = connection.await;
    });
    Ok(sender)
}

/// A whole response, for the few setup requests.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// `401 Unauthorized (invalid_credentials: …)`, for error messages.
    pub fn describe(&self) -> String {
        let problem = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                let code = v.get("code")?.as_str()?.to_owned();
                let detail = v.get("detail").and_then(|d| d.as_str()).unwrap_or("");
                Some(format!("{code}: {detail}"))
            });
        let text = problem.unwrap_or_else(|| {
            String::from_utf8_lossy(&self.body)
                .chars()
                .take(200)
                .collect()
        });
        format!("{} ({})", self.status, text.trim())
    }
}

pub async fn call(sender: &mut Sender, req: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
    let exchange = async {
        sender.ready().await?;
        let (parts, body) = sender.send_request(req).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok::<_, hyper::Error>(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(SETUP_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("no answer within {SETUP_TIMEOUT:?}"))?
        .context("the request failed")
}

/// The store the server says it uses (`GET /readyz`).
pub async fn store_of(endpoint: &Endpoint) -> anyhow::Result<String> {
    let mut sender = connect(endpoint).await?;
    let reply = call(&mut sender, endpoint.request("/readyz", Full::default())?)
        .await
        .with_context(|| format!("GET {}/readyz", endpoint.label))?;
    if !reply.status.is_success() {
        bail!(
            "GET {}/readyz answered {}: the server is not ready",
            endpoint.label,
            reply.describe()
        );
    }
    serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("store")?.as_str().map(str::to_owned))
        .ok_or_else(|| anyhow!("{}/readyz does not say which store it uses", endpoint.label))
}

/// `POST /v1/users`: creates the bench user.
pub async fn register(endpoint: &Endpoint, account: &Account) -> anyhow::Result<()> {
    let mut sender = connect(endpoint).await?;
    let reply = call(
        &mut sender,
        endpoint.json_post("/v1/users", &account.json())?,
    )
    .await?;
    if reply.status != StatusCode::CREATED {
        bail!("POST /v1/users answered {}", reply.describe());
    }
    Ok(())
}

/// What `POST /v1/session/login` answers: the session cookie and the CSRF token that unsafe
/// requests authenticated by it must carry.
#[derive(Debug)]
pub struct SessionLogin {
    /// The cookie's `name=secret` pair, as a `Cookie` header value.
    pub cookie: HeaderValue,
    pub csrf: String,
}

/// `POST /v1/session/login` on this connection.
pub async fn session_login(
    sender: &mut Sender,
    endpoint: &Endpoint,
    account: &Account,
) -> anyhow::Result<SessionLogin> {
    let reply = call(
        sender,
        endpoint.json_post("/v1/session/login", &account.json())?,
    )
    .await
    .context("login failed")?;
    if reply.status != StatusCode::OK {
        bail!("POST /v1/session/login answered {}", reply.describe());
    }
    let pair = cookie_pair(&reply.headers)
        .ok_or_else(|| anyhow!("POST /v1/session/login answered 200 without a cookie"))?;
    let cookie =
        HeaderValue::from_str(pair).context("the session cookie is not a valid header value")?;
    let csrf = json_field(&reply.body, "csrf_token")
        .ok_or_else(|| anyhow!("POST /v1/session/login answered 200 without a csrf_token"))?;
    Ok(SessionLogin { cookie, csrf })
}

/// `POST /v1/session/login` on this connection: the `name=secret` pair of the session cookie.
async fn login(
    sender: &mut Sender,
    endpoint: &Endpoint,
    account: &Account,
) -> anyhow::Result<HeaderValue> {
    Ok(session_login(sender, endpoint, account).await?.cookie)
}

/// A string member of a JSON object body.
fn json_field(body: &[u8], name: &str) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// What `POST /v1/token` answers (body delivery).
#[derive(Debug)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

/// The password grant's body for `account`.
pub fn password_grant(account: &Account) -> serde_json::Value {
    let mut body = account.json();
    body["grant_type"] = serde_json::Value::from("password");
    body
}

/// The refresh grant's body for `refresh_token`.
pub fn refresh_grant(refresh_token: &str) -> serde_json::Value {
    serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh_token})
}

/// `POST /v1/token` with `body` (a password or refresh grant) on this connection.
pub async fn token_pair(
    sender: &mut Sender,
    endpoint: &Endpoint,
    body: &serde_json::Value,
) -> anyhow::Result<TokenPair> {
    let reply = call(sender, endpoint.json_post("/v1/token", body)?)
        .await
        .context("POST /v1/token failed")?;
    if reply.status != StatusCode::OK {
        bail!("POST /v1/token answered {}", reply.describe());
    }
    let access = json_field(&reply.body, "access_token")
        .ok_or_else(|| anyhow!("POST /v1/token answered 200 without an access_token"))?;
    let refresh = json_field(&reply.body, "refresh_token")
        .ok_or_else(|| anyhow!("POST /v1/token answered 200 without a refresh_token"))?;
    Ok(TokenPair { access, refresh })
}

/// `POST /v1/token` (password grant) on this connection: the `Bearer <access token>` value.
async fn token_login(
    sender: &mut Sender,
    endpoint: &Endpoint,
    account: &Account,
) -> anyhow::Result<HeaderValue> {
    let pair = token_pair(sender, endpoint, &password_grant(account))
        .await
        .context("token login failed")?;
    bearer(&pair.access)
}

/// `Bearer <token>` as an `Authorization` header value.
pub fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .context("the access token is not a valid header value")
}

/// The algorithm the server signs new access tokens with, as its
/// `/.well-known/openid-configuration` says (`signing_algorithm`); `None` if it does not say
/// (no JWT mode there, or an older server).
pub async fn signing_algorithm(endpoint: &Endpoint) -> Option<String> {
    let mut sender = connect(endpoint).await.ok()?;
    let req = endpoint
        .request("/.well-known/openid-configuration", Full::default())
        .ok()?;
    let reply = call(&mut sender, req).await.ok()?;
    if !reply.status.is_success() {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()?
        .get("signing_algorithm")?
        .as_str()
        .map(str::to_owned)
}

/// The `alg` of a JWT's protected header, read without checking anything.
pub fn token_alg(token: &str) -> Option<String> {
    let header = base64url(token.split('.').next()?)?;
    serde_json::from_slice::<serde_json::Value>(&header)
        .ok()?
        .get("alg")?
        .as_str()
        .map(str::to_owned)
}

/// Unpadded base64url (RFC 4648 §5), leniently: trailing bits are dropped unchecked.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The `name=value` of the first cookie set, without its attributes.
pub fn cookie_pair(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| !name.is_empty() && !value.is_empty())
        })
}

/// The header a connection sends on every request.
type CredentialHeader = Option<(HeaderName, HeaderValue)>;

/// Bytes the credential adds to each request: its whole header line, `Name: value\r\n`.
pub fn credential_bytes(header: &CredentialHeader) -> usize {
    header
        .as_ref()
        .map_or(0, |(name, value)| name.as_str().len() + 2 + value.len() + 2)
}

/// Gets a connection's credential.
async fn obtain(
    credential: Credential,
    sender: &mut Sender,
    endpoint: &Endpoint,
    account: Option<&Account>,
) -> anyhow::Result<CredentialHeader> {
    match credential {
        Credential::None => Ok(None),
        Credential::SessionCookie => {
            let account = account.ok_or_else(|| anyhow!("no account to log in with"))?;
            let cookie = login(sender, endpoint, account).await?;
            Ok(Some((COOKIE, cookie)))
        }
        Credential::Bearer => {
            let account = account.ok_or_else(|| anyhow!("no account to log in with"))?;
            let bearer = token_login(sender, endpoint, account).await?;
            Ok(Some((AUTHORIZATION, bearer)))
        }
    }
}

/// Opens every connection and gets its credential, a few at a time: logins queue behind the
/// server's password hashing, and many at once would only wait longer each.
async fn open_all(s: &Settings) -> anyhow::Result<Vec<(Sender, CredentialHeader)>> {
    let credential = s.mode.credential();
    let at_once = match credential {
        Credential::None => 64,
        Credential::SessionCookie | Credential::Bearer => 2 * cores(),
    };
    let limit = Arc::new(Semaphore::new(at_once));
    let mut tasks = JoinSet::new();
    for _ in 0..s.connections {
        let (endpoint, account, limit) = (s.endpoint.clone(), s.account.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let mut sender = connect(&endpoint).await?;
            let header = obtain(credential, &mut sender, &endpoint, account.as_deref()).await?;
            Ok::<_, anyhow::Error>((sender, header))
        });
    }
    let mut open = Vec::with_capacity(s.connections);
    while let Some(joined) = tasks.join_next().await {
        // Dropping `tasks` on error aborts the others.
        open.push(joined.context("a connection task failed")??);
    }
    Ok(open)
}

/// What the tasks of one run share.
#[derive(Debug)]
struct Shared {
    histogram: Mutex<Histogram<u64>>,
    /// Responses so far, warm-up included, for the progress line.
    done: AtomicU64,
}

impl Shared {
    fn record(&self, latencies: &mut Vec<u64>) {
        if latencies.is_empty() {
            return;
        }
        let mut h = self
            .histogram
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for &us in latencies.iter() {
            h.saturating_record(us);
        }
        latencies.clear();
    }
}

/// The window and target of one run, shared by its tasks.
#[derive(Debug)]
struct Load {
    endpoint: Arc<Endpoint>,
    uri: Uri,
    measure_from: Instant,
    until: Instant,
}

/// What one task counted.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, label: String) {
        *self.errors.entry(label).or_default() += 1;
    }

    fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        for (label, n) in other.errors {
            *self.errors.entry(label).or_default() += n;
        }
    }
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One request and its whole response; the body is read and dropped frame by frame.
pub async fn exchange(
    sender: &mut Sender,
    req: Request<Full<Bytes>>,
) -> Result<StatusCode, hyper::Error> {
    sender.ready().await?;
    let response = sender.send_request(req).await?;
    let status = response.status();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    Ok(status)
}

/// One connection's loop, until the end of the window; gives the connection back if it is
/// still open, so a later phase can reuse it without signing in again.
async fn drive(
    sender: Sender,
    credential: CredentialHeader,
    load: Arc<Load>,
    shared: Arc<Shared>,
) -> (Tally, Option<(Sender, CredentialHeader)>) {
    let mut sender = Some(sender);
    let mut tally = Tally::default();
    let mut latencies = Vec::with_capacity(FLUSH_EVERY);
    loop {
        let began = Instant::now();
        if began >= load.until {
            break;
        }
        let counted = began >= load.measure_from;
        let conn = match sender.as_mut() {
            Some(conn) => conn,
            None => match connect(&load.endpoint).await {
                Ok(conn) => sender.insert(conn),
                Err(e) => {
                    if counted {
                        tally.error(format!("connect: {e:#}"));
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        let mut req = Request::new(Full::default());
        *req.uri_mut() = load.uri.clone();
        let headers = req.headers_mut();
        headers.insert(HOST, load.endpoint.host.clone());
        if let Some((name, value)) = &credential {
            headers.insert(name.clone(), value.clone());
        }
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, exchange(conn, req)).await;
        let finished = Instant::now();
        shared.done.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(Ok(status)) => {
                if counted && finished <= load.until {
                    tally.requests += 1;
                    latencies.push(micros(finished - began));
                    if latencies.len() == FLUSH_EVERY {
                        shared.record(&mut latencies);
                    }
                    if !status.is_success() {
                        tally.error(status.to_string());
                    }
                }
            }
            Ok(Err(e)) => {
                sender = None;
                if counted {
                    tally.error(format!("request: {e}"));
                }
            }
            Err(_) => {
                sender = None;
                if counted {
                    tally.error(format!("request: no response within {REQUEST_TIMEOUT:?}"));
                }
            }
        }
    }
    shared.record(&mut latencies);
    (tally, sender.map(|s| (s, credential)))
}

/// Sleeps until `deadline`, redrawing the progress line on a terminal.
async fn wait_until(deadline: Instant, progress: &Progress, line: impl Fn(Instant) -> String) {
    if !progress.redraws() {
        tokio::time::sleep_until(deadline).await;
        return;
    }
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        progress.update(&line(now));
        tokio::time::sleep_until(deadline.min(now + REDRAW_EVERY)).await;
    }
}

/// A mode's connections, open and signed in, not yet loaded.
#[derive(Debug)]
pub struct Opened {
    connections: Vec<(Sender, CredentialHeader)>,
}

impl Opened {
    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// The access token of the first connection holding one (`Authorization: Bearer`).
    pub fn bearer_token(&self) -> Option<&str> {
        self.connections.iter().find_map(|(_, header)| {
            let (name, value) = header.as_ref()?;
            if name != AUTHORIZATION {
                return None;
            }
            value.to_str().ok()?.strip_prefix("Bearer ")
        })
    }
}

/// Opens and signs in every connection of a mode.
pub async fn open(s: &Settings, progress: &Progress) -> anyhow::Result<Opened> {
    let signing_in = s.mode.credential() != Credential::None;
    progress.update(&format!(
        "bench: {}: opening {} connections{}",
        s.label,
        s.connections,
        if signing_in { " and logging in" } else { "" }
    ));
    Ok(Opened {
        connections: open_all(s).await?,
    })
}

/// Runs one mode on its open connections: warm up, measure. The connections that are still
/// open afterwards are given back. `slice`: (this one, of how many) when the mode is measured
/// in several slices, for the progress lines.
pub async fn measure(
    s: &Settings,
    opened: Opened,
    slice: Option<(u32, u32)>,
    progress: &Progress,
) -> anyhow::Result<(Measured, Opened)> {
    let label = match slice {
        Some((n, of)) => format!("{} [{n}/{of}]", s.label),
        None => s.label.clone(),
    };
    let name = label.as_str();
    let uri = s.endpoint.uri(s.mode.path())?;
    let signing_in = s.mode.credential() != Credential::None;
    let open = opened.connections;
    let credential_bytes = open
        .iter()
        .map(|(_, header)| credential_bytes(header))
        .max()
        .unwrap_or(0);
    progress.update(&format!(
        "bench: {name}: {} connections{}; warming up {}, measuring {}",
        open.len(),
        if signing_in { " logged in" } else { " open" },
        humantime::format_duration(s.warmup),
        humantime::format_duration(s.duration)
    ));

    let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| anyhow!("could not create the histogram: {e}"))?;
    let shared = Arc::new(Shared {
        histogram: Mutex::new(histogram),
        done: AtomicU64::new(0),
    });
    let start = Instant::now();
    let load = Arc::new(Load {
        endpoint: s.endpoint.clone(),
        uri,
        measure_from: start + s.warmup,
        until: start + s.warmup + s.duration,
    });
    let mut tasks = JoinSet::new();
    for (sender, credential) in open {
        tasks.spawn(drive(sender, credential, load.clone(), shared.clone()));
    }

    wait_until(load.measure_from, progress, |now| {
        format!(
            "bench: {name}: warming up {:.1}s / {}",
            (now - start).as_secs_f64(),
            humantime::format_duration(s.warmup)
        )
    })
    .await;
    let cpu_before = CpuTimes::sample();
    let done_before = shared.done.load(Ordering::Relaxed);
    wait_until(load.until, progress, |now| {
        format!(
            "bench: {name}: measuring {:.1}s / {}, {} responses",
            (now - load.measure_from).as_secs_f64(),
            humantime::format_duration(s.duration),
            shared.done.load(Ordering::Relaxed) - done_before
        )
    })
    .await;
    let cpu_after = CpuTimes::sample();

    let mut tally = Tally::default();
    let mut still_open = Vec::with_capacity(s.connections);
    while let Some(joined) = tasks.join_next().await {
        let (counted, connection) = joined.context("a load task failed")?;
        tally.merge(counted);
        still_open.extend(connection);
    }
    let histogram = std::mem::replace(
        &mut *shared
            .histogram
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        Histogram::new(1).map_err(|e| anyhow!("could not create a histogram: {e}"))?,
    );
    let measured = Measured {
        requests: tally.requests,
        window: s.duration,
        errors: tally.errors,
        histogram,
        credential_bytes,
        cpu: cpu_before.zip(cpu_after).map(|(b, a)| a.since(b)),
        remote: s.remote,
        verify_per_core_rps: None,
        login: None,
        refresh: None,
        revocation: None,
        signature_batches: None,
    };
    progress.line(&format!(
        "bench: {name}: {:.0} req/s, p50 {}, p99 {}, {} errors",
        measured.rps(),
        latency(measured.histogram.value_at_quantile(0.5)),
        latency(measured.histogram.value_at_quantile(0.99)),
        measured.errors_total()
    ));
    Ok((
        measured,
        Opened {
            connections: still_open,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_cookie_pair_is_taken_without_attributes() {
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("tessera_session=abc-_123; HttpOnly; SameSite=Lax; Path=/"),
        );
        assert_eq!(cookie_pair(&h), Some("tessera_session=abc-_123"));
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("=x; Path=/"));
        h.append(SET_COOKIE, HeaderValue::from_static("sid=s3cret"));
        assert_eq!(cookie_pair(&h), Some("sid=s3cret"));
        assert_eq!(cookie_pair(&HeaderMap::new()), None);
    }

    #[test]
    fn the_credential_costs_its_whole_header_line() {
        let value = HeaderValue::from_static("tessera_session=0123456789");
        // "cookie: tessera_session=0123456789\r\n"
        assert_eq!(credential_bytes(&Some((COOKIE, value))), 6 + 2 + 26 + 2);
        assert_eq!(credential_bytes(&None), 0);
    }

    #[test]
    fn a_bearer_token_costs_its_whole_header_line() {
        let value = HeaderValue::from_static("Bearer aaa.bbb.ccc");
        // "authorization: Bearer aaa.bbb.ccc\r\n", as long as "Authorization: …".
        assert_eq!(
            credential_bytes(&Some((AUTHORIZATION, value))),
            "Authorization: Bearer aaa.bbb.ccc\r\n".len()
        );
    }

    #[test]
    fn the_algorithm_is_read_from_the_token_header() {
        // {"alg":"EdDSA","typ":"at+jwt","kid":"k1"}
        let token = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.e30.c2ln";
        assert_eq!(token_alg(token).as_deref(), Some("EdDSA"));
        assert_eq!(token_alg("not a token").as_deref(), None);
        assert_eq!(token_alg("e30.e30.e30").as_deref(), None);
        assert_eq!(base64url("TWFu").unwrap(), b"Man");
        assert_eq!(base64url("TWE").unwrap(), b"Ma");
        assert_eq!(base64url("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64url("a+b"), None);
    }

    #[test]
    fn random_accounts_differ_and_are_valid() {
        let (a, b) = (Account::random(), Account::random());
        assert_ne!(a.email, b.email);
        assert!(a.email.starts_with("bench-") && a.email.ends_with("@example.com"));
        assert!(a.password.len() >= 8);
    }
}
