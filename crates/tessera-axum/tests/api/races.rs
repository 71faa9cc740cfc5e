//! Concurrency: parallel logins, and revocation racing with use.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_logins_of_one_user_all_succeed_with_distinct_sessions() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        let app = Arc::new(app);
        app.register("a@example.com").await;
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let app = app.clone();
                tokio::spawn(async move {
                    let res = app
                        .post("/v1/session/login")
                        .json(json!({"email": "a@example.com", "password": PASSWORD}))
                        .send()
                        .await;
                    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
                    res.cookie("tessera_session").unwrap()
                })
            })
            .collect();
        let mut secrets = Vec::new();
        for t in tasks {
            secrets.push(t.await.unwrap());
        }
        secrets.sort();
        secrets.dedup();
        assert_eq!(secrets.len(), 50);
        let login = app.login("a@example.com").await;
        let list = app.get("/v1/sessions").cookie(&login).send().await.json();
        assert_eq!(list["sessions"].as_array().unwrap().len(), 51);
    }
}

/// 200 concurrent `/v1/me` callers over 20 sessions while the sessions are revoked one by one:
/// no 5xx, and no request that starts after a DELETE returned is let in with that session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_revoked_session_is_accepted_after_its_delete_returns() {
    for app in [TestApp::memory().await, TestApp::sqlite().await] {
        let app = Arc::new(app);
        let admin = app.user_and_login("a@example.com").await;
        let mut logins = Vec::new();
        for _ in 0..20 {
            logins.push(app.login("a@example.com").await);
        }
        let logins = Arc::new(logins);
        let revoked_at: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();

        let callers: Vec<_> = (0..200)
            .map(|n| {
                let (app, logins, revoked_at) = (app.clone(), logins.clone(), revoked_at.clone());
                tokio::spawn(async move {
                    for round in 0..10 {
                        let i = (n + round * 7) % logins.len();
                        let started = Instant::now();
                        let res = app.get("/v1/me").cookie(&logins[i]).send().await;
                        assert!(
                            res.status == StatusCode::OK || res.status == StatusCode::UNAUTHORIZED,
                            "{}",
                            res.status
                        );
                        if res.status == StatusCode::OK
                            && let Some(t) = revoked_at.lock().await.get(&i)
                        {
                            assert!(
                                started < *t,
                                "session {i} accepted after its revocation returned"
                            );
                        }
                    }
                })
            })
            .collect();
        let revoker = {
            let (app, logins, revoked_at, admin) = (
                app.clone(),
                logins.clone(),
                revoked_at.clone(),
                admin.clone(),
            );
            tokio::spawn(async move {
                for (i, l) in logins.iter().enumerate() {
                    let res = app
                        .delete(&format!("/v1/sessions/{}", l.session_id))
                        .auth(&admin)
                        .send()
                        .await;
                    assert_eq!(res.status, StatusCode::NO_CONTENT);
                    revoked_at.lock().await.insert(i, Instant::now());
                    tokio::task::yield_now().await;
                }
            })
        };
        for c in callers {
            c.await.unwrap();
        }
        revoker.await.unwrap();
        for l in logins.iter() {
            app.get("/v1/me")
                .cookie(l)
                .send()
                .await
                .assert_problem(401, "unauthorized");
        }
    }
}
