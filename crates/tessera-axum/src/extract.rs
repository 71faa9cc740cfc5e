//! Extractors: bounded JSON bodies, the client's address, and the authenticated caller.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;
use tessera_core::account::User;
use tessera_core::secret::{PlainSecret, ct_eq_str};
use tessera_core::session::{SessionRecord, csrf_token};
use tessera_core::tessera::{Client, Keep};
use tessera_core::verified::VerifiedToken;
use tessera_core::{Error, ErrorCode};

use crate::problem::ApiError;
use crate::{AppState, Redacted};

/// Largest request body we read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest cookie value we look at; a longer one is not ours.
pub const MAX_COOKIE_BYTES: usize = 4 * 1024;
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body: `Content-Type: application/json` (else 415), at most 64 KiB (else 413),
/// well-formed with the right fields (else 400). Unknown fields are ignored.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = read_body(req).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::invalid_request(json_error(&e)))
    }
}

/// A body that may be JSON or `application/x-www-form-urlencoded` (RFC 7009 and 7662 clients
/// send forms). Same bounds and errors as [`JsonBody`].
#[derive(Debug)]
pub struct FormOrJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormOrJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.essence_str() == mime::APPLICATION_WWW_FORM_URLENCODED.essence_str()
            });
        if !form && !is_json(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as application/x-www-form-urlencoded or application/json",
            ));
        }
        let bytes = read_body(req).await?;
        if form {
            serde_urlencoded::from_bytes(&bytes)
                .map(FormOrJson)
                .map_err(|e| {
                    ApiError::invalid_request(format!(
                        "the form does not have the expected fields: {e}"
                    ))
                })
        } else {
            serde_json::from_slice(&bytes)
                .map(FormOrJson)
                .map_err(|e| ApiError::invalid_request(json_error(&e)))
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    match ct.parse::<mime::Mime>() {
        Ok(m) => {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        }
        Err(_) => false,
    }
}

async fn read_body(req: Request) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if limit {
                too_large()
            } else {
                ApiError::invalid_request(format!("could not read the body: {e}"))
            }
        })
}

/// serde_json's message, minus anything that could echo a secret back: only the kind of
/// error and its position, plus the field name for missing fields.
fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        }
        Category::Data => {
            let msg = e.to_string();
            // "missing field `x`", "invalid type: integer `5`, expected a string": keep the
            // structural part; values of string type are never echoed by serde_json here.
            format!("the JSON does not have the expected fields: {msg}")
        }
    }
}

/// Who is calling: the client address (after trusted-proxy resolution) and user agent.
#[derive(Debug, Clone)]
pub struct ClientInfo(pub Client);

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = client_ip(peer, &parts.headers, &state.http.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self(Client {
            ip: ip.map(|i| i.to_string()),
            user_agent,
        }))
    }
}

/// The client address: the peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Entries left of an
/// untrusted hop are the client's own claims and are ignored.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A malformed hop: nothing left of it can be believed.
            Err(_) => break,
        }
    }
    Some(client)
}

/// The value of cookie `name`, if present and of a sane size.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| v.len() <= MAX_COOKIE_BYTES)
}

/// The session secret the client presented, if it has the shape of one.
pub fn session_secret(headers: &HeaderMap, state: &AppState) -> Option<PlainSecret> {
    cookie(headers, &state.http.cookie_name).and_then(PlainSecret::parse)
}

/// Methods that change state and so need a CSRF token when a cookie authenticates them.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The access-token cookie of JWT mode's cookie delivery.
pub const ACCESS_COOKIE: &str = "tessera_access";
/// The refresh-token cookie of JWT mode's cookie delivery (`Path=/v1/token`).
pub const REFRESH_COOKIE: &str = "tessera_refresh";

/// How the caller proved who they are.
#[derive(Debug)]
pub enum Credential {
    /// A session cookie. Boxed: the record is large, and an `Authenticated` is moved
    /// through every extractor and handler future, Bearer requests included.
    Session {
        record: Box<SessionRecord>,
        secret: PlainSecret,
    },
    /// An access token in an `Authorization: Bearer` header.
    Bearer(Arc<VerifiedToken>),
    /// An access token in the `tessera_access` cookie.
    AccessCookie(Arc<VerifiedToken>),
}

/// An authenticated caller, by Bearer header, access-token cookie or session cookie, in that
/// order (API.md). On POST, PUT, PATCH and DELETE a cookie credential also needs the CSRF
/// token (403 `csrf_failed`), so a handler that takes this extractor is CSRF-safe.
#[derive(Debug)]
pub struct Authenticated {
    /// Shared, not copied per request: from the node's user cache (session), or the copy the
    /// token's cache entry keeps ([`VerifiedToken::owner`]).
    pub user: Arc<User>,
    pub credential: Credential,
}

