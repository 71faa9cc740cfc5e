//! Ed25519 signatures from concurrent requests, checked together.
//!
//! Checking n Ed25519 signatures as one batch (one multiscalar multiplication over all of them,
//! weighted by coefficients derived from the whole batch) costs about half as much per
//! signature as checking them one at a time once n reaches 8 to 16: `cargo bench -p
//! tessera-core --bench crypto` (`verify/EdDSA` against `verify-batch/EdDSA/*`). A node under a
//! load of fresh tokens has many checks waiting at once, so it can have that half.
//!
//! How, per node ([`SignatureBatcher`]):
//! - a request whose token needs an Ed25519 check queues (message, signature, key) and waits
//!   for its verdict;
//! - a drainer task, spawned when the queue goes from empty to non-empty (and another, up to
//!   one per runtime worker, whenever a full batch is waiting), yields once so that requests
//!   already runnable can queue theirs, then checks up to `max_batch` queued signatures at a
//!   time until the queue is empty. Queueing and the drainer's last look at the queue happen
//!   under one lock, so no signature is ever left without a drainer;
//! - the batch runs on its own task, never on a request's future: a client that goes away
//!   cancels only its own wait;
//! - a lone signature is checked by aws-lc, as without batching; so is every signature when
//!   the runtime cannot run a drainer (it is shutting down, or there is none).
//!
//! Same verdicts as the single check (aws-lc: `s·B = R + k·A`, canonical `s`):
//! - every signature that passes alone passes in any batch;
//! - a batch fails if any of its signatures would fail alone, except with negligible
//!   probability, unless the failing signature's error `s·B − R − k·A` is a point of small
//!   order. Making such an error takes the private key (or a key with a small-order part), so
//!   only keys that are torsion-free and canonically encoded are batched ([`Ed25519Key`]);
//!   for Tessera's own keys, which only Tessera signs with, the two checks accept the same
//!   tokens. The Wycheproof and RFC 8037 vectors run through both paths in the tests;
//! - signatures whose `s` is not below the group order or whose `R` is not a canonical
//!   encoding are never batched: the single check refuses them, and they cannot make a batch
//!   fail.
//!
//! A failed batch is checked again one signature at a time, so a bad token costs its
//! neighbours one wasted batch. To keep a flood of bad signatures from costing everyone that
//! again and again, the signatures after a failed batch are checked singly for a while
//! ([`COOLDOWN_BATCHES`] batches' worth): under such a flood the node does what it would do
//! without batching, plus one failed batch per cooldown.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::signature::{ED25519, ParsedPublicKey};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::{KeyError, VerificationKey};
use crate::token::TokenError;

/// Largest batch by default: per-signature cost stops falling at about 16 (see the module docs).
pub const DEFAULT_MAX_BATCH: usize = 16;
/// After a batch fails, this many batches' worth of signatures are checked one at a time.
pub const COOLDOWN_BATCHES: usize = 4;

const SIGNATURE_BYTES: usize = 64;
const PUBLIC_KEY_BYTES: usize = 32;

/// An Ed25519 public key, parsed once for each way it can be checked: aws-lc's for single
/// checks, and ed25519-dalek's for batches when the key may be batched.
pub(crate) struct Ed25519Key {
    single: ParsedPublicKey,
    /// `None` for a key that is not torsion-free or not canonically encoded: such a key is
    /// always checked alone (see the module docs).
    batch: Option<ed25519_dalek::VerifyingKey>,
}

impl Ed25519Key {
    /// Parses `x`. A key of small order is refused: it verifies signatures that anyone can
    /// make (aws-lc takes it).
    pub(crate) fn new(x: &[u8]) -> Result<Self, KeyError> {
        let single = ParsedPublicKey::new(&ED25519, x)
            .map_err(|_| KeyError::Invalid("not an Ed25519 public key".into()))?;
        let bytes = <&[u8; PUBLIC_KEY_BYTES]>::try_from(x).ok();
        let decoded = bytes.and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(b).ok());
        if decoded.is_some_and(|key| key.is_weak()) {
            return Err(KeyError::Invalid(
                "an Ed25519 key of small order accepts forged signatures".into(),
            ));
        }
        let batch = decoded
            .filter(|key| canonical_point(key.as_bytes()) && key.to_edwards().is_torsion_free());
        Ok(Self { single, batch })
    }

    /// The single check, exactly as it runs without batching.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.single.verify_sig(message, signature).is_ok()
    }

    /// Whether this key's signatures may go to a batch.
    pub(crate) fn batchable(&self) -> bool {
        self.batch.is_some()
    }
}

