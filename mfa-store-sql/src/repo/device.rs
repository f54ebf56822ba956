//! Devices and their trust.

use crate::columns as cols;
use crate::driver::Driver;
use crate::driver::Statement;
use crate::error::conflict_as;
use crate::rows::*;
use crate::sql::Arg;
use crate::store::{SqlStore, in_tx, retry};
use crate::unit::RowKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;

/// Columns set to NULL when a device loses its trust.
const CLEAR_TRUST: &str = "trust_token_hash = NULL, trusted_at = NULL, trusted_until = NULL";

/// What a sighting sets of a device, in the column order of the device
/// statements: `kind` … `model`, `last_ip`, `last_country`.
fn sighted_columns(device: &Device) -> [Arg; 11] {
    let info = &device.info;
    [
        text(info.kind.as_str()),
        opt_text(&info.name),
        opt_text(&info.os),
        opt_text(&info.os_version),
        opt_text(&info.browser),
        opt_text(&info.browser_version),
        opt_text(&info.app_version),
        opt_text(&info.brand),
        opt_text(&info.model),
        opt_text(&device.last_ip),
        opt_text(&device.last_country),
    ]
}

impl<D: Driver> SqlStore<D> {
    /// The write of a device as a unit has it after a sighting: its insert
    /// when the row is new, otherwise the update of what a sighting
    /// changes (trust and first sighting are not touched).
    fn device_write(&self, device: &Device, stored: bool) -> Statement {
        let sighted = sighted_columns(device);
        let mut args = vec![uuid_of(device.id)];
        if stored {
            args.extend(sighted);
            args.extend([
                Arg::Ts(device.last_seen_at),
                Arg::I32(i32::from(device.risk_score)),
                Arg::Json(device.metadata.clone()),
            ]);
            return self.st(
                "UPDATE {p}devices SET kind = $2, name = $3, os = $4, os_version = $5, \
                 browser = $6, browser_version = $7, app_version = $8, brand = $9, \
                 model = $10, last_ip = $11, last_country = $12, last_seen_at = $13, \
                 risk_score = $14, metadata = $15 WHERE id = $1",
                args,
            );
        }
        args.extend([
            uuid_of(device.user_id),
            Arg::Bytes(device.fingerprint_hash.as_bytes().to_vec()),
        ]);
        args.extend(sighted);
        args.extend([
            Arg::Ts(device.first_seen_at),
            Arg::Ts(device.last_seen_at),
            Arg::I32(i32::from(device.risk_score)),
            Arg::Json(device.metadata.clone()),
        ]);
        self.st(
            "INSERT INTO {p}devices (id, user_id, fingerprint_hash, kind, name, os, \
             os_version, browser, browser_version, app_version, brand, model, last_ip, \
             last_country, first_seen_at, last_seen_at, risk_score, metadata) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            args,
        )
    }
}

