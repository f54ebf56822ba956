//! The audit log: round trip, ordering, filters and paging; the walk of
//! the audit chains and the count of unlinked events.
//!
//! Every query filters on a user of its own, so the test sees only its own
//! events even on a shared store. The chain tests walk chains of their own,
//! whose ids differ only in the last byte (no other test's random chain id
//! falls between them); the counts of unlinked events are taken as
//! differences, before and after, or between two times of a time range of
//! the test's own.

use super::fixtures::{at, audit_event, t0};
use crate::model::{
    AuditChainId, AuditEvent, AuditEventId, AuditKind, AuditLink, AuditMac, AuditOutcome, DeviceId,
    SessionId, UserId,
};
use crate::store::*;
use chrono::{DateTime, TimeDelta, Utc};
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

/// Reads every page of `filter`, `limit` events at a time.
async fn all_pages<S: Store>(store: &S, filter: &AuditFilter, limit: u32) -> Vec<AuditEventId> {
    let mut seen = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..1000 {
        let got = store
            .query_audit(filter, &page)
            .await
            .expect("query_audit failed");
        seen.extend(got.items.iter().map(|e| e.id));
        match got.next {
            Some(cursor) => {
                page = PageRequest {
                    limit,
                    after: Some(cursor),
                }
            }
            None => return seen,
        }
    }
    panic!("paging must end");
}

/// Pages are whole and in order across months and years: events years
/// before and after one another (a store may read a page month by month,
/// as the partitioned PostgreSQL log does), on the first and last instant
/// of a month, and with an upper time bound.
pub async fn audit_paging_spans_months_and_years<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let month = {
        use chrono::{Datelike, TimeZone};
        let t = t0();
        Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
            .single()
            .expect("a month's first instant")
    };
    let mut times: Vec<DateTime<Utc>> = [
        -2_900, -1_900, -1_000, -731, -730, -729, -400, -365, -40, -31, -30, -1, 0, 0, 1, 45, 800,
        2_000,
    ]
    .into_iter()
    .map(|days| t0() + TimeDelta::days(days))
    .collect();
    times.extend([month, month - TimeDelta::microseconds(1)]);
    let events: Vec<_> = times
        .iter()
        .map(|&t| audit_event(user, AuditKind::StepUp, AuditOutcome::Success, t))
        .collect();
    append_all(&*store, &events).await;
    let stranger = audit_event(
        UserId::new(),
        AuditKind::StepUp,
        AuditOutcome::Success,
        t0(),
    );
    append_all(&*store, &[stranger]).await;
    let filter = of_user(user);
    for limit in [1, 2, 7] {
        assert_eq!(
            all_pages(&*store, &filter, limit).await,
            newest_first(&events),
            "pages of {limit} must return every event once, newest first"
        );
    }
    let before: Vec<_> = events.iter().filter(|e| e.at < t0()).cloned().collect();
    let bounded = AuditFilter {
        to: Some(t0()),
        ..of_user(user)
    };
    assert_eq!(
        all_pages(&*store, &bounded, 3).await,
        newest_first(&before),
        "an upper bound must keep every earlier event and nothing later"
    );
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

/// Chain ids of this test's own: one random UUID with each of `last` as
/// its last byte, so they sort by that byte (as unsigned) and are adjacent
/// in byte order.
fn own_chains(last: &[u8]) -> Vec<AuditChainId> {
    let mut bytes = *uuid::Uuid::new_v4().as_bytes();
    last.iter()
        .map(|b| {
            bytes[15] = *b;
            AuditChainId::from_uuid(uuid::Uuid::from_bytes(bytes))
        })
        .collect()
}

/// An event of `user` with every field set, at position `seq` of `chain`;
/// its mac depends on both.
fn linked(user: UserId, chain: AuditChainId, seq: u64, at: DateTime<Utc>) -> AuditEvent {
    let mut mac = [0u8; 32];
    mac[0] = chain.as_bytes()[15];
    mac[1..9].copy_from_slice(&seq.to_be_bytes());
    mac[31] = 0xa5;
    AuditEvent {
        link: Some(AuditLink {
            chain,
            seq,
            mac: AuditMac::from_array(mac),
            personal: Some(AuditMac::from_array([0x5a; 32])),
        }),
        ..audit_event(user, AuditKind::MfaVerification, AuditOutcome::Success, at)
    }
}

