//! Sessions and refresh-token families: listing, authentication,
//! revocation, rotation, reuse detection and purging.

use super::fixtures::{
    self, Era, at, create_refresh_token, create_session, create_user, era, next_refresh_token,
    next_refresh_token_with_grace, t0,
};
use crate::model::{
    Aal, AuthMethod, DeviceId, RefreshStatus, RefreshToken, RevocationReason, Session, SessionId,
    SessionStatus, TokenHash, UserId,
};
use crate::store::*;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;

async fn load<S: Store>(store: &S, id: SessionId) -> Session {
    store
        .get_session(id)
        .await
        .expect("get_session failed")
        .expect("the session should exist")
}

async fn listed<S: Store>(store: &S, user: UserId, now: DateTime<Utc>) -> Vec<SessionId> {
    store
        .list_sessions(user, now)
        .await
        .expect("list_sessions failed")
        .into_iter()
        .map(|s| s.id)
        .collect()
}

async fn rotate<S: Store>(store: &S, presented: &TokenHash, now: DateTime<Utc>) -> RotateOutcome {
    store
        .rotate_refresh_token(presented, &next_refresh_token(now), now)
        .await
        .expect("rotate_refresh_token failed")
}

/// Rotates `token` and returns its child, failing unless the outcome is
/// `Rotated`.
async fn rotate_ok<S: Store>(store: &S, token: &TokenHash, now: DateTime<Utc>) -> RefreshToken {
    match rotate(store, token, now).await {
        RotateOutcome::Rotated { token, .. } => token,
        other => panic!("rotating an active token must give Rotated, got {other:?}"),
    }
}

/// A session with a live first refresh token.
async fn session_with_token<S: Store>(
    store: &S,
    device: Option<DeviceId>,
) -> (Session, RefreshToken) {
    let user = create_user(store, t0()).await;
    let session = create_session(store, user.id, device, t0()).await;
    let token = create_refresh_token(store, &session, t0()).await;
    (session, token)
}

/// A created session reads back unchanged; an unknown id finds nothing.
pub async fn session_round_trips<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let session = create_session(&*store, user.id, Some(DeviceId::new()), t0()).await;
    assert_eq!(
        load(&*store, session.id).await,
        session,
        "get_session must return the stored session"
    );
    let pending = fixtures::pending_session(user.id, at(5));
    store
        .create_session(&pending)
        .await
        .expect("create_session failed");
    assert_eq!(
        load(&*store, pending.id).await,
        pending,
        "a pending session reads back unchanged"
    );
    let unknown = store
        .get_session(SessionId::new())
        .await
        .expect("get_session failed");
    assert_eq!(unknown, None, "get_session of an unknown id must be None");
}

/// `list_sessions` returns the user's sessions that are neither revoked nor
/// expired at `now`, newest first.
pub async fn list_sessions_excludes_revoked_and_expired_newest_first<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let oldest = create_session(&*store, user.id, None, at(10)).await;
    let newest = create_session(&*store, user.id, None, at(30)).await;
    let middle = fixtures::pending_session(user.id, at(20));
    store
        .create_session(&middle)
        .await
        .expect("create_session failed");
    let revoked = create_session(&*store, user.id, None, at(40)).await;
    let mut expired = fixtures::session(user.id, None, at(50));
    expired.expires_at = at(100);
    store
        .create_session(&expired)
        .await
        .expect("create_session failed");
    create_session(&*store, other.id, None, at(60)).await;
    assert!(
        store
            .revoke_session(revoked.id, RevocationReason::Logout, at(70))
            .await
            .expect("revoke_session failed"),
        "revoke_session must return true"
    );
    assert_eq!(
        listed(&*store, user.id, at(99)).await,
        vec![expired.id, newest.id, middle.id, oldest.id],
        "before its expiry a session is listed, newest first"
    );
    assert_eq!(
        listed(&*store, user.id, at(100)).await,
        vec![newest.id, middle.id, oldest.id],
        "from expires_at on a session is not listed; revoked ones never"
    );
}