/// Whether a compressed Edwards point is canonically encoded: y below p = 2^255 − 19, and no
/// sign bit on an x of 0. A non-canonical encoding of R decompresses to the same point as the
/// canonical one, which the batch equation would accept and the single check (which compares
/// encodings) refuses: Wycheproof's Ed25519 tcId 151 is such an R (y = 1, "x = −0").
fn canonical_point(bytes: &[u8; PUBLIC_KEY_BYTES]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    let sign = bytes[31] & 0x80 != 0;
    // y ≥ p only if bits 8..255 are all ones and the low byte is at least p's (0xed).
    let high_ones = y[1..31].iter().all(|b| *b == 0xff) && y[31] == 0x7f;
    if high_ones && y[0] >= 0xed {
        return false;
    }
    // x = 0 only for y = 1 and y = p − 1, whose one encoding has the sign bit clear.
    let y_is_one = y[0] == 1 && y[1..].iter().all(|b| *b == 0);
    let y_is_p_minus_one = high_ones && y[0] == 0xec;
    !(sign && (y_is_one || y_is_p_minus_one))
}

/// The group order ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Whether a little-endian scalar is below the group order ℓ.
fn canonical_scalar(bytes: &[u8; 32]) -> bool {
    for (b, l) in bytes.iter().rev().zip(GROUP_ORDER.iter().rev()) {
        if b != l {
            return b < l;
        }
    }
    false // equal to ℓ
}

/// A signature waiting for its batch.
struct Job {
    key: Arc<Ed25519Key>,
    message: Box<[u8]>,
    signature: ed25519_dalek::Signature,
    verdict: oneshot::Sender<bool>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Drainer tasks running.
    drainers: usize,
    /// Signatures still to be checked one at a time after a failed batch.
    cooldown: usize,
    stats: BatchStats,
}

/// Counts of what a [`SignatureBatcher`]'s drainers did. Signatures that were never queued
/// (a key or signature that may not be batched, batching off) are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Batches checked (of two signatures or more).
    pub batches: u64,
    /// Signatures in those batches.
    pub batched: u64,
    /// Batches that failed; their signatures were then checked one at a time.
    pub failed_batches: u64,
    /// Signatures a drainer checked one at a time: alone in the queue, during a cooldown, or
    /// again after their batch failed.
    pub alone: u64,
}

impl BatchStats {
    /// What was done between `earlier` and `self` (two readings of one batcher).
    pub fn since(self, earlier: Self) -> Self {
        Self {
            batches: self.batches.saturating_sub(earlier.batches),
            batched: self.batched.saturating_sub(earlier.batched),
            failed_batches: self.failed_batches.saturating_sub(earlier.failed_batches),
            alone: self.alone.saturating_sub(earlier.alone),
        }
    }

    /// Both together.
    pub fn plus(self, other: Self) -> Self {
        Self {
            batches: self.batches + other.batches,
            batched: self.batched + other.batched,
            failed_batches: self.failed_batches + other.failed_batches,
            alone: self.alone + other.alone,
        }
    }

    /// Signatures per batch, on average; `None` before the first batch.
    pub fn mean_batch(&self) -> Option<f64> {
        (self.batches > 0).then(|| self.batched as f64 / self.batches as f64)
    }
}

struct Shared {
    queue: Mutex<Queue>,
    max_batch: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding this lock; a poisoned queue is still a consistent one.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Collects Ed25519 checks from concurrent requests into batches (see the module docs). One
/// per node; cheap to share.
#[derive(Clone)]
pub struct SignatureBatcher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SignatureBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureBatcher")
            .field("max_batch", &self.shared.max_batch)
            .finish_non_exhaustive()
    }
}

impl Default for SignatureBatcher {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BATCH)
    }
}

