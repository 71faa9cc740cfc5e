//! JWT mode under attack, over HTTP: every forged, tampered, misused or stale token sent as
//! `Authorization: Bearer` to `GET /v1/me` (and `GET /v1/verify`) must get a 401 problem+json
//! with `WWW-Authenticate: Bearer error="invalid_token"`. Also the verified-token cache against
//! revocation and expiry, key rotation as the JWKS shows it, and our tokens verified by an
//! independent JOSE implementation (jwt-compact) fed only the JWKS we serve.

use std::io::ErrorKind;
use std::net::TcpListener;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwt_compact::jwk::{JsonWebKey, JwkError};
use jwt_compact::{Algorithm as JwtAlgorithm, AlgorithmExt, UntrustedToken};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_core::key::{Algorithm, KeyPair};
use time::Duration;

use crate::support::{Resp, TestApp, TokenPair, decode_jwt};

const ASYMMETRIC: [Algorithm; 3] = [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

// ---- helpers ----

async fn app_with(alg: Algorithm) -> TestApp {
    TestApp::builder()
        .config(|c| c.jwt.algorithm = alg)
        .build()
        .await
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn split(token: &str) -> (&str, &str, &str) {
    let mut p = token.split('.');
    (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
}

/// A token over `claims` under exactly `header`, signed by `key`.
fn forge(key: &KeyPair, header: &Value, claims: &Value) -> String {
    key.sign_compact(header.to_string().as_bytes(), claims.to_string().as_bytes())
        .unwrap()
}

/// The header our server puts on access tokens, for `key`.
fn standard_header(key: &KeyPair) -> Value {
    json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": "at+jwt"})
}

/// A token over `claims` under `header`, signed by the app's own active key.
fn sign_ours(app: &TestApp, header: &Value, claims: &Value) -> String {
    let ring = app.tessera.tokens.ring();
    forge(ring.signing_key().unwrap(), header, claims)
}

/// `header.payload.signature` with the given (unencoded) parts.
fn assemble(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(claims.to_string()),
        b64(signature)
    )
}

fn now_unix(app: &TestApp) -> i64 {
    app.tessera.clock().now().unix_timestamp()
}

fn leeway(app: &TestApp) -> i64 {
    app.tessera.tokens.policy().leeway.whole_seconds()
}

/// Someone signed in for tokens: their id, tokens, and the access token's header and claims.
struct Victim {
    id: String,
    pair: TokenPair,
    header: Value,
    claims: Value,
}

async fn victim(app: &TestApp, email: &str) -> Victim {
    let id = app.register(email).await["id"].as_str().unwrap().to_owned();
    let pair = app.token_login(email).await;
    let (header, claims) = decode_jwt(&pair.access);
    Victim {
        id,
        pair,
        header,
        claims,
    }
}

async fn me(app: &TestApp, token: &str) -> Resp {
    app.get("/v1/me").bearer(token).send().await
}

/// Asserts `token` is accepted by `/v1/me` as `user` in JWT mode.
#[track_caller]
fn assert_accepted(res: &Resp, user: &str, what: &str) {
    assert_eq!(res.status, StatusCode::OK, "{what}: {}", res.text());
    let body = res.json();
    assert_eq!(body["user"]["id"], user, "{what}");
    assert_eq!(body["auth"]["mode"], "jwt", "{what}");
}

/// Asserts a Bearer 401 with `code`, naming the case on failure.
#[track_caller]
fn assert_refused(res: &Resp, code: &str, what: &str) {
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        res.text()
    );
    assert_eq!(
        res.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(res.json()["code"], code, "{what}: {}", res.text());
    let challenge = res.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
        "{what}: WWW-Authenticate {challenge:?}"
    );
    res.assert_bearer_401(code);
}

/// Sends `token` to `/v1/me` and `/v1/verify`; both must refuse it with `code`.
async fn expect_refused(app: &TestApp, token: &str, code: &str, what: &str) {
    assert_refused(&me(app, token).await, code, &format!("{what} (/v1/me)"));
    let res = app.get("/v1/verify").bearer(token).send().await;
    assert_refused(&res, code, &format!("{what} (/v1/verify)"));
    assert!(res.header("x-tessera-user").is_none(), "{what}");
}

async fn jwks(app: &TestApp) -> Value {
    let res = app.get("/.well-known/jwks.json").send().await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/jwk-set+json"));
    res.json()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    decode_jwt(token).0["kid"].as_str().unwrap().to_owned()
}

/// The public key bytes an attacker would try as an HMAC secret: the raw key as the JWK
/// carries it (Ed25519 point; P-256 x || y and the SEC1 uncompressed point; RSA modulus) and
/// the DER SubjectPublicKeyInfo inside the PEM.
fn raw_public_keys(jwk: &Value, pem_text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let field = |name: &str| unb64(jwk[name].as_str().unwrap());
    let mut out = Vec::new();
    match jwk["kty"].as_str().unwrap() {
        "OKP" => out.push(("raw Ed25519 key", field("x"))),
        "EC" => {
            let (x, y) = (field("x"), field("y"));
            out.push(("x || y", [x.as_slice(), y.as_slice()].concat()));
            out.push(("04 || x || y", [&[4u8][..], &x, &y].concat()));
        }
        "RSA" => out.push(("RSA modulus", field("n"))),
        other => panic!("unexpected kty {other}"),
    }
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    out.push(("SPKI DER", STANDARD.decode(body).unwrap()));
    out
}

// ---- 1. attacks ----

/// The control for everything below: a token forged with our own active key, our header and
/// sound claims is accepted, so each refusal below is down to the one defect it carries.
#[tokio::test]
async fn a_token_forged_with_our_own_key_and_sound_claims_is_accepted() {
    for alg in Algorithm::ALL {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        assert_accepted(&me(&app, &v.pair.access).await, &v.id, "issued token");
        let mut claims = v.claims.clone();
        claims["jti"] = json!("forged-but-sound");
        let ring = app.tessera.tokens.ring();
        let key = ring.signing_key().unwrap();
        assert_eq!(key.algorithm(), alg);
        let token = forge(key, &standard_header(key), &claims);
        assert_accepted(&me(&app, &token).await, &v.id, &format!("{alg} control"));
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    for alg in Algorithm::ALL {
        let app = app_with(alg).await;
        let v = victim(&app, "victim@example.com").await;
        let admin = victim(&app, "admin@example.com").await;
        let (h, _, s) = split(&v.pair.access);

        let mut evil = v.claims.clone();
        evil["sub"] = json!(admin.id);
        let tampered = format!("{h}.{}.{s}", b64(evil.to_string()));
        expect_refused(
            &app,
            &tampered,
            "unauthorized",
            &format!("{alg}: sub swapped"),
        )
        .await;

        let mut longer = v.claims.clone();
        longer["exp"] = json!(longer["exp"].as_i64().unwrap() + 86_400);
        let tampered = format!("{h}.{}.{s}", b64(longer.to_string()));
        expect_refused(
            &app,
            &tampered,
            "unauthorized",
            &format!("{alg}: exp pushed"),
        )
        .await;

        // The header is signed too: re-encoding it (same meaning, other bytes) breaks it.
        let reordered = format!(
            r#"{{"typ":"at+jwt","kid":{},"alg":{}}}"#,
            v.header["kid"], v.header["alg"]
        );
        assert_ne!(reordered.as_bytes(), unb64(h).as_slice());
        let (_, p, s) = split(&v.pair.access);
        let tampered = format!("{}.{p}.{s}", b64(&reordered));
        expect_refused(
            &app,
            &tampered,
            "unauthorized",
            &format!("{alg}: header re-encoded"),
        )
        .await;

        // One flipped bit in the signature.
        let mut sig = unb64(s);
        sig[0] ^= 1;
        let flipped = format!("{h}.{}.{}", split(&v.pair.access).1, b64(&sig));
        expect_refused(
            &app,
            &flipped,
            "unauthorized",
            &format!("{alg}: signature bit"),
        )
        .await;

        // The originals still work: nothing above had a side effect.
        assert_accepted(&me(&app, &v.pair.access).await, &v.id, "victim");
        assert_accepted(&me(&app, &admin.pair.access).await, &admin.id, "admin");
    }
}

#[tokio::test]
async fn alg_none_in_every_casing_is_refused() {
    for alg in Algorithm::ALL {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        let (_, p, s) = split(&v.pair.access);
        for none in ["none", "None", "NONE", "nOnE"] {
            let headers = [
                json!({"alg": none, "kid": v.header["kid"], "typ": "at+jwt"}),
                json!({"alg": none, "typ": "at+jwt"}),
                json!({"alg": none}),
            ];
            for header in headers {
                let h = b64(header.to_string());
                for (sig, how) in [("", "empty signature"), (s, "original signature")] {
                    let token = format!("{h}.{p}.{sig}");
                    expect_refused(
                        &app,
                        &token,
                        "unauthorized",
                        &format!("{alg}: {header} with {how}"),
                    )
                    .await;
                }
                // Unsecured JWS with only two parts.
                let token = format!("{h}.{p}");
                expect_refused(
                    &app,
                    &token,
                    "unauthorized",
                    &format!("{alg}: {header}, two parts"),
                )
                .await;
            }
        }
    }
}

#[tokio::test]
async fn stripped_and_all_zero_signatures_are_refused() {
    for alg in Algorithm::ALL {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        let (h, p, s) = split(&v.pair.access);
        let len = unb64(s).len();
        let expected = match alg {
            Algorithm::EdDSA | Algorithm::ES256 => 64,
            Algorithm::RS256 => 256,
            Algorithm::HS256 => 32,
        };
        assert_eq!(len, expected, "{alg}");
        let cases = [
            (format!("{h}.{p}."), "stripped signature"),
            (format!("{h}.{p}"), "no signature part"),
            (
                format!("{h}.{p}.{}", b64(vec![0u8; len])),
                "all-zero signature",
            ),
            (
                format!("{h}.{p}.{}", b64(vec![0u8; len - 1])),
                "zero signature, one byte short",
            ),
            (
                format!("{h}.{p}.{}", b64(vec![0u8; len + 1])),
                "zero signature, one byte long",
            ),
            (format!("{h}.{p}.{}", b64([0u8])), "one zero byte"),
            (
                format!("{h}.{p}.{}", b64(vec![0xffu8; len])),
                "all-ones signature",
            ),
            (format!("{h}.{p}.{s}{s}"), "signature twice"),
        ];
        for (token, what) in cases {
            expect_refused(&app, &token, "unauthorized", &format!("{alg}: {what}")).await;
        }
    }
}

#[tokio::test]
async fn es256_with_r_and_s_zero_is_refused() {
    let app = app_with(Algorithm::ES256).await;
    let v = victim(&app, "a@example.com").await;
    assert_eq!(v.header["alg"], "ES256");
    let (h, p, s) = split(&v.pair.access);
    // The order n of P-256: r = s = n is "0 mod n" (CVE-2022-21449, psychic signatures).
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let real = unb64(s);
    let one = {
        let mut b = vec![0u8; 32];
        b[31] = 1;
        b
    };
    let cases: [(Vec<u8>, &str); 5] = [
        (vec![0u8; 64], "r = s = 0"),
        ([n.as_slice(), n.as_slice()].concat(), "r = s = n"),
        ([&[0u8; 32][..], &real[32..]].concat(), "r = 0, real s"),
        ([&real[..32], &[0u8; 32][..]].concat(), "real r, s = 0"),
        ([one.as_slice(), one.as_slice()].concat(), "r = s = 1"),
    ];
    for (sig, what) in cases {
        let token = format!("{h}.{p}.{}", b64(&sig));
        expect_refused(&app, &token, "unauthorized", what).await;
    }
    // And freshly made, under a header naming our key, over claims of another user.
    let other = victim(&app, "b@example.com").await;
    let mut claims = v.claims.clone();
    claims["sub"] = json!(other.id);
    let token = assemble(&v.header, &claims, &[0u8; 64]);
    expect_refused(&app, &token, "unauthorized", "r = s = 0 over new claims").await;
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Algorithm confusion: HS256 keyed with our public key, in every form an attacker can get it
/// (the JWK as served, the PEM, the raw key bytes), under our `kid`.
#[tokio::test]
async fn hs256_keyed_with_our_public_key_is_refused() {
    for alg in ASYMMETRIC {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        let served = jwks(&app).await;
        let raw_jwks = app.get("/.well-known/jwks.json").send().await.text();
        let ring = app.tessera.tokens.ring();
        let key = ring.signing_key().unwrap();
        let jwk = served["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == key.kid())
            .unwrap()
            .clone();
        let pem_text = key.public_key_pem().unwrap();

        let mut secrets: Vec<(String, Vec<u8>)> = vec![
            (
                "JWK as our server serialises it".into(),
                serde_json::to_vec(key.public_jwk().unwrap()).unwrap(),
            ),
            ("JWK re-serialised".into(), jwk.to_string().into_bytes()),
            (
                "the whole JWKS document".into(),
                raw_jwks.clone().into_bytes(),
            ),
            ("PEM".into(), pem_text.clone().into_bytes()),
            (
                "PEM without the final newline".into(),
                pem_text.trim_end().as_bytes().to_vec(),
            ),
        ];
        for (what, bytes) in raw_public_keys(&jwk, &pem_text) {
            secrets.push((what.into(), bytes));
        }
        assert!(
            raw_jwks.contains(&serde_json::to_string(key.public_jwk().unwrap()).unwrap()),
            "the JWK text used is the one served"
        );

        let mut claims = v.claims.clone();
        claims["jti"] = json!("confused");
        for (what, secret) in secrets {
            let hmac = KeyPair::from_hmac_secret(&secret).unwrap();
            for header in [
                json!({"alg": "HS256", "kid": key.kid(), "typ": "at+jwt"}),
                json!({"alg": "HS256", "typ": "at+jwt"}),
                json!({"alg": "HS256", "kid": hmac.kid(), "typ": "at+jwt"}),
            ] {
                let token = forge(&hmac, &header, &claims);
                expect_refused(
                    &app,
                    &token,
                    "unauthorized",
                    &format!("{alg}: HS256 keyed with {what}, {header}"),
                )
                .await;
            }
        }
        // Our own key under another asymmetric alg name is refused too (alg pinned by the key).
        for other in ASYMMETRIC.into_iter().filter(|a| *a != alg) {
            let header = json!({"alg": other.as_str(), "kid": key.kid(), "typ": "at+jwt"});
            let token = forge(key, &header, &claims);
            expect_refused(
                &app,
                &token,
                "unauthorized",
                &format!("{alg} key, header says {other}"),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn a_kid_with_a_path_sql_or_unknown_name_is_refused() {
    for sqlite in [false, true] {
        let app = if sqlite {
            TestApp::sqlite().await
        } else {
            TestApp::memory().await
        };
        let v = victim(&app, "a@example.com").await;
        let attacker = KeyPair::generate(Algorithm::EdDSA).unwrap();
        let ring = app.tessera.tokens.ring();
        let ours = ring.signing_key().unwrap();
        let hostile = [
            json!("../../etc/passwd"),
            json!("/dev/null"),
            json!("' OR 1=1 --"),
            json!("\"; DROP TABLE keys; --"),
            json!("x' UNION SELECT material FROM keys --"),
            json!("%00"),
            json!(""),
            json!(attacker.kid()),
            json!(format!("{}x", ours.kid())),
            json!(ours.kid().to_uppercase()),
            json!(1),
            json!(null),
            json!([ours.kid()]),
        ];
        for kid in hostile {
            let header = json!({"alg": "EdDSA", "kid": kid, "typ": "at+jwt"});
            for (signer, by) in [(ours, "our key"), (&attacker, "the attacker's key")] {
                let token = forge(signer, &header, &v.claims);
                expect_refused(
                    &app,
                    &token,
                    "unauthorized",
                    &format!("sqlite={sqlite}: kid {kid} signed by {by}"),
                )
                .await;
            }
        }
        // No kid at all, signed by our key.
        let token = forge(ours, &json!({"alg": "EdDSA", "typ": "at+jwt"}), &v.claims);
        expect_refused(&app, &token, "unauthorized", "no kid").await;
        // The keys survived the "SQL".
        assert_eq!(kids(&jwks(&app).await).len(), 2);
        assert_accepted(
            &me(&app, &v.pair.access).await,
            &v.id,
            "after the kid attacks",
        );
    }
}

/// `jwk`, `jku`, `x5u`, `x5c`: a key or key location chosen by the token is never used, and
/// nothing is fetched.
#[tokio::test]
async fn embedded_and_remote_keys_are_never_trusted() {
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_url = format!("http://{}/jwks.json", trap.local_addr().unwrap());
    for alg in ASYMMETRIC {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        let admin = victim(&app, "admin@example.com").await;
        let attacker = KeyPair::generate(alg).unwrap();
        let attacker_jwk = serde_json::to_value(attacker.public_jwk().unwrap()).unwrap();
        let ring = app.tessera.tokens.ring();
        let ours = ring.signing_key().unwrap();
        let mut claims = v.claims.clone();
        claims["sub"] = json!(admin.id);

        let a = alg.as_str();
        let headers = [
            json!({"alg": a, "kid": attacker.kid(), "typ": "at+jwt", "jwk": attacker_jwk}),
            json!({"alg": a, "typ": "at+jwt", "jwk": attacker_jwk}),
            json!({"alg": a, "kid": ours.kid(), "typ": "at+jwt", "jwk": attacker_jwk}),
            json!({"alg": a, "kid": attacker.kid(), "typ": "at+jwt", "jku": "http://127.0.0.1:9/jwks.json"}),
            json!({"alg": a, "kid": attacker.kid(), "typ": "at+jwt", "jku": trap_url}),
            json!({"alg": a, "kid": attacker.kid(), "typ": "at+jwt", "x5u": "http://127.0.0.1:9/cert.pem"}),
            json!({"alg": a, "kid": attacker.kid(), "typ": "at+jwt", "x5u": trap_url}),
            json!({"alg": a, "kid": attacker.kid(), "typ": "at+jwt", "x5c": [STANDARD.encode(b"not a certificate")]}),
        ];
        for header in headers {
            let token = forge(&attacker, &header, &claims);
            expect_refused(
                &app,
                &token,
                "unauthorized",
                &format!("{alg}: attacker-signed {header}"),
            )
            .await;
        }
        // Even signed by our own key, a header naming a key or a key location is refused.
        for member in ["jwk", "jku", "x5u", "x5c"] {
            let mut header = standard_header(ours);
            header[member] = match member {
                "jwk" => serde_json::to_value(ours.public_jwk().unwrap()).unwrap(),
                "x5c" => json!([]),
                _ => json!(trap_url),
            };
            let token = forge(ours, &header, &v.claims);
            expect_refused(
                &app,
                &token,
                "unauthorized",
                &format!("{alg}: our key with {member}"),
            )
            .await;
        }
    }
    match trap.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the server fetched a key location (connection from {peer})"),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_with_token_expired() {
    for alg in Algorithm::ALL {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        let exp = v.claims["exp"].as_i64().unwrap();
        let past = exp + leeway(&app) + 1 - now_unix(&app);
        app.clock.advance(Duration::seconds(past));
        expect_refused(
            &app,
            &v.pair.access,
            "token_expired",
            &format!("{alg}: expired"),
        )
        .await;
        // Forged with our key, long expired.
        let mut old = v.claims.clone();
        old["iat"] = json!(now_unix(&app) - 7200);
        old["exp"] = json!(now_unix(&app) - 3600);
        let token = sign_ours(&app, &v.header, &old);
        expect_refused(
            &app,
            &token,
            "token_expired",
            &format!("{alg}: forged expired"),
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let now = now_unix(&app);
    let mut ahead = v.claims.clone();
    ahead["nbf"] = json!(now + leeway(&app) + 60);
    let token = sign_ours(&app, &v.header, &ahead);
    expect_refused(&app, &token, "unauthorized", "nbf ahead").await;
    // Within the leeway, nbf is tolerated: the refusal above is the nbf check's.
    let mut skewed = v.claims.clone();
    skewed["nbf"] = json!(now + leeway(&app) / 2);
    let token = sign_ours(&app, &v.header, &skewed);
    assert_accepted(&me(&app, &token).await, &v.id, "nbf within leeway");
    // iat ahead of the clock beyond the leeway is refused too.
    let mut future = v.claims.clone();
    future["iat"] = json!(now + leeway(&app) + 60);
    future["exp"] = json!(now + 3600);
    let token = sign_ours(&app, &v.header, &future);
    expect_refused(&app, &token, "unauthorized", "iat ahead").await;
}

/// Signed correctly by our own active key: only the claim and header checks can refuse these.
#[tokio::test]
async fn wrong_aud_iss_or_typ_signed_by_our_key_is_refused() {
    for alg in ASYMMETRIC {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        let policy = app.tessera.tokens.policy().clone();
        assert_eq!(v.claims["iss"], policy.issuer.as_str());
        assert_eq!(v.claims["aud"], policy.audience.as_str());

        let with = |name: &str, value: Value| {
            let mut c = v.claims.clone();
            c[name] = value;
            c
        };
        let without = |name: &str| {
            let mut c = v.claims.clone();
            c.as_object_mut().unwrap().remove(name);
            c
        };
        let claim_cases = [
            (with("aud", json!("https://other.example")), "wrong aud"),
            (
                with(
                    "aud",
                    json!(["https://other.example", "https://third.example"]),
                ),
                "aud array without ours",
            ),
            (
                with("aud", json!(format!("{}/", policy.audience))),
                "aud with a trailing slash",
            ),
            (with("aud", json!([])), "empty aud array"),
            (without("aud"), "no aud"),
            (with("iss", json!("https://evil.example")), "wrong iss"),
            (
                with("iss", json!(format!("{}/", policy.issuer))),
                "iss with a trailing slash",
            ),
            (
                with("iss", json!(policy.issuer.to_uppercase())),
                "iss in capitals",
            ),
            (without("iss"), "no iss"),
            (without("exp"), "no exp"),
            (
                with("exp", json!(format!("{}", v.claims["exp"]))),
                "exp as a string",
            ),
            (with("sub", json!("")), "empty sub"),
            (without("sub"), "no sub"),
            (with("jti", json!("")), "empty jti"),
            (with("sub", json!("admin")), "sub not a user id"),
            (
                with("sub", json!("00000000-0000-7000-8000-000000000000")),
                "sub of no user",
            ),
        ];
        for (claims, what) in claim_cases {
            let token = sign_ours(&app, &v.header, &claims);
            expect_refused(&app, &token, "unauthorized", &format!("{alg}: {what}")).await;
        }
        let ring = app.tessera.tokens.ring();
        let key = ring.signing_key().unwrap();
        let a = alg.as_str();
        let header_cases = [
            (json!({"alg": a, "kid": key.kid(), "typ": "JWT"}), "typ JWT"),
            (json!({"alg": a, "kid": key.kid()}), "no typ"),
            (
                json!({"alg": a, "kid": key.kid(), "typ": "at+jwt", "cty": "JWT"}),
                "cty (nested)",
            ),
            (
                json!({"alg": a, "kid": key.kid(), "typ": "at+jwt", "crit": ["exp"], "exp": 0}),
                "crit",
            ),
            (
                json!({"alg": a, "kid": key.kid(), "typ": "at+jwt", "b64": false, "crit": ["b64"]}),
                "b64 false",
            ),
            (json!({"alg": a, "kid": key.kid(), "typ": ""}), "empty typ"),
            (
                json!({"alg": a, "kid": key.kid(), "typ": "dpop+jwt"}),
                "typ dpop+jwt",
            ),
        ];
        for (header, what) in header_cases {
            let token = forge(key, &header, &v.claims);
            expect_refused(&app, &token, "unauthorized", &format!("{alg}: {what}")).await;
        }
        // A duplicated header member (the parsers-disagree trick).
        let dup = format!(
            r#"{{"alg":"{a}","kid":"{}","typ":"JWT","typ":"at+jwt"}}"#,
            key.kid()
        );
        let token = key
            .sign_compact(dup.as_bytes(), v.claims.to_string().as_bytes())
            .unwrap();
        expect_refused(
            &app,
            &token,
            "unauthorized",
            &format!("{alg}: duplicate typ"),
        )
        .await;
        // The payload must be a JSON object of claims.
        for payload in [&b"[]"[..], b"null", b"\"claims\"", b"{\"sub\": 1}"] {
            let token = key
                .sign_compact(standard_header(key).to_string().as_bytes(), payload)
                .unwrap();
            let what = format!("{alg}: payload {}", String::from_utf8_lossy(payload));
            expect_refused(&app, &token, "unauthorized", &what).await;
        }
    }
}

#[tokio::test]
async fn refresh_and_access_tokens_are_not_interchangeable() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    // A refresh token as a Bearer access token.
    expect_refused(
        &app,
        &v.pair.refresh,
        "unauthorized",
        "refresh token as Bearer",
    )
    .await;
    // An access token as a refresh token, JSON and through the refresh cookie.
    let res = app.refresh(&v.pair.access).await;
    res.assert_problem(401, "invalid_grant");
    let res = app
        .post("/v1/token")
        .header("cookie", &format!("tessera_refresh={}", v.pair.access))
        .json(json!({"grant_type": "refresh_token"}))
        .send()
        .await;
    res.assert_problem(401, "invalid_grant");
    // Neither misuse burnt anything: the refresh token still refreshes, the access token works.
    assert_accepted(
        &me(&app, &v.pair.access).await,
        &v.id,
        "access after misuse",
    );
    let res = app.refresh(&v.pair.refresh).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let next = TokenPair::from_response(&res);
    assert_accepted(&me(&app, &next.access).await, &v.id, "refreshed");
    // The session secret of cookie mode is not a Bearer token either.
    let login = app.login("a@example.com").await;
    expect_refused(
        &app,
        &login.secret,
        "unauthorized",
        "session secret as Bearer",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_token_is_refused() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let padded = |total: usize| {
        let mut claims = v.claims.clone();
        claims["pad"] = json!("");
        let base = sign_ours(&app, &v.header, &claims).len();
        // Every 3 bytes of claims are 4 of base64url.
        claims["pad"] = json!("x".repeat((total - base) * 3 / 4));
        let token = sign_ours(&app, &v.header, &claims);
        assert!(
            token.len().abs_diff(total) < 8,
            "{} vs {total}",
            token.len()
        );
        token
    };
    // Just under the limit, properly signed: accepted, so the refusal below is the size's.
    let under = padded(8 * 1024 - 16);
    assert!(under.len() <= 8 * 1024);
    assert_accepted(&me(&app, &under).await, &v.id, "just under 8 KiB");
    let over = padded(9 * 1024);
    assert!(over.len() > 8 * 1024);
    expect_refused(&app, &over, "unauthorized", "9 KiB, signed").await;
    let junk = "A".repeat(9 * 1024);
    expect_refused(&app, &junk, "unauthorized", "9 KiB of junk").await;
    let dotted = format!(
        "{}.{}.{}",
        "A".repeat(3000),
        "A".repeat(3000),
        "A".repeat(3200)
    );
    expect_refused(&app, &dotted, "unauthorized", "9 KiB in three parts").await;
    let huge = "A".repeat(64 * 1024);
    expect_refused(&app, &huge, "unauthorized", "64 KiB").await;
}

#[tokio::test]
async fn garbage_bearer_values_are_refused() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let (h, p, s) = split(&v.pair.access);
    // Standard base64 with padding: the signature (64 bytes) always gets "==".
    let standard = [h, p, s].map(|part| STANDARD.encode(unb64(part))).join(".");
    assert_ne!(standard, v.pair.access);
    let garbage = [
        "a.b.c".to_owned(),
        "....".to_owned(),
        "..".to_owned(),
        ".".to_owned(),
        "".to_owned(),
        "null".to_owned(),
        "!!!.@@@.###".to_owned(),
        "eyJ*.e30.AAAA".to_owned(),
        "e30.e30.e30".to_owned(),
        "W10.e30.AAAA".to_owned(),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!(".{h}.{p}.{s}"),
        format!("{h}..{s}"),
        format!("{h}.{p}.{s}="),
        standard,
        // Standard-alphabet characters in place of base64url's.
        format!("+{h}.{p}.{s}"),
        format!("{h}.{p}./{s}"),
        format!("{h}.{p}.{}", &s[..s.len() - 1]),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{s} x"),
        format!("Bearer {}", v.pair.access),
        format!("\"{}\"", v.pair.access),
        format!("{}%2E", v.pair.access),
    ];
    for token in garbage {
        assert_ne!(token, v.pair.access);
        expect_refused(&app, &token, "unauthorized", &format!("garbage {token:?}")).await;
    }
    // The scheme alone, and the scheme with spaces only.
    for value in ["Bearer", "Bearer ", "bearer    "] {
        let res = app
            .get("/v1/me")
            .header("authorization", value)
            .send()
            .await;
        assert_refused(&res, "unauthorized", value);
    }
    // Still fine afterwards.
    assert_accepted(&me(&app, &v.pair.access).await, &v.id, "after garbage");
}

/// A Bearer header decides alone: when it fails, a valid session or access cookie sent along
/// does not rescue the request.
#[tokio::test]
async fn a_failing_bearer_does_not_fall_back_to_cookies() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let login = app.login("a@example.com").await;
    let res = app
        .post("/v1/token")
        .json(json!({"email": "a@example.com", "password": crate::support::PASSWORD, "delivery": "cookie"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let access_cookie = format!("tessera_access={}", res.cookie("tessera_access").unwrap());

    // The cookies do work on their own.
    let res = app.get("/v1/me").cookie(&login).send().await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["auth"]["mode"], "session");
    let res = app
        .get("/v1/me")
        .header("cookie", &access_cookie)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["auth"]["mode"], "jwt");

    let (h, p, _) = split(&v.pair.access);
    let none = format!("{}.{p}.", b64(json!({"alg": "none"}).to_string()));
    let mut expired = v.claims.clone();
    expired["exp"] = json!(now_unix(&app) - 3600);
    let expired = sign_ours(&app, &v.header, &expired);
    let bad = [
        (
            format!("{h}.{p}.{}", b64([0u8; 64])),
            "unauthorized",
            "zero signature",
        ),
        (none, "unauthorized", "alg none"),
        ("garbage".to_owned(), "unauthorized", "garbage"),
        (v.pair.refresh.clone(), "unauthorized", "refresh token"),
        (expired, "token_expired", "expired"),
    ];
    let cookies = [
        (login.cookie(), "session cookie"),
        (access_cookie.clone(), "access cookie"),
        (
            format!("{}; {access_cookie}", login.cookie()),
            "both cookies",
        ),
    ];
    for (token, code, what) in &bad {
        for (cookie, which) in &cookies {
            for path in ["/v1/me", "/v1/verify", "/v1/sessions"] {
                let res = app
                    .get(path)
                    .bearer(token)
                    .header("cookie", cookie)
                    .send()
                    .await;
                assert_refused(&res, code, &format!("{what} + {which} on {path}"));
            }
        }
    }
    // A revoked Bearer token with a live session cookie: still refused.
    let res = app
        .post("/v1/token/revoke")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={}", v.pair.access).into_bytes(),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .get("/v1/me")
        .bearer(&v.pair.access)
        .cookie(&login)
        .send()
        .await;
    assert_refused(&res, "token_revoked", "revoked + session cookie");
}

/// The same rule when the Bearer header's bytes are not plain ASCII (obs-text, which HTTP
/// allows in a field value): the header still names the Bearer scheme, so it must decide.
#[tokio::test]
async fn a_bearer_header_with_non_ascii_bytes_does_not_fall_back_to_cookies() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let login = app.login("a@example.com").await;
    for value in [
        [b"Bearer ".as_slice(), v.pair.access.as_bytes(), b"\xff"].concat(),
        [b"Bearer \xe9".as_slice(), v.pair.access.as_bytes()].concat(),
        b"Bearer \x80\x80\x80".to_vec(),
    ] {
        let shown = String::from_utf8_lossy(&value).into_owned();
        let res = app
            .get("/v1/me")
            .header_bytes("authorization", &value)
            .cookie(&login)
            .send()
            .await;
        assert_refused(&res, "unauthorized", &format!("{shown:?} + session cookie"));
        let res = app
            .get("/v1/me")
            .header_bytes("authorization", &value)
            .send()
            .await;
        assert_refused(&res, "unauthorized", &format!("{shown:?} alone"));
    }
}

// ---- 2. cache and revocation ----

async fn revoke_form(app: &TestApp, token: &str) {
    let res = app
        .post("/v1/token/revoke")
        .raw(
            "application/x-www-form-urlencoded",
            format!("token={token}").into_bytes(),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

#[tokio::test]
async fn a_revoked_access_token_is_refused_cached_or_cold() {
    for alg in [Algorithm::EdDSA, Algorithm::HS256] {
        let app = app_with(alg).await;
        let v = victim(&app, "a@example.com").await;
        // Warm: used (so in the verified cache), then revoked.
        assert_accepted(&me(&app, &v.pair.access).await, &v.id, "warm, first use");
        assert_accepted(
            &me(&app, &v.pair.access).await,
            &v.id,
            "warm, from the cache",
        );
        revoke_form(&app, &v.pair.access).await;
        expect_refused(
            &app,
            &v.pair.access,
            "token_revoked",
            &format!("{alg}: warm, revoked"),
        )
        .await;

        // Cold: never used before its revocation (JSON body this time).
        let cold = app.token_login("a@example.com").await;
        let res = app
            .post("/v1/token/revoke")
            .json(json!({"token": cold.access, "token_type_hint": "access_token"}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        expect_refused(
            &app,
            &cold.access,
            "token_revoked",
            &format!("{alg}: cold, revoked"),
        )
        .await;

        // Revoking one access token leaves the user's others alone.
        let other = app.token_login("a@example.com").await;
        assert_accepted(
            &me(&app, &other.access).await,
            &v.id,
            "another token of the user",
        );

        // Revoking a refresh token denies its family's access tokens, cached or not.
        let fam = app.token_login("a@example.com").await;
        assert_accepted(&me(&app, &fam.access).await, &v.id, "family token, cached");
        let res = app.refresh(&fam.refresh).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let rotated = TokenPair::from_response(&res);
        revoke_form(&app, &rotated.refresh).await;
        expect_refused(
            &app,
            &fam.access,
            "token_revoked",
            &format!("{alg}: family, cached"),
        )
        .await;
        expect_refused(
            &app,
            &rotated.access,
            "token_revoked",
            &format!("{alg}: family, cold"),
        )
        .await;
        assert_accepted(&me(&app, &other.access).await, &v.id, "another family");
    }
}

#[tokio::test]
async fn an_expired_access_token_is_refused_cached_or_cold() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let cold = app.token_login("a@example.com").await;
    assert_eq!(decode_jwt(&cold.access).1["exp"], v.claims["exp"]);
    assert_accepted(&me(&app, &v.pair.access).await, &v.id, "warm, first use");
    let exp = v.claims["exp"].as_i64().unwrap();
    // Still inside the leeway: both accepted.
    app.clock
        .advance(Duration::seconds(exp + leeway(&app) - 1 - now_unix(&app)));
    assert_accepted(
        &me(&app, &v.pair.access).await,
        &v.id,
        "warm, in the leeway",
    );
    // Past it: both refused as expired.
    app.clock.advance(Duration::seconds(2));
    expect_refused(&app, &v.pair.access, "token_expired", "warm, expired").await;
    expect_refused(&app, &cold.access, "token_expired", "cold, expired").await;
    // A purge does not change that.
    app.tessera.purge_expired().await.unwrap();
    expect_refused(
        &app,
        &v.pair.access,
        "token_expired",
        "warm, expired, after purge",
    )
    .await;
}

/// The verifier refuses a token from `now >= exp + leeway` on; a cached token must be refused
/// from the same second, or the cache changes the outcome of a request.
#[tokio::test]
async fn the_cache_and_the_verifier_agree_on_the_expiry_second() {
    let app = TestApp::memory().await;
    let v = victim(&app, "a@example.com").await;
    let cold = app.token_login("a@example.com").await;
    assert_accepted(&me(&app, &v.pair.access).await, &v.id, "warm, first use");
    let exp = v.claims["exp"].as_i64().unwrap();
    app.clock
        .advance(Duration::seconds(exp + leeway(&app) - now_unix(&app)));
    assert_eq!(now_unix(&app), exp + leeway(&app));
    expect_refused(&app, &cold.access, "token_expired", "cold, at exp + leeway").await;
    expect_refused(
        &app,
        &v.pair.access,
        "token_expired",
        "cached, at exp + leeway",
    )
    .await;
}

// ---- 3. key rotation ----

#[tokio::test]
async fn a_rotation_keeps_old_tokens_and_the_jwks_shows_every_step() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256] {
        let app = app_with(alg).await;
        let tokens = &app.tessera.tokens;
        let v = victim(&app, "a@example.com").await;
        let ring = tokens.ring();
        let (active, next) = (
            ring.signing_key().unwrap().kid().to_owned(),
            ring.next_key().unwrap().kid().to_owned(),
        );
        drop(ring);
        assert_eq!(kid_of(&v.pair.access), active);
        // Before: the active key and the next one, both published.
        let before = jwks(&app).await;
        assert_eq!(kids(&before), vec![active.clone(), next.clone()], "{alg}");
        for k in before["keys"].as_array().unwrap() {
            assert_eq!(k["alg"], alg.as_str());
            assert_eq!(k["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(k.get(private).is_none(), "{alg}: {private} published");
            }
        }
        // A token used before the rotation, so it sits in the cache.
        assert_accepted(&me(&app, &v.pair.access).await, &v.id, "before rotation");
        let cold_old = app.token_login("a@example.com").await;
        assert_eq!(kid_of(&cold_old.access), active);

        tokens.rotate_keys().await.unwrap();
        app.clock.advance(Duration::seconds(5));
        // After: the old tokens still verify (cached and cold).
        assert_accepted(
            &me(&app, &v.pair.access).await,
            &v.id,
            "old token, cached, after rotation",
        );
        assert_accepted(
            &me(&app, &cold_old.access).await,
            &v.id,
            "old token, cold, after rotation",
        );
        // The old next key now signs; the old active one is still published; a new next appears.
        let fresh = app.token_login("a@example.com").await;
        assert_eq!(
            kid_of(&fresh.access),
            next,
            "{alg}: the next key signs after rotation"
        );
        assert_accepted(&me(&app, &fresh.access).await, &v.id, "new token");
        let ring = tokens.ring();
        assert_eq!(ring.signing_key().unwrap().kid(), next);
        let new_next = ring.next_key().unwrap().kid().to_owned();
        assert!(new_next != active && new_next != next);
        assert_eq!(
            ring.get(&active).map(|e| e.state.as_str()),
            Some("retiring")
        );
        drop(ring);
        let after = jwks(&app).await;
        let mut published = kids(&after);
        assert_eq!(published[0], next, "{alg}: the active key comes first");
        published.sort();
        let mut expected = vec![active.clone(), next.clone(), new_next.clone()];
        expected.sort();
        assert_eq!(
            published, expected,
            "{alg}: active, next and retiring are published"
        );

        // Retiring the active key is refused; retiring the old one works.
        assert!(
            tokens.retire_key(&next).await.is_err(),
            "{alg}: the active key cannot be retired"
        );
        tokens.retire_key(&active).await.unwrap();
        // The old tokens, cached or not, stop verifying at once; the new ones do not.
        expect_refused(
            &app,
            &v.pair.access,
            "unauthorized",
            &format!("{alg}: cached token of a retired key"),
        )
        .await;
        expect_refused(
            &app,
            &cold_old.access,
            "unauthorized",
            &format!("{alg}: cold token of a retired key"),
        )
        .await;
        assert_accepted(
            &me(&app, &fresh.access).await,
            &v.id,
            "new token after retirement",
        );
        let retired = jwks(&app).await;
        assert_eq!(
            kids(&retired),
            vec![next.clone(), new_next.clone()],
            "{alg}"
        );
        // Another rotation: the new next signs, the keys keep moving.
        tokens.rotate_keys().await.unwrap();
        let third = app.token_login("a@example.com").await;
        assert_eq!(kid_of(&third.access), new_next);
        assert_accepted(
            &me(&app, &fresh.access).await,
            &v.id,
            "second-generation token",
        );
        assert_accepted(
            &me(&app, &third.access).await,
            &v.id,
            "third-generation token",
        );
    }
}

/// The natural end of a key: after a rotation and one access TTL (plus leeway), the purge
/// retires it, the JWKS drops it, and its tokens are refused.
#[tokio::test]
async fn a_rotated_out_key_retires_after_one_access_ttl() {
    let app = TestApp::memory().await;
    let tokens = &app.tessera.tokens;
    let policy = tokens.policy().clone();
    let v = victim(&app, "a@example.com").await;
    let old = kid_of(&v.pair.access);
    // The ring as it was: its signing key is the one about to be rotated out.
    let old_ring = tokens.ring();
    assert_accepted(
        &me(&app, &v.pair.access).await,
        &v.id,
        "cached before rotation",
    );
    tokens.rotate_keys().await.unwrap();
    let new_active = tokens.ring().signing_key().unwrap().kid().to_owned();
    assert_ne!(new_active, old);

    // Before one access TTL has passed, the purge keeps the old key: its tokens may be live.
    app.clock.advance(policy.access_ttl - Duration::seconds(60));
    app.tessera.purge_expired().await.unwrap();
    assert!(kids(&jwks(&app).await).contains(&old), "retired too early");
    assert_accepted(
        &me(&app, &v.pair.access).await,
        &v.id,
        "old token, late in its life",
    );

    // One access TTL plus the leeway after the rotation, the purge retires it.
    app.clock
        .advance(Duration::seconds(60) + policy.leeway + Duration::seconds(1));
    app.tessera.purge_expired().await.unwrap();
    let published = kids(&jwks(&app).await);
    assert!(
        !published.contains(&old),
        "the spent key is still published: {published:?}"
    );
    assert!(published.contains(&new_active));
    assert_eq!(published.len(), 2, "{published:?}");
    assert!(tokens.ring().verification_key(&old).is_none());
    let res = me(&app, &v.pair.access).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    assert!(
        res.header("www-authenticate")
            .unwrap_or_default()
            .starts_with("Bearer")
    );

    // The retired key's own private half, should it leak, can mint nothing that verifies.
    let fresh = app.token_login("a@example.com").await;
    assert_eq!(kid_of(&fresh.access), new_active);
    assert_accepted(
        &me(&app, &fresh.access).await,
        &v.id,
        "new token after the purge",
    );
    let (_, mut claims) = decode_jwt(&fresh.access);
    claims["jti"] = json!("from-a-leaked-key");
    let old_key = old_ring.signing_key().unwrap();
    assert_eq!(old_key.kid(), old);
    let leaked = forge(old_key, &standard_header(old_key), &claims);
    expect_refused(
        &app,
        &leaked,
        "unauthorized",
        "fresh claims signed by the retired key",
    )
    .await;
}

/// A key retired while a node holds its tokens in the verified cache: the cache is dropped.
#[tokio::test]
async fn a_cached_token_of_a_retired_key_is_refused() {
    let app = app_with(Algorithm::RS256).await;
    let v = victim(&app, "a@example.com").await;
    let old = kid_of(&v.pair.access);
    for _ in 0..3 {
        assert_accepted(&me(&app, &v.pair.access).await, &v.id, "cached");
    }
    app.tessera.tokens.rotate_keys().await.unwrap();
    assert_accepted(
        &me(&app, &v.pair.access).await,
        &v.id,
        "cached, after rotation",
    );
    app.tessera.tokens.retire_key(&old).await.unwrap();
    expect_refused(
        &app,
        &v.pair.access,
        "unauthorized",
        "cached token of a retired key",
    )
    .await;
    assert!(!kids(&jwks(&app).await).contains(&old));
}

#[tokio::test]
async fn hs256_keys_are_never_published_and_still_work() {
    let app = app_with(Algorithm::HS256).await;
    let v = victim(&app, "a@example.com").await;
    assert_eq!(v.header["alg"], "HS256");
    assert_eq!(v.header["typ"], "at+jwt");
    assert_accepted(&me(&app, &v.pair.access).await, &v.id, "HS256 token");
    assert_eq!(jwks(&app).await, json!({"keys": []}));
    app.tessera.tokens.rotate_keys().await.unwrap();
    assert_eq!(jwks(&app).await, json!({"keys": []}), "after rotation");
    assert_accepted(
        &me(&app, &v.pair.access).await,
        &v.id,
        "HS256 token after rotation",
    );
    let fresh = app.token_login("a@example.com").await;
    assert_ne!(kid_of(&fresh.access), kid_of(&v.pair.access));
    assert_accepted(&me(&app, &fresh.access).await, &v.id, "new HS256 token");
    // The kid of an HS256 key is no secret: an HMAC keyed with it verifies nothing.
    let kid = kid_of(&v.pair.access);
    let guess = KeyPair::from_hmac_secret(format!("{kid:0<32}").as_bytes()).unwrap();
    let mut claims = v.claims.clone();
    claims["jti"] = json!("guess");
    let token = forge(&guess, &v.header, &claims);
    expect_refused(&app, &token, "unauthorized", "HS256 keyed with its kid").await;
    let discovery = app
        .get("/.well-known/openid-configuration")
        .send()
        .await
        .json();
    assert_eq!(discovery["signing_algorithm"], "HS256");
}

// ---- 4. independent verification ----

#[derive(Debug, Clone, Deserialize)]
struct Seen {
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    sid: String,
}

/// Verifies `token` with jwt-compact using only the JWKS JSON: the `kid` picks the JWK, the
/// JWK becomes jwt-compact's verifying key. Returns the claims and `exp`.
fn verify_elsewhere<A>(alg: A, jwks: &Value, token: &str) -> Result<(Seen, i64), String>
where
    A: JwtAlgorithm,
    A::VerifyingKey: for<'a, 'b> TryFrom<&'a JsonWebKey<'b>, Error = JwkError>,
{
    let untrusted = UntrustedToken::new(token).map_err(|e| e.to_string())?;
    if untrusted.header().token_type.as_deref() != Some("at+jwt") {
        return Err("typ is not at+jwt".into());
    }
    let kid = untrusted.header().key_id.clone().ok_or("no kid")?;
    let entry = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in the JWKS")?;
    let jwk: JsonWebKey<'_> = serde_json::from_value(entry.clone()).map_err(|e| e.to_string())?;
    let key = A::VerifyingKey::try_from(&jwk).map_err(|e| e.to_string())?;
    let verified = alg
        .validator::<Seen>(&key)
        .validate(&untrusted)
        .map_err(|e| e.to_string())?;
    let claims = verified.claims();
    let exp = claims.expiration.ok_or("no exp")?.timestamp();
    Ok((claims.custom.clone(), exp))
}

fn verify_for(alg: Algorithm, jwks: &Value, token: &str) -> Result<(Seen, i64), String> {
    match alg {
        Algorithm::EdDSA => verify_elsewhere(jwt_compact::alg::Ed25519, jwks, token),
        Algorithm::ES256 => verify_elsewhere(jwt_compact::alg::Es256, jwks, token),
        Algorithm::RS256 => verify_elsewhere(jwt_compact::alg::Rsa::rs256(), jwks, token),
        Algorithm::HS256 => unreachable!("HS256 keys are not published"),
    }
}

#[tokio::test]
async fn our_tokens_verify_in_jwt_compact_from_the_served_jwks_alone() {
    for alg in ASYMMETRIC {
        let app = app_with(alg).await;
        app.register("a@example.com").await;
        let res = app
            .post("/v1/token")
            .json(json!({"email": "a@example.com", "password": crate::support::PASSWORD}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let body = res.json();
        let access = body["access_token"].as_str().unwrap().to_owned();
        let served = jwks(&app).await;

        let (seen, exp) =
            verify_for(alg, &served, &access).unwrap_or_else(|e| panic!("{alg}: {e}"));
        let policy = app.tessera.tokens.policy();
        assert_eq!(seen.iss, policy.issuer, "{alg}");
        assert_eq!(seen.aud, policy.audience, "{alg}");
        assert!(!seen.jti.is_empty() && !seen.sid.is_empty(), "{alg}");
        let me_res = me(&app, &access).await;
        assert_accepted(&me_res, &seen.sub, &format!("{alg}: sub is the user"));
        assert_eq!(
            exp - now_unix(&app),
            body["expires_in"].as_i64().unwrap(),
            "{alg}"
        );

        // The other implementation really checks: tampered, or verified against a JWKS
        // without our key, it fails there too.
        let (h, _, s) = split(&access);
        let (_, mut claims) = decode_jwt(&access);
        claims["sub"] = json!("someone-else");
        let tampered = format!("{h}.{}.{s}", b64(claims.to_string()));
        assert!(
            verify_for(alg, &served, &tampered).is_err(),
            "{alg}: tampered"
        );
        assert!(
            verify_for(alg, &json!({"keys": []}), &access).is_err(),
            "{alg}: no keys"
        );

        // After a rotation, a fresh JWKS verifies both the old token and a new one.
        app.tessera.tokens.rotate_keys().await.unwrap();
        let fresh = app.token_login("a@example.com").await;
        assert_ne!(kid_of(&fresh.access), kid_of(&access));
        let rotated = jwks(&app).await;
        for (token, what) in [(&access, "old"), (&fresh.access, "new")] {
            let (seen, _) =
                verify_for(alg, &rotated, token).unwrap_or_else(|e| panic!("{alg} {what}: {e}"));
            assert_eq!(seen.iss, app.tessera.tokens.policy().issuer);
        }
        // The JWKS from before the rotation already published the key that now signs.
        verify_for(alg, &served, &fresh.access)
            .unwrap_or_else(|e| panic!("{alg}: next key published ahead: {e}"));
    }
}

#[tokio::test]
async fn discovery_names_our_issuer_and_jwks() {
    for (issuer, public_url) in [
        (None, None),
        (
            Some("https://id.example.test"),
            Some("https://auth.example.test/"),
        ),
    ] {
        let app = TestApp::builder()
            .config(|c| {
                if let Some(i) = issuer {
                    c.jwt.issuer = i.into();
                    c.jwt.audience = i.into();
                }
            })
            .http(|h| {
                if let Some(u) = public_url {
                    h.public_url = u.into();
                }
            })
            .build()
            .await;
        let v = victim(&app, "a@example.com").await;
        let res = app.get("/.well-known/openid-configuration").send().await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let doc = res.json();
        assert_eq!(doc["issuer"], v.claims["iss"], "{doc}");
        if let Some(i) = issuer {
            assert_eq!(doc["issuer"], i);
        }
        let jwks_uri = doc["jwks_uri"].as_str().unwrap();
        assert!(jwks_uri.ends_with("/.well-known/jwks.json"), "{jwks_uri}");
        assert!(!jwks_uri.contains("//.well-known"), "{jwks_uri}");
        if let Some(u) = public_url {
            assert!(jwks_uri.starts_with(u.trim_end_matches('/')), "{jwks_uri}");
        }
        // The jwks_uri's path is served by this router and lists the token's key.
        let path = &jwks_uri[jwks_uri.find("/.well-known").unwrap()..];
        let res = app.get(path).send().await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(kids(&res.json()).contains(&kid_of(&v.pair.access)));
        let algs = doc["access_token_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.contains(&json!("EdDSA")), "{doc}");
        assert!(!algs.contains(&json!("none")), "{doc}");
    }
}
