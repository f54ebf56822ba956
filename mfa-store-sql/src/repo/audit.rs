//! The audit trail.

use crate::columns as cols;
use crate::driver::{Driver, Executor, Statement};
use crate::rows::*;
use crate::sql::{Arg, params};
use crate::store::SqlStore;
use async_trait::async_trait;
use mfa_core::model::*;
use mfa_core::store::*;

/// The columns of an audit row, in the order of [`audit_args`].
const AUDIT_COLUMNS: &str = "id, at, user_id, session_id, device_id, kind, outcome, factor, \
                             ip, user_agent, country, risk_score, metadata";

/// Values per audit row.
const AUDIT_ARITY: usize = 13;

/// Audit rows per multi-row `INSERT` (13 values each: far below the bind
/// limits of every backend).
const AUDIT_BATCH: usize = 500;

fn audit_args(event: &AuditEvent, args: &mut Vec<Arg>) {
    args.extend([
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
    ]);
}

impl<D: Driver> SqlStore<D> {
    /// The multi-row `INSERT`s (one per [`AUDIT_BATCH`]) that write `events`.
    fn audit_inserts(&self, events: &[AuditEvent]) -> Vec<Statement> {
        events
            .chunks(AUDIT_BATCH)
            .map(|batch| {
                let mut args = Vec::with_capacity(batch.len() * AUDIT_ARITY);
                let rows: Vec<String> = (0..batch.len())
                    .map(|i| format!("({})", params(i * AUDIT_ARITY + 1, AUDIT_ARITY)))
                    .collect();
                for event in batch {
                    audit_args(event, &mut args);
                }
                let sql = format!(
                    "INSERT INTO {{p}}audit_events ({AUDIT_COLUMNS}) VALUES {}",
                    rows.join(", ")
                );
                self.st(&sql, args)
            })
            .collect()
    }

    /// Inside a unit of work: defers the audit events buffered so far to the
    /// unit's next statement or commit (see [`crate::unit`]). Outside one,
    /// or with nothing buffered: nothing.
    pub(crate) fn flush_audit(&self) {
        let Some(unit) = self.unit() else {
            return;
        };
        let events = unit.take_audit();
        for insert in self.audit_inserts(&events) {
            unit.defer(None, insert);
        }
    }
}

#[async_trait]
impl<D: Driver> AuditRepository for SqlStore<D> {
    /// Outside a unit of work one `INSERT`; inside one, buffered until the
    /// unit commits (or queries the audit trail), then written with the
    /// unit's other events in one multi-row `INSERT`.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        match self.unit() {
            Some(unit) => {
                unit.buffer_audit(event.clone());
                Ok(())
            }
            None => {
                for insert in self.audit_inserts(std::slice::from_ref(event)) {
                    self.pool()
                        .execute(&insert)
                        .await
                        .map_err(crate::error::conflict_as("audit event id"))?;
                }
                Ok(())
            }
        }
    }

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
        if let Some(cursor) = page.after {
            args.push(Arg::Ts(cursor.at));
            let t = args.len();
            args.push(uuid_of(cursor.id));
            let i = args.len();
            conditions.push(format!("(at < ${t} OR (at = ${t} AND id < ${i}))"));
        }
        if !filter.kinds.is_empty() {
            let start = args.len() + 1;
            for kind in &filter.kinds {
                args.push(text(kind.as_str()));
            }
            conditions.push(format!("kind IN ({})", params(start, filter.kinds.len())));
        }
        // A unit reads its own events.
        self.flush_audit();
        let limit = page.effective_limit();
        args.push(Arg::I64(i64::from(limit) + 1));
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM {{p}}audit_events {where_clause} \
             ORDER BY at DESC, id DESC LIMIT ${}",
            cols::AUDIT,
            args.len()
        );
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
}