impl SignatureBatcher {
    /// Batches of at most `max_batch` signatures; 0 or 1 checks every signature alone.
    pub fn new(max_batch: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                max_batch,
            }),
        }
    }

    /// The largest batch this batcher makes.
    pub fn max_batch(&self) -> usize {
        self.shared.max_batch
    }

    /// What this batcher has done so far.
    pub fn stats(&self) -> BatchStats {
        self.shared.lock().stats
    }

    /// [`VerificationKey::verify_detached`], with an Ed25519 signature checked in a batch with
    /// other callers' when the key, the signature and the runtime allow it (alone otherwise).
    /// The verdict is the single check's (see the module docs); other algorithms are checked
    /// alone, at once.
    pub async fn verify(
        &self,
        key: &VerificationKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        let verified = match key.ed25519() {
            Some(ed25519) => self.verify_ed25519(ed25519, message, signature).await,
            None => return key.verify_detached(message, signature),
        };
        if verified {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        }
    }

    async fn verify_ed25519(
        &self,
        key: &Arc<Ed25519Key>,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let Some(signature) = self.batchable(key, signature) else {
            return key.verify(message, signature);
        };
        let Ok(runtime) = Handle::try_current() else {
            return key.verify(message, &signature.to_bytes());
        };
        let (verdict, answer) = oneshot::channel();
        let job = Job {
            key: key.clone(),
            message: message.into(),
            signature,
            verdict,
        };
        let spawn = {
            let mut queue = self.shared.lock();
            queue.jobs.push_back(job);
            let workers = runtime.metrics().num_workers().max(1);
            let wanted = queue.drainers == 0
                || (queue.jobs.len() >= self.shared.max_batch && queue.drainers < workers);
            if wanted {
                queue.drainers += 1;
            }
            wanted
        };
        if spawn {
            let drainer = Drainer {
                shared: self.shared.clone(),
                armed: true,
            };
            // If the runtime is shutting down the task is dropped unrun, and `Drainer`'s drop
            // hands the queue back (see there).
            runtime.spawn(drainer.run());
        }
        match answer.await {
            Ok(verdict) => verdict,
            // The drainer was dropped before it answered (runtime shutdown): check it here.
            Err(_) => key.verify(message, &signature.to_bytes()),
        }
    }

    /// The signature in batchable form, if it may go to a batch (see the module docs).
    fn batchable(&self, key: &Ed25519Key, signature: &[u8]) -> Option<ed25519_dalek::Signature> {
        if self.shared.max_batch < 2 || !key.batchable() {
            return None;
        }
        let bytes = <&[u8; SIGNATURE_BYTES]>::try_from(signature).ok()?;
        let (r, s) = bytes.split_at(32);
        let r: &[u8; 32] = r.try_into().ok()?;
        let s: &[u8; 32] = s.try_into().ok()?;
        (canonical_point(r) && canonical_scalar(s))
            .then(|| ed25519_dalek::Signature::from_bytes(bytes))
    }
}

/// A drainer task's claim on the queue. Leaving normally, it gives up its claim in the same
/// critical section in which it finds the queue empty; dropped any other way (its task
/// cancelled by a runtime shutdown, or a panic), it gives it up in `drop`, and the last
/// drainer to go drops the queued jobs, whose waiters then check their signatures themselves.
struct Drainer {
    shared: Arc<Shared>,
    armed: bool,
}

impl Drainer {
    async fn run(mut self) {
        let max = self.shared.max_batch;
        loop {
            // Let requests that are already runnable queue their signatures first; between
            // batches, let the rest of this worker's tasks run.
            tokio::task::yield_now().await;
            let (jobs, single) = {
                let mut queue = self.shared.lock();
                if queue.jobs.is_empty() {
                    queue.drainers -= 1;
                    self.armed = false;
                    return;
                }
                let n = queue.jobs.len().min(max);
                let jobs: Vec<Job> = queue.jobs.drain(..n).collect();
                let single = queue.cooldown > 0 || jobs.len() == 1;
                queue.cooldown = queue.cooldown.saturating_sub(jobs.len());
                let counted = jobs.len() as u64;
                if single {
                    queue.stats.alone += counted;
                } else {
                    queue.stats.batches += 1;
                    queue.stats.batched += counted;
                }
                (jobs, single)
            };
            if single || !check_batch(&jobs) {
                if !single {
                    let mut queue = self.shared.lock();
                    queue.cooldown = COOLDOWN_BATCHES * max;
                    queue.stats.failed_batches += 1;
                    queue.stats.alone += jobs.len() as u64;
                }
                for job in jobs {
                    let verdict = job.key.verify(&job.message, &job.signature.to_bytes());
                    let _ = job.verdict.send(verdict); // the waiter may have gone
                }
            } else {
                for job in jobs {
                    let _ = job.verdict.send(true);
                }
            }
        }
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let orphans = {
            let mut queue = self.shared.lock();
            queue.drainers -= 1;
            if queue.drainers == 0 {
                std::mem::take(&mut queue.jobs)
            } else {
                VecDeque::new()
            }
        };
        drop(orphans); // outside the lock: dropping a sender wakes its waiter
    }
}

