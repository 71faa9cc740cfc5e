//! The demo page at `/`: both workflows side by side, in the browser, over the public API only.
//!
//! The page and its assets are compiled into the binary (no build step, no CDN). The HTML gets
//! a strict Content-Security-Policy: scripts and styles only from this origin, nothing inline.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::problem::ApiError;

/// The Content-Security-Policy of the demo page.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

const INDEX_HTML: &str = include_str!("index.html");

/// The files under `/assets/`: name, content type, body.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "demo.css",
        "text/css; charset=utf-8",
        include_bytes!("demo.css"),
    ),
    (
        "demo.js",
        "text/javascript; charset=utf-8",
        include_bytes!("demo.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("favicon.svg"),
    ),
];

/// Where the page is served.
pub const PAGE_PATH: &str = "/";
/// Where its assets are served.
pub const ASSET_PATH: &str = "/assets/{file}";

/// `GET /` and `GET /assets/{file}`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PAGE_PATH, get(page))
        .route(ASSET_PATH, get(asset))
}

/// The page. `no-cache`: it holds no secret, but a new binary must show its new page at once.
async fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(PAGE_CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// One embedded asset, with its content type; anything else is a 404 problem.
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such asset").into_response(),
    }
}
