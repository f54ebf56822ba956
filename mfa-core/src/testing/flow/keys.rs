//! The start-up key check: an engine opened on a store with another key
//! ring than its data was written with is refused, with a message that
//! says which key; the right ring opens, records its new keys, and finds
//! every secret written before.

use super::harness::{Harness, expect_authenticated};
use super::passkeys::{answer, assertion, user_with_passkey};
use crate::crypto::{ExposeSecret, KeyRing};
use crate::error::{KeyMismatch, MfaError, MfaResult};
use crate::model::{AuthMethod, FactorKind, KeyCheckSubject};
use crate::store::Store;
use crate::{ClientInfo, KeysChecked};
use std::sync::Arc;

/// A key ring whose AEAD key `id` is 32 bytes of `byte` (each of `keys`),
/// with `current` current and a root secret of 32 bytes of `root`.
fn ring(keys: &[(u32, u8)], current: u32, root: u8) -> KeyRing {
    let mut builder = KeyRing::builder().current(current).root_secret(&[root; 32]);
    for (id, byte) in keys {
        builder = builder.aead_key(*id, &[*byte; 32]);
    }
    builder.build().expect("a valid key ring")
}

/// Ring A: key 1, root secret A.
fn ring_a() -> KeyRing {
    ring(&[(1, 0xa1)], 1, 0xa0)
}

/// Ring B: another key 1 and another root secret.
fn ring_b() -> KeyRing {
    ring(&[(1, 0xb1)], 1, 0xb0)
}

async fn open<S: Store>(store: &Arc<S>, keys: KeyRing) -> MfaResult<Harness<S>> {
    Harness::open_with_keys(Arc::clone(store), keys).await
}

#[track_caller]
fn expect_mismatch<T>(result: MfaResult<T>) -> KeyMismatch {
    match result {
        Err(MfaError::KeyMismatch(mismatch)) => mismatch,
        Err(e) => panic!("expected a key mismatch, got {e:?}"),
        Ok(_) => panic!("expected a key mismatch, the engine opened"),
    }
}

async fn stored_subjects<S: Store>(store: &S) -> Vec<KeyCheckSubject> {
    let mut subjects: Vec<_> = store
        .key_checks()
        .await
        .expect("key_checks failed")
        .into_iter()
        .map(|c| c.subject)
        .collect();
    subjects.sort();
    subjects
}

/// Opened with ring A, a store refuses ring B (naming key 1 and what to
/// do) and opens with ring A again. `build()` does not compare keys;
/// `check_keys` on such an engine does.
pub async fn open_refuses_a_key_ring_that_does_not_match_the_store<S: Store>(store: Arc<S>) {
    open(&store, ring_a())
        .await
        .expect("ring A opens a new store");
    let refused = open(&store, ring_b()).await;
    let message = refused
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        expect_mismatch(refused),
        KeyMismatch::WrongKey { key_id: 1 }
    );
    assert!(
        message.starts_with("the key ring does not match this store: key 1 does not open"),
        "{message}"
    );
    assert!(message.contains("MFA_AEAD_KEYS"), "{message}");

    let again = open(&store, ring_a())
        .await
        .expect("ring A opens its store again");
    assert_eq!(
        again.mfa.check_keys().await.expect("check_keys"),
        KeysChecked {
            verified: vec![KeyCheckSubject::AeadKey(1), KeyCheckSubject::RootSecret],
            added: Vec::new(),
        },
        "a matching ring writes nothing"
    );

    let built = Harness::new(Arc::clone(&store));
    expect_mismatch(built.mfa.check_keys().await);
}

/// The same AEAD key with another root secret is refused: no stored code
/// digest would match.
pub async fn open_refuses_another_root_secret<S: Store>(store: Arc<S>) {
    open(&store, ring_a())
        .await
        .expect("ring A opens a new store");
    let other_root = ring(&[(1, 0xa1)], 1, 0xc0);
    assert_eq!(
        expect_mismatch(open(&store, other_root).await),
        KeyMismatch::RootSecret
    );
}