impl Authenticated {
    /// `session` or `jwt`.
    pub fn mode(&self) -> &'static str {
        match self.credential {
            Credential::Session { .. } => "session",
            Credential::Bearer(_) | Credential::AccessCookie(_) => "jwt",
        }
    }

    /// When the credential stops working if nothing else happens.
    pub fn expires_at(&self) -> time::OffsetDateTime {
        match &self.credential {
            Credential::Session { record, .. } => record.idle_expires_at.min(record.expires_at),
            Credential::Bearer(c) | Credential::AccessCookie(c) => c.expires_at(),
        }
    }

    /// The session handle or refresh family the credential belongs to.
    pub fn sid(&self) -> Option<String> {
        match &self.credential {
            Credential::Session { record, .. } => Some(record.id.to_string()),
            Credential::Bearer(c) | Credential::AccessCookie(c) => c.sid.clone(),
        }
    }

    /// What the caller's own credential is, so "end every other" operations keep it.
    pub fn keep(&self) -> Keep {
        match &self.credential {
            Credential::Session { record, .. } => Keep {
                session: Some(record.id),
                family: None,
            },
            // A token's sid is its refresh family, or the session it was minted from: keep
            // whichever it is (the ids are UUIDs from one space, so the other never matches).
            Credential::Bearer(c) | Credential::AccessCookie(c) => Keep {
                session: c.sid.as_deref().and_then(|s| s.parse().ok()),
                family: c.sid.as_deref().and_then(|s| s.parse().ok()),
            },
        }
    }

    /// The CSRF token a cookie credential needs on unsafe methods; `None` for Bearer.
    pub fn csrf_token(&self, state: &AppState) -> Option<String> {
        match &self.credential {
            Credential::Session { secret, .. } => Some(csrf_token(secret)),
            Credential::AccessCookie(c) => Some(
                state
                    .tessera
                    .tokens
                    .csrf_token(c.sid.as_deref().unwrap_or(&c.jti)),
            ),
            Credential::Bearer(_) => None,
        }
    }

    /// Checks the CSRF header if this credential needs one for `method`.
    pub fn check_csrf(
        &self,
        state: &AppState,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if !is_unsafe(method) {
            return Ok(());
        }
        match self.csrf_token(state) {
            None => Ok(()),
            Some(expected) => {
                let presented = headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if ct_eq_str(presented, &expected) {
                    Ok(())
                } else {
                    Err(ApiError::csrf_failed())
                }
            }
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let no_credential = || {
            ApiError::unauthorized("sign in first: no live session cookie or access token was sent")
        };
        // Boxed below: the lookups' futures are large, and moving them through every await of
        // the handler's own future showed up as memmove in profiles of the hot path. A Bearer
        // token this node has seen before needs no future at all.
        let auth = match bearer(&parts.headers, state)? {
            Bearer::Known(auth) => auth,
            Bearer::Verified(verified) => Box::pin(bearer_user(state, verified)).await?,
            Bearer::Unseen(token) => Box::pin(unseen_bearer(state, token)).await?,
            Bearer::Absent => Box::pin(authenticate(&parts.headers, state))
                .await?
                .ok_or_else(no_credential)?,
        };
        auth.check_csrf(state, &parts.method, &parts.headers)?;
        Ok(auth)
    }
}

/// The `Authorization: Bearer` token, if the header uses that scheme. `Some("")` for a Bearer
/// header without a token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme_len = value.iter().position(|b| *b == b' ').unwrap_or(value.len());
    if !value[..scheme_len].eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    // A Bearer header whose token is not ASCII is still a Bearer header: it must fail as one
    // (an empty token never verifies), never fall through to the cookies.
    Some(
        std::str::from_utf8(&value[scheme_len..])
            .ok()
            .filter(|t| t.is_ascii())
            .map_or("", str::trim),
    )
}

/// Whether the request's `Authorization: Bearer` token is `secret` (compared in constant
/// time): the check of the endpoints that a configured secret guards.
pub fn bearer_is(headers: &HeaderMap, secret: &Redacted) -> bool {
    bearer_token(headers).is_some_and(|presented| ct_eq_str(presented, secret.expose()))
}

/// What the `Authorization: Bearer` header says, as far as this node knows without waiting.
enum Bearer<'a> {
    /// No Bearer header: the cookies decide.
    Absent,
    /// A token whose user its cache entry already knows ([`VerifiedToken::owner`]): the
    /// caller, without any lookup.
    Known(Authenticated),
    /// A token that verified; its user is still to be looked up.
    Verified(Arc<VerifiedToken>),
    /// A token this node has not verified yet: its check may wait for a batch.
    Unseen(&'a str),
}

