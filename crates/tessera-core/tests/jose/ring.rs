//! The key ring: rotation, retirement, the JWKS at each step, and what a store persists.

use std::sync::Arc;

use tessera_core::key::{Algorithm, KeyChange, KeyEntry, KeyPair, KeyResolver, KeyRing, KeyState};
use tessera_core::token::{self, TokenError};
use time::Duration;

use crate::{claims_at, copy, key, now, other_key, verifier};

fn kids(ring: &KeyRing) -> Vec<String> {
    ring.jwks().keys.into_iter().map(|k| k.kid).collect()
}

#[test]
fn rotation_keeps_old_tokens_until_retirement_and_the_jwks_follows() {
    let alg = Algorithm::EdDSA;
    let (a, b) = (copy(key(alg)), copy(other_key(alg)));
    let (a_kid, b_kid) = (a.kid().to_owned(), b.kid().to_owned());
    let start = now();

    // Step 0: A signs, B waits; both published, A first.
    let t0 = KeyRing::initial(a, b, start).unwrap();
    assert_eq!(
        t0.changes,
        vec![
            KeyChange {
                kid: a_kid.clone(),
                from: None,
                to: KeyState::Active,
                at: start
            },
            KeyChange {
                kid: b_kid.clone(),
                from: None,
                to: KeyState::Next,
                at: start
            },
        ]
    );
    let ring0 = t0.ring;
    assert_eq!(kids(&ring0), [a_kid.clone(), b_kid.clone()]);
    assert_eq!(ring0.signing_key().unwrap().kid(), a_kid);
    let old = token::sign(&ring0, &claims_at(start)).unwrap();
    assert!(verifier().verify(&ring0, &old, start).is_ok());

    // Step 1: rotate. B signs, A retires gracefully, C is the new next.
    let c = KeyPair::generate(alg).unwrap();
    let c_kid = c.kid().to_owned();
    let at = start + Duration::minutes(5);
    let t1 = ring0.rotate(c, at).unwrap();
    assert_eq!(
        t1.changes,
        vec![
            KeyChange {
                kid: a_kid.clone(),
                from: Some(KeyState::Active),
                to: KeyState::Retiring,
                at
            },
            KeyChange {
                kid: b_kid.clone(),
                from: Some(KeyState::Next),
                to: KeyState::Active,
                at
            },
            KeyChange {
                kid: c_kid.clone(),
                from: None,
                to: KeyState::Next,
                at
            },
        ]
    );
    let ring1 = t1.ring;
    assert_eq!(ring1.signing_key().unwrap().kid(), b_kid);
    assert_eq!(ring1.next_key().unwrap().kid(), c_kid);
    assert_eq!(ring1.get(&a_kid).unwrap().state, KeyState::Retiring);
    assert_eq!(kids(&ring1), [b_kid.clone(), c_kid.clone(), a_kid.clone()]);
    assert!(
        verifier().verify(&ring1, &old, at).is_ok(),
        "a token from before the rotation"
    );
    let new = token::sign(&ring1, &claims_at(at)).unwrap();
    assert!(verifier().verify(&ring1, &new, at).is_ok());
    // The ring from before the rotation already verifies the new token: B was published.
    assert!(verifier().verify(&ring0, &new, at).is_ok());

    // Step 2: nothing to retire while A's tokens may live; then A retires by itself.
    let lifetime = Duration::minutes(15) + Duration::seconds(30);
    let early = ring1.retire_expired(at + lifetime - Duration::seconds(1), lifetime);
    assert!(early.changes.is_empty());
    let due = at + lifetime;
    let t2 = ring1.retire_expired(due, lifetime);
    assert_eq!(
        t2.changes,
        vec![KeyChange {
            kid: a_kid.clone(),
            from: Some(KeyState::Retiring),
            to: KeyState::Retired,
            at: due
        }]
    );
    let ring2 = t2.ring;
    assert_eq!(kids(&ring2), [b_kid.clone(), c_kid.clone()]);
    assert!(ring2.verification_key(&a_kid).is_none());
    // The old token is expired by now anyway; at an earlier clock it is refused for its key.
    assert_eq!(
        verifier().verify(&ring2, &old, start),
        Err(TokenError::UnknownKey)
    );
    assert!(verifier().verify(&ring2, &new, at).is_ok());
}

#[test]
fn manual_retirement_and_its_refusals() {
    let alg = Algorithm::ES256;
    let ring = KeyRing::initial(copy(key(alg)), copy(other_key(alg)), now())
        .unwrap()
        .ring;
    let active = ring.signing_key().unwrap().kid().to_owned();
    let next = ring.next_key().unwrap().kid().to_owned();
    // Only a retiring key can be retired.
    assert!(ring.retire(&active, now()).is_err());
    assert!(ring.retire(&next, now()).is_err());
    assert!(ring.retire("no-such-kid", now()).is_err());
    let old = token::sign(&ring, &claims_at(now())).unwrap();
    let rotated = ring
        .rotate(KeyPair::generate(alg).unwrap(), now())
        .unwrap()
        .ring;
    let retired = rotated.retire(&active, now()).unwrap();
    assert_eq!(retired.changes.len(), 1);
    assert_eq!(retired.changes[0].from, Some(KeyState::Retiring));
    assert_eq!(retired.changes[0].to, KeyState::Retired);
    assert_eq!(
        verifier().verify(&retired.ring, &old, now()),
        Err(TokenError::UnknownKey)
    );
    assert!(
        retired.ring.retire(&active, now()).is_err(),
        "already retired"
    );
    assert!(
        retired.ring.get(&active).is_some(),
        "kept, in state retired"
    );
}

