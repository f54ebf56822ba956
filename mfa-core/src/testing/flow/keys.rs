//! The start-up key check: an engine opened on a store with another key
//! ring than its data was written with is refused, with a message that
//! says which key; the right ring opens, records its new keys, and finds
//! every secret written before.

use super::harness::{Harness, expect_authenticated, expect_err};
use super::passkeys::{answer, assertion, user_with_passkey};
use crate::crypto::{ExposeSecret, KeyRing};
use crate::error::{KeyMismatch, MfaError, MfaResult};
use crate::model::{AuthMethod, KeyCheckSubject};
use crate::model::{Factor, SealedSecret};
use crate::store::Store;
use crate::{Actor, ClientInfo, KeysChecked, ResealProgress};
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
            verified: vec![KeyCheckSubject::AeadKey(1), KeyCheckSubject::RootSecret(0)],
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
        KeyMismatch::RootSecret { version: 0 }
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
        [KeyCheckSubject::AeadKey(1), KeyCheckSubject::RootSecret(0)]
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
            KeyCheckSubject::RootSecret(0)
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

    after
        .verify_backup_code(&user.user, user.backup_codes[0].expose_secret())
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

/// Every factor with a sealed secret, live or soft-deleted, of the store.
async fn sealed_factors<S: Store>(store: &S) -> Vec<Factor> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_sealed_factors(after, 100)
            .await
            .expect("list_sealed_factors failed");
        after = page.last().map(|f| f.id);
        let done = page.len() < 100;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// The key ids the store's sealed factor secrets are under, sorted, once
