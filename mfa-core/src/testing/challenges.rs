//! OTP challenges and login tickets: supersession, attempts, single use,
//! expiry and purging.

use super::fixtures::{self, Era, at, challenge, create_user, era, t0, ticket};
use crate::model::{
    CeremonyPurpose, ChallengeId, ChallengePurpose, FactorId, FactorKind, OtpChallenge, TicketId,
    UserId,
};
use crate::store::*;
use chrono::TimeDelta;
use std::sync::Arc;

async fn load<S: Store>(store: &S, id: ChallengeId) -> OtpChallenge {
    store
        .get_challenge(id)
        .await
        .expect("get_challenge failed")
        .expect("the challenge should exist")
}

async fn email_factor<S: Store>(store: &S) -> (UserId, FactorId) {
    let user = create_user(store, t0()).await;
    let factor = fixtures::create_factor(store, user.id, FactorKind::Email, t0()).await;
    (user.id, factor.id)
}

async fn issue<S: Store>(store: &S, challenge: &OtpChallenge) {
    store
        .issue_challenge(challenge)
        .await
        .expect("issue_challenge failed");
}

/// An issued challenge reads back unchanged; an unknown id finds nothing.
pub async fn challenge_round_trips<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let mut c = challenge(user, factor, ChallengePurpose::Login, t0());
    c.ticket_id = Some(TicketId::new());
    c.attempts = 2;
    issue(&*store, &c).await;
    assert_eq!(
        load(&*store, c.id).await,
        c,
        "get_challenge must return the issued challenge"
    );
    let unknown = store
        .get_challenge(ChallengeId::new())
        .await
        .expect("get_challenge failed");
    assert_eq!(unknown, None, "get_challenge of an unknown id must be None");
}

/// `latest_challenge` returns the newest challenge of a factor and purpose,
/// even once it is closed.
pub async fn latest_challenge_is_the_newest_of_factor_and_purpose<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let none = store
        .latest_challenge(factor, ChallengePurpose::Login)
        .await
        .expect("latest_challenge failed");
    assert_eq!(none, None, "no challenge was issued yet");
    let first = challenge(user, factor, ChallengePurpose::Login, t0());
    issue(&*store, &first).await;
    let second = challenge(user, factor, ChallengePurpose::Login, at(60));
    issue(&*store, &second).await;
    let step_up = challenge(user, factor, ChallengePurpose::StepUp, at(120));
    issue(&*store, &step_up).await;
    let latest = store
        .latest_challenge(factor, ChallengePurpose::Login)
        .await
        .expect("latest_challenge failed");
    assert_eq!(
        latest,
        Some(second.clone()),
        "latest_challenge must return the newest login challenge"
    );
    assert!(
        store
            .consume_challenge(second.id, at(130))
            .await
            .expect("consume_challenge failed"),
        "consume must succeed"
    );
    let latest = store
        .latest_challenge(factor, ChallengePurpose::Login)
        .await
        .expect("latest_challenge failed")
        .expect("a consumed challenge is still the latest");
    assert_eq!(
        latest.id, second.id,
        "latest_challenge returns closed challenges too"
    );
    assert_eq!(latest.consumed_at, Some(at(130)), "and shows them closed");
    let other_purpose = store
        .latest_challenge(factor, ChallengePurpose::Enrollment)
        .await
        .expect("latest_challenge failed");
    assert_eq!(other_purpose, None, "purposes are separate");
}

/// R11: issuing a challenge closes the open one of the same factor and
/// purpose, at the new challenge's creation time; the old code can no
/// longer be consumed.
pub async fn new_challenge_supersedes_the_open_one<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let first = challenge(user, factor, ChallengePurpose::Login, t0());
    issue(&*store, &first).await;
    let second = challenge(user, factor, ChallengePurpose::Login, at(45));
    issue(&*store, &second).await;
    assert_eq!(
        load(&*store, first.id).await.consumed_at,
        Some(at(45)),
        "the superseded challenge must be closed at the new challenge's created_at"
    );
    let attempt = store
        .record_challenge_attempt(first.id, at(50))
        .await
        .expect("record_challenge_attempt failed");
    assert_eq!(
        attempt,
        ChallengeAttempt::Closed,
        "a superseded challenge takes no attempts"
    );
    assert!(
        !store
            .consume_challenge(first.id, at(50))
            .await
            .expect("consume_challenge failed"),
        "a superseded challenge must not be consumed"
    );
    assert!(
        store
            .consume_challenge(second.id, at(50))
            .await
            .expect("consume_challenge failed"),
        "the new challenge must be consumable"
    );
}

