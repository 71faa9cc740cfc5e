#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `tessera` binary as users run it: `serve`, `user add`, `user list`, bad configuration.
//! Each test runs the real binary in its own temporary directory, bounded by timeouts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");
/// Generous: a loaded CI machine may be slow to start the binary, never this slow.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `tessera` command in `dir`, with none of the caller's `TESSERA_*` variables, so the
/// environment the tests run in cannot change what they see.
fn tessera(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key
            .to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("TESSERA_")
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a command to completion, feeding `stdin`, within a time limit.
fn run(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    wait_with_timeout(child, START_TIMEOUT)
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("the command did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `tessera serve`, killed if a test fails before stopping it.
struct Server {
    child: Option<Child>,
    line: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Self {
        let mut child = tessera(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", "sqlite://data/tessera.db"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = line_tx.send(line.unwrap_or_default());
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        let mut stderr = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr.read_to_string(&mut all);
            let _ = err_tx.send(all);
        });
        let mut server = Self {
            child: Some(child),
            line: String::new(),
            stderr: err_rx,
        };
        match line_rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => server.line = line,
            Err(_) => {
                let stderr = server.kill();
                panic!("serve printed no listen line; stderr:\n{stderr}");
            }
        }
        server
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration, String) {
        let child = self.child.take().unwrap();
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = wait_with_timeout(child, STOP_TIMEOUT);
        let stderr = self.stderr.recv_timeout(STOP_TIMEOUT).unwrap_or_default();
        (out.status, sent.elapsed(), stderr)
    }

    fn kill(&mut self) -> String {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
        self.stderr.recv_timeout(STOP_TIMEOUT).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// One HTTP/1.1 GET on an open connection; returns the status code. Reads exactly the
/// response (by Content-Length) so the connection stays usable for keep-alive.
fn get(stream: &mut TcpStream, port: u16, path: &str) -> u16 {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {status_line:?}"))
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    stream.set_read_timeout(Some(STOP_TIMEOUT)).unwrap();
    stream
}

#[test]
fn serve_prints_where_it_listens_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let port = free_port();
    let mut server = Server::start(dir.path(), port);

    assert!(
        server
            .line
            .starts_with(&format!("tessera listening on http://127.0.0.1:{port} (")),
        "{}",
        server.line
    );
    assert!(
        server.line.contains("store: sqlite ./data/tessera.db"),
        "{}",
        server.line
    );
    assert!(
        server.line.contains("sessions: idle 30m, absolute 12h"),
        "{}",
        server.line
    );
    assert!(dir.path().join("data/tessera.db").exists());

    // A client keeps its connection open: shutdown must still be prompt.
    let mut idle = connect(port);
    assert_eq!(get(&mut idle, port, "/healthz"), 200);

    let (status, took, stderr) = server.terminate();
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[test]
fn a_bad_env_value_stops_serve_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tessera(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("TESSERA_SESSION__IDLE_TIMEOUT", "soon")
        .env("TESSERA_TEST_POSTGRES", "postgres://not/a/key");
    let out = run(cmd, "");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(stderr.contains("`session.idle_timeout`"), "{stderr}");
    assert!(
        stderr.contains("environment variable `TESSERA_SESSION__IDLE_TIMEOUT`"),
        "{stderr}"
    );
}

#[test]
fn serve_fails_cleanly_when_the_port_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = tessera(dir.path());
    cmd.args(["serve", "--database", "memory:", "--listen", &addr]);
    let out = run(cmd, "");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("could not listen on {addr}")),
        "{stderr}"
    );
}

#[test]
fn user_add_reads_the_password_from_stdin_and_user_list_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = ["--database", "sqlite://users.db"];

    let mut add = tessera(dir.path());
    add.args(["user", "add", "Ada@Example.com"]).args(db);
    let out = run(add, "correct horse battery staple\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("added user"),
        "{}",
        text(&out.stdout)
    );

    let mut again = tessera(dir.path());
    again.args(["user", "add", "ada@example.com"]).args(db);
    let out = run(again, "another password\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("exists"),
        "{}",
        text(&out.stderr)
    );

    let mut list = tessera(dir.path());
    list.args(["user", "list"]).args(db);
    let out = run(list, "");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.lines().next().unwrap().contains("EMAIL"), "{stdout}");
    assert!(stdout.contains("ada@example.com"), "{stdout}");
    assert!(stdout.contains("1 user"), "{stdout}");
    assert!(!stdout.contains("horse"), "{stdout}");
}

