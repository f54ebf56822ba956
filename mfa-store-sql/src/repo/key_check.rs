//! Key checks: one row per subject, inserted only when absent.

use crate::columns as cols;
use crate::driver::Driver;
use crate::rows::*;
use crate::sql::Arg;
use crate::store::{SqlStore, retry};
use async_trait::async_trait;
use mfa_core::model::{KeyCheck, KeyCheckSubject};
use mfa_core::store::*;
use tracing::instrument;

fn subject_args(subject: KeyCheckSubject) -> [Arg; 2] {
    [text(subject.kind()), Arg::I64(i64::from(subject.key_id()))]
}

#[async_trait]
impl<D: Driver> KeyCheckRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "key_checks"))]
    async fn key_checks(&self) -> StoreResult<Vec<KeyCheck>> {
        let sql = format!("SELECT {} FROM {{p}}key_checks", cols::KEY_CHECK);
        let rows = self
            .rows_on(&mut self.pool(), &sql, Vec::new(), key_check_from_row)
            .await?;
        Ok(rows.into_iter().flatten().collect())
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "add_key_check"))]
    async fn add_key_check(&self, check: &KeyCheck) -> StoreResult<bool> {
        // Insert-if-absent in one statement: a second writer of the same
        // subject waits for the first and then inserts nothing. MySQL's
        // form is INSERT IGNORE (its ON DUPLICATE KEY UPDATE would count a
        // found row as affected under CLIENT_FOUND_ROWS).
        let sql = if self.dialect().mysql {
            "INSERT IGNORE INTO {p}key_checks (kind, key_id, check_value, created_at) \
             VALUES ($1, $2, $3, $4)"
        } else {
            "INSERT INTO {p}key_checks (kind, key_id, check_value, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kind, key_id) DO NOTHING"
        };
        let [kind, key_id] = subject_args(check.subject);
        let args = vec![
            kind,
            key_id,
            Arg::Bytes(check.value.clone()),
            Arg::Ts(check.created_at),
        ];
        let inserted = if self.unit().is_some() {
            // Inside a unit, contention goes to the unit's caller.
            self.affected(sql, args).await?
        } else {
            retry!(async { self.affected(sql, args.clone()).await })?
        };
        Ok(inserted == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "remove_key_check"))]
    async fn remove_key_check(&self, subject: KeyCheckSubject) -> StoreResult<bool> {
        let n = self
            .affected(
                "DELETE FROM {p}key_checks WHERE kind = $1 AND key_id = $2",
                subject_args(subject).to_vec(),
            )
            .await?;
        Ok(n == 1)
    }
}
