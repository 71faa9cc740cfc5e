//! Keys: generation, PEM loading, storage round trips, JWK export, kid, redaction.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tessera_core::key::{Algorithm, KeyError, KeyPair, KeyRing, VerificationKey};
use tessera_core::token::{self, verify_signature};

use crate::{claims_at, copy, key, now, test_data, verifier};

#[test]
fn algorithm_names_are_the_jose_ones() {
    for (alg, name) in [
        (Algorithm::EdDSA, "EdDSA"),
        (Algorithm::ES256, "ES256"),
        (Algorithm::RS256, "RS256"),
        (Algorithm::HS256, "HS256"),
    ] {
        assert_eq!(alg.as_str(), name);
        assert_eq!(alg.to_string(), name);
        assert_eq!(serde_json::to_value(alg).unwrap(), json!(name));
        assert_eq!(
            serde_json::from_value::<Algorithm>(json!(name)).unwrap(),
            alg
        );
        assert_eq!(name.parse::<Algorithm>().unwrap(), alg);
    }
    for bad in ["eddsa", "es256", "none", "HS384", "PS256", "Ed25519", ""] {
        assert!(bad.parse::<Algorithm>().is_err(), "{bad}");
        assert!(
            serde_json::from_value::<Algorithm>(json!(bad)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn generated_keys_export_rfc7517_jwks_named_by_their_thumbprint() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let k = key(alg);
        let jwk = serde_json::to_value(k.public_jwk().unwrap()).unwrap();
        let obj = jwk.as_object().unwrap();
        assert_eq!(jwk["alg"], json!(alg.as_str()));
        assert_eq!(jwk["use"], json!("sig"));
        assert_eq!(jwk["kid"], json!(k.kid()));
        let (kty, members): (&str, &[&str]) = match alg {
            Algorithm::EdDSA => ("OKP", &["kty", "crv", "x", "kid", "alg", "use"]),
            Algorithm::ES256 => ("EC", &["kty", "crv", "x", "y", "kid", "alg", "use"]),
            _ => ("RSA", &["kty", "n", "e", "kid", "alg", "use"]),
        };
        assert_eq!(jwk["kty"], json!(kty));
        let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = members.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        assert_eq!(names, want, "{alg}: only public members");
        // kid = RFC 7638 thumbprint, computed here independently of the crate.
        let canonical = match alg {
            Algorithm::EdDSA => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":{}}}"#, jwk["x"]),
            Algorithm::ES256 => format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                jwk["x"], jwk["y"]
            ),
            _ => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, jwk["e"], jwk["n"]),
        };
        assert_eq!(k.kid(), URL_SAFE_NO_PAD.encode(Sha256::digest(canonical)));
        // Sizes: Ed25519 32 bytes, P-256 coordinates 32 bytes, RSA 2048 bits with e = 65537.
        let len = |m: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[m].as_str().unwrap())
                .unwrap()
                .len()
        };
        match alg {
            Algorithm::EdDSA => assert_eq!(len("x"), 32),
            Algorithm::ES256 => assert_eq!((len("x"), len("y")), (32, 32)),
            _ => {
                assert_eq!(len("n"), 256);
                assert_eq!(jwk["e"], json!("AQAB"));
            }
        }
        // Importing our own JWK gives the same key back.
        let imported = VerificationKey::from_jwk(&jwk.to_string()).unwrap();
        assert_eq!(imported.kid(), k.kid());
        assert_eq!(imported.algorithm(), alg);
    }
}

