//! Growth mode's audit events: linked filler events generated here and
//! streamed into the audit log with `COPY`.
//!
//! The fillers are shaped like the engine's own: the content of each is one
//! of the template user's real events (kind, outcome, factor, client,
//! metadata), with a new id, time, user and session; and each is linked
//! into a chain with the service's own key ring (its development
//! `keys.env`) by [`mfa_core::audit::link`], exactly as the engine links
//! them. So `mfa-server audit verify` reads them as intact, and an archive
//! of them pays the verification it pays in production.
//!
//! - **Time**: spread evenly from the first day of the month three months
//!   back to an hour ago, so several monthly partitions fill and the oldest
//!   one is a whole month.
//! - **Users**: event `i` (in time order) belongs to filler user
//!   `i mod users + 1`, so every user's events are spread over the whole
//!   span; `marked` of them, evenly spaced, belong to the template user
//!   instead (the user whose audit page is measured: its events lie among
//!   the fillers, as a long-lived account's do).
//! - **Chains**: [`CHAINS`] chains written round robin, like an engine
//!   instance's pool of chains; a chain ends after
//!   [`mfa_core::audit::MAX_CHAIN_LEN`] events and a new one starts. Time
//!   never goes backwards within a chain.
//! - **Partitions**: the first event is copied alone, then
//!   `maintain_audit_partitions` (the store's own) makes the monthly
//!   partitions from its month on; the rest lands in its month directly.

use crate::Error;
use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::audit::{MAX_CHAIN_LEN, link};
use mfa_core::crypto::KeyRing;
use mfa_core::model::{AuditChainId, AuditEvent, AuditEventId, AuditMac, SessionId, UserId};
use mfa_core::store::{AuditFilter, AuditRepository, PageRequest};
use mfa_store_sqlx::PgStore;
use mfa_store_sqlx::sqlx::PgPool;
use std::fmt::Write as _;
use std::time::Instant;
use uuid::Uuid;

/// Chains written at once (an engine instance's pool of chains).
pub const CHAINS: usize = 8;

/// Bytes of `COPY` data per message sent to PostgreSQL.
const CHUNK: usize = 1 << 20;

/// The columns written, in the store's order.
const COLUMNS: &str = "id, at, user_id, session_id, device_id, kind, outcome, factor, ip, \
                       user_agent, country, risk_score, metadata, chain_id, chain_seq, chain_mac, \
                       chain_personal";

