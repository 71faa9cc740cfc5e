#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! JOSE tests of tessera-core: keys, key ring, access-token signing and the strict verifier,
//! checked against independent vectors (Wycheproof, RFC 7520, RFC 8037, RFC 7638) and against
//! an independent JOSE implementation (jwt-compact, RustCrypto).

mod attacks;
mod independent;
mod keys;
mod ring;
mod vectors;

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tessera_core::key::{Algorithm, KeyPair, KeyRing};
use tessera_core::token::{AccessClaims, Verifier};
use time::{Duration, OffsetDateTime};

pub const ISSUER: &str = "https://auth.example.test";
pub const AUDIENCE: &str = "tessera";

/// The shared vectors, `../shared/vectors` beside the checkout (here and in CI).
pub fn vectors_path(rel: &str) -> String {
    format!(
        "{}/../../../shared/vectors/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn load_vectors(rel: &str) -> Value {
    let path = vectors_path(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub fn test_data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// A fixed "now" so tests never depend on the wall clock.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

pub fn verifier() -> Verifier {
    Verifier::new(ISSUER, AUDIENCE)
}

pub fn claims_at(at: OffsetDateTime) -> AccessClaims {
    AccessClaims::new(ISSUER, "user-42", AUDIENCE, at, Duration::minutes(15))
        .unwrap()
        .with_sid("family-7")
}

/// One generated key per algorithm (RSA generation is slow: make each once).
pub fn key(alg: Algorithm) -> &'static KeyPair {
    static KEYS: OnceLock<Vec<KeyPair>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Algorithm::ALL
            .iter()
            .map(|&a| KeyPair::generate(a).unwrap())
            .collect()
    });
    let i = Algorithm::ALL.iter().position(|&a| a == alg).unwrap();
    &keys[i]
}

/// A second, different key per algorithm.
pub fn other_key(alg: Algorithm) -> &'static KeyPair {
    static KEYS: OnceLock<Vec<KeyPair>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Algorithm::ALL
            .iter()
            .map(|&a| KeyPair::generate(a).unwrap())
            .collect()
    });
    let i = Algorithm::ALL.iter().position(|&a| a == alg).unwrap();
    &keys[i]
}

/// A copy of a key (through its storage bytes, as a store would make one).
pub fn copy(key: &KeyPair) -> KeyPair {
    KeyPair::from_storage_bytes(key.algorithm(), key.to_storage_bytes().expose()).unwrap()
}

/// A ring whose active key is `key(alg)` and next key `other_key(alg)`.
pub fn ring(alg: Algorithm) -> KeyRing {
    KeyRing::initial(copy(key(alg)), copy(other_key(alg)), now())
        .unwrap()
        .ring
}