#[test]
fn the_hs256_kid_is_a_hash_of_the_thumbprint_and_reveals_nothing() {
    let secret = [7u8; 32];
    let k = KeyPair::from_hmac_secret(&secret).unwrap();
    let canonical = format!(
        r#"{{"k":"{}","kty":"oct"}}"#,
        URL_SAFE_NO_PAD.encode(secret)
    );
    let thumbprint = Sha256::digest(canonical.as_bytes());
    assert_ne!(
        k.kid(),
        URL_SAFE_NO_PAD.encode(thumbprint),
        "not the bare thumbprint"
    );
    assert_eq!(k.kid(), URL_SAFE_NO_PAD.encode(Sha256::digest(thumbprint)));
    assert!(k.public_jwk().is_none());
    assert!(k.public_key_pem().is_none());
    assert!(!k.kid().contains(&URL_SAFE_NO_PAD.encode(secret)));
    // Too short a secret is refused.
    assert!(matches!(
        KeyPair::from_hmac_secret(&[1u8; 31]),
        Err(KeyError::Invalid(_))
    ));
    assert!(KeyPair::from_hmac_secret(&[]).is_err());
    // Generated secrets are 256 bits and differ.
    let (a, b) = (
        KeyPair::generate(Algorithm::HS256).unwrap(),
        KeyPair::generate(Algorithm::HS256).unwrap(),
    );
    assert_eq!(a.to_storage_bytes().expose().len(), 32);
    assert_ne!(a.to_storage_bytes().expose(), b.to_storage_bytes().expose());
    assert_ne!(a.kid(), b.kid());
}

#[test]
fn storage_bytes_round_trip_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let original = key(alg);
        let stored = original.to_storage_bytes();
        let restored = KeyPair::from_storage_bytes(alg, stored.expose()).unwrap();
        assert_eq!(restored.kid(), original.kid(), "{alg}");
        assert_eq!(restored.public_jwk(), original.public_jwk());
        // Bytes are stable through a round trip (normalised PKCS#8 v1 / raw secret).
        assert_eq!(restored.to_storage_bytes().expose(), stored.expose());
        // Each verifies the other's tokens.
        let ring = KeyRing::initial(restored, KeyPair::generate(alg).unwrap(), now())
            .unwrap()
            .ring;
        let token = token::sign_with(original, &claims_at(now())).unwrap();
        assert!(verifier().verify(&ring, &token, now()).is_ok(), "{alg}");
        // Stored under another asymmetric algorithm: refused. (Any 32 bytes or more are a
        // valid HMAC secret, so bytes recorded as HS256 cannot be told apart.)
        for other in Algorithm::ALL
            .into_iter()
            .filter(|&o| o != alg && !o.is_symmetric())
        {
            assert!(
                KeyPair::from_storage_bytes(other, stored.expose()).is_err(),
                "{alg} as {other}"
            );
        }
        if !alg.is_symmetric() {
            assert!(stored.expose().starts_with(&[0x30]), "DER");
            assert!(KeyPair::from_storage_bytes(alg, &stored.expose()[1..]).is_err());
        }
    }
}

#[test]
fn private_material_never_shows_in_debug() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let stored = k.to_storage_bytes();
        let text = format!("{k:?} {stored:?} {:?}", k.verification_key());
        assert!(text.contains(k.kid()));
        assert!(text.contains("redacted"));
        let bytes = stored.expose();
        for needle in [
            URL_SAFE_NO_PAD.encode(bytes),
            base64::engine::general_purpose::STANDARD.encode(bytes),
            format!("{bytes:?}"),
            format!("{:?}", &bytes[bytes.len() - 16..]),
        ] {
            assert!(!text.contains(&needle), "{alg}: {text}");
        }
        let ring = crate::ring(alg);
        let text = format!("{ring:?}");
        assert!(!text.contains(&format!("{:?}", &bytes[bytes.len() - 16..])));
    }
}

#[test]
fn openssl_pkcs8_keys_load_and_match_openssl_public_keys() {
    for (file, alg) in [
        ("ed25519", Algorithm::EdDSA),
        ("p256", Algorithm::ES256),
        ("rsa2048", Algorithm::RS256),
    ] {
        let pem_text = test_data(&format!("{file}.pem"));
        let k = KeyPair::from_pkcs8_pem(&pem_text).unwrap();
        assert_eq!(k.algorithm(), alg);
        let again = KeyPair::from_pkcs8_pem(&pem_text).unwrap();
        assert_eq!(again.kid(), k.kid(), "a stable kid");
        assert_eq!(
            k.public_key_pem().unwrap().trim(),
            test_data(&format!("{file}.pub.pem")).trim(),
            "{file}: same SubjectPublicKeyInfo as openssl pkey -pubout"
        );
        let restored = KeyPair::from_storage_bytes(alg, k.to_storage_bytes().expose()).unwrap();
        assert_eq!(restored.kid(), k.kid());
        let token = token::sign_with(&k, &claims_at(now())).unwrap();
        assert!(verify_signature(restored.verification_key(), &token).is_ok());
    }
}