/// A new key is recorded at the first start with it; a ring that then
/// lacks an old key is refused until that key's check is deleted (a key
/// retired on purpose).
pub async fn open_records_a_new_key_and_refuses_a_ring_without_an_old_one<S: Store>(store: Arc<S>) {
    let first = open(&store, ring_a()).await.expect("ring A opens");
    drop(first);
    assert_eq!(
        stored_subjects(&*store).await,
        [KeyCheckSubject::AeadKey(1), KeyCheckSubject::RootSecret]
    );
    let rotated = || ring(&[(1, 0xa1), (2, 0xa2)], 2, 0xa0);
    let h = open(&store, rotated())
        .await
        .expect("ring A plus key 2 opens");
    assert_eq!(
        stored_subjects(&*store).await,
        [
            KeyCheckSubject::AeadKey(1),
            KeyCheckSubject::AeadKey(2),
            KeyCheckSubject::RootSecret
        ],
        "a check for key 2 was added"
    );
    assert_eq!(
        h.mfa.check_keys().await.expect("check_keys").added,
        [],
        "key 2 is recorded once"
    );
    let another_key_2 = ring(&[(1, 0xa1), (2, 0xee)], 2, 0xa0);
    assert_eq!(
        expect_mismatch(open(&store, another_key_2).await),
        KeyMismatch::WrongKey { key_id: 2 }
    );

    let retired = || ring(&[(2, 0xa2)], 2, 0xa0);
    let missing = open(&store, retired()).await;
    let message = missing
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        expect_mismatch(missing),
        KeyMismatch::MissingKey { key_id: 1 }
    );
    assert!(message.contains("retired on purpose"), "{message}");
    assert!(
        store
            .remove_key_check(KeyCheckSubject::AeadKey(1))
            .await
            .expect("remove_key_check"),
        "the retired key's check is deleted"
    );
    open(&store, retired())
        .await
        .expect("without key 1's check, the ring without key 1 opens");
}

/// What was written before a restart works after it with the same keys:
/// the sealed TOTP seed opens, the sealed passkey record verifies an
/// assertion, a backup code matches its digest, and the remembered device
/// is recognised.
pub async fn secrets_written_before_a_restart_work_after_it_with_the_same_keys<S: Store>(
    store: Arc<S>,
) {
    let before = open(&store, ring_a()).await.expect("ring A opens");
    let holder = user_with_passkey(&before, "restart").await;
    let user = holder.totp.clone();
    let client = ClientInfo {
        trust_token: before
            .sign_in_remembered(&user, &before.client())
            .await
            .trust_token,
        ..before.client()
    };
    let now = before.now();
    drop(before);

    let after = open(&store, ring_a())
        .await
        .expect("the same keys open the store after a restart");
    after.advance(now - after.now());
    let verified = after.sign_in_with_totp(&user).await;
    assert!(verified.tokens.amr.contains(&AuthMethod::Otp));

    let mut authenticator = holder.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&after, &holder, &mut authenticator).await;
    let verified = answer(&after, &ticket, ceremony, &response)
        .await
        .expect("a passkey registered before the restart verifies after it");
    assert!(verified.tokens.amr.contains(&AuthMethod::User));

    let ticket = after.mfa_ticket(&user.user).await;
    after
        .verify(
            &ticket,
            FactorKind::BackupCodes,
            user.backup_codes[0].expose_secret(),
        )
        .await
        .expect("a backup code issued before the restart verifies after it");

    let remembered = expect_authenticated(after.login_from(&user.user, client).await);
    assert!(
        remembered.amr.contains(&AuthMethod::Device),
        "the device remembered before the restart is recognised after it"
    );
}

/// Eight engines open a new store at once, half with ring A and half with
/// ring B: the four of one ring open, the four of the other are refused,
/// and the store's checks are all the winners'.
pub async fn concurrent_opens_on_a_new_store_agree_on_one_key_ring<S: Store>(store: Arc<S>) {
    let opened = crate::testing::race_all(8, |i| {
        let store = Arc::clone(&store);
        async move {
            let keys = if i % 2 == 0 { ring_a() } else { ring_b() };
            Harness::open_with_keys(store, keys).await.map(drop)
        }
    })
    .await;
    let a_opened = opened.iter().step_by(2).filter(|r| r.is_ok()).count();
    let b_opened = opened
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|r| r.is_ok())
        .count();
    assert!(
        (a_opened, b_opened) == (4, 0) || (a_opened, b_opened) == (0, 4),
        "every engine of one ring opens and none of the other: A {a_opened}, B {b_opened}"
    );
    for refused in opened.into_iter().filter_map(Result::err) {
        assert!(
            matches!(refused, MfaError::KeyMismatch(_)),
            "a loser is refused for its keys, got {refused:?}"
        );
    }
    let winner = if a_opened == 4 { ring_a() } else { ring_b() };
    open(&store, winner)
        .await
        .expect("the store's checks are all the winning ring's");
}
