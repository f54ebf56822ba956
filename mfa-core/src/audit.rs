//! The tamper-evident audit log: chains of keyed links, signed checkpoints,
//! and their verification.
//!
//! # Chains
//!
//! Every audit event the engine writes carries an [`AuditLink`]: the chain
//! it belongs to, its position `seq` (1, 2, 3, … without gaps) and
//!
//! ```text
//! mac = HMAC-SHA256(audit-link key, previous mac ‖ chain id ‖ seq ‖ content)
//! ```
//!
//! where the previous mac of position 1 is 32 zero bytes, and `content` is a
//! fixed binary encoding of every field of the event ([`content_bytes`]),
//! with the personal fields (user, IP address, user agent, country) replaced
//! by their keyed digest, kept in the link ([`personal_digest`]; bound to
//! the event's id, so two events of one person have unrelated digests).
//! Links written before digests existed cover the fields themselves and
//! still verify.
//!
//! # Erasure
//!
//! [`Mfa::erase_user_data`](crate::Mfa::erase_user_data) empties the
//! personal fields of a deleted user's events and keeps their digests: the
//! chain still verifies, and the report counts such events
//! ([`AuditReport::erased`]). A verification accepts an event whose
//! personal fields are either exactly those digested or all empty; any
//! other change of them is an alteration. Someone who can write the
//! database can therefore empty the personal fields of an event unnoticed
//! (though counted), and nothing else: the erasure itself is audited
//! (`user_data_erased`, with the number of events). Events linked before
//! digests existed cannot be erased without breaking their link: they are
//! left as they are, and counted in the erasure's result. Archive files
//! exported before an erasure keep what they hold.
//! The key is a sub-key of the key ring's root secret
//! ([`KeyRing::audit_link`]): someone who can write the database but does
//! not hold the root secret cannot compute a link, so an edited, inserted,
//! moved or copied event no longer verifies, and a deleted one leaves a gap.
//!
//! An engine instance writes through a small pool of chains of its own: a
//! unit of work takes a free chain when it commits its events, links them,
//! and gives the chain back once the commit has returned (a chain whose
//! commit failed in an unknown way is dropped, never reused). Concurrent
//! steps therefore never wait for one another on a chain row, and two
//! instances never share a chain. A chain ends after [`MAX_CHAIN_LEN`]
//! events, and when its instance stops.
//!
//! # Checkpoints
//!
//! Deleting the newest events of a chain leaves no gap. So at an interval
//! ([`AuditPolicy::checkpoint_interval`](crate::policy::AuditPolicy)) the
//! engine writes a checkpoint: an audit event of kind
//! [`AuditKind::AuditCheckpoint`] whose metadata lists the head (`seq`,
//! `mac`) of every chain of the instance that moved since the last one,
//! signed with a second sub-key ([`KeyRing::audit_checkpoint_signature`]).
//! The checkpoint is itself a linked event. A verification finds every
//! chain at least as long as its checkpoints say, with the same mac at the
//! checkpointed position; anything else is reported.
//!
//! A checkpoint chain's own newest checkpoints are vouched for by the
//! instance that comes next: [`MfaBuilder::open`](crate::MfaBuilder::open)
//! reads the newest checkpoints in the log, and the new instance's first
//! checkpoint covers the head of every checkpoint chain among them. An
//! instance that stopped (or crashed) therefore cannot lose its last
//! checkpoints, and the claims in them, without a report.
//!
//! # Guarantees
//!
//! Against a party that can change the database but holds neither the root
//! secret nor the engine's memory: an edited, inserted, copied or reordered
//! event is always found; a deleted event is found as a gap; deleted newest
//! events are found once a checkpoint covers them (up to one checkpoint
//! interval of the newest events, and the last interval of an instance
//! that stops without [`crate::Mfa::checkpoint_audit`], can be cut
//! unnoticed; an instance's newest checkpoints are covered by the next
//! instance's first checkpoint). The party holding the root secret can rewrite everything;
//! copy checkpoints out of the database to bind it too.

use crate::crypto::KeyRing;
use crate::model::{AuditChainId, AuditEvent, AuditEventId, AuditKind, AuditLink, AuditMac};
use crate::store::{AuditFilter, AuditRepository, ChainPosition, PageRequest, StoreResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

pub mod archive;

/// Events per chain; the next event starts a new chain. Bounds what a
/// verification holds in memory per chain.
pub const MAX_CHAIN_LEN: u64 = 16_384;

/// How far ahead in a chain a verification looks for the event that
/// belongs at a position that does not verify (to tell a reordering from
/// an edit).
const REORDER_WINDOW: usize = 64;

/// Events a verification reads per store call.
const SCAN_BATCH: u32 = 2_000;

/// The domain label that starts the content bytes of an event linked
/// without a digest of its personal fields.
const CONTENT_LABEL: &[u8] = b"mfa-rs/v1/audit-event\0";

/// The domain label that starts the content bytes of an event linked with
/// a digest of its personal fields.
const CONTENT_LABEL_V2: &[u8] = b"mfa-rs/v2/audit-event\0";

/// The domain label of the personal fields' digest.
const PERSONAL_LABEL: &[u8] = b"mfa-rs/v2/audit-personal\0";

fn put_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn put_id(out: &mut Vec<u8>, value: Option<&[u8; 16]>) {
    match value {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id);
        }
    }
}

