//! `TestApp`: the real router over a real store, driven with `oneshot`, with a clock tests move.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tessera_axum::HttpConfig;
use tessera_core::clock::ManualClock;
use tessera_core::store::Store;
use tessera_core::{Tessera, TesseraConfig};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub router: Router,
    pub tessera: Arc<Tessera>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub sqlite: Option<Arc<tessera_store::sqlite::SqliteStore>>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Default)]
pub struct Builder {
    sqlite: bool,
    config: TesseraConfig,
    http: HttpConfig,
    store: Option<Arc<dyn Store>>,
}

impl Builder {
    pub fn sqlite(mut self) -> Self {
        self.sqlite = true;
        self
    }
    pub fn config(mut self, f: impl FnOnce(&mut TesseraConfig)) -> Self {
        f(&mut self.config);
        self
    }
    pub fn http(mut self, f: impl FnOnce(&mut HttpConfig)) -> Self {
        f(&mut self.http);
        self
    }
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    pub async fn build(self) -> TestApp {
        let (store, sqlite, dir): (Arc<dyn Store>, _, _) = match (self.store, self.sqlite) {
            (Some(s), _) => (s, None, None),
            (None, true) => {
                let dir = tempfile::tempdir().unwrap();
                let s = Arc::new(
                    tessera_store::sqlite::SqliteStore::open(&dir.path().join("t.db"))
                        .await
                        .unwrap(),
                );
                (s.clone(), Some(s), Some(dir))
            }
            (None, false) => (
                Arc::new(tessera_store::memory::MemoryStore::new()),
                None,
                None,
            ),
        };
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-01-01 00:00:00 UTC),
        ));
        let tessera = Arc::new(
            Tessera::new(store.clone(), clock.clone(), &self.config)
                .await
                .unwrap(),
        );
        let router = tessera_axum::router(tessera.clone(), self.http);
        TestApp {
            router,
            tessera,
            clock,
            store,
            sqlite,
            _dir: dir,
        }
    }
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder::default()
    }
    pub async fn memory() -> Self {
        Builder::default().build().await
    }
    pub async fn sqlite() -> Self {
        Builder::default().sqlite().build().await
    }

    pub fn sqlite_dir(&self) -> &std::path::Path {
        self._dir.as_ref().unwrap().path()
    }

    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            peer: None,
        }
    }
    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req(Method::DELETE, path)
    }

    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .post("/v1/users")
            .json(serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        res.json()
    }

    pub async fn login(&self, email: &str) -> Login {
        let res = self
            .post("/v1/session/login")
            .json(serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        Login::from_response(&res)
    }

    /// JWT-mode login (body delivery).
    pub async fn token_login(&self, email: &str) -> TokenPair {
        let res = self
            .post("/v1/token")
            .json(serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        TokenPair::from_response(&res)
    }

    /// A refresh grant.
    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        self.post("/v1/token")
            .json(
                serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
            )
            .send()
            .await
    }

    pub async fn user_and_login(&self, email: &str) -> Login {
        self.register(email).await;
        self.login(email).await
    }
}

/// A logged-in client: its cookie and CSRF token.
#[derive(Clone, Debug)]
pub struct Login {
    pub secret: String,
    pub csrf: String,
    pub session_id: String,
    pub user_id: String,
}

impl Login {
    pub fn from_response(res: &Resp) -> Self {
        let body = res.json();
        Login {
            secret: res.cookie("tessera_session").expect("a session cookie"),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            session_id: body["session"]["id"].as_str().unwrap().to_owned(),
            user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        }
    }
    pub fn cookie(&self) -> String {
        format!("tessera_session={}", self.secret)
    }
}

/// An access and a refresh token from `/v1/token`.
#[derive(Clone, Debug)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

impl TokenPair {
    pub fn from_response(res: &Resp) -> Self {
        let body = res.json();
        TokenPair {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}

/// The decoded header and claims of a JWT (no verification).
pub fn decode_jwt(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut parts = token.split('.');
    let mut part = || {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    (part(), part())
}

pub struct Req<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    peer: Option<SocketAddr>,
}

impl Req<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(value).unwrap(),
        );
        self
    }
    pub fn json(self, v: Value) -> Self {
        self.raw("application/json", serde_json::to_vec(&v).unwrap())
    }
    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self = self.header("content-type", content_type);
        self.body = body;
        self
    }
    pub fn cookie(self, login: &Login) -> Self {
        let c = login.cookie();
        self.header("cookie", &c)
    }
    pub fn csrf(self, login: &Login) -> Self {
        let t = login.csrf.clone();
        self.header("x-csrf-token", &t)
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn auth(self, login: &Login) -> Self {
        self.cookie(login).csrf(login)
    }
    pub fn peer(mut self, addr: &str) -> Self {
        self.peer = Some(addr.parse().unwrap());
        self
    }
    pub async fn send(self) -> Resp {
        let mut req = Request::builder()
            .method(self.method)
            .uri(&self.path)
            .body(Body::from(self.body))
            .unwrap();
        *req.headers_mut() = self.headers;
        req.extensions_mut().insert(ConnectInfo(
            self.peer
                .unwrap_or_else(|| "127.0.0.1:40000".parse().unwrap()),
        ));
        let res = self.app.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The `Set-Cookie` line for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
    /// The value a `Set-Cookie` gives `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let line = self.set_cookie(name)?;
        let v = line.split(';').next()?.split_once('=')?.1.to_owned();
        Some(v)
    }
    /// Asserts a 401 caused by a Bearer token: problem+json and `WWW-Authenticate: Bearer`.
    #[track_caller]
    pub fn assert_bearer_401(&self, code: &str) {
        self.assert_problem(401, code);
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
            "{challenge:?}"
        );
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{}", self.text());
        assert_eq!(body["status"], status);
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "{}",
            self.text()
        );
        assert_eq!(body["type"], format!("urn:tessera:problem:{code}"));
    }
}

impl Req<'_> {
    /// A header with raw bytes (e.g. obs-text that `header` refuses).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_bytes(value).unwrap(),
        );
        self
    }
}