#[test]
fn rotation_needs_a_published_next_key() {
    let alg = Algorithm::EdDSA;
    let lone = KeyRing::new(vec![KeyEntry {
        key: Arc::new(copy(key(alg))),
        state: KeyState::Active,
        since: now(),
    }])
    .unwrap();
    assert!(lone.rotate(KeyPair::generate(alg).unwrap(), now()).is_err());
    let with_next = lone.add_next(copy(other_key(alg)), now()).unwrap();
    assert_eq!(with_next.changes[0].from, None);
    assert_eq!(with_next.changes[0].to, KeyState::Next);
    assert!(
        with_next
            .ring
            .add_next(KeyPair::generate(alg).unwrap(), now())
            .is_err()
    );
    // A key already in the ring cannot come back as next.
    let rotated = with_next
        .ring
        .rotate(KeyPair::generate(alg).unwrap(), now())
        .unwrap()
        .ring;
    assert!(rotated.rotate(copy(key(alg)), now()).is_err());
    assert!(
        KeyRing::empty()
            .rotate(KeyPair::generate(alg).unwrap(), now())
            .is_err()
    );
    assert!(KeyRing::empty().signing_key().is_none());
    assert!(token::sign(&KeyRing::empty(), &claims_at(now())).is_err());
}

#[test]
fn a_ring_refuses_duplicates_and_two_active_keys() {
    let alg = Algorithm::EdDSA;
    let entry = |k: KeyPair, state| KeyEntry {
        key: Arc::new(k),
        state,
        since: now(),
    };
    assert!(
        KeyRing::new(vec![
            entry(copy(key(alg)), KeyState::Active),
            entry(copy(key(alg)), KeyState::Retiring),
        ])
        .is_err()
    );
    assert!(
        KeyRing::new(vec![
            entry(copy(key(alg)), KeyState::Active),
            entry(copy(other_key(alg)), KeyState::Active),
        ])
        .is_err()
    );
    assert!(
        KeyRing::new(vec![
            entry(copy(key(alg)), KeyState::Next),
            entry(copy(other_key(alg)), KeyState::Next),
        ])
        .is_err()
    );
}

#[test]
fn next_keys_verify_and_retired_ones_do_not() {
    let alg = Algorithm::RS256;
    let ring = KeyRing::initial(copy(key(alg)), copy(other_key(alg)), now())
        .unwrap()
        .ring;
    // A node that already promoted the next key signs with it; this node still calls it next.
    let ahead = token::sign_with(other_key(alg), &claims_at(now())).unwrap();
    assert!(verifier().verify(&ring, &ahead, now()).is_ok());
    for state in [
        KeyState::Next,
        KeyState::Active,
        KeyState::Retiring,
        KeyState::Retired,
    ] {
        let r = KeyRing::new(vec![KeyEntry {
            key: Arc::new(copy(other_key(alg))),
            state,
            since: now(),
        }])
        .unwrap();
        assert_eq!(
            r.verification_key(other_key(alg).kid()).is_some(),
            state != KeyState::Retired
        );
        assert_eq!(r.jwks().keys.len(), usize::from(state != KeyState::Retired));
        // The trait, as the verifier sees it, agrees.
        assert_eq!(
            KeyResolver::verification_key(&r, other_key(alg).kid()).is_some(),
            state.verifies()
        );
    }
}

#[test]
fn hs256_keys_are_never_published() {
    let alg = Algorithm::HS256;
    let ring = KeyRing::initial(copy(key(alg)), copy(other_key(alg)), now())
        .unwrap()
        .ring;
    assert!(ring.jwks().keys.is_empty());
    assert_eq!(
        serde_json::to_string(&ring.jwks()).unwrap(),
        r#"{"keys":[]}"#
    );
    // Mixed with a public key, only that one appears.
    let mixed = ring
        .rotate(copy(key(Algorithm::EdDSA)), now())
        .unwrap()
        .ring
        .rotate(KeyPair::generate(Algorithm::ES256).unwrap(), now())
        .unwrap()
        .ring;
    let published = mixed.jwks();
    assert_eq!(published.keys.len(), 2);
    assert!(published.keys.iter().all(|k| k.alg != Algorithm::HS256));
    let text = serde_json::to_string(&published).unwrap();
    for e in mixed.entries() {
        if e.key.algorithm() == Algorithm::HS256 {
            assert!(!text.contains(e.key.kid()));
        }
    }
}

#[test]
fn key_states_have_stable_names() {
    for (state, name) in [
        (KeyState::Next, "next"),
        (KeyState::Active, "active"),
        (KeyState::Retiring, "retiring"),
        (KeyState::Retired, "retired"),
    ] {
        assert_eq!(state.as_str(), name);
        assert_eq!(name.parse::<KeyState>().unwrap(), state);
        assert_eq!(state.to_string(), name);
    }
    assert!("Active".parse::<KeyState>().is_err());
}