/// Writes `value` as JSON with object keys sorted, so every store's
/// round trip (PostgreSQL's `jsonb` reorders keys) gives the same bytes.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The bytes of an event that its link covers: every field but the link,
/// each length-prefixed or fixed-size, the time in microseconds (what
/// every store keeps) and the metadata as JSON with sorted keys. With a
/// `personal` digest (see [`personal_digest`]; every link the engine
/// writes has one) the digest stands in for the personal fields (user,
/// IP address, user agent, country); without one (links written before
/// digests existed) the fields themselves are covered.
#[must_use]
pub fn content_bytes(event: &AuditEvent, personal: Option<&AuditMac>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_content(event, personal, &mut out);
    out
}

/// Appends [`content_bytes`] of `event` to `out`.
fn write_content(event: &AuditEvent, personal: Option<&AuditMac>, out: &mut Vec<u8>) {
    out.extend_from_slice(if personal.is_some() {
        CONTENT_LABEL_V2
    } else {
        CONTENT_LABEL
    });
    out.extend_from_slice(event.id.as_bytes());
    out.extend_from_slice(&event.at.timestamp_micros().to_be_bytes());
    match personal {
        Some(digest) => out.extend_from_slice(digest.as_bytes()),
        None => put_id(out, event.user_id.as_ref().map(|id| id.as_bytes())),
    }
    put_id(out, event.session_id.as_ref().map(|id| id.as_bytes()));
    put_id(out, event.device_id.as_ref().map(|id| id.as_bytes()));
    put_str(out, Some(event.kind.as_str()));
    put_str(out, Some(event.outcome.as_str()));
    put_str(out, event.factor.map(|f| f.as_str()));
    if personal.is_none() {
        put_str(out, event.ip.as_deref());
        put_str(out, event.user_agent.as_deref());
        put_str(out, event.country.as_deref());
    }
    match event.risk_score {
        None => out.push(0),
        Some(score) => out.extend_from_slice(&[1, score]),
    }
    let mut metadata = String::new();
    canonical_json(&event.metadata, &mut metadata);
    put_str(out, Some(&metadata));
}

/// The keyed digest of `event`'s personal fields (user, IP address, user
/// agent, country), bound to the event's id so that two events of one
/// person never share a digest:
/// `HMAC-SHA256(audit-personal key, label ‖ event id ‖ fields…)`
/// ([`KeyRing::audit_personal`]).
#[must_use]
pub fn personal_digest(keys: &KeyRing, event: &AuditEvent) -> AuditMac {
    keys.audit_personal(&[&personal_bytes(event)])
}

/// The input of [`personal_digest`].
fn personal_bytes(event: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(PERSONAL_LABEL);
    out.extend_from_slice(event.id.as_bytes());
    put_id(&mut out, event.user_id.as_ref().map(|id| id.as_bytes()));
    put_str(&mut out, event.ip.as_deref());
    put_str(&mut out, event.user_agent.as_deref());
    put_str(&mut out, event.country.as_deref());
    out
}

/// Whether `digest` is the personal digest of `event` under any root of
/// `keys`.
fn personal_verifies(keys: &KeyRing, event: &AuditEvent, digest: &AuditMac) -> bool {
    keys.audit_personal_verifies(&[&personal_bytes(event)], digest)
}

/// The mac of `event` at position `seq` of `chain`, after `prev` (`None`
/// for position 1), over its content with the `personal` digest (see
/// [`content_bytes`]).
#[must_use]
pub fn link_mac(
    keys: &KeyRing,
    prev: Option<&AuditMac>,
    chain: AuditChainId,
    seq: u64,
    event: &AuditEvent,
    personal: Option<&AuditMac>,
) -> AuditMac {
    keys.audit_link(&[&link_input(prev, chain, seq, event, personal)])
}

/// Whether `link` is the link of `event` at position `seq` after `prev`
/// under any root of `keys` (links made before a root rotation verify
/// while the old root is loaded).
fn link_verifies(
    keys: &KeyRing,
    prev: Option<&AuditMac>,
    seq: u64,
    event: &AuditEvent,
    link: &AuditLink,
) -> bool {
    let input = link_input(prev, link.chain, seq, event, link.personal.as_ref());
    keys.audit_link_verifies(&[&input], &link.mac)
}