/// What to generate.
#[derive(Debug, Clone)]
pub struct AuditFill {
    /// Filler users (ids as [`seeded_uuid`] builds them).
    pub users: i64,
    /// Events per filler user.
    pub per_user: u64,
    /// The id time base of the seeded rows (`$3` of the seeding SQL).
    pub base_ms: i64,
    /// The template user: its events are the content, and it gets
    /// `marked` of the fillers.
    pub template: UserId,
    /// Fillers that belong to the template user.
    pub marked: u64,
    /// Time of the first filler.
    pub from: DateTime<Utc>,
    /// Time after the last filler.
    pub to: DateTime<Utc>,
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AuditFillReport {
    /// Events written.
    pub events: u64,
    /// Chains they form.
    pub chains: u64,
    /// Partitions `maintain_audit_partitions` made.
    pub partitions_made: u32,
    /// Seconds spent generating and linking (the generator thread).
    pub generate_s: f64,
    /// Seconds of the whole `COPY`.
    pub seconds: f64,
}

/// A seeded row id as the seeding SQL builds it (`seeded_id` in
/// [`crate::seed`]): `kind` separates tables, `g` is the filler number.
#[must_use]
pub fn seeded_uuid(base_ms: i64, kind: u16, g: i64) -> Uuid {
    let text = format!("{:012x}7{:03x}8000{:012x}", base_ms + g, kind, g);
    Uuid::parse_str(&text).unwrap_or_default()
}

/// A UUID v7-shaped event id: the millisecond of `at`, then the filler
/// number (unique per run).
fn event_id(at: DateTime<Utc>, i: u64) -> AuditEventId {
    let ms = u128::from(at.timestamp_millis().unsigned_abs()) & ((1 << 48) - 1);
    let bits = (ms << 80) | (0x7 << 76) | (0xf11 << 64) | (0b10 << 62) | u128::from(i);
    AuditEventId::from_uuid(Uuid::from_u128(bits))
}

/// Appends `text` as a `COPY` text-format field.
fn field(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn opt_field(out: &mut String, text: Option<&str>) {
    match text {
        Some(t) => field(out, t),
        None => out.push_str("\\N"),
    }
}

/// One event as a `COPY` line (the [`COLUMNS`], tab-separated).
fn copy_line(out: &mut String, event: &AuditEvent, metadata: &str) {
    let _ = write!(
        out,
        "{}\t{}\t",
        event.id,
        event.at.format("%Y-%m-%d %H:%M:%S%.6f+00")
    );
    for id in [
        event.user_id.map(|u| *u.as_uuid()),
        event.session_id.map(|s| *s.as_uuid()),
        event.device_id.map(|d| *d.as_uuid()),
    ] {
        match id {
            Some(id) => {
                let _ = write!(out, "{id}\t");
            }
            None => out.push_str("\\N\t"),
        }
    }
    field(out, event.kind.as_str());
    out.push('\t');
    field(out, event.outcome.as_str());
    out.push('\t');
    opt_field(out, event.factor.map(|f| f.as_str()));
    out.push('\t');
    opt_field(out, event.ip.as_deref());
    out.push('\t');
    opt_field(out, event.user_agent.as_deref());
    out.push('\t');
    opt_field(out, event.country.as_deref());
    out.push('\t');
    match event.risk_score {
        Some(r) => {
            let _ = write!(out, "{r}\t");
        }
        None => out.push_str("\\N\t"),
    }
    field(out, metadata);
    out.push('\t');
    match event.link {
        Some(link) => {
            let _ = write!(out, "{}\t{}\t\\\\x", link.chain, link.seq);
            out.push_str(&data_encoding::HEXLOWER.encode(link.mac.as_bytes()));
            match link.personal {
                Some(digest) => {
                    out.push_str("\t\\\\x");
                    out.push_str(&data_encoding::HEXLOWER.encode(digest.as_bytes()));
                }
                None => out.push_str("\t\\N"),
            }
        }
        None => out.push_str("\\N\t\\N\t\\N\t\\N"),
    }
    out.push('\n');
}

/// The generator: fillers in time order, linked, as `COPY` text.
struct Generator<'a> {
    fill: &'a AuditFill,
    keys: &'a KeyRing,
    templates: Vec<(AuditEvent, String)>,
    template_session: Option<SessionId>,
    total: u64,
    stride: u64,
    span_us: i64,
    /// Per chain: id, newest position and mac.
    chains: Vec<(AuditChainId, u64, Option<AuditMac>)>,
    chains_started: u64,
    next: u64,
}

impl Generator<'_> {
    /// Writes filler `i` to `out`.
    fn write(&mut self, out: &mut String) {
        let i = self.next;
        self.next += 1;
        let fill = self.fill;
        let users = u64::try_from(fill.users.max(1)).unwrap_or(1);
        let g = i64::try_from(i % users).unwrap_or(0) + 1;
        let nth = usize::try_from(i / users).unwrap_or(0) % self.templates.len();
        let marked =
            self.stride > 0 && i % self.stride == self.stride / 2 && i / self.stride < fill.marked;
        let offset = i128::from(self.span_us) * i128::from(i) / i128::from(self.total.max(1));
        let at = fill.from + TimeDelta::microseconds(i64::try_from(offset).unwrap_or(0));
        let (event, metadata) = &mut self.templates[nth];
        event.id = event_id(at, i);
        event.at = at;
        event.device_id = None;
        if marked {
            event.user_id = Some(fill.template);
            event.session_id = event.session_id.and(self.template_session);
        } else {
            event.user_id = Some(UserId::from_uuid(seeded_uuid(fill.base_ms, 1, g)));
            event.session_id = event
                .session_id
                .map(|_| SessionId::from_uuid(seeded_uuid(fill.base_ms, 2, g)));
        }
        event.link = None;
        let c = usize::try_from(i % CHAINS as u64).unwrap_or(0);
        if self.chains[c].1 >= MAX_CHAIN_LEN {
            self.chains[c] = (AuditChainId::new(), 0, None);
            self.chains_started += 1;
        }
        let (chain, seq, prev) = &mut self.chains[c];
        *seq += 1;
        let linked = link(self.keys, prev.as_ref(), *chain, *seq, event);
        event.link = Some(linked);
        *prev = Some(linked.mac);
        copy_line(out, event, metadata);
    }
}