/// R10: issuing a challenge leaves challenges of other purposes and other
/// factors open.
pub async fn new_challenge_leaves_other_purposes_and_factors_open<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let other_factor = fixtures::create_factor(&*store, user, FactorKind::Sms, t0())
        .await
        .id;
    let step_up = challenge(user, factor, ChallengePurpose::StepUp, t0());
    let elsewhere = challenge(user, other_factor, ChallengePurpose::Login, t0());
    let login = challenge(user, factor, ChallengePurpose::Login, t0());
    for c in [&step_up, &elsewhere, &login] {
        issue(&*store, c).await;
    }
    issue(
        &*store,
        &challenge(user, factor, ChallengePurpose::Login, at(30)),
    )
    .await;
    assert_eq!(
        load(&*store, login.id).await.consumed_at,
        Some(at(30)),
        "the same-purpose challenge is closed"
    );
    for (label, c) in [
        ("another purpose", &step_up),
        ("another factor", &elsewhere),
    ] {
        assert_eq!(
            load(&*store, c.id).await.consumed_at,
            None,
            "a challenge of {label} must stay open"
        );
        assert!(
            store
                .consume_challenge(c.id, at(40))
                .await
                .expect("consume_challenge failed"),
            "a challenge of {label} must still be consumable"
        );
    }
}

/// R13/R24: attempts are counted up to `max_attempts`, then `Exhausted`.
pub async fn challenge_attempts_are_counted_up_to_the_maximum<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let mut c = challenge(user, factor, ChallengePurpose::Login, t0());
    c.max_attempts = 3;
    issue(&*store, &c).await;
    for n in 1..=3 {
        let got = store
            .record_challenge_attempt(c.id, at(n.into()))
            .await
            .expect("record_challenge_attempt failed");
        assert_eq!(
            got,
            ChallengeAttempt::Allowed { attempts: n },
            "attempt {n} must be allowed"
        );
    }
    for n in 4..=5 {
        let got = store
            .record_challenge_attempt(c.id, at(n))
            .await
            .expect("record_challenge_attempt failed");
        assert_eq!(
            got,
            ChallengeAttempt::Exhausted,
            "attempts past the maximum are exhausted"
        );
    }
    assert_eq!(
        load(&*store, c.id).await.attempts,
        3,
        "refused attempts are not counted"
    );
}

/// R11: attempts carried over into a new challenge count against its
/// maximum.
pub async fn carried_over_attempts_count_against_the_maximum<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let mut c = challenge(user, factor, ChallengePurpose::Login, t0());
    c.attempts = 4;
    c.max_attempts = 5;
    issue(&*store, &c).await;
    let got = store
        .record_challenge_attempt(c.id, at(1))
        .await
        .expect("record_challenge_attempt failed");
    assert_eq!(
        got,
        ChallengeAttempt::Allowed { attempts: 5 },
        "the carried-over count goes on"
    );
    let got = store
        .record_challenge_attempt(c.id, at(2))
        .await
        .expect("record_challenge_attempt failed");
    assert_eq!(
        got,
        ChallengeAttempt::Exhausted,
        "the maximum includes carried-over attempts"
    );
}