/// What a link's mac covers: the previous mac (zeros at position 1), the
/// chain, the position and the event's content (see [`content_bytes`]).
fn link_input(
    prev: Option<&AuditMac>,
    chain: AuditChainId,
    seq: u64,
    event: &AuditEvent,
    personal: Option<&AuditMac>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(prev.map_or(&[0u8; 32], AuditMac::as_bytes).as_slice());
    out.extend_from_slice(chain.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    write_content(event, personal, &mut out);
    out
}

/// The link of `event` at position `seq` of `chain`, after `prev`, as the
/// engine writes it: with the digest of its personal fields.
#[must_use]
pub fn link(
    keys: &KeyRing,
    prev: Option<&AuditMac>,
    chain: AuditChainId,
    seq: u64,
    event: &AuditEvent,
) -> AuditLink {
    let personal = personal_digest(keys, event);
    AuditLink {
        chain,
        seq,
        mac: link_mac(keys, prev, chain, seq, event, Some(&personal)),
        personal: Some(personal),
    }
}

/// One chain's head as a checkpoint records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The chain.
    pub chain: AuditChainId,
    /// Its newest position.
    pub seq: u64,
    /// The mac at that position, hex.
    #[serde(with = "mac_hex")]
    pub mac: AuditMac,
}

use crate::model::audit::mac_hex;

/// The signed body of a checkpoint event's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CheckpointBody {
    heads: Vec<ChainHead>,
    #[serde(with = "mac_hex")]
    signature: AuditMac,
}

/// The signature, under the checkpoint sub-key, of `prefix` followed by
/// `value` as canonical JSON (checkpoints, archive manifests, cut records).
pub(crate) fn sign_canonical(keys: &KeyRing, prefix: &str, value: &serde_json::Value) -> AuditMac {
    keys.audit_checkpoint_signature(canonical_body(prefix, value).as_bytes())
}

/// Whether `signature` is [`sign_canonical`]'s of `prefix` and `value`
/// under any root of `keys`.
pub(crate) fn signed_canonical(
    keys: &KeyRing,
    prefix: &str,
    value: &serde_json::Value,
    signature: &AuditMac,
) -> bool {
    keys.audit_checkpoint_verifies(canonical_body(prefix, value).as_bytes(), signature)
}

/// `prefix` followed by `value` as canonical JSON.
fn canonical_body(prefix: &str, value: &serde_json::Value) -> String {
    let mut body = String::from(prefix);
    canonical_json(value, &mut body);
    body
}

fn checkpoint_signature(keys: &KeyRing, heads: &[ChainHead]) -> AuditMac {
    sign_canonical(keys, "", &heads_value(heads))
}

/// `heads` as JSON. Serialising plain structs of ids, numbers and hex
/// cannot fail.
fn heads_value(heads: &[ChainHead]) -> serde_json::Value {
    serde_json::to_value(heads).unwrap_or(serde_json::Value::Null)
}

/// The metadata of a checkpoint over `heads`.
#[must_use]
pub fn checkpoint_metadata(keys: &KeyRing, heads: &[ChainHead]) -> serde_json::Value {
    let body = CheckpointBody {
        heads: heads.to_vec(),
        signature: checkpoint_signature(keys, heads),
    };
    serde_json::to_value(body).unwrap_or(serde_json::Value::Null)
}

/// The heads a checkpoint event vouches for, if its signature verifies.
fn checkpoint_heads(keys: &KeyRing, event: &AuditEvent) -> Option<Vec<ChainHead>> {
    let body: CheckpointBody = serde_json::from_value(event.metadata.clone()).ok()?;
    signed_canonical(keys, "", &heads_value(&body.heads), &body.signature).then_some(body.heads)
}

/// What a verification found wrong. Positions are chain positions
/// (`seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum AuditProblem {
    /// The event at `seq` is not the one written there: a field was
    /// changed, or it was put there by someone without the key.
    Altered {
        /// The chain.
        chain: AuditChainId,
        /// The position.
        seq: u64,
        /// The event found there.
        id: AuditEventId,
    },
    /// Positions `from..=to` are missing: events were deleted.
    Missing {
        /// The chain.
        chain: AuditChainId,
        /// First missing position.
        from: u64,
        /// Last missing position.
        to: u64,
    },
    /// The event that belongs at `seq` was found at `found_at`: events
    /// were moved.
    Reordered {
        /// The chain.
        chain: AuditChainId,
        /// The position whose event is elsewhere.
        seq: u64,
        /// Where it is.
        found_at: u64,
    },
    /// The event at `seq` is a copy of the one at `of`.
    Replayed {
        /// The chain.
        chain: AuditChainId,
        /// The copy's position.
        seq: u64,
        /// The copy's id.
        id: AuditEventId,
        /// The original's position.
        of: u64,
    },
    /// The chain ends at `last` (0: no event left) but a checkpoint saw it
    /// reach `checkpointed`: its newest events were deleted.
    Truncated {
        /// The chain.
        chain: AuditChainId,
        /// Its last position now.
        last: u64,
        /// The furthest position a checkpoint recorded.
        checkpointed: u64,
    },
    /// The event at a checkpointed position is not the one the checkpoint
    /// recorded.
    CheckpointMismatch {
        /// The chain.
        chain: AuditChainId,
        /// The position.
        seq: u64,
    },
    /// An archive file that is malformed or whose manifest does not verify.
    BadArchive {
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint or cut record whose signature does not verify.
    BadCheckpoint {
        /// The checkpoint event.
        id: AuditEventId,
    },
    /// Events without a link, newer than the oldest linked event: written
    /// around the engine.
    Unlinked {
        /// How many.
        count: u64,
        /// Since when they were counted.
        since: DateTime<Utc>,
    },
}

