//! Our own tokens, signed and verified, and every attack the issue lists, each refused.

use serde_json::{Value, json};
use tessera_core::ErrorCode;
use tessera_core::key::{Algorithm, KeyEntry, KeyPair, KeyRing, KeyState};
use tessera_core::secret::PlainSecret;
use tessera_core::token::{
    self, AccessClaims, MAX_TOKEN_BYTES, TokenError, Verifier, verify_signature,
};
use time::Duration;

use crate::{AUDIENCE, ISSUER, b64, claims_at, copy, key, now, ring, unb64, verifier};

fn split(token: &str) -> (&str, &str, &str) {
    let mut p = token.split('.');
    (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(split(token).0)).unwrap()
}

fn standard_header(key: &KeyPair) -> Value {
    json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": "at+jwt"})
}

/// A token over `claims` under any header, signed by `key`.
fn forge(key: &KeyPair, header: &Value, claims: &Value) -> String {
    key.sign_compact(header.to_string().as_bytes(), claims.to_string().as_bytes())
        .unwrap()
}

fn claims_json(at: time::OffsetDateTime) -> Value {
    serde_json::to_value(claims_at(at)).unwrap()
}

fn check(ring: &KeyRing, token: &str) -> Result<AccessClaims, TokenError> {
    verifier().verify(ring, token, now())
}

fn asymmetric() -> [Algorithm; 3] {
    [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256]
}

#[test]
fn every_algorithm_signs_and_verifies() {
    for alg in Algorithm::ALL {
        let ring = ring(alg);
        let claims = claims_at(now());
        let token = token::sign(&ring, &claims).unwrap();
        assert_eq!(check(&ring, &token).unwrap(), claims, "{alg}");
        // The header is exactly {"alg","kid","typ":"at+jwt"}, in that order.
        let header = String::from_utf8(unb64(split(&token).0)).unwrap();
        assert_eq!(
            header,
            format!(
                r#"{{"alg":"{alg}","kid":"{}","typ":"at+jwt"}}"#,
                key(alg).kid()
            )
        );
        // Claims as RFC 9068 has them; aud a plain string; jti 128 bits of base64url.
        let payload: Value = serde_json::from_slice(&unb64(split(&token).1)).unwrap();
        assert_eq!(payload["aud"], json!(AUDIENCE));
        assert_eq!(payload["sid"], json!("family-7"));
        assert_eq!(unb64(payload["jti"].as_str().unwrap()).len(), 16);
        assert_eq!(token.len(), token.trim().len());
    }
    assert_ne!(claims_at(now()).jti, claims_at(now()).jti);
}

#[test]
fn a_tampered_payload_is_refused() {
    for alg in Algorithm::ALL {
        let ring = ring(alg);
        let token = token::sign(&ring, &claims_at(now())).unwrap();
        let (h, _, s) = split(&token);
        let mut evil = claims_json(now());
        evil["sub"] = json!("admin");
        let tampered = format!("{h}.{}.{s}", b64(evil.to_string()));
        assert_eq!(
            check(&ring, &tampered),
            Err(TokenError::BadSignature),
            "{alg}"
        );
        // One flipped character of the signature too.
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 2;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let flipped: String = chars.into_iter().collect();
        assert!(check(&ring, &flipped).is_err(), "{alg}");
    }
}

#[test]
fn alg_none_in_every_casing_is_refused() {
    for alg in Algorithm::ALL {
        let ring = ring(alg);
        let token = token::sign(&ring, &claims_at(now())).unwrap();
        let (_, p, s) = split(&token);
        for none in ["none", "None", "NONE", "nOnE", "NoNe"] {
            let header = json!({"alg": none, "kid": key(alg).kid(), "typ": "at+jwt"});
            let h = b64(header.to_string());
            for signature in ["", s] {
                let forged = format!("{h}.{p}.{signature}");
                assert_eq!(
                    check(&ring, &forged),
                    Err(TokenError::Rejected("alg none")),
                    "{alg} {none}"
                );
                assert!(verify_signature(key(alg).verification_key(), &forged).is_err());
            }
        }
    }
}

