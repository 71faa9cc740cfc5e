//! Signing keys for JWT mode: generation, PEM loading, storage, JWK export and the key ring.
//!
//! - [`Algorithm`]: the four algorithms Tessera signs with. Every key has exactly one, pinned
//!   when the key is made; a token header never chooses it.
//! - [`KeyPair`]: a private key (Ed25519, P-256, RSA or an HMAC secret) with its public half.
//!   Its private material cannot be logged (redacted `Debug`) or serialised (no `Serialize`);
//!   the one way out is [`KeyPair::to_storage_bytes`], a [`KeyMaterial`] for a store to keep.
//! - [`VerificationKey`]: what verifies: the public half (or, for HS256, the secret), with its
//!   `kid` and pinned algorithm. Built from a [`KeyPair`] or imported from a JWK.
//! - [`KeyRing`], [`KeyState`]: the keys a node knows, with their life-cycle states, and the pure
//!   transitions (rotate, retire) that a service persists.
//! - [`PublicJwk`], [`Jwks`], [`JwkSet`]: RFC 7517 export and import.
//!
//! Cryptography: keys are generated, parsed, used for signing and for verifying with `aws-lc-rs`,
//! and every key is parsed once, when it is loaded: a verification key holds an aws-lc
//! `ParsedPublicKey` (or an HMAC key), pinned to its algorithm. jsonwebtoken is not used: it
//! cannot generate keys, its signers re-parse the private key on every signature, and its
//! verifiers re-parse the public key on every check (for RSA, a third of a cold check's time).
//!
//! `kid`: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public JWK. An HS256 key has no
//! public JWK and its thumbprint would be a hash of the secret that travels in every token
//! header, so its `kid` is one hash further: `BASE64URL(SHA-256(SHA-256(canonical oct JWK)))`,
//! which names the key without offering anything to test guesses of the secret against beyond
//! what a token's MAC already does.

mod batch;
mod jwk;
mod ring;

pub(crate) use batch::Ed25519Key;
pub use batch::{BatchStats, COOLDOWN_BATCHES, DEFAULT_MAX_BATCH, SignatureBatcher};
pub use jwk::{JwkSet, Jwks, PublicJwk};
pub use ring::{KeyChange, KeyEntry, KeyRing, KeyState, Transition};

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::store::KeyMaterial;
use crate::token::TokenError;

/// Bytes in a generated HMAC secret, and the least we accept for HS256 (RFC 7518 3.2).
pub const HMAC_SECRET_BYTES: usize = 32;
/// Smallest RSA modulus we accept, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus we accept, in bits (the verifier's limit too).
pub const RSA_MAX_BITS: usize = 8192;

/// A JWS algorithm Tessera signs and verifies with. Serialised exactly as JOSE names it.
#[allow(clippy::upper_case_acronyms)] // the JOSE names, spelled as RFC 7518 and RFC 8037 do
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ed25519 (RFC 8037). The default.
    EdDSA,
    /// ECDSA on P-256 with SHA-256, signature as r || s (RFC 7518 3.4).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys when generated.
    RS256,
    /// HMAC-SHA-256 with a 256-bit secret. Never published in the JWKS.
    HS256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 4] = [Self::EdDSA, Self::ES256, Self::RS256, Self::HS256];

    /// The JOSE name (`"EdDSA"`, `"ES256"`, `"RS256"`, `"HS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }

    /// Whether the key is a shared secret (HS256): it verifies only where it signs and is
    /// never published.
    pub fn is_symmetric(self) -> bool {
        self == Self::HS256
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;

    /// Exact, case-sensitive JOSE names only.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| KeyError::Unsupported(format!("algorithm {s:?}")))
    }
}

/// What can go wrong making, loading or arranging keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key, key type or algorithm Tessera does not handle (P-384, RSA-PSS, an encryption key…).
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// Material that claims to be a supported key but is not a sound one.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// A transition or ring that would break the key life cycle.
    #[error("key ring: {0}")]
    Ring(String),
    /// The cryptographic library or the OS random generator failed.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
}

impl From<KeyError> for crate::Error {
    fn from(e: KeyError) -> Self {
        crate::Error::Internal(e.to_string())
    }
}

