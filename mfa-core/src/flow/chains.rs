//! The engine's audit chains (see [`crate::audit`]): a pool of chains this
//! instance writes, leased to one unit at a time, and the checkpoints of
//! their heads.

use super::Inner;
use crate::audit::{ChainHead, MAX_CHAIN_LEN, checkpoint_metadata, link_events};
use crate::crypto::KeyRing;
use crate::error::MfaResult;
use crate::model::{AuditChainId, AuditEvent, AuditKind, AuditMac, AuditOutcome};
use crate::store::{AuditFilter, PageRequest};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// The newest checkpoints an instance reads when it opens, to vouch for
/// the checkpoint chains of the instances before it.
const ANCHOR_CHECKPOINTS: u32 = 100;

/// A chain and its newest committed position (`None`: no event yet).
#[derive(Debug, Clone, Copy)]
struct Head {
    chain: AuditChainId,
    last: Option<(u64, AuditMac)>,
    /// The time of its newest event.
    last_at: Option<DateTime<Utc>>,
}

impl Head {
    fn new() -> Self {
        Self {
            chain: AuditChainId::new(),
            last: None,
            last_at: None,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Chains no unit holds.
    free: Vec<Head>,
    /// The chain of this instance's checkpoints (`None` while a writer
    /// holds it; made on first use).
    checkpoints: Option<Head>,
    /// Whether a writer holds the checkpoint chain.
    checkpoint_held: bool,
    /// Committed heads of data chains that no committed checkpoint covers
    /// yet.
    moved: HashMap<AuditChainId, (u64, AuditMac)>,
    /// When the last checkpoint was made (`None`: none yet).
    last_checkpoint: Option<DateTime<Utc>>,
}

/// The chains of one engine instance: data chains, leased to one writer
/// at a time, and one chain of checkpoints, so a checkpoint never sits in
/// a chain it vouches for (a cut tail would take it along).
#[derive(Debug, Default)]
pub(crate) struct Chains {
    state: Mutex<State>,
}

/// A chain held by one writer: as it was, and after the writer's events.
#[derive(Debug, Clone, Copy)]
struct Held {
    before: Head,
    after: Head,
}

impl Held {
    fn link(keys: &KeyRing, before: Head, events: &mut [AuditEvent]) -> Self {
        let last = link_events(keys, before.chain, before.last, events);
        let last_at = events.iter().map(|e| e.at).max().max(before.last_at);
        Self {
            before,
            after: Head {
                chain: before.chain,
                last,
                last_at,
            },
        }
    }
}

/// The chains held by one writer until its events are settled.
#[derive(Debug)]
pub(crate) struct Lease {
    data: Option<Held>,
    /// The checkpoint chain and the heads the writer's checkpoint covers.
    checkpoint: Option<(Held, Vec<ChainHead>)>,
}

/// How the write of a lease's events ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Every event is durable.
    Written,
    /// None is.
    Discarded,
    /// Not known (a commit that failed after it was sent): the chains are
    /// dropped, never written again.
    Unknown,
}

impl Chains {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The checkpoint chain and the heads to checkpoint, when a checkpoint
    /// is due at `now` (or `force`d), some data chain moved since the last
    /// one, and no other writer holds the checkpoint chain.
    fn due(
        &self,
        now: DateTime<Utc>,
        interval: chrono::TimeDelta,
        force: bool,
    ) -> Option<(Head, Vec<ChainHead>)> {
        let mut state = self.state();
        let last = *state.last_checkpoint.get_or_insert(now);
        if state.checkpoint_held || state.moved.is_empty() || !(force || now - last >= interval) {
            return None;
        }
        state.last_checkpoint = Some(now);
        state.checkpoint_held = true;
        let chain = state
            .checkpoints
            .take()
            .filter(|head| head.last_at.is_none_or(|at| at <= now))
            .unwrap_or_else(Head::new);
        let mut heads: Vec<ChainHead> = state
            .moved
            .iter()
            .map(|(&chain, &(seq, mac))| ChainHead { chain, seq, mac })
            .collect();
        heads.sort_unstable_by_key(|h| h.chain);
        Some((chain, heads))
    }

    /// A free data chain whose newest event is not newer than `from` (the
    /// writer's oldest event), or a new one: within a chain, time never
    /// goes backwards, so the events before any instant are a prefix of
    /// every chain (what archives and partitions cut).
    fn take(&self, from: DateTime<Utc>) -> Head {
        let mut state = self.state();
        match state
            .free
            .iter()
            .rposition(|head| head.last_at.is_none_or(|at| at <= from))
        {
            Some(i) => state.free.swap_remove(i),
            None => Head::new(),
        }
    }

    /// Makes `heads` (chains of other instances) due for this instance's
    /// next checkpoint, unless it covers them already.
    fn vouch(&self, heads: impl IntoIterator<Item = ChainHead>) {
        let mut state = self.state();
        for head in heads {
            let entry = state
                .moved
                .entry(head.chain)
                .or_insert((head.seq, head.mac));
            if entry.0 < head.seq {
                *entry = (head.seq, head.mac);
            }
        }
    }