/// A time range of this test's own: a random second, far after the times
/// of the other tests (and before 2038: MariaDB through sqlx binds
/// times as `TIMESTAMP`, which ends there).
fn own_time() -> DateTime<Utc> {
    let n = uuid::Uuid::new_v4().as_u128() % 10_000_000;
    t0() + TimeDelta::days(1_000) + TimeDelta::seconds(i64::try_from(n).expect("small"))
}

/// `(chain, seq)` of a linked event.
fn position(event: &AuditEvent) -> (AuditChainId, u64) {
    let link = event.link.expect("the walk returns only linked events");
    (link.chain, link.seq)
}

/// The events of `chains` the walk returns from the first of them on, in
/// pages of `limit`, each page resumed after the last event of the one
/// before; checks that every page is in order and no longer than `limit`.
async fn walk_own<R: AuditRepository + ?Sized>(
    repo: &R,
    chains: &[AuditChainId],
    limit: u32,
) -> Vec<AuditEvent> {
    let first = *chains.iter().min().expect("some chains");
    let last = *chains.iter().max().expect("some chains");
    let mut after = Some(ChainPosition {
        chain: first,
        seq: 0,
    });
    let mut own = Vec::new();
    for _ in 0..1_000 {
        let page = repo
            .scan_audit_chains(after, None, limit)
            .await
            .expect("scan_audit_chains failed");
        assert!(
            page.len() <= limit as usize,
            "a walk returns at most `limit` events"
        );
        let positions: Vec<_> = page.iter().map(position).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "a walk is ordered by chain, then position: {positions:?}"
        );
        if let (Some(before), Some(next)) = (after, positions.first()) {
            assert!(
                (before.chain, before.seq) < *next,
                "a walk resumes strictly after its position"
            );
        }
        let done = page.len() < limit as usize || positions.last().is_some_and(|p| p.0 > last);
        after = positions
            .last()
            .map(|&(chain, seq)| ChainPosition { chain, seq });
        own.extend(page.into_iter().filter(|e| chains.contains(&position(e).0)));
        if done {
            return own;
        }
    }
    panic!("the walk of a few chains must end");
}

fn sorted_by_position(events: &[AuditEvent]) -> Vec<AuditEvent> {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(position);
    sorted
}

/// The walk of the audit chains returns the linked events ordered by chain
/// id (its bytes, unsigned) and then position, whatever order they were
/// appended in and whatever their times; unlinked events are not walked.
pub async fn audit_chains_are_walked_by_chain_then_position<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let chains = own_chains(&[0x80, 0x01, 0xfe, 0x7f]);
    let mut events = Vec::new();
    let mut unlinked = Vec::new();
    let mut n = 0;
    for seq in [3, 1, 2] {
        for chain in &chains {
            n += 1;
            // Times run against the walk's order.
            events.push(linked(user, *chain, seq, at(1_000 - n)));
            if n % 4 == 0 {
                unlinked.push(audit_event(
                    user,
                    AuditKind::PasswordLogin,
                    AuditOutcome::Success,
                    at(n),
                ));
            }
        }
    }
    append_all(&*store, &events).await;
    append_all(&*store, &unlinked).await;
    let expected = sorted_by_position(&events);
    let walked = walk_own(&*store, &chains, 10_000).await;
    assert_eq!(
        ids(&walked),
        ids(&expected),
        "chains in the order of their ids' bytes, each in order of position"
    );
    assert!(
        walked
            .iter()
            .all(|e| !unlinked.iter().any(|u| u.id == e.id)),
        "unlinked events are not walked"
    );
    // From the start (`None`): the same events in the same order.
    let mut from_start = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .scan_audit_chains(after, None, 1_000)
            .await
            .expect("scan_audit_chains failed");
        let positions: Vec<_> = page.iter().map(position).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "a walk from the start is ordered too"
        );
        from_start.extend(
            page.iter()
                .filter(|e| chains.contains(&position(e).0))
                .cloned(),
        );
        match positions.last() {
            Some(&(chain, seq)) if page.len() == 1_000 => {
                after = Some(ChainPosition { chain, seq });
            }
            _ => break,
        }
    }
    assert_eq!(
        ids(&from_start),
        ids(&expected),
        "a walk from the start finds every chain"
    );
}

