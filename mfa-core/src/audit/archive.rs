//! Archives of the audit log: the events before an instant, exported to a
//! gzip-compressed JSON Lines file that verifies on its own, then removed
//! from the store without breaking the chains.
//!
//! # The file
//!
//! Read it with ordinary tools (`zcat audit.jsonl.gz | jq .`): one JSON
//! object per line.
//!
//! 1. A header: `{"format":"mfa-rs-audit-archive","version":1,"before":…,"created_at":…}`.
//! 2. The linked events, ordered by chain and position, each as the
//!    engine's [`AuditEvent`] JSON (with its `link`), then the events
//!    without a link (written before chains existed).
//! 3. A trailer: `{"manifest":{…}}`, the [`ArchiveManifest`]: the instant,
//!    the number of events, where each chain starts (the position and mac
//!    before its first event here, when an older archive holds the
//!    beginning) and ends, the SHA-256 of every line before the trailer,
//!    and an HMAC-SHA256 signature over all of it with the checkpoint
//!    sub-key of the key ring.
//!
//! Within a chain time never goes backwards (the engine only extends a
//! chain with events at least as new as its newest), so the events before
//! an instant are a prefix of every chain: an archive cuts each chain in
//! one place.
//!
//! # The cut
//!
//! Once the file is written, the engine records the cut in the store: an
//! [`AuditKind::AuditArchived`] event (itself linked) whose signed metadata
//! lists, for every chain ever cut, its last archived position and mac.
//! Then the archived events are removed. A verification of the store starts
//! each cut chain after its cut, so the chain stays verifiable across it;
//! removing the cut record shows as the missing start of every cut chain.

use super::{
    AuditProblem, AuditReport, AuditVerifier, ChainHead, heads_of, sign_canonical, signed_canonical,
};
use crate::crypto::KeyRing;
use crate::model::audit::mac_hex;
use crate::model::{AuditEvent, AuditKind, AuditMac};
use crate::store::{AuditFilter, AuditRepository, ChainPosition, PageRequest, StoreResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};

/// The `format` of an archive's header.
pub const FORMAT: &str = "mfa-rs-audit-archive";

/// The `version` of the archive format this crate writes and reads.
pub const VERSION: u32 = 1;

/// Events read per store call while exporting.
const EXPORT_BATCH: u32 = 2_000;

/// An archive file's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    before: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// The signed summary at the end of an archive file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    /// Every event before this instant (and after the previous archive's
    /// cut) is in the file.
    pub before: DateTime<Utc>,
    /// Events in the file.
    pub events: u64,
    /// For each chain that an older archive began: the position and mac
    /// just before its first event here.
    pub starts: Vec<ChainHead>,
    /// For each chain in the file: its last position and mac here.
    pub ends: Vec<ChainHead>,
    /// SHA-256 (hex) of every line before the trailer, newlines included.
    pub sha256: String,
    /// HMAC-SHA256 of the rest, with the checkpoint sub-key.
    #[serde(with = "mac_hex")]
    pub signature: AuditMac,
}

/// The trailer line.
#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    manifest: ArchiveManifest,
}

/// The signed metadata of an [`AuditKind::AuditArchived`] event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CutRecord {
    /// The archive's instant.
    before: DateTime<Utc>,
    /// The archive's SHA-256 (its manifest's `sha256`).
    archive_sha256: String,
    /// For every chain ever cut: its last archived position and mac.
    cuts: Vec<ChainHead>,
    #[serde(with = "mac_hex")]
    signature: AuditMac,
}

/// `value` as JSON without its `signature` field: what is signed.
fn unsigned<T: Serialize>(value: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("signature");
    }
    value
}

/// Signs `value` (its `signature` field left out) under `label`.
fn sign<T: Serialize>(keys: &KeyRing, label: &str, value: &T) -> AuditMac {
    sign_canonical(keys, &format!("{label}\n"), &unsigned(value))
}

/// Whether `signature` is [`sign`]'s of `value` under any root of `keys`.
fn signed<T: Serialize>(keys: &KeyRing, label: &str, value: &T, signature: &AuditMac) -> bool {
    signed_canonical(keys, &format!("{label}\n"), &unsigned(value), signature)
}

const MANIFEST_LABEL: &str = "mfa-rs/v1/audit-archive-manifest";
const CUT_LABEL: &str = "mfa-rs/v1/audit-archive-cut";

