//! Completing a sign-in with a second factor ([`crate::Mfa::verify`]):
//! TOTP, backup codes, tickets, and the lockout of the second factor.

use super::harness::{Harness, expect_err};
use crate::crypto::ExposeSecret;
use crate::model::{Aal, AuditKind, AuditOutcome, AuthMethod, FactorKind, NotificationKind};
use crate::store::{AuditFilter, Store};
use chrono::TimeDelta;
use std::sync::Arc;

/// A code that is well formed but (almost surely) not the current one:
/// the current code with its last digit changed.
pub(crate) fn wrong_code(code: &str) -> String {
    let mut digits: Vec<u8> = code.bytes().collect();
    if let Some(last) = digits.last_mut() {
        *last = b'0' + (*last - b'0' + 1) % 10;
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// A fresh TOTP code completes the sign-in: AAL2, `amr = [pwd, otp]`.
pub async fn totp_code_completes_sign_in_at_aal2<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("alice").await;
    let verified = h.sign_in_with_totp(&user).await;
    assert_eq!(verified.tokens.aal, Aal::Aal2);
    assert_eq!(verified.tokens.amr, [AuthMethod::Pwd, AuthMethod::Otp]);
    assert_eq!(verified.backup_codes_remaining, None);
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("the access token works");
    assert_eq!(claims.aal, Aal::Aal2);
    assert_eq!(claims.amr, [AuthMethod::Pwd, AuthMethod::Otp]);
}

/// A wrong TOTP code answers `invalid_code` and counts one failure.
pub async fn wrong_totp_code_is_invalid_code<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("bob").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let code = wrong_code(&h.totp_code(&user.secret));
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &code).await,
        "invalid_code",
    );
    assert_eq!(h.mfa_failures(user.user.id).await, 1);
}

/// R49: malformed codes answer `invalid_code`, never panic, and still count
/// as failed attempts.
pub async fn r49_malformed_codes_are_invalid_code<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.mfa_lockout.threshold = 50);
    let user = h.user_with_totp("cara").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let code = h.totp_code(&user.secret);
    let huge = "1".repeat(1 << 20);
    let malformed = [
        String::new(),
        code[..5].to_owned(),
        format!("{code}7"),
        format!(" {code}"),
        format!("{} {}", &code[..3], &code[3..]),
        "１２３４５６".to_owned(),
        "١٢٣٤٥٦".to_owned(),
        format!("+{}", &code[..5]),
        format!("{}\0", &code[..5]),
        huge,
    ];
    for bad in &malformed {
        for method in [FactorKind::Totp, FactorKind::BackupCodes] {
            expect_err(h.verify(&ticket, method, bad).await, "invalid_code");
        }
    }
    let attempts = u32::try_from(2 * malformed.len()).unwrap_or(u32::MAX);
    assert_eq!(
        h.mfa_failures(user.user.id).await,
        attempts,
        "each counts as a failure"
    );
    h.verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("the ticket still works with the right code");
}

/// R4: a TOTP code accepted once is rejected when replayed with a new
/// ticket in the same step; the replay is audited and the user notified.
pub async fn r4_totp_code_is_rejected_when_replayed<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("dan").await;
    let first = h.mfa_ticket(&user.user).await;
    let second = h.mfa_ticket(&user.user).await;
    h.next_step();
    let code = h.totp_code(&user.secret);
    h.verify(&first, FactorKind::Totp, &code)
        .await
        .expect("first use works");
    expect_err(
        h.verify(&second, FactorKind::Totp, &code).await,
        "invalid_code",
    );
    let replays = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::TotpReplay],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(replays.len(), 1);
    assert_eq!(h.notified(&user.user, NotificationKind::OtpReplay), 1);
}

/// R4: a code of an earlier step than the last accepted one is rejected,
/// even inside the drift window.
pub async fn r4_totp_step_must_increase<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("eve").await;
    let first = h.mfa_ticket(&user.user).await;
    let second = h.mfa_ticket(&user.user).await;
    h.next_step();
    h.next_step();
    // Accept the current step T, then offer T - 1 (inside the window).
    h.verify(&first, FactorKind::Totp, &h.totp_code(&user.secret))
        .await
        .expect("the current code works");
    let older = h.totp_code_at(&user.secret, -1);
    expect_err(
        h.verify(&second, FactorKind::Totp, &older).await,
        "invalid_code",
    );
}