/// `authenticate_session` makes a pending session `Active` with the given
/// assurance.
pub async fn authenticate_session_sets_assurance<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let pending = fixtures::pending_session(user.id, t0());
    store
        .create_session(&pending)
        .await
        .expect("create_session failed");
    let amr = [AuthMethod::Pwd, AuthMethod::Otp];
    assert!(
        store
            .authenticate_session(pending.id, Aal::Aal2, &amr, Some(at(30)), at(30))
            .await
            .expect("authenticate_session failed"),
        "authenticating a pending session must return true"
    );
    let s = load(&*store, pending.id).await;
    assert_eq!(
        s.status,
        SessionStatus::Active,
        "the session must be active"
    );
    assert_eq!(s.aal, Aal::Aal2, "aal must be stored");
    assert_eq!(s.amr, amr.to_vec(), "amr must be stored in order");
    assert_eq!(s.mfa_at, Some(at(30)), "mfa_at must be stored");
    let step_up = [AuthMethod::Pwd, AuthMethod::Otp, AuthMethod::Backup];
    assert!(
        store
            .authenticate_session(pending.id, Aal::Aal2, &step_up, Some(at(60)), at(60))
            .await
            .expect("authenticate_session failed"),
        "an active session can be authenticated again (step-up)"
    );
    let s = load(&*store, pending.id).await;
    assert_eq!(
        (s.amr, s.mfa_at),
        (step_up.to_vec(), Some(at(60))),
        "a step-up replaces amr and mfa_at"
    );
}

/// Revoked, expired and unknown sessions are not authenticated.
pub async fn authenticate_session_refuses_revoked_and_expired<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let revoked = fixtures::pending_session(user.id, t0());
    store
        .create_session(&revoked)
        .await
        .expect("create_session failed");
    assert!(
        store
            .revoke_session(revoked.id, RevocationReason::Revoked, at(1))
            .await
            .expect("revoke_session failed"),
        "revoke_session must return true"
    );
    let expired = fixtures::pending_session(user.id, t0());
    store
        .create_session(&expired)
        .await
        .expect("create_session failed");
    let amr = [AuthMethod::Pwd, AuthMethod::Otp];
    for (label, id, now) in [
        ("revoked", revoked.id, at(2)),
        ("expired", expired.id, expired.expires_at),
        ("unknown", SessionId::new(), at(2)),
    ] {
        let ok = store
            .authenticate_session(id, Aal::Aal2, &amr, Some(now), now)
            .await
            .expect("authenticate_session failed");
        assert!(!ok, "authenticating a {label} session must return false");
    }
    assert_eq!(
        load(&*store, revoked.id).await.status,
        SessionStatus::Revoked,
        "a revoked session stays revoked"
    );
    assert_eq!(
        load(&*store, expired.id).await.aal,
        Aal::Aal1,
        "an expired session is not raised"
    );
}

/// R35/R40: `revoke_session` ends a session once, recording when and why,
/// and its refresh tokens then fail as `Revoked`.
pub async fn revoked_session_refresh_tokens_are_revoked<S: Store>(store: Arc<S>) {
    let (session, token) = session_with_token(&*store, None).await;
    assert!(
        store
            .revoke_session(session.id, RevocationReason::Logout, at(10))
            .await
            .expect("revoke_session failed"),
        "revoking a live session must return true"
    );
    assert!(
        !store
            .revoke_session(session.id, RevocationReason::Revoked, at(20))
            .await
            .expect("revoke_session failed"),
        "revoking a revoked session must return false"
    );
    let s = load(&*store, session.id).await;
    assert_eq!(s.status, SessionStatus::Revoked, "status must be Revoked");
    assert_eq!(
        s.revoked_at,
        Some(at(10)),
        "revoked_at is the first revocation"
    );
    assert_eq!(
        s.revocation_reason,
        Some(RevocationReason::Logout),
        "the first reason is kept"
    );
    assert_eq!(
        rotate(&*store, &token.token_hash, at(30)).await,
        RotateOutcome::Revoked {
            user_id: session.user_id
        },
        "a token of a revoked session must be Revoked"
    );
}

