use axum::http::StatusCode;
use serde_json::json;
use time::Duration;

use crate::support::*;

fn wrong(email: &str) -> serde_json::Value {
    json!({"email": email, "password": "wrong password"})
}

#[tokio::test]
async fn forty_wrong_passwords_are_throttled_with_retry_after() {
    let app = TestApp::sqlite().await;
    app.register("a@example.com").await;
    let mut limited = None;
    for i in 0..40 {
        let res = app
            .post("/v1/session/login")
            .json(wrong("a@example.com"))
            .send()
            .await;
        match res.status.as_u16() {
            401 => res.assert_problem(401, "invalid_credentials"),
            429 => {
                res.assert_problem(429, "rate_limited");
                let after: u64 = res.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=900).contains(&after), "{after}");
                limited.get_or_insert(i);
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(limited, Some(10), "the 11th attempt is refused");
    // Even the right password is refused while the limit holds, without hashing.
    let runs = app.tessera.accounts.hasher().runs();
    let res = app
        .post("/v1/session/login")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(429, "rate_limited");
    assert_eq!(app.tessera.accounts.hasher().runs(), runs);
    // Another address is not affected; the window passes.
    let res = app
        .post("/v1/session/login")
        .peer("198.51.100.1:5000")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        app.post("/v1/session/login")
            .json(json!({"email": "a@example.com", "password": PASSWORD}))
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_success_resets_the_account_count() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    for _ in 0..9 {
        app.post("/v1/session/login")
            .json(wrong("a@example.com"))
            .send()
            .await
            .assert_problem(401, "invalid_credentials");
    }
    app.login("a@example.com").await;
    for _ in 0..9 {
        app.post("/v1/session/login")
            .json(wrong("a@example.com"))
            .send()
            .await
            .assert_problem(401, "invalid_credentials");
    }
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_throttled() {
    let app = TestApp::builder()
        .config(|c| c.limits.per_address = 20)
        .build()
        .await;
    for i in 0..20 {
        app.post("/v1/session/login")
            .json(wrong(&format!("u{i}@example.com")))
            .send()
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let res = app
        .post("/v1/session/login")
        .json(wrong("u99@example.com"))
        .send()
        .await;
    res.assert_problem(429, "rate_limited");
    assert!(res.header("retry-after").is_some());
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let app = TestApp::builder()
        .config(|c| c.limits.per_account = 3)
        .http(|h| h.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()])
        .build()
        .await;
    app.register("a@example.com").await;
    // Through the trusted proxy, each forwarded client has its own count.
    for client in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..3 {
            let res = app
                .post("/v1/session/login")
                .peer("10.0.0.1:1")
                .header("x-forwarded-for", client)
                .json(wrong("a@example.com"))
                .send()
                .await;
            res.assert_problem(401, "invalid_credentials");
        }
        let res = app
            .post("/v1/session/login")
            .peer("10.0.0.1:1")
            .header("x-forwarded-for", client)
            .json(wrong("a@example.com"))
            .send()
            .await;
        res.assert_problem(429, "rate_limited");
    }
    // From an untrusted peer, a rotating X-Forwarded-For does not escape the limit.
    for i in 0..3 {
        let res = app
            .post("/v1/session/login")
            .peer("203.0.113.5:1")
            .header("x-forwarded-for", &format!("192.0.2.{i}"))
            .json(wrong("a@example.com"))
            .send()
            .await;
        res.assert_problem(401, "invalid_credentials");
    }
    let res = app
        .post("/v1/session/login")
        .peer("203.0.113.5:1")
        .header("x-forwarded-for", "192.0.2.200")
        .json(wrong("a@example.com"))
        .send()
        .await;
    res.assert_problem(429, "rate_limited");
    // The session records the resolved client address.
    let ok = app
        .post("/v1/session/login")
        .peer("10.0.0.1:1")
        .header("x-forwarded-for", "198.51.100.77")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await;
    let login = Login::from_response(&ok);
    let s = app.get("/v1/session").cookie(&login).send().await.json();
    assert_eq!(s["session"]["ip"], "198.51.100.77");
}
