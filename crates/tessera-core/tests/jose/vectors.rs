//! Independent vectors: Wycheproof (JWS, JWK, Ed25519, ECDSA P-256 P1363), RFC 7520 section 4,
//! RFC 8037 A.4 and RFC 7638 3.1.
//!
//! # How each Wycheproof label is decided
//!
//! | label / case | our outcome | why |
//! |---|---|---|
//! | `valid`, key of an algorithm we support | accepted | |
//! | `invalid` | rejected | |
//! | any case whose key is of an algorithm we do not support (RS384, RS512, PS256, PS384, PS512, ES512 "ES521", HS384, HS512, RSA1_5, A256GCM, A256KW, ES224) | rejected | the key is refused at import (`KeyError::Unsupported`): nothing verifies with it |
//! | `acceptable` (any flag) | rejected | we decode strictly; the files of this version hold no `acceptable` case (counted below, so a new version that adds some fails here until each is decided) |
//! | JWS 367 `invalidBase64Padding`, 370 `invalidBase64PaddingInPayload` (labelled invalid) | accepted | the token is byte-for-byte tcId 357's, labelled valid: a fault of the file (asserted below) |
//! | JWS 372 `InvalidCharacterInsertedInHeader`, 373 `…InPayload` (labelled valid) | rejected | a `?` inside base64url: RFC 7515 section 2 base64url has no such character, and the MAC is over the unaltered text |
//! | JWS 346/350 `Figure20` (PS384 token, PS256 key), 347/351 `Figure27` (ES512) (labelled valid) | rejected | unsupported algorithms (row 3) |
//! | JWK 14, 15 `long_key` for HS384 / HS512 (labelled valid) | rejected | unsupported algorithms (row 3) |

use serde_json::{Value, json};
use tessera_core::key::{Algorithm, JwkSet, KeyError, KeyPair, SignatureBatcher, VerificationKey};
use tessera_core::token::{TokenError, verify_signature, verify_signature_in};

use crate::{b64, hex, load_vectors, unb64};

/// What we do with `acceptable` cases: reject (strict).
const ACCEPT_ACCEPTABLE: bool = false;

/// JWS cases whose label we do not follow: (tcId, we accept, why).
const JWS_DEVIATIONS: &[(u64, bool, &str)] = &[
    (
        367,
        true,
        "token identical to tcId 357 (valid): fault of the file",
    ),
    (
        370,
        true,
        "token identical to tcId 357 (valid): fault of the file",
    ),
    (372, false, "'?' in base64url: strict base64url refuses it"),
    (373, false, "'?' in base64url: strict base64url refuses it"),
];

fn label(result: &Value) -> bool {
    match result.as_str().unwrap() {
        "valid" => true,
        "invalid" => false,
        "acceptable" => ACCEPT_ACCEPTABLE,
        other => panic!("unknown result {other:?}"),
    }
}

fn supported_alg(jwk: &Value) -> bool {
    jwk.get("alg")
        .and_then(Value::as_str)
        .is_some_and(|a| a.parse::<Algorithm>().is_ok())
}

