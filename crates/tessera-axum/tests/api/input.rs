//! Bad input of every kind: a 4xx problem+json, nothing changed, the server still healthy.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

async fn still_healthy(app: &TestApp) {
    assert_eq!(app.get("/healthz").send().await.status, StatusCode::OK);
    assert_eq!(app.get("/readyz").send().await.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let app = TestApp::memory().await;
    let cases: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        br#"{"email": 5, "password": "correct horse"}"#.to_vec(),
        br#"{"email": "a@example.com"}"#.to_vec(),
        br#"{"email": "a@example.com", "password": ["x"]}"#.to_vec(),
        // Not UTF-8 inside a string.
        b"{\"email\": \"a\xff\xfe@example.com\", \"password\": \"correct horse\"}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
    ];
    for body in cases {
        for path in ["/v1/users", "/v1/session/login"] {
            let res = app
                .post(path)
                .raw("application/json", body.clone())
                .send()
                .await;
            res.assert_problem(400, "invalid_request");
        }
    }
    assert!(app.tessera.accounts.list().await.unwrap().is_empty());
    still_healthy(&app).await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = TestApp::memory().await;
    let res = app
        .post("/v1/users")
        .json(json!({"email": "a@example.com", "password": PASSWORD, "admin": true}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = TestApp::memory().await;
    let body =
        serde_json::to_vec(&json!({"email": "a@example.com", "password": PASSWORD})).unwrap();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "nonsense",
    ] {
        app.post("/v1/users")
            .raw(ct, body.clone())
            .send()
            .await
            .assert_problem(415, "unsupported_media_type");
    }
    let mut req = app.post("/v1/users");
    req = req.header("content-length", &body.len().to_string());
    req.send()
        .await
        .assert_problem(415, "unsupported_media_type");
    // A charset parameter and the +json suffix are fine.
    let res = app
        .post("/v1/users")
        .raw("application/json; charset=utf-8", body.clone())
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert!(app.tessera.accounts.list().await.unwrap().len() == 1);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::memory().await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(200 * 1024)});
    app.post("/v1/users")
        .json(huge.clone())
        .send()
        .await
        .assert_problem(413, "payload_too_large");
    app.post("/v1/session/login")
        .json(huge)
        .send()
        .await
        .assert_problem(413, "payload_too_large");
    // Just under the limit is read (and then refused for the password length).
    let big = json!({"email": "a@example.com", "password": "x".repeat(60 * 1024)});
    app.post("/v1/users")
        .json(big)
        .send()
        .await
        .assert_problem(400, "invalid_request");
    assert!(app.tessera.accounts.list().await.unwrap().is_empty());
    still_healthy(&app).await;
}

#[tokio::test]
async fn oversized_cookies_are_refused_not_crashed_on() {
    let app = TestApp::memory().await;
    let login = app.user_and_login("a@example.com").await;
    let ten_kib = format!("tessera_session={}", "A".repeat(10 * 1024));
    app.get("/v1/me")
        .header("cookie", &ten_kib)
        .send()
        .await
        .assert_problem(401, "unauthorized");
    // A huge unrelated cookie does not hide the real one.
    let both = format!("junk={}; {}", "j".repeat(10 * 1024), login.cookie());
    assert_eq!(
        app.get("/v1/me")
            .header("cookie", &both)
            .send()
            .await
            .status,
        StatusCode::OK
    );
    let junk_csrf = "x".repeat(10 * 1024);
    app.post("/v1/session/logout")
        .cookie(&login)
        .header("x-csrf-token", &junk_csrf)
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    still_healthy(&app).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::memory().await;
    app.get("/nope")
        .send()
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/users/whatever/deeper")
        .send()
        .await
        .assert_problem(404, "not_found");
    let res = app.get("/v1/users").send().await;
    res.assert_problem(405, "method_not_allowed");
    assert!(
        res.header("allow").is_some_and(|a| a.contains("POST")),
        "{:?}",
        res.headers
    );
    app.req(axum::http::Method::PUT, "/v1/me")
        .send()
        .await
        .assert_problem(405, "method_not_allowed");
    app.delete("/v1/sessions")
        .send()
        .await
        .assert_problem(405, "method_not_allowed");
    still_healthy(&app).await;
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::memory().await;
    for res in [
        app.get("/healthz").send().await,
        app.get("/v1/me").send().await,
        app.get("/nope").send().await,
    ] {
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert!(res.header("content-security-policy").is_some());
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint() {
    let app = TestApp::memory().await;
    let doc = app.get("/openapi.json").send().await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path) in [
        ("post", "/v1/users"),
        ("post", "/v1/session/login"),
        ("get", "/v1/session"),
        ("post", "/v1/session/logout"),
        ("get", "/v1/sessions"),
        ("delete", "/v1/sessions/{id}"),
        ("get", "/v1/me"),
        ("post", "/v1/password"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("post", "/v1/token"),
        ("post", "/v1/token/revoke"),
        ("post", "/v1/token/introspect"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/.well-known/openid-configuration"),
        ("get", "/v1/verify"),
        ("post", "/v1/session/token"),
        ("post", "/v1/logout-all"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    for scheme in [
        "session_cookie",
        "access_cookie",
        "bearer",
        "introspection_secret",
        "metrics_secret",
    ] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }
    // Every route the router serves is documented, and nothing else.
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, 19);
}
