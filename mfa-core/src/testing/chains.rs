//! The tamper suite of the audit chains: the engine writes events, the
//! test changes the store behind its back the way someone with database
//! access would, and [`Mfa::verify_audit`](crate::Mfa::verify_audit) must
//! report exactly that.
//!
//! A store crate runs it with [`audit_chain_tests!`](crate::audit_chain_tests)
//! and a factory of stores that also implement [`AuditTamper`]: the raw
//! edits that no repository trait offers.

use crate::store::Store;
use async_trait::async_trait;

/// Raw changes to a store's audit log, bypassing the engine: what an
/// attacker with database access can do. For tests only.
#[async_trait]
pub trait AuditTamper: Send + Sync {
    /// Changes the stored outcome of event `id` to `outcome` (a storage
    /// name: `success`, `failure` or `denied`).
    async fn tamper_set_outcome(&self, id: crate::model::AuditEventId, outcome: &str);

    /// Deletes the events `ids`.
    async fn tamper_delete(&self, ids: &[crate::model::AuditEventId]);

    /// Swaps the chain positions (`seq`) of two events of one chain,
    /// leaving everything else as it is.
    async fn tamper_swap_positions(
        &self,
        a: crate::model::AuditEventId,
        b: crate::model::AuditEventId,
    );
}

/// A store the tamper suite can run on.
pub trait TamperableStore: Store + AuditTamper {}

impl<T: Store + AuditTamper> TamperableStore for T {}

/// Expands to one `#[tokio::test]` per tamper suite function (module
/// `audit_chains`), each on a fresh store from `factory`, an
/// `async fn() -> S` where `S` implements
/// [`Store`] and [`AuditTamper`].
#[macro_export]
macro_rules! audit_chain_tests {
    ($factory:path) => {
        $crate::__audit_chain_cases!($factory;
            untouched_log_verifies_intact,
            concurrent_steps_link_without_gaps,
            rolled_back_step_leaves_no_gap,
            edited_event_is_reported_altered,
            deleted_event_is_reported_missing,
            deleted_tail_is_reported_truncated,
            reordered_events_are_reported_reordered,
            replayed_event_is_reported_replayed,
            event_written_around_the_engine_is_reported_unlinked,
            forged_checkpoint_is_reported,
            stopped_instance_tail_is_vouched_for_by_the_next,
            archive_round_trip_verifies_and_the_store_stays_intact,
            second_archive_continues_the_chains,
            tampered_archive_is_reported,
            removed_cut_record_is_reported,
            erased_user_leaves_the_chains_verifiable,
        );
    };
}

/// The list of [`audit_chain_tests!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __audit_chain_cases {
    ($factory:path; $($name:ident),+ $(,)?) => {
        #[allow(unused_imports)]
        mod audit_chains {
            use super::*;
            $(
                #[$crate::testing::tokio::test(
                    flavor = "multi_thread",
                    worker_threads = 4,
                    crate = "::mfa_core::testing::tokio"
                )]
                async fn $name() {
                    $crate::testing::chains::$name(::std::sync::Arc::new($factory().await)).await;
                }
            )+
        }
    };
}

use super::flow::harness::{Harness, expect_err, expect_mfa_ticket};
use super::flow::verify::wrong_code;
use crate::audit::AuditProblem;
use crate::model::{AuditChainId, AuditEvent, AuditEventId, AuditKind, FactorKind};
use crate::store::ChainPosition;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every linked event of the store, by chain, in position order.
async fn chains<S: Store>(store: &S) -> BTreeMap<AuditChainId, Vec<AuditEvent>> {
    let mut by_chain: BTreeMap<AuditChainId, Vec<AuditEvent>> = BTreeMap::new();
    let mut after = None;
    loop {
        let batch = store
            .scan_audit_chains(after, None, 100)
            .await
            .expect("scan_audit_chains failed");
        let Some(last) = batch.last().and_then(|e| e.link) else {
            return by_chain;
        };
        after = Some(ChainPosition {
            chain: last.chain,
            seq: last.seq,
        });
        for event in batch {
            let link = event.link.expect("a scan returns linked events only");
            by_chain.entry(link.chain).or_default().push(event);
        }
    }
}