/// R5: the code of the previous step (T − 1) is accepted.
pub async fn r5_totp_code_of_the_previous_step_is_accepted<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("fred").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    h.next_step();
    let previous = h.totp_code_at(&user.secret, -1);
    h.verify(&ticket, FactorKind::Totp, &previous)
        .await
        .expect("a code of T - 1 is accepted");
}

/// R5: the code of the next step (T + 1) is accepted.
pub async fn r5_totp_code_of_the_next_step_is_accepted<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("gail").await;
    let ticket = h.mfa_ticket(&user.user).await;
    let next = h.totp_code_at(&user.secret, 1);
    h.verify(&ticket, FactorKind::Totp, &next)
        .await
        .expect("a code of T + 1 is accepted");
}

/// R5: the code of T − 2 is rejected (and not as a replay: its step was
/// never used).
pub async fn r5_totp_code_two_steps_old_is_rejected<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("hugo").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    h.next_step();
    h.next_step();
    let stale = h.totp_code_at(&user.secret, -2);
    let current = h.totp_code(&user.secret);
    if stale != current
        && stale != h.totp_code_at(&user.secret, -1)
        && stale != h.totp_code_at(&user.secret, 1)
    {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &stale).await,
            "invalid_code",
        );
        assert_eq!(h.notified(&user.user, NotificationKind::OtpReplay), 0);
    }
    h.verify(&ticket, FactorKind::Totp, &current)
        .await
        .expect("the current code still works");
}

/// A ticket past its lifetime answers `challenge_expired`.
pub async fn expired_ticket_is_challenge_expired<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("iris").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.advance(h.mfa.policy().session.ticket_ttl);
    let code = h.totp_code(&user.secret);
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &code).await,
        "challenge_expired",
    );
}

/// A ticket spent by a successful verification answers `invalid_ticket`.
pub async fn ticket_cannot_be_used_twice<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("jack").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    h.verify(&ticket, FactorKind::Totp, &h.totp_code(&user.secret))
        .await
        .expect("first use works");
    h.next_step();
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &h.totp_code(&user.secret))
            .await,
        "invalid_ticket",
    );
}

/// Garbage and unknown tickets answer `invalid_ticket`.
pub async fn unknown_ticket_is_invalid_ticket<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("kay").await;
    let code = h.totp_code_at(&user.secret, 1);
    let unknown = crate::crypto::OpaqueToken::generate();
    for ticket in ["", "garbage", &"x".repeat(10_000), unknown.expose()] {
        expect_err(
            h.verify(ticket, FactorKind::Totp, &code).await,
            "invalid_ticket",
        );
    }
}

/// A method the user has not enrolled answers `method_unavailable`.
pub async fn method_not_enrolled_is_method_unavailable<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("leo").await;
    let ticket = h.mfa_ticket(&user.user).await;
    for method in [FactorKind::Email, FactorKind::Sms] {
        expect_err(
            h.verify(&ticket, method, "123456").await,
            "method_unavailable",
        );
    }
}

/// R17: a backup code completes a sign-in once; used again it answers
/// `invalid_code`.
pub async fn r17_backup_code_is_rejected_when_reused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("max").await;
    let code = user.backup_codes[0].expose_secret().to_owned();
    let ticket = h.mfa_ticket(&user.user).await;
    let verified = h
        .verify(&ticket, FactorKind::BackupCodes, &code)
        .await
        .expect("a backup code works once");
    assert_eq!(verified.tokens.amr, [AuthMethod::Pwd, AuthMethod::Backup]);
    assert_eq!(verified.tokens.aal, Aal::Aal2);
    let again = h.mfa_ticket(&user.user).await;
    expect_err(
        h.verify(&again, FactorKind::BackupCodes, &code).await,
        "invalid_code",
    );
    let other = user.backup_codes[1].expose_secret().to_owned();
    h.verify(&again, FactorKind::BackupCodes, &other)
        .await
        .expect("unused codes still work");
}