#[test]
fn user_add_refuses_a_short_password_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut add = tessera(dir.path());
    add.args([
        "user",
        "add",
        "bob@example.com",
        "--database",
        "sqlite://u.db",
    ]);
    let out = run(add, "short\n");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("password must be at least 8 bytes"),
        "{stderr}"
    );

    let mut list = tessera(dir.path());
    list.args(["user", "list", "--database", "sqlite://u.db"]);
    let out = run(list, "");
    assert!(
        text(&out.stdout).contains("0 users"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let mut version = tessera(dir.path());
    version.arg("--version");
    let out = run(version, "");
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("tessera {}", env!("CARGO_PKG_VERSION"))
    );

    let mut help = tessera(dir.path());
    help.args(["user", "add", "--help"]);
    let out = run(help, "");
    assert!(out.status.success());
    assert!(
        !text(&out.stdout).contains("--password"),
        "no password flag"
    );
}

#[test]
fn bench_measures_every_mode_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut bench = tessera(dir.path());
    bench
        .args(["bench", "--duration", "300ms", "--warmup", "0s"])
        .args(["--connections", "4", "--out"])
        .arg(&out)
        .args([
            "--modes",
            "session-sqlite,session-memory,jwt-eddsa,jwt-hs256-cold",
        ]);
    let started = Instant::now();
    let run = run(bench, "");
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let all = [
        "healthz",
        "session-sqlite",
        "session-memory",
        "jwt-eddsa",
        "jwt-hs256-cold",
    ];

    // The table: a header and one row per mode, the baseline (added) first.
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("MODE "))
        .unwrap_or_else(|| panic!("no table header:\n{stdout}"));
    for column in [
        "REQ/S",
        "P50",
        "P99",
        "P99.9",
        "ERRORS",
        "VS HEALTHZ",
        "CPU/REQ",
        "VERIFY/CORE",
        "COLD EFF",
        "COLD EFF CPU",
    ] {
        assert!(lines[header].contains(column), "{stdout}");
    }
    for (i, mode) in all.iter().enumerate() {
        assert!(
            lines[header + 1 + i].starts_with(&format!("{mode} ")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("VERIFY/CORE: the signature check alone"),
        "{stdout}"
    );
    assert!(
        stderr.contains("EdDSA signature check alone:")
            && stderr.contains("HS256 signature check alone:"),
        "{stderr}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "tessera-bench/2");
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1, "{json}");
    assert_eq!(json["config"]["connections"], 4);
    assert_eq!(json["config"]["duration_ms"], 300);
    assert_eq!(json["baseline"], "healthz");
    let modes = json["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, all);
    for m in modes {
        for field in [
            "name",
            "rps",
            "p50_us",
            "p99_us",
            "p999_us",
            "errors",
            "ratio_to_baseline",
            "credential_bytes",
            "cpu_us_per_request",
            "verify_per_core_rps",
            "cold_efficiency",
            "cold_efficiency_cpu",
        ] {
            assert!(m.get(field).is_some(), "{field} missing: {m}");
        }
        assert!(m["rps"].as_f64().unwrap() > 0.0, "{m}");
        assert_eq!(m["errors"], 0, "{m}");
        assert!(
            m["p50_us"].as_u64().unwrap() <= m["p99_us"].as_u64().unwrap(),
            "{m}"
        );
    }
    let [healthz, session, _, warm, cold] = modes.as_slice() else {
        panic!("{json}");
    };
    assert_eq!(healthz["ratio_to_baseline"], 1.0);
    assert_eq!(healthz["credential_bytes"], 0);
    assert!(healthz["verify_per_core_rps"].is_null(), "{healthz}");
    assert!(session["verify_per_core_rps"].is_null(), "{session}");
    assert!(
        session["credential_bytes"].as_u64().unwrap() > "Cookie: tessera_session=\r\n".len() as u64,
        "{session}"
    );
    for jwt in [warm, cold] {
        assert!(jwt["store"].is_null(), "{jwt}");
        assert!(jwt["verify_per_core_rps"].as_f64().unwrap() > 0.0, "{jwt}");
        // The whole `Authorization: Bearer <header>.<claims>.<signature>\r\n` line.
        assert!(
            jwt["credential_bytes"].as_u64().unwrap()
                > "Authorization: Bearer \r\n".len() as u64 + 200,
            "{jwt}"
        );
    }
    assert!(warm["cold_efficiency"].is_null(), "{warm}");
    assert!(warm["cold_efficiency_cpu"].is_null(), "{warm}");
    // Only Ed25519 signatures are batched: none of these modes queued one while measured
    // but, perhaps, the warm EdDSA mode's first sight of each connection's token.
    for m in [healthz, session, cold] {
        assert!(m["signature_batches"].is_null(), "{m}");
    }
    assert!(cold["cold_efficiency"].as_f64().unwrap() > 0.0, "{cold}");
    assert!(
        cold["cold_efficiency_cpu"].as_f64().unwrap() > 0.0,
        "{cold}"
    );

    // Per mode: what the store keeps, login, refresh (JWT) and revocation costs.
    for m in modes {
        for field in [
            "store_bytes_per_credential",
            "store_bytes_per_login",
            "store_bytes_per_refresh",
            "login",
            "refresh",
            "revocation",
        ] {
            assert!(m.get(field).is_some(), "{field} missing: {m}");
        }
    }
    assert!(healthz["login"].is_null() && healthz["revocation"].is_null());
    let session_memory = &modes[2];
    for with_credential in [session, session_memory, warm, cold] {
        let login = &with_credential["login"];
        assert!(
            login["mean_ms"].as_f64().unwrap() > 0.0,
            "{with_credential}"
        );
        assert!(login["cpu_ms"].as_f64().unwrap() > 0.0, "{with_credential}");
        let r = &with_credential["revocation"];
        assert_eq!(r["accepted_after_revoke"], 0, "{with_credential}");
        assert!(r["requests_after_revoke"].as_u64().unwrap() > 0, "{r}");
        assert!(r["rejection_p50_us"].is_u64(), "{r}");
        assert!(
            with_credential["store_bytes_per_login"].as_f64().unwrap() > 32.0,
            "at least a secret's hash: {with_credential}"
        );
    }
    assert!(session["refresh"].is_null(), "{session}");
    assert!(
        session["store_bytes_per_credential"].as_f64().unwrap() > 32.0,
        "{session}"
    );
    for jwt in [warm, cold] {
        assert_eq!(jwt["store_bytes_per_credential"], 0.0, "{jwt}");
        assert!(
            jwt["store_bytes_per_refresh"].as_f64().unwrap() > 0.0,
            "{jwt}"
        );
        let refresh = &jwt["refresh"];
        assert!(refresh["refreshes"].as_u64().unwrap() > 0, "{refresh}");
        assert!(refresh["per_second"].as_f64().unwrap() > 0.0, "{refresh}");
        assert_eq!(refresh["errors"], 0, "{refresh}");
    }
    // The run's phases: one hash alone, the login flood, the stores' footprint.
    let hashing = &json["hashing"];
    assert!(hashing["hash_ms"].as_f64().unwrap() > 0.0, "{hashing}");
    assert!(hashing["slots"].as_u64().unwrap() >= 1, "{hashing}");
    assert!(hashing["bound_per_s"].as_f64().unwrap() > 0.0, "{hashing}");
    assert!(
        hashing["parallel_per_s"].as_f64().unwrap() > 0.0,
        "{hashing}"
    );
    let flood = &json["login_flood"];
    assert_eq!(flood["mode"], "session-sqlite", "{flood}");
    assert_eq!(flood["login_errors"], 0, "{flood}");
    assert_eq!(flood["me_errors"], 0, "{flood}");
    assert!(flood["me_rps"].as_f64().unwrap() > 0.0, "{flood}");
    for field in [
        "logins_per_s",
        "ratio_to_bound",
        "me_ratio",
        "bound_per_s",
        "alone_logins_per_s",
        "alone_ratio_to_bound",
    ] {
        assert!(flood[field].is_number(), "{field}: {flood}");
    }
    let footprint = json["footprint"].as_array().unwrap();
    let stores: Vec<&str> = footprint
        .iter()
        .map(|f| f["store"].as_str().unwrap())
        .collect();
    assert_eq!(stores, ["sqlite", "memory"], "{json}");
    assert_eq!(footprint[0]["measured"], true);
    assert_eq!(footprint[0]["access_token_bytes"], 0.0);

    // The comparison table, a column per mode but the baseline.
    let compared = lines
        .iter()
        .find(|l| l.starts_with("SESSIONS VS JWT, MEASURED"))
        .unwrap_or_else(|| panic!("no comparison table:\n{stdout}"));
    assert!(compared.ends_with("jwt-hs256-cold"), "{stdout}");
    assert!(!compared.contains("healthz"), "{stdout}");
    for row in [
        "server stores per credential",
        "login (argon2id)",
        "refresh p50",
        "revoked → 401",
        "accepted after revoke",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(row)),
            "no {row:?}:\n{stdout}"
        );
    }
    assert!(stdout.contains("login flood on session-sqlite"), "{stdout}");

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| session-memory |"), "{md}");
    assert!(md.contains("| jwt-hs256-cold |"), "{md}");
    assert!(md.contains("| SESSIONS VS JWT, MEASURED |"), "{md}");
    let svg = std::fs::read_to_string(out.join("report.svg")).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    for mode in all {
        assert!(svg.contains(&format!(">{mode}</text>")), "{svg}");
    }
}