/// R9/R10: expired, consumed and unknown challenges take no attempts.
pub async fn closed_challenge_takes_no_attempts<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let expiring = challenge(user, factor, ChallengePurpose::Login, t0());
    issue(&*store, &expiring).await;
    let got = store
        .record_challenge_attempt(expiring.id, expiring.expires_at)
        .await
        .expect("record_challenge_attempt failed");
    assert_eq!(
        got,
        ChallengeAttempt::Closed,
        "a challenge is closed from expires_at on"
    );
    let consumed = challenge(user, factor, ChallengePurpose::StepUp, t0());
    issue(&*store, &consumed).await;
    assert!(
        store
            .consume_challenge(consumed.id, at(5))
            .await
            .expect("consume_challenge failed"),
        "consume must succeed"
    );
    let got = store
        .record_challenge_attempt(consumed.id, at(6))
        .await
        .expect("record_challenge_attempt failed");
    assert_eq!(
        got,
        ChallengeAttempt::Closed,
        "a consumed challenge is closed"
    );
    let got = store
        .record_challenge_attempt(ChallengeId::new(), at(6))
        .await
        .expect("record_challenge_attempt failed");
    assert_eq!(
        got,
        ChallengeAttempt::Closed,
        "an unknown challenge is closed"
    );
    assert_eq!(
        load(&*store, expiring.id).await.attempts,
        0,
        "closed challenges count nothing"
    );
    assert_eq!(
        load(&*store, consumed.id).await.attempts,
        0,
        "closed challenges count nothing"
    );
}

/// R10: a challenge is consumed once; `consumed_at` records when.
pub async fn challenge_is_consumed_once<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let c = challenge(user, factor, ChallengePurpose::Login, t0());
    issue(&*store, &c).await;
    store
        .record_challenge_attempt(c.id, at(9))
        .await
        .expect("record_challenge_attempt failed");
    assert!(
        store
            .consume_challenge(c.id, at(10))
            .await
            .expect("consume_challenge failed"),
        "an open challenge must be consumed"
    );
    assert!(
        !store
            .consume_challenge(c.id, at(11))
            .await
            .expect("consume_challenge failed"),
        "a consumed challenge must not be consumed again"
    );
    assert_eq!(
        load(&*store, c.id).await.consumed_at,
        Some(at(10)),
        "consumed_at is the first consumption"
    );
    assert!(
        !store
            .consume_challenge(ChallengeId::new(), at(11))
            .await
            .expect("consume_challenge failed"),
        "an unknown challenge is not consumed"
    );
}

/// R9: a challenge is consumable until just before `expires_at`, not from
/// then on.
pub async fn expired_challenge_is_not_consumed<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let expired = challenge(user, factor, ChallengePurpose::Login, t0());
    issue(&*store, &expired).await;
    assert!(
        !store
            .consume_challenge(expired.id, expired.expires_at)
            .await
            .expect("consume_challenge failed"),
        "a challenge must not be consumed at its expires_at"
    );
    assert_eq!(
        load(&*store, expired.id).await.consumed_at,
        None,
        "a refused consume changes nothing"
    );
    let fresh = challenge(user, factor, ChallengePurpose::StepUp, t0());
    issue(&*store, &fresh).await;
    let last_moment = fresh.expires_at - TimeDelta::seconds(1);
    assert!(
        store
            .consume_challenge(fresh.id, last_moment)
            .await
            .expect("consume_challenge failed"),
        "a challenge must be consumable one second before it expires"
    );
}

/// A created ticket is found by its token digest, and only by it.
pub async fn ticket_is_found_by_token_hash<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let mut t = ticket(user.id, t0());
    t.device_id = Some(crate::model::DeviceId::new());
    t.session_id = Some(crate::model::SessionId::new());
    store.create_ticket(&t).await.expect("create_ticket failed");
    let other = ticket(user.id, t0());
    store
        .create_ticket(&other)
        .await
        .expect("create_ticket failed");
    let found = store
        .find_ticket(&t.token_hash)
        .await
        .expect("find_ticket failed");
    assert_eq!(
        found,
        Some(t),
        "find_ticket must return the ticket with this digest"
    );
    let none = store
        .find_ticket(&fixtures::token_hash())
        .await
        .expect("find_ticket failed");
    assert_eq!(none, None, "an unknown digest finds no ticket");
}