/// `revoke_user_sessions` revokes every session of the user but `except`,
/// with their tokens, and counts them.
pub async fn revoke_user_sessions_spares_the_excepted_session<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let a = create_session(&*store, user.id, None, t0()).await;
    let b = create_session(&*store, user.id, None, at(1)).await;
    let kept = create_session(&*store, user.id, None, at(2)).await;
    let theirs = create_session(&*store, other.id, None, at(3)).await;
    let ta = create_refresh_token(&*store, &a, t0()).await;
    let tk = create_refresh_token(&*store, &kept, t0()).await;
    let tt = create_refresh_token(&*store, &theirs, t0()).await;
    let n = store
        .revoke_user_sessions(
            user.id,
            Some(kept.id),
            RevocationReason::PasswordChanged,
            at(10),
        )
        .await
        .expect("revoke_user_sessions failed");
    assert_eq!(
        n, 2,
        "revoke_user_sessions must count the sessions it revoked"
    );
    for id in [a.id, b.id] {
        let s = load(&*store, id).await;
        assert_eq!(
            s.status,
            SessionStatus::Revoked,
            "every other session of the user is revoked"
        );
        assert_eq!(
            s.revocation_reason,
            Some(RevocationReason::PasswordChanged),
            "with the reason given"
        );
    }
    assert_eq!(
        rotate(&*store, &ta.token_hash, at(11)).await,
        RotateOutcome::Revoked { user_id: user.id },
        "tokens of revoked sessions must be Revoked"
    );
    rotate_ok(&*store, &tk.token_hash, at(11)).await;
    rotate_ok(&*store, &tt.token_hash, at(11)).await;
    assert_eq!(
        listed(&*store, user.id, at(12)).await,
        vec![kept.id],
        "only the excepted session is left"
    );
    let all = store
        .revoke_user_sessions(user.id, None, RevocationReason::AccountDisabled, at(20))
        .await
        .expect("revoke_user_sessions failed");
    assert_eq!(all, 1, "without `except` the last session goes too");
    assert!(
        listed(&*store, user.id, at(21)).await.is_empty(),
        "no session is left"
    );
}

/// `revoke_device_sessions` revokes the sessions on one device, with their
/// tokens, and counts them.
pub async fn revoke_device_sessions_revokes_only_that_device<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let (device, elsewhere) = (DeviceId::new(), DeviceId::new());
    let a = create_session(&*store, user.id, Some(device), t0()).await;
    let b = create_session(&*store, user.id, Some(device), at(1)).await;
    let c = create_session(&*store, user.id, Some(elsewhere), at(2)).await;
    let d = create_session(&*store, user.id, None, at(3)).await;
    let tb = create_refresh_token(&*store, &b, t0()).await;
    let n = store
        .revoke_device_sessions(device, RevocationReason::DeviceCompromised, at(10))
        .await
        .expect("revoke_device_sessions failed");
    assert_eq!(
        n, 2,
        "revoke_device_sessions must count the device's sessions"
    );
    assert_eq!(
        listed(&*store, user.id, at(11)).await,
        vec![d.id, c.id],
        "sessions elsewhere are kept"
    );
    assert_eq!(
        load(&*store, a.id).await.revocation_reason,
        Some(RevocationReason::DeviceCompromised),
        "reason stored"
    );
    assert_eq!(
        rotate(&*store, &tb.token_hash, at(11)).await,
        RotateOutcome::Revoked { user_id: user.id },
        "tokens of the device's sessions must be Revoked"
    );
}

/// R38: rotation stores a child in the same family, session and user, with
/// the presented token as parent, the new digest and expiry, and touches
/// the session.
pub async fn refresh_rotation_issues_a_child_in_the_same_family<S: Store>(store: Arc<S>) {
    let (session, parent) = session_with_token(&*store, None).await;
    let now = at(600);
    let new = next_refresh_token(now);
    let outcome = store
        .rotate_refresh_token(&parent.token_hash, &new, now)
        .await
        .expect("rotate_refresh_token failed");
    let RotateOutcome::Rotated {
        token,
        session: touched,
    } = outcome
    else {
        panic!("rotating an active token must give Rotated, got {outcome:?}");
    };
    let expected = RefreshToken {
        id: new.id,
        family_id: parent.family_id,
        session_id: session.id,
        user_id: session.user_id,
        parent_id: Some(parent.id),
        token_hash: new.token_hash,
        status: RefreshStatus::Active,
        created_at: now,
        expires_at: new.expires_at,
        used_at: None,
    };
    assert_eq!(
        token, expected,
        "the child must inherit family, session and user, with the presented token as parent"
    );
    assert_eq!(touched.id, session.id, "Rotated carries the session");
    assert_eq!(touched.last_seen_at, now, "rotation touches the session");
    assert_eq!(
        load(&*store, session.id).await.last_seen_at,
        now,
        "the touch is stored"
    );
    let grandchild = rotate_ok(&*store, &new.token_hash, at(700)).await;
    assert_eq!(
        grandchild.parent_id,
        Some(new.id),
        "the child can be rotated in turn"
    );
}

