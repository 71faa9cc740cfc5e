//! JWT mode flows: token login, refresh rotation and reuse, revocation, introspection, cookie
//! delivery, session exchange, logout everywhere, devices of both kinds.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn token_login_returns_an_rfc_9068_access_token_and_a_refresh_token() {
    let app = TestApp::memory().await;
    let user = app.register("a@example.com").await;
    let res = app
        .post("/v1/token")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_expires_in"], 2_592_000);
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(refresh.len(), 43, "256-bit opaque refresh token");
    let (header, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].as_str().is_some_and(|k| k.len() == 43));
    let policy = app.tessera.tokens.policy();
    assert_eq!(claims["iss"], policy.issuer.as_str());
    assert_eq!(claims["aud"], policy.audience.as_str());
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 22));
    assert!(claims["sid"].is_string());

    let wrong = app
        .post("/v1/token")
        .json(json!({"email": "a@example.com", "password": "wrong password"}))
        .send()
        .await;
    wrong.assert_problem(401, "invalid_credentials");
    let bad = app
        .post("/v1/token")
        .json(json!({"grant_type": "client_credentials"}))
        .send()
        .await;
    bad.assert_problem(400, "invalid_request");
    app.post("/v1/token")
        .json(json!({"email": "a@example.com"}))
        .send()
        .await
        .assert_problem(400, "invalid_request");
}

#[tokio::test]
async fn me_and_verify_accept_a_bearer_token() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    let t = app.token_login("a@example.com").await;
    let me = app.get("/v1/me").bearer(&t.access).send().await;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.json();
    assert_eq!(me["auth"]["mode"], "jwt");
    assert_eq!(me["user"]["email"], "a@example.com");
    let (_, claims) = decode_jwt(&t.access);
    let exp = time::OffsetDateTime::from_unix_timestamp(claims["exp"].as_i64().unwrap()).unwrap();
    assert_eq!(me["auth"]["expires_at"], tessera_axum::view::rfc3339(exp));

    let v = app.get("/v1/verify").bearer(&t.access).send().await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.header("x-tessera-email"), Some("a@example.com"));
    assert_eq!(v.header("x-tessera-mode"), Some("jwt"));
    assert_eq!(v.header("x-tessera-user"), me["user"]["id"].as_str());
    app.get("/v1/verify")
        .send()
        .await
        .assert_problem(401, "unauthorized");

    // Session mode through the same door.
    let login = app.login("a@example.com").await;
    let v = app.get("/v1/verify").cookie(&login).send().await;
    assert_eq!(v.header("x-tessera-mode"), Some("session"));
    // A proxied unsafe request authenticated by a cookie needs the CSRF token.
    let res = app
        .get("/v1/verify")
        .cookie(&login)
        .header("x-forwarded-method", "POST")
        .send()
        .await;
    res.assert_problem(403, "csrf_failed");
    let res = app
        .get("/v1/verify")
        .auth(&login)
        .header("x-forwarded-method", "POST")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    // Bearer needs none.
    let res = app
        .get("/v1/verify")
        .bearer(&t.access)
        .header("x-forwarded-method", "DELETE")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

/// `n` fresh access tokens for `user`, signed with the app's active key; every one that `bad`
/// picks carries another token's signature.
fn fresh_tokens(app: &TestApp, user: &str, n: usize, bad: impl Fn(usize) -> bool) -> Vec<String> {
    let policy = app.tessera.tokens.policy();
    let ring = app.tessera.tokens.ring();
    let sign = || {
        let claims = tessera_core::token::AccessClaims::new(
            policy.issuer.clone(),
            user,
            policy.audience.clone(),
            tessera_core::clock::Clock::now(app.clock.as_ref()),
            Duration::minutes(5),
        )
        .unwrap();
        tessera_core::token::sign(&ring, &claims).unwrap()
    };
    (0..n)
        .map(|i| {
            let token = sign();
            if bad(i) {
                let (input, _) = token.rsplit_once('.').unwrap();
                let other = sign();
                format!("{input}.{}", other.rsplit_once('.').unwrap().1)
            } else {
                token
            }
        })
        .collect()
}