/// Backup codes are accepted without dashes and in lower case.
pub async fn backup_code_is_accepted_in_any_case_without_dashes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("nia").await;
    let typed = user.backup_codes[0]
        .expose_secret()
        .replace('-', "")
        .to_lowercase();
    let ticket = h.mfa_ticket(&user.user).await;
    h.verify(&ticket, FactorKind::BackupCodes, &typed)
        .await
        .expect("a normalised backup code works");
}

/// R19: using a backup code lowers the remaining count, is audited and
/// notifies the user.
pub async fn backup_code_use_is_counted_audited_and_notified<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("otto").await;
    let ticket = h.mfa_ticket(&user.user).await;
    let verified = h
        .verify(
            &ticket,
            FactorKind::BackupCodes,
            user.backup_codes[3].expose_secret(),
        )
        .await
        .expect("a backup code works");
    assert_eq!(verified.backup_codes_remaining, Some(9));
    assert_eq!(
        h.mfa.backup_codes_remaining(user.user.id).await.ok(),
        Some(9)
    );
    let used = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::BackupCodeUsed],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(used.len(), 1);
    assert_eq!(h.notified(&user.user, NotificationKind::BackupCodeUsed), 1);
    assert_eq!(h.notified(&user.user, NotificationKind::BackupCodesLow), 0);
}

/// R48: the low-backup-codes alert fires once the remaining count reaches
/// the threshold, not before.
pub async fn r48_low_backup_codes_alert_fires_at_the_threshold<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| {
        p.backup_codes.count = 4;
        p.backup_codes.low_threshold = 2;
    });
    let user = h.user_with_totp("pia").await;
    assert_eq!(user.backup_codes.len(), 4);
    let ticket = h.mfa_ticket(&user.user).await;
    h.verify(
        &ticket,
        FactorKind::BackupCodes,
        user.backup_codes[0].expose_secret(),
    )
    .await
    .expect("first backup code");
    assert_eq!(h.notified(&user.user, NotificationKind::BackupCodesLow), 0);
    let ticket = h.mfa_ticket(&user.user).await;
    let verified = h
        .verify(
            &ticket,
            FactorKind::BackupCodes,
            user.backup_codes[1].expose_secret(),
        )
        .await
        .expect("second backup code");
    assert_eq!(verified.backup_codes_remaining, Some(2));
    assert_eq!(h.notified(&user.user, NotificationKind::BackupCodesLow), 1);
}

/// When every backup code is used, backup codes are no longer offered.
pub async fn used_up_backup_codes_are_no_longer_offered<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| {
        p.backup_codes.count = 1;
        p.backup_codes.low_threshold = 0;
    });
    let user = h.user_with_totp("quin").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.verify(
        &ticket,
        FactorKind::BackupCodes,
        user.backup_codes[0].expose_secret(),
    )
    .await
    .expect("the only backup code");
    match h.login(&user.user).await.expect("login failed") {
        crate::LoginOutcome::MfaRequired { methods, .. } => {
            assert_eq!(methods, [FactorKind::Totp]);
        }
        other => panic!("expected MfaRequired, got {other:?}"),
    }
}

/// R20: `mfa_lockout.threshold` wrong codes lock the second factor for
/// `base_lock` (15 minutes): the next attempt answers `account_locked` with
/// that `retry_after`.
pub async fn r20_wrong_codes_lock_the_second_factor<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("rosa").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let rule = h.mfa.policy().mfa_lockout;
    let wrong = wrong_code(&h.totp_code(&user.secret));
    for _ in 0..rule.threshold {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong).await,
            "invalid_code",
        );
    }
    let locked = expect_err(
        h.verify(&ticket, FactorKind::Totp, &wrong).await,
        "account_locked",
    );
    let wait = locked.retry_after().expect("a timed lock");
    assert_eq!(wait.as_secs(), 15 * 60);
    assert_eq!(h.mfa_failures(user.user.id).await, rule.threshold);
}