/// R40: a child's expiry is capped at the session's absolute expiry.
pub async fn rotated_token_expiry_is_capped_at_session_expiry<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let mut session = fixtures::session(user.id, None, t0());
    session.expires_at = at(30 * 60);
    store
        .create_session(&session)
        .await
        .expect("create_session failed");
    // The first token outlives the session: only rotation caps expiries.
    let parent = create_refresh_token(&*store, &session, t0()).await;
    let now = at(10 * 60);
    let new = next_refresh_token(now);
    assert!(
        new.expires_at > session.expires_at,
        "the requested expiry lies past the session's"
    );
    let outcome = store
        .rotate_refresh_token(&parent.token_hash, &new, now)
        .await
        .expect("rotate_refresh_token failed");
    let RotateOutcome::Rotated { token, .. } = outcome else {
        panic!("rotating an active token must give Rotated, got {outcome:?}");
    };
    assert_eq!(
        token.expires_at, session.expires_at,
        "the child's expiry must be capped at the session's"
    );
}

/// R38/R39: presenting a rotated token again is `Reused`: the family and its
/// session are revoked, and the child stops working.
pub async fn refresh_reuse_revokes_family_and_session<S: Store>(store: Arc<S>) {
    let (session, first) = session_with_token(&*store, None).await;
    let second = rotate_ok(&*store, &first.token_hash, at(10)).await;
    let third = rotate_ok(&*store, &second.token_hash, at(20)).await;
    assert_eq!(
        rotate(&*store, &first.token_hash, at(30)).await,
        RotateOutcome::Reused {
            family_id: first.family_id,
            session_id: session.id,
            user_id: session.user_id,
        },
        "presenting a rotated token again must be Reused"
    );
    assert_eq!(
        rotate(&*store, &third.token_hash, at(40)).await,
        RotateOutcome::Revoked {
            user_id: session.user_id
        },
        "after reuse the active child must be Revoked"
    );
    assert_eq!(
        rotate(&*store, &second.token_hash, at(50)).await,
        RotateOutcome::Revoked {
            user_id: session.user_id
        },
        "after reuse every token of the family is Revoked"
    );
    let s = load(&*store, session.id).await;
    assert_eq!(
        s.status,
        SessionStatus::Revoked,
        "reuse must revoke the session"
    );
    assert_eq!(s.revoked_at, Some(at(30)), "revoked at the reuse");
    assert_eq!(
        s.revocation_reason,
        Some(RevocationReason::TokenReuse),
        "the reason is token reuse"
    );
}

