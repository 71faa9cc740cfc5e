//! `GET /metrics`: Prometheus text of what the node served, without anything of a user.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

/// The samples of a Prometheus text: series (name and labels, as written) → value. Checks
/// the format on the way: every sample's metric has a `# TYPE` line before it.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut typed = Vec::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_owned();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.push(name);
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|base| typed.iter().any(|t| t == base))
            .unwrap_or(name);
        assert!(typed.iter().any(|t| t == family), "no # TYPE for {line}");
        out.insert(series.to_owned(), value.parse().unwrap());
    }
    out
}

async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let res = app.get("/metrics").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    samples(&res.text())
}

fn get(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn requests_are_counted_by_route_template_status_and_error_code() {
    let app = TestApp::memory().await;
    let before = scrape(&app).await;
    app.register("a@example.com").await;
    let login = app.login("a@example.com").await;
    app.get("/v1/me").cookie(&login).send().await;
    app.get("/v1/me").send().await; // 401
    // A path parameter is never a label: the route template is.
    let res = app
        .delete("/v1/sessions/0190f0c4-8a4e-7c3b-9d51-3f2a6b1e9c70")
        .auth(&login)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    app.get("/no/such/path").send().await;
    // Routes outside the OpenAPI document have their own labels too.
    app.get("/").send().await;
    app.get("/assets/demo.js").send().await;
    app.get("/openapi.json").send().await;
    app.post("/v1/session/login")
        .json(json!({"email": "a@example.com", "password": "wrong password"}))
        .send()
        .await;
    let after = scrape(&app).await;
    let delta = |series: &str| get(&after, series) - get(&before, series);

    assert_eq!(
        delta(r#"tessera_http_requests_total{method="GET",route="/v1/me",status="200"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"tessera_http_requests_total{method="GET",route="/v1/me",status="401"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"tessera_http_requests_total{method="POST",route="/v1/users",status="201"}"#),
        1.0
    );
    assert_eq!(
        delta(
            r#"tessera_http_requests_total{method="DELETE",route="/v1/sessions/{id}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        delta(r#"tessera_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        delta(
            r#"tessera_http_requests_total{method="POST",route="/v1/session/login",status="401"}"#
        ),
        1.0
    );
    for route in ["/", "/assets/{file}", "/openapi.json"] {
        let series =
            format!(r#"tessera_http_requests_total{{method="GET",route="{route}",status="200"}}"#);
        assert_eq!(delta(&series), 1.0, "{series}");
    }
    assert_eq!(
        delta(r#"tessera_http_errors_total{code="unauthorized"}"#),
        1.0
    );
    assert_eq!(delta(r#"tessera_http_errors_total{code="not_found"}"#), 2.0);
    assert_eq!(
        delta(r#"tessera_http_errors_total{code="invalid_credentials"}"#),
        1.0
    );
    // The histogram: cumulative buckets ending in +Inf = count; a sum.
    let me = r#"method="GET",route="/v1/me""#;
    let count = get(
        &after,
        &format!("tessera_http_request_duration_seconds_count{{{me}}}"),
    );
    assert_eq!(count, 2.0);
    assert_eq!(
        get(
            &after,
            &format!("tessera_http_request_duration_seconds_bucket{{{me},le=\"+Inf\"}}")
        ),
        count
    );
    let buckets: Vec<f64> = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&format!(
                "tessera_http_request_duration_seconds_bucket{{{me}"
            ))
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(buckets.len(), 13);
    assert!(buckets.iter().all(|b| *b <= count));
    assert!(after.contains_key(&format!(
        "tessera_http_request_duration_seconds_sum{{{me}}}"
    )));

    // Nothing of a user in any series.
    let text = app.get("/metrics").send().await.text();
    assert!(!text.contains("a@example.com"));
    assert!(!text.contains("0190f0c4"));
    assert!(!text.contains(&login.secret));
    assert!(text.contains(&format!(
        "tessera_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(get(&after, "process_start_time_seconds") > 1.7e9);
}

#[tokio::test]
async fn signature_batches_and_revocations_are_reported() {
    let app = TestApp::memory().await;
    app.register("a@example.com").await;
    let t = app.token_login("a@example.com").await;
    assert_eq!(
        app.get("/v1/me").bearer(&t.access).send().await.status,
        StatusCode::OK
    );
    let res = app
        .post("/v1/token/revoke")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={}", t.access).into_bytes(),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let m = scrape(&app).await;
    let stats = app.tessera.tokens.batch_stats();
    assert_eq!(
        get(&m, "tessera_signature_batches_total"),
        stats.batches as f64
    );
    assert_eq!(
        get(&m, "tessera_signatures_checked_alone_total"),
        stats.alone as f64
    );
    assert!(
        get(&m, "tessera_signatures_checked_alone_total") >= 1.0,
        "{m:?}"
    );
    assert_eq!(
        get(&m, "tessera_revocations"),
        app.tessera.tokens.revocations.len() as f64
    );
    assert!(get(&m, "tessera_revocations") >= 1.0);
}

#[tokio::test]
async fn with_a_metrics_secret_only_its_bearer_gets_the_metrics() {
    let app = TestApp::builder()
        .http(|h| h.metrics_secret = Some(tessera_axum::Redacted::new("s3cret-metrics")))
        .build()
        .await;
    let res = app.get("/metrics").send().await;
    res.assert_problem(401, "unauthorized");
    assert_eq!(
        res.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    assert!(!res.text().contains("tessera_http_requests_total"));
    app.get("/metrics")
        .bearer("wrong")
        .send()
        .await
        .assert_problem(401, "unauthorized");
    let res = app.get("/metrics").bearer("s3cret-metrics").send().await;
    assert_eq!(res.status, StatusCode::OK);
    let m = samples(&res.text());
    // The refused scrapes were counted like any request.
    assert_eq!(
        get(
            &m,
            r#"tessera_http_requests_total{method="GET",route="/metrics",status="401"}"#
        ),
        2.0
    );
}
