//! The audit log: round trip, ordering, filters and paging.
//!
//! Every query filters on a user of its own, so the test sees only its own
//! events even on a shared store.

use super::fixtures::{at, audit_event, t0};
use crate::model::{
    AuditEvent, AuditEventId, AuditKind, AuditOutcome, DeviceId, SessionId, UserId,
};
use crate::store::*;
use std::collections::HashSet;
use std::sync::Arc;

async fn append_all<S: Store>(store: &S, events: &[AuditEvent]) {
    for event in events {
        store
            .append_audit(event)
            .await
            .expect("append_audit failed");
    }
}

async fn query<S: Store>(store: &S, filter: &AuditFilter) -> Vec<AuditEvent> {
    let page = store
        .query_audit(filter, &PageRequest::first(PageRequest::MAX_LIMIT))
        .await
        .expect("query_audit failed");
    assert_eq!(
        page.next, None,
        "a page holding every match must have no next cursor"
    );
    page.items
}

fn of_user(user: UserId) -> AuditFilter {
    AuditFilter {
        user_id: Some(user),
        ..AuditFilter::default()
    }
}

fn ids(events: &[AuditEvent]) -> Vec<AuditEventId> {
    events.iter().map(|e| e.id).collect()
}

/// The expected result: `events` ordered by (`at`, `id`) descending.
fn newest_first(events: &[AuditEvent]) -> Vec<AuditEventId> {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    ids(&sorted)
}

/// An appended event reads back with every field unchanged.
pub async fn audit_event_round_trips<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let mut event = audit_event(
        user,
        AuditKind::MfaVerification,
        AuditOutcome::Failure,
        at(5),
    );
    event.session_id = Some(SessionId::new());
    event.device_id = Some(DeviceId::new());
    let mut bare = AuditEvent::new(AuditKind::LoginRefused, AuditOutcome::Denied, at(6));
    bare.user_id = Some(user);
    append_all(&*store, &[event.clone(), bare.clone()]).await;
    assert_eq!(
        query(&*store, &of_user(user)).await,
        vec![bare, event],
        "events must read back unchanged, newest first"
    );
}

/// R46: events come back newest first, whatever order they were appended in.
pub async fn audit_events_are_returned_newest_first<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let events: Vec<_> = [30, 10, 50, 20, 40]
        .into_iter()
        .map(|s| audit_event(user, AuditKind::PasswordLogin, AuditOutcome::Success, at(s)))
        .collect();
    append_all(&*store, &events).await;
    assert_eq!(
        ids(&query(&*store, &of_user(user)).await),
        newest_first(&events),
        "events must be ordered by time, newest first"
    );
}

/// Events with the same time are ordered by id, descending.
pub async fn audit_ties_on_time_are_ordered_by_id<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let mut events: Vec<_> = (0..6)
        .map(|_| audit_event(user, AuditKind::OtpSent, AuditOutcome::Success, at(100)))
        .collect();
    events.push(audit_event(
        user,
        AuditKind::OtpSent,
        AuditOutcome::Success,
        at(99),
    ));
    events.reverse();
    append_all(&*store, &events).await;
    assert_eq!(
        ids(&query(&*store, &of_user(user)).await),
        newest_first(&events),
        "ties on `at` must be ordered by id descending"
    );
}

/// Filters on user, session and device return only matching events.
pub async fn audit_filters_by_user_session_and_device<S: Store>(store: Arc<S>) {
    let (alice, bob) = (UserId::new(), UserId::new());
    let (session, device) = (SessionId::new(), DeviceId::new());
    let mut with_session = audit_event(
        alice,
        AuditKind::SessionCreated,
        AuditOutcome::Success,
        at(1),
    );
    with_session.session_id = Some(session);
    let mut with_device = audit_event(
        alice,
        AuditKind::DeviceTrusted,
        AuditOutcome::Success,
        at(2),
    );
    with_device.device_id = Some(device);
    let plain = audit_event(
        alice,
        AuditKind::PasswordLogin,
        AuditOutcome::Success,
        at(3),
    );
    let bobs = audit_event(bob, AuditKind::PasswordLogin, AuditOutcome::Success, at(4));
    append_all(
        &*store,
        &[
            with_session.clone(),
            with_device.clone(),
            plain.clone(),
            bobs.clone(),
        ],
    )
    .await;
    assert_eq!(
        ids(&query(&*store, &of_user(alice)).await),
        vec![plain.id, with_device.id, with_session.id],
        "the user filter must return only that user's events"
    );
    assert_eq!(
        ids(&query(&*store, &of_user(bob)).await),
        vec![bobs.id],
        "the user filter must return only that user's events"
    );
    let by_session = AuditFilter {
        session_id: Some(session),
        ..of_user(alice)
    };
    assert_eq!(
        ids(&query(&*store, &by_session).await),
        vec![with_session.id],
        "session filter"
    );
    let by_device = AuditFilter {
        device_id: Some(device),
        ..AuditFilter::default()
    };
    assert_eq!(
        ids(&query(&*store, &by_device).await),
        vec![with_device.id],
        "device filter"
    );
}

/// The kinds filter returns events of any listed kind; empty means any.
pub async fn audit_filters_by_kinds<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let kinds = [
        AuditKind::PasswordLogin,
        AuditKind::MfaVerification,
        AuditKind::TotpReplay,
        AuditKind::BackupCodeUsed,
    ];
    let events: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(n, kind)| audit_event(user, *kind, AuditOutcome::Success, at(n as i64)))
        .collect();
    append_all(&*store, &events).await;
    let filter = AuditFilter {
        kinds: vec![AuditKind::MfaVerification, AuditKind::BackupCodeUsed],
        ..of_user(user)
    };
    assert_eq!(
        ids(&query(&*store, &filter).await),
        vec![events[3].id, events[1].id],
        "only the listed kinds"
    );
    let filter = AuditFilter {
        kinds: vec![AuditKind::AccountLocked],
        ..of_user(user)
    };
    assert!(
        query(&*store, &filter).await.is_empty(),
        "a kind with no events matches nothing"
    );
    assert_eq!(
        query(&*store, &of_user(user)).await.len(),
        4,
        "no kinds means every kind"
    );
}

