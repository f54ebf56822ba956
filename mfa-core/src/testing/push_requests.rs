//! Push approval requests: stored whole, answered once while pending and
//! unexpired, completed once when approved, counted, purged; and the push
//! factor, its preference and its enrolment ceremony.

use super::fixtures::{self, Era, at, create_push_request, create_user, era, push_request, t0};
use crate::model::{
    CeremonyPurpose, ChallengeId, FactorId, FactorKind, MfaSettings, PushContext, PushRequest,
    PushRequestId, PushResolution, PushStatus, UserId,
};
use crate::store::*;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;

async fn load<S: Store>(store: &S, id: PushRequestId) -> PushRequest {
    store
        .get_push_request(id)
        .await
        .expect("get_push_request failed")
        .expect("the push request should exist")
}

async fn insert<S: Store>(store: &S, request: &PushRequest) {
    store
        .create_push_request(request)
        .await
        .expect("create_push_request failed");
}

/// An answer of `status` signed by `factor` at `at`, user verified.
fn answer(status: PushStatus, factor: FactorId, at: DateTime<Utc>) -> PushResolution {
    PushResolution {
        status,
        factor_id: factor,
        user_verified: true,
        at,
    }
}

async fn resolve<S: Store>(store: &S, id: PushRequestId, resolution: &PushResolution) -> bool {
    store
        .resolve_push_request(id, resolution)
        .await
        .expect("resolve_push_request failed")
}

async fn consume<S: Store>(store: &S, id: PushRequestId, now: DateTime<Utc>) -> bool {
    store
        .consume_push_request(id, now)
        .await
        .expect("consume_push_request failed")
}

async fn pending<S: Store>(store: &S, user: UserId, now: DateTime<Utc>) -> u32 {
    store
        .count_pending_push_requests(user, now)
        .await
        .expect("count_pending_push_requests failed")
}

/// A request already in `status`, as if answered at `at(5)` by `factor`.
fn answered(user: UserId, factor: FactorId, status: PushStatus) -> PushRequest {
    PushRequest {
        status,
        factor_id: Some(factor),
        user_verified: true,
        answered_at: Some(at(5)),
        ..push_request(user, t0())
    }
}

/// Every field of a request reads back unchanged: the choices, the
/// context with and without its optional fields, each status, the
/// answering factor, `user_verified`, and times at microsecond precision.
/// An unknown id finds nothing.
pub async fn push_request_round_trips<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let micros = |secs: i64, us: i64| at(secs) + TimeDelta::microseconds(us);

    let full = PushRequest {
        number: 255,
        choices: [0, 128, 255],
        context: PushContext {
            ip: Some("2001:db8::1".into()),
            country: Some("CH".into()),
            device: Some("Safari on macOS \u{2014} \"work\"".into()),
            risk_score: 100,
            step_up: true,
        },
        status: PushStatus::Approved,
        factor_id: Some(factor.id),
        user_verified: true,
        created_at: micros(0, 123_456),
        expires_at: micros(120, 654_321),
        answered_at: Some(micros(7, 1)),
        consumed_at: Some(micros(8, 999_999)),
        ..push_request(user.id, t0())
    };
    insert(&*store, &full).await;
    assert_eq!(
        load(&*store, full.id).await,
        full,
        "a request with every field set must read back unchanged"
    );

    let bare = PushRequest {
        number: 0,
        choices: [0, 0, 0],
        context: PushContext::default(),
        ..push_request(user.id, micros(1, 7))
    };
    insert(&*store, &bare).await;
    assert_eq!(
        load(&*store, bare.id).await,
        bare,
        "a pending request with an empty context must read back unchanged"
    );

    for status in PushStatus::ALL {
        let request = PushRequest {
            status,
            ..push_request(user.id, t0())
        };
        insert(&*store, &request).await;
        assert_eq!(
            load(&*store, request.id).await.status,
            status,
            "status {} must read back unchanged",
            status.as_str()
        );
    }

    let unknown = store
        .get_push_request(PushRequestId::random())
        .await
        .expect("get_push_request failed");
    assert_eq!(unknown, None, "an unknown id must find nothing");
}