/// A walk resumes strictly after its position (keyset on chain and
/// position: the rest of that chain, then the next chains from their
/// start, also after a position no event holds) and returns at most
/// `limit` events; pages of a small limit return every event once.
pub async fn audit_chain_walk_resumes_after_a_position_and_stops_at_the_limit<S: Store>(
    store: Arc<S>,
) {
    let user = UserId::new();
    let all = own_chains(&[0x10, 0x20, 0x25, 0x30]);
    let (chains, empty) = ([all[0], all[1], all[3]], all[2]);
    let mut events = Vec::new();
    for (chain, len) in chains.iter().zip([3u64, 2, 4]) {
        for seq in (1..=len).rev() {
            events.push(linked(
                user,
                *chain,
                seq,
                at(i64::try_from(seq).expect("small")),
            ));
        }
    }
    append_all(&*store, &events).await;
    let expected = sorted_by_position(&events);
    assert_eq!(
        ids(&walk_own(&*store, &chains, 2).await),
        ids(&expected),
        "pages of two return every event once, in order"
    );
    assert_eq!(
        ids(&walk_own(&*store, &chains, 1).await),
        ids(&expected),
        "pages of one return every event once, in order"
    );

    let after = |chain: AuditChainId, seq: u64, limit: u32| {
        let store = Arc::clone(&store);
        async move {
            let page = store
                .scan_audit_chains(Some(ChainPosition { chain, seq }), None, limit)
                .await
                .expect("scan_audit_chains failed");
            assert!(page.len() <= limit as usize, "at most `limit` events");
            page.iter().map(position).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        after(chains[0], 3, 2).await,
        [(chains[1], 1), (chains[1], 2)],
        "after a chain's last position, the next chain from its start"
    );
    assert_eq!(
        after(chains[0], 1, 3).await,
        [(chains[0], 2), (chains[0], 3), (chains[1], 1)],
        "after a position, the rest of its chain first"
    );
    assert_eq!(
        after(chains[0], 99, 1).await,
        [(chains[1], 1)],
        "after a position beyond a chain's end, the next chain"
    );
    assert_eq!(
        after(empty, 7, 2).await,
        [(chains[2], 1), (chains[2], 2)],
        "after a position of a chain without events, the next chain"
    );
    let tail = after(chains[2], 2, 10).await;
    assert_eq!(
        tail.iter()
            .filter(|(chain, _)| chains.contains(chain))
            .copied()
            .collect::<Vec<_>>(),
        [(chains[2], 3), (chains[2], 4)],
        "the end of the last chain"
    );
}

/// Linked events read back with every field and the link unchanged, by
/// the walk as by the audit query; positions beyond 32 bits and every mac
/// byte survive.
pub async fn linked_audit_event_round_trips<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let [chain] = own_chains(&[0x42])[..] else {
        unreachable!()
    };
    let mut full = audit_event(
        user,
        AuditKind::AuditCheckpoint,
        AuditOutcome::Denied,
        at(8),
    );
    full.session_id = Some(SessionId::new());
    full.device_id = Some(DeviceId::new());
    full.metadata = serde_json::json!({
        "heads": [{ "chain": "c", "seq": 7 }],
        "signature": "ab01",
        "nested": { "n": 1.5, "none": null, "yes": true },
    });
    let mut mac = [0u8; 32];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::try_from(i * 8 + 3).expect("small");
    }
    full.link = Some(AuditLink {
        chain,
        seq: u64::from(u32::MAX) + 2,
        mac: AuditMac::from_array(mac),
        personal: Some(AuditMac::from_array([0x3c; 32])),
    });
    let mut bare = AuditEvent::new(AuditKind::SessionCreated, AuditOutcome::Success, at(7));
    bare.user_id = Some(user);
    bare.link = Some(AuditLink {
        chain,
        seq: 1,
        mac: AuditMac::from_array([0xff; 32]),
        personal: None,
    });
    append_all(&*store, &[full.clone(), bare.clone()]).await;
    assert_eq!(
        walk_own(&*store, &[chain], 100).await,
        vec![bare.clone(), full.clone()],
        "linked events must be walked unchanged, in order of position"
    );
    assert_eq!(
        query(&*store, &of_user(user)).await,
        vec![full, bare],
        "linked events must be queried unchanged, newest first"
    );
}