impl AuditProblem {
    /// The chain the problem is in (`None` for a checkpoint's signature
    /// and for events without a link).
    #[must_use]
    pub fn chain(&self) -> Option<AuditChainId> {
        match self {
            Self::Altered { chain, .. }
            | Self::Missing { chain, .. }
            | Self::Reordered { chain, .. }
            | Self::Replayed { chain, .. }
            | Self::Truncated { chain, .. }
            | Self::CheckpointMismatch { chain, .. } => Some(*chain),
            Self::BadCheckpoint { .. } | Self::BadArchive { .. } | Self::Unlinked { .. } => None,
        }
    }
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Altered { chain, seq, id } => {
                write!(f, "chain {chain}: event {id} at {seq} was altered")
            }
            Self::Missing { chain, from, to } if from == to => {
                write!(f, "chain {chain}: event {from} is missing")
            }
            Self::Missing { chain, from, to } => {
                write!(f, "chain {chain}: events {from} to {to} are missing")
            }
            Self::Reordered {
                chain,
                seq,
                found_at,
            } => write!(
                f,
                "chain {chain}: the event of position {seq} was moved to {found_at}"
            ),
            Self::Replayed { chain, seq, id, of } => write!(
                f,
                "chain {chain}: event {id} at {seq} is a copy of the event at {of}"
            ),
            Self::Truncated {
                chain,
                last,
                checkpointed,
            } => write!(
                f,
                "chain {chain}: ends at {last}, but a checkpoint recorded {checkpointed}: \
                 its newest events were deleted"
            ),
            Self::CheckpointMismatch { chain, seq } => write!(
                f,
                "chain {chain}: the event at {seq} is not the one its checkpoint recorded"
            ),
            Self::BadCheckpoint { id } => {
                write!(f, "checkpoint {id}: the signature does not verify")
            }
            Self::BadArchive { reason } => write!(f, "archive: {reason}"),
            Self::Unlinked { count, since } => write!(
                f,
                "{count} events without a chain link since {since}: written around the engine"
            ),
        }
    }
}

/// The result of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Chains walked.
    pub chains: u64,
    /// Linked events read.
    pub events: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    /// Cut records (archives made) whose signature verified.
    pub archives: u64,
    /// Events without a link (written before chains existed, or around
    /// the engine).
    pub unlinked: u64,
    /// Verified events whose personal fields were erased
    /// ([`crate::Mfa::erase_user_data`]).
    #[serde(default)]
    pub erased: u64,
    /// What is wrong, chain by chain in chain order, then the checks of
    /// the whole log.
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    /// Nothing is wrong.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first problem found.
    #[must_use]
    pub fn first_problem(&self) -> Option<&AuditProblem> {
        self.problems.first()
    }
}

/// A chain's position and mac, as checkpoints, cut records and archive
/// manifests give them.
type Heads = HashMap<AuditChainId, (u64, AuditMac)>;

fn heads_of(list: &[ChainHead]) -> Heads {
    let mut heads = Heads::new();
    merge_heads(&mut heads, list);
    heads
}

/// Adds `list` to `heads`, keeping the furthest position per chain.
fn merge_heads(heads: &mut Heads, list: &[ChainHead]) {
    for head in list {
        let entry = heads.entry(head.chain).or_insert((head.seq, head.mac));
        if head.seq > entry.0 {
            *entry = (head.seq, head.mac);
        }
    }
}

/// Verifies audit events fed to it: first every checkpoint and cut record
/// ([`AuditVerifier::checkpoint`], in any order), then every linked event
/// ordered by chain and position ([`AuditVerifier::event`]). Works on any
/// source of events: a store ([`verify_store`]) or an archive
/// ([`archive::verify_archive`]).
pub struct AuditVerifier<'k> {
    keys: &'k KeyRing,
    /// Per chain: checkpointed positions and their macs.
    claims: HashMap<AuditChainId, BTreeMap<u64, AuditMac>>,
    /// Per chain: the last position archived and removed (the chain goes on
    /// after it).
    anchors: Heads,
    /// Reading an archive: where each chain of it ends (claims beyond are
    /// the store's to meet).
    bound: Option<Heads>,
    /// The events of the chain being read.
    chain: Vec<AuditEvent>,
    /// The oldest linked event's time.
    oldest: Option<DateTime<Utc>>,
    report: AuditReport,
}

