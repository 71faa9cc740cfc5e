//! What the server keeps per live credential, measured from the store rather than estimated.
//!
//! SQLite: a fresh database in the bench's temporary directory, written through tessera-core's
//! own services ([`Sessions::start`], [`Tokens::issue`], [`Tokens::refresh`], [`Tokens::mint`]
//! — the code the HTTP handlers call, minus the password check, so no argon2 hash is spent per
//! record). Between stages the store is closed, which checkpoints the WAL into the main file
//! and removes it; the size is then read from the database header: (page count − free pages)
//! × page size, what `PRAGMA page_count`, `freelist_count` and `page_size` report. Each
//! stage adds [`CREDENTIALS`] records; its growth divided by that is the figure. Index entries
//! and the slack of partly filled B-tree pages are included: they are what the records cost.
//!
//! Memory store: in a child process (`tessera bench --footprint-probe memory`, so that no
//! earlier allocation of this process is reused), the growth of the resident set (`VmRSS`)
//! over the same stages, divided by the records added. That includes the allocator's overhead
//! and the hash tables' spare capacity (they grow by doubling, so the figure moves with the
//! count by up to the index part's share).
//!
//! Sessions carry the device they were started from; these records get a typical desktop
//! browser's `User-Agent` ([`USER_AGENT`]) and an IPv4 address, as a browser login would
//! (the load generator's own logins send no `User-Agent`, so their sessions are smaller).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use tessera_core::account::{Email, PasswordHash, User, UserRecord};
use tessera_core::clock::{Clock, SystemClock};
use tessera_core::id::UserId;
use tessera_core::jwt::{JwtPolicy, Tokens};
use tessera_core::session::{Device, SessionPolicy, Sessions};
use tessera_core::store::Store;
use tessera_store::SqliteStore;

use super::report::{FootprintReport, round};

/// Records added per stage: enough that one page (4 KiB) is a few bytes per record.
pub const CREDENTIALS: u32 = 1000;
/// Records per stage in the memory probe: more, because the resident set moves in pages and
/// the allocator keeps some slack of its own.
pub const MEMORY_CREDENTIALS: u32 = 10_000;
/// The device of every measured session and family.
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like \
                              Gecko) Chrome/131.0.0.0 Safari/537.36";
const IP: &str = "203.0.113.7";
/// The user's password hash: a real argon2id PHC string's shape and length; never checked.
const PLACEHOLDER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2gtZm9vdHByaW50LXNhbHQ$\
                                 MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";

fn device() -> Device {
    Device::new(Some(USER_AGENT), Some(IP.to_owned()))
}

/// Bytes of the database at `path` in use by pages, from its header; the store must be closed
/// (its WAL checkpointed and removed).
fn sqlite_bytes_in_use(path: &Path) -> anyhow::Result<u64> {
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("")
    ));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        bail!(
            "{} is not empty after closing the store: the WAL was not checkpointed",
            wal.display()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let header =
        parse_header(&bytes).ok_or_else(|| anyhow!("{} has no SQLite header", path.display()))?;
    Ok((header.page_count - header.free_pages) * header.page_size)
}

/// What the first 100 bytes of a SQLite database say about its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    page_size: u64,
    page_count: u64,
    free_pages: u64,
}

