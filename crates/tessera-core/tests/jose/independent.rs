//! Our tokens verified by an independent JOSE implementation (jwt-compact over RustCrypto's
//! ed25519-compact, p256 and rsa crates; we sign with aws-lc-rs), fed only our JWKS JSON.

use jwt_compact::jwk::{JsonWebKey, JwkError};
use jwt_compact::{Algorithm as JwtAlgorithm, AlgorithmExt, UntrustedToken};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use tessera_core::key::{Algorithm, KeyRing};
use tessera_core::token;

use crate::{AUDIENCE, ISSUER, claims_at, copy, key, now, other_key};

#[derive(Debug, Clone, Deserialize)]
struct Custom {
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    sid: String,
}

/// Verifies `token` with jwt-compact's `alg`, using the JWK that the token's `kid` names in
/// `jwks_json`. Returns the claims, or jwt-compact's error.
fn verify_elsewhere<A>(alg: A, jwks_json: &str, token: &str) -> Result<Custom, String>
where
    A: JwtAlgorithm,
    A::VerifyingKey: for<'a, 'b> TryFrom<&'a JsonWebKey<'b>, Error = JwkError>,
{
    let jwks: Value = serde_json::from_str(jwks_json).unwrap();
    let untrusted = UntrustedToken::new(token).map_err(|e| e.to_string())?;
    let kid = untrusted.header().key_id.clone().ok_or("no kid")?;
    let entry = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in the JWKS")?;
    let jwk: JsonWebKey<'_> = serde_json::from_value(entry.clone()).unwrap();
    // jwt-compact's own RFC 7638 thumbprint of our published key is our kid.
    assert_eq!(
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwk.thumbprint::<Sha256>()
        ),
        kid
    );
    let verifying_key = A::VerifyingKey::try_from(&jwk).map_err(|e| e.to_string())?;
    let token = alg
        .validator::<Custom>(&verifying_key)
        .validate(&untrusted)
        .map_err(|e| e.to_string())?;
    let claims = token.claims();
    assert!(claims.expiration.is_some() && claims.issued_at.is_some());
    Ok(claims.custom.clone())
}

fn check(alg: Algorithm) {
    let ring = KeyRing::initial(copy(key(alg)), copy(other_key(alg)), now())
        .unwrap()
        .ring;
    let claims = claims_at(now());
    let signed = token::sign(&ring, &claims).unwrap();
    // What a downstream service would fetch from /.well-known/jwks.json.
    let jwks_json = serde_json::to_string(&ring.jwks()).unwrap();
    let verify = |t: &str| match alg {
        Algorithm::EdDSA => verify_elsewhere(jwt_compact::alg::Ed25519, &jwks_json, t),
        Algorithm::ES256 => verify_elsewhere(jwt_compact::alg::Es256, &jwks_json, t),
        Algorithm::RS256 => verify_elsewhere(jwt_compact::alg::Rsa::rs256(), &jwks_json, t),
        Algorithm::HS256 => unreachable!(),
    };
    let seen = verify(&signed).unwrap_or_else(|e| panic!("{alg}: {e}"));
    assert_eq!(seen.iss, ISSUER);
    assert_eq!(seen.aud, AUDIENCE);
    assert_eq!(seen.sub, claims.sub);
    assert_eq!(seen.jti, claims.jti);
    assert_eq!(seen.sid, "family-7");
    // The other implementation really checks: a tampered token fails there too.
    let (head, rest) = signed.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut evil = serde_json::to_value(&claims).unwrap();
    evil["sub"] = "admin".into();
    let payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        evil.to_string(),
    );
    assert!(verify(&format!("{head}.{payload}.{sig}")).is_err(), "{alg}");
    // A token from the next key (published ahead) verifies there as well.
    let from_next = token::sign_with(ring.next_key().unwrap(), &claims).unwrap();
    assert!(verify(&from_next).is_ok(), "{alg}: next key");
}

#[test]
fn eddsa_tokens_verify_in_jwt_compact_from_our_jwks() {
    check(Algorithm::EdDSA);
}

#[test]
fn es256_tokens_verify_in_jwt_compact_from_our_jwks() {
    check(Algorithm::ES256);
}

#[test]
fn rs256_tokens_verify_in_jwt_compact_from_our_jwks() {
    check(Algorithm::RS256);
}