    /// Gives a lease's chains back, as its write ended.
    fn settle(&self, lease: Lease, settled: Settled) {
        let mut state = self.state();
        if let Some(held) = lease.data {
            match settled {
                Settled::Written => {
                    if let Some(last) = held.after.last {
                        state.moved.insert(held.after.chain, last);
                        if last.0 < MAX_CHAIN_LEN {
                            state.free.push(held.after);
                        }
                    }
                }
                Settled::Discarded => state.free.push(held.before),
                Settled::Unknown => {}
            }
        }
        if let Some((held, covers)) = lease.checkpoint {
            state.checkpoint_held = false;
            match settled {
                Settled::Written => {
                    for head in &covers {
                        if state
                            .moved
                            .get(&head.chain)
                            .is_some_and(|&(seq, _)| seq == head.seq)
                        {
                            state.moved.remove(&head.chain);
                        }
                    }
                    state.checkpoints = Some(held.after);
                }
                Settled::Discarded => state.checkpoints = Some(held.before),
                // A fresh checkpoint chain is made on next use.
                Settled::Unknown => {}
            }
        }
    }
}

impl Inner {
    /// Links a writer's events (adding a checkpoint when one is due, or
    /// `force`d) and holds their chain; `None` when there is nothing to
    /// write.
    pub(crate) fn link(&self, events: &mut Vec<AuditEvent>, force: bool) -> Option<Lease> {
        let data = events
            .iter()
            .map(|e| e.at)
            .min()
            .map(|from| Held::link(&self.keys, self.chains.take(from), events));
        let now = self.clock.now();
        let checkpoint = self
            .chains
            .due(now, self.policy.audit.checkpoint_interval, force)
            .map(|(chain, covers)| {
                let mut checkpoint =
                    AuditEvent::new(AuditKind::AuditCheckpoint, AuditOutcome::Success, now);
                checkpoint.metadata = checkpoint_metadata(&self.keys, &covers);
                let held = Held::link(&self.keys, chain, std::slice::from_mut(&mut checkpoint));
                events.push(checkpoint);
                (held, covers)
            });
        (data.is_some() || checkpoint.is_some()).then_some(Lease { data, checkpoint })
    }

    /// Reads the newest checkpoints in the audit log and makes the head of
    /// each checkpoint chain among them due for this instance's first
    /// checkpoint. An instance that stopped can no longer vouch for its own
    /// last checkpoints; once the next instance's checkpoint covers them,
    /// deleting them (with the events they cover) is reported as a
    /// truncation like any other.
    pub(crate) async fn anchor_audit(&self) -> MfaResult<()> {
        let filter = AuditFilter {
            kinds: vec![AuditKind::AuditCheckpoint],
            ..AuditFilter::default()
        };
        let page = PageRequest {
            limit: ANCHOR_CHECKPOINTS,
            after: None,
        };
        let newest = self.audit_log().query_audit(&filter, &page).await?;
        // `vouch` keeps each chain's highest position.
        self.chains.vouch(
            newest
                .items
                .iter()
                .filter_map(|e| e.link)
                .map(|link| ChainHead {
                    chain: link.chain,
                    seq: link.seq,
                    mac: link.mac,
                }),
        );
        Ok(())
    }

    /// Gives a lease's chain back (see [`Settled`]).
    pub(crate) fn settle(&self, lease: Option<Lease>, settled: Settled) {
        if let Some(lease) = lease {
            self.chains.settle(lease, settled);
        }
    }

    /// Writes `events` outside any unit, one by one, on the audit log
    /// (the host's, when set), linked on a chain of their own.
    pub(crate) async fn write_audit(&self, events: Vec<AuditEvent>) -> MfaResult<()> {
        self.write_audit_with(events, false).await.map(|_| ())
    }

    /// [`Inner::write_audit`], with a checkpoint when one is due or
    /// `force`d; whether anything was written.
    pub(crate) async fn write_audit_with(
        &self,
        mut events: Vec<AuditEvent>,
        force: bool,
    ) -> MfaResult<bool> {
        let Some(lease) = self.link(&mut events, force) else {
            return Ok(false);
        };
        if let Err(e) = append_all(self.audit_log(), &events).await {
            self.settle(Some(lease), Settled::Unknown);
            return Err(e.into());
        }
        self.settle(Some(lease), Settled::Written);
        Ok(true)
    }
}

/// Appends `events` to `log` in order, stopping at the first error.
pub(crate) async fn append_all(
    log: &dyn crate::store::AuditRepository,
    events: &[AuditEvent],
) -> crate::store::StoreResult<()> {
    for event in events {
        log.append_audit(event).await?;
    }
    Ok(())
}