#[test]
fn stripped_and_all_zero_signatures_are_refused() {
    for alg in Algorithm::ALL {
        let ring = ring(alg);
        let token = token::sign(&ring, &claims_at(now())).unwrap();
        let (h, p, s) = split(&token);
        assert_eq!(
            check(&ring, &format!("{h}.{p}.")),
            Err(TokenError::Malformed("no signature"))
        );
        assert!(matches!(
            check(&ring, &format!("{h}.{p}")),
            Err(TokenError::Malformed(_))
        ));
        let real_len = unb64(s).len();
        for len in [real_len, 32, 64, 256] {
            let zeros = b64(vec![0u8; len]);
            assert_eq!(
                check(&ring, &format!("{h}.{p}.{zeros}")),
                Err(TokenError::BadSignature),
                "{alg} {len} zero bytes"
            );
        }
    }
}

#[test]
fn es256_with_r_and_s_zero_is_refused() {
    // CVE-2022-21449, "psychic signatures": r = s = 0 verifies every message in a broken verifier.
    let ring = ring(Algorithm::ES256);
    let header = standard_header(key(Algorithm::ES256));
    let h = b64(header.to_string());
    let p = b64(claims_json(now()).to_string());
    for (r, s) in [(0u8, 0u8), (0, 1), (1, 0)] {
        let mut sig = vec![0u8; 64];
        sig[31] = r;
        sig[63] = s;
        let forged = format!("{h}.{p}.{}", b64(sig));
        assert_eq!(check(&ring, &forged), Err(TokenError::BadSignature));
    }
}

#[test]
fn hs256_keyed_with_our_public_key_is_refused() {
    for alg in asymmetric() {
        let ring = ring(alg);
        let victim = key(alg);
        let jwk = victim.public_jwk().unwrap();
        let pem = victim.public_key_pem().unwrap();
        let raw: Vec<u8> = match alg {
            Algorithm::EdDSA => unb64(jwk.x.as_deref().unwrap()),
            Algorithm::ES256 => [
                vec![4u8],
                unb64(jwk.x.as_deref().unwrap()),
                unb64(jwk.y.as_deref().unwrap()),
            ]
            .concat(),
            _ => unb64(jwk.n.as_deref().unwrap()),
        };
        let der = pem::parse(&pem).unwrap().contents().to_vec();
        let jwk_text = serde_json::to_string(jwk).unwrap();
        for secret in [raw, der, pem.into_bytes(), jwk_text.into_bytes()] {
            let attacker = KeyPair::from_hmac_secret(&secret).unwrap();
            let header = json!({"alg": "HS256", "kid": victim.kid(), "typ": "at+jwt"});
            let forged = forge(&attacker, &header, &claims_json(now()));
            assert_eq!(
                check(&ring, &forged),
                Err(TokenError::Rejected("alg does not match the key")),
                "{alg}"
            );
            assert!(verify_signature(victim.verification_key(), &forged).is_err());
        }
    }
}

#[test]
fn a_kid_with_a_path_or_sql_is_just_an_unknown_kid() {
    for alg in Algorithm::ALL {
        let ring = ring(alg);
        let signer = key(alg);
        for kid in [
            "../../etc/passwd",
            "' OR 1=1 --",
            "\"; DROP TABLE keys; --",
            "/dev/null",
            "%2e%2e%2f",
            "",
            &"k".repeat(2000),
        ] {
            let header = json!({"alg": alg.as_str(), "kid": kid, "typ": "at+jwt"});
            let forged = forge(signer, &header, &claims_json(now()));
            assert_eq!(
                check(&ring, &forged),
                Err(TokenError::UnknownKey),
                "{kid:?}"
            );
        }
    }
}

#[test]
fn unknown_and_missing_kids_are_refused() {
    for alg in Algorithm::ALL {
        let ring = ring(alg);
        let stranger = KeyPair::generate(alg).unwrap();
        let forged = forge(&stranger, &standard_header(&stranger), &claims_json(now()));
        assert_eq!(check(&ring, &forged), Err(TokenError::UnknownKey));
        let no_kid = json!({"alg": alg.as_str(), "typ": "at+jwt"});
        let forged = forge(key(alg), &no_kid, &claims_json(now()));
        assert_eq!(check(&ring, &forged), Err(TokenError::UnknownKey));
        let number_kid = json!({"alg": alg.as_str(), "kid": 7, "typ": "at+jwt"});
        let forged = forge(key(alg), &number_kid, &claims_json(now()));
        assert!(matches!(
            check(&ring, &forged),
            Err(TokenError::Malformed(_))
        ));
    }
}