/// Whether every signature in `jobs` verifies, checked as one batch.
fn check_batch(jobs: &[Job]) -> bool {
    let mut messages = Vec::with_capacity(jobs.len());
    let mut signatures = Vec::with_capacity(jobs.len());
    let mut keys = Vec::with_capacity(jobs.len());
    for job in jobs {
        let Some(key) = job.key.batch else {
            return false; // not reached: only batchable keys are queued
        };
        messages.push(&job.message[..]);
        signatures.push(job.signature);
        keys.push(key);
    }
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::Duration;

    use curve25519_dalek::constants::EIGHT_TORSION;

    use super::*;
    use crate::key::{Algorithm, KeyPair};

    /// ℓ written out again, independently of `GROUP_ORDER`, so that a slip in one shows.
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // 2^252 + …
    ];

    fn keypair() -> KeyPair {
        KeyPair::generate(Algorithm::EdDSA).unwrap()
    }

    /// `n` messages signed by `key`; every signature whose index `bad` picks is another
    /// message's.
    fn signed(key: &KeyPair, n: usize, bad: impl Fn(usize) -> bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let message = format!("message {i}").into_bytes();
                let signature = if bad(i) {
                    key.sign_detached(b"some other message").unwrap()
                } else {
                    key.sign_detached(&message).unwrap()
                };
                (message, signature)
            })
            .collect()
    }

    /// Checks every (message, signature) at once, each on its own task; their verdicts, in order.
    async fn verify_all(
        batcher: &SignatureBatcher,
        key: &KeyPair,
        cases: &[(Vec<u8>, Vec<u8>)],
    ) -> Vec<bool> {
        let mut tasks = Vec::new();
        for (message, signature) in cases {
            let (batcher, key) = (batcher.clone(), key.verification_key().clone());
            let (message, signature) = (message.clone(), signature.clone());
            tasks.push(tokio::spawn(async move {
                batcher.verify(&key, &message, &signature).await.is_ok()
            }));
        }
        let mut verdicts = Vec::new();
        for task in tasks {
            verdicts.push(task.await.unwrap());
        }
        verdicts
    }

    fn alone(key: &KeyPair, cases: &[(Vec<u8>, Vec<u8>)]) -> Vec<bool> {
        cases
            .iter()
            .map(|(m, s)| key.verification_key().verify_detached(m, s).is_ok())
            .collect()
    }

    async fn drained(batcher: &SignatureBatcher) {
        for _ in 0..1000 {
            if batcher.shared.lock().drainers == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the drainers never finished");
    }

    #[test]
    fn scalars_and_points_are_canonical_exactly_below_their_bound() {
        let order = ELL;
        assert!(!canonical_scalar(&order), "ℓ itself");
        let mut below = order;
        below[0] -= 1;
        assert!(canonical_scalar(&below), "ℓ − 1");
        let mut above = order;
        above[0] += 1;
        assert!(!canonical_scalar(&above), "ℓ + 1");
        assert!(canonical_scalar(&[0; 32]));
        assert!(!canonical_scalar(&[0xff; 32]));

        // p = 2^255 − 19: ed ff … ff 7f, little-endian; the sign bit (bit 255) is not part of y.
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!canonical_point(&p), "y = p");
        let mut p_minus_1 = p;
        p_minus_1[0] = 0xec;
        assert!(canonical_point(&p_minus_1), "y = p − 1");
        assert!(!canonical_point(&[0xff; 32]), "y = 2^255 − 1, sign bit set");
        let mut signed_p = p;
        signed_p[31] = 0xff;
        assert!(!canonical_point(&signed_p), "y = p with the sign bit set");
        assert!(canonical_point(&[0; 32]));
        // x = 0 (y = 1 or y = p − 1) with the sign bit set: "−0", not an encoding.
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(canonical_point(&one));
        let mut minus_zero = one;
        minus_zero[31] = 0x80;
        assert!(!canonical_point(&minus_zero), "y = 1, sign set");
        assert!(canonical_point(&p_minus_1), "y = p − 1");
        let mut minus_zero = p_minus_1;
        minus_zero[31] = 0xff;
        assert!(!canonical_point(&minus_zero), "y = p − 1, sign set");
        let mut two = [0u8; 32];
        two[0] = 2;
        two[31] = 0x80;
        assert!(canonical_point(&two), "a sign bit elsewhere is fine");
    }

    #[test]
    fn only_torsion_free_canonical_keys_are_batched() {
        let honest = keypair();
        let a = honest.verification_key().ed25519().unwrap();
        assert!(a.batchable());
        let point = a.batch.unwrap().to_edwards();
        // The same key plus a point of order 8: aws-lc takes it, the batch must not.
        let mixed = (point + EIGHT_TORSION[1]).compress();
        let key = Ed25519Key::new(mixed.as_bytes()).unwrap();
        assert!(!key.batchable());
        // Keys of small order are refused outright (anyone can sign for them), in every
        // encoding: the identity's y = 1 has a second one, y = 1 + p.
        for small in EIGHT_TORSION {
            for sign in [0, 0x80] {
                let mut bytes = small.compress().to_bytes();
                bytes[31] |= sign;
                assert!(Ed25519Key::new(&bytes).is_err(), "{bytes:02x?}");
            }
        }
        let mut one_plus_p = [0xffu8; 32];
        one_plus_p[0] = 0xee;
        one_plus_p[31] = 0x7f;
        assert!(Ed25519Key::new(&one_plus_p).is_err());
        // Through a JWK too.
        let x = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            EIGHT_TORSION[2].compress().as_bytes(),
        );
        let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":"{x}"}}"#);
        assert!(crate::key::VerificationKey::from_jwk(&jwk).is_err());
    }

    #[tokio::test]
    async fn signatures_that_arrive_together_are_checked_together() {
        let key = keypair();
        let batcher = SignatureBatcher::new(16);
        let cases = signed(&key, 40, |_| false);
        assert_eq!(verify_all(&batcher, &key, &cases).await, vec![true; 40]);
        // One thread: all 40 are queued before the drainer first runs; 16 + 16 + 8.
        assert_eq!(
            batcher.stats(),
            BatchStats {
                batches: 3,
                batched: 40,
                failed_batches: 0,
                alone: 0
            }
        );
        drained(&batcher).await;
        // A lone signature is checked alone.
        assert_eq!(verify_all(&batcher, &key, &cases[..1]).await, vec![true]);
        assert_eq!(batcher.stats().alone, 1);
    }

    #[tokio::test]
    async fn a_bad_signature_fails_its_batch_and_is_refused_alone() {
        let key = keypair();
        let batcher = SignatureBatcher::new(16);
        let cases = signed(&key, 16, |i| i == 9);
        let verdicts = verify_all(&batcher, &key, &cases).await;
        assert_eq!(verdicts, alone(&key, &cases));
        assert_eq!(verdicts.iter().filter(|v| !**v).count(), 1);
        assert_eq!(
            batcher.stats(),
            BatchStats {
                batches: 1,
                batched: 16,
                failed_batches: 1,
                alone: 16
            }
        );

        // The next COOLDOWN_BATCHES batches' worth are checked alone, then batching resumes.
        drained(&batcher).await;
        let cases = signed(&key, 100, |_| false);
        assert_eq!(verify_all(&batcher, &key, &cases).await, vec![true; 100]);
        let cooldown = (COOLDOWN_BATCHES * 16) as u64;
        assert_eq!(
            batcher.stats(),
            BatchStats {
                batches: 1 + 3, // the failed one, then 16 + 16 + 4
                batched: 16 + 100 - cooldown,
                failed_batches: 1,
                alone: 16 + cooldown
            }
        );
    }

    #[tokio::test]
    async fn what_may_not_be_batched_is_checked_alone_at_once() {
        let key = keypair();
        let batcher = SignatureBatcher::new(16);
        let message = b"message".to_vec();
        let good = key.sign_detached(&message).unwrap();
        // s + ℓ: the same signature with a non-canonical s. Refused, and never queued.
        let mut malleated = good.clone();
        let mut carry = 0u16;
        let order = ELL;
        for i in 0..32 {
            let sum = u16::from(malleated[32 + i]) + u16::from(order[i]) + carry;
            malleated[32 + i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        // R replaced by the non-canonical encoding y + p of a point with a small y (3).
        let mut odd_r = good.clone();
        odd_r[..32].fill(0xff);
        odd_r[0] = 0xed + 3;
        odd_r[31] = 0x7f;
        let cases = vec![
            (message.clone(), malleated),
            (message.clone(), odd_r),
            (message.clone(), good[..63].to_vec()),
            (message.clone(), Vec::new()),
        ];
        assert_eq!(verify_all(&batcher, &key, &cases).await, vec![false; 4]);
        assert_eq!(batcher.stats(), BatchStats::default(), "nothing was queued");

        // Batching off: everything alone, nothing queued.
        let off = SignatureBatcher::new(1);
        let cases = signed(&key, 8, |i| i == 3);
        assert_eq!(verify_all(&off, &key, &cases).await, alone(&key, &cases));
        assert_eq!(off.stats(), BatchStats::default());

        // Other algorithms are checked alone.
        let es = KeyPair::generate(Algorithm::ES256).unwrap();
        let cases = signed(&es, 4, |i| i == 0);
        assert_eq!(verify_all(&batcher, &es, &cases).await, alone(&es, &cases));
        assert_eq!(batcher.stats(), BatchStats::default());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_checks_get_the_single_checks_verdicts() {
        let (k1, k2) = (keypair(), keypair());
        let batcher = SignatureBatcher::default();
        let c1 = signed(&k1, 300, |i| i % 37 == 5);
        let c2 = signed(&k2, 300, |i| i % 53 == 7);
        let (v1, v2) = tokio::join!(
            verify_all(&batcher, &k1, &c1),
            verify_all(&batcher, &k2, &c2)
        );
        assert_eq!(v1, alone(&k1, &c1));
        assert_eq!(v2, alone(&k2, &c2));
        let stats = batcher.stats();
        assert!(stats.batched + stats.alone >= 600, "{stats:?}");
        drained(&batcher).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_that_go_away_leave_the_rest_answered() {
        let key = keypair();
        let batcher = SignatureBatcher::new(8);
        let cases = signed(&key, 64, |i| i == 40);
        let mut tasks = Vec::new();
        for (message, signature) in &cases {
            let (batcher, vk) = (batcher.clone(), key.verification_key().clone());
            let (message, signature) = (message.clone(), signature.clone());
            tasks.push(tokio::spawn(async move {
                batcher.verify(&vk, &message, &signature).await.is_ok()
            }));
        }
        // Every other caller gives up (a client that disconnects).
        for task in tasks.iter().step_by(2) {
            task.abort();
        }
        let expected = alone(&key, &cases);
        for (i, task) in tasks.into_iter().enumerate() {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(verdict)) => assert_eq!(verdict, expected[i], "case {i}"),
                Ok(Err(e)) => assert!(e.is_cancelled() && i % 2 == 0, "case {i}: {e}"),
                Err(_) => panic!("case {i} was never answered"),
            }
        }
        drained(&batcher).await;
        // And the batcher still works.
        let more = signed(&key, 20, |_| false);
        assert_eq!(verify_all(&batcher, &key, &more).await, vec![true; 20]);
    }

    #[test]
    fn a_drainer_that_dies_hands_its_queue_back_to_the_waiters() {
        let key = keypair();
        let batcher = SignatureBatcher::new(16);
        let ed = key.verification_key().ed25519().unwrap().clone();
        let message = b"message".to_vec();
        let signature: [u8; 64] = key.sign_detached(&message).unwrap().try_into().unwrap();
        let (verdict, mut answer) = oneshot::channel();
        {
            let mut queue = batcher.shared.lock();
            queue.jobs.push_back(Job {
                key: ed,
                message: message.into(),
                signature: ed25519_dalek::Signature::from_bytes(&signature),
                verdict,
            });
            queue.drainers = 1;
        }
        // A drainer whose task is dropped unrun (the runtime shutting down).
        drop(Drainer {
            shared: batcher.shared.clone(),
            armed: true,
        });
        assert!(matches!(
            answer.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        let queue = batcher.shared.lock();
        assert_eq!((queue.drainers, queue.jobs.len()), (0, 0));
    }

    #[test]
    fn without_a_runtime_the_check_runs_in_place() {
        let key = keypair();
        let batcher = SignatureBatcher::new(16);
        let message = b"message";
        let signature = key.sign_detached(message).unwrap();
        // A minimal executor: the future must finish on its first poll.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let vk = key.verification_key();
        let mut future = std::pin::pin!(batcher.verify(vk, message, &signature));
        assert_eq!(
            future.as_mut().poll(&mut cx),
            std::task::Poll::Ready(Ok(()))
        );
        assert_eq!(batcher.stats(), BatchStats::default());
    }
}
