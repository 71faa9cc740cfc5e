//! Bearer secrets: generated from the OS CSPRNG, handed to the client once, stored only as a hash.
//!
//! [`PlainSecret`] can be neither logged (its `Debug` is redacted, it has no `Display`) nor
//! serialised, and the store traits only accept a [`SecretHash`], so a secret cannot be written
//! to a database or a log by mistake.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// Bytes of entropy in every secret we issue.
pub const SECRET_BYTES: usize = 32;
/// Length of a secret as base64url text.
pub const SECRET_TEXT_LEN: usize = 43;

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf)
        .map_err(|e| Error::Internal(format!("the OS random generator failed: {e}")))
}

/// A secret as the client holds it (cookie value, refresh token).
pub struct PlainSecret(String);

impl PlainSecret {
    /// 256 fresh bits from the OS CSPRNG, base64url without padding.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; SECRET_BYTES];
        random_bytes(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts a secret presented by a client if it has the shape of one we issue.
    /// Anything else (wrong length, other characters, 10 KiB of junk) is refused unhashed.
    pub fn parse(presented: &str) -> Option<Self> {
        let ok = presented.len() == SECRET_TEXT_LEN
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(presented.to_owned()))
    }

    /// The text to hand to the client. Call it only where the secret leaves for the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the store keeps.
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// A value derived from this secret for another purpose (e.g. the CSRF token of a session),
    /// with domain separation so that neither the stored hash nor the derived value reveals the
    /// other or the secret.
    pub fn derive(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"tessera/v1/");
        h.update(purpose.as_bytes());
        h.update([0u8]);
        h.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(h.finalize())
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// SHA-256 of a secret: what stores keep and look up by. A fast hash is right here because the
/// secret has 256 bits of entropy (no dictionary to try), unlike a password.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Rebuilds a hash read from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Rebuilds a hash read from a store as a slice; `None` unless it is 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw bytes, for a store to keep.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hex text, for stores that key by strings (Redis).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Constant-time equality, for checking a record found by an index against the presented secret.
    pub fn ct_eq(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not the secret, but there is no reason to print all of it either.
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

/// Compares two strings in constant time (for presented CSRF tokens and the like).
pub fn ct_eq_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_base64url_and_unique() {
        let a = PlainSecret::generate().unwrap();
        let b = PlainSecret::generate().unwrap();
        assert_eq!(a.expose().len(), SECRET_TEXT_LEN);
        assert_ne!(a.expose(), b.expose());
        assert!(PlainSecret::parse(a.expose()).is_some());
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
    }

    #[test]
    fn parse_refuses_what_we_never_issue() {
        assert!(PlainSecret::parse("").is_none());
        assert!(PlainSecret::parse(&"a".repeat(42)).is_none());
        assert!(PlainSecret::parse(&"a".repeat(10_240)).is_none());
        assert!(PlainSecret::parse(&format!("{}=", "a".repeat(42))).is_none());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = PlainSecret::generate().unwrap();
        assert!(!format!("{s:?}").contains(s.expose()));
    }

    #[test]
    fn derived_values_differ_from_the_hash_and_by_purpose() {
        let s = PlainSecret::generate().unwrap();
        assert_ne!(s.derive("csrf"), s.derive("other"));
        assert_ne!(
            s.derive("csrf"),
            URL_SAFE_NO_PAD.encode(s.hash().as_bytes())
        );
        assert!(
            s.hash()
                .ct_eq(&PlainSecret::parse(s.expose()).unwrap().hash())
        );
    }

    #[test]
    fn ct_eq_str_compares() {
        assert!(ct_eq_str("abc", "abc"));
        assert!(!ct_eq_str("abc", "abd"));
        assert!(!ct_eq_str("abc", "abcd"));
    }
}
