//! Access tokens (RFC 9068 JWTs): claims, signing, and a strict verifier.
//!
//! The verifier reads a token in this order, and stops at the first failure:
//! 1. size: over `max_token_bytes` (8 KiB) is refused unread;
//! 2. shape: three base64url parts (strict: no padding, no stray bits, no other characters);
//! 3. protected header, parsed here, not by a library: duplicate members, `alg: none` in any
//!    casing, and any `jku`, `jwk`, `x5u`, `x5c`, `crit` or `b64` member are refused outright
//!    (nothing named in a header is ever fetched or used); `typ` must be `at+jwt` (or
//!    `application/at+jwt`, any casing); `cty` (nested tokens) is refused;
//! 4. key: the `kid` is looked up in the caller's keys ([`KeyResolver`]); absent or unknown →
//!    [`TokenError::UnknownKey`], whatever characters it holds (it is only ever compared);
//! 5. algorithm: the header's `alg` must equal the key's pinned algorithm exactly;
//! 6. signature, with that key and its algorithm, by aws-lc-rs on the key parsed at load time
//!    ([`Verifier::verify_batched`]: Ed25519 signatures in a batch with concurrent requests',
//!    same verdicts; see [`SignatureBatcher`]);
//! 7. only then the claims: `iss`, `aud`, `exp`, `nbf`, `iat` (not in the future), with leeway.
//!
//! No JWT library decides anything here: a `decode`/`Validation` such as jsonwebtoken's reads
//! the system clock (our tests move a [`crate::clock::Clock`]), cannot refuse a future `iat`,
//! a wrong `typ` or the header members above, and re-parses the key on every check. The
//! algorithm is always the key's, never the header's.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::ErrorCode;
use crate::key::{KeyPair, KeyResolver, KeyRing, SignatureBatcher, VerificationKey};

/// Tokens longer than this are refused without being read (DESIGN: token 8 KiB).
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);
/// The `typ` of an access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Header members refused outright: keys or key locations chosen by the token, extensions we
/// do not implement (`crit`), and unencoded payloads (RFC 7797 `b64`).
pub const FORBIDDEN_HEADER_MEMBERS: [&str; 6] = ["jku", "jwk", "x5u", "x5c", "crit", "b64"];

/// Bytes of randomness in a `jti`.
const JTI_BYTES: usize = 16;

/// Why a token was refused. Every variant is a 401; only [`TokenError::Expired`] has its own
/// code (`token_expired`), the rest are `unauthorized` (see [`TokenError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than the verifier's `max_token_bytes`; not read.
    #[error("the token is too large")]
    TooLarge,
    /// Not a compact JWS, bad base64url, bad JSON, or claims of the wrong shape.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header asks for something we refuse (alg none, a mismatched alg, an embedded or
    /// remote key, `crit`, a wrong `typ`).
    #[error("token refused: {0}")]
    Rejected(&'static str),
    /// No `kid`, or one that names no key we may verify with.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Signed by us but not for this verifier: wrong `iss` or `aud`, `iat` in the future,
    /// empty `sub` or `jti`.
    #[error("invalid claims: {0}")]
    InvalidClaims(&'static str),
}

impl TokenError {
    /// The API error code: `token_expired` for an expired token, `unauthorized` otherwise.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// The claims of an access token (RFC 9068 section 2.2, without `client_id`: Tessera's tokens
/// are issued to its own users, not to OAuth clients). Unknown claims are ignored on input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the configured `[jwt] issuer`.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience; a string or an array on input, a string when there is one on output.
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id: 128 random bits, base64url. The key of the access-token denylist.
    pub jti: String,
    /// Session (refresh family) the token belongs to; revoking the family denies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl AccessClaims {
    /// Claims for a new token issued at `now` (truncated to seconds) for `ttl`, with a fresh
    /// random `jti` and no `sid`.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: impl Into<String>,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> crate::Result<Self> {
        let iat = now.unix_timestamp();
        Ok(Self {
            iss: issuer.into(),
            sub: subject.into(),
            aud: vec![audience.into()],
            exp: iat.saturating_add(ttl.whole_seconds()),
            iat,
            nbf: None,
            jti: new_jti()?,
            sid: None,
        })
    }

    /// The same claims, bound to a session (refresh family).
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// `exp` as a time.
    pub fn expires_at(&self) -> OffsetDateTime {
        crate::clock::from_unix(self.exp)
    }

    /// Whether the token has expired at `now` (Unix seconds), `leeway` seconds of skew allowed.
    /// The one rule for the verifier and every cache in front of it.
    pub fn is_expired(&self, now: i64, leeway: i64) -> bool {
        now >= self.exp.saturating_add(leeway.max(0))
    }

    /// `iat` as a time.
    pub fn issued_at(&self) -> OffsetDateTime {
        crate::clock::from_unix(self.iat)
    }
}