/// The cuts a cut record vouches for, if its signature verifies.
pub(crate) fn cut_heads(keys: &KeyRing, event: &AuditEvent) -> Option<Vec<ChainHead>> {
    let record: CutRecord = serde_json::from_value(event.metadata.clone()).ok()?;
    signed(keys, CUT_LABEL, &record, &record.signature).then_some(record.cuts)
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSummary {
    /// The file's signed manifest.
    pub manifest: ArchiveManifest,
    /// Linked events written.
    pub linked: u64,
    /// Events without a link written.
    pub unlinked: u64,
    /// Bytes of the compressed file.
    pub bytes: u64,
}

/// Why an export refused to archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Writing the file failed.
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
    /// The events to archive do not verify: a tampered log is not archived
    /// (and so not removed); verify the store to see what is wrong.
    #[error("the events to archive do not verify: {0}")]
    Tampered(AuditProblem),
    /// The instant is in the future: only the past can be archived.
    #[error("cannot archive up to {0}: it is in the future")]
    Future(DateTime<Utc>),
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes lines into the gzip stream and their SHA-256.
struct Lines<W: Write> {
    gzip: flate2::write::GzEncoder<Counting<W>>,
    digest: Sha256,
}

impl<W: Write> Lines<W> {
    fn line<T: Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.digest.update(&line);
        self.gzip.write_all(&line)
    }
}

/// The cuts of the newest cut record of `store` that verifies (empty when
/// nothing was archived yet).
async fn current_cuts(store: &dyn AuditRepository, keys: &KeyRing) -> StoreResult<Vec<ChainHead>> {
    let filter = AuditFilter {
        kinds: vec![AuditKind::AuditArchived],
        ..AuditFilter::default()
    };
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = store.query_audit(&filter, &page).await?;
        if let Some(cuts) = found.items.iter().find_map(|e| cut_heads(keys, e)) {
            return Ok(cuts);
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => return Ok(Vec::new()),
        }
    }
}

/// An export's outcome, before the cut is recorded.
pub(crate) struct Exported {
    pub(crate) summary: ArchiveSummary,
    /// The cut record to write (every chain ever cut).
    pub(crate) cut: AuditEvent,
    /// The events to remove once the cut is recorded.
    pub(crate) remove: Vec<ChainPosition>,
}