/// The first answer to a pending request wins and is recorded whole
/// (status, factor, `user_verified`, `answered_at`); a second answer is
/// refused and changes nothing; an answer to an unknown id is refused.
pub async fn push_request_is_resolved_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let other = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let request = create_push_request(&*store, user.id, t0()).await;

    let first = PushResolution {
        user_verified: true,
        ..answer(PushStatus::Denied, phone.id, at(10))
    };
    assert!(
        resolve(&*store, request.id, &first).await,
        "the first answer to a pending request must win"
    );
    let expected = PushRequest {
        status: PushStatus::Denied,
        factor_id: Some(phone.id),
        user_verified: true,
        answered_at: Some(at(10)),
        ..request.clone()
    };
    assert_eq!(
        load(&*store, request.id).await,
        expected,
        "the answer must be recorded, and nothing else changed"
    );

    let second = PushResolution {
        user_verified: false,
        ..answer(PushStatus::Approved, other.id, at(11))
    };
    assert!(
        !resolve(&*store, request.id, &second).await,
        "a second answer must be refused"
    );
    assert_eq!(
        load(&*store, request.id).await,
        expected,
        "a refused answer must change nothing"
    );
    assert!(
        !resolve(&*store, PushRequestId::random(), &first).await,
        "an answer to an unknown request must be refused"
    );
}

/// An answer at or after `expires_at` is refused and leaves the request
/// pending; one a microsecond before is accepted.
pub async fn expired_push_request_is_not_resolved<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let late = create_push_request(&*store, user.id, t0()).await;
    for when in [late.expires_at, late.expires_at + TimeDelta::seconds(1)] {
        assert!(
            !resolve(
                &*store,
                late.id,
                &answer(PushStatus::Approved, phone.id, when)
            )
            .await,
            "an answer at or after the expiry must be refused"
        );
    }
    assert_eq!(
        load(&*store, late.id).await,
        late,
        "a refused late answer must change nothing"
    );
    let in_time = create_push_request(&*store, user.id, t0()).await;
    let just_before = in_time.expires_at - TimeDelta::microseconds(1);
    assert!(
        resolve(
            &*store,
            in_time.id,
            &answer(PushStatus::Approved, phone.id, just_before)
        )
        .await,
        "a request can be answered until its expiry"
    );
    assert_eq!(
        load(&*store, in_time.id).await.answered_at,
        Some(just_before)
    );
}

/// A request stored in any answered status takes no answer.
pub async fn answered_push_request_is_not_resolved_again<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    for status in PushStatus::ALL
        .into_iter()
        .filter(|s| *s != PushStatus::Pending)
    {
        let request = answered(user.id, phone.id, status);
        insert(&*store, &request).await;
        for again in [PushStatus::Approved, PushStatus::Denied] {
            assert!(
                !resolve(&*store, request.id, &answer(again, phone.id, at(10))).await,
                "a request {} must not be answered again",
                status.as_str()
            );
        }
        assert_eq!(
            load(&*store, request.id).await,
            request,
            "a refused answer must leave a {} request as it was",
            status.as_str()
        );
    }
}

/// An approved request completes its ticket once: the first consumption
/// wins and records `consumed_at`, a second is refused; an unknown id is
/// refused.
pub async fn approved_push_request_is_consumed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let request = create_push_request(&*store, user.id, t0()).await;
    assert!(
        resolve(
            &*store,
            request.id,
            &answer(PushStatus::Approved, phone.id, at(10))
        )
        .await
    );
    assert!(
        consume(&*store, request.id, at(11)).await,
        "an approved request must be consumable"
    );
    let stored = load(&*store, request.id).await;
    assert_eq!(stored.consumed_at, Some(at(11)), "consumed_at is recorded");
    assert_eq!(stored.status, PushStatus::Approved, "it stays approved");
    assert!(
        !consume(&*store, request.id, at(12)).await,
        "an approval must complete its ticket once"
    );
    assert_eq!(
        load(&*store, request.id).await.consumed_at,
        Some(at(11)),
        "a refused consumption must change nothing"
    );
    assert!(
        !consume(&*store, PushRequestId::random(), at(12)).await,
        "an unknown request must not be consumed"
    );
}