/// The longest chain of step events (not checkpoints) and its events.
async fn data_chain<S: Store>(store: &S) -> (AuditChainId, Vec<AuditEvent>) {
    chains(store)
        .await
        .into_iter()
        .filter(|(_, events)| events.iter().all(|e| e.kind != AuditKind::AuditCheckpoint))
        .max_by_key(|(_, events)| events.len())
        .expect("the steps wrote a chain")
}

fn id_at(events: &[AuditEvent], seq: u64) -> AuditEventId {
    events
        .iter()
        .find(|e| e.link.is_some_and(|l| l.seq == seq))
        .map(|e| e.id)
        .expect("the chain has that position")
}

/// Sign-ups, a TOTP enrolment, a sign-in and a refused code, then a
/// checkpoint: a chain of at least six events, covered.
async fn activity<S: Store>(h: &Harness<S>) {
    let user = h.user_with_totp("alice").await;
    h.sign_in_with_totp(&user).await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let code = wrong_code(&h.totp_code(&user.secret));
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &code).await,
        "invalid_code",
    );
    assert!(
        h.mfa.checkpoint_audit().await.expect("checkpoint"),
        "the chains moved, so a checkpoint is written"
    );
    let (_, events) = data_chain(&*h.store).await;
    assert!(events.len() >= 6, "a chain of {} events", events.len());
}

async fn problems<S: Store>(h: &Harness<S>) -> Vec<AuditProblem> {
    h.mfa.verify_audit().await.expect("verify_audit").problems
}

/// Every event the engine writes is linked, and an untouched log verifies:
/// each chain without a gap, each checkpoint signed and met.
pub async fn untouched_log_verifies_intact<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(store);
    activity(&h).await;
    let report = h.mfa.verify_audit().await.expect("verify_audit");
    assert!(report.is_intact(), "{:?}", report.problems);
    let written = h.audit().await;
    assert!(
        written.iter().all(|e| e.link.is_some()),
        "every event linked"
    );
    assert_eq!(report.events, written.len() as u64);
    assert!(report.checkpoints >= 1, "{report:?}");
    assert_eq!(report.unlinked, 0);
    assert!(
        !h.mfa.checkpoint_audit().await.expect("checkpoint"),
        "nothing moved since the last checkpoint"
    );
}

/// Steps that commit at the same time write on chains of their own; every
/// chain stays without a gap.
pub async fn concurrent_steps_link_without_gaps<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(store);
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(h.user_with_totp(&format!("user{i}")).await);
    }
    let tickets = futures::future::join_all(users.iter().map(|u| h.mfa_ticket(&u.user))).await;
    h.next_step();
    let h = &h;
    let verified = futures::future::join_all(users.iter().zip(&tickets).map(|(u, ticket)| {
        let code = h.totp_code(&u.secret);
        async move { h.verify(ticket, FactorKind::Totp, &code).await }
    }))
    .await;
    assert!(verified.iter().all(Result::is_ok), "{verified:?}");
    h.mfa.checkpoint_audit().await.expect("checkpoint");
    let report = h.mfa.verify_audit().await.expect("verify_audit");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.events, h.audit().await.len() as u64);
}

/// A step rolled back after an internal error writes none of its events
/// and leaves no gap: the engine's next events continue its chain.
pub async fn rolled_back_step_leaves_no_gap<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    let user = h.user_with_totp("alice").await;
    // An engine with other keys cannot open the seed: `internal`.
    let other = Harness::new(store);
    let ticket = expect_mfa_ticket(other.login(&user.user).await);
    let code = other.totp_code(&user.secret);
    expect_err(
        other.verify(&ticket, FactorKind::Totp, &code).await,
        "internal",
    );
    expect_mfa_ticket(other.login(&user.user).await);
    let (first, _) = data_chain(&*h.store).await;
    let all = chains(&*h.store).await;
    let mine: Vec<AuditChainId> = all.keys().copied().filter(|c| *c != first).collect();
    assert_eq!(mine.len(), 1, "the other engine wrote one chain");
    let problems = problems(&other).await;
    assert!(
        problems.iter().all(|p| p.chain() != Some(mine[0])),
        "the other engine's chain verifies: {problems:?}"
    );
    let seqs: Vec<u64> = all[&mine[0]]
        .iter()
        .filter_map(|e| e.link.map(|l| l.seq))
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

