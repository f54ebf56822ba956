//! The audit trail.

use crate::columns as cols;
use crate::driver::{Driver, Executor, Statement};
use crate::partitions::month_start;
use crate::rows::*;
use crate::sql::{Arg, params};
use crate::store::SqlStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;

/// Months before the anchor's that a page on the partitioned log probes one
/// by one (two years); older events are read by one more query.
const PAGE_MONTHS: u32 = 24;

/// A page of the partitioned audit log (PostgreSQL) as one probe per month:
/// the newest `$limit` matching events of each month from the anchor's
/// (`$month`, its first instant) back [`PAGE_MONTHS`], of everything after
/// it, and of everything before, merged.
///
/// Asked of the whole table, PostgreSQL may read all of a user's events in
/// every partition and sort them to keep 21: it estimates a user's events
/// per partition from the average user (always so in the generic plan of a
/// prepared statement), and for an account with many events that is a read
/// of all of them for every page. Each per-month probe is bounded by
/// `LIMIT` on one partition's `(user_id, at, id)` index (run-time partition
/// pruning picks the partition), so a page reads at most `$limit` rows per
/// month whatever the account's history.
fn by_month(conditions: &[String], month: usize, limit: usize) -> String {
    let probe = |bound: &str| {
        let mut all: Vec<&str> = conditions.iter().map(String::as_str).collect();
        all.push(bound);
        format!(
            "SELECT {} FROM {{p}}audit_events WHERE {} ORDER BY at DESC, id DESC LIMIT ${limit}",
            cols::AUDIT,
            all.join(" AND ")
        )
    };
    let last = PAGE_MONTHS - 1;
    format!(
        "SELECT * FROM (\
         SELECT w.* FROM generate_series(0, {last}) AS m(i) CROSS JOIN LATERAL ({}) w \
         UNION ALL ({}) UNION ALL ({})\
         ) e ORDER BY at DESC, id DESC LIMIT ${limit}",
        probe(&format!(
            "at >= ${month} - make_interval(months => m.i) \
             AND at < ${month} - make_interval(months => m.i - 1)"
        )),
        probe(&format!("at >= ${month} + interval '1 month'")),
        probe(&format!("at < ${month} - interval '{last} months'")),
    )
}

/// The columns of an audit row, in the order of [`audit_args`].
const AUDIT_COLUMNS: &str = cols::AUDIT;

/// Values per audit row.
const AUDIT_ARITY: usize = 17;

/// Audit rows per multi-row `INSERT` (17 values each: 8,500 per statement,
/// far below the bind limits of every backend).
const AUDIT_BATCH: usize = 500;

/// Events a [`AuditRepository::scan_audit_chains`] call returns at most,
/// whatever the caller asks for.
const SCAN_LIMIT: u32 = 10_000;

/// A chain position as the `BIGINT` it is stored as; one beyond `i64::MAX`
/// cannot be stored (a chain never gets there: the engine ends chains far
/// earlier).
fn chain_seq(seq: u64) -> StoreResult<i64> {
    i64::try_from(seq).map_err(|_| crate::error::backend("audit chain position out of range", None))
}

/// The values of an audit row's columns before the chain's (those of
/// schema version 5), in order.
pub(crate) fn content_args(event: &AuditEvent) -> [Arg; 13] {
    [
        uuid_of(event.id),
        Arg::Ts(event.at),
        opt_uuid(event.user_id),
        opt_uuid(event.session_id),
        opt_uuid(event.device_id),
        text(event.kind.as_str()),
        text(event.outcome.as_str()),
        Arg::OptText(event.factor.map(|f| f.as_str().to_owned())),
        opt_text(&event.ip),
        opt_text(&event.user_agent),
        opt_text(&event.country),
        Arg::OptI32(event.risk_score.map(i32::from)),
        Arg::Json(event.metadata.clone()),
    ]
}

/// The values of an audit row, in the order of [`AUDIT_COLUMNS`]; an
/// event without a link has NULL in the four chain columns.
fn audit_args(event: &AuditEvent, args: &mut Vec<Arg>) -> StoreResult<()> {
    let (chain, seq, mac, personal) = match &event.link {
        Some(link) => (
            Some(*link.chain.as_uuid()),
            Some(chain_seq(link.seq)?),
            Some(link.mac.as_bytes().to_vec()),
            link.personal.map(|digest| digest.as_bytes().to_vec()),
        ),
        None => (None, None, None, None),
    };
    args.extend(content_args(event));
    args.extend([
        Arg::OptUuid(chain),
        Arg::OptI64(seq),
        Arg::OptBytes(mac),
        Arg::OptBytes(personal),
    ]);
    Ok(())
}

