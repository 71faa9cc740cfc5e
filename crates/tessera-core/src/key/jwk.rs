//! RFC 7517 JWKs: export of our public keys, RFC 7638 thumbprints, and a strict import of
//! verification keys and key sets.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Algorithm, HMAC_SECRET_BYTES, KeyError, KeyResolver, RSA_MAX_BITS, RSA_MIN_BITS};
use super::{Checker, VerificationKey};

/// The public half of one of our keys as RFC 7517 publishes it: `kty`, `crv`/`x`/`y` or
/// `n`/`e`, `kid`, `alg`, `use: "sig"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicJwk {
    /// `OKP`, `EC` or `RSA`.
    pub kty: &'static str,
    /// `Ed25519` or `P-256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    /// The Ed25519 public key, or the P-256 x coordinate (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The P-256 y coordinate (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The RSA modulus (base64url, no leading zero octets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The RSA public exponent (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// The key id: the RFC 7638 thumbprint of this key.
    pub kid: String,
    /// The one algorithm this key verifies.
    pub alg: Algorithm,
    /// Always `"sig"`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JWK Set (RFC 7517 section 5), as served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwks {
    /// The published keys.
    pub keys: Vec<PublicJwk>,
}

impl PublicJwk {
    pub(super) fn okp(x: String) -> Self {
        Self::with_thumbprint(Self {
            kty: "OKP",
            crv: Some("Ed25519"),
            x: Some(x),
            y: None,
            n: None,
            e: None,
            kid: String::new(),
            alg: Algorithm::EdDSA,
            use_: "sig",
        })
    }

    pub(super) fn ec(x: String, y: String) -> Self {
        Self::with_thumbprint(Self {
            kty: "EC",
            crv: Some("P-256"),
            x: Some(x),
            y: Some(y),
            n: None,
            e: None,
            kid: String::new(),
            alg: Algorithm::ES256,
            use_: "sig",
        })
    }

    pub(super) fn rsa(n: String, e: String) -> Self {
        Self::with_thumbprint(Self {
            kty: "RSA",
            crv: None,
            x: None,
            y: None,
            n: Some(n),
            e: Some(e),
            kid: String::new(),
            alg: Algorithm::RS256,
            use_: "sig",
        })
    }

    fn with_thumbprint(mut self) -> Self {
        self.kid = self.thumbprint();
        self
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order,
    /// without whitespace, base64url. Written out by hand so that no JSON map ordering (e.g.
    /// serde_json's `preserve_order`) can change it.
    pub fn thumbprint(&self) -> String {
        let s = |v: &Option<String>| json_string(v.as_deref().unwrap_or_default());
        let crv = json_string(self.crv.unwrap_or_default());
        let canonical = match self.kty {
            "EC" => format!(
                r#"{{"crv":{crv},"kty":"EC","x":{},"y":{}}}"#,
                s(&self.x),
                s(&self.y)
            ),
            "OKP" => format!(r#"{{"crv":{crv},"kty":"OKP","x":{}}}"#, s(&self.x)),
            _ => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s(&self.e), s(&self.n)),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The HS256 `kid`: a hash of the RFC 7638 thumbprint of `{"k":…,"kty":"oct"}`, never the
/// thumbprint itself (see the module docs of [`crate::key`]).
pub(super) fn hs256_kid(secret: &[u8]) -> String {
    let canonical = format!(
        r#"{{"k":{},"kty":"oct"}}"#,
        json_string(&URL_SAFE_NO_PAD.encode(secret))
    );
    let thumbprint = Sha256::digest(canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint))
}

pub(super) fn split_p256_point(point: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    match point {
        [4, rest @ ..] if rest.len() == 64 => Ok(rest.split_at(32)),
        _ => Err(KeyError::Invalid(
            "a P-256 public key that is not an uncompressed point".into(),
        )),
    }
}

pub(super) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Odd primes below 1000, for the small-factor check, and the first 38 of them for the ROCA
/// fingerprint.
const SMALL_PRIMES: [u32; 167] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
    197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257, 263, 269, 271, 277, 281, 283, 293, 307,
    311, 313, 317, 331, 337, 347, 349, 353, 359, 367, 373, 379, 383, 389, 397, 401, 409, 419, 421,
    431, 433, 439, 443, 449, 457, 461, 463, 467, 479, 487, 491, 499, 503, 509, 521, 523, 541, 547,
    557, 563, 569, 571, 577, 587, 593, 599, 601, 607, 613, 617, 619, 631, 641, 643, 647, 653, 659,
    661, 673, 677, 683, 691, 701, 709, 719, 727, 733, 739, 743, 751, 757, 761, 769, 773, 787, 797,
    809, 811, 821, 823, 827, 829, 839, 853, 857, 859, 863, 877, 881, 883, 887, 907, 911, 919, 929,
    937, 941, 947, 953, 967, 971, 977, 983, 991, 997,
];
const ROCA_PRIMES: usize = 38; // 3 ..= 167

fn mod_small(big_endian: &[u8], p: u32) -> u32 {
    big_endian
        .iter()
        .fold(0u32, |r, &b| ((r << 8) | u32::from(b)) % p)
}

/// Whether `r` lies in the subgroup of (Z/p)* generated by 65537.
fn in_subgroup_of_65537(r: u32, p: u32) -> bool {
    let g = 65_537 % p;
    let mut x = 1 % p;
    for _ in 0..p {
        if x == r {
            return true;
        }
        x = x * g % p;
    }
    false
}

/// The ROCA fingerprint (CVE-2017-15361, Nemec et al. 2017): moduli made by the flawed
/// Infineon generator are, modulo each small prime, a power of 65537. A random modulus passes
/// all 38 tests with negligible probability.
pub(crate) fn has_roca_fingerprint(n: &[u8]) -> bool {
    SMALL_PRIMES[..ROCA_PRIMES]
        .iter()
        .all(|&p| in_subgroup_of_65537(mod_small(n, p), p))
}

/// Checks an RSA public key (big-endian, no leading zeros): size, odd modulus without small
/// factors, no ROCA fingerprint, exponent odd and between 3 and 2^32.
pub(super) fn check_rsa_public(n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let bits = match n.first() {
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(KeyError::Invalid(format!(
            "an RSA modulus of {bits} bits (need {RSA_MIN_BITS} to {RSA_MAX_BITS})"
        )));
    }
    if SMALL_PRIMES.iter().any(|&p| mod_small(n, p) == 0) || n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::Invalid(
            "an RSA modulus with a small factor".into(),
        ));
    }
    if has_roca_fingerprint(n) {
        return Err(KeyError::Invalid(
            "an RSA modulus with the ROCA fingerprint (CVE-2017-15361)".into(),
        ));
    }
    let exponent = match e {
        [] => 0,
        _ if e.len() > 4 => u64::MAX,
        _ => e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    };
    if exponent < 3 || exponent.is_multiple_of(2) || exponent > u64::from(u32::MAX) {
        return Err(KeyError::Invalid(format!(
            "an RSA public exponent of {exponent} (need an odd number from 3 to 2^32)"
        )));
    }
    Ok(())
}

