use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use tessera_core::account::HashingPolicy;

use crate::support::*;

#[tokio::test]
async fn register_returns_the_account() {
    let app = TestApp::memory().await;
    let body = app.register("  Alice@Example.COM ").await;
    assert_eq!(body["email"], "alice@example.com");
    assert!(body["id"].as_str().unwrap().len() >= 32);
    assert!(
        time::OffsetDateTime::parse(
            body["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
}

#[tokio::test]
async fn duplicate_emails_conflict_case_insensitively() {
    let app = TestApp::memory().await;
    app.register("bob@example.com").await;
    let res = app
        .post("/v1/users")
        .json(json!({"email": " BOB@example.com", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(409, "conflict");
}

#[tokio::test]
async fn implausible_emails_and_bad_password_lengths_are_refused() {
    let app = TestApp::memory().await;
    for (email, password) in [
        ("not-an-email", PASSWORD.to_owned()),
        ("a@b", "short".to_owned()),
        ("a@b.example", "x".repeat(1025)),
        (&*format!("{}@x.com", "a".repeat(250)), PASSWORD.to_owned()),
    ] {
        let res = app
            .post("/v1/users")
            .json(json!({"email": email, "password": password}))
            .send()
            .await;
        res.assert_problem(400, "invalid_request");
    }
    assert!(app.tessera.accounts.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let app = TestApp::memory().await;
    let a = app.user_and_login("carol@example.com").await;
    let b = app.login("carol@example.com").await;

    let wrong = app
        .post("/v1/password")
        .auth(&a)
        .json(json!({"current_password": "nope-nope", "new_password": "new password 1"}))
        .send()
        .await;
    wrong.assert_problem(401, "invalid_credentials");
    let short = app
        .post("/v1/password")
        .auth(&a)
        .json(json!({"current_password": PASSWORD, "new_password": "short"}))
        .send()
        .await;
    short.assert_problem(400, "invalid_request");
    let no_csrf = app
        .post("/v1/password")
        .cookie(&a)
        .json(json!({"current_password": PASSWORD, "new_password": "new password 1"}))
        .send()
        .await;
    no_csrf.assert_problem(403, "csrf_failed");
    assert_eq!(
        app.get("/v1/me").cookie(&b).send().await.status,
        StatusCode::OK,
        "nothing changed so far"
    );

    let ok = app
        .post("/v1/password")
        .auth(&a)
        .json(json!({"current_password": PASSWORD, "new_password": "new password 1"}))
        .send()
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text());
    assert_eq!(
        app.get("/v1/me").cookie(&a).send().await.status,
        StatusCode::OK
    );
    app.get("/v1/me")
        .cookie(&b)
        .send()
        .await
        .assert_problem(401, "unauthorized");

    let old = app
        .post("/v1/session/login")
        .json(json!({"email": "carol@example.com", "password": PASSWORD}))
        .send()
        .await;
    old.assert_problem(401, "invalid_credentials");
    let new = app
        .post("/v1/session/login")
        .json(json!({"email": "carol@example.com", "password": "new password 1"}))
        .send()
        .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_email_costs_a_hash_like_a_wrong_password() {
    let app = TestApp::memory().await;
    app.register("dan@example.com").await;
    let hasher = app.tessera.accounts.hasher();
    let before = hasher.runs();
    let res = app
        .post("/v1/session/login")
        .json(json!({"email": "nobody@example.com", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(401, "invalid_credentials");
    assert_eq!(
        hasher.runs(),
        before + 1,
        "an unknown email must be verified against the dummy hash"
    );
    let unknown_body = res.json();
    let res = app
        .post("/v1/session/login")
        .json(json!({"email": "dan@example.com", "password": "wrong password"}))
        .send()
        .await;
    assert_eq!(hasher.runs(), before + 2);
    assert_eq!(
        res.json(),
        unknown_body,
        "unknown email and wrong password must be indistinguishable"
    );
    // Even an implausible email or an over-long password pays for one hash.
    app.post("/v1/session/login")
        .json(json!({"email": "junk", "password": "x".repeat(5000)}))
        .send()
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(hasher.runs(), before + 3);
}

#[tokio::test]
async fn login_rehashes_when_the_parameters_change() {
    let cheap = HashingPolicy {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 2,
    };
    let first = TestApp::builder()
        .sqlite()
        .config(|c| c.password = cheap)
        .build()
        .await;
    first.register("erin@example.com").await;
    let email = tessera_core::account::Email::parse("erin@example.com").unwrap();
    let before = first
        .store
        .user_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(before.as_str().contains("m=64,t=1,p=1"));

    // The same store under a node with the default (stronger) parameters.
    let second = TestApp::builder().store(first.store.clone()).build().await;
    second.login("erin@example.com").await;
    let after = second
        .store
        .user_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(after.as_str().contains("m=19456,t=2,p=1"), "{after:?}");
    // And the new hash still verifies.
    second.login("erin@example.com").await;
    let _keep: Arc<_> = first.tessera.clone();
}