/// A fresh token id: 128 bits from the OS CSPRNG, base64url (22 characters).
pub fn new_jti() -> crate::Result<String> {
    let mut bytes = [0u8; JTI_BYTES];
    crate::secret::random_bytes(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

mod audience {
    use super::*;

    pub fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        })
    }
}

#[derive(Serialize)]
struct AccessHeader<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

/// Signs an access token with the ring's `Active` key: header
/// `{"alg", "kid", "typ": "at+jwt"}`. Fails (internal error) if the ring has no active key.
pub fn sign(ring: &KeyRing, claims: &AccessClaims) -> crate::Result<String> {
    let key = ring
        .signing_key()
        .ok_or_else(|| crate::Error::Internal("the key ring has no active signing key".into()))?;
    sign_with(key, claims)
}

/// Signs an access token with the given key (see [`sign`]).
pub fn sign_with(key: &KeyPair, claims: &AccessClaims) -> crate::Result<String> {
    let header = serde_json::to_vec(&AccessHeader {
        alg: key.algorithm().as_str(),
        kid: key.kid(),
        typ: ACCESS_TOKEN_TYP,
    })
    .map_err(|e| crate::Error::Internal(format!("serialising a JWT header: {e}")))?;
    let payload = serde_json::to_vec(claims)
        .map_err(|e| crate::Error::Internal(format!("serialising JWT claims: {e}")))?;
    Ok(key.sign_compact(&header, &payload)?)
}

/// A JSON object that refuses duplicate member names (RFC 7515 section 4 allows refusing them;
/// taking "the last one" is how parsers come to disagree about what a header says).
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&name) {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    map.insert(name, value);
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(V)
    }
}

/// The protected header, as far as we read it.
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    cty: bool,
}

/// A compact JWS split into its parts, header parsed and policed, nothing verified yet.
struct Compact<'a> {
    header: Header,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(what))
}

fn optional_str(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, TokenError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::Malformed("a header member is not a string")),
    }
}

fn parse_compact(token: &str) -> Result<Compact<'_>, TokenError> {
    let well_formed = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !well_formed {
        return Err(TokenError::Malformed("characters outside base64url"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three dot-separated parts"));
    };
    let header_bytes = b64(header, "header is not base64url")?;
    let UniqueObject(obj) = serde_json::from_slice(&header_bytes)
        .map_err(|_| TokenError::Malformed("header is not a JSON object"))?;
    if FORBIDDEN_HEADER_MEMBERS
        .iter()
        .any(|m| obj.contains_key(*m))
    {
        return Err(TokenError::Rejected(
            "header carries a key, a key location or a critical extension",
        ));
    }
    let alg = optional_str(&obj, "alg")?.ok_or(TokenError::Malformed("header has no alg"))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::Rejected("alg none"));
    }
    let parsed = Header {
        alg,
        kid: optional_str(&obj, "kid")?,
        typ: optional_str(&obj, "typ")?,
        cty: obj.contains_key("cty"),
    };
    Ok(Compact {
        header: parsed,
        signing_input: &token[..header.len() + 1 + payload.len()],
        payload,
        signature,
    })
}

/// A compact JWS read as far as its signature: algorithm pinned to the key, signature decoded;
/// nothing verified yet.
struct Signed<'a> {
    key: &'a VerificationKey,
    signing_input: &'a str,
    signature: Vec<u8>,
    payload: &'a str,
}

impl<'a> Signed<'a> {
    /// Checks the algorithm pin and decodes the signature.
    fn read(key: &'a VerificationKey, jws: Compact<'a>) -> Result<Self, TokenError> {
        if jws.header.alg != key.algorithm().as_str() {
            return Err(TokenError::Rejected("alg does not match the key"));
        }
        let signature = b64(jws.signature, "signature is not base64url")?;
        if signature.is_empty() {
            return Err(TokenError::Malformed("no signature"));
        }
        Ok(Self {
            key,
            signing_input: jws.signing_input,
            signature,
            payload: jws.payload,
        })
    }

    /// The signature check, alone.
    fn check(&self) -> Result<(), TokenError> {
        self.key
            .verify_detached(self.signing_input.as_bytes(), &self.signature)
    }

    /// The signature check, in a batch with other requests' when the key is Ed25519.
    async fn check_batched(&self, batcher: &SignatureBatcher) -> Result<(), TokenError> {
        batcher
            .verify(self.key, self.signing_input.as_bytes(), &self.signature)
            .await
    }

    /// The payload's bytes; only once the signature is checked.
    fn payload(&self) -> Result<Vec<u8>, TokenError> {
        b64(self.payload, "payload is not base64url")
    }
}