/// `GET /v1/me` with each token at once, each on its own task; the statuses, in order.
async fn me_all(app: &Arc<TestApp>, tokens: &[String]) -> Vec<StatusCode> {
    let mut tasks = Vec::new();
    for token in tokens {
        let (app, token) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            app.get("/v1/me").bearer(&token).send().await.status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn fresh_tokens_arriving_together_are_verified_in_batches_with_the_same_verdicts() {
    let app = Arc::new(TestApp::memory().await);
    let user = app.register("a@example.com").await;
    let id = user["id"].as_str().unwrap();
    // One thread: every request reaches its signature check before the first batch runs.
    let tokens = fresh_tokens(&app, id, 48, |_| false);
    assert_eq!(me_all(&app, &tokens).await, vec![StatusCode::OK; 48]);
    let stats = app.tessera.tokens.batch_stats();
    assert_eq!((stats.batches, stats.batched), (3, 48), "{stats:?}");
    // Seen before: answered from the cache, no check at all.
    assert_eq!(me_all(&app, &tokens).await, vec![StatusCode::OK; 48]);
    assert_eq!(app.tessera.tokens.batch_stats(), stats);

    // A forged signature among good ones: refused, and only it.
    let tokens = fresh_tokens(&app, id, 16, |i| i == 11);
    let statuses = me_all(&app, &tokens).await;
    for (i, status) in statuses.iter().enumerate() {
        let expected = if i == 11 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(*status, expected, "token {i}");
    }
    assert_eq!(app.tessera.tokens.batch_stats().failed_batches, 1);
    let res = app.get("/v1/me").bearer(&tokens[11]).send().await;
    res.assert_problem(401, "unauthorized");
    assert!(res.header("www-authenticate").is_some());

    // Revocation still applies to a token that was verified in a batch.
    let tokens = fresh_tokens(&app, id, 4, |_| false);
    let res = app
        .post("/v1/token/revoke")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={}", tokens[2]).into_bytes(),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let statuses = me_all(&app, &tokens).await;
    assert_eq!(
        statuses,
        vec![
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::OK
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_tokens_under_real_concurrency_get_exactly_their_verdicts() {
    let app = Arc::new(TestApp::memory().await);
    let user = app.register("a@example.com").await;
    let tokens = fresh_tokens(&app, user["id"].as_str().unwrap(), 400, |i| i % 29 == 3);
    let statuses = me_all(&app, &tokens).await;
    for (i, status) in statuses.iter().enumerate() {
        let expected = if i % 29 == 3 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(*status, expected, "token {i}");
    }
}

#[tokio::test]
async fn refresh_rotates_and_a_replay_within_the_grace_converges() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        app.register("a@example.com").await;
        let t0 = app.token_login("a@example.com").await;
        let r1 = app.refresh(&t0.refresh).await;
        assert_eq!(r1.status, StatusCode::OK, "{}", r1.text());
        let t1 = TokenPair::from_response(&r1);
        assert_ne!(t1.refresh, t0.refresh);
        assert_ne!(t1.access, t0.access);
        assert_eq!(
            decode_jwt(&t1.access).1["sid"],
            decode_jwt(&t0.access).1["sid"],
            "same family"
        );

        // A racing tab presents t0 again within the grace: it gets the same successor.
        app.clock.advance(Duration::seconds(5));
        let again = TokenPair::from_response(&app.refresh(&t0.refresh).await);
        assert_eq!(
            again.refresh, t1.refresh,
            "grace replay converges on the same refresh token"
        );
        assert_eq!(
            app.get("/v1/me").bearer(&again.access).send().await.status,
            StatusCode::OK
        );

        // The successor keeps working and rotates in turn.
        let t2 = TokenPair::from_response(&app.refresh(&t1.refresh).await);
        assert_ne!(t2.refresh, t1.refresh);
        assert_eq!(
            app.get("/v1/me").bearer(&t2.access).send().await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn reuse_after_the_grace_kills_the_family_and_its_access_tokens() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        app.register("a@example.com").await;
        let other = app.token_login("a@example.com").await;
        let t0 = app.token_login("a@example.com").await;
        let t1 = TokenPair::from_response(&app.refresh(&t0.refresh).await);
        assert_eq!(
            app.get("/v1/me").bearer(&t1.access).send().await.status,
            StatusCode::OK,
            "cached now"
        );

        app.clock.advance(Duration::seconds(11));
        app.refresh(&t0.refresh)
            .await
            .assert_problem(401, "refresh_reused");
        // Every token of the family is dead: the successor, and the access tokens (cached or not).
        app.refresh(&t1.refresh)
            .await
            .assert_problem(401, "invalid_grant");
        app.get("/v1/me")
            .bearer(&t1.access)
            .send()
            .await
            .assert_bearer_401("token_revoked");
        app.get("/v1/me")
            .bearer(&t0.access)
            .send()
            .await
            .assert_bearer_401("token_revoked");
        // Another login of the same user is untouched.
        assert_eq!(
            app.get("/v1/me").bearer(&other.access).send().await.status,
            StatusCode::OK
        );
        assert_eq!(app.refresh(&other.refresh).await.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_of_one_token_yield_one_successor() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        let app = Arc::new(app);
        app.register("a@example.com").await;
        let t0 = app.token_login("a@example.com").await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (app, refresh) = (app.clone(), t0.refresh.clone());
                tokio::spawn(async move { app.refresh(&refresh).await })
            })
            .collect();
        let mut successors = Vec::new();
        for t in tasks {
            let res = t.await.unwrap();
            assert_eq!(res.status, StatusCode::OK, "{}", res.text());
            successors.push(TokenPair::from_response(&res).refresh);
        }
        successors.dedup();
        assert_eq!(
            successors.len(),
            1,
            "every racer converges on one successor"
        );
        let sid: tessera_core::id::FamilyId = decode_jwt(&t0.access).1["sid"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            app.store.family(sid).await.unwrap().unwrap().generation,
            1,
            "rotated exactly once"
        );
        assert_eq!(app.refresh(&successors[0]).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn unknown_expired_and_revoked_refresh_tokens_are_invalid_grants() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    app.refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .assert_problem(401, "invalid_grant");
    app.refresh("short")
        .await
        .assert_problem(401, "invalid_grant");
    let t = app.token_login("a@example.com").await;
    app.clock.advance(Duration::days(30));
    app.refresh(&t.refresh)
        .await
        .assert_problem(401, "invalid_grant");
    let t = app.token_login("a@example.com").await;
    let res = app
        .post("/v1/token/revoke")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={}&token_type_hint=refresh_token", t.refresh).into_bytes(),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    app.refresh(&t.refresh)
        .await
        .assert_problem(401, "invalid_grant");
    app.get("/v1/me")
        .bearer(&t.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
}

#[tokio::test]
async fn revoking_an_access_token_denies_it_at_once_cached_or_not() {
    let app = TestApp::sqlite().await;
    app.register("a@example.com").await;
    let warm = app.token_login("a@example.com").await;
    let cold = app.token_login("a@example.com").await;
    assert_eq!(
        app.get("/v1/me").bearer(&warm.access).send().await.status,
        StatusCode::OK
    );
    for t in [&warm, &cold] {
        let res = app
            .post("/v1/token/revoke")
            .json(json!({"token": t.access}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK);
        app.get("/v1/me")
            .bearer(&t.access)
            .send()
            .await
            .assert_bearer_401("token_revoked");
        // Only that access token: its family still refreshes.
        assert_eq!(app.refresh(&t.refresh).await.status, StatusCode::OK);
    }
    // Unknown tokens: 200 all the same (RFC 7009); no token: 400.
    assert_eq!(
        app.post("/v1/token/revoke")
            .json(json!({"token": "nonsense"}))
            .send()
            .await
            .status,
        StatusCode::OK
    );
    app.post("/v1/token/revoke")
        .json(json!({}))
        .send()
        .await
        .assert_problem(400, "invalid_request");
    app.post("/v1/token/revoke")
        .raw("text/plain", b"token=x".to_vec())
        .send()
        .await
        .assert_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn another_nodes_revocations_reach_tokens_this_node_has_cached_at_its_next_sync() {
    // Two nodes over one store; node A has verified and cached both tokens.
    let store: Arc<dyn tessera_core::store::Store> =
        Arc::new(tessera_store::memory::MemoryStore::new());
    let a = TestApp::builder().store(store.clone()).build().await;
    let b = TestApp::builder().store(store.clone()).build().await;
    a.register("a@example.com").await;
    let revoked = a.token_login("a@example.com").await;
    let cut_off = a.token_login("a@example.com").await;
    for t in [&revoked, &cut_off] {
        for app in [&a, &a, &b] {
            assert_eq!(
                app.get("/v1/me").bearer(&t.access).send().await.status,
                StatusCode::OK
            );
        }
    }

    // B revokes one: B refuses it at once, A from its next sync (every second in `serve`).
    let res = b
        .post("/v1/token/revoke")
        .json(json!({"token": revoked.access}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    b.get("/v1/me")
        .bearer(&revoked.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
    a.tessera.tokens.sync().await.unwrap();
    a.get("/v1/me")
        .bearer(&revoked.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
    // The other token passed its last check before that revocation: it is checked again,
    // and still fine.
    assert_eq!(
        a.get("/v1/me").bearer(&cut_off.access).send().await.status,
        StatusCode::OK
    );

    // B ends everything of the user (a cutoff and sid denials): the same.
    let fresh = b.token_login("a@example.com").await;
    let res = b.post("/v1/logout-all").bearer(&fresh.access).send().await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    // On B at once, though that request has just verified (and cached) `fresh` there.
    b.get("/v1/me")
        .bearer(&fresh.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
    a.tessera.tokens.sync().await.unwrap();
    for t in [&cut_off, &fresh] {
        a.get("/v1/me")
            .bearer(&t.access)
            .send()
            .await
            .assert_bearer_401("token_revoked");
    }
}

#[tokio::test]
async fn introspection_needs_the_secret_and_reports_only_live_tokens() {
    let app = TestApp::builder()
        .http(|h| {
            h.introspection_secret = Some(tessera_axum::Redacted::new("s3cret-introspection"))
        })
        .build()
        .await;
    let user = app.register("a@example.com").await;
    let t = app.token_login("a@example.com").await;
    let ask = |token: &str| {
        app.post("/v1/token/introspect")
            .bearer("s3cret-introspection")
            .raw(
                "application/x-www-form-urlencoded",
                format!("token={token}").into_bytes(),
            )
    };
    app.post("/v1/token/introspect")
        .json(json!({"token": t.access}))
        .send()
        .await
        .assert_bearer_401("unauthorized");
    app.post("/v1/token/introspect")
        .bearer("wrong")
        .json(json!({"token": t.access}))
        .send()
        .await
        .assert_bearer_401("unauthorized");

    let a = ask(&t.access).send().await.json();
    assert_eq!(a["active"], true);
    assert_eq!(a["token_type"], "access_token");
    assert_eq!(a["sub"], user["id"]);
    for f in ["exp", "iat", "jti"] {
        assert!(a[f].is_number() || a[f].is_string(), "{f} missing: {a}");
    }
    let r = ask(&t.refresh).send().await.json();
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    assert_eq!(r["sub"], user["id"]);

    let t1 = TokenPair::from_response(&app.refresh(&t.refresh).await);
    assert_eq!(
        ask(&t.refresh).send().await.json(),
        json!({"active": false}),
        "a rotated refresh token is not live"
    );
    assert_eq!(
        ask(&t1.refresh).send().await.json()["active"],
        true,
        "introspection never rotates"
    );
    assert_eq!(ask("garbage").send().await.json(), json!({"active": false}));
    app.post("/v1/token/revoke")
        .json(json!({"token": t1.access}))
        .send()
        .await;
    assert_eq!(
        ask(&t1.access).send().await.json(),
        json!({"active": false})
    );
    app.clock.advance(Duration::minutes(16));
    assert_eq!(
        ask(&t.access).send().await.json(),
        json!({"active": false}),
        "expired"
    );

    // Without a configured secret the endpoint refuses everyone.
    let closed = TestApp::memory().await;
    closed
        .post("/v1/token/introspect")
        .bearer("anything")
        .json(json!({"token": "x"}))
        .send()
        .await
        .assert_bearer_401("unauthorized");
}

#[tokio::test]
async fn cookie_delivery_sets_hardened_cookies_and_needs_csrf() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    let res = app
        .post("/v1/token")
        .json(json!({"email": "a@example.com", "password": PASSWORD, "delivery": "cookie"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "{body}"
    );
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let access_line = res.set_cookie("tessera_access").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(access_line.contains(flag), "{access_line}");
    }
    let refresh_line = res.set_cookie("tessera_refresh").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/v1/token"] {
        assert!(refresh_line.contains(flag), "{refresh_line}");
    }
    let access = res.cookie("tessera_access").unwrap();
    let refresh = res.cookie("tessera_refresh").unwrap();
    let jar = format!("tessera_access={access}");

    let me = app.get("/v1/me").header("cookie", &jar).send().await;
    assert_eq!(me.json()["auth"]["mode"], "jwt");
    // Unsafe methods authenticated by the access cookie need the CSRF token.
    app.post("/v1/logout-all")
        .header("cookie", &jar)
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    let other_device = app.token_login("a@example.com").await;
    assert_eq!(
        app.get("/v1/me")
            .bearer(&other_device.access)
            .send()
            .await
            .status,
        StatusCode::OK,
        "nothing changed"
    );

    // Refresh through the cookie: new cookies again, same CSRF token (it belongs to the family).
    let res = app
        .post("/v1/token")
        .header("cookie", &format!("tessera_refresh={refresh}"))
        .json(json!({"grant_type": "refresh_token"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["csrf_token"], csrf.as_str());
    let access2 = res.cookie("tessera_access").unwrap();
    assert_ne!(access2, access);
    assert_ne!(res.cookie("tessera_refresh").unwrap(), refresh);

    let jar2 = format!("tessera_access={access2}");
    let res = app
        .post("/v1/logout-all")
        .header("cookie", &jar2)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(
        res.set_cookie("tessera_access")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(
        res.set_cookie("tessera_refresh")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(
        res.set_cookie("tessera_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    app.get("/v1/me")
        .header("cookie", &jar2)
        .send()
        .await
        .assert_problem(401, "unauthorized");
    app.get("/v1/me")
        .bearer(&other_device.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
    // A dead refresh cookie is cleared with the error.
    let res = app
        .post("/v1/token")
        .header("cookie", &format!("tessera_refresh={refresh}"))
        .json(json!({"grant_type": "refresh_token"}))
        .send()
        .await;
    assert_eq!(res.status.as_u16(), 401);
    assert!(
        res.set_cookie("tessera_refresh")
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn a_session_can_be_exchanged_for_an_access_token_that_dies_with_it() {
    let app = TestApp::memory().await;
    let login = app.user_and_login("a@example.com").await;
    app.post("/v1/session/token")
        .cookie(&login)
        .send()
        .await
        .assert_problem(403, "csrf_failed");
    app.post("/v1/session/token")
        .send()
        .await
        .assert_problem(401, "unauthorized");
    let res = app.post("/v1/session/token").auth(&login).send().await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(decode_jwt(access).1["sid"], login.session_id.as_str());
    let me = app.get("/v1/me").bearer(access).send().await.json();
    assert_eq!(me["auth"]["mode"], "jwt");

    // A Bearer token cannot mint through this endpoint.
    app.post("/v1/session/token")
        .bearer(access)
        .send()
        .await
        .assert_problem(401, "unauthorized");

    assert_eq!(
        app.post("/v1/session/logout")
            .auth(&login)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get("/v1/me")
        .bearer(access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
}

#[tokio::test]
async fn logout_everywhere_ends_sessions_families_and_tokens_and_a_new_login_works() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        let s1 = app.user_and_login("a@example.com").await;
        let s2 = app.login("a@example.com").await;
        let t1 = app.token_login("a@example.com").await;
        let minted = app.post("/v1/session/token").auth(&s2).send().await.json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let bystander = app.user_and_login("b@example.com").await;

        let res = app.post("/v1/logout-all").bearer(&t1.access).send().await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        for s in [&s1, &s2] {
            app.get("/v1/me")
                .cookie(s)
                .send()
                .await
                .assert_problem(401, "unauthorized");
        }
        app.get("/v1/me")
            .bearer(&t1.access)
            .send()
            .await
            .assert_bearer_401("token_revoked");
        app.get("/v1/me")
            .bearer(&minted)
            .send()
            .await
            .assert_bearer_401("token_revoked");
        app.refresh(&t1.refresh)
            .await
            .assert_problem(401, "invalid_grant");
        assert_eq!(
            app.get("/v1/me").cookie(&bystander).send().await.status,
            StatusCode::OK
        );

        // Logging in again right away (the same second) works in both modes.
        let again = app.token_login("a@example.com").await;
        assert_eq!(
            app.get("/v1/me").bearer(&again.access).send().await.status,
            StatusCode::OK
        );
        let s3 = app.login("a@example.com").await;
        assert_eq!(
            app.get("/v1/me").cookie(&s3).send().await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn devices_of_both_kinds_are_listed_and_revocable_with_a_bearer_token() {
    let app = TestApp::sqlite().await;
    let s = app.user_and_login("a@example.com").await;
    let t1 = app.token_login("a@example.com").await;
    let t2 = app.token_login("a@example.com").await;
    let other = app.user_and_login("b@example.com").await;
    let other_t = app.token_login("b@example.com").await;

    let list = app
        .get("/v1/sessions")
        .bearer(&t1.access)
        .send()
        .await
        .json();
    let items = list["sessions"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    let kinds: Vec<_> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "token").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "session").count(), 1);
    let sid1 = decode_jwt(&t1.access).1["sid"].as_str().unwrap().to_owned();
    let sid2 = decode_jwt(&t2.access).1["sid"].as_str().unwrap().to_owned();
    for i in items {
        assert_eq!(i["current"], i["id"] == sid1.as_str(), "{i}");
    }

    // Another user's family: 404 and untouched. A Bearer caller needs no CSRF token.
    let other_sid = decode_jwt(&other_t.access).1["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/v1/sessions/{other_sid}"))
        .bearer(&t1.access)
        .send()
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.refresh(&other_t.refresh).await.status, StatusCode::OK);

    let res = app
        .delete(&format!("/v1/sessions/{sid2}"))
        .bearer(&t1.access)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    app.get("/v1/me")
        .bearer(&t2.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
    app.refresh(&t2.refresh)
        .await
        .assert_problem(401, "invalid_grant");
    // A session can be revoked from a token, too.
    let res = app
        .delete(&format!("/v1/sessions/{}", s.session_id))
        .bearer(&t1.access)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    app.get("/v1/me")
        .cookie(&s)
        .send()
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(
        app.get("/v1/me").cookie(&other).send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_change_by_token_keeps_its_own_family_only() {
    let app = TestApp::memory().await;
    let s = app.user_and_login("a@example.com").await;
    let mine = app.token_login("a@example.com").await;
    let theirs = app.token_login("a@example.com").await;
    let res = app
        .post("/v1/password")
        .bearer(&mine.access)
        .json(json!({"current_password": PASSWORD, "new_password": "a brand new password"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
    assert_eq!(
        app.get("/v1/me").bearer(&mine.access).send().await.status,
        StatusCode::OK
    );
    assert_eq!(app.refresh(&mine.refresh).await.status, StatusCode::OK);
    app.get("/v1/me")
        .bearer(&theirs.access)
        .send()
        .await
        .assert_bearer_401("token_revoked");
    app.refresh(&theirs.refresh)
        .await
        .assert_problem(401, "invalid_grant");
    app.get("/v1/me")
        .cookie(&s)
        .send()
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn token_logins_are_throttled_like_session_logins() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    for _ in 0..10 {
        app.post("/v1/token")
            .json(json!({"email": "a@example.com", "password": "wrong password"}))
            .send()
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let res = app
        .post("/v1/token")
        .json(json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await;
    res.assert_problem(429, "rate_limited");
    assert!(res.header("retry-after").is_some());
}

#[tokio::test]
async fn the_key_set_and_discovery_are_published() {
    let app = TestApp::memory().await;
    let res = app.get("/.well-known/jwks.json").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/jwk-set+json"));
    let keys = res.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "active and next");
    for k in &keys {
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], "EdDSA");
        assert_eq!(k["kty"], "OKP");
        assert!(k.get("d").is_none(), "never a private member");
    }
    let d = app
        .get("/.well-known/openid-configuration")
        .send()
        .await
        .json();
    assert_eq!(d["issuer"], app.tessera.tokens.policy().issuer.as_str());
    assert!(
        d["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json")
    );

    let hs = TestApp::builder()
        .config(|c| c.jwt.algorithm = tessera_core::key::Algorithm::HS256)
        .build()
        .await;
    assert_eq!(
        hs.get("/.well-known/jwks.json").send().await.json()["keys"],
        json!([])
    );
    hs.register("a@example.com").await;
    let t = hs.token_login("a@example.com").await;
    assert_eq!(decode_jwt(&t.access).0["alg"], "HS256");
    assert_eq!(
        hs.get("/v1/me").bearer(&t.access).send().await.status,
        StatusCode::OK
    );
}