impl<D: Driver> SqlStore<D> {
    /// The multi-row `INSERT`s (one per [`AUDIT_BATCH`]) that write `events`.
    ///
    /// # Errors
    /// A chain position that does not fit the column ([`chain_seq`]).
    fn audit_inserts(&self, events: &[AuditEvent]) -> StoreResult<Vec<Statement>> {
        events
            .chunks(AUDIT_BATCH)
            .map(|batch| {
                let mut args = Vec::with_capacity(batch.len() * AUDIT_ARITY);
                let rows: Vec<String> = (0..batch.len())
                    .map(|i| format!("({})", params(i * AUDIT_ARITY + 1, AUDIT_ARITY)))
                    .collect();
                for event in batch {
                    audit_args(event, &mut args)?;
                }
                let sql = format!(
                    "INSERT INTO {{p}}audit_events ({AUDIT_COLUMNS}) VALUES {}",
                    rows.join(", ")
                );
                Ok(self.st(&sql, args))
            })
            .collect()
    }

    /// Inside a unit of work: defers the audit events buffered so far to the
    /// unit's next statement or commit (see [`crate::unit`]). Outside one,
    /// or with nothing buffered: nothing.
    ///
    /// # Errors
    /// As [`Self::audit_inserts`]; `append_audit` checks every event before
    /// it buffers it, so a buffered event never fails here.
    pub(crate) fn flush_audit(&self) -> StoreResult<()> {
        let Some(unit) = self.unit() else {
            return Ok(());
        };
        let events = unit.take_audit();
        for insert in self.audit_inserts(&events)? {
            unit.defer(None, insert);
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Driver> AuditRepository for SqlStore<D> {
    /// Outside a unit of work one `INSERT`; inside one, buffered until the
    /// unit commits (or queries the audit trail), then written with the
    /// unit's other events in one multi-row `INSERT`.
    ///
    /// A duplicate event id, or a second event at one chain position, is a
    /// conflict (at once outside a unit, at the unit's flush inside one).
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "append_audit"))]
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        match self.unit() {
            Some(unit) => {
                // Refused now, not at the unit's commit.
                if let Some(link) = &event.link {
                    chain_seq(link.seq)?;
                }
                unit.buffer_audit(event.clone());
                Ok(())
            }
            None => {
                for insert in self.audit_inserts(std::slice::from_ref(event))? {
                    self.pool()
                        .execute(&insert)
                        .await
                        .map_err(crate::error::conflict_as(
                            "audit event id or chain position",
                        ))?;
                }
                Ok(())
            }
        }
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "query_audit"))]
    async fn query_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let mut push = |condition: &str, arg: Arg, args: &mut Vec<Arg>| {
            args.push(arg);
            conditions.push(condition.replace('#', &format!("${}", args.len())));
        };
        if let Some(user) = filter.user_id {
            push("user_id = #", uuid_of(user), &mut args);
        }
        if let Some(session) = filter.session_id {
            push("session_id = #", uuid_of(session), &mut args);
        }
        if let Some(device) = filter.device_id {
            push("device_id = #", uuid_of(device), &mut args);
        }
        if let Some(outcome) = filter.outcome {
            push("outcome = #", text(outcome.as_str()), &mut args);
        }
        if let Some(from) = filter.from {
            push("at >= #", Arg::Ts(from), &mut args);
        }
        if let Some(to) = filter.to {
            push("at < #", Arg::Ts(to), &mut args);
        }
        match filter.linked {
            Some(true) => conditions.push("chain_id IS NOT NULL".into()),
            Some(false) => conditions.push("chain_id IS NULL".into()),
            None => {}
        }
        if let Some(cursor) = page.after {
            args.push(Arg::Ts(cursor.at));
            let t = args.len();
            args.push(uuid_of(cursor.id));
            let i = args.len();
            // The leading `at <= $t` is redundant for the result but is an
            // index bound: without it the `OR` is only a filter, and each
            // page would read the index from its newest end again.
            conditions.push(format!(
                "at <= ${t} AND (at < ${t} OR (at = ${t} AND id < ${i}))"
            ));
        }
        if !filter.kinds.is_empty() {
            let start = args.len() + 1;
            for kind in &filter.kinds {
                args.push(text(kind.as_str()));
            }
            conditions.push(format!("kind IN ({})", params(start, filter.kinds.len())));
        }
        // A unit reads its own events.
        self.flush_audit()?;
        let limit = page.effective_limit();
        let sql = if self.sql_dialect().audit_partitions {
            // Anchored at the page's newest possible instant; where the
            // anchor lies only decides which months get a probe each, never
            // what the page holds.
            let anchor = [page.after.map(|c| c.at), filter.to]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(Utc::now);
            args.push(Arg::Ts(month_start(anchor, 0)));
            let month = args.len();
            args.push(Arg::I64(i64::from(limit) + 1));
            by_month(&conditions, month, args.len())
        } else {
            args.push(Arg::I64(i64::from(limit) + 1));
            let where_clause = if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            };
            format!(
                "SELECT {} FROM {{p}}audit_events {where_clause} \
                 ORDER BY at DESC, id DESC LIMIT ${}",
                cols::AUDIT,
                args.len()
            )
        };
        let mut items: Vec<AuditEvent> = self.rows(&sql, args).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = if more {
            items.last().map(|e| AuditCursor { at: e.at, id: e.id })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// One keyset query on the unique index of (`chain_id`, `chain_seq`).
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "scan_audit_chains"))]
    async fn scan_audit_chains(
        &self,
        after: Option<ChainPosition>,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut args: Vec<Arg> = Vec::new();
        let mut condition = String::from("chain_id IS NOT NULL");
        if let Some(after) = after {
            // No stored position lies beyond `i64::MAX`: past one that does
            // not fit, the chain has nothing more.
            let seq = i64::try_from(after.seq).unwrap_or(i64::MAX);
            args.extend([uuid_of(after.chain), Arg::I64(seq)]);
            // `chain_id >= $1` bounds the index scan (the `OR` alone is a
            // filter: every batch would start at the first chain again).
            condition.push_str(
                " AND chain_id >= $1 AND (chain_id > $1 OR (chain_id = $1 AND chain_seq > $2))",
            );
        }
        if let Some(before) = before {
            args.push(Arg::Ts(before));
            condition.push_str(&format!(" AND at < ${}", args.len()));
        }
        // A unit reads its own events.
        self.flush_audit()?;
        args.push(Arg::I64(i64::from(limit.clamp(1, SCAN_LIMIT))));
        let sql = format!(
            "SELECT {} FROM {{p}}audit_events WHERE {condition} \
             ORDER BY chain_id, chain_seq LIMIT ${}",
            cols::AUDIT,
            args.len()
        );
        self.rows(&sql, args).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "count_unlinked_audit"))]
    async fn count_unlinked_audit(&self, since: Option<DateTime<Utc>>) -> StoreResult<u64> {
        let (sql, args) = match since {
            Some(since) => (
                "SELECT COUNT(*) AS n FROM {p}audit_events WHERE chain_id IS NULL AND at >= $1",
                vec![Arg::Ts(since)],
            ),
            None => (
                "SELECT COUNT(*) AS n FROM {p}audit_events WHERE chain_id IS NULL",
                Vec::new(),
            ),
        };
        // A unit counts its own events.
        self.flush_audit()?;
        let n = self
            .one_on(&mut self.pool(), sql, args, |r| r.i64("n"))
            .await?;
        u64::try_from(n).map_err(|_| crate::error::corrupt("count"))
    }

    /// One `UPDATE` of the user's erasable events, then one count of those
    /// left.
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "erase_audit_personal"))]
    async fn erase_audit_personal(&self, user: UserId) -> StoreResult<AuditErasure> {
        self.flush_audit()?;
        let erased = self
            .affected(
                "UPDATE {p}audit_events SET user_id = NULL, ip = NULL, user_agent = NULL, \
                 country = NULL WHERE user_id = $1 \
                 AND (chain_id IS NULL OR chain_personal IS NOT NULL)",
                vec![uuid_of(user)],
            )
            .await?;
        let kept = self
            .one_on(
                &mut self.pool(),
                "SELECT COUNT(*) AS n FROM {p}audit_events WHERE user_id = $1",
                vec![uuid_of(user)],
                |r| r.i64("n"),
            )
            .await?;
        Ok(AuditErasure {
            erased,
            kept: u64::try_from(kept).map_err(|_| crate::error::corrupt("count"))?,
        })
    }

    /// One batched `DELETE` per chain (a chain holds at most
    /// [`mfa_core::audit::MAX_CHAIN_LEN`] events), then the unlinked ones
    /// in batches.
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "delete_audit_prefix"))]
    async fn delete_audit_prefix(
        &self,
        cuts: &[ChainPosition],
        unlinked_before: Option<DateTime<Utc>>,
    ) -> StoreResult<u64> {
        self.flush_audit()?;
        // Whole months first (PostgreSQL), then row by row.
        let mut removed = match unlinked_before {
            Some(before) => self.drop_archived_partitions(cuts, before).await?,
            None => 0,
        };
        for cut in cuts {
            let seq = i64::try_from(cut.seq).unwrap_or(i64::MAX);
            removed += self
                .purge_in_batches(
                    "audit_events",
                    "chain_id = $1 AND chain_seq <= $2",
                    vec![uuid_of(cut.chain), Arg::I64(seq)],
                )
                .await?;
        }
        if let Some(before) = unlinked_before {
            removed += self
                .purge_in_batches(
                    "audit_events",
                    "chain_id IS NULL AND at < $1",
                    vec![Arg::Ts(before)],
                )
                .await?;
        }
        Ok(removed)
    }
}