#[test]
fn bench_refuses_an_unknown_mode_and_names_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut bench = tessera(dir.path());
    bench.args(["bench", "--modes", "healthz,jwt-nope"]);
    let out = run(bench, "");
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("jwt-nope"), "{stderr}");
    for valid in [
        "all",
        "healthz",
        "session-sqlite",
        "session-memory",
        "jwt-hs256",
        "jwt-eddsa",
        "jwt-es256",
        "jwt-rs256",
        "jwt-hs256-cold",
        "jwt-eddsa-cold",
        "jwt-es256-cold",
        "jwt-rs256-cold",
    ] {
        assert!(stderr.contains(valid), "{valid}: {stderr}");
    }
}

/// The keys of a store, as `tessera keys list` prints them: (kid, algorithm, state).
fn key_table(dir: &Path, db: &[&str]) -> Vec<(String, String, String)> {
    let mut list = tessera(dir);
    list.args(["keys", "list"]).args(db);
    let out = run(list, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .skip(1)
        .filter(|l| !l.ends_with("key(s)"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect()
}

#[test]
fn keys_list_rotate_import_and_retire() {
    let dir = tempfile::tempdir().unwrap();
    let db = ["--database", "sqlite://keys.db"];
    let first = key_table(dir.path(), &db);
    let mut states: Vec<&str> = first.iter().map(|k| k.2.as_str()).collect();
    states.sort_unstable();
    assert_eq!(states, ["active", "next"], "{first:?}");
    assert!(first.iter().all(|k| k.1 == "EdDSA"));
    // Both were made in the same second, so list order says nothing: name them by state.
    let kid_in = |keys: &[(String, String, String)], state: &str| {
        keys.iter()
            .find(|k| k.2 == state)
            .map(|k| k.0.clone())
            .unwrap()
    };
    let (old_active, old_next) = (kid_in(&first, "active"), kid_in(&first, "next"));

    let mut rotate = tessera(dir.path());
    rotate.args(["keys", "rotate"]).args(db);
    let out = run(rotate, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&old_next),
        "the old next key now signs"
    );
    let after = key_table(dir.path(), &db);
    let state_of = |kid: &str| after.iter().find(|k| k.0 == kid).map(|k| k.2.clone());
    assert_eq!(state_of(&old_active).as_deref(), Some("retiring"));
    assert_eq!(state_of(&old_next).as_deref(), Some("active"));
    assert_eq!(after.iter().filter(|k| k.2 == "next").count(), 1);

    // An RSA key from a PEM file becomes the next key, replacing the generated one.
    let pem = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tessera-core/tests/data/rsa2048.pem"
    );
    let mut import = tessera(dir.path());
    import.args(["keys", "import", pem]).args(db);
    let out = run(import, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let imported = key_table(dir.path(), &db);
    let next: Vec<_> = imported.iter().filter(|k| k.2 == "next").collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].1, "RS256");

    let mut retire = tessera(dir.path());
    retire.args(["keys", "retire", &old_active]).args(db);
    let out = run(retire, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last = key_table(dir.path(), &db);
    assert_eq!(
        last.iter()
            .find(|k| k.0 == old_active)
            .map(|k| k.2.as_str()),
        Some("retired")
    );

    // The active key cannot be retired; an unknown kid is an error (even one that looks
    // like a flag: base64url kids may begin with '-').
    for kid in [old_next.as_str(), "no-such-kid", "-no-such-kid"] {
        let mut retire = tessera(dir.path());
        retire.args(["keys", "retire", kid]).args(db);
        let out = run(retire, "");
        assert!(!out.status.success(), "retiring {kid} must fail");
        assert!(
            text(&out.stderr).contains("could not retire"),
            "{}",
            text(&out.stderr)
        );
    }
}