/// Pending, denied, wrong-number and not-me requests are never consumed,
/// and stay as they were.
pub async fn only_approved_push_requests_are_consumed<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let waiting = create_push_request(&*store, user.id, t0()).await;
    let mut refused = vec![waiting];
    for status in [
        PushStatus::Denied,
        PushStatus::WrongNumber,
        PushStatus::NotMe,
    ] {
        let request = answered(user.id, phone.id, status);
        insert(&*store, &request).await;
        refused.push(request);
    }
    for request in &refused {
        assert!(
            !consume(&*store, request.id, at(10)).await,
            "a {} request must not be consumed",
            request.status.as_str()
        );
        assert_eq!(
            &load(&*store, request.id).await,
            request,
            "a refused consumption must leave a {} request as it was",
            request.status.as_str()
        );
    }
}

/// An approval is not consumed at or after the request's expiry, and is
/// a microsecond before.
pub async fn expired_approval_is_not_consumed<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let late = answered(user.id, phone.id, PushStatus::Approved);
    insert(&*store, &late).await;
    assert!(
        !consume(&*store, late.id, late.expires_at).await,
        "an approval must not be consumed at its expiry"
    );
    assert_eq!(load(&*store, late.id).await.consumed_at, None);
    let in_time = answered(user.id, phone.id, PushStatus::Approved);
    insert(&*store, &in_time).await;
    let just_before = in_time.expires_at - TimeDelta::microseconds(1);
    assert!(
        consume(&*store, in_time.id, just_before).await,
        "an approval is consumable until the expiry"
    );
    assert_eq!(
        load(&*store, in_time.id).await.consumed_at,
        Some(just_before)
    );
}

/// Only a user's own requests that are pending and unexpired at `now` are
/// counted: not expired ones (at their expiry included), not answered or
/// consumed ones, not other users'.
pub async fn pending_push_requests_are_counted_per_user<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let now = at(60);
    assert_eq!(pending(&*store, user.id, now).await, 0, "nothing yet");
    for _ in 0..3 {
        create_push_request(&*store, user.id, at(30)).await;
    }
    // Expired before `now`, and expiring exactly at `now`.
    create_push_request(&*store, user.id, now - TimeDelta::minutes(3)).await;
    create_push_request(&*store, user.id, now - TimeDelta::minutes(2)).await;
    for status in [
        PushStatus::Approved,
        PushStatus::Denied,
        PushStatus::WrongNumber,
        PushStatus::NotMe,
    ] {
        insert(&*store, &answered(user.id, phone.id, status)).await;
    }
    let consumed = PushRequest {
        consumed_at: Some(at(6)),
        ..answered(user.id, phone.id, PushStatus::Approved)
    };
    insert(&*store, &consumed).await;
    for _ in 0..2 {
        create_push_request(&*store, other.id, at(30)).await;
    }
    assert_eq!(
        pending(&*store, user.id, now).await,
        3,
        "only the user's pending, unexpired requests are counted"
    );
    assert_eq!(
        pending(&*store, other.id, now).await,
        2,
        "each user's requests are counted apart"
    );
    let answered_one = create_push_request(&*store, user.id, at(30)).await;
    assert_eq!(pending(&*store, user.id, now).await, 4);
    assert!(
        resolve(
            &*store,
            answered_one.id,
            &answer(PushStatus::Denied, phone.id, now)
        )
        .await
    );
    assert_eq!(
        pending(&*store, user.id, now).await,
        3,
        "an answer takes a request out of the count"
    );
    assert_eq!(
        pending(&*store, user.id, at(30) + TimeDelta::minutes(2)).await,
        0,
        "every request has expired by then"
    );
}

/// `purge_push_requests` deletes every request that expired before the
/// cutoff, whatever its status, and keeps the others (one expiring exactly
/// at the cutoff included).
pub async fn purge_push_requests_removes_only_requests_expired_before_cutoff<S: Store>(
    store: Arc<S>,
) {
    let base = era(Era::PushRequests);
    let user = create_user(&*store, base).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, base).await;
    let cutoff = base + TimeDelta::hours(1);
    let old_pending = create_push_request(&*store, user.id, base).await;
    let old_consumed = PushRequest {
        status: PushStatus::Approved,
        factor_id: Some(phone.id),
        answered_at: Some(base + TimeDelta::seconds(5)),
        consumed_at: Some(base + TimeDelta::seconds(6)),
        ..push_request(user.id, base)
    };
    insert(&*store, &old_consumed).await;
    let at_cutoff = PushRequest {
        expires_at: cutoff,
        ..push_request(user.id, base)
    };
    insert(&*store, &at_cutoff).await;
    let live = create_push_request(&*store, user.id, cutoff).await;

    let purged = store
        .purge_push_requests(cutoff)
        .await
        .expect("purge_push_requests failed");
    assert_eq!(
        purged, 2,
        "only the requests that expired before the cutoff are purged"
    );
    for gone in [&old_pending, &old_consumed] {
        let found = store
            .get_push_request(gone.id)
            .await
            .expect("get_push_request failed");
        assert_eq!(found, None, "an expired request must be gone");
    }
    for kept in [&at_cutoff, &live] {
        assert_eq!(
            &load(&*store, kept.id).await,
            kept,
            "a request expiring at or after the cutoff must be kept"
        );
    }
    let again = store
        .purge_push_requests(cutoff)
        .await
        .expect("purge_push_requests failed");
    assert_eq!(again, 0, "a second purge finds nothing");
}

