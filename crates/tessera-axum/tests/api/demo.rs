//! The demo page: `/` and its embedded assets, with the strict CSP and their content types.

use axum::http::StatusCode;

use crate::support::TestApp;

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

#[tokio::test]
async fn the_page_is_served_with_a_strict_csp() {
    let app = TestApp::memory().await;
    let res = app.get("/").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("content-security-policy"), Some(PAGE_CSP));
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    let html = res.text();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains(r#"<script src="/assets/demo.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/assets/demo.css">"#));
}

#[tokio::test]
async fn the_page_has_no_inline_script_or_style_and_nothing_third_party() {
    let app = TestApp::memory().await;
    let html = app.get("/").send().await.text();
    let lower = html.to_ascii_lowercase();
    // Every <script> has a src, and there is no <style> block or style attribute.
    assert_eq!(
        lower.matches("<script").count(),
        lower.matches("<script src=\"/assets/").count()
    );
    assert!(!lower.contains("<style"));
    assert!(!lower.contains(" style="));
    // No inline event handlers (onclick=, onload=, ...) and no javascript: URLs.
    for handler in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onerror=",
        "javascript:",
    ] {
        assert!(!lower.contains(handler), "{handler}");
    }
    // Nothing loaded from another origin.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!lower.contains(attr), "{attr}");
    }
}

#[tokio::test]
async fn the_assets_are_served_with_their_content_types() {
    let app = TestApp::memory().await;
    for (path, content_type, starts) in [
        ("/assets/demo.css", "text/css; charset=utf-8", "/*"),
        ("/assets/demo.js", "text/javascript; charset=utf-8", "//"),
        ("/assets/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let res = app.get(path).send().await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        assert_eq!(res.header("content-type"), Some(content_type), "{path}");
        assert_eq!(res.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
        assert!(res.text().starts_with(starts), "{path}");
    }
}

#[tokio::test]
async fn the_script_never_touches_web_storage_or_inner_html() {
    let app = TestApp::memory().await;
    let js = app.get("/assets/demo.js").send().await.text();
    for forbidden in [
        "localStorage.",
        "sessionStorage.",
        ".innerHTML",
        ".outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ] {
        assert!(!js.contains(forbidden), "{forbidden}");
    }
    assert!(js.contains("credentials: 'same-origin'"));
}

#[tokio::test]
async fn unknown_assets_are_404_problems_and_head_works() {
    let app = TestApp::memory().await;
    app.get("/assets/nope.js")
        .send()
        .await
        .assert_problem(404, "not_found");
    app.get("/assets/..%2Fmod.rs")
        .send()
        .await
        .assert_problem(404, "not_found");
    let head = app.req(axum::http::Method::HEAD, "/").send().await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    app.post("/")
        .send()
        .await
        .assert_problem(405, "method_not_allowed");
}