/// Checks the algorithm pin and the signature, then decodes the payload.
fn verify_compact(key: &VerificationKey, jws: Compact<'_>) -> Result<Vec<u8>, TokenError> {
    let signed = Signed::read(key, jws)?;
    signed.check()?;
    signed.payload()
}

/// The signature path on its own: checks a compact JWS against one key and returns the
/// verified payload bytes. The header is policed as in [`Verifier::verify`] (no `none`, alg
/// equal to the key's, no embedded or remote keys, no `crit`), and a `kid`, if present, must be
/// the key's; `typ` and the claims are not looked at, so it serves any JWS, not just access
/// tokens. Callers bound the token's size.
pub fn verify_signature(key: &VerificationKey, token: &str) -> Result<Vec<u8>, TokenError> {
    let jws = parse_compact(token)?;
    if jws
        .header
        .kid
        .as_deref()
        .is_some_and(|kid| kid != key.kid())
    {
        return Err(TokenError::UnknownKey);
    }
    verify_compact(key, jws)
}

/// [`verify_signature`] against a set of keys: the header must name a `kid` that `keys`
/// resolve (nothing is fetched).
pub fn verify_signature_in<K: KeyResolver + ?Sized>(
    keys: &K,
    token: &str,
) -> Result<Vec<u8>, TokenError> {
    let jws = parse_compact(token)?;
    let key = jws
        .header
        .kid
        .as_deref()
        .and_then(|kid| keys.verification_key(kid))
        .ok_or(TokenError::UnknownKey)?;
    verify_compact(key, jws)
}

/// The strict access-token verifier. Build it once from configuration.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Required `iss`.
    pub issuer: String,
    /// Required member of `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s).
    pub leeway: Duration,
    /// Longer tokens are refused unread (default 8192).
    pub max_token_bytes: usize,
}

impl Verifier {
    /// A verifier for tokens from `issuer` to `audience`, with the default leeway and size.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: MAX_TOKEN_BYTES,
        }
    }

    /// The same verifier with another leeway.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Verifies an access token at `now` against `keys` (a [`KeyRing`], or a
    /// [`crate::key::JwkSet`] downstream). See the module docs for the order of checks.
    pub fn verify<K: KeyResolver + ?Sized>(
        &self,
        keys: &K,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<AccessClaims, TokenError> {
        let signed = self.read(keys, token)?;
        signed.check()?;
        self.accept(&signed, now)
    }

    /// [`Self::verify`], with an Ed25519 signature checked in a batch with other requests'
    /// (see [`SignatureBatcher`]): the same checks in the same order, the same verdicts.
    pub async fn verify_batched<K: KeyResolver + Sync + ?Sized>(
        &self,
        keys: &K,
        token: &str,
        now: OffsetDateTime,
        batcher: &SignatureBatcher,
    ) -> Result<AccessClaims, TokenError> {
        let signed = self.read(keys, token)?;
        signed.check_batched(batcher).await?;
        self.accept(&signed, now)
    }

    /// Steps 1 to 5 (module docs): size, shape, header, key, algorithm.
    fn read<'a, K: KeyResolver + ?Sized>(
        &self,
        keys: &'a K,
        token: &'a str,
    ) -> Result<Signed<'a>, TokenError> {
        if token.len() > self.max_token_bytes {
            return Err(TokenError::TooLarge);
        }
        let jws = parse_compact(token)?;
        let typ_ok = jws.header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::Rejected("typ is not at+jwt"));
        }
        if jws.header.cty {
            return Err(TokenError::Rejected("nested tokens (cty) are not accepted"));
        }
        let key = jws
            .header
            .kid
            .as_deref()
            .and_then(|kid| keys.verification_key(kid))
            .ok_or(TokenError::UnknownKey)?;
        Signed::read(key, jws)
    }

    /// Step 7, once the signature is checked: the claims.
    fn accept(&self, signed: &Signed<'_>, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let claims: AccessClaims = serde_json::from_slice(&signed.payload()?)
            .map_err(|_| TokenError::Malformed("claims are not access-token claims"))?;
        self.check_claims(&claims, now)?;
        Ok(claims)
    }

    fn check_claims(&self, claims: &AccessClaims, now: OffsetDateTime) -> Result<(), TokenError> {
        if claims.iss != self.issuer {
            return Err(TokenError::InvalidClaims("iss"));
        }
        if !claims.aud.contains(&self.audience) {
            return Err(TokenError::InvalidClaims("aud"));
        }
        if claims.sub.is_empty() || claims.jti.is_empty() {
            return Err(TokenError::InvalidClaims("empty sub or jti"));
        }
        let now = now.unix_timestamp();
        let leeway = self.leeway.whole_seconds().max(0);
        if claims.is_expired(now, leeway) {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| now.saturating_add(leeway) < nbf)
        {
            return Err(TokenError::NotYetValid);
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::InvalidClaims("iat is in the future"));
        }
        Ok(())
    }
}