/// An event whose field was changed in the database is reported as
/// altered, at its position, and nothing else is.
pub async fn edited_event_is_reported_altered<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let (chain, events) = data_chain(&*store).await;
    let id = id_at(&events, 3);
    let outcome = events[2].outcome;
    let other = if outcome == crate::model::AuditOutcome::Success {
        "failure"
    } else {
        "success"
    };
    store.tamper_set_outcome(id, other).await;
    assert_eq!(
        problems(&h).await,
        [AuditProblem::Altered { chain, seq: 3, id }]
    );
}

/// A deleted event leaves a gap, reported as missing.
pub async fn deleted_event_is_reported_missing<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let (chain, events) = data_chain(&*store).await;
    store.tamper_delete(&[id_at(&events, 3)]).await;
    assert_eq!(
        problems(&h).await,
        [AuditProblem::Missing {
            chain,
            from: 3,
            to: 3
        }]
    );
}

/// Deleting a chain's newest events leaves no gap; the checkpoint that
/// covered them reports the chain truncated.
pub async fn deleted_tail_is_reported_truncated<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let (chain, events) = data_chain(&*store).await;
    let last = events.len() as u64;
    store
        .tamper_delete(&[id_at(&events, last - 1), id_at(&events, last)])
        .await;
    assert_eq!(
        problems(&h).await,
        [AuditProblem::Truncated {
            chain,
            last: last - 2,
            checkpointed: last
        }]
    );
}

/// Two events whose positions were swapped: the event of the first
/// position is reported found at the second.
pub async fn reordered_events_are_reported_reordered<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let (chain, events) = data_chain(&*store).await;
    store
        .tamper_swap_positions(id_at(&events, 2), id_at(&events, 3))
        .await;
    let problems = problems(&h).await;
    assert_eq!(
        problems.first(),
        Some(&AuditProblem::Reordered {
            chain,
            seq: 2,
            found_at: 3
        }),
        "{problems:?}"
    );
}

/// A copy of an old event appended at the end of its chain (a new id, the
/// old link) is reported as a replay of the original.
pub async fn replayed_event_is_reported_replayed<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let (chain, events) = data_chain(&*store).await;
    let mut copy = events[1].clone();
    copy.id = AuditEventId::new();
    let mut link = copy.link.expect("linked");
    link.seq = events.len() as u64 + 1;
    copy.link = Some(link);
    store.append_audit(&copy).await.expect("a raw insert");
    assert_eq!(
        problems(&h).await,
        [AuditProblem::Replayed {
            chain,
            seq: link.seq,
            id: copy.id,
            of: 2
        }]
    );
}

/// An event written into the store around the engine carries no link; one
/// newer than the chains is reported.
pub async fn event_written_around_the_engine_is_reported_unlinked<S: TamperableStore>(
    store: Arc<S>,
) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let forged = AuditEvent::new(
        AuditKind::MfaReset,
        crate::model::AuditOutcome::Success,
        h.now(),
    );
    store.append_audit(&forged).await.expect("a raw insert");
    let report = h.mfa.verify_audit().await.expect("verify_audit");
    assert_eq!(report.unlinked, 1);
    assert!(
        matches!(
            report.problems.as_slice(),
            [AuditProblem::Unlinked { count: 1, .. }]
        ),
        "{:?}",
        report.problems
    );
}