/// Rotates `token` with reuse grace until `until` and returns its child.
async fn rotate_with_grace<S: Store>(
    store: &S,
    token: &TokenHash,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> RefreshToken {
    let new = next_refresh_token_with_grace(now, until);
    match store
        .rotate_refresh_token(token, &new, now)
        .await
        .expect("rotate_refresh_token failed")
    {
        RotateOutcome::Rotated { token, .. } => token,
        other => panic!("rotating an active token must give Rotated, got {other:?}"),
    }
}

/// Presents `token` again at `now`, with a grace of 10 seconds of its own.
async fn retry<S: Store>(store: &S, token: &TokenHash, now: DateTime<Utc>) -> RotateOutcome {
    let new = next_refresh_token_with_grace(now, now + TimeDelta::seconds(10));
    store
        .rotate_refresh_token(token, &new, now)
        .await
        .expect("rotate_refresh_token failed")
}

/// Reuse grace: a rotated token presented again before the grace its
/// rotation kept ends, while its child is the family's active token, is
/// `Retried` with that child, the session and the kept sealed child, and
/// changes nothing: a second retry is `Retried` too, and the child still
/// rotates.
pub async fn refresh_retry_within_grace_returns_the_kept_child<S: Store>(store: Arc<S>) {
    let (session, first) = session_with_token(&*store, None).await;
    let second = rotate_with_grace(&*store, &first.token_hash, at(10), at(20)).await;
    for now in [at(11), at(19)] {
        let outcome = retry(&*store, &first.token_hash, now).await;
        let RotateOutcome::Retried {
            token,
            session: current,
            sealed_successor,
        } = outcome
        else {
            panic!("a retry within grace must be Retried, got {outcome:?}");
        };
        assert_eq!(token, second, "the retry gets the child, unchanged");
        assert_eq!(current.id, session.id, "Retried carries the session");
        assert!(current.is_active(now), "the session is active");
        assert_eq!(
            sealed_successor,
            fixtures::kept_successor(second.id),
            "the sealed child the rotation kept"
        );
    }
    assert_eq!(
        load(&*store, session.id).await.status,
        SessionStatus::Active
    );
    let third = rotate_ok(&*store, &second.token_hash, at(21)).await;
    assert_eq!(third.parent_id, Some(second.id), "the child still rotates");
}

/// Reuse grace ends at its deadline: a rotated token presented then is
/// `Reused`, and its family and session are revoked.
pub async fn refresh_retry_at_the_grace_deadline_is_reuse<S: Store>(store: Arc<S>) {
    let (session, first) = session_with_token(&*store, None).await;
    let second = rotate_with_grace(&*store, &first.token_hash, at(10), at(20)).await;
    assert_eq!(
        retry(&*store, &first.token_hash, at(20)).await,
        RotateOutcome::Reused {
            family_id: first.family_id,
            session_id: session.id,
            user_id: session.user_id,
        },
        "a retry at the deadline must be Reused"
    );
    assert_eq!(
        retry(&*store, &second.token_hash, at(21)).await,
        RotateOutcome::Revoked {
            user_id: session.user_id
        },
        "after reuse the child must be Revoked"
    );
    assert_eq!(
        load(&*store, session.id).await.status,
        SessionStatus::Revoked
    );
}

/// Reuse grace covers only the parent of the family's active token: once
/// the child was rotated in turn, presenting its parent again is `Reused`
/// even before the parent's grace ends.
pub async fn refresh_retry_after_the_child_rotated_is_reuse<S: Store>(store: Arc<S>) {
    let (session, first) = session_with_token(&*store, None).await;
    let second = rotate_with_grace(&*store, &first.token_hash, at(10), at(100)).await;
    let third = rotate_with_grace(&*store, &second.token_hash, at(20), at(100)).await;
    assert_eq!(
        retry(&*store, &first.token_hash, at(30)).await,
        RotateOutcome::Reused {
            family_id: first.family_id,
            session_id: session.id,
            user_id: session.user_id,
        },
        "a retry of a token two rotations back must be Reused"
    );
    assert_eq!(
        retry(&*store, &third.token_hash, at(31)).await,
        RotateOutcome::Revoked {
            user_id: session.user_id
        },
        "after reuse the active token must be Revoked"
    );
}

/// A call without grace (grace turned off) ignores the grace an earlier
/// rotation kept: presenting the rotated token again is `Reused`.
pub async fn refresh_retry_without_grace_is_reuse<S: Store>(store: Arc<S>) {
    let (session, first) = session_with_token(&*store, None).await;
    rotate_with_grace(&*store, &first.token_hash, at(10), at(100)).await;
    assert_eq!(
        rotate(&*store, &first.token_hash, at(11)).await,
        RotateOutcome::Reused {
            family_id: first.family_id,
            session_id: session.id,
            user_id: session.user_id,
        },
        "without grace a rotated token must be Reused"
    );
}

/// An expired token is `Expired` and is not rotated.
pub async fn expired_refresh_token_is_not_rotated<S: Store>(store: Arc<S>) {
    let (session, token) = session_with_token(&*store, None).await;
    let late = token.expires_at + TimeDelta::seconds(1);
    assert_eq!(
        rotate(&*store, &token.token_hash, late).await,
        RotateOutcome::Expired {
            user_id: session.user_id
        },
        "an expired token must be Expired"
    );
    let s = load(&*store, session.id).await;
    assert_eq!(
        s.status,
        SessionStatus::Active,
        "an expired token does not revoke the session"
    );
}

/// A token of an expired or not yet authenticated session is `Expired`.
pub async fn refresh_needs_an_active_unexpired_session<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let mut short = fixtures::session(user.id, None, t0());
    short.expires_at = at(60);
    store
        .create_session(&short)
        .await
        .expect("create_session failed");
    // Inserted as is: only rotation caps a token's expiry.
    let token = create_refresh_token(&*store, &short, t0()).await;
    assert_eq!(
        rotate(&*store, &token.token_hash, at(61)).await,
        RotateOutcome::Expired { user_id: user.id },
        "a token of an expired session must be Expired"
    );
    let pending = fixtures::pending_session(user.id, t0());
    store
        .create_session(&pending)
        .await
        .expect("create_session failed");
    let token = create_refresh_token(&*store, &pending, t0()).await;
    assert_eq!(
        rotate(&*store, &token.token_hash, at(10)).await,
        RotateOutcome::Expired { user_id: user.id },
        "a token of a session that is not active must be Expired"
    );
}