/// Events without a link are counted, all of them or those at or after a
/// time (inclusive); linked events are not.
pub async fn unlinked_audit_events_are_counted_from_a_time<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let [chain] = own_chains(&[0x33])[..] else {
        unreachable!()
    };
    let count = |since: Option<DateTime<Utc>>| {
        let store = Arc::clone(&store);
        async move {
            store
                .count_unlinked_audit(since)
                .await
                .expect("count_unlinked_audit failed")
        }
    };
    let r = own_time();
    let sec = |n: i64| r + TimeDelta::seconds(n);
    let before = count(None).await;
    let mut events: Vec<_> = (0..3)
        .map(|n| audit_event(user, AuditKind::StepUp, AuditOutcome::Success, sec(n)))
        .collect();
    events.extend([
        linked(user, chain, 1, sec(0)),
        linked(user, chain, 2, sec(1)),
        linked(user, chain, 3, sec(5)),
    ]);
    append_all(&*store, &events).await;
    assert_eq!(
        count(None).await - before,
        3,
        "every unlinked event is counted, no linked one"
    );
    // Events of others after this test's range count in both terms.
    let beyond = count(Some(sec(3))).await;
    assert_eq!(
        count(Some(sec(0))).await - beyond,
        3,
        "from the first event on"
    );
    assert_eq!(
        count(Some(sec(1))).await - beyond,
        2,
        "`since` is inclusive: the event at exactly `since` counts"
    );
    assert_eq!(
        count(Some(sec(1) + TimeDelta::microseconds(1))).await - beyond,
        1,
        "events before `since` are not counted"
    );
}

/// A query for linked (or unlinked) events returns exactly those, newest
/// first; `None` returns both.
pub async fn audit_filters_by_link<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let [chain] = own_chains(&[0x34])[..] else {
        unreachable!()
    };
    let r = own_time();
    let sec = |n: i64| r + TimeDelta::seconds(n);
    let bare = audit_event(user, AuditKind::StepUp, AuditOutcome::Success, sec(0));
    let older = linked(user, chain, 1, sec(1));
    let newer = linked(user, chain, 2, sec(2));
    append_all(&*store, &[bare.clone(), older.clone(), newer.clone()]).await;
    let only = |linked| AuditFilter {
        linked,
        ..of_user(user)
    };
    assert_eq!(
        ids(&query(&*store, &only(Some(true))).await),
        [newer.id, older.id],
        "linked: the events with a link"
    );
    assert_eq!(
        ids(&query(&*store, &only(Some(false))).await),
        [bare.id],
        "unlinked: the events without one"
    );
    assert_eq!(
        ids(&query(&*store, &only(None)).await),
        [newer.id, older.id, bare.id]
    );
}