/// Reads the header of a database file (<https://sqlite.org/fileformat.html#the_database_header>):
/// page size at offset 16 (big-endian u16, 1 meaning 65536), page count at 28 (valid when the
/// change counter at 24 equals the "version valid for" at 92; otherwise the file length tells),
/// free-list pages at 36.
fn parse_header(file: &[u8]) -> Option<Header> {
    if !file.starts_with(b"SQLite format 3\0") || file.len() < 100 {
        return None;
    }
    let u16_at = |i: usize| Some(u16::from_be_bytes(file.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_be_bytes(file.get(i..i + 4)?.try_into().ok()?));
    let page_size = match u16_at(16)? {
        1 => 65_536,
        n => u64::from(n),
    };
    let in_header = u64::from(u32_at(28)?);
    let page_count = if in_header > 0 && u32_at(24)? == u32_at(92)? {
        in_header
    } else {
        file.len() as u64 / page_size
    };
    Some(Header {
        page_size,
        page_count,
        free_pages: u64::from(u32_at(36)?).min(page_count),
    })
}

/// A user to hang the records on (inserted directly: registering would spend a hash).
async fn bench_user(store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<UserId> {
    let id = UserId::new();
    let record = UserRecord {
        user: User {
            id,
            email: Email::parse("footprint@example.com")
                .map_err(|e| anyhow!("bad bench email: {e}"))?,
            created_at: clock.now(),
        },
        password_hash: PasswordHash::from_stored(PLACEHOLDER_HASH.to_owned()),
    };
    store
        .create_user(&record)
        .await
        .map_err(|e| anyhow!("could not create the footprint user: {e}"))?;
    Ok(id)
}

/// The stages every store goes through, each adding `n` records; `size` is called after each
/// (and once before the first) and says how big the store is.
#[derive(Debug, Default)]
struct Sizes {
    base: u64,
    sessions: u64,
    families: u64,
    rotations: u64,
    access_tokens: u64,
}

fn report(store: &str, method: &str, n: u32, s: &Sizes) -> FootprintReport {
    let per = |after: u64, before: u64| {
        let grown = after.saturating_sub(before) as f64;
        Some(round(grown / f64::from(n), 1))
    };
    FootprintReport {
        store: store.to_owned(),
        measured: true,
        method: method.to_owned(),
        credentials: n,
        user_agent_bytes: USER_AGENT.len(),
        session_bytes: per(s.sessions, s.base),
        refresh_family_bytes: per(s.families, s.sessions),
        refresh_rotation_bytes: per(s.rotations, s.families),
        access_token_bytes: per(s.access_tokens, s.rotations),
        note: None,
    }
}

/// What the memory store was not measured with, for the report.
pub fn not_measured(store: &str, why: &str) -> FootprintReport {
    FootprintReport {
        store: store.to_owned(),
        measured: false,
        method: String::new(),
        credentials: 0,
        user_agent_bytes: USER_AGENT.len(),
        session_bytes: None,
        refresh_family_bytes: None,
        refresh_rotation_bytes: None,
        access_token_bytes: None,
        note: Some(format!("not measured: {why}")),
    }
}

/// Opens the SQLite store at `path` and the services that write to it.
async fn open_sqlite(
    path: &Path,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<(Arc<SqliteStore>, Sessions, Tokens)> {
    let sqlite = Arc::new(
        SqliteStore::open(path)
            .await
            .map_err(|e| anyhow!("could not open {}: {e}", path.display()))?,
    );
    let store: Arc<dyn Store> = sqlite.clone();
    let sessions = Sessions::new(store.clone(), clock.clone(), SessionPolicy::default());
    let tokens = Tokens::start(store, clock.clone(), JwtPolicy::default())
        .await
        .map_err(|e| anyhow!("could not start the token service: {e}"))?;
    Ok((sqlite, sessions, tokens))
}

/// Measures the SQLite store in a fresh database under `dir`.
pub async fn sqlite(dir: &Path) -> anyhow::Result<FootprintReport> {
    let path = dir.join("footprint.db");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let n = CREDENTIALS;
    let mut sizes = Sizes::default();

    // Stage 0: the schema, the keys, the server secret and one user.
    let (db, _, _) = open_sqlite(&path, &clock).await?;
    let user = bench_user(db.as_ref(), clock.as_ref()).await?;
    db.close().await;
    sizes.base = sqlite_bytes_in_use(&path)?;

    let (db, sessions, _) = open_sqlite(&path, &clock).await?;
    for _ in 0..n {
        sessions
            .start(user, device(), None)
            .await
            .map_err(|e| anyhow!("could not start a session: {e}"))?;
    }
    db.close().await;
    sizes.sessions = sqlite_bytes_in_use(&path)?;

    let (db, _, tokens) = open_sqlite(&path, &clock).await?;
    let mut refresh_tokens = Vec::with_capacity(n as usize);
    let mut sid = String::new();
    for _ in 0..n {
        let issued = tokens
            .issue(user, device())
            .await
            .map_err(|e| anyhow!("could not start a refresh family: {e}"))?;
        let (token, family) = issued
            .refresh
            .ok_or_else(|| anyhow!("a login issued no refresh token"))?;
        sid = family.id.to_string();
        refresh_tokens.push(token.expose().to_owned());
    }
    db.close().await;
    sizes.families = sqlite_bytes_in_use(&path)?;

    let (db, _, tokens) = open_sqlite(&path, &clock).await?;
    for token in &refresh_tokens {
        tokens
            .refresh(token)
            .await
            .map_err(|e| anyhow!("could not rotate a refresh family: {e}"))?;
    }
    db.close().await;
    sizes.rotations = sqlite_bytes_in_use(&path)?;

    // Access tokens: minted and handed out, nothing written (this proves it).
    let (db, _, tokens) = open_sqlite(&path, &clock).await?;
    for _ in 0..n {
        let minted = tokens
            .mint(user, &sid)
            .map_err(|e| anyhow!("could not mint an access token: {e}"))?;
        std::hint::black_box(minted);
    }
    db.close().await;
    sizes.access_tokens = sqlite_bytes_in_use(&path)?;

    Ok(report(
        "sqlite",
        "database pages in use ((page_count - freelist_count) x page_size) after a checkpoint, \
         before and after each stage",
        n,
        &sizes,
    ))
}

/// This process's resident set, from `/proc/self/status` (`VmRSS`, kB).
fn resident_bytes() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("could not read /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| anyhow!("/proc/self/status has no VmRSS"))
}

/// The memory probe, run in a child process of its own: the memory store's growth per record.
pub async fn memory_probe() -> anyhow::Result<FootprintReport> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = tessera_store::connect("memory:")
        .await
        .map_err(|e| anyhow!("could not open the memory store: {e}"))?;
    let sessions = Sessions::new(store.clone(), clock.clone(), SessionPolicy::default());
    let tokens = Tokens::start(store.clone(), clock.clone(), JwtPolicy::default())
        .await
        .map_err(|e| anyhow!("could not start the token service: {e}"))?;
    let user = bench_user(store.as_ref(), clock.as_ref()).await?;
    let n = MEMORY_CREDENTIALS;
    // The refresh tokens the next stages present are the client's, not the store's: their
    // room is taken now, so that keeping them allocates nothing during the stages.
    let mut refresh_tokens: Vec<(usize, [u8; 64])> = Vec::with_capacity(n as usize);
    let mut sizes = Sizes {
        base: resident_bytes()?,
        ..Sizes::default()
    };
    for _ in 0..n {
        sessions
            .start(user, device(), None)
            .await
            .map_err(|e| anyhow!("could not start a session: {e}"))?;
    }
    sizes.sessions = resident_bytes()?;
    let mut sid = String::with_capacity(64);
    for _ in 0..n {
        let issued = tokens
            .issue(user, device())
            .await
            .map_err(|e| anyhow!("could not start a refresh family: {e}"))?;
        let (token, family) = issued
            .refresh
            .ok_or_else(|| anyhow!("a login issued no refresh token"))?;
        sid.clear();
        sid.push_str(&family.id.to_string());
        let text = token.expose().as_bytes();
        let mut kept = [0u8; 64];
        kept.get_mut(..text.len())
            .ok_or_else(|| anyhow!("a refresh token is longer than 64 bytes"))?
            .copy_from_slice(text);
        refresh_tokens.push((text.len(), kept));
    }
    sizes.families = resident_bytes()?;
    for (len, kept) in &refresh_tokens {
        let token = std::str::from_utf8(kept.get(..*len).unwrap_or_default())
            .context("a kept refresh token is not text")?;
        let issued = tokens
            .refresh(token)
            .await
            .map_err(|e| anyhow!("could not rotate a refresh family: {e}"))?;
        std::hint::black_box(issued);
    }
    sizes.rotations = resident_bytes()?;
    for _ in 0..n {
        let minted = tokens
            .mint(user, &sid)
            .map_err(|e| anyhow!("could not mint an access token: {e}"))?;
        std::hint::black_box(minted);
    }
    sizes.access_tokens = resident_bytes()?;
    Ok(report(
        "memory",
        "resident set (VmRSS) growth of a fresh process per record, allocator overhead and \
         hash-table slack included",
        n,
        &sizes,
    ))
}

/// Runs [`memory_probe`] in a child process (this binary, `bench --footprint-probe memory`)
/// and reads its report from the child's stdout.
pub async fn memory() -> anyhow::Result<FootprintReport> {
    let exe = std::env::current_exe().context("could not find the tessera binary")?;
    let run = exe.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&run)
            .args(["bench", "--footprint-probe", "memory"])
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .context("the footprint probe's thread failed")?
    .with_context(|| format!("could not run {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "the memory footprint probe failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("the memory footprint probe's report is not JSON")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn header(page_size: u16, pages: u32, counter: u32, valid_for: u32, free: u32) -> Vec<u8> {
        let mut h = vec![0u8; 100];
        h[..16].copy_from_slice(b"SQLite format 3\0");
        h[16..18].copy_from_slice(&page_size.to_be_bytes());
        h[24..28].copy_from_slice(&counter.to_be_bytes());
        h[28..32].copy_from_slice(&pages.to_be_bytes());
        h[36..40].copy_from_slice(&free.to_be_bytes());
        h[92..96].copy_from_slice(&valid_for.to_be_bytes());
        h
    }

    #[test]
    fn the_header_gives_pages_in_use() {
        let h = parse_header(&header(4096, 10, 7, 7, 2)).unwrap();
        assert_eq!(
            h,
            Header {
                page_size: 4096,
                page_count: 10,
                free_pages: 2
            }
        );
        // 1 means 65536.
        assert_eq!(
            parse_header(&header(1, 3, 1, 1, 0)).unwrap().page_size,
            65_536
        );
        // A stale in-header count: the file's length decides.
        let mut file = header(512, 99, 5, 4, 0);
        file.resize(512 * 6, 0);
        assert_eq!(parse_header(&file).unwrap().page_count, 6);
        assert_eq!(parse_header(b"not a database"), None);
    }

    #[tokio::test]
    async fn sqlite_records_are_measured_and_access_tokens_cost_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = sqlite(dir.path()).await.unwrap();
        assert!(r.measured);
        assert_eq!(r.credentials, CREDENTIALS);
        let session = r.session_bytes.unwrap();
        // At least the secret's hash, the ids and the user agent; under a page each.
        assert!(session > 32.0 + USER_AGENT.len() as f64, "{r:?}");
        assert!(session < 4096.0, "{r:?}");
        let family = r.refresh_family_bytes.unwrap();
        assert!(family > 32.0 + USER_AGENT.len() as f64, "{r:?}");
        assert!(
            r.refresh_rotation_bytes.unwrap() >= 32.0,
            "a token hash per rotation: {r:?}"
        );
        assert_eq!(r.access_token_bytes, Some(0.0), "{r:?}");
        assert!(!dir.path().join("footprint.db-wal").exists());
    }
}
