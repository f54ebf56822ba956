//! Factors and per-user MFA settings.

use crate::columns as cols;
use crate::driver::Driver;
use crate::rows::*;
use crate::sql::Arg;
use crate::store::SqlStore;
use crate::unit::RowKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;

#[async_trait]
impl<D: Driver> FactorRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "create_factor"))]
    async fn create_factor(&self, factor: &Factor) -> StoreResult<()> {
        let totp = factor.totp;
        self.insert(
            "INSERT INTO {p}factors (id, user_id, kind, status, label, secret, \
             totp_algorithm, totp_digits, totp_period, destination, last_totp_step, \
             created_at, confirmed_at, last_used_at, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            vec![
                uuid_of(factor.id),
                uuid_of(factor.user_id),
                text(factor.kind.as_str()),
                text(factor.status.as_str()),
                opt_text(&factor.label),
                Arg::OptBytes(factor.secret.as_ref().map(|s| s.as_bytes().to_vec())),
                Arg::OptText(totp.map(|t| t.algorithm.as_str().to_owned())),
                Arg::OptI32(totp.map(|t| i32::from(t.digits))),
                Arg::OptI32(totp.map(|t| i32::try_from(t.period).unwrap_or(i32::MAX))),
                opt_text(&factor.destination),
                Arg::OptI64(factor.last_totp_step),
                Arg::Ts(factor.created_at),
                Arg::OptTs(factor.confirmed_at),
                Arg::OptTs(factor.last_used_at),
                Arg::OptTs(factor.deleted_at),
            ],
            "factor id",
        )
        .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_factor"))]
    async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
        let sql = format!("SELECT {} FROM {{p}}factors WHERE id = $1", cols::FACTOR);
        self.row(&sql, vec![uuid_of(id)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "list_factors"))]
    async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
        let sql = format!(
            "SELECT {} FROM {{p}}factors WHERE user_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at, id",
            cols::FACTOR
        );
        self.rows(&sql, vec![uuid_of(user)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "activate_factor"))]
    async fn activate_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}factors SET status = 'active', confirmed_at = $2 \
                 WHERE id = $1 AND deleted_at IS NULL AND status = 'pending'",
                vec![uuid_of(id), Arg::Ts(now)],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "set_factor_status"))]
    async fn set_factor_status(&self, id: FactorId, status: FactorStatus) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}factors SET status = $2 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), text(status.as_str())],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "set_factor_secret"))]
    async fn set_factor_secret(&self, id: FactorId, secret: &SealedSecret) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}factors SET secret = $2 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), Arg::Bytes(secret.as_bytes().to_vec())],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "list_sealed_factors"))]
    async fn list_sealed_factors(
        &self,
        after: Option<FactorId>,
        limit: u32,
    ) -> StoreResult<Vec<Factor>> {
        let limit = Arg::I64(i64::from(limit));
        match after {
            None => {
                let sql = format!(
                    "SELECT {} FROM {{p}}factors WHERE secret IS NOT NULL ORDER BY id LIMIT $1",
                    cols::FACTOR
                );
                self.rows(&sql, vec![limit]).await
            }
            Some(after) => {
                let sql = format!(
                    "SELECT {} FROM {{p}}factors WHERE secret IS NOT NULL AND id > $1 \
                     ORDER BY id LIMIT $2",
                    cols::FACTOR
                );
                self.rows(&sql, vec![uuid_of(after), limit]).await
            }
        }
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "reseal_factor_secret"))]
    async fn reseal_factor_secret(
        &self,
        id: FactorId,
        expected: &SealedSecret,
        resealed: &SealedSecret,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}factors SET secret = $3 WHERE id = $1 AND secret = $2",
                vec![
                    uuid_of(id),
                    Arg::Bytes(expected.as_bytes().to_vec()),
                    Arg::Bytes(resealed.as_bytes().to_vec()),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "set_factor_label"))]
    async fn set_factor_label(&self, id: FactorId, label: Option<&str>) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}factors SET label = $2 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), Arg::OptText(label.map(str::to_owned))],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "advance_totp_step"))]
    async fn advance_totp_step(
        &self,
        id: FactorId,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // The replay guard: one conditional update, so exactly one
        // caller moves the step forward (or, in a unit holding the factor's
        // row, the same condition on the row it read, written at its flush).
        if let Some(unit) = self.unit()
            && let Some(advanced) = unit.advance_step(id, step)
        {
            if advanced {
                unit.defer(
                    Some(RowKey::Step(id)),
                    self.st(
                        "UPDATE {p}factors SET last_totp_step = $2, last_used_at = $3 \
                         WHERE id = $1",
                        vec![uuid_of(id), Arg::I64(step), Arg::Ts(now)],
                    ),
                );
            }
            return Ok(advanced);
        }
        let n = self
            .affected(
                "UPDATE {p}factors SET last_totp_step = $2, last_used_at = $3 \
                 WHERE id = $1 AND deleted_at IS NULL \
                 AND (last_totp_step IS NULL OR last_totp_step < $2)",
                vec![uuid_of(id), Arg::I64(step), Arg::Ts(now)],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "touch_factor"))]
    async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()> {
        self.affected(
            "UPDATE {p}factors SET last_used_at = $2 WHERE id = $1 AND deleted_at IS NULL",
            vec![uuid_of(id), Arg::Ts(now)],
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "soft_delete_factor"))]
    async fn soft_delete_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        if let Some(unit) = self.unit() {
            unit.forget_factor(Some(id));
        }
        let n = self
            .affected(
                "UPDATE {p}factors SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), Arg::Ts(now)],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "soft_delete_factors_of"))]
    async fn soft_delete_factors_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        if let Some(unit) = self.unit() {
            unit.forget_factor(None);
        }
        self.affected(
            "UPDATE {p}factors SET deleted_at = $2 WHERE user_id = $1 AND deleted_at IS NULL",
            vec![uuid_of(user), Arg::Ts(now)],
        )
        .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_settings"))]
    async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>> {
        let sql = format!(
            "SELECT {} FROM {{p}}mfa_settings WHERE user_id = $1",
            cols::SETTINGS
        );
        self.row(&sql, vec![uuid_of(user)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "put_settings"))]
    async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()> {
        let upsert = if self.dialect().mysql {
            "ON DUPLICATE KEY UPDATE enforced = VALUES(enforced), \
             grace_deadline = VALUES(grace_deadline), preferred = VALUES(preferred), \
             updated_at = VALUES(updated_at)"
        } else {
            "ON CONFLICT (user_id) DO UPDATE SET enforced = excluded.enforced, \
             grace_deadline = excluded.grace_deadline, preferred = excluded.preferred, \
             updated_at = excluded.updated_at"
        };
        let sql = format!(
            "INSERT INTO {{p}}mfa_settings (user_id, enforced, grace_deadline, preferred, \
             updated_at) VALUES ($1, $2, $3, $4, $5) {upsert}"
        );
        self.affected(
            &sql,
            vec![
                uuid_of(settings.user_id),
                Arg::Bool(settings.enforced),
                Arg::OptTs(settings.grace_deadline),
                Arg::OptText(settings.preferred.map(|k| k.as_str().to_owned())),
                Arg::Ts(settings.updated_at),
            ],
        )
        .await?;
        Ok(())
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_deleted_factors"))]
    async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_in_batches("factors", "deleted_at < $1", vec![Arg::Ts(before)])
            .await
    }
}