/// A checkpoint signed with another key (vouching for a cut chain) is
/// reported, and vouches for nothing.
pub async fn forged_checkpoint_is_reported<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    activity(&h).await;
    let (chain, events) = data_chain(&*store).await;
    let stranger = crate::crypto::KeyRing::generate();
    let mut forged = AuditEvent::new(
        AuditKind::AuditCheckpoint,
        crate::model::AuditOutcome::Success,
        h.now(),
    );
    let claim = crate::audit::ChainHead {
        chain,
        seq: events.len() as u64 + 5,
        mac: crate::model::AuditMac::from_array([7; 32]),
    };
    forged.metadata = crate::audit::checkpoint_metadata(&stranger, &[claim]);
    let forged_chain = AuditChainId::new();
    crate::audit::link_events_for_tests(&stranger, forged_chain, &mut forged);
    store.append_audit(&forged).await.expect("a raw insert");
    assert_eq!(
        problems(&h).await,
        [
            AuditProblem::BadCheckpoint { id: forged.id },
            AuditProblem::Altered {
                chain: forged_chain,
                seq: 1,
                id: forged.id
            },
        ]
    );
}

/// An instance that stopped cannot vouch for its own newest checkpoint;
/// the next instance opened on the store does, in its first checkpoint, so
/// deleting the stopped instance's last checkpoint (and with it the claims
/// on the events it covered) is reported as a truncation.
pub async fn stopped_instance_tail_is_vouched_for_by_the_next<S: TamperableStore>(store: Arc<S>) {
    let keys = || {
        crate::crypto::KeyRing::builder()
            .aead_key(1, &[0x51; 32])
            .current(1)
            .root_secret(&[0x50; 32])
            .build()
            .expect("a valid key ring")
    };
    let first = Harness::open_with_keys(Arc::clone(&store), keys())
        .await
        .expect("the first instance opens");
    activity(&first).await;
    let bob = first.user_with_totp("bob").await;
    first.sign_in_with_totp(&bob).await;
    assert!(first.mfa.checkpoint_audit().await.expect("checkpoint"));
    drop(first);
    let (chain, checkpoints) = chains(&*store)
        .await
        .into_iter()
        .find(|(_, events)| events.iter().all(|e| e.kind == AuditKind::AuditCheckpoint))
        .expect("the first instance wrote a checkpoint chain");
    let last = checkpoints.len() as u64;
    assert!(last >= 2, "two checkpoints, {last} found");

    let next = Harness::open_with_keys(Arc::clone(&store), keys())
        .await
        .expect("the next instance opens");
    assert!(
        next.mfa.checkpoint_audit().await.expect("checkpoint"),
        "the next instance has the stopped one's checkpoints to vouch for"
    );
    assert!(problems(&next).await.is_empty());
    store.tamper_delete(&[id_at(&checkpoints, last)]).await;
    assert_eq!(
        problems(&next).await,
        [AuditProblem::Truncated {
            chain,
            last: last - 1,
            checkpointed: last
        }]
    );
}

/// Activity on two days (the first day's events before `cut`), covered by
/// checkpoints.
async fn two_days<S: Store>(h: &Harness<S>) -> chrono::DateTime<chrono::Utc> {
    activity(h).await;
    let cut = h.now() + chrono::TimeDelta::hours(1);
    h.advance(chrono::TimeDelta::days(1));
    let user = h.user_with_totp("bob").await;
    h.sign_in_with_totp(&user).await;
    h.mfa.checkpoint_audit().await.expect("checkpoint");
    cut
}

/// Archives before `before` into memory.
async fn archive<S: Store>(
    h: &Harness<S>,
    before: chrono::DateTime<chrono::Utc>,
) -> (Vec<u8>, crate::audit::archive::ArchiveSummary) {
    let mut file = Vec::new();
    let summary = h
        .mfa
        .archive_audit(before, &mut file)
        .await
        .expect("archive_audit");
    (file, summary)
}

async fn archive_report<S: Store>(h: &Harness<S>, file: &[u8]) -> crate::audit::AuditReport {
    h.mfa
        .verify_audit_archive(|| Ok(file))
        .expect("reading from memory")
}