#[test]
fn unsupported_or_unsound_pem_files_are_refused_with_a_reason() {
    for (file, hint) in [
        ("p384.pem", "PKCS#8"),
        ("rsa1024.pem", "RSA"),
        ("p256.sec1.pem", "openssl pkcs8 -topk8"),
        ("ed25519.encrypted.pem", "encrypted"),
        ("ed25519.pub.pem", "PRIVATE KEY"),
    ] {
        let err = KeyPair::from_pkcs8_pem(&test_data(file)).unwrap_err();
        assert!(matches!(
            err,
            KeyError::Unsupported(_) | KeyError::Invalid(_)
        ));
        assert!(err.to_string().contains(hint), "{file}: {err}");
    }
    assert!(KeyPair::from_pkcs8_pem("not a pem").is_err());
    assert!(KeyPair::from_pkcs8_der(b"\x30\x00").is_err());
}

#[test]
fn our_pem_round_trips_through_pkcs8() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let k = copy(key(alg));
        let pem_text = pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            k.to_storage_bytes().expose().to_vec(),
        ));
        assert_eq!(KeyPair::from_pkcs8_pem(&pem_text).unwrap().kid(), k.kid());
    }
}

#[test]
fn jwk_import_is_strict() {
    let k = key(Algorithm::ES256);
    let jwk: Value = serde_json::to_value(k.public_jwk().unwrap()).unwrap();
    let import = |v: &Value| VerificationKey::from_jwk(&v.to_string());
    assert!(import(&jwk).is_ok());
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = jwk.clone();
        f(&mut v);
        v
    };
    // Invalid: claims to be ours, but unsound or inconsistent.
    for bad in [
        mutate(&|v| {
            v.as_object_mut().unwrap().remove("alg");
        }),
        mutate(&|v| v["kty"] = json!("RSA")),
        mutate(&|v| v["crv"] = json!("P-384")),
        mutate(&|v| v["x"] = json!("AAAA")),
        mutate(&|v| v["y"] = json!(URL_SAFE_NO_PAD.encode([0u8; 32]))),
        mutate(&|v| v["x"] = json!("not base64!")),
        mutate(&|v| v["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]))),
        mutate(&|v| v["kid"] = json!(5)),
        json!("a string"),
    ] {
        assert!(matches!(import(&bad), Err(KeyError::Invalid(_))), "{bad}");
    }
    // Unsupported: not a key for our signatures.
    for other in [
        mutate(&|v| v["use"] = json!("enc")),
        mutate(&|v| v["key_ops"] = json!(["sign"])),
        mutate(&|v| v["alg"] = json!("ES384")),
        mutate(&|v| v["alg"] = json!("none")),
    ] {
        assert!(
            matches!(import(&other), Err(KeyError::Unsupported(_))),
            "{other}"
        );
    }
    // Accepted: key_ops with verify; our own kid kept.
    assert!(import(&mutate(&|v| v["key_ops"] = json!(["verify"]))).is_ok());
    assert_eq!(
        import(&mutate(&|v| v["kid"] = json!("mine")))
            .unwrap()
            .kid(),
        "mine"
    );
    // An explicit algorithm must agree with the JWK's.
    assert!(VerificationKey::from_jwk_with_alg(&jwk.to_string(), Algorithm::EdDSA).is_err());
    assert!(VerificationKey::from_jwk_with_alg(&jwk.to_string(), Algorithm::ES256).is_ok());
}