impl fmt::Debug for AuditVerifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditVerifier")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl<'k> AuditVerifier<'k> {
    /// A verifier with the key ring the events were written with.
    #[must_use]
    pub fn new(keys: &'k KeyRing) -> Self {
        Self {
            keys,
            claims: HashMap::new(),
            anchors: Heads::new(),
            bound: None,
            chain: Vec::new(),
            oldest: None,
            report: AuditReport::default(),
        }
    }

    /// Reading an archive whose chains start after `starts` and end at
    /// `ends` (its signed manifest).
    pub(crate) fn for_archive(keys: &'k KeyRing, starts: &[ChainHead], ends: &[ChainHead]) -> Self {
        let mut verifier = Self::new(keys);
        verifier.anchors = heads_of(starts);
        verifier.bound = Some(heads_of(ends));
        verifier
    }

    /// Records a problem found outside the chains.
    pub(crate) fn problem(&mut self, problem: AuditProblem) {
        self.report.problems.push(problem);
    }

    /// Reads a checkpoint event (its heads become claims the chains must
    /// meet) or a cut record (where archived chains go on), if its
    /// signature verifies; other events are ignored.
    pub fn checkpoint(&mut self, event: &AuditEvent) {
        let vouched = match event.kind {
            AuditKind::AuditCheckpoint => checkpoint_heads(self.keys, event).map(|heads| {
                self.report.checkpoints += 1;
                for head in heads {
                    self.claims
                        .entry(head.chain)
                        .or_default()
                        .insert(head.seq, head.mac);
                }
            }),
            AuditKind::AuditArchived => archive::cut_heads(self.keys, event).map(|cuts| {
                self.report.archives += 1;
                merge_heads(&mut self.anchors, &cuts);
            }),
            _ => return,
        };
        if vouched.is_none() {
            self.problem(AuditProblem::BadCheckpoint { id: event.id });
        }
    }

    /// Reads the next linked event (ordered by chain, then position);
    /// events without a link are counted only.
    pub fn event(&mut self, event: AuditEvent) {
        let Some(link) = event.link else {
            self.report.unlinked += 1;
            return;
        };
        self.report.events += 1;
        self.oldest = Some(self.oldest.map_or(event.at, |t| t.min(event.at)));
        if self
            .chain
            .first()
            .and_then(|e| e.link)
            .is_some_and(|first| first.chain != link.chain)
        {
            self.end_chain();
        }
        self.chain.push(event);
    }

    /// Counts events without a link newer than the oldest linked event
    /// (see [`AuditProblem::Unlinked`]); `count` comes from the source.
    pub fn unlinked_since_oldest(&mut self, count: u64) {
        if let (Some(since), true) = (self.oldest, count > 0) {
            self.problem(AuditProblem::Unlinked { count, since });
        }
    }

    /// The oldest linked event's time, once the events are read.
    #[must_use]
    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        self.oldest
    }

    /// Ends the walk: checks the last chain and the chains that the
    /// checkpoints (or the archive's manifest) name but no event was read
    /// of.
    #[must_use]
    pub fn finish(mut self) -> AuditReport {
        self.end_chain();
        let mut gone: Vec<(AuditChainId, u64)> = Vec::new();
        for (chain, claims) in &self.claims {
            let archived = self.anchors.get(chain).map_or(0, |a| a.0);
            let limit = self
                .bound
                .as_ref()
                .map_or(u64::MAX, |b| b.get(chain).map_or(0, |e| e.0));
            if let Some(&checkpointed) = claims.keys().rev().find(|&&seq| seq <= limit)
                && checkpointed > archived
            {
                gone.push((*chain, checkpointed));
            }
        }
        if let Some(bound) = self.bound.take() {
            for (chain, (end, _)) in bound {
                if !gone.iter().any(|(c, _)| *c == chain)
                    && self.anchors.get(&chain).map_or(0, |a| a.0) < end
                {
                    gone.push((chain, end));
                }
            }
        }
        gone.sort_unstable();
        for (chain, checkpointed) in gone {
            self.report.problems.push(AuditProblem::Truncated {
                chain,
                last: self.anchors.get(&chain).map_or(0, |a| a.0),
                checkpointed,
            });
        }
        self.report
    }

    /// Whether `event` is the one written at `seq` after `prev`: its link
    /// verifies, and its personal fields are those digested or erased.
    fn verifies(&self, event: &AuditEvent, prev: Option<&AuditMac>, seq: u64) -> bool {
        event.link.is_some_and(|link| {
            link_verifies(self.keys, prev, seq, event, &link)
                && link.personal.is_none_or(|digest| {
                    event.personal_fields_empty() || personal_verifies(self.keys, event, &digest)
                })
        })
    }

    /// Whether the personal fields of `event`, a verified event, were
    /// erased (they are empty and not what was digested).
    fn erased(&self, event: &AuditEvent) -> bool {
        event
            .link
            .and_then(|link| link.personal)
            .is_some_and(|digest| {
                event.personal_fields_empty() && !personal_verifies(self.keys, event, &digest)
            })
    }

    /// Verifies the chain read so far and starts the next.
    fn end_chain(&mut self) {
        let events = std::mem::take(&mut self.chain);
        let Some(chain) = events.first().and_then(|e| e.link).map(|l| l.chain) else {
            return;
        };
        self.report.chains += 1;
        let mut claims = self.claims.remove(&chain).unwrap_or_default();
        let anchor = self.anchors.remove(&chain);
        let end = self.bound.as_mut().map(|b| b.remove(&chain));
        if let Some(end) = end {
            // An archive: its manifest's end is a claim, what lies beyond
            // it the store's.
            let limit = end.map_or(0, |(seq, _)| seq);
            claims.retain(|&seq, _| seq <= limit);
            if let Some((seq, mac)) = end {
                claims.insert(seq, mac);
            }
        }
        let mut problems = Vec::new();
        let mut prev: Option<AuditMac> = None;
        let mut expected = 1u64;
        // A chain whose first events were archived goes on after the cut.
        let first = events.first().and_then(|e| e.link).map_or(1, |l| l.seq);
        if let Some((seq, mac)) = anchor
            && first > seq
        {
            prev = Some(mac);
            expected = seq + 1;
            claims.retain(|&claimed, _| claimed > seq);
        } else if let Some((seq, mac)) = anchor {
            // Archived but not yet removed: the cut is a claim.
            claims.insert(seq, mac);
        }
        let mut seen: HashMap<AuditMac, u64> = HashMap::with_capacity(events.len());
        let mut last = expected - 1;
        for (i, event) in events.iter().enumerate() {
            let Some(link) = event.link else { continue };
            if link.seq < expected {
                // A second event at a position already read.
                problems.push(match seen.get(&link.mac) {
                    Some(&of) => AuditProblem::Replayed {
                        chain,
                        seq: link.seq,
                        id: event.id,
                        of,
                    },
                    None => AuditProblem::Altered {
                        chain,
                        seq: link.seq,
                        id: event.id,
                    },
                });
                continue;
            }
            let after_gap = link.seq > expected;
            if after_gap {
                problems.push(AuditProblem::Missing {
                    chain,
                    from: expected,
                    to: link.seq - 1,
                });
            }
            // After a gap the previous mac is unknown: the event cannot be
            // checked, and the chain goes on from its stored mac.
            let verified = !after_gap && self.verifies(event, prev.as_ref(), link.seq);
            if verified && self.erased(event) {
                self.report.erased += 1;
            }
            if !after_gap && !verified {
                let moved = events
                    .iter()
                    .skip(i + 1)
                    .take(REORDER_WINDOW)
                    .find(|other| self.verifies(other, prev.as_ref(), link.seq));
                problems.push(if let Some(&of) = seen.get(&link.mac) {
                    AuditProblem::Replayed {
                        chain,
                        seq: link.seq,
                        id: event.id,
                        of,
                    }
                } else if let Some(other) = moved {
                    AuditProblem::Reordered {
                        chain,
                        seq: link.seq,
                        found_at: other.link.map_or(0, |l| l.seq),
                    }
                } else {
                    AuditProblem::Altered {
                        chain,
                        seq: link.seq,
                        id: event.id,
                    }
                });
            }
            if let Some(claimed) = claims.get(&link.seq)
                && *claimed != link.mac
            {
                problems.push(AuditProblem::CheckpointMismatch {
                    chain,
                    seq: link.seq,
                });
            }
            seen.entry(link.mac).or_insert(link.seq);
            prev = Some(link.mac);
            expected = link.seq + 1;
            last = link.seq;
        }
        if let Some((&checkpointed, _)) = claims.last_key_value()
            && checkpointed > last
        {
            problems.push(AuditProblem::Truncated {
                chain,
                last,
                checkpointed,
            });
        }
        self.report.problems.extend(problems);
    }
}