/// An archive holds every event before its instant and verifies on its
/// own; the store keeps the rest, and still verifies across the cut.
pub async fn archive_round_trip_verifies_and_the_store_stays_intact<S: TamperableStore>(
    store: Arc<S>,
) {
    let h = Harness::new(Arc::clone(&store));
    // An event of before the chains existed (an upgraded database).
    let legacy = AuditEvent::new(
        AuditKind::UserCreated,
        crate::model::AuditOutcome::Success,
        h.now() - chrono::TimeDelta::days(1),
    );
    store.append_audit(&legacy).await.expect("a raw insert");
    let cut = two_days(&h).await;
    let before: Vec<AuditEvent> = h.audit().await;
    let (old, new): (Vec<_>, Vec<_>) = before.iter().partition(|e| e.at < cut);
    let (file, summary) = archive(&h, cut).await;
    assert_eq!(summary.manifest.events, old.len() as u64);
    assert_eq!(summary.linked, old.len() as u64 - 1);
    assert_eq!(summary.unlinked, 1, "the legacy event is archived too");
    assert!(summary.bytes > 0 && summary.bytes == file.len() as u64);
    let report = archive_report(&h, &file).await;
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.events, old.len() as u64 - 1);
    assert_eq!(report.unlinked, 1);
    assert!(
        report.checkpoints >= 1,
        "the first day's checkpoint is archived"
    );
    let kept = h.audit().await;
    assert!(
        kept.iter().all(|e| e.at >= cut),
        "the archived events are removed"
    );
    assert_eq!(
        kept.len(),
        new.len() + 1,
        "the rest is kept, with the cut record"
    );
    assert!(kept.iter().any(|e| e.kind == AuditKind::AuditArchived));
    let report = h.mfa.verify_audit().await.expect("verify_audit");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.archives, 1);
    assert_eq!(report.unlinked, 0, "the legacy event is removed");
    // The file is gzip JSON Lines: header, events, trailer.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&file[..]), &mut text)
        .expect("gzip");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines[0]["format"], crate::audit::archive::FORMAT);
    assert_eq!(lines.len(), old.len() + 2);
    assert!(lines[lines.len() - 1]["manifest"]["signature"].is_string());
}

/// A second archive starts each chain where the first cut it; both
/// verify, and so does the store.
pub async fn second_archive_continues_the_chains<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(store);
    let first_cut = two_days(&h).await;
    let (first, _) = archive(&h, first_cut).await;
    let second_cut = h.now() + chrono::TimeDelta::hours(1);
    h.advance(chrono::TimeDelta::days(1));
    let user = h.user_with_totp("cara").await;
    h.sign_in_with_totp(&user).await;
    h.mfa.checkpoint_audit().await.expect("checkpoint");
    let (second, summary) = archive(&h, second_cut).await;
    assert!(
        !summary.manifest.starts.is_empty(),
        "a chain of the first archive goes on in the second"
    );
    for file in [&first, &second] {
        let report = archive_report(&h, file).await;
        assert!(report.is_intact(), "{:?}", report.problems);
    }
    let report = h.mfa.verify_audit().await.expect("verify_audit");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(h.audit().await.iter().all(|e| e.at >= second_cut));
}

/// An archive whose event was edited, or that was cut short, is reported.
pub async fn tampered_archive_is_reported<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(store);
    let cut = two_days(&h).await;
    let (file, _) = archive(&h, cut).await;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&file[..]), &mut text)
        .expect("gzip");
    let gzip = |text: &str| {
        let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut out, text.as_bytes()).expect("gzip");
        out.finish().expect("gzip")
    };
    // An outcome flipped in the third event.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut event: AuditEvent = serde_json::from_str(&lines[3]).expect("an event line");
    event.outcome = if event.outcome == crate::model::AuditOutcome::Success {
        crate::model::AuditOutcome::Failure
    } else {
        crate::model::AuditOutcome::Success
    };
    lines[3] = serde_json::to_string(&event).expect("json");
    let edited = gzip(&(lines.join("\n") + "\n"));
    let report = archive_report(&h, &edited).await;
    let link = event.link.expect("linked");
    assert!(
        report.problems.contains(&AuditProblem::Altered {
            chain: link.chain,
            seq: link.seq,
            id: event.id
        }),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, AuditProblem::BadArchive { .. })),
        "the digest no longer matches: {:?}",
        report.problems
    );
    // The trailer gone.
    let lines: Vec<&str> = text.lines().collect();
    let short = gzip(&(lines[..lines.len() - 1].join("\n") + "\n"));
    let report = archive_report(&h, &short).await;
    assert!(
        matches!(
            report.problems.as_slice(),
            [AuditProblem::BadArchive { .. }]
        ),
        "{:?}",
        report.problems
    );
}