#[test]
fn embedded_and_remote_keys_are_refused_even_when_they_would_verify() {
    for alg in asymmetric() {
        let ring = ring(alg);
        let ours = key(alg);
        let attacker = KeyPair::generate(alg).unwrap();
        let attacker_jwk = serde_json::to_value(attacker.public_jwk().unwrap()).unwrap();
        let our_jwk = serde_json::to_value(ours.public_jwk().unwrap()).unwrap();
        let our_x5c = pem::parse(ours.public_key_pem().unwrap())
            .unwrap()
            .contents()
            .to_vec();
        let cases: Vec<(&KeyPair, Value)> = vec![
            // The attacker's own key, embedded, signing: the classic.
            (
                &attacker,
                json!({"alg": alg.as_str(), "kid": attacker.kid(), "typ": "at+jwt", "jwk": attacker_jwk}),
            ),
            (
                &attacker,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "jwk": attacker_jwk}),
            ),
            // Signed by our real key, whose public key is embedded too: it would verify, and
            // is still refused: such members are never looked at, only refused.
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "jwk": our_jwk}),
            ),
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "jku": "https://attacker.example/jwks.json"}),
            ),
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "x5u": "https://attacker.example/cert.pem"}),
            ),
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "x5c": [base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &our_x5c)]}),
            ),
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "crit": ["exp"], "exp": 1}),
            ),
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "b64": false, "crit": ["b64"]}),
            ),
            (
                ours,
                json!({"alg": alg.as_str(), "kid": ours.kid(), "typ": "at+jwt", "b64": true}),
            ),
        ];
        for (signer, header) in cases {
            let forged = forge(signer, &header, &claims_json(now()));
            assert!(
                matches!(check(&ring, &forged), Err(TokenError::Rejected(_))),
                "{alg} {header}"
            );
            assert!(matches!(
                verify_signature(ours.verification_key(), &forged),
                Err(TokenError::Rejected(_))
            ));
        }
    }
}

#[test]
fn expiry_with_leeway() {
    for alg in [Algorithm::EdDSA, Algorithm::HS256] {
        let ring = ring(alg);
        let claims = claims_at(now());
        let token = token::sign(&ring, &claims).unwrap();
        let exp = claims.expires_at();
        let v = verifier();
        assert!(v.verify(&ring, &token, exp - Duration::seconds(1)).is_ok());
        assert!(v.verify(&ring, &token, exp + Duration::seconds(29)).is_ok());
        let err = v
            .verify(&ring, &token, exp + Duration::seconds(30))
            .unwrap_err();
        assert_eq!(err, TokenError::Expired);
        assert_eq!(err.code(), ErrorCode::TokenExpired);
        let strict = Verifier::new(ISSUER, AUDIENCE).with_leeway(Duration::ZERO);
        assert_eq!(strict.verify(&ring, &token, exp), Err(TokenError::Expired));
        assert!(
            strict
                .verify(&ring, &token, exp - Duration::seconds(1))
                .is_ok()
        );
    }
}

#[test]
fn nbf_ahead_and_iat_in_the_future_are_refused() {
    let ring = ring(Algorithm::EdDSA);
    let mut claims = claims_at(now());
    claims.nbf = Some(now().unix_timestamp() + 120);
    let token = token::sign(&ring, &claims).unwrap();
    assert_eq!(check(&ring, &token), Err(TokenError::NotYetValid));
    assert!(
        verifier()
            .verify(&ring, &token, now() + Duration::seconds(90))
            .is_ok()
    );
    claims.nbf = Some(now().unix_timestamp() + 20); // within the leeway
    assert!(check(&ring, &token::sign(&ring, &claims).unwrap()).is_ok());

    let future = claims_at(now() + Duration::hours(1));
    let token = token::sign(&ring, &future).unwrap();
    assert_eq!(
        check(&ring, &token),
        Err(TokenError::InvalidClaims("iat is in the future"))
    );
    let slightly = claims_at(now() + Duration::seconds(20));
    assert!(check(&ring, &token::sign(&ring, &slightly).unwrap()).is_ok());
}