/// Looks up a verification key by `kid`. Implemented by [`KeyRing`] (our own keys) and
/// [`JwkSet`] (keys imported from a JWKS). Never fetches anything.
pub trait KeyResolver {
    /// The key that may verify a token naming `kid`, if any.
    fn verification_key(&self, kid: &str) -> Option<&VerificationKey>;
}

/// A key that verifies: its algorithm (pinned), its `kid`, the parsed key, and its public JWK
/// (none for HS256, whose "public" key is the secret).
#[derive(Clone)]
pub struct VerificationKey {
    alg: Algorithm,
    kid: String,
    checker: Checker,
    jwk: Option<PublicJwk>,
}

/// A key parsed once, when loaded, so that checking a signature parses nothing.
#[derive(Clone)]
enum Checker {
    /// Ed25519, parsed for single checks and, when it may be, for batches.
    Ed25519(Arc<Ed25519Key>),
    /// P-256 (fixed r ‖ s) or RSA PKCS#1 v1.5 (2048–8192 bits), with SHA-256.
    Public(Arc<ParsedPublicKey>),
    /// HS256; boxed: an HMAC key is an order of magnitude larger than the others.
    Hmac(Box<hmac::Key>),
}

impl Checker {
    fn ed25519(x: &[u8]) -> Result<Self, KeyError> {
        Ed25519Key::new(x).map(|k| Self::Ed25519(Arc::new(k)))
    }

    /// From an uncompressed point (`04 ‖ x ‖ y`).
    fn p256(point: &[u8]) -> Result<Self, KeyError> {
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .map(|k| Self::Public(Arc::new(k)))
            .map_err(|_| KeyError::Invalid("not a point on P-256".into()))
    }

    /// From the big-endian modulus and exponent (sizes checked by the caller).
    fn rsa(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map(|k| Self::Public(Arc::new(k)))
            .map_err(|_| KeyError::Invalid("not a usable RSA public key".into()))
    }

    fn hmac(secret: &[u8]) -> Self {
        Self::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// aws-lc compares HMAC tags in constant time and range-checks ECDSA's r and s (so
    /// r = s = 0 fails); a signature of the wrong length fails like any other.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(key) => key.verify(message, signature),
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
            Self::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

impl VerificationKey {
    /// The algorithm every token checked with this key must declare.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RFC 7517 public key, for the JWKS. `None` for HS256.
    pub fn public_jwk(&self) -> Option<&PublicJwk> {
        self.jwk.as_ref()
    }

    /// Imports one JWK (JSON text). The JWK must carry `alg` (the key's pinned algorithm), one
    /// of ours; `use`, if present, must be `sig`; `key_ops`, if present, must allow `verify`;
    /// an asymmetric JWK must hold no private members. `kid` is the JWK's own, or its RFC 7638
    /// thumbprint when absent.
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        jwk::import_json(json, None)
    }

    /// Imports one JWK (JSON text) for a known algorithm: like [`Self::from_jwk`], but the JWK
    /// may omit `alg`; if it has one, it must equal `alg`.
    pub fn from_jwk_with_alg(json: &str, alg: Algorithm) -> Result<Self, KeyError> {
        jwk::import_json(json, Some(alg))
    }

    /// Checks a detached signature over `message` with this key's pinned algorithm: the
    /// primitive behind every JWS check (HMAC compared in constant time; ECDSA r and s
    /// range-checked, so r = s = 0 fails).
    pub fn verify_detached(&self, message: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        if self.checker.verify(message, signature) {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        }
    }

    /// The Ed25519 key, for the batched check; `None` for other algorithms.
    pub(crate) fn ed25519(&self) -> Option<&Arc<Ed25519Key>> {
        match &self.checker {
            Checker::Ed25519(key) => Some(key),
            _ => None,
        }
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

enum Signer {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    Hs256(Box<hmac::Key>), // an HMAC key is an order of magnitude larger than the others
}

/// A signing key with its public half. Holds private material: it has no `Serialize`, its
/// `Debug` shows only the algorithm and `kid`, and the stored bytes are wiped on drop.
pub struct KeyPair {
    public: VerificationKey,
    signer: Signer,
    stored: Zeroizing<Vec<u8>>,
}

impl KeyPair {
    /// A fresh key from the OS CSPRNG: Ed25519, P-256, RSA-2048 or a 256-bit HMAC secret.
    /// RSA generation takes a noticeable fraction of a second: call it off the async workers.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let crypto = |what: &str| KeyError::Crypto(format!("generating {what} failed"));
        match alg {
            Algorithm::EdDSA => {
                let doc = Ed25519KeyPair::generate()
                    .and_then(|k| k.to_pkcs8v1())
                    .map_err(|_| crypto("an Ed25519 key"))?;
                Self::from_pkcs8_der(doc.as_ref())
            }
            Algorithm::ES256 => {
                let doc = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .and_then(|k| k.to_pkcs8v1())
                    .map_err(|_| crypto("a P-256 key"))?;
                Self::from_pkcs8_der(doc.as_ref())
            }
            Algorithm::RS256 => {
                let key =
                    RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| crypto("an RSA key"))?;
                let der = key.as_der().map_err(|_| crypto("an RSA key"))?;
                Self::from_pkcs8_der(der.as_ref())
            }
            Algorithm::HS256 => {
                let mut secret = Zeroizing::new(vec![0u8; HMAC_SECRET_BYTES]);
                crate::secret::random_bytes(&mut secret).map_err(|_| crypto("an HMAC secret"))?;
                Self::from_hmac_secret(&secret)
            }
        }
    }

    /// Loads an unencrypted PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`): Ed25519 (EdDSA),
    /// P-256 (ES256) or RSA 2048–8192 bits (RS256); the algorithm follows from the key.
    /// Convert other forms with `openssl pkcs8 -topk8 -nocrypt -in key.pem`.
    pub fn from_pkcs8_pem(pem_text: &str) -> Result<Self, KeyError> {
        let parsed = pem::parse(pem_text.trim())
            .map_err(|_| KeyError::Invalid("not a PEM document".into()))?;
        match parsed.tag() {
            "PRIVATE KEY" => Self::from_pkcs8_der(parsed.contents()),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Unsupported(
                "an encrypted PKCS#8 key; decrypt it with `openssl pkcs8 -in key.pem -out plain.pem`"
                    .into(),
            )),
            other => Err(KeyError::Unsupported(format!(
                "a PEM {other:?} block; expected \"PRIVATE KEY\" (PKCS#8): convert with \
                 `openssl pkcs8 -topk8 -nocrypt -in key.pem`"
            ))),
        }
    }