/// A second request with the same id is a `Conflict`, and the first stays
/// as it was.
pub async fn duplicate_push_request_id_is_a_conflict<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let first = create_push_request(&*store, user.id, t0()).await;
    let copy = PushRequest {
        id: first.id,
        number: 17,
        ..push_request(user.id, at(1))
    };
    let err = store
        .create_push_request(&copy)
        .await
        .expect_err("a duplicate id must be refused");
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "a duplicate id must be a Conflict, got {err:?}"
    );
    assert_eq!(
        load(&*store, first.id).await,
        first,
        "the first request stays"
    );
}

/// A request naming no stored user is refused as a backend error (the
/// foreign key of a SQL store; a broken reference, not a uniqueness
/// conflict), and nothing is stored.
pub async fn push_request_of_an_unknown_user_is_refused<S: Store>(store: Arc<S>) {
    let stray = push_request(UserId::new(), t0());
    let err = store
        .create_push_request(&stray)
        .await
        .expect_err("a request of an unknown user must be refused");
    assert!(
        matches!(err, StoreError::Backend(_)),
        "a request of an unknown user must be a Backend error, got {err:?}"
    );
    let found = store
        .get_push_request(stray.id)
        .await
        .expect("get_push_request failed");
    assert_eq!(found, None, "nothing is stored");
}

/// A push factor (a phone app) is stored, activated and listed like any
/// other, its sealed device record intact, and can be the preferred
/// method.
pub async fn push_factor_round_trips_and_can_be_preferred<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    assert!(
        store
            .activate_factor(factor.id, at(5))
            .await
            .expect("activate_factor failed"),
        "a pending push factor must activate"
    );
    let stored = store
        .get_factor(factor.id)
        .await
        .expect("get_factor failed")
        .expect("the factor exists");
    assert_eq!(stored.kind, FactorKind::Push);
    assert_eq!(stored.secret, factor.secret, "the sealed record is intact");
    assert_eq!(stored.confirmed_at, Some(at(5)));
    let listed = store
        .list_factors(user.id)
        .await
        .expect("list_factors failed");
    assert_eq!(listed, vec![stored], "the push factor is listed");
    let settings = MfaSettings {
        preferred: Some(FactorKind::Push),
        ..MfaSettings::new(user.id, at(6))
    };
    store
        .put_settings(&settings)
        .await
        .expect("put_settings failed");
    assert_eq!(
        store
            .get_settings(user.id)
            .await
            .expect("get_settings failed"),
        Some(settings),
        "push can be the preferred method"
    );
}

/// A push enrolment ceremony (the challenge the app's device key signs)
/// is stored and taken once, whole.
pub async fn push_enrolment_ceremony_round_trips<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let ceremony = fixtures::ceremony(Some(user.id), CeremonyPurpose::PushEnrolment, t0());
    store
        .create_ceremony(&ceremony)
        .await
        .expect("create_ceremony failed");
    let taken = store
        .take_ceremony(ceremony.id, at(10))
        .await
        .expect("take_ceremony failed");
    let expected = crate::model::WebauthnCeremony {
        consumed_at: Some(at(10)),
        ..ceremony.clone()
    };
    assert_eq!(taken, Some(expected), "the take returns the whole ceremony");
    let again = store
        .take_ceremony(ceremony.id, at(11))
        .await
        .expect("take_ceremony failed");
    assert_eq!(again, None, "a ceremony is taken once");
    let unknown = store
        .take_ceremony(ChallengeId::new(), at(11))
        .await
        .expect("take_ceremony failed");
    assert_eq!(unknown, None);
}