/// Streams `fill`'s events into `{prefix}audit_events` (see the module
/// docs). The template user's own events are the content; `keys` is the
/// service's key ring.
///
/// # Errors
/// The template user has no events, or a statement fails.
pub async fn fill_audit(
    pool: &PgPool,
    prefix: &str,
    keys: KeyRing,
    fill: AuditFill,
) -> Result<AuditFillReport, Error> {
    let started = Instant::now();
    let store = PgStore::with_prefix(pool.clone(), prefix).map_err(Error::msg)?;
    let filter = AuditFilter {
        user_id: Some(fill.template),
        ..AuditFilter::default()
    };
    let page = store
        .query_audit(&filter, &PageRequest::first(PageRequest::MAX_LIMIT))
        .await
        .map_err(Error::msg)?;
    let template_session = page.items.iter().find_map(|e| e.session_id);
    let templates: Vec<(AuditEvent, String)> = page
        .items
        .into_iter()
        .rev()
        .map(|e| {
            let metadata = serde_json::to_string(&e.metadata).unwrap_or_else(|_| "{}".into());
            (e, metadata)
        })
        .collect();
    if templates.is_empty() {
        return Err(Error::msg("the template user has no audit events to copy"));
    }
    let total = u64::try_from(fill.users).unwrap_or(0) * fill.per_user;
    if total == 0 {
        return Ok(AuditFillReport::default());
    }
    let mut report = AuditFillReport {
        events: total,
        ..AuditFillReport::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(8);
    let generator_fill = fill.clone();
    let generator = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut generator = Generator {
            fill: &generator_fill,
            keys: &keys,
            templates,
            template_session,
            total,
            stride: total / generator_fill.marked.max(1),
            span_us: (generator_fill.to - generator_fill.from)
                .num_microseconds()
                .unwrap_or(0),
            chains: (0..CHAINS)
                .map(|_| (AuditChainId::new(), 0, None))
                .collect(),
            chains_started: CHAINS as u64,
            next: 0,
        };
        // The first event alone: its month's partition is made before the
        // rest arrives.
        let mut out = String::with_capacity(CHUNK + 4096);
        generator.write(&mut out);
        if tx.blocking_send(std::mem::take(&mut out)).is_err() {
            return (generator.chains_started, started.elapsed().as_secs_f64());
        }
        while generator.next < total {
            generator.write(&mut out);
            if out.len() >= CHUNK {
                let chunk = std::mem::replace(&mut out, String::with_capacity(CHUNK + 4096));
                if tx.blocking_send(chunk).is_err() {
                    break;
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.blocking_send(out);
        }
        (generator.chains_started, started.elapsed().as_secs_f64())
    });
    let statement = format!("COPY {prefix}audit_events ({COLUMNS}) FROM STDIN");
    let mut conn = pool.acquire().await?;
    let first = rx
        .recv()
        .await
        .ok_or_else(|| Error::msg("the audit generator stopped"))?;
    let mut copy = conn.copy_in_raw(&statement).await?;
    copy.send(first.into_bytes()).await?;
    copy.finish().await?;
    report.partitions_made = store
        .maintain_audit_partitions(Utc::now())
        .await
        .map_err(Error::msg)?;
    eprintln!(
        "seed: audit_events: {} monthly partitions made from {}",
        report.partitions_made,
        fill.from.format("%Y-%m")
    );
    let mut copy = conn.copy_in_raw(&statement).await?;
    let mut sent = 0usize;
    while let Some(chunk) = rx.recv().await {
        sent += 1;
        if sent.is_multiple_of(512) {
            eprintln!(
                "seed: audit_events: {} MiB sent, {:.0} s",
                sent,
                started.elapsed().as_secs_f64()
            );
        }
        if let Err(e) = copy.send(chunk.into_bytes()).await {
            drop(rx);
            let _ = generator.await;
            return Err(e.into());
        }
    }
    let rows = copy.finish().await? + 1;
    let (chains, generate_s) = generator.await.map_err(Error::msg)?;
    if rows != total {
        return Err(Error::msg(format!(
            "audit_events: {rows} rows copied, {total} generated"
        )));
    }
    report.chains = chains;
    report.generate_s = (generate_s * 100.0).round() / 100.0;
    report.seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::model::{AuditKind, AuditOutcome};

    #[test]
    fn seeded_ids_match_the_seeding_sql() {
        // lpad(to_hex(base + g), 12) || '7' || lpad(to_hex(kind), 3) || '8000' || lpad(to_hex(g), 12)
        assert_eq!(
            seeded_uuid(0x19a_0000_0000, 2, 0x1f).to_string(),
            "019a0000-001f-7002-8000-00000000001f"
        );
    }

    #[test]
    fn copy_lines_escape_text_and_write_the_mac_as_bytea() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap_or_default();
        let mut event = AuditEvent::new(AuditKind::PasswordLogin, AuditOutcome::Success, at);
        event.id = event_id(at, 5);
        event.user_agent = Some("a\tb\\c".into());
        let keys = KeyRing::generate();
        let chain = AuditChainId::new();
        event.link = Some(link(&keys, None, chain, 1, &event));
        let mut line = String::new();
        copy_line(&mut line, &event, "{\"x\":\"a\\nb\"}");
        let fields: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        assert_eq!(fields.len(), 17, "{line}");
        assert_eq!(fields[1], "2026-09-21 14:13:20.123456+00");
        assert_eq!(fields[2], "\\N");
        assert_eq!(fields[9], "a\\tb\\\\c");
        assert_eq!(fields[12], "{\"x\":\"a\\\\nb\"}");
        assert_eq!(fields[14], "1");
        assert!(fields[15].starts_with("\\\\x") && fields[15].len() == 3 + 64);
        assert!(fields[16].starts_with("\\\\x") && fields[16].len() == 3 + 64);
        assert!(
            event
                .id
                .to_string()
                .starts_with(&format!("{:08x}", (at.timestamp_millis() >> 16) as u32))
        );
    }
}
