//! Secrets stay out of the database and out of the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::json;
use sqlx::Row;

use crate::support::*;

#[tokio::test]
async fn the_database_holds_no_plaintext_secret() {
    let app = TestApp::sqlite().await;
    let login = app.user_and_login("a@example.com").await;
    assert_eq!(
        app.get("/v1/me").cookie(&login).send().await.status,
        StatusCode::OK
    );

    let pool = app.sqlite.as_ref().unwrap().pool();
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    assert!(tables.iter().any(|t| t == "sessions"), "{tables:?}");
    let mut dump = Vec::<u8>::new();
    for t in &tables {
        for row in // Table names come from sqlite_master, not from input.
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{t}\"")))
                .fetch_all(pool)
                .await
                .unwrap()
        {
            for i in 0..row.len() {
                if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                    dump.extend_from_slice(s.as_bytes());
                } else if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    dump.extend_from_slice(&b);
                }
                dump.push(b'\n');
            }
        }
    }
    let dump = String::from_utf8_lossy(&dump);
    assert!(
        dump.contains("a@example.com"),
        "the dump must have read the tables"
    );
    for secret in [login.secret.as_str(), login.csrf.as_str(), PASSWORD] {
        assert!(!dump.contains(secret), "a secret is stored in plain text");
    }
    // Also check the raw file bytes, WAL included.
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(app.sqlite_dir()).unwrap() {
        raw.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let raw = String::from_utf8_lossy(&raw);
    for secret in [login.secret.as_str(), login.csrf.as_str(), PASSWORD] {
        assert!(!raw.contains(secret), "a secret is in the database files");
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per test binary, a global TRACE subscriber writing into a buffer. Global, not
/// scoped: a scoped subscriber misses events whose callsites other test threads registered first.
/// Every test's logs land in it, which only widens what this test checks.
fn capture_all_logs() -> Captured {
    static CAPTURE: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let captured = Captured::default();
            let sink = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || sink.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
        .clone()
}

#[tokio::test]
async fn no_secret_appears_in_the_logs() {
    let captured = capture_all_logs();

    let app = TestApp::sqlite().await;
    let login = app.user_and_login("a@example.com").await;
    app.get("/v1/me").cookie(&login).send().await;
    app.get("/v1/sessions").cookie(&login).send().await;
    app.post("/v1/password")
        .auth(&login)
        .json(json!({"current_password": PASSWORD, "new_password": "the new password"}))
        .send()
        .await;
    app.post("/v1/session/login")
        .json(json!({"email": "a@example.com", "password": "a wrong password"}))
        .send()
        .await;
    app.post("/v1/session/logout").auth(&login).send().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("session login"),
        "the capture must have seen the requests:\n{logs}"
    );
    for secret in [
        login.secret.as_str(),
        login.csrf.as_str(),
        PASSWORD,
        "the new password",
        "a wrong password",
    ] {
        assert!(!logs.contains(secret), "{secret:?} leaked into the logs");
    }
}