/// R25: while locked, the right code is refused exactly like a wrong one.
pub async fn r25_right_code_is_refused_while_locked<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("sam").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let right = h.totp_code(&user.secret);
    let wrong = wrong_code(&right);
    for _ in 0..h.mfa.policy().mfa_lockout.threshold {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong).await,
            "invalid_code",
        );
    }
    let a = expect_err(
        h.verify(&ticket, FactorKind::Totp, &wrong).await,
        "account_locked",
    );
    let b = expect_err(
        h.verify(&ticket, FactorKind::Totp, &right).await,
        "account_locked",
    );
    let c = expect_err(
        h.verify(
            &ticket,
            FactorKind::BackupCodes,
            user.backup_codes[0].expose_secret(),
        )
        .await,
        "account_locked",
    );
    assert_eq!(a.retry_after(), b.retry_after());
    assert_eq!(b.retry_after(), c.retry_after());
    assert_eq!(
        h.mfa.backup_codes_remaining(user.user.id).await.ok(),
        Some(10),
        "no code was spent"
    );
}

/// R21: failures on different tickets and methods add up on one counter.
pub async fn r21_failures_across_tickets_and_methods_add_up<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("tara").await;
    h.next_step();
    let wrong = wrong_code(&h.totp_code(&user.secret));
    let a = h.mfa_ticket(&user.user).await;
    let b = h.mfa_ticket(&user.user).await;
    let c = h.mfa_ticket(&user.user).await;
    expect_err(h.verify(&a, FactorKind::Totp, &wrong).await, "invalid_code");
    expect_err(h.verify(&a, FactorKind::Totp, &wrong).await, "invalid_code");
    expect_err(
        h.verify(&b, FactorKind::BackupCodes, "AAAA-BBBB-CCCC-DDDD")
            .await,
        "invalid_code",
    );
    expect_err(
        h.verify(&b, FactorKind::BackupCodes, "not a code").await,
        "invalid_code",
    );
    expect_err(h.verify(&c, FactorKind::Totp, &wrong).await, "invalid_code");
    assert_eq!(h.mfa_failures(user.user.id).await, 5);
    let fresh = h.mfa_ticket(&user.user).await;
    expect_err(
        h.verify(&fresh, FactorKind::Totp, &h.totp_code(&user.secret))
            .await,
        "account_locked",
    );
}

/// R23: a success resets the failure counter.
pub async fn r23_success_resets_the_failure_counter<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("uma").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let right = h.totp_code(&user.secret);
    for _ in 0..h.mfa.policy().mfa_lockout.threshold - 1 {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong_code(&right))
                .await,
            "invalid_code",
        );
    }
    h.verify(&ticket, FactorKind::Totp, &right)
        .await
        .expect("the right code works");
    assert_eq!(h.mfa_failures(user.user.id).await, 0);
}

/// Locks `user` out of the second factor with wrong TOTP codes, up to the
/// refusal that says so.
pub(super) async fn lock<S: Store>(h: &Harness<S>, user: &super::harness::TotpUser) {
    let ticket = h.mfa_ticket(&user.user).await;
    let wrong = wrong_code(&h.totp_code_at(&user.secret, 1));
    for _ in 0..h.mfa.policy().mfa_lockout.threshold {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong).await,
            "invalid_code",
        );
    }
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &wrong).await,
        "account_locked",
    );
}

/// R22: the lock ends after `base_lock`; then the right code signs in.
pub async fn r22_lock_ends_when_its_time_is_up<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("vic").await;
    lock(&h, &user).await;
    h.advance(h.mfa.policy().mfa_lockout.base_lock - TimeDelta::seconds(1));
    let ticket = h.mfa_ticket(&user.user).await;
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &h.totp_code(&user.secret))
            .await,
        "account_locked",
    );
    h.advance(TimeDelta::seconds(1));
    h.next_step();
    h.verify(&ticket, FactorKind::Totp, &h.totp_code(&user.secret))
        .await
        .expect("the lock has ended");
}