/// Inside a unit of work, the walk of the chains and the count of unlinked
/// events see the unit's own events, before and after more are appended;
/// after the commit everyone sees them, and a rolled-back unit's events
/// are gone.
pub async fn unit_sees_its_own_audit_events_in_chain_walks_and_counts<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let [chain] = own_chains(&[0x55])[..] else {
        unreachable!()
    };
    let r = own_time();
    let sec = |n: i64| r + TimeDelta::seconds(n);
    let seqs = |events: &[AuditEvent]| events.iter().map(|e| position(e).1).collect::<Vec<_>>();
    let unlinked = |n: i64| audit_event(user, AuditKind::OtpSent, AuditOutcome::Success, sec(n));
    let counted_before = store
        .count_unlinked_audit(Some(r))
        .await
        .expect("count_unlinked_audit failed");

    let tx = store.begin().await.expect("begin failed");
    let repo = tx.repositories();
    for event in [linked(user, chain, 1, sec(0)), unlinked(0)] {
        repo.append_audit(&event)
            .await
            .expect("append_audit failed");
    }
    assert_eq!(
        seqs(&walk_own(repo, &[chain], 100).await),
        [1],
        "the unit walks its own event"
    );
    assert_eq!(
        repo.count_unlinked_audit(Some(r)).await.expect("count") - counted_before,
        1,
        "the unit counts its own event"
    );
    for event in [linked(user, chain, 2, sec(1)), unlinked(1)] {
        repo.append_audit(&event)
            .await
            .expect("append_audit failed");
    }
    assert_eq!(
        seqs(&walk_own(repo, &[chain], 100).await),
        [1, 2],
        "and the events it appends after a walk"
    );
    assert_eq!(
        repo.count_unlinked_audit(Some(r)).await.expect("count") - counted_before,
        2
    );
    tx.commit().await.expect("commit failed");
    assert_eq!(seqs(&walk_own(&*store, &[chain], 100).await), [1, 2]);
    assert_eq!(
        store.count_unlinked_audit(Some(r)).await.expect("count") - counted_before,
        2,
        "the committed events are counted"
    );

    let tx = store.begin().await.expect("begin failed");
    let repo = tx.repositories();
    for event in [linked(user, chain, 3, sec(2)), unlinked(2)] {
        repo.append_audit(&event)
            .await
            .expect("append_audit failed");
    }
    assert_eq!(seqs(&walk_own(repo, &[chain], 100).await), [1, 2, 3]);
    tx.rollback().await.expect("rollback failed");
    assert_eq!(
        seqs(&walk_own(&*store, &[chain], 100).await),
        [1, 2],
        "a rolled-back unit's events are not walked"
    );
    assert_eq!(
        store.count_unlinked_audit(Some(r)).await.expect("count") - counted_before,
        2,
        "nor counted"
    );
}

/// A walk bounded by a time returns, of each chain, only the events
/// strictly before it.
pub async fn chain_walk_before_a_time_returns_the_older_events_only<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let chains = own_chains(&[0x10, 0x11]);
    let t = own_time();
    for chain in &chains {
        for seq in 1..=5u64 {
            let at = t + TimeDelta::seconds(i64::try_from(seq).expect("small"));
            store
                .append_audit(&linked(user, *chain, seq, at))
                .await
                .expect("append_audit failed");
        }
    }
    let before = t + TimeDelta::seconds(4);
    let mut after = Some(ChainPosition {
        chain: chains[0],
        seq: 0,
    });
    let mut own = Vec::new();
    loop {
        let page = store
            .scan_audit_chains(after, Some(before), 100)
            .await
            .expect("scan_audit_chains failed");
        assert!(page.iter().all(|e| e.at < before), "only older events");
        own.extend(
            page.iter()
                .filter(|e| chains.contains(&position(e).0))
                .cloned(),
        );
        match page.last() {
            Some(last) if page.len() == 100 => {
                let (chain, seq) = position(last);
                after = Some(ChainPosition { chain, seq });
            }
            _ => break,
        }
    }
    let positions: Vec<_> = own.iter().map(position).collect();
    assert_eq!(
        positions,
        [
            (chains[0], 1),
            (chains[0], 2),
            (chains[0], 3),
            (chains[1], 1),
            (chains[1], 2),
            (chains[1], 3)
        ]
    );
}