    /// Loads an unencrypted PKCS#8 DER private key; see [`Self::from_pkcs8_pem`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(kp) = Ed25519KeyPair::from_pkcs8(der) {
            let doc = kp
                .to_pkcs8v1()
                .map_err(|_| KeyError::Crypto("serialising an Ed25519 key failed".into()))?;
            let x = URL_SAFE_NO_PAD.encode(kp.public_key().as_ref());
            let checker = Checker::ed25519(kp.public_key().as_ref())?;
            let jwk = PublicJwk::okp(x);
            return Ok(Self::assemble(
                jwk,
                checker,
                Signer::Ed25519(kp),
                doc.as_ref(),
            ));
        }
        if let Ok(kp) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            let doc = kp
                .to_pkcs8v1()
                .map_err(|_| KeyError::Crypto("serialising a P-256 key failed".into()))?;
            let point = kp.public_key().as_ref();
            let (x, y) = jwk::split_p256_point(point)?;
            let checker = Checker::p256(point)?;
            let jwk = PublicJwk::ec(URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            return Ok(Self::assemble(
                jwk,
                checker,
                Signer::Es256(kp),
                doc.as_ref(),
            ));
        }
        if let Ok(kp) = RsaKeyPair::from_pkcs8(der) {
            let bits = kp.public_modulus_len() * 8;
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(KeyError::Invalid(format!(
                    "an RSA key of {bits} bits (need {RSA_MIN_BITS} to {RSA_MAX_BITS})"
                )));
            }
            let doc = kp
                .as_der()
                .map_err(|_| KeyError::Crypto("serialising an RSA key failed".into()))?;
            let components = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
            let n = jwk::strip_leading_zeros(&components.n);
            let e = jwk::strip_leading_zeros(&components.e);
            jwk::check_rsa_public(n, e)?;
            let checker = Checker::rsa(n, e)?;
            let jwk = PublicJwk::rsa(URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
            return Ok(Self::assemble(
                jwk,
                checker,
                Signer::Rs256(kp),
                doc.as_ref(),
            ));
        }
        Err(KeyError::Unsupported(
            "not an unencrypted PKCS#8 Ed25519, P-256 or RSA (2048-8192 bit) private key".into(),
        ))
    }

    /// An HS256 key from a secret of at least 32 bytes (e.g. one shared by several nodes).
    pub fn from_hmac_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < HMAC_SECRET_BYTES {
            return Err(KeyError::Invalid(format!(
                "an HMAC secret of {} bytes (need at least {HMAC_SECRET_BYTES})",
                secret.len()
            )));
        }
        let public = VerificationKey {
            alg: Algorithm::HS256,
            kid: jwk::hs256_kid(secret),
            checker: Checker::hmac(secret),
            jwk: None,
        };
        Ok(Self {
            public,
            signer: Signer::Hs256(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
            stored: Zeroizing::new(secret.to_vec()),
        })
    }

    /// Rebuilds a key from [`Self::to_storage_bytes`] output and the algorithm stored beside it.
    /// Fails if the bytes are not a key of that algorithm.
    pub fn from_storage_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        let key = if alg.is_symmetric() {
            Self::from_hmac_secret(bytes)?
        } else {
            Self::from_pkcs8_der(bytes)?
        };
        if key.algorithm() != alg {
            return Err(KeyError::Invalid(format!(
                "stored key is {}, recorded as {alg}",
                key.algorithm()
            )));
        }
        Ok(key)
    }

    /// The private material for a store to keep: PKCS#8 v1 DER, or the raw HMAC secret.
    /// Store it where the rest of the key record is; restore with [`Self::from_storage_bytes`].
    pub fn to_storage_bytes(&self) -> KeyMaterial {
        KeyMaterial::from_vec(self.stored.to_vec())
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.public.alg
    }

    /// The key id (RFC 7638 thumbprint; for HS256 see the module docs).
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The half that verifies.
    pub fn verification_key(&self) -> &VerificationKey {
        &self.public
    }

    /// The public JWK (`None` for HS256).
    pub fn public_jwk(&self) -> Option<&PublicJwk> {
        self.public.jwk.as_ref()
    }

    /// The public key as a PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), for
    /// operators and for other verifiers. `None` for HS256.
    pub fn public_key_pem(&self) -> Option<String> {
        let der = match &self.signer {
            Signer::Ed25519(k) => k.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Es256(k) => k.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Rs256(k) => k.public_key().as_der().ok()?.as_ref().to_vec(),
            Signer::Hs256(_) => return None,
        };
        let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        Some(pem::encode_config(&pem::Pem::new("PUBLIC KEY", der), lf))
    }

    /// Signs `message` with this key's algorithm (ECDSA as fixed-size r || s).
    pub fn sign_detached(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = || KeyError::Crypto(format!("signing with {} failed", self.algorithm()));
        Ok(match &self.signer {
            Signer::Ed25519(k) => k.sign(message).as_ref().to_vec(),
            Signer::Es256(k) => k
                .sign(&SystemRandom::new(), message)
                .map_err(|_| failed())?
                .as_ref()
                .to_vec(),
            Signer::Rs256(k) => {
                let mut signature = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| failed())?;
                signature
            }
            Signer::Hs256(k) => hmac::sign(k, message).as_ref().to_vec(),
        })
    }

    /// Low level: a compact JWS of `payload` under exactly the protected header given (JSON
    /// bytes), with no policy at all. Services sign access tokens with
    /// [`crate::token::sign`]; this is for tools and tests that need odd headers.
    pub fn sign_compact(&self, header_json: &[u8], payload: &[u8]) -> Result<String, KeyError> {
        let mut out = URL_SAFE_NO_PAD.encode(header_json);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let signature = self.sign_detached(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }

    fn assemble(jwk: PublicJwk, checker: Checker, signer: Signer, der: &[u8]) -> Self {
        let (alg, kid) = (jwk.alg, jwk.kid.clone());
        Self {
            public: VerificationKey {
                alg,
                kid,
                checker,
                jwk: Some(jwk),
            },
            signer,
            stored: Zeroizing::new(der.to_vec()),
        }
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .field("private", &"<redacted>")
            .finish()
    }
}