/// R22: the next lock lasts twice as long.
pub async fn r22_next_lock_lasts_twice_as_long<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("wes").await;
    lock(&h, &user).await;
    let rule = h.mfa.policy().mfa_lockout;
    h.advance(rule.base_lock);
    let ticket = h.mfa_ticket(&user.user).await;
    let wrong = wrong_code(&h.totp_code_at(&user.secret, 1));
    for _ in 0..rule.threshold {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong).await,
            "invalid_code",
        );
    }
    let locked = expect_err(
        h.verify(&ticket, FactorKind::Totp, &wrong).await,
        "account_locked",
    );
    let doubled = u64::try_from((rule.base_lock * 2).num_seconds()).unwrap_or(0);
    assert_eq!(locked.retry_after().map(|d| d.as_secs()), Some(doubled));
}

/// R25: the lock is audited and announced once, when it starts; attempts
/// while locked are audited as denied.
pub async fn r25_lock_is_audited_and_notified_once<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("xena").await;
    lock(&h, &user).await;
    let ticket = h.mfa_ticket(&user.user).await;
    expect_err(
        h.verify(&ticket, FactorKind::Totp, "123456").await,
        "account_locked",
    );
    let events = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::AccountLocked],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(h.notified(&user.user, NotificationKind::AccountLocked), 1);
    let denied = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::MfaVerification],
            outcome: Some(AuditOutcome::Denied),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(denied.len(), 2, "both refused attempts are audited");
}

/// An administrator's `unlock` lifts the lock at once.
pub async fn unlock_lifts_the_lock<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("yann").await;
    lock(&h, &user).await;
    h.mfa.unlock(user.user.id).await.expect("unlock failed");
    assert_eq!(h.mfa_failures(user.user.id).await, 0);
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    h.verify(&ticket, FactorKind::Totp, &h.totp_code(&user.secret))
        .await
        .expect("unlocked");
    let unlocked = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::AccountUnlocked],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(unlocked.len(), 1);
}

/// `ticket_info` describes an open ticket (kind, methods, expiry) without
/// using it: the same ticket still completes the sign-in afterwards.
pub async fn ticket_info_describes_a_ticket_without_using_it<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("sven").await;
    let ticket = h.mfa_ticket(&user.user).await;
    let info = h
        .mfa
        .ticket_info(&ticket)
        .await
        .expect("ticket_info failed");
    assert_eq!(info.kind, crate::model::TicketKind::Mfa);
    assert!(info.methods.contains(&FactorKind::Totp));
    assert_eq!(info.expires_at, h.now() + TimeDelta::minutes(10));
    h.next_step();
    let code = h.totp_code(&user.secret);
    h.verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("the described ticket still verifies");
    expect_err(h.mfa.ticket_info(&ticket).await, "invalid_ticket");
    expect_err(h.mfa.ticket_info("garbage").await, "invalid_ticket");
}

/// A step that fails half-way for a reason other than a refusal leaves
/// nothing behind: an engine whose key ring cannot open the stored TOTP
/// seed (a different `KeyRing` on the same store) answers `internal`, and
/// the failure it had counted before evaluating, like the ticket, is rolled
/// back with its unit: no failure, no audit event, the ticket still open.
pub async fn a_step_cut_short_by_an_internal_error_leaves_nothing<S: Store>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    let user = h.user_with_totp("alice").await;
    let other_keys = Harness::new(store);
    let ticket = super::harness::expect_mfa_ticket(other_keys.login(&user.user).await);
    let events_before = other_keys.audit().await.len();
    let code = other_keys.totp_code(&user.secret);
    expect_err(
        other_keys.verify(&ticket, FactorKind::Totp, &code).await,
        "internal",
    );
    assert_eq!(
        other_keys.mfa_failures(user.user.id).await,
        0,
        "the failure counted before the seed was opened is rolled back"
    );
    assert_eq!(
        other_keys.audit().await.len(),
        events_before,
        "no audit event of the rolled-back step"
    );
    other_keys
        .mfa
        .ticket_info(&ticket)
        .await
        .expect("the ticket is still open");
}