/// Removing archived prefixes removes, of each chain named, the events at
/// or before its cut, and nothing of other chains or later positions.
pub async fn archived_prefixes_are_removed_and_nothing_else<S: Store>(store: Arc<S>) {
    let user = UserId::new();
    let chains = own_chains(&[0x20, 0x21, 0x22]);
    let t = own_time();
    for chain in &chains {
        for seq in 1..=4u64 {
            store
                .append_audit(&linked(user, *chain, seq, t))
                .await
                .expect("append_audit failed");
        }
    }
    let removed = store
        .delete_audit_prefix(
            &[
                ChainPosition {
                    chain: chains[0],
                    seq: 2,
                },
                ChainPosition {
                    chain: chains[1],
                    seq: 4,
                },
            ],
            None,
        )
        .await
        .expect("delete_audit_prefix failed");
    assert_eq!(removed, 6);
    let left: Vec<_> = walk_own(&*store, &chains, 100)
        .await
        .iter()
        .map(position)
        .collect();
    assert_eq!(
        left,
        [
            (chains[0], 3),
            (chains[0], 4),
            (chains[2], 1),
            (chains[2], 2),
            (chains[2], 3),
            (chains[2], 4)
        ]
    );
}

/// An erasure empties the personal fields (user, IP address, user agent,
/// country) of one user's events that are unlinked or linked with a
/// digest of them, and nothing else; events linked without a digest are
/// kept and counted; a rolled-back erasure changes nothing.
pub async fn audit_erasure_empties_one_users_personal_fields<S: Store>(store: Arc<S>) {
    let (user, other) = (UserId::new(), UserId::new());
    let (session, other_session) = (SessionId::new(), SessionId::new());
    let chains = own_chains(&[0x60, 0x61]);
    let t = own_time();
    let in_session = |mut event: AuditEvent, session: SessionId| {
        event.session_id = Some(session);
        event
    };
    let mut legacy = linked(user, chains[1], 1, t);
    if let Some(link) = legacy.link.as_mut() {
        link.personal = None;
    }
    let events = [
        in_session(linked(user, chains[0], 1, t), session),
        in_session(
            audit_event(user, AuditKind::OtpSent, AuditOutcome::Success, t),
            session,
        ),
        in_session(legacy, session),
        in_session(linked(other, chains[0], 2, t), other_session),
    ];
    append_all(&*store, &events).await;
    let of_session = |session| AuditFilter {
        session_id: Some(session),
        ..AuditFilter::default()
    };

    let tx = store.begin().await.expect("begin failed");
    let done = tx
        .repositories()
        .erase_audit_personal(user)
        .await
        .expect("erase_audit_personal failed");
    assert_eq!((done.erased, done.kept), (2, 1));
    tx.rollback().await.expect("rollback failed");
    let mut unchanged = query(&*store, &of_session(session)).await;
    unchanged.sort_by_key(|e| e.id);
    let mut expected = events[..3].to_vec();
    expected.sort_by_key(|e| e.id);
    assert_eq!(unchanged, expected, "a rolled-back erasure changes nothing");

    let done = store
        .erase_audit_personal(user)
        .await
        .expect("erase_audit_personal failed");
    assert_eq!(
        done,
        AuditErasure { erased: 2, kept: 1 },
        "the unlinked event and the one linked with a digest are erased"
    );
    let found = query(&*store, &of_session(session)).await;
    assert_eq!(found.len(), 3, "erased events stay in the log");
    for event in &found {
        let original = events
            .iter()
            .find(|e| e.id == event.id)
            .expect("one of the test's events");
        if original.id == events[2].id {
            assert_eq!(event, original, "an event linked without a digest is kept");
            continue;
        }
        let mut erased = original.clone();
        erased.erase_personal_fields();
        assert_eq!(event, &erased, "only the personal fields are emptied");
    }
    assert_eq!(
        ids(&query(&*store, &of_user(user)).await),
        vec![events[2].id],
        "only the kept event still names the user"
    );
    assert_eq!(
        query(&*store, &of_session(other_session)).await,
        vec![events[3].clone()],
        "another user's events are untouched"
    );
    assert_eq!(
        store
            .erase_audit_personal(user)
            .await
            .expect("erase_audit_personal failed"),
        AuditErasure { erased: 0, kept: 1 },
        "a second erasure finds nothing more"
    );
}