/// Members that hold private key material in an asymmetric JWK.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn str_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, KeyError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyError::Invalid(format!(
            "JWK member {name:?} is not a string"
        ))),
    }
}

fn required_b64(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyError> {
    let text =
        str_member(obj, name)?.ok_or_else(|| KeyError::Invalid(format!("JWK without {name:?}")))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::Invalid(format!("JWK member {name:?} is not base64url")))
}

pub(super) fn import_json(
    json: &str,
    expected: Option<Algorithm>,
) -> Result<VerificationKey, KeyError> {
    let value: Value =
        serde_json::from_str(json).map_err(|_| KeyError::Invalid("not JSON".into()))?;
    match &value {
        Value::Object(obj) => import(obj, expected),
        _ => Err(KeyError::Invalid("a JWK must be a JSON object".into())),
    }
}

/// Imports one JWK as a verification key. [`KeyError::Unsupported`] means "not a key for us"
/// (another algorithm, an encryption key): a key set skips those. [`KeyError::Invalid`] means a
/// key that claims to be usable but is unsound: a key set refuses the whole set.
pub(super) fn import(
    obj: &Map<String, Value>,
    expected: Option<Algorithm>,
) -> Result<VerificationKey, KeyError> {
    let kty = str_member(obj, "kty")?.ok_or_else(|| KeyError::Invalid("JWK without kty".into()))?;
    if let Some(u) = str_member(obj, "use")?
        && u != "sig"
    {
        return Err(KeyError::Unsupported(format!("a JWK with use {u:?}")));
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops
            .as_array()
            .ok_or_else(|| KeyError::Invalid("key_ops is not an array".into()))?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(KeyError::Unsupported(
                "a JWK whose key_ops exclude verify".into(),
            ));
        }
    }
    let alg = match (str_member(obj, "alg")?, expected) {
        (Some(named), expected) => {
            let alg: Algorithm = named.parse()?;
            if expected.is_some_and(|x| x != alg) {
                return Err(KeyError::Invalid(format!(
                    "a JWK for {alg} where {} was expected",
                    expected.map_or("", Algorithm::as_str)
                )));
            }
            alg
        }
        (None, Some(expected)) => expected,
        (None, None) => {
            return Err(KeyError::Invalid(
                "a JWK without alg (the algorithm must be pinned)".into(),
            ));
        }
    };
    let kid = str_member(obj, "kid")?.map(str::to_owned);
    let want_kty = match alg {
        Algorithm::EdDSA => "OKP",
        Algorithm::ES256 => "EC",
        Algorithm::RS256 => "RSA",
        Algorithm::HS256 => "oct",
    };
    if kty != want_kty {
        return Err(KeyError::Invalid(format!("a {kty} JWK for {alg}")));
    }
    if !alg.is_symmetric()
        && let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m))
    {
        return Err(KeyError::Invalid(format!(
            "a verification JWK with the private member {m:?}"
        )));
    }
    let crv = str_member(obj, "crv")?;
    let (jwk, checker) = match alg {
        Algorithm::HS256 => {
            let k = zeroize::Zeroizing::new(required_b64(obj, "k")?);
            if k.len() < HMAC_SECRET_BYTES {
                return Err(KeyError::Invalid(format!(
                    "an HS256 key of {} bytes (need at least {HMAC_SECRET_BYTES})",
                    k.len()
                )));
            }
            let kid = kid.unwrap_or_else(|| hs256_kid(&k));
            return Ok(VerificationKey {
                alg,
                kid,
                checker: Checker::hmac(&k),
                jwk: None,
            });
        }
        Algorithm::EdDSA => {
            if crv != Some("Ed25519") {
                return Err(KeyError::Invalid(format!("an EdDSA JWK on curve {crv:?}")));
            }
            let x = required_b64(obj, "x")?;
            let checker = Checker::ed25519(&x)?;
            (PublicJwk::okp(URL_SAFE_NO_PAD.encode(&x)), checker)
        }
        Algorithm::ES256 => {
            if crv != Some("P-256") {
                return Err(KeyError::Invalid(format!("an ES256 JWK on curve {crv:?}")));
            }
            let (x, y) = (required_b64(obj, "x")?, required_b64(obj, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(KeyError::Invalid(
                    "P-256 coordinates must be 32 bytes".into(),
                ));
            }
            let point = [&[4u8][..], &x, &y].concat();
            let checker = Checker::p256(&point)?;
            let jwk = PublicJwk::ec(URL_SAFE_NO_PAD.encode(&x), URL_SAFE_NO_PAD.encode(&y));
            (jwk, checker)
        }
        Algorithm::RS256 => {
            let (n, e) = (required_b64(obj, "n")?, required_b64(obj, "e")?);
            if n.first() == Some(&0) || e.first() == Some(&0) {
                return Err(KeyError::Invalid(
                    "RSA n and e must not have leading zero octets".into(),
                ));
            }
            check_rsa_public(&n, &e)?;
            let checker = Checker::rsa(&n, &e)?;
            let jwk = PublicJwk::rsa(URL_SAFE_NO_PAD.encode(&n), URL_SAFE_NO_PAD.encode(&e));
            (jwk, checker)
        }
    };
    let mut jwk = jwk;
    if let Some(kid) = kid {
        jwk.kid = kid;
    }
    Ok(VerificationKey {
        alg,
        kid: jwk.kid.clone(),
        checker,
        jwk: Some(jwk),
    })
}