/// each.
async fn sealed_under<S: Store>(store: &S) -> Vec<u32> {
    let mut ids: Vec<u32> = sealed_factors(store)
        .await
        .iter()
        .filter_map(|f| f.secret.as_ref())
        .map(|s| KeyRing::sealed_key_id(s).expect("a well-formed blob"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Issue 20: a full key rotation. Ring A wrote TOTP seeds, a passkey's
/// credential record and the seed of a factor since removed; key 2 is
/// added and made current. The rotation runs in batches of two, the
/// first batch alone and the rest resumed after it, each batch's totals
/// seen; afterwards no secret is under key 1, a second run finds nothing
/// to do, key 1 is retired (refused before, and the current key always),
/// and an engine whose ring has only key 2 opens and verifies the TOTP
/// codes and the passkey.
pub async fn a_full_key_rotation_leaves_every_factor_verifying_under_the_new_key<S: Store>(
    store: Arc<S>,
) {
    let before = open(&store, ring_a()).await.expect("ring A opens");
    let holder = user_with_passkey(&before, "rotate-passkey").await;
    let mut others = Vec::new();
    for i in 0..3 {
        others.push(before.user_with_totp(&format!("rotate-{i}")).await);
    }
    let removed = before.user_with_totp("rotate-removed").await;
    before
        .mfa
        .reset_mfa(removed.user.id)
        .await
        .expect("reset_mfa");
    let now = before.now();
    drop(before);
    let sealed = sealed_factors(&*store).await;
    assert!(
        sealed.len() >= 6,
        "TOTP seeds, the passkey, the removed seed"
    );
    assert!(
        sealed
            .iter()
            .any(|f| f.id == removed.factor_id && f.deleted_at.is_some()),
        "the removed factor keeps its sealed seed until purged"
    );
    assert_eq!(sealed_under(&*store).await, [1]);

    let rotating = open(&store, ring(&[(1, 0xa1), (2, 0xa2)], 2, 0xa0))
        .await
        .expect("ring A plus key 2, current, opens");
    rotating.advance(now - rotating.now());
    assert_eq!(
        rotating.mfa.retire_key(2).await.unwrap_err().code(),
        "conflict",
        "the current key is never retired"
    );
    assert_eq!(
        rotating.mfa.retire_key(1).await.unwrap_err().code(),
        "conflict",
        "a key that still seals a factor is not retired"
    );
    let first = rotating
        .mfa
        .reseal_secrets(None, 2)
        .await
        .expect("the first batch");
    assert_eq!((first.scanned, first.resealed), (2, 2), "{first:?}");
    assert!(first.next.is_some(), "more batches follow");
    let mut seen: Vec<ResealProgress> = Vec::new();
    let rest = rotating
        .mfa
        .reseal_all(first.next, 2, |p| seen.push(p.clone()))
        .await
        .expect("the rotation resumes and ends");
    assert!(rest.is_complete() && rest.all_current(), "{rest:?}");
    assert_eq!(
        first.resealed + rest.resealed,
        sealed.len() as u64,
        "every sealed secret was moved: {first:?} {rest:?}"
    );
    assert_eq!(rest.current, 0, "{rest:?}");
    assert!(seen.len() >= 2, "progress after each batch: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].scanned <= w[1].scanned),
        "the totals grow batch by batch (the last page may be empty): {seen:?}"
    );
    assert_eq!(seen.last(), Some(&rest));
    assert_eq!(sealed_under(&*store).await, [2], "no secret under key 1");
    for (old, new) in sealed.iter().zip(sealed_factors(&*store).await) {
        assert_eq!(old.id, new.id);
        assert_eq!(
            (old.deleted_at, old.last_totp_step),
            (new.deleted_at, new.last_totp_step),
            "only the secret changes"
        );
    }
    let again = rotating
        .mfa
        .reseal_all(None, 1000, |_| {})
        .await
        .expect("a second run");
    assert_eq!(
        (again.resealed, again.current),
        (0, sealed.len() as u64),
        "a second run finds every secret current"
    );
    let batches = rotating
        .audit()
        .await
        .into_iter()
        .filter(|e| e.kind == crate::model::AuditKind::SecretsResealed)
        .count();
    assert!(batches >= 3, "one audit event per batch that resealed");
    let checked = rotating.mfa.retire_key(1).await.expect("key 1 retires");
    assert_eq!(checked, sealed.len() as u64);
    assert_eq!(
        rotating.mfa.retire_key(1).await.unwrap_err().code(),
        "not_found",
        "a key retired once has no check left"
    );
    let now = rotating.now();
    drop(rotating);

    let after = open(&store, ring(&[(2, 0xa2)], 2, 0xa0))
        .await
        .expect("a ring without key 1 opens once key 1 is retired");
    after.advance(now - after.now());
    for user in std::iter::once(&holder.totp).chain(&others) {
        let verified = after.sign_in_with_totp(user).await;
        assert!(verified.tokens.amr.contains(&AuthMethod::Otp));
    }
    let mut authenticator = holder.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&after, &holder, &mut authenticator).await;
    answer(&after, &ticket, ceremony, &response)
        .await
        .expect("the resealed passkey record verifies");
}

/// A secret the ring cannot open (altered here) is reported by id and
/// left as it was; the rest of the batch is resealed, and the key it may
/// need is not retired.
pub async fn a_rotation_reports_an_unreadable_secret_and_keeps_its_key<S: Store>(store: Arc<S>) {
    let before = open(&store, ring_a()).await.expect("ring A opens");
    let good = before.user_with_totp("rotate-good").await;
    let bad = before.user_with_totp("rotate-bad").await;
    drop(before);
    let stored = store
        .get_factor(bad.factor_id)
        .await
        .expect("get_factor")
        .and_then(|f| f.secret)
        .expect("a sealed seed");
    let mut altered = stored.as_bytes().to_vec();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let altered = SealedSecret::from_bytes(altered);
    assert!(
        store
            .set_factor_secret(bad.factor_id, &altered)
            .await
            .expect("set_factor_secret")
    );

    let h = open(&store, ring(&[(1, 0xa1), (2, 0xa2)], 2, 0xa0))
        .await
        .expect("ring A plus key 2 opens");
    let report = h
        .mfa
        .reseal_all(None, 10, |_| {})
        .await
        .expect("the rotation runs to the end");
    assert_eq!(report.unreadable, [bad.factor_id], "{report:?}");
    assert!(!report.all_current());
    assert_eq!(
        store
            .get_factor(bad.factor_id)
            .await
            .expect("get_factor")
            .and_then(|f| f.secret),
        Some(altered),
        "an unreadable secret is left as it was"
    );
    let good_secret = store
        .get_factor(good.factor_id)
        .await
        .expect("get_factor")
        .and_then(|f| f.secret)
        .expect("a sealed seed");
    assert_eq!(KeyRing::sealed_key_id(&good_secret).expect("a blob"), 2);
    assert_eq!(
        h.mfa.retire_key(1).await.unwrap_err().code(),
        "conflict",
        "the unreadable secret is under key 1"
    );
    assert_eq!(
        h.mfa.reseal_secrets(None, 0).await.unwrap_err().code(),
        "invalid_input"
    );
    assert_eq!(
        h.mfa.reseal_secrets(None, 1001).await.unwrap_err().code(),
        "invalid_input"
    );
}

/// Ring A with a second root secret, version 1, current.
fn ring_a_rotated() -> KeyRing {
    KeyRing::builder()
        .aead_key(1, &[0xa1; 32])
        .current(1)
        .root_secret(&[0xa0; 32])
        .versioned_root_secret(1, &[0xa2; 32])
        .build()
        .expect("a valid key ring")
}

/// A new root secret (version 1) made current beside the old one voids
/// nothing: backup codes, a trusted device and audit links made under
/// the old root still match, new digests are made under the new root, and
/// a ring without either root is then refused at start-up.
pub async fn a_root_rotation_keeps_backup_codes_trusted_devices_and_audit_links<S: Store>(
    store: Arc<S>,
) {
    let before = open(&store, ring_a()).await.expect("ring A opens");
    let user = before.user_with_totp("root-rotation").await;
    let client = ClientInfo {
        trust_token: before
            .sign_in_remembered(&user, &before.client())
            .await
            .trust_token,
        ..before.client()
    };
    before.mfa.checkpoint_audit().await.expect("checkpoint");
    let now = before.now();
    drop(before);

    let after = open(&store, ring_a_rotated())
        .await
        .expect("ring A with a second root secret opens");
    after.advance(now - after.now());
    assert_eq!(
        stored_subjects(&*store).await,
        [
            KeyCheckSubject::AeadKey(1),
            KeyCheckSubject::RootSecret(0),
            KeyCheckSubject::RootSecret(1)
        ],
        "the new root version's check was added"
    );
    let remembered = expect_authenticated(after.login_from(&user.user, client).await);
    assert!(
        remembered.amr.contains(&AuthMethod::Device),
        "the device trusted under the old root is recognised"
    );
    let backup = user.backup_codes[0].expose_secret();
    let verified = after
        .verify_backup_code(&user.user, backup)
        .await
        .expect("a backup code made under the old root verifies");
    expect_err(
        after.verify_backup_code(&user.user, backup).await,
        "invalid_code",
    );
    // New codes are made under the new root and verify with it.
    let claims = after
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("claims");
    let fresh = after
        .mfa
        .regenerate_backup_codes(Actor::Session(&claims))
        .await
        .expect("regenerate_backup_codes");
    after
        .verify_backup_code(&user.user, fresh.codes[0].expose_secret())
        .await
        .expect("a backup code made under the new root verifies");
    after.mfa.checkpoint_audit().await.expect("checkpoint");
    let report = after.mfa.verify_audit().await.expect("verify_audit");
    assert!(
        report.is_intact(),
        "links under both roots verify: {:?}",
        report.problems
    );
    drop(after);

    assert_eq!(
        expect_mismatch(open(&store, ring_a()).await),
        KeyMismatch::MissingRoot { version: 1 },
        "a ring without the new root is refused"
    );
    let without_old = KeyRing::builder()
        .aead_key(1, &[0xa1; 32])
        .current(1)
        .versioned_root_secret(1, &[0xa2; 32])
        .build()
        .expect("a valid key ring");
    assert_eq!(
        expect_mismatch(open(&store, without_old).await),
        KeyMismatch::MissingRoot { version: 0 },
        "and so is one without the old root"
    );
}