/// A ticket is consumed once; `find_ticket` still returns it, closed.
pub async fn ticket_is_consumed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let t = ticket(user.id, t0());
    store.create_ticket(&t).await.expect("create_ticket failed");
    assert!(
        store
            .consume_ticket(t.id, at(10))
            .await
            .expect("consume_ticket failed"),
        "an open ticket must be consumed"
    );
    assert!(
        !store
            .consume_ticket(t.id, at(11))
            .await
            .expect("consume_ticket failed"),
        "a consumed ticket must not be consumed again"
    );
    let found = store
        .find_ticket(&t.token_hash)
        .await
        .expect("find_ticket failed")
        .expect("a consumed ticket is still found");
    assert_eq!(
        found.consumed_at,
        Some(at(10)),
        "consumed_at is the first consumption"
    );
    assert!(
        !store
            .consume_ticket(TicketId::new(), at(11))
            .await
            .expect("consume_ticket failed"),
        "an unknown ticket is not consumed"
    );
}

/// A ticket is consumable until just before `expires_at`, not from then on.
pub async fn expired_ticket_is_not_consumed<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let expired = ticket(user.id, t0());
    store
        .create_ticket(&expired)
        .await
        .expect("create_ticket failed");
    assert!(
        !store
            .consume_ticket(expired.id, expired.expires_at)
            .await
            .expect("consume_ticket failed"),
        "a ticket must not be consumed at its expires_at"
    );
    let fresh = ticket(user.id, t0());
    store
        .create_ticket(&fresh)
        .await
        .expect("create_ticket failed");
    assert!(
        store
            .consume_ticket(fresh.id, fresh.expires_at - TimeDelta::seconds(1))
            .await
            .expect("consume_ticket failed"),
        "a ticket must be consumable one second before it expires"
    );
}

/// `purge_expired_challenges` deletes challenges and tickets that expired
/// before the cutoff, and nothing else.
pub async fn purge_expired_challenges_removes_only_expired_rows<S: Store>(store: Arc<S>) {
    let base = era(Era::Challenges);
    let cutoff = base + TimeDelta::hours(1);
    let user = create_user(&*store, base).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Email, base).await;
    let old_challenge = challenge(user.id, factor.id, ChallengePurpose::Login, base);
    let live_challenge = OtpChallenge {
        expires_at: cutoff + TimeDelta::hours(1),
        ..challenge(user.id, factor.id, ChallengePurpose::StepUp, base)
    };
    issue(&*store, &old_challenge).await;
    issue(&*store, &live_challenge).await;
    let old_ticket = ticket(user.id, base);
    let mut live_ticket = ticket(user.id, base);
    live_ticket.expires_at = cutoff + TimeDelta::hours(1);
    store
        .create_ticket(&old_ticket)
        .await
        .expect("create_ticket failed");
    store
        .create_ticket(&live_ticket)
        .await
        .expect("create_ticket failed");

    let old_ceremony = fixtures::ceremony(Some(user.id), CeremonyPurpose::Login, base);
    let mut live_ceremony = fixtures::ceremony(Some(user.id), CeremonyPurpose::Login, base);
    live_ceremony.expires_at = cutoff + TimeDelta::hours(1);
    for c in [&old_ceremony, &live_ceremony] {
        store
            .create_ceremony(c)
            .await
            .expect("create_ceremony failed");
    }

    let purged = store
        .purge_expired_challenges(cutoff)
        .await
        .expect("purge_expired_challenges failed");
    assert_eq!(
        purged, 3,
        "one expired challenge, ceremony and ticket must be purged"
    );
    let ceremony = store
        .take_ceremony(old_ceremony.id, base)
        .await
        .expect("take_ceremony failed");
    assert_eq!(ceremony, None, "the expired ceremony must be gone");
    let live = store
        .take_ceremony(live_ceremony.id, cutoff)
        .await
        .expect("take_ceremony failed");
    assert!(live.is_some(), "an unexpired ceremony must be kept");
    let gone = store
        .get_challenge(old_challenge.id)
        .await
        .expect("get_challenge failed");
    assert_eq!(gone, None, "the expired challenge must be gone");
    assert_eq!(
        load(&*store, live_challenge.id).await,
        live_challenge,
        "an unexpired challenge must be kept"
    );
    let gone = store
        .find_ticket(&old_ticket.token_hash)
        .await
        .expect("find_ticket failed");
    assert_eq!(gone, None, "the expired ticket must be gone");
    let kept = store
        .find_ticket(&live_ticket.token_hash)
        .await
        .expect("find_ticket failed");
    assert_eq!(kept, Some(live_ticket), "an unexpired ticket must be kept");
}