/// The outcome filter returns only events with that outcome.
pub async fn audit_filters_by_outcome<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let events = [
        audit_event(
            user,
            AuditKind::MfaVerification,
            AuditOutcome::Success,
            at(1),
        ),
        audit_event(
            user,
            AuditKind::MfaVerification,
            AuditOutcome::Failure,
            at(2),
        ),
        audit_event(user, AuditKind::RateLimited, AuditOutcome::Denied, at(3)),
        audit_event(
            user,
            AuditKind::MfaVerification,
            AuditOutcome::Failure,
            at(4),
        ),
    ];
    append_all(&*store, &events).await;
    for (outcome, expected) in [
        (AuditOutcome::Success, vec![events[0].id]),
        (AuditOutcome::Failure, vec![events[3].id, events[1].id]),
        (AuditOutcome::Denied, vec![events[2].id]),
    ] {
        let filter = AuditFilter {
            outcome: Some(outcome),
            ..of_user(user)
        };
        assert_eq!(
            ids(&query(&*store, &filter).await),
            expected,
            "outcome filter {outcome:?}"
        );
    }
}

/// The time range is half open: `from` included, `to` excluded.
pub async fn audit_filters_by_half_open_time_range<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let events: Vec<_> = (0..6)
        .map(|n| audit_event(user, AuditKind::StepUp, AuditOutcome::Success, at(n * 10)))
        .collect();
    append_all(&*store, &events).await;
    let filter = AuditFilter {
        from: Some(at(10)),
        to: Some(at(40)),
        ..of_user(user)
    };
    assert_eq!(
        ids(&query(&*store, &filter).await),
        vec![events[3].id, events[2].id, events[1].id],
        "events at or after `from` and strictly before `to`"
    );
    let filter = AuditFilter {
        from: Some(at(45)),
        ..of_user(user)
    };
    assert_eq!(
        ids(&query(&*store, &filter).await),
        vec![events[5].id],
        "`from` alone"
    );
    let filter = AuditFilter {
        to: Some(at(10)),
        ..of_user(user)
    };
    assert_eq!(
        ids(&query(&*store, &filter).await),
        vec![events[0].id],
        "`to` alone"
    );
}

/// Paging returns every matching event exactly once, in order, with no
/// cursor after the last page; ties on `at` across page boundaries are
/// handled by the id in the cursor.
pub async fn audit_paging_returns_every_event_exactly_once<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    // 23 events over 8 distinct times, so pages split runs of equal times.
    let events: Vec<_> = (0..23)
        .map(|n| {
            audit_event(
                user,
                AuditKind::SessionRefreshed,
                AuditOutcome::Success,
                at(n % 8),
            )
        })
        .collect();
    append_all(&*store, &events).await;
    let stranger = audit_event(
        UserId::new(),
        AuditKind::SessionRefreshed,
        AuditOutcome::Success,
        at(3),
    );
    append_all(&*store, &[stranger]).await;
    let filter = of_user(user);
    let mut seen = Vec::new();
    let mut page = PageRequest::first(5);
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "paging must end");
        let got = store
            .query_audit(&filter, &page)
            .await
            .expect("query_audit failed");
        assert!(
            got.items.len() <= 5,
            "a page must hold at most `limit` events"
        );
        seen.extend(got.items.iter().map(|e| e.id));
        match got.next {
            Some(cursor) => {
                let last = got.items.last().expect("a page with a cursor is not empty");
                assert_eq!(
                    cursor,
                    AuditCursor {
                        at: last.at,
                        id: last.id
                    },
                    "the cursor is the last event returned"
                );
                assert_eq!(got.items.len(), 5, "only the last page may be short");
                page = PageRequest {
                    limit: 5,
                    after: Some(cursor),
                };
            }
            None => break,
        }
    }
    assert_eq!(pages, 5, "23 events in pages of 5 make 5 pages");
    assert_eq!(
        seen,
        newest_first(&events),
        "pages must return every event once, newest first"
    );
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), events.len(), "no event may appear twice");
}

/// When the events fill the last page exactly, that page has no cursor.
pub async fn audit_last_full_page_has_no_cursor<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let events: Vec<_> = (0..10)
        .map(|n| audit_event(user, AuditKind::StepUp, AuditOutcome::Success, at(n)))
        .collect();
    append_all(&*store, &events).await;
    let filter = of_user(user);
    let first = store
        .query_audit(&filter, &PageRequest::first(5))
        .await
        .expect("query_audit failed");
    let cursor = first.next.expect("more events follow the first page");
    let second = store
        .query_audit(
            &filter,
            &PageRequest {
                limit: 5,
                after: Some(cursor),
            },
        )
        .await
        .expect("query_audit failed");
    assert_eq!(second.items.len(), 5, "the second page is full");
    assert_eq!(
        second.next, None,
        "`next` must be None when no more events follow"
    );
    let empty = store
        .query_audit(
            &filter,
            &PageRequest {
                limit: 5,
                after: Some(AuditCursor {
                    at: t0(),
                    id: events[0].id,
                }),
            },
        )
        .await
        .expect("query_audit failed");
    assert!(
        empty.items.is_empty() && empty.next.is_none(),
        "nothing lies after the oldest event"
    );
}
