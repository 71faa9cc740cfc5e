//! Tessera's HTTP API for axum: what the `tessera` binary serves and what a Rust app embeds.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let store = tessera_store::connect("sqlite://tessera.db").await?;
//! let clock = Arc::new(tessera_core::clock::SystemClock);
//! let tessera = Arc::new(tessera_core::Tessera::new(store, clock, &Default::default()).await?);
//! let app = tessera_axum::router(tessera, tessera_axum::HttpConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//! Serve it with connect info: the client address feeds login throttling and device listings.
//!
//! Finding a behaviour: API.md names the path; `routes/<resource>.rs` has its handler (with its
//! OpenAPI description); the handler calls a service of `tessera_core::Tessera`, which calls the
//! store traits in `tessera_core::store`, implemented in `tessera-store`.

pub mod cookie;
pub mod demo;
pub mod extract;
pub mod metrics;
pub mod problem;
mod respond;
pub mod routes;
pub mod view;

use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::response::IntoResponse;
use ipnet::IpNet;
use tessera_core::{ErrorCode, Tessera};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::ApiError;

/// HTTP-level settings (the core's settings live in [`tessera_core::TesseraConfig`]).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Name of the session cookie (`[session] cookie_name`).
    pub cookie_name: String,
    /// Whether cookies get `Secure` (when the public URL is https).
    pub secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` is believed. Empty: the peer address is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Where clients reach this server (for discovery URLs).
    pub public_url: String,
    /// The Bearer secret of `/v1/token/introspect`; `None` disables introspection.
    pub introspection_secret: Option<Redacted>,
    /// The Bearer secret of `/metrics`; `None` serves it to anyone, like `/healthz`.
    pub metrics_secret: Option<Redacted>,
}

/// A configured secret: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, for the code that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redacted(<secret>)")
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cookie_name: "tessera_session".into(),
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            public_url: "http://127.0.0.1:8080".into(),
            introspection_secret: None,
            metrics_secret: None,
        }
    }
}

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    pub tessera: Arc<Tessera>,
    pub http: Arc<HttpConfig>,
    pub metrics: Arc<metrics::Metrics>,
}

/// The API's routes with their OpenAPI descriptions (one registration feeds both).
fn api() -> OpenApiRouter<AppState> {
    use routes::*;
    OpenApiRouter::new()
        .routes(routes!(users::create_user))
        .routes(routes!(session::login))
        .routes(routes!(session::current))
        .routes(routes!(session::logout))
        .routes(routes!(session::exchange))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::revoke))
        .routes(routes!(sessions::logout_all))
        .routes(routes!(token::token))
        .routes(routes!(token::revoke))
        .routes(routes!(token::introspect))
        .routes(routes!(discovery::jwks))
        .routes(routes!(discovery::openid_configuration))
        .routes(routes!(verify::verify))
        .routes(routes!(me::me))
        .routes(routes!(password::change))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
}

/// The OpenAPI 3.1 document of the API, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api().into_openapi();
    doc.info.title = "Tessera".into();
    doc.info.version = "1".into();
    doc.info.description = Some(
        "Sessions and JWTs, each done right. The contract is docs/api.md; errors are application/problem+json with a stable `code`.".into(),
    );
    doc.info.license = None;
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "session_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("tessera_session"))),
    );
    components.add_security_scheme(
        "access_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("tessera_access"))),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        "introspection_secret",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "metrics_secret",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc
}

/// Where the OpenAPI document is served.
const OPENAPI_PATH: &str = "/openapi.json";

/// The whole API as a router.
pub fn router(tessera: Arc<Tessera>, http: HttpConfig) -> axum::Router {
    let spec = Arc::new(openapi());
    let state = AppState {
        tessera,
        http: Arc::new(http),
        metrics: Arc::new(metrics::Metrics::new(endpoints(&spec))),
    };
    let (router, _) = api().split_for_parts();
    let respond = respond::RespondLayer {
        metrics: state.metrics.clone(),
    };
    router
        .route(OPENAPI_PATH, axum::routing::get(move || async move { Json(spec.as_ref().clone()) }))
        // The demo page (`/`, `/assets/…`): not API, so not in the OpenAPI document.
        .merge(demo::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(respond)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            ApiError::new(ErrorCode::Internal, "something went wrong on our side").into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // Method and path only: headers carry cookies and tokens, queries are not ours.
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
}

/// Every (method, route template) the router serves: the OpenAPI document's, and the routes
/// outside it.
fn endpoints(spec: &utoipa::openapi::OpenApi) -> Vec<(axum::http::Method, String)> {
    use axum::http::Method;
    let mut all = Vec::new();
    for (path, item) in &spec.paths.paths {
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in methods {
            if present {
                all.push((method, path.clone()));
            }
        }
    }
    for path in [OPENAPI_PATH, demo::PAGE_PATH, demo::ASSET_PATH] {
        all.push((Method::GET, path.to_owned()));
    }
    all
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed(None)
}