/// Removing the cut record leaves every cut chain without its start.
pub async fn removed_cut_record_is_reported<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    let cut = two_days(&h).await;
    let (_, summary) = archive(&h, cut).await;
    let record = h
        .audit()
        .await
        .into_iter()
        .find(|e| e.kind == AuditKind::AuditArchived)
        .expect("the cut record");
    store.tamper_delete(&[record.id]).await;
    let problems = problems(&h).await;
    let continued = summary.manifest.ends.iter().find(|end| {
        problems.iter().any(|p| {
            *p == AuditProblem::Missing {
                chain: end.chain,
                from: 1,
                to: end.seq,
            }
        })
    });
    assert!(
        continued.is_some(),
        "a cut chain that goes on is missing its start: {problems:?}"
    );
}

/// Erasing a deleted user's data (GDPR) empties the personal fields of
/// their events and the chains still verify, counting the erased events; a
/// live user cannot be erased; an erased event changed afterwards is still
/// reported altered.
pub async fn erased_user_leaves_the_chains_verifiable<S: TamperableStore>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    let user = h.user_with_totp("erin").await;
    let other = h.user_with_totp("olga").await;
    h.sign_in_with_totp(&user).await;
    h.sign_in_with_totp(&other).await;
    h.mfa.checkpoint_audit().await.expect("checkpoint");
    let of_user = |id| crate::store::AuditFilter {
        user_id: Some(id),
        ..crate::store::AuditFilter::default()
    };
    let before = h.audit_matching(&of_user(user.user.id)).await;
    assert!(
        before
            .iter()
            .any(|e| e.ip.is_some() && e.user_agent.is_some()),
        "the sign-in recorded the client"
    );
    let others = h.audit_matching(&of_user(other.user.id)).await;

    expect_err(h.mfa.erase_user_data(user.user.id).await, "conflict");
    h.mfa.delete_user(user.user.id).await.expect("delete_user");
    let ids: Vec<AuditEventId> = h
        .audit_matching(&of_user(user.user.id))
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    let done = h
        .mfa
        .as_operator("dpo")
        .expect("operator")
        .erase_user_data(user.user.id)
        .await
        .expect("erase_user_data");
    assert_eq!((done.erased, done.kept), (ids.len() as u64, 0));
    assert!(h.audit_matching(&of_user(user.user.id)).await.is_empty());
    assert_eq!(
        h.audit_matching(&of_user(other.user.id)).await,
        others,
        "another user's events are untouched"
    );
    let all = h.audit().await;
    let erased: Vec<&AuditEvent> = all.iter().filter(|e| ids.contains(&e.id)).collect();
    assert_eq!(erased.len(), ids.len(), "erased events stay in the log");
    assert!(erased.iter().all(|e| e.personal_fields_empty()));
    let record = all
        .iter()
        .find(|e| e.kind == AuditKind::UserDataErased)
        .expect("the erasure is audited");
    assert_eq!(record.user_id, None, "the record names no user");
    assert_eq!(record.metadata["events"], ids.len());
    assert_eq!(record.metadata["operator"], "dpo");

    let report = h.mfa.verify_audit().await.expect("verify_audit");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.erased, ids.len() as u64);

    // Erased is not a licence to edit: the other fields stay covered.
    let target = erased
        .iter()
        .find(|e| e.kind != AuditKind::AuditCheckpoint)
        .expect("an erased step event");
    let link = target.link.expect("linked");
    let flipped = if target.outcome == crate::model::AuditOutcome::Success {
        "failure"
    } else {
        "success"
    };
    store.tamper_set_outcome(target.id, flipped).await;
    assert_eq!(
        problems(&h).await,
        [AuditProblem::Altered {
            chain: link.chain,
            seq: link.seq,
            id: target.id
        }]
    );
}
