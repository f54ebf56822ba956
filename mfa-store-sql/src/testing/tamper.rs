//! [`AuditTamper`] on every SQL store, written once over the driver: the
//! raw edits of the audit table that the tamper suite of the audit chains
//! ([`mfa_core::audit_chain_tests!`]) makes behind the engine's back, as
//! someone with write access to the database would. The public store
//! types of the driver crates forward to it (see
//! [`forward_repositories!`](crate::forward_repositories)).
//!
//! The tamper suite runs with mode `audit_chains` of
//! [`sql_store_tests!`](crate::sql_store_tests).
//!
//! Test helpers: every failure panics, naming the edit.

use crate::driver::{Driver, Executor};
use crate::rows::uuid_of;
use crate::sql::{Arg, params};
use crate::store::{SqlStore, in_tx};
use async_trait::async_trait;
use mfa_core::model::AuditEventId;
use mfa_core::store::StoreResult;

pub use mfa_core::testing::chains::AuditTamper;

impl<D: Driver> SqlStore<D> {
    /// The chain and position of event `id` (`None`: no such event, or one
    /// without a link).
    async fn chain_position(
        &self,
        tx: &mut (dyn Executor + '_),
        id: AuditEventId,
    ) -> StoreResult<Option<(uuid::Uuid, i64)>> {
        let found = self
            .row_on(
                tx,
                "SELECT chain_id, chain_seq FROM {p}audit_events WHERE id = $1",
                vec![uuid_of(id)],
                |r| Ok(r.opt_uuid("chain_id")?.zip(r.opt_i64("chain_seq")?)),
            )
            .await?;
        Ok(found.flatten())
    }
}

#[async_trait]
impl<D: Driver> AuditTamper for SqlStore<D> {
    async fn tamper_set_outcome(&self, id: AuditEventId, outcome: &str) {
        let changed = self
            .affected(
                "UPDATE {p}audit_events SET outcome = $1 WHERE id = $2",
                vec![Arg::Text(outcome.to_owned()), uuid_of(id)],
            )
            .await
            .unwrap_or_else(|e| panic!("tamper_set_outcome of {id:?} failed: {e}"));
        assert_eq!(changed, 1, "tamper_set_outcome: no audit event {id:?}");
    }

    async fn tamper_delete(&self, ids: &[AuditEventId]) {
        if ids.is_empty() {
            return;
        }
        let sql = format!(
            "DELETE FROM {{p}}audit_events WHERE id IN ({})",
            params(1, ids.len())
        );
        let args = ids.iter().copied().map(uuid_of).collect();
        let deleted = self
            .affected(&sql, args)
            .await
            .unwrap_or_else(|e| panic!("tamper_delete of {ids:?} failed: {e}"));
        assert_eq!(
            deleted,
            ids.len() as u64,
            "tamper_delete: not every one of {ids:?} was an audit event"
        );
    }

    /// In one transaction, through a free position, so the unique index
    /// of (`chain_id`, `chain_seq`) holds after every statement: `a` to
    /// the negated position of `a` (positions start at 1, so no event is
    /// there), `b` to `a`'s position, `a` to `b`'s.
    async fn tamper_swap_positions(&self, a: AuditEventId, b: AuditEventId) {
        let swapped: StoreResult<Result<(), String>> = in_tx!(self, |tx| {
            let (Some((chain_a, seq_a)), Some((chain_b, seq_b))) = (
                self.chain_position(tx, a).await?,
                self.chain_position(tx, b).await?,
            ) else {
                return Ok(Err(format!("{a:?} and {b:?} must be linked events")));
            };
            if chain_a != chain_b {
                return Ok(Err(format!("{a:?} and {b:?} are on different chains")));
            }
            let set = "UPDATE {p}audit_events SET chain_seq = $1 WHERE id = $2";
            for (seq, id) in [(-seq_a, a), (seq_a, b), (seq_b, a)] {
                let n = self.run(tx, set, vec![Arg::I64(seq), uuid_of(id)]).await?;
                if n != 1 {
                    return Ok(Err(format!("{id:?} was not moved")));
                }
            }
            Ok(Ok(()))
        });
        match swapped {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("tamper_swap_positions: {why}"),
            Err(e) => panic!("tamper_swap_positions of {a:?} and {b:?} failed: {e}"),
        }
    }
}
