//! The audit trail.

use crate::columns as cols;
use crate::driver::Driver;
use crate::rows::*;
use crate::sql::{Arg, params};
use crate::store::SqlStore;
use async_trait::async_trait;
use mfa_core::model::*;
use mfa_core::store::*;

#[async_trait]
impl<D: Driver> AuditRepository for SqlStore<D> {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.insert(
            "INSERT INTO {p}audit_events (id, at, user_id, session_id, device_id, kind, \
             outcome, factor, ip, user_agent, country, risk_score, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            vec![
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
            ],
            "audit event id",
        )
        .await
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