/// Verification keys imported from a JWK Set, for checking tokens of another issuer (or ours,
/// downstream). Never fetches anything: the caller supplies the JSON.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<VerificationKey>,
}

impl JwkSet {
    /// Parses `{"keys": [...]}`. Keys that are not for us (another algorithm, `use: "enc"`)
    /// are skipped, as RFC 7517 section 5 allows; an unsound key (bad point, weak or ROCA RSA
    /// modulus, short HMAC key, private members), two keys with one `kid`, or a set that mixes
    /// shared secrets with public keys refuse the whole set.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        let value: Value =
            serde_json::from_str(json).map_err(|_| KeyError::Invalid("not JSON".into()))?;
        let entries = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| KeyError::Invalid("a JWK Set without a \"keys\" array".into()))?;
        let mut keys: Vec<VerificationKey> = Vec::with_capacity(entries.len());
        for entry in entries {
            let obj = entry
                .as_object()
                .ok_or_else(|| KeyError::Invalid("a JWK Set entry that is not an object".into()))?;
            let key = match import(obj, None) {
                Ok(key) => key,
                Err(KeyError::Unsupported(_)) => continue,
                Err(e) => return Err(e),
            };
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(KeyError::Invalid(format!(
                    "a JWK Set with two keys named {:?}",
                    key.kid
                )));
            }
            keys.push(key);
        }
        let symmetric = keys.iter().filter(|k| k.alg.is_symmetric()).count();
        if symmetric != 0 && symmetric != keys.len() {
            return Err(KeyError::Invalid(
                "a JWK Set that mixes shared secrets with public keys".into(),
            ));
        }
        Ok(Self { keys })
    }

    /// The usable keys.
    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }
}

impl KeyResolver for JwkSet {
    fn verification_key(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subgroup_masks_match_the_published_roca_detector() {
        // The first "prints" of the reference detector: bit r set iff r is a power of 65537 mod p.
        for (p, mask) in [(3u32, 6u64), (5, 30), (7, 126), (11, 1026)] {
            let ours = (0..p)
                .filter(|&r| in_subgroup_of_65537(r, p))
                .fold(0u64, |m, r| m | (1 << r));
            assert_eq!(ours, mask, "p = {p}");
        }
    }

    #[test]
    fn mod_small_is_big_endian_remainder() {
        assert_eq!(mod_small(&[0x01, 0x00], 7), 256 % 7);
        assert_eq!(mod_small(&[0xff; 8], 97), (u64::MAX % 97) as u32);
    }
}
