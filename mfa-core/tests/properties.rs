//! Property tests of the security invariants that must hold for every input,
//! not only the examples of the unit and flow suites. Case counts are kept
//! small so the file runs in a few seconds in a debug build; the fuzz
//! targets in `fuzz/` push the parsers much further.

use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::crypto::{Aad, BackupCode, ExposeSecret, KeyRing};
use mfa_core::model::{FactorId, SealedSecret, UserId};
use mfa_core::store::{RateDecision, RateLimiter};
use mfa_store_memory::MemoryStore;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

fn key_ring() -> KeyRing {
    KeyRing::builder()
        .aead_key(1, &[1u8; 32])
        .aead_key(2, &[2u8; 32])
        .current(2)
        .root_secret(&[3u8; 32])
        .build()
        .expect("key ring")
}

/// Text that often normalises to a backup code: alphabet characters in
/// either case, the look-alikes `I L O`, separators, and now and then
/// anything at all.
fn backup_code_input() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "([0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]|[iIlLoO]|-| ){14,22}",
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// R43: whatever the plaintext, sealing round-trips, and flipping any
    /// single bit of the blob (version, key id, nonce, ciphertext or tag)
    /// makes it fail to open.
    #[test]
    fn r43_seal_round_trips_and_any_bit_flip_fails_to_open(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        flips in proptest::collection::vec(any::<usize>(), 1..8),
    ) {
        let keys = key_ring();
        let aad = Aad::factor(UserId::new(), FactorId::new());
        let sealed = keys.seal(&plaintext, &aad).expect("seal").into_bytes();
        let opened = keys
            .open(&SealedSecret::from_bytes(sealed.clone()), &aad)
            .expect("the sealed blob opens");
        prop_assert_eq!(opened.expose(), plaintext.as_slice());
        for flip in flips {
            let bit = flip % (sealed.len() * 8);
            let mut tampered = sealed.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                keys.open(&SealedSecret::from_bytes(tampered), &aad).is_err(),
                "blob with bit {} flipped opened", bit
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// R18: normalisation is idempotent, so the code a user types and the
    /// code as displayed hash alike: parse(display(parse(x))) == parse(x).
    #[test]
    fn r18_backup_code_normalisation_is_idempotent(input in backup_code_input()) {
        if let Ok(code) = BackupCode::parse(&input) {
            let display = code.display();
            let again = BackupCode::parse(display.expose_secret()).expect("display form parses");
            prop_assert_eq!(again.expose(), code.expose());
            let normal = BackupCode::parse(code.expose()).expect("normal form parses");
            prop_assert_eq!(normal.expose(), code.expose());
        }
    }
}

/// One step of a rate-limiter scenario: wait `gap` seconds, then hit `key`.
#[derive(Debug, Clone)]
struct RateHit {
    gap: i64,
    key: usize,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// R13: over any sequence of hits at non-decreasing times, the memory
    /// store allows at most `limit` hits in any window of `window` seconds per
    /// key, and refuses a hit only when `limit` hits were already allowed in
    /// the window ending at it.
    #[test]
    fn r13_rate_limiter_never_allows_more_than_its_limit_in_any_window(
        limit in 1u32..6,
        window_secs in 1i64..120,
        hits in proptest::collection::vec(
            (0i64..60, 0usize..2).prop_map(|(gap, key)| RateHit { gap, key }),
            1..60,
        ),
    ) {
        let store = MemoryStore::new();
        let window = TimeDelta::seconds(window_secs);
        let mut now = DateTime::<Utc>::from_timestamp(1_893_456_000, 0).expect("time");
        let mut allowed: [Vec<DateTime<Utc>>; 2] = [Vec::new(), Vec::new()];
        let rt = runtime();
        for hit in hits {
            now += TimeDelta::seconds(hit.gap);
            let key = ["login:alice", "login:bob"][hit.key];
            let in_window = allowed[hit.key]
                .iter()
                .filter(|&&at| at > now - window)
                .count();
            let decision = rt
                .block_on(store.hit(key, limit, window, now))
                .expect("hit");
            match decision {
                RateDecision::Allowed { remaining } => {
                    prop_assert!(in_window < limit as usize, "hit allowed over the limit");
                    prop_assert_eq!(remaining as usize, limit as usize - in_window - 1);
                    allowed[hit.key].push(now);
                }
                RateDecision::Limited { retry_after } => {
                    prop_assert!(in_window >= limit as usize, "hit refused under the limit");
                    prop_assert!(retry_after > TimeDelta::zero() && retry_after <= window);
                }
            }
        }
        // The same property stated over every window: none holds more than
        // `limit` allowed hits (checking the windows ending at a hit suffices).
        for times in &allowed {
            for &end in times {
                let count = times.iter().filter(|&&at| at > end - window && at <= end).count();
                prop_assert!(count <= limit as usize);
            }
        }
    }
}

#[cfg(feature = "testing")]
mod totp_interleavings {
    //! R4/R54: whatever the sequence of right, wrong, stale, future and
    //! replayed codes, concurrent bursts and clock moves, each TOTP step is
    //! accepted at most once, and only in increasing order.

    use super::runtime;
    use chrono::TimeDelta;
    use mfa_core::LoginOutcome;
    use mfa_core::crypto::{ExposeSecret, Totp, TotpParams, TotpSecret};
    use mfa_core::model::FactorKind;
    use mfa_core::testing::flow::harness::{Harness, STEP, TestUser};
    use mfa_store_memory::MemoryStore;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[derive(Debug, Clone)]
    enum Op {
        /// Move the clock by this many seconds.
        Advance(i64),
        /// Present the code of the step `offset` steps from the current one.
        Code(i64),
        /// Present a code of no step in the window.
        Wrong,
        /// Present the code of the last accepted step again.
        Replay,
        /// Present the code of `offset` from `n` sign-ins at once.
        Burst(i64, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (1i64..75).prop_map(Op::Advance),
            4 => (-2i64..=2).prop_map(Op::Code),
            1 => Just(Op::Wrong),
            2 => Just(Op::Replay),
            2 => ((-1i64..=1), 2usize..5).prop_map(|(o, n)| Op::Burst(o, n)),
        ]
    }

    async fn ticket(h: &Harness<MemoryStore>, user: &TestUser) -> Option<String> {
        match h.login(user).await {
            Ok(LoginOutcome::MfaRequired { ticket, .. }) => Some(ticket),
            // Sign-in refused (rate limit) or the like: no attempt is made.
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn r54_totp_step_is_accepted_at_most_once_whatever_the_interleaving(
            ops in proptest::collection::vec(op(), 1..16),
        ) {
            let rt = runtime();
            rt.block_on(async {
                let h = Harness::with_policy(Arc::new(MemoryStore::new()), |p| {
                    // Room for every sign-in of the scenario.
                    p.login_rate.per_identifier = 1_000;
                    p.login_rate.per_ip = 1_000;
                    // Keep losing attempts from locking the factor early, so
                    // most scenarios keep presenting codes.
                    p.mfa_lockout.threshold = 50;
                });
                let user = h.user_with_totp("prop").await;
                let seed = TotpSecret::from_base32(user.secret.expose_secret()).expect("seed");
                let totp = Totp::new(seed, TotpParams::default(), "tests", "user").expect("totp");
                let step_secs = STEP.num_seconds();
                // Enrolment spent the step the clock was on.
                let mut last_accepted = Some(h.now().timestamp() / step_secs);
                for op in ops {
                    let current = h.now().timestamp() / step_secs;
                    let (step, attempts) = match op {
                        Op::Advance(secs) => {
                            h.advance(TimeDelta::seconds(secs));
                            continue;
                        }
                        Op::Code(offset) => (Some(current + offset), 1),
                        Op::Wrong => (None, 1),
                        Op::Replay => (last_accepted, 1),
                        Op::Burst(offset, n) => (Some(current + offset), n),
                    };
                    let code = match step {
                        Some(step) => totp
                            .generate_at(step * step_secs)
                            .expect("code")
                            .expose()
                            .to_owned(),
                        None => {
                            // A code that matches no step of the window.
                            let window: Vec<String> = (current - 2..=current + 2)
                                .map(|s| totp.generate_at(s * step_secs).expect("code").expose().to_owned())
                                .collect();
                            (0..)
                                .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
                                .find(|c| !window.contains(c))
                                .expect("a wrong code")
                        }
                    };
                    let mut tickets = Vec::new();
                    for _ in 0..attempts {
                        if let Some(t) = ticket(&h, &user.user).await {
                            tickets.push(t);
                        }
                    }
                    let results = futures::future::join_all(
                        tickets.iter().map(|t| h.verify(t, FactorKind::Totp, &code)),
                    )
                    .await;
                    let accepted = results.iter().filter(|r| r.is_ok()).count();
                    prop_assert!(accepted <= 1, "{} verifies accepted one code", accepted);
                    if accepted == 1 {
                        let step = step.expect("a wrong code was accepted");
                        prop_assert!((current - 1..=current + 1).contains(&step), "code outside the window accepted");
                        prop_assert!(
                            last_accepted.is_none_or(|last| step > last),
                            "step {} accepted after step {:?}", step, last_accepted
                        );
                        last_accepted = Some(step);
                    }
                }
                Ok::<(), TestCaseError>(())
            })?;
        }
    }
}