#[test]
fn wrong_audience_issuer_and_type_are_refused() {
    let ring = ring(Algorithm::EdDSA);
    let signer = key(Algorithm::EdDSA);
    let sign = |c: &AccessClaims| token::sign(&ring, c).unwrap();

    let mut c = claims_at(now());
    c.aud = vec!["another-api".into()];
    assert_eq!(
        check(&ring, &sign(&c)),
        Err(TokenError::InvalidClaims("aud"))
    );
    c.aud = vec![];
    assert_eq!(
        check(&ring, &sign(&c)),
        Err(TokenError::InvalidClaims("aud"))
    );
    c.aud = vec!["another-api".into(), AUDIENCE.into()];
    assert!(check(&ring, &sign(&c)).is_ok());
    let payload: Value = serde_json::from_slice(&unb64(split(&sign(&c)).1)).unwrap();
    assert!(payload["aud"].is_array());

    let mut c = claims_at(now());
    c.iss = "https://evil.example".into();
    assert_eq!(
        check(&ring, &sign(&c)),
        Err(TokenError::InvalidClaims("iss"))
    );

    let claims = claims_json(now());
    for typ in [
        json!("JWT"),
        json!("at+JWT+x"),
        json!("jwt"),
        json!(null),
        json!(["at+jwt"]),
    ] {
        let mut header = standard_header(signer);
        if typ.is_null() {
            header.as_object_mut().unwrap().remove("typ");
        } else {
            header["typ"] = typ.clone();
        }
        let forged = forge(signer, &header, &claims);
        assert!(check(&ring, &forged).is_err(), "typ {typ}");
    }
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let mut header = standard_header(signer);
        header["typ"] = json!(typ);
        assert!(
            check(&ring, &forge(signer, &header, &claims)).is_ok(),
            "typ {typ}"
        );
    }
    let mut header = standard_header(signer);
    header["cty"] = json!("JWT");
    assert!(matches!(
        check(&ring, &forge(signer, &header, &claims)),
        Err(TokenError::Rejected(_))
    ));
}

#[test]
fn an_oversized_token_is_refused_unread() {
    let ring = ring(Algorithm::EdDSA);
    let signer = key(Algorithm::EdDSA);
    let mut claims = claims_json(now());
    claims["pad"] = json!("x".repeat(7000)); // unknown claims are ignored…
    let big = forge(signer, &standard_header(signer), &claims);
    assert!(big.len() > 9000);
    assert_eq!(check(&ring, &big), Err(TokenError::TooLarge));
    // …and a 9 KiB run of garbage is refused as too large, not as garbage: it was not read.
    assert_eq!(
        check(&ring, &"%".repeat(9 * 1024)),
        Err(TokenError::TooLarge)
    );
    // The bound is exact.
    claims["pad"] = json!("x".repeat(5500));
    let fits = forge(signer, &standard_header(signer), &claims);
    assert!(fits.len() <= MAX_TOKEN_BYTES);
    assert!(check(&ring, &fits).is_ok());
    let exact = Verifier {
        max_token_bytes: fits.len(),
        ..verifier()
    };
    assert!(exact.verify(&ring, &fits, now()).is_ok());
    let short = Verifier {
        max_token_bytes: fits.len() - 1,
        ..verifier()
    };
    assert_eq!(short.verify(&ring, &fits, now()), Err(TokenError::TooLarge));
}

#[test]
fn garbage_and_extra_dots_are_malformed() {
    let ring = ring(Algorithm::EdDSA);
    let token = token::sign(&ring, &claims_at(now())).unwrap();
    let refresh = PlainSecret::generate().unwrap();
    let garbage = [
        "",
        ".",
        "..",
        "...",
        "not a token",
        "!!!.@@@.###",
        "a.b",
        "a.b.c",
        "e30.e30.e30",
        refresh.expose(), // a refresh token is not an access token
    ];
    for g in garbage {
        assert!(
            matches!(check(&ring, g), Err(TokenError::Malformed(_))),
            "{g:?}: {:?}",
            check(&ring, g)
        );
    }
    let (h, p, s) = split(&token);
    for odd in [
        format!("{token}."),
        format!("{token}.x"),
        format!(".{token}"),
        format!("{h}..{p}.{s}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}=.{p}.{s}"),
        format!(" {token}"),
        format!("{h}.{p}.+{s}"),
        format!("{h}.{p}/.{s}"),
        format!("Bearer {token}"),
    ] {
        let got = check(&ring, &odd);
        assert!(
            matches!(got, Err(TokenError::Malformed(_))),
            "{odd}: {got:?}"
        );
    }
}

