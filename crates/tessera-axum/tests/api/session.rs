use axum::http::StatusCode;
use serde_json::json;
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn login_sets_a_hardened_cookie_and_returns_the_session() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    let res = app
        .post("/v1/session/login")
        .json(json!({"email": "A@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let line = res.set_cookie("tessera_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(line.contains(flag), "{line} lacks {flag}");
    }
    assert!(
        !line.contains("Secure"),
        "plain http must not get Secure: {line}"
    );
    let secret = res.cookie("tessera_session").unwrap();
    assert_eq!(secret.len(), 43, "256 bits as base64url");
    let body = res.json();
    assert_eq!(body["user"]["email"], "a@example.com");
    let session = &body["session"];
    assert_ne!(
        session["id"].as_str().unwrap(),
        secret,
        "the public handle is not the secret"
    );
    assert!(
        !res.text().contains(&secret),
        "the secret is only in the cookie"
    );
    assert_eq!(session["expires_at"], "2026-01-01T12:00:00Z");
    assert_eq!(session["idle_expires_at"], "2026-01-01T00:30:00Z");
    assert_eq!(session["created_at"], "2026-01-01T00:00:00Z");
    assert!(body["csrf_token"].as_str().unwrap().len() >= 43);
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn https_public_urls_get_secure_cookies_and_the_name_is_configurable() {
    let app = TestApp::builder()
        .http(|h| {
            h.secure_cookies = true;
            h.cookie_name = "sid".into();
        })
        .build()
        .await;
    app.register("a@example.com").await;
    let res = app
        .post("/v1/session/login")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await;
    let line = res.set_cookie("sid").unwrap();
    assert!(line.contains("; Secure"), "{line}");
    let me = app
        .get("/v1/me")
        .header("cookie", &format!("sid={}", res.cookie("sid").unwrap()))
        .send()
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn me_and_session_show_the_caller() {
    let app = TestApp::memory().await;
    let login = app.user_and_login("a@example.com").await;
    let me = app
        .get("/v1/me")
        .cookie(&login)
        .header("user-agent", "test-agent/1")
        .send()
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let body = me.json();
    assert_eq!(body["user"]["email"], "a@example.com");
    assert_eq!(body["user"]["id"], login.user_id.as_str());
    assert_eq!(body["auth"]["mode"], "session");
    assert_eq!(body["auth"]["expires_at"], "2026-01-01T00:30:00Z");

    let s = app.get("/v1/session").cookie(&login).send().await.json();
    assert_eq!(s["session"]["id"], login.session_id.as_str());
    assert_eq!(s["csrf_token"], login.csrf.as_str());
    for f in [
        "created_at",
        "last_seen_at",
        "expires_at",
        "idle_expires_at",
        "user_agent",
        "ip",
    ] {
        assert!(s["session"].get(f).is_some(), "missing {f}");
    }
    assert_eq!(s["session"]["ip"], "127.0.0.1");

    app.get("/v1/me")
        .send()
        .await
        .assert_problem(401, "unauthorized");
    app.get("/v1/session")
        .send()
        .await
        .assert_problem(401, "unauthorized");
    let forged = "tessera_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    app.get("/v1/me")
        .header("cookie", forged)
        .send()
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn a_preset_cookie_is_replaced_at_login() {
    let app = TestApp::memory().await;
    // An attacker's live session planted in the victim's browser, and a made-up value.
    let planted = app.user_and_login("mallory@example.com").await;
    app.register("victim@example.com").await;
    for preset in [
        planted.cookie(),
        "tessera_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        let res = app
            .post("/v1/session/login")
            .header("cookie", &preset)
            .json(json!({"email": "victim@example.com", "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK);
        let fresh = res.cookie("tessera_session").unwrap();
        assert_ne!(
            format!("tessera_session={fresh}"),
            preset,
            "the login must issue a new secret"
        );
        let me = app
            .get("/v1/me")
            .header("cookie", &format!("tessera_session={fresh}"))
            .send()
            .await;
        assert_eq!(me.json()["user"]["email"], "victim@example.com");
    }
    // The planted session was ended with the login that replaced it.
    app.get("/v1/me")
        .cookie(&planted)
        .send()
        .await
        .assert_problem(401, "unauthorized");
    // A second login of the same user also rotates.
    let a = app.login("victim@example.com").await;
    let b = app.login("victim@example.com").await;
    assert_ne!(a.secret, b.secret);
}

#[tokio::test]
async fn logout_needs_csrf_then_deletes_and_clears() {
    let app = TestApp::memory().await;
    let login = app.user_and_login("a@example.com").await;
    app.post("/v1/session/logout")
        .cookie(&login)
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    app.post("/v1/session/logout")
        .cookie(&login)
        .header("x-csrf-token", "wrong")
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    assert_eq!(
        app.get("/v1/me").cookie(&login).send().await.status,
        StatusCode::OK,
        "a refused logout changes nothing"
    );

    let res = app.post("/v1/session/logout").auth(&login).send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let line = res.set_cookie("tessera_session").unwrap();
    assert!(line.contains("Max-Age=0"), "{line}");
    app.get("/v1/me")
        .cookie(&login)
        .send()
        .await
        .assert_problem(401, "unauthorized");
    // Idempotent.
    assert_eq!(
        app.post("/v1/session/logout")
            .auth(&login)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn devices_are_listed_and_revoked_with_csrf_and_ownership_checks() {
    let app = TestApp::sqlite().await;
    let a1 = app.user_and_login("a@example.com").await;
    let a2 = app.login("a@example.com").await;
    let b = app.user_and_login("b@example.com").await;

    let list = app.get("/v1/sessions").cookie(&a1).send().await.json();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        assert_eq!(s["kind"], "session");
        assert_eq!(s["current"], s["id"] == a1.session_id.as_str());
        for f in [
            "created_at",
            "last_seen_at",
            "expires_at",
            "idle_expires_at",
            "user_agent",
            "ip",
        ] {
            assert!(s.get(f).is_some(), "missing {f}");
        }
    }

    let path = format!("/v1/sessions/{}", a2.session_id);
    app.delete(&path)
        .cookie(&a1)
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    app.delete(&path)
        .cookie(&a1)
        .header("x-csrf-token", &a2.csrf)
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    assert_eq!(
        app.get("/v1/me").cookie(&a2).send().await.status,
        StatusCode::OK,
        "refused deletes change nothing"
    );

    // Another user's session: 404, and it survives.
    let other = format!("/v1/sessions/{}", b.session_id);
    app.delete(&other)
        .auth(&a1)
        .send()
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/me").cookie(&b).send().await.status,
        StatusCode::OK
    );
    app.delete("/v1/sessions/not-a-uuid")
        .auth(&a1)
        .send()
        .await
        .assert_problem(404, "not_found");

    let res = app.delete(&path).auth(&a1).send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(
        res.set_cookie("tessera_session").is_none(),
        "revoking another device keeps this cookie"
    );
    app.get("/v1/me")
        .cookie(&a2)
        .send()
        .await
        .assert_problem(401, "unauthorized");
    app.delete(&path)
        .auth(&a1)
        .send()
        .await
        .assert_problem(404, "not_found");

    // Revoking the current session clears its cookie.
    let own = format!("/v1/sessions/{}", a1.session_id);
    let res = app.delete(&own).auth(&a1).send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(
        res.set_cookie("tessera_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    app.get("/v1/me")
        .cookie(&a1)
        .send()
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn idle_expiry_slides_with_use_and_ends_a_session_left_alone() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        let login = app.user_and_login("a@example.com").await;
        for _ in 0..4 {
            app.clock.advance(Duration::minutes(29));
            assert_eq!(
                app.get("/v1/me").cookie(&login).send().await.status,
                StatusCode::OK
            );
        }
        let s = app.get("/v1/session").cookie(&login).send().await.json();
        assert_eq!(s["session"]["last_seen_at"], "2026-01-01T01:56:00Z");
        assert_eq!(s["session"]["idle_expires_at"], "2026-01-01T02:26:00Z");
        app.clock.advance(Duration::minutes(30));
        app.get("/v1/me")
            .cookie(&login)
            .send()
            .await
            .assert_problem(401, "unauthorized");
        assert!(
            app.get("/v1/sessions").cookie(&login).send().await.status == StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn absolute_expiry_ends_even_a_busy_session() {
    let app = TestApp::sqlite().await;
    let login = app.user_and_login("a@example.com").await;
    // Used every 20 minutes for 11 h 40 min: alive throughout.
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        assert_eq!(
            app.get("/v1/me").cookie(&login).send().await.status,
            StatusCode::OK
        );
    }
    let me = app.get("/v1/me").cookie(&login).send().await.json();
    assert_eq!(
        me["auth"]["expires_at"], "2026-01-01T12:00:00Z",
        "idle expiry never passes the absolute one"
    );
    app.clock.advance(Duration::minutes(20));
    app.get("/v1/me")
        .cookie(&login)
        .send()
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn expired_sessions_are_purged() {
    let app = TestApp::sqlite().await;
    let old = app.user_and_login("a@example.com").await;
    app.clock.advance(Duration::minutes(31));
    let fresh = app.login("a@example.com").await;
    let purged = app.tessera.purge_expired().await.unwrap();
    assert_eq!(purged.sessions, 1);
    let user = old.user_id.parse().unwrap();
    let left = app.store.sessions_of_user(user).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id.to_string(), fresh.session_id);
}

#[tokio::test]
async fn use_is_written_at_most_once_per_touch_interval() {
    let app = TestApp::sqlite().await;
    let login = app.user_and_login("a@example.com").await;
    let user = login.user_id.parse().unwrap();
    let stored = || async { app.store.sessions_of_user(user).await.unwrap()[0].last_seen_at };
    let start = stored().await;
    app.clock.advance(Duration::seconds(30));
    app.get("/v1/me").cookie(&login).send().await;
    assert_eq!(stored().await, start, "no write within the touch interval");
    app.clock.advance(Duration::seconds(31));
    app.get("/v1/me").cookie(&login).send().await;
    assert_eq!(stored().await, start + Duration::seconds(61));
}