/// Verifies every chain of `store` with `keys` (see the module docs): the
/// checkpoints first, then every linked event in chain order, then the
/// events without a link.
///
/// # Errors
/// A store error; nothing is changed.
pub async fn verify_store(store: &dyn AuditRepository, keys: &KeyRing) -> StoreResult<AuditReport> {
    let mut verifier = AuditVerifier::new(keys);
    let filter = AuditFilter {
        kinds: vec![AuditKind::AuditCheckpoint, AuditKind::AuditArchived],
        ..AuditFilter::default()
    };
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = store.query_audit(&filter, &page).await?;
        for event in &found.items {
            verifier.checkpoint(event);
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let mut after: Option<ChainPosition> = None;
    loop {
        let batch = store.scan_audit_chains(after, None, SCAN_BATCH).await?;
        let Some(last) = batch.last().and_then(|e| e.link) else {
            break;
        };
        let full = batch.len() == SCAN_BATCH as usize;
        after = Some(ChainPosition {
            chain: last.chain,
            seq: last.seq,
        });
        for event in batch {
            verifier.event(event);
        }
        if !full {
            break;
        }
    }
    let unlinked = store.count_unlinked_audit(None).await?;
    if let (Some(since), true) = (verifier.oldest(), unlinked > 0) {
        let count = store.count_unlinked_audit(Some(since)).await?;
        verifier.unlinked_since_oldest(count);
    }
    let mut report = verifier.finish();
    report.unlinked = unlinked;
    Ok(report)
}

/// Links `events` onto `head` (the chain's newest position and mac, `None`
/// for a new chain) and returns the new head.
pub(crate) fn link_events(
    keys: &KeyRing,
    chain: AuditChainId,
    mut head: Option<(u64, AuditMac)>,
    events: &mut [AuditEvent],
) -> Option<(u64, AuditMac)> {
    for event in events {
        let seq = head.map_or(1, |(seq, _)| seq + 1);
        let linked = link(keys, head.as_ref().map(|(_, mac)| mac), chain, seq, event);
        event.link = Some(linked);
        head = Some((seq, linked.mac));
    }
    head
}

/// Links one event at position 1 of `chain` with `keys`: what a forger with
/// another key ring would write. For the tamper suite.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub fn link_events_for_tests(keys: &KeyRing, chain: AuditChainId, event: &mut AuditEvent) {
    link_events(keys, chain, None, std::slice::from_mut(event));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuditOutcome;

    fn event() -> AuditEvent {
        let at = DateTime::from_timestamp_micros(1_750_000_000_123_456).unwrap_or_default();
        let mut event = AuditEvent::new(AuditKind::MfaVerification, AuditOutcome::Failure, at);
        event.metadata = serde_json::json!({ "b": [1, {"z": true, "a": null}], "a": "x" });
        event
    }

    #[test]
    fn content_is_the_same_whatever_the_key_order_of_the_metadata() {
        let one = event();
        let mut two = one.clone();
        two.metadata = serde_json::json!({ "a": "x", "b": [1, {"a": null, "z": true}] });
        assert_eq!(content_bytes(&one, None), content_bytes(&two, None));
        let mut three = one.clone();
        three.metadata = serde_json::json!({ "a": "y", "b": [1, {"a": null, "z": true}] });
        assert_ne!(content_bytes(&one, None), content_bytes(&three, None));
    }

    #[test]
    fn content_keeps_microseconds_only_as_every_store_does() {
        let one = event();
        let mut two = one.clone();
        two.at += chrono::TimeDelta::nanoseconds(999);
        assert_eq!(content_bytes(&one, None), content_bytes(&two, None));
    }

    #[test]
    fn every_field_is_covered_and_none_is_confused_with_its_neighbour() {
        let base = event();
        let mut variants = Vec::new();
        let mut e = base.clone();
        e.ip = Some("203.0.113.9".into());
        variants.push(e);
        let mut e = base.clone();
        e.user_agent = Some("203.0.113.9".into());
        variants.push(e);
        let mut e = base.clone();
        e.country = Some("DE".into());
        variants.push(e);
        let mut e = base.clone();
        e.risk_score = Some(0);
        variants.push(e);
        let mut e = base.clone();
        e.factor = Some(crate::model::FactorKind::Totp);
        variants.push(e);
        let mut e = base.clone();
        e.user_id = Some(crate::model::UserId::new());
        variants.push(e);
        let mut e = base.clone();
        e.outcome = AuditOutcome::Success;
        variants.push(e);
        let mut all: Vec<Vec<u8>> = variants.iter().map(|e| content_bytes(e, None)).collect();
        all.push(content_bytes(&base, None));
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
        // With a digest, each personal field changes the digest (and so the
        // content), and the other fields change the content directly.
        let keys = KeyRing::generate();
        let mut all: Vec<Vec<u8>> = variants
            .iter()
            .chain([&base])
            .map(|e| content_bytes(e, Some(&personal_digest(&keys, e))))
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn two_events_of_one_person_never_share_a_personal_digest() {
        let keys = KeyRing::generate();
        let mut one = event();
        one.user_id = Some(crate::model::UserId::new());
        one.ip = Some("203.0.113.9".into());
        let mut two = one.clone();
        two.id = AuditEventId::new();
        assert_ne!(personal_digest(&keys, &one), personal_digest(&keys, &two));
        assert_ne!(
            personal_digest(&keys, &one),
            personal_digest(&KeyRing::generate(), &one)
        );
    }

    /// Verifies `events` (one chain, in order) with `keys`.
    fn verify(keys: &KeyRing, events: &[AuditEvent]) -> AuditReport {
        let mut verifier = AuditVerifier::new(keys);
        for e in events.iter().cloned() {
            verifier.event(e);
        }
        verifier.finish()
    }

    #[test]
    fn erased_personal_fields_leave_the_chain_verifiable_and_edited_ones_do_not() {
        let keys = KeyRing::generate();
        let chain = AuditChainId::new();
        let mut events: Vec<AuditEvent> = (0..4)
            .map(|_| {
                let mut e = event();
                e.user_id = Some(crate::model::UserId::new());
                e.ip = Some("203.0.113.9".into());
                e.user_agent = Some("Firefox".into());
                e.country = Some("DE".into());
                e
            })
            .collect();
        link_events(&keys, chain, None, &mut events);
        assert!(
            events
                .iter()
                .all(|e| e.link.is_some_and(|l| l.personal.is_some()))
        );
        let report = verify(&keys, &events);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.erased, 0);

        let mut erased = events.clone();
        for e in &mut erased[1..3] {
            e.erase_personal_fields();
        }
        let report = verify(&keys, &erased);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.events, report.erased), (4, 2));

        // Changing a personal field (rather than erasing all of them) is an
        // alteration, as is erasing only some of them to a wrong value.
        for edit in [
            |e: &mut AuditEvent| e.ip = Some("198.51.100.1".into()),
            |e: &mut AuditEvent| e.user_id = Some(crate::model::UserId::new()),
            |e: &mut AuditEvent| e.country = None,
        ] {
            let mut edited = events.clone();
            edit(&mut edited[2]);
            let report = verify(&keys, &edited);
            assert_eq!(
                report.problems,
                vec![AuditProblem::Altered {
                    chain,
                    seq: 3,
                    id: edited[2].id
                }]
            );
        }
        // An erased event whose other fields were changed is altered too.
        let mut edited = erased.clone();
        edited[1].risk_score = Some(99);
        assert!(!verify(&keys, &edited).is_intact());
    }

    #[test]
    fn a_link_without_a_personal_digest_still_verifies_and_covers_the_fields() {
        let keys = KeyRing::generate();
        let chain = AuditChainId::new();
        let mut e = event();
        e.ip = Some("203.0.113.9".into());
        e.link = Some(AuditLink {
            chain,
            seq: 1,
            mac: link_mac(&keys, None, chain, 1, &e, None),
            personal: None,
        });
        let report = verify(&keys, std::slice::from_ref(&e));
        assert!(report.is_intact(), "{report:?}");
        e.ip = None;
        assert!(!verify(&keys, &[e]).is_intact());
    }

    #[test]
    fn a_link_depends_on_the_key_the_chain_the_position_and_the_previous_link() {
        let keys = KeyRing::generate();
        let chain = AuditChainId::new();
        let e = event();
        let mac = link(&keys, None, chain, 1, &e).mac;
        assert_eq!(mac, link(&keys, None, chain, 1, &e).mac);
        assert_ne!(mac, link(&keys, None, chain, 2, &e).mac);
        assert_ne!(mac, link(&keys, None, AuditChainId::new(), 1, &e).mac);
        assert_ne!(mac, link(&keys, Some(&mac), chain, 1, &e).mac);
        assert_ne!(mac, link(&KeyRing::generate(), None, chain, 1, &e).mac);
    }

    #[test]
    fn a_checkpoint_verifies_with_its_key_only() {
        let keys = KeyRing::generate();
        let heads = [ChainHead {
            chain: AuditChainId::new(),
            seq: 9,
            mac: AuditMac::from_array([3; 32]),
        }];
        let mut checkpoint = event();
        checkpoint.kind = AuditKind::AuditCheckpoint;
        checkpoint.metadata = checkpoint_metadata(&keys, &heads);
        assert_eq!(checkpoint_heads(&keys, &checkpoint), Some(heads.to_vec()));
        assert_eq!(checkpoint_heads(&KeyRing::generate(), &checkpoint), None);
        checkpoint.metadata["heads"][0]["seq"] = serde_json::json!(10);
        assert_eq!(checkpoint_heads(&keys, &checkpoint), None);
    }

    #[test]
    fn a_chain_read_in_memory_verifies_and_a_gap_is_reported() {
        let keys = KeyRing::generate();
        let chain = AuditChainId::new();
        let mut events: Vec<AuditEvent> = (0..5).map(|_| event()).collect();
        link_events(&keys, chain, None, &mut events);
        let mut verifier = AuditVerifier::new(&keys);
        for e in events.iter().cloned() {
            verifier.event(e);
        }
        let report = verifier.finish();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.chains, report.events), (1, 5));
        let mut verifier = AuditVerifier::new(&keys);
        for (i, e) in events.into_iter().enumerate() {
            if i != 1 && i != 2 {
                verifier.event(e);
            }
        }
        assert_eq!(
            verifier.finish().problems,
            [AuditProblem::Missing {
                chain,
                from: 2,
                to: 3
            }]
        );
    }
}
