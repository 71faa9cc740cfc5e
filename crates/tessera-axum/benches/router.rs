//! What one request costs inside the server, without the network: the whole router (every
//! middleware, the extractors, the handler, the JSON body) driven with `oneshot`, for the
//! baseline `GET /healthz` and for `GET /v1/me` with each credential. The difference between a
//! `/v1/me` line and the `healthz` line is what authenticating costs; `tessera bench` measures
//! the same over real connections, where the kernel and HTTP parsing add the same to both.
//!
//! Run with `cargo bench -p tessera-axum`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tessera_axum::HttpConfig;
use tessera_core::clock::SystemClock;
use tessera_core::key::Algorithm;
use tessera_core::{Tessera, TesseraConfig};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";

/// `cached`: with the verified-token cache (the default); without it every request pays the
/// whole check, as a fresh token would.
async fn app(alg: Algorithm, cached: bool) -> Router {
    let mut config = TesseraConfig::default();
    config.jwt.algorithm = alg;
    if !cached {
        config.jwt.cache_capacity = 0;
    }
    let store = Arc::new(tessera_store::memory::MemoryStore::new());
    let tessera = Arc::new(
        Tessera::new(store, Arc::new(SystemClock), &config)
            .await
            .unwrap(),
    );
    tessera_axum::router(tessera, HttpConfig::default())
}

fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let mut req = match body {
        Some(json) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    };
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

/// Registers a user and returns (access token, session cookie pair).
async fn credentials(router: &Router) -> (String, String) {
    let account = format!(r#"{{"email":"bench@example.com","password":"{PASSWORD}"}}"#);
    let (s, _, _) = call(
        router,
        request("POST", "/v1/users", &[], Some(account.clone())),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let grant = format!(
        r#"{{"grant_type":"password","email":"bench@example.com","password":"{PASSWORD}"}}"#
    );
    let (s, _, body) = call(router, request("POST", "/v1/token", &[], Some(grant))).await;
    assert_eq!(s, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let token = json["access_token"].as_str().unwrap().to_owned();
    let (s, headers, _) = call(
        router,
        request("POST", "/v1/session/login", &[], Some(account)),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let cookie = headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    (token, cookie)
}

fn router(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("router");
    for (alg, cached) in [
        (Algorithm::HS256, true),
        (Algorithm::EdDSA, true),
        (Algorithm::EdDSA, false),
        (Algorithm::RS256, false),
    ] {
        let router = rt.block_on(app(alg, cached));
        let (token, cookie) = rt.block_on(credentials(&router));
        let bearer = format!("Bearer {token}");
        if alg == Algorithm::HS256 && cached {
            g.bench_function("healthz", |b| {
                b.to_async(&rt).iter(|| async {
                    let (s, _, _) = call(&router, request("GET", "/healthz", &[], None)).await;
                    assert_eq!(s, StatusCode::OK);
                })
            });
            g.bench_function("me/session-memory", |b| {
                b.to_async(&rt).iter(|| async {
                    let req = request("GET", "/v1/me", &[("cookie", &cookie)], None);
                    let (s, _, _) = call(&router, req).await;
                    assert_eq!(s, StatusCode::OK);
                })
            });
        }
        let name = format!(
            "me/bearer-{}{}",
            alg.as_str().to_ascii_lowercase(),
            if cached { "" } else { "-cold" }
        );
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let req = request("GET", "/v1/me", &[("authorization", &bearer)], None);
                let (s, _, _) = call(&router, req).await;
                assert_eq!(s, StatusCode::OK);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, router);
criterion_main!(benches);