/// An unknown digest is `Unknown`.
pub async fn unknown_refresh_token_is_unknown<S: Store>(store: Arc<S>) {
    session_with_token(&*store, None).await;
    assert_eq!(
        rotate(&*store, &fixtures::token_hash(), at(10)).await,
        RotateOutcome::Unknown,
        "a digest no token has must be Unknown"
    );
}

/// R40: `revoke_refresh_family` revokes every token of the family, counting
/// those not yet revoked; its tokens are then `Revoked`.
pub async fn revoked_refresh_family_tokens_are_revoked<S: Store>(store: Arc<S>) {
    let (session, first) = session_with_token(&*store, None).await;
    let second = rotate_ok(&*store, &first.token_hash, at(10)).await;
    let other_family = create_refresh_token(&*store, &session, at(11)).await;
    let n = store
        .revoke_refresh_family(first.family_id, at(20))
        .await
        .expect("revoke_refresh_family failed");
    assert_eq!(
        n, 2,
        "both the rotated and the active token were not yet revoked"
    );
    for (label, token) in [("active", &second), ("rotated", &first)] {
        assert_eq!(
            rotate(&*store, &token.token_hash, at(30)).await,
            RotateOutcome::Revoked {
                user_id: session.user_id
            },
            "the {label} token of a revoked family must be Revoked"
        );
    }
    let again = store
        .revoke_refresh_family(first.family_id, at(40))
        .await
        .expect("revoke_refresh_family failed");
    assert_eq!(again, 0, "nothing is left to revoke");
    rotate_ok(&*store, &other_family.token_hash, at(50)).await;
}

/// `purge_sessions` deletes sessions that expired or were revoked before the
/// cutoff, with their tokens, and nothing else.
pub async fn purge_sessions_removes_only_sessions_ended_before_cutoff<S: Store>(store: Arc<S>) {
    let base = era(Era::Sessions);
    let cutoff = base + TimeDelta::hours(1);
    let user = create_user(&*store, base).await;
    let mut expired = fixtures::session(user.id, None, base);
    expired.expires_at = base + TimeDelta::minutes(30);
    store
        .create_session(&expired)
        .await
        .expect("create_session failed");
    let expired_token = create_refresh_token(&*store, &expired, base).await;
    let revoked = create_session(&*store, user.id, None, base).await;
    let revoked_late = create_session(&*store, user.id, None, base).await;
    let live = create_session(&*store, user.id, None, base).await;
    let live_token = create_refresh_token(&*store, &live, base).await;
    store
        .revoke_session(
            revoked.id,
            RevocationReason::Logout,
            base + TimeDelta::minutes(1),
        )
        .await
        .expect("revoke_session failed");
    store
        .revoke_session(
            revoked_late.id,
            RevocationReason::Logout,
            cutoff + TimeDelta::minutes(1),
        )
        .await
        .expect("revoke_session failed");
    let purged = store
        .purge_sessions(cutoff)
        .await
        .expect("purge_sessions failed");
    assert_eq!(
        purged, 2,
        "the expired and the early-revoked session must be purged"
    );
    for (label, id) in [("expired", expired.id), ("revoked", revoked.id)] {
        assert_eq!(
            store.get_session(id).await.expect("get_session failed"),
            None,
            "the {label} session must be gone"
        );
    }
    for (label, id) in [
        ("revoked after the cutoff", revoked_late.id),
        ("live", live.id),
    ] {
        assert!(
            store
                .get_session(id)
                .await
                .expect("get_session failed")
                .is_some(),
            "a session {label} must be kept"
        );
    }
    assert_eq!(
        rotate(&*store, &expired_token.token_hash, cutoff).await,
        RotateOutcome::Unknown,
        "the tokens of a purged session must be gone"
    );
    rotate_ok(
        &*store,
        &live_token.token_hash,
        base + TimeDelta::minutes(50),
    )
    .await;
}