#[async_trait]
impl<D: Driver> DeviceRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "upsert_device"))]
    async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted> {
        // A unit that read the user's devices under the user's lock knows
        // the answer; the write waits for its flush.
        if let Some(unit) = self.unit()
            && let Some(sighted) = unit.sight_device(sighting)
        {
            let write = self.device_write(&sighted.device, sighted.stored);
            unit.defer(Some(RowKey::Device(sighted.device.id)), write);
            return Ok(Upserted {
                device: sighted.device,
                created: sighted.created,
            });
        }
        let fresh = sighting.new_device();
        let new_id = fresh.id;
        let mut args = vec![
            uuid_of(new_id),
            uuid_of(sighting.user_id),
            Arg::Bytes(sighting.fingerprint_hash.as_bytes().to_vec()),
        ];
        args.extend(sighted_columns(&fresh));
        args.extend([
            Arg::Ts(sighting.at),
            Arg::I32(i32::from(sighting.risk_score)),
            Arg::Json(sighting.metadata.clone()),
            Arg::Bool(sighting.metadata.is_null()),
        ]);
        const INSERT: &str = "INSERT INTO {p}devices (id, user_id, fingerprint_hash, \
            kind, name, os, os_version, browser, browser_version, app_version, brand, \
            model, last_ip, last_country, first_seen_at, last_seen_at, risk_score, \
            metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
            $14, $15, $15, $16, $17)";
        let device = if self.dialect().mysql {
            // The unique key (user_id, fingerprint_hash, live_key)
            // holds only live devices: live_key is NULL once deleted.
            let sql = format!(
                "{INSERT} ON DUPLICATE KEY UPDATE kind = VALUES(kind), \
                 name = VALUES(name), os = VALUES(os), os_version = VALUES(os_version), \
                 browser = VALUES(browser), browser_version = VALUES(browser_version), \
                 app_version = VALUES(app_version), brand = VALUES(brand), \
                 model = VALUES(model), last_ip = VALUES(last_ip), \
                 last_country = VALUES(last_country), last_seen_at = VALUES(last_seen_at), \
                 risk_score = VALUES(risk_score), \
                 metadata = IF($18, metadata, VALUES(metadata))"
            );
            let select = format!(
                "SELECT {} FROM {{p}}devices WHERE user_id = $1 AND fingerprint_hash = $2 \
                 AND deleted_at IS NULL",
                cols::DEVICE
            );
            in_tx!(self, |conn| {
                self.run_as(conn, &sql, args.clone(), "device").await?;
                let select_args = vec![
                    uuid_of(sighting.user_id),
                    Arg::Bytes(sighting.fingerprint_hash.as_bytes().to_vec()),
                ];
                self.one_on(conn, &select, select_args, device_from_row)
                    .await
            })?
        } else {
            let sql = format!(
                "{INSERT} ON CONFLICT (user_id, fingerprint_hash) WHERE deleted_at IS NULL \
                 DO UPDATE SET kind = excluded.kind, name = excluded.name, \
                 os = excluded.os, os_version = excluded.os_version, \
                 browser = excluded.browser, browser_version = excluded.browser_version, \
                 app_version = excluded.app_version, brand = excluded.brand, \
                 model = excluded.model, last_ip = excluded.last_ip, \
                 last_country = excluded.last_country, last_seen_at = excluded.last_seen_at, \
                 risk_score = excluded.risk_score, \
                 metadata = CASE WHEN $18 THEN {{p}}devices.metadata ELSE excluded.metadata END \
                 RETURNING {}",
                cols::DEVICE
            );
            retry!(async {
                self.one_on(&mut self.pool(), &sql, args.clone(), device_from_row)
                    .await
                    .map_err(conflict_as("device"))
            })?
        };
        let created = device.id == new_id;
        Ok(Upserted { device, created })
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_device"))]
    async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
        let sql = format!("SELECT {} FROM {{p}}devices WHERE id = $1", cols::DEVICE);
        self.row(&sql, vec![uuid_of(id)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "list_devices"))]
    async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
        let sql = format!(
            "SELECT {} FROM {{p}}devices WHERE user_id = $1 AND deleted_at IS NULL \
             ORDER BY last_seen_at DESC, id DESC",
            cols::DEVICE
        );
        self.rows(&sql, vec![uuid_of(user)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "trust_device"))]
    async fn trust_device(
        &self,
        id: DeviceId,
        token_hash: &TokenHash,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}devices SET trust_token_hash = $2, trusted_at = $3, \
                 trusted_until = $4 WHERE id = $1 AND deleted_at IS NULL \
                 AND compromised_at IS NULL",
                vec![
                    uuid_of(id),
                    Arg::Bytes(token_hash.as_bytes().to_vec()),
                    Arg::Ts(now),
                    Arg::Ts(until),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "find_trusted_device"))]
    async fn find_trusted_device(
        &self,
        user: UserId,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>> {
        let sql = format!(
            "SELECT {} FROM {{p}}devices WHERE user_id = $1 AND trust_token_hash = $2 \
             AND trusted_until > $3 AND compromised_at IS NULL AND deleted_at IS NULL",
            cols::DEVICE
        );
        self.row(
            &sql,
            vec![
                uuid_of(user),
                Arg::Bytes(token_hash.as_bytes().to_vec()),
                Arg::Ts(now),
            ],
        )
        .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "rotate_trust_token"))]
    async fn rotate_trust_token(
        &self,
        id: DeviceId,
        old: &TokenHash,
        new: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}devices SET trust_token_hash = $3 WHERE id = $1 \
                 AND trust_token_hash = $2 AND trusted_until > $4 \
                 AND compromised_at IS NULL AND deleted_at IS NULL",
                vec![
                    uuid_of(id),
                    Arg::Bytes(old.as_bytes().to_vec()),
                    Arg::Bytes(new.as_bytes().to_vec()),
                    Arg::Ts(now),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "revoke_device_trust"))]
    async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE {{p}}devices SET {CLEAR_TRUST} WHERE id = $1 \
             AND trust_token_hash IS NOT NULL"
        );
        Ok(self.affected(&sql, vec![uuid_of(id)]).await? == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "revoke_all_device_trust"))]
    async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64> {
        let sql = format!(
            "UPDATE {{p}}devices SET {CLEAR_TRUST} WHERE user_id = $1 \
             AND trust_token_hash IS NOT NULL"
        );
        self.affected(&sql, vec![uuid_of(user)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "mark_device_compromised"))]
    async fn mark_device_compromised(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE {{p}}devices SET compromised_at = $2, {CLEAR_TRUST} WHERE id = $1 \
             AND deleted_at IS NULL AND compromised_at IS NULL"
        );
        Ok(self.affected(&sql, vec![uuid_of(id), Arg::Ts(now)]).await? == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "soft_delete_device"))]
    async fn soft_delete_device(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        if let Some(unit) = self.unit() {
            unit.forget_devices();
        }
        let sql = format!(
            "UPDATE {{p}}devices SET deleted_at = $2, {CLEAR_TRUST} WHERE id = $1 \
             AND deleted_at IS NULL"
        );
        Ok(self.affected(&sql, vec![uuid_of(id), Arg::Ts(now)]).await? == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_deleted_devices"))]
    async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_in_batches("devices", "deleted_at < $1", vec![Arg::Ts(before)])
            .await
    }
}