/// Reads the Bearer token, if there is one, and answers from the verified-token cache when it
/// can. A token that fails is answered here: a Bearer header decides alone, whatever cookies
/// came along.
fn bearer<'a>(headers: &'a HeaderMap, state: &AppState) -> Result<Bearer<'a>, ApiError> {
    let Some(token) = bearer_token(headers) else {
        return Ok(Bearer::Absent);
    };
    match state.tessera.tokens.authenticate_cached(token) {
        None => Ok(Bearer::Unseen(token)),
        Some(verified) => Ok(verified_bearer(verified.map_err(ApiError::bearer)?)),
    }
}

fn verified_bearer(verified: Arc<VerifiedToken>) -> Bearer<'static> {
    match verified.owner().cloned() {
        Some(user) => Bearer::Known(Authenticated {
            user,
            credential: Credential::Bearer(verified),
        }),
        None => Bearer::Verified(verified),
    }
}

/// The caller behind a Bearer token this node has not seen: verified (perhaps in a batch),
/// then its user looked up.
async fn unseen_bearer(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    let verified = state
        .tessera
        .tokens
        .authenticate(token)
        .await
        .map_err(ApiError::bearer)?;
    bearer_user(state, verified).await
}

/// The caller behind a verified Bearer token: its user, looked up.
async fn bearer_user(
    state: &AppState,
    verified: Arc<VerifiedToken>,
) -> Result<Authenticated, ApiError> {
    let user = token_user(state, &verified)
        .await?
        .ok_or_else(|| ApiError::bearer(Error::Unauthorized("the account no longer exists")))?;
    Ok(Authenticated {
        user,
        credential: Credential::Bearer(verified),
    })
}

/// The caller behind the request's credentials, if any (no CSRF check). A Bearer header
/// decides alone: if it does not verify, the answer is 401 with `WWW-Authenticate`, whatever
/// cookies came along. A stale access cookie falls through to the session cookie.
pub async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Authenticated>, ApiError> {
    match bearer(headers, state)? {
        Bearer::Absent => {}
        Bearer::Known(auth) => return Ok(Some(auth)),
        Bearer::Verified(verified) => return bearer_user(state, verified).await.map(Some),
        Bearer::Unseen(token) => return unseen_bearer(state, token).await.map(Some),
    }
    if let Some(token) = cookie(headers, ACCESS_COOKIE)
        && let Ok(verified) = state.tessera.tokens.authenticate(token).await
        && let Some(user) = token_user(state, &verified).await?
    {
        return Ok(Some(Authenticated {
            user,
            credential: Credential::AccessCookie(verified),
        }));
    }
    session_credential(headers, state).await
}

/// The caller behind the session cookie alone, if it is live (no CSRF check). The last step
/// of [`authenticate`], and all of it for endpoints that are about the cookie session itself.
pub async fn session_credential(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<Authenticated>, ApiError> {
    let Some(secret) = session_secret(headers, state) else {
        return Ok(None);
    };
    let Some(record) = state.tessera.sessions.authenticate(&secret).await? else {
        return Ok(None);
    };
    let Some(user) = state.tessera.user(record.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(Authenticated {
        user,
        credential: Credential::Session {
            record: Box::new(record),
            secret,
        },
    }))
}

async fn token_user(
    state: &AppState,
    token: &VerifiedToken,
) -> Result<Option<Arc<User>>, ApiError> {
    if let Some(user) = token.owner() {
        return Ok(Some(user.clone()));
    }
    let Some(id) = token.user_id() else {
        return Ok(None);
    };
    Ok(state
        .tessera
        .user(id)
        .await?
        .map(|user| token.remember_owner(&user)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        let h = xff("198.51.100.7, 10.9.9.9");
        assert_eq!(
            client_ip(Some(proxy), &h, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(client_ip(Some(outsider), &h, &trusted), Some(outsider));
        // The client's own forged entry on the left is ignored.
        let forged = xff("1.1.1.1, 198.51.100.7");
        assert_eq!(
            client_ip(Some(proxy), &forged, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(client_ip(Some(proxy), &xff("junk"), &trusted), Some(proxy));
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &[]), Some(proxy));
    }

    #[test]
    fn cookies_are_found_and_bounded() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tessera_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "tessera_session"), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        let big = format!("tessera_session={}", "x".repeat(10 * 1024));
        h.insert(header::COOKIE, HeaderValue::from_str(&big).unwrap());
        assert_eq!(cookie(&h, "tessera_session"), None);
    }
}