#[test]
fn duplicate_members_and_badly_typed_claims_are_malformed() {
    let ring = ring(Algorithm::EdDSA);
    let signer = key(Algorithm::EdDSA);
    let kid = signer.kid();
    let claims = claims_json(now()).to_string();
    // A header that says EdDSA to one parser and none to another.
    let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"at+jwt","alg":"none"}}"#);
    let forged = signer
        .sign_compact(header.as_bytes(), claims.as_bytes())
        .unwrap();
    assert!(matches!(
        check(&ring, &forged),
        Err(TokenError::Malformed(_))
    ));

    let header = standard_header(signer).to_string();
    let dup_claims = claims.replacen('{', r#"{"sub":"admin","#, 1);
    let forged = signer
        .sign_compact(header.as_bytes(), dup_claims.as_bytes())
        .unwrap();
    assert!(matches!(
        check(&ring, &forged),
        Err(TokenError::Malformed(_))
    ));

    for (name, value) in [
        ("exp", json!(1.8e9)),
        ("exp", json!("1800000900")),
        ("iat", json!(null)),
        ("sub", json!(42)),
        ("aud", json!([1, 2])),
    ] {
        let mut c = claims_json(now());
        c[name] = value;
        let forged = forge(signer, &standard_header(signer), &c);
        assert!(
            matches!(check(&ring, &forged), Err(TokenError::Malformed(_))),
            "{name}"
        );
    }
    let not_json = signer.sign_compact(header.as_bytes(), b"not json").unwrap();
    assert!(matches!(
        check(&ring, &not_json),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn the_signature_is_checked_before_any_claim() {
    let ring = ring(Algorithm::EdDSA);
    let signer = key(Algorithm::EdDSA);
    let h = b64(standard_header(signer).to_string());
    let bad_sig = b64([7u8; 64]);
    // Claims that are garbage, expired or for someone else: the answer is the signature's.
    let mut expired = claims_json(now() - Duration::days(1));
    expired["iss"] = json!("https://evil.example");
    for payload in [b64("not json"), b64(expired.to_string())] {
        let forged = format!("{h}.{payload}.{bad_sig}");
        assert_eq!(check(&ring, &forged), Err(TokenError::BadSignature));
    }
}

#[test]
fn keys_of_other_algorithms_in_one_ring_stay_pinned() {
    // A ring switching from HS256 to EdDSA: both verify their own tokens, neither the other's.
    let hs = copy(key(Algorithm::HS256));
    let ed = copy(key(Algorithm::EdDSA));
    let (hs_kid, ed_kid) = (hs.kid().to_owned(), ed.kid().to_owned());
    let old = token::sign_with(&hs, &claims_at(now())).unwrap();
    let ring = KeyRing::new(vec![
        KeyEntry {
            key: std::sync::Arc::new(ed),
            state: KeyState::Active,
            since: now(),
        },
        KeyEntry {
            key: std::sync::Arc::new(hs),
            state: KeyState::Retiring,
            since: now(),
        },
    ])
    .unwrap();
    assert!(check(&ring, &old).is_ok());
    assert!(check(&ring, &token::sign(&ring, &claims_at(now())).unwrap()).is_ok());
    // An HS256 token naming the EdDSA key, MACed with that key's public bytes.
    let x = key(Algorithm::EdDSA)
        .public_jwk()
        .unwrap()
        .x
        .clone()
        .unwrap();
    let attacker = KeyPair::from_hmac_secret(&[unb64(&x), vec![0; 8]].concat()).unwrap();
    let header = json!({"alg": "HS256", "kid": ed_kid, "typ": "at+jwt"});
    let forged = forge(&attacker, &header, &claims_json(now()));
    assert!(matches!(
        check(&ring, &forged),
        Err(TokenError::Rejected(_))
    ));
    // An EdDSA header naming the HS256 key.
    let header = json!({"alg": "EdDSA", "kid": hs_kid, "typ": "at+jwt"});
    let forged = forge(key(Algorithm::EdDSA), &header, &claims_json(now()));
    assert!(matches!(
        check(&ring, &forged),
        Err(TokenError::Rejected(_))
    ));
}

#[test]
fn every_refusal_is_unauthorized_except_expiry() {
    let all = [
        TokenError::TooLarge,
        TokenError::Malformed("x"),
        TokenError::Rejected("x"),
        TokenError::UnknownKey,
        TokenError::BadSignature,
        TokenError::NotYetValid,
        TokenError::InvalidClaims("x"),
    ];
    for e in all {
        assert_eq!(e.code(), ErrorCode::Unauthorized, "{e}");
        assert_eq!(e.code().status(), 401);
    }
    assert_eq!(TokenError::Expired.code(), ErrorCode::TokenExpired);
    assert_eq!(TokenError::Expired.code().status(), 401);
}

#[test]
fn header_helper_reads_our_header() {
    let ring = ring(Algorithm::ES256);
    let token = token::sign(&ring, &claims_at(now())).unwrap();
    assert_eq!(header_of(&token)["typ"], json!("at+jwt"));
}