#[test]
fn wycheproof_json_web_signature() {
    let file = load_vectors("wycheproof/json_web_signature_test.json");
    let groups = file["testGroups"].as_array().unwrap();
    let jws_of = |id: u64| -> String {
        groups
            .iter()
            .flat_map(|g| g["tests"].as_array().unwrap())
            .find(|c| c["tcId"].as_u64() == Some(id))
            .map(|c| c["jws"].as_str().unwrap().to_owned())
            .unwrap()
    };
    // The two "invalid" padding cases we accept really are the valid case 357.
    assert_eq!(jws_of(367), jws_of(357));
    assert_eq!(jws_of(370), jws_of(357));

    let (mut cases, mut accepted, mut acceptable, mut unsupported) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for group in groups {
        let jwk = group.get("public").or(group.get("private")).unwrap();
        let key = VerificationKey::from_jwk(&jwk.to_string());
        let supported = supported_alg(jwk);
        if supported {
            // Every key of ours in the file imports; groups without `alg` (encryption keys) and
            // of other algorithms are refused.
            assert!(key.is_ok(), "{}: {key:?}", group["comment"]);
        } else {
            assert!(key.is_err(), "{}: imported", group["comment"]);
        }
        for case in group["tests"].as_array().unwrap() {
            cases += 1;
            let id = case["tcId"].as_u64().unwrap();
            let token = case["jws"].as_str().unwrap();
            acceptable += usize::from(case["result"] == "acceptable");
            let ours = key
                .as_ref()
                .is_ok_and(|k| verify_signature(k, token).is_ok());
            let expected = match JWS_DEVIATIONS.iter().find(|d| d.0 == id) {
                Some(&(_, accept, _)) => accept,
                None if !supported => {
                    unsupported += 1;
                    false
                }
                None => label(&case["result"]),
            };
            accepted += usize::from(ours);
            if ours != expected {
                wrong.push(format!(
                    "tcId {id} ({}, {}): ours {ours}, expected {expected}",
                    group["comment"], case["comment"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(cases, 401);
    assert_eq!(
        acceptable, 0,
        "new `acceptable` cases: decide and document them"
    );
    println!(
        "json_web_signature: {cases} cases, {accepted} accepted, {unsupported} refused as unsupported algorithms"
    );
}

#[test]
fn wycheproof_encryption_keys_are_not_verification_keys() {
    let file = load_vectors("wycheproof/json_web_signature_test.json");
    for group in file["testGroups"].as_array().unwrap() {
        let comment = group["comment"].as_str().unwrap();
        let alg = match comment {
            "rsa_encryption" => Algorithm::RS256,
            "ec_key_for_encryption" => Algorithm::ES256,
            _ => continue,
        };
        // Even with the algorithm supplied, `use: enc` or `key_ops: [encrypt]` refuse the key.
        let err =
            VerificationKey::from_jwk_with_alg(&group["public"].to_string(), alg).unwrap_err();
        assert!(matches!(err, KeyError::Unsupported(_)), "{comment}: {err}");
    }
}

/// JWK Set import outcome per Wycheproof JWK test: refused, usable but empty (every key skipped
/// as not ours), or usable with keys.
#[derive(Debug, PartialEq)]
enum SetOutcome {
    Refused,
    Empty,
    Usable,
}

#[test]
fn wycheproof_json_web_key() {
    use SetOutcome::*;
    // (tcId, import outcome, accept the JWS)
    let expected: [(u64, SetOutcome, bool); 26] = [
        (1, Refused, false), // HS256 secret and EC public key in one set
        (2, Usable, true),
        (3, Usable, false),
        (4, Refused, false), // duplicate kid
        (5, Usable, true),
        (6, Empty, false),    // RSA1_5 / use enc: not a signature key
        (7, Refused, false),  // ROCA modulus
        (8, Refused, false),  // 1024-bit RSA
        (9, Refused, false),  // e = 1
        (10, Refused, false), // 31-byte HS256 key
        (11, Empty, false),   // HS384: unsupported
        (12, Empty, false),   // HS512: unsupported
        (13, Usable, true),   // 64-byte HS256 key
        (14, Empty, false),   // labelled valid; HS384 unsupported
        (15, Empty, false),   // labelled valid; HS512 unsupported
        (16, Refused, false), // empty HS256 key
        (17, Empty, false),
        (18, Empty, false),
        (19, Empty, false),   // alg ES521: unsupported
        (20, Empty, false),   // alg ES224: unsupported
        (21, Empty, false),   // use enc
        (22, Refused, false), // point not on P-256
        (23, Refused, false), // ES256 on P-384
        (24, Refused, false), // ES256 with kty RSA
        (25, Empty, false),   // A256GCM
        (26, Empty, false),   // A256KW
    ];
    let file = load_vectors("wycheproof/json_web_key_test.json");
    let mut seen = 0;
    for group in file["testGroups"].as_array().unwrap() {
        let set_json = group.get("public").or(group.get("private")).unwrap();
        let set = JwkSet::from_json(&set_json.to_string());
        for case in group["tests"].as_array().unwrap() {
            seen += 1;
            let id = case["tcId"].as_u64().unwrap();
            let (_, outcome, accept) = expected.iter().find(|e| e.0 == id).unwrap();
            let got = match &set {
                Err(_) => Refused,
                Ok(s) if s.keys().is_empty() => Empty,
                Ok(_) => Usable,
            };
            assert_eq!(&got, outcome, "tcId {id} ({}): {set:?}", group["comment"]);
            let ours = set
                .as_ref()
                .is_ok_and(|s| verify_signature_in(s, case["jws"].as_str().unwrap()).is_ok());
            assert_eq!(ours, *accept, "tcId {id} ({})", group["comment"]);
            if *accept != label(&case["result"]) {
                // Only the unsupported HS384/HS512 long keys differ from the label.
                assert!([14, 15].contains(&id), "tcId {id}");
            }
        }
    }
    assert_eq!(seen, 26);
}

#[test]
fn roca_key_is_refused_for_its_fingerprint() {
    let file = load_vectors("wycheproof/json_web_key_test.json");
    let group = file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "jws_rsa_roca_key")
        .unwrap();
    let jwk = group["public"]["keys"][0].to_string();
    let err = VerificationKey::from_jwk(&jwk).unwrap_err();
    assert!(err.to_string().contains("ROCA"), "{err}");
}

/// Wycheproof's Ed25519 test groups: each group's key, and its cases.
fn ed25519_groups() -> Vec<(VerificationKey, Vec<Value>)> {
    let file = load_vectors("wycheproof/ed25519_test.json");
    file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| {
            let jwk = group["publicKeyJwk"].to_string();
            let key = VerificationKey::from_jwk_with_alg(&jwk, Algorithm::EdDSA).unwrap();
            (key, group["tests"].as_array().unwrap().clone())
        })
        .collect()
}

#[test]
fn wycheproof_ed25519_raw_signatures() {
    let (mut cases, mut valid) = (0, 0);
    for (key, tests) in ed25519_groups() {
        for case in &tests {
            cases += 1;
            let ok = key
                .verify_detached(
                    &hex(case["msg"].as_str().unwrap()),
                    &hex(case["sig"].as_str().unwrap()),
                )
                .is_ok();
            valid += usize::from(ok);
            assert_eq!(
                ok,
                label(&case["result"]),
                "tcId {} ({}) {:?}",
                case["tcId"],
                case["comment"],
                case["flags"]
            );
        }
    }
    assert_eq!(cases, 151);
    println!("ed25519: {cases} cases, {valid} valid");
}

/// Every Ed25519 case again, through the batched check: each case's signature in a batch of
/// 16 with 15 good signatures of another key. The verdicts must be the single check's, for
/// the case and for its 15 neighbours (see `tessera_core::key::SignatureBatcher`).
#[tokio::test]
async fn wycheproof_ed25519_raw_signatures_in_batches() {
    let honest = KeyPair::generate(Algorithm::EdDSA).unwrap();
    let neighbours: Vec<(Vec<u8>, Vec<u8>)> = (0..15)
        .map(|i| {
            let m = format!("neighbour {i}").into_bytes();
            let s = honest.sign_detached(&m).unwrap();
            (m, s)
        })
        .collect();
    let (mut cases, mut batched, mut caught_by_batch) = (0, 0, 0);
    for (key, tests) in ed25519_groups() {
        for case in &tests {
            cases += 1;
            let batcher = SignatureBatcher::new(16);
            let mut tasks = Vec::new();
            let msg = hex(case["msg"].as_str().unwrap());
            let sig = hex(case["sig"].as_str().unwrap());
            let (b, k) = (batcher.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                b.verify(&k, &msg, &sig).await.is_ok()
            }));
            for (m, s) in &neighbours {
                let (b, k) = (batcher.clone(), honest.verification_key().clone());
                let (m, s) = (m.clone(), s.clone());
                tasks.push(tokio::spawn(
                    async move { b.verify(&k, &m, &s).await.is_ok() },
                ));
            }
            let mut verdicts = Vec::new();
            for t in tasks {
                verdicts.push(t.await.unwrap());
            }
            let what = format!(
                "tcId {} ({}) {:?}",
                case["tcId"], case["comment"], case["flags"]
            );
            assert_eq!(verdicts[0], label(&case["result"]), "{what}");
            assert!(verdicts[1..].iter().all(|v| *v), "a neighbour of {what}");
            let stats = batcher.stats();
            // One thread: all 16 are queued before the drainer runs. A signature that may not
            // be batched (wrong length, s ≥ ℓ, R not canonical) is checked alone at once.
            assert_eq!(stats.batches, 1, "{what}: {stats:?}");
            if stats.batched == 16 {
                batched += 1;
                if !verdicts[0] {
                    assert_eq!(stats.failed_batches, 1, "{what}: {stats:?}");
                    caught_by_batch += 1;
                }
            } else {
                assert_eq!(stats.batched, 15, "{what}: {stats:?}");
                assert!(!verdicts[0], "{what}: a valid signature was not batched");
            }
        }
    }
    assert_eq!(cases, 151);
    // Every valid case, and most invalid ones, went through a batch.
    assert!(batched >= 100, "{batched} of {cases} batched");
    println!(
        "ed25519 batched: {batched} of {cases} cases in a batch, {caught_by_batch} refused by \
         their batch, then alone"
    );
}

#[tokio::test]
async fn rfc8037_a4_ed25519_example_verifies_in_a_batch() {
    let v = load_vectors("rfc7520/rfc8037_ed25519.json");
    let compact = v["output"]["compact"].as_str().unwrap();
    let jwk = public_jwk(&v["input"]["key"], "EdDSA", &["kty", "crv", "x"]);
    let key = VerificationKey::from_jwk(&jwk).unwrap();
    let (input, sig) = compact.rsplit_once('.').unwrap();
    let sig = unb64(sig);
    let batcher = SignatureBatcher::new(16);
    let mut forged = sig.clone();
    forged[5] ^= 1;
    let (a, b) = tokio::join!(
        batcher.verify(&key, input.as_bytes(), &sig),
        batcher.verify(&key, input.as_bytes(), &forged),
    );
    assert_eq!(a, Ok(()));
    assert_eq!(b, Err(TokenError::BadSignature));
    let stats = batcher.stats();
    assert_eq!(
        (stats.batches, stats.batched, stats.failed_batches),
        (1, 2, 1)
    );
}

#[test]
fn wycheproof_ecdsa_p256_p1363_raw_signatures() {
    let file = load_vectors("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json");
    let (mut cases, mut valid) = (0, 0);
    for group in file["testGroups"].as_array().unwrap() {
        // Nine groups (special r/x cases) carry no JWK: make one from the uncompressed point.
        let jwk = match group.get("publicKeyJwk") {
            Some(jwk) => jwk.clone(),
            None => {
                let point = hex(group["publicKey"]["uncompressed"].as_str().unwrap());
                assert_eq!((point.len(), point[0]), (65, 4));
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
        };
        let key = VerificationKey::from_jwk_with_alg(&jwk.to_string(), Algorithm::ES256).unwrap();
        for case in group["tests"].as_array().unwrap() {
            cases += 1;
            let ok = key
                .verify_detached(
                    &hex(case["msg"].as_str().unwrap()),
                    &hex(case["sig"].as_str().unwrap()),
                )
                .is_ok();
            valid += usize::from(ok);
            assert_eq!(
                ok,
                label(&case["result"]),
                "tcId {} ({}) {:?}",
                case["tcId"],
                case["comment"],
                case["flags"]
            );
        }
    }
    assert_eq!(cases, 262);
    println!("ecdsa p-256 p1363: {cases} cases, {valid} valid");
}

/// The public members of a cookbook key, with the algorithm.
fn public_jwk(key: &Value, alg: &str, members: &[&str]) -> String {
    let mut out = serde_json::Map::new();
    for m in members {
        if let Some(v) = key.get(*m) {
            out.insert((*m).to_owned(), v.clone());
        }
    }
    out.insert("alg".into(), json!(alg));
    Value::Object(out).to_string()
}

#[test]
fn rfc7520_4_1_rs256_example_verifies() {
    let v = load_vectors("rfc7520/4_1.rsa_v15_signature.json");
    let jwk = public_jwk(
        &v["input"]["key"],
        "RS256",
        &["kty", "kid", "use", "n", "e"],
    );
    let key = VerificationKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.kid(), "bilbo.baggins@hobbiton.example");
    let payload = verify_signature(&key, v["output"]["compact"].as_str().unwrap()).unwrap();
    assert_eq!(payload, v["input"]["payload"].as_str().unwrap().as_bytes());
    // The cookbook key with its private members is not a verification key.
    let mut with_private = v["input"]["key"].clone();
    with_private["alg"] = json!("RS256");
    let err = VerificationKey::from_jwk(&with_private.to_string()).unwrap_err();
    assert!(matches!(err, KeyError::Invalid(_)), "{err}");
}

#[test]
fn rfc7520_4_4_hs256_example_verifies_and_we_sign_it_identically() {
    let v = load_vectors("rfc7520/4_4.hmac-sha2_integrity_protection.json");
    let compact = v["output"]["compact"].as_str().unwrap();
    let key = VerificationKey::from_jwk(&v["input"]["key"].to_string()).unwrap();
    let payload = verify_signature(&key, compact).unwrap();
    assert_eq!(payload, v["input"]["payload"].as_str().unwrap().as_bytes());
    let ours = KeyPair::from_hmac_secret(&unb64(v["input"]["key"]["k"].as_str().unwrap())).unwrap();
    let header = unb64(v["signing"]["protected_b64u"].as_str().unwrap());
    assert_eq!(ours.sign_compact(&header, &payload).unwrap(), compact);
}

#[test]
fn rfc7520_4_3_es512_example_is_refused() {
    let v = load_vectors("rfc7520/4_3.ecdsa_signature.json");
    let compact = v["output"]["compact"].as_str().unwrap();
    let jwk = public_jwk(
        &v["input"]["key"],
        "ES512",
        &["kty", "kid", "use", "crv", "x", "y"],
    );
    let err = VerificationKey::from_jwk(&jwk).unwrap_err();
    assert!(matches!(err, KeyError::Unsupported(_)), "{err}");
    // Nor does any key of ours take it: its alg is not one a key of ours is pinned to.
    for alg in Algorithm::ALL {
        let key = crate::key(alg).verification_key();
        assert!(verify_signature(key, compact).is_err());
    }
    // Stripped of its kid, it reaches the algorithm pin and fails there.
    let (_, rest) = compact.split_once('.').unwrap();
    let header = b64(br#"{"alg":"ES512"}"#);
    let retargeted = format!("{header}.{rest}");
    let key = crate::key(Algorithm::ES256).verification_key();
    assert!(matches!(
        verify_signature(key, &retargeted),
        Err(TokenError::Rejected(_))
    ));
}

#[test]
fn rfc8037_a4_ed25519_example_verifies_and_we_sign_it_identically() {
    let v = load_vectors("rfc7520/rfc8037_ed25519.json");
    let compact = v["output"]["compact"].as_str().unwrap();
    let jwk = public_jwk(&v["input"]["key"], "EdDSA", &["kty", "crv", "x"]);
    let key = VerificationKey::from_jwk(&jwk).unwrap();
    let payload = verify_signature(&key, compact).unwrap();
    assert_eq!(payload, b"Example of Ed25519 signing");
    // RFC 8037 A.3: the thumbprint of this key.
    assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    // The private key as PKCS#8 v1: Ed25519 is deterministic, so we must produce the same token.
    let mut der = hex("302e020100300506032b657004220420");
    der.extend(unb64(v["input"]["key"]["d"].as_str().unwrap()));
    let ours = KeyPair::from_pkcs8_der(&der).unwrap();
    assert_eq!(ours.kid(), key.kid());
    let header = unb64(v["signing"]["protected_b64u"].as_str().unwrap());
    assert_eq!(ours.sign_compact(&header, &payload).unwrap(), compact);
}

#[test]
fn rfc7638_3_1_thumbprint_example() {
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256"
    });
    let key = VerificationKey::from_jwk(&jwk.to_string()).unwrap();
    // Without a kid of its own, an imported key is named by its thumbprint.
    assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    let published = key.public_jwk().unwrap();
    assert_eq!(
        published.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // With its own kid ("2011-04-29" in the RFC), the key keeps it; the thumbprint is unchanged.
    let mut named = jwk.clone();
    named["kid"] = json!("2011-04-29");
    let key = VerificationKey::from_jwk(&named.to_string()).unwrap();
    assert_eq!(key.kid(), "2011-04-29");
    assert_eq!(
        key.public_jwk().unwrap().thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}