/// The engine counts an attempt before comparing the code, so the last
/// allowed attempt must still be able to consume the challenge: `consume`
/// refuses only consumed, superseded or expired challenges, not exhausted
/// ones.
pub async fn last_allowed_attempt_can_still_consume<S: Store>(store: Arc<S>) {
    let (user, factor) = email_factor(&*store).await;
    let mut c = challenge(user, factor, ChallengePurpose::Login, t0());
    c.max_attempts = 2;
    issue(&*store, &c).await;
    for n in 1..=2 {
        let got = store
            .record_challenge_attempt(c.id, at(n.into()))
            .await
            .expect("record_challenge_attempt failed");
        assert_eq!(
            got,
            ChallengeAttempt::Allowed { attempts: n },
            "attempt {n}"
        );
    }
    assert!(
        store
            .consume_challenge(c.id, at(3))
            .await
            .expect("consume_challenge failed"),
        "a correct code on the last allowed attempt must consume the challenge"
    );
}

/// A WebAuthn ceremony reads back whole from the one take that wins, with
/// its consumption time; a second take, or a take of an unknown id, gets
/// nothing.
pub async fn ceremony_is_taken_once_and_reads_back_whole<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let c = fixtures::ceremony(Some(user.id), CeremonyPurpose::Registration, t0());
    store
        .create_ceremony(&c)
        .await
        .expect("create_ceremony failed");
    let taken = store
        .take_ceremony(c.id, at(10))
        .await
        .expect("take_ceremony failed");
    let mut expected = c.clone();
    expected.consumed_at = Some(at(10));
    assert_eq!(taken, Some(expected), "the take returns the whole ceremony");
    let again = store
        .take_ceremony(c.id, at(11))
        .await
        .expect("take_ceremony failed");
    assert_eq!(again, None, "a ceremony is taken once");
    let unknown = store
        .take_ceremony(ChallengeId::new(), at(11))
        .await
        .expect("take_ceremony failed");
    assert_eq!(unknown, None);
}

/// A passwordless ceremony has no user until its answer names one.
pub async fn ceremony_without_user_round_trips<S: Store>(store: Arc<S>) {
    let mut c = fixtures::ceremony(None, CeremonyPurpose::Passwordless, t0());
    c.ticket_id = None;
    store
        .create_ceremony(&c)
        .await
        .expect("create_ceremony failed");
    let taken = store
        .take_ceremony(c.id, at(1))
        .await
        .expect("take_ceremony failed")
        .expect("the ceremony is open");
    assert_eq!(taken.user_id, None);
    assert_eq!(taken.purpose, CeremonyPurpose::Passwordless);
    assert_eq!(taken.state, c.state);
}

/// A ceremony is not taken at or after its expiry, and stays takeable
/// just before.
pub async fn expired_ceremony_is_not_taken<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let c = fixtures::ceremony(Some(user.id), CeremonyPurpose::Login, t0());
    store
        .create_ceremony(&c)
        .await
        .expect("create_ceremony failed");
    let late = store
        .take_ceremony(c.id, c.expires_at)
        .await
        .expect("take_ceremony failed");
    assert_eq!(late, None, "an expired ceremony is not taken");
    let d = fixtures::ceremony(Some(user.id), CeremonyPurpose::Login, t0());
    store
        .create_ceremony(&d)
        .await
        .expect("create_ceremony failed");
    let just_in_time = store
        .take_ceremony(d.id, d.expires_at - TimeDelta::microseconds(1))
        .await
        .expect("take_ceremony failed");
    assert!(
        just_in_time.is_some(),
        "a ceremony is open until its expiry"
    );
}