/// Writes every event of `store` before `before` to `out` (see the module
/// docs), checking each chain's links as it goes, and prepares the cut
/// record; removes nothing.
pub(crate) async fn export<W: Write>(
    store: &dyn AuditRepository,
    keys: &KeyRing,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    out: W,
) -> Result<Exported, ArchiveError> {
    if before > now {
        return Err(ArchiveError::Future(before));
    }
    let previous = current_cuts(store, keys).await?;
    let mut check = AuditVerifier::new(keys);
    check.anchors = heads_of(&previous);
    let mut lines = Lines {
        gzip: flate2::write::GzEncoder::new(
            Counting {
                inner: out,
                bytes: 0,
            },
            flate2::Compression::default(),
        ),
        digest: Sha256::new(),
    };
    lines.line(&Header {
        format: FORMAT.into(),
        version: VERSION,
        before,
        created_at: now,
    })?;
    let mut ends: BTreeMap<crate::model::AuditChainId, ChainHead> = BTreeMap::new();
    let mut starts: Vec<ChainHead> = Vec::new();
    let mut linked = 0u64;
    let mut after: Option<ChainPosition> = None;
    loop {
        let batch = store
            .scan_audit_chains(after, Some(before), EXPORT_BATCH)
            .await?;
        let full = batch.len() == EXPORT_BATCH as usize;
        for event in batch {
            let Some(link) = event.link else { continue };
            after = Some(ChainPosition {
                chain: link.chain,
                seq: link.seq,
            });
            if !ends.contains_key(&link.chain)
                && let Some(start) = previous.iter().find(|h| h.chain == link.chain)
            {
                starts.push(*start);
            }
            ends.insert(
                link.chain,
                ChainHead {
                    chain: link.chain,
                    seq: link.seq,
                    mac: link.mac,
                },
            );
            lines.line(&event)?;
            linked += 1;
            check.event(event);
        }
        if !full {
            break;
        }
    }
    let report = check.finish();
    if let Some(problem) = report.problems.into_iter().next() {
        return Err(ArchiveError::Tampered(problem));
    }
    let mut unlinked = 0u64;
    let filter = AuditFilter {
        to: Some(before),
        linked: Some(false),
        ..AuditFilter::default()
    };
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = store.query_audit(&filter, &page).await?;
        for event in &found.items {
            lines.line(event)?;
            unlinked += 1;
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let ends: Vec<ChainHead> = ends.into_values().collect();
    let mut manifest = ArchiveManifest {
        before,
        events: linked + unlinked,
        starts,
        ends: ends.clone(),
        sha256: data_encoding::HEXLOWER.encode(&lines.digest.clone().finalize()),
        signature: AuditMac::from_array([0; 32]),
    };
    manifest.signature = sign(keys, MANIFEST_LABEL, &manifest);
    let mut gzip = lines.gzip;
    let trailer = Trailer {
        manifest: manifest.clone(),
    };
    let mut line = serde_json::to_vec(&trailer).map_err(std::io::Error::other)?;
    line.push(b'\n');
    gzip.write_all(&line)?;
    let mut counted = gzip.finish()?;
    counted.flush()?;
    let mut cuts = heads_of(&previous);
    super::merge_heads(&mut cuts, &ends);
    let mut cuts: Vec<ChainHead> = cuts
        .into_iter()
        .map(|(chain, (seq, mac))| ChainHead { chain, seq, mac })
        .collect();
    cuts.sort_unstable_by_key(|h| h.chain);
    let mut record = CutRecord {
        before,
        archive_sha256: manifest.sha256.clone(),
        cuts,
        signature: AuditMac::from_array([0; 32]),
    };
    record.signature = sign(keys, CUT_LABEL, &record);
    let mut cut = AuditEvent::new(
        AuditKind::AuditArchived,
        crate::model::AuditOutcome::Success,
        now,
    );
    cut.metadata = serde_json::to_value(&record).unwrap_or(serde_json::Value::Null);
    Ok(Exported {
        summary: ArchiveSummary {
            manifest,
            linked,
            unlinked,
            bytes: counted.bytes,
        },
        cut,
        remove: ends
            .iter()
            .map(|h| ChainPosition {
                chain: h.chain,
                seq: h.seq,
            })
            .collect(),
    })
}

fn bad(reason: impl Into<String>) -> AuditProblem {
    AuditProblem::BadArchive {
        reason: reason.into(),
    }
}

/// Reads the archive's lines: the header, each event, the trailer.
fn read_lines<R: Read>(
    source: R,
    mut each: impl FnMut(AuditEvent),
) -> Result<(ArchiveManifest, String, u64), AuditProblem> {
    let mut reader = BufReader::new(flate2::read::GzDecoder::new(source));
    let mut digest = Sha256::new();
    let mut line = String::new();
    let mut header: Option<Header> = None;
    let mut events = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| bad(format!("unreadable: {e}")))?;
        if n == 0 {
            return Err(bad("the trailer is missing: the file was cut short"));
        }
        if header.is_none() {
            let read: Header =
                serde_json::from_str(&line).map_err(|e| bad(format!("bad header: {e}")))?;
            if read.format != FORMAT || read.version != VERSION {
                return Err(bad(format!(
                    "not a version {VERSION} archive: {} {}",
                    read.format, read.version
                )));
            }
            header = Some(read);
            digest.update(line.as_bytes());
            continue;
        }
        if line.starts_with("{\"manifest\"") {
            let trailer: Trailer =
                serde_json::from_str(&line).map_err(|e| bad(format!("bad trailer: {e}")))?;
            let sha = data_encoding::HEXLOWER.encode(&digest.finalize());
            return Ok((trailer.manifest, sha, events));
        }
        digest.update(line.as_bytes());
        let event: AuditEvent = serde_json::from_str(&line)
            .map_err(|e| bad(format!("bad event on line {}: {e}", events + 2)))?;
        events += 1;
        each(event);
    }
}

/// Verifies an archive file with the key ring its events were written
/// with: the manifest's signature and digest, every chain link, and every
/// checkpoint in it (a claim beyond the archive's end is the store's to
/// meet). `open` opens the file from its start; it is read twice.
///
/// # Errors
/// Only `open`'s own error; anything wrong with the file is a problem in
/// the report.
pub fn verify_archive<R: Read>(
    keys: &KeyRing,
    mut open: impl FnMut() -> std::io::Result<R>,
) -> std::io::Result<AuditReport> {
    let mut checkpoints = Vec::new();
    let first = read_lines(open()?, |event| {
        if matches!(
            event.kind,
            AuditKind::AuditCheckpoint | AuditKind::AuditArchived
        ) {
            checkpoints.push(event);
        }
    });
    let (manifest, sha, count) = match first {
        Ok(read) => read,
        Err(problem) => {
            return Ok(AuditReport {
                problems: vec![problem],
                ..AuditReport::default()
            });
        }
    };
    let mut verifier = AuditVerifier::for_archive(keys, &manifest.starts, &manifest.ends);
    if !signed(keys, MANIFEST_LABEL, &manifest, &manifest.signature) {
        verifier.problem(bad("the manifest's signature does not verify"));
    }
    if sha != manifest.sha256 {
        verifier.problem(bad("the lines do not match the manifest's digest"));
    }
    if count != manifest.events {
        verifier.problem(bad(format!(
            "{count} events, the manifest says {}",
            manifest.events
        )));
    }
    for checkpoint in &checkpoints {
        verifier.checkpoint(checkpoint);
    }
    let _ = read_lines(open()?, |event| verifier.event(event));
    Ok(verifier.finish())
}
