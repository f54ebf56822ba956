//! The repository implementations, written once and expanded per backend.
//!
//! `impl_repositories!(Store, Db)` is invoked inside a backend module that
//! provides:
//!
//! - `DIALECT: Dialect`, the SQL differences;
//! - `bind_arg(query, Arg) -> query`, the value conversions;
//! - `read_ts(row, column)` / `read_opt_ts(row, column)`, timestamps back;
//! - `begin_write(pool)`, a transaction that takes the write lock up front
//!   where the backend needs that (SQLite: `BEGIN IMMEDIATE`);
//!
//! and a `Store` struct with fields `pool: sqlx::Pool<Db>` and
//! `prefix: TablePrefix`.

/// Retries an `async` block while it fails with a deadlock, serialization
/// failure or busy database. Every block passed here is a whole transaction,
/// so a retry starts from scratch.
macro_rules! retry {
    ($block:expr) => {{
        let mut tries = 0u32;
        loop {
            let result = $block.await;
            match result {
                Err(ref e) if tries < 20 && $crate::error::is_retryable(e) => tries += 1,
                _ => break result,
            }
        }
    }};
}

macro_rules! impl_repositories {
    ($store:ident, $db:ty) => {
        mod repositories {
        use super::*;
        use $crate::columns as cols;
        use $crate::error::{corrupt, map_err, map_err_as};
        use $crate::sql::{Arg, PURGE_BATCH, params};
        use async_trait::async_trait;
        use chrono::{DateTime, TimeDelta, Utc};
        use mfa_core::model::{
            Aal, AuditEvent, AuditKind, AuditOutcome, AuthMethod, BackupCodeRecord,
            ChallengeId, ChallengePurpose, CodeHash, Contact, Device, DeviceId, DeviceInfo,
            DeviceKind, DeviceSighting, Factor, FactorId, FactorKind, FactorStatus,
            FailureCounter, FamilyId, FingerprintHash, LockScope, LockoutRule, LoginTicket,
            MfaSettings, OtpChallenge, OtpChannel, RefreshStatus, RefreshToken,
            RefreshTokenId, RevocationReason, SealedSecret, Session, SessionId,
            SessionStatus, SessionType, TicketId, TicketKind, TokenHash, TotpAlgorithm,
            TotpParams, User, UserId, UserStatus,
        };
        use mfa_core::store::{
            AuditCursor, AuditFilter, AuditRepository, BackupCodeRepository, ChallengeAttempt,
            ChallengeRepository, DeviceRepository, FactorRepository, FailureOutcome,
            NewRefreshToken, Page, PageRequest, RateDecision, RateLimiter, RotateOutcome,
            SessionRepository, StoreError, StoreResult, Upserted, UserRepository,
        };
        use uuid::Uuid;

        type DbRow = <$db as sqlx::Database>::Row;
        type DbQuery = sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>;

        fn col<'r, T>(row: &'r DbRow, name: &str) -> StoreResult<T>
        where
            T: sqlx::Decode<'r, $db> + sqlx::Type<$db>,
        {
            row.try_get(name).map_err(map_err)
        }

        fn col_enum<T>(row: &DbRow, name: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
            let text: String = col(row, name)?;
            parse(&text).ok_or_else(|| corrupt(name))
        }

        fn col_opt_enum<T>(
            row: &DbRow,
            name: &str,
            parse: fn(&str) -> Option<T>,
        ) -> StoreResult<Option<T>> {
            let text: Option<String> = col(row, name)?;
            text.map(|t| parse(&t).ok_or_else(|| corrupt(name))).transpose()
        }

        fn col_u32(row: &DbRow, name: &str) -> StoreResult<u32> {
            let v: i32 = col(row, name)?;
            u32::try_from(v).map_err(|_| corrupt(name))
        }

        fn col_u8(row: &DbRow, name: &str) -> StoreResult<u8> {
            let v: i32 = col(row, name)?;
            u8::try_from(v).map_err(|_| corrupt(name))
        }

        fn col_json(row: &DbRow, name: &str) -> StoreResult<serde_json::Value> {
            let v: sqlx::types::Json<serde_json::Value> = col(row, name)?;
            Ok(v.0)
        }

        fn col_digest<T>(
            row: &DbRow,
            name: &str,
            make: fn(&[u8]) -> Result<T, mfa_core::model::DigestLengthError>,
        ) -> StoreResult<T> {
            let bytes: Vec<u8> = col(row, name)?;
            make(&bytes).map_err(|_| corrupt(name))
        }

        fn col_opt_digest<T>(
            row: &DbRow,
            name: &str,
            make: fn(&[u8]) -> Result<T, mfa_core::model::DigestLengthError>,
        ) -> StoreResult<Option<T>> {
            let bytes: Option<Vec<u8>> = col(row, name)?;
            bytes
                .map(|b| make(&b).map_err(|_| corrupt(name)))
                .transpose()
        }

        fn col_amr(row: &DbRow, name: &str) -> StoreResult<Vec<AuthMethod>> {
            let text: String = col(row, name)?;
            text.split(',')
                .filter(|m| !m.is_empty())
                .map(|m| m.parse::<AuthMethod>().map_err(|_| corrupt(name)))
                .collect()
        }

        fn amr_text(amr: &[AuthMethod]) -> String {
            amr.iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }

        fn uuid_of<T: Into<Uuid>>(id: T) -> Arg {
            Arg::Uuid(id.into())
        }

        fn opt_uuid<T: Into<Uuid>>(id: Option<T>) -> Arg {
            Arg::OptUuid(id.map(Into::into))
        }

        fn text(s: &str) -> Arg {
            Arg::Text(s.to_owned())
        }

        fn opt_text(s: &Option<String>) -> Arg {
            Arg::OptText(s.clone())
        }

        fn count_i32(n: u32) -> Arg {
            Arg::I32(i32::try_from(n).unwrap_or(i32::MAX))
        }

        fn user_from_row(row: &DbRow) -> StoreResult<User> {
            Ok(User {
                id: UserId::from_uuid(col(row, "id")?),
                identifier: col(row, "identifier")?,
                email: col(row, "email")?,
                phone: col(row, "phone")?,
                locale: col(row, "locale")?,
                password_hash: col(row, "password_hash")?,
                status: col_enum(row, "status", UserStatus::parse)?,
                password_failures: FailureCounter {
                    failures: col_u32(row, "password_failures")?,
                    locked_until: read_opt_ts(row, "password_locked_until")?,
                },
                mfa_failures: FailureCounter {
                    failures: col_u32(row, "mfa_failures")?,
                    locked_until: read_opt_ts(row, "mfa_locked_until")?,
                },
                created_at: read_ts(row, "created_at")?,
                updated_at: read_ts(row, "updated_at")?,
                deleted_at: read_opt_ts(row, "deleted_at")?,
            })
        }

        fn factor_from_row(row: &DbRow) -> StoreResult<Factor> {
            let algorithm = col_opt_enum(row, "totp_algorithm", TotpAlgorithm::parse)?;
            let digits: Option<i32> = col(row, "totp_digits")?;
            let period: Option<i32> = col(row, "totp_period")?;
            let totp = match (algorithm, digits, period) {
                (Some(algorithm), Some(digits), Some(period)) => Some(TotpParams {
                    algorithm,
                    digits: u8::try_from(digits).map_err(|_| corrupt("totp_digits"))?,
                    period: u32::try_from(period).map_err(|_| corrupt("totp_period"))?,
                }),
                (None, None, None) => None,
                _ => return Err(corrupt("totp_algorithm")),
            };
            let secret: Option<Vec<u8>> = col(row, "secret")?;
            Ok(Factor {
                id: FactorId::from_uuid(col(row, "id")?),
                user_id: UserId::from_uuid(col(row, "user_id")?),
                kind: col_enum(row, "kind", FactorKind::parse)?,
                status: col_enum(row, "status", FactorStatus::parse)?,
                label: col(row, "label")?,
                secret: secret.map(SealedSecret::from_bytes),
                totp,
                destination: col(row, "destination")?,
                last_totp_step: col(row, "last_totp_step")?,
                created_at: read_ts(row, "created_at")?,
                confirmed_at: read_opt_ts(row, "confirmed_at")?,
                last_used_at: read_opt_ts(row, "last_used_at")?,
                deleted_at: read_opt_ts(row, "deleted_at")?,
            })
        }

        fn settings_from_row(row: &DbRow) -> StoreResult<MfaSettings> {
            Ok(MfaSettings {
                user_id: UserId::from_uuid(col(row, "user_id")?),
                enforced: col(row, "enforced")?,
                grace_deadline: read_opt_ts(row, "grace_deadline")?,
                preferred: col_opt_enum(row, "preferred", FactorKind::parse)?,
                updated_at: read_ts(row, "updated_at")?,
            })
        }

        fn challenge_from_row(row: &DbRow) -> StoreResult<OtpChallenge> {
            let ticket: Option<Uuid> = col(row, "ticket_id")?;
            Ok(OtpChallenge {
                id: ChallengeId::from_uuid(col(row, "id")?),
                user_id: UserId::from_uuid(col(row, "user_id")?),
                factor_id: FactorId::from_uuid(col(row, "factor_id")?),
                ticket_id: ticket.map(TicketId::from_uuid),
                purpose: col_enum(row, "purpose", ChallengePurpose::parse)?,
                channel: col_enum(row, "channel", OtpChannel::parse)?,
                code_hash: col_digest(row, "code_hash", CodeHash::from_slice)?,
                attempts: col_u32(row, "attempts")?,
                max_attempts: col_u32(row, "max_attempts")?,
                created_at: read_ts(row, "created_at")?,
                expires_at: read_ts(row, "expires_at")?,
                consumed_at: read_opt_ts(row, "consumed_at")?,
            })
        }

        fn ticket_from_row(row: &DbRow) -> StoreResult<LoginTicket> {
            let session: Option<Uuid> = col(row, "session_id")?;
            let device: Option<Uuid> = col(row, "device_id")?;
            Ok(LoginTicket {
                id: TicketId::from_uuid(col(row, "id")?),
                token_hash: col_digest(row, "token_hash", TokenHash::from_slice)?,
                user_id: UserId::from_uuid(col(row, "user_id")?),
                session_id: session.map(SessionId::from_uuid),
                device_id: device.map(DeviceId::from_uuid),
                kind: col_enum(row, "kind", TicketKind::parse)?,
                amr: col_amr(row, "amr")?,
                risk_score: col_u8(row, "risk_score")?,
                created_at: read_ts(row, "created_at")?,
                expires_at: read_ts(row, "expires_at")?,
                consumed_at: read_opt_ts(row, "consumed_at")?,
            })
        }

        fn device_from_row(row: &DbRow) -> StoreResult<Device> {
            Ok(Device {
                id: DeviceId::from_uuid(col(row, "id")?),
                user_id: UserId::from_uuid(col(row, "user_id")?),
                fingerprint_hash: col_digest(row, "fingerprint_hash", FingerprintHash::from_slice)?,
                info: DeviceInfo {
                    kind: col_enum(row, "kind", DeviceKind::parse)?,
                    name: col(row, "name")?,
                    os: col(row, "os")?,
                    os_version: col(row, "os_version")?,
                    browser: col(row, "browser")?,
                    browser_version: col(row, "browser_version")?,
                    app_version: col(row, "app_version")?,
                    brand: col(row, "brand")?,
                    model: col(row, "model")?,
                },
                last_ip: col(row, "last_ip")?,
                last_country: col(row, "last_country")?,
                first_seen_at: read_ts(row, "first_seen_at")?,
                last_seen_at: read_ts(row, "last_seen_at")?,
                trust_token_hash: col_opt_digest(row, "trust_token_hash", TokenHash::from_slice)?,
                trusted_at: read_opt_ts(row, "trusted_at")?,
                trusted_until: read_opt_ts(row, "trusted_until")?,
                compromised_at: read_opt_ts(row, "compromised_at")?,
                risk_score: col_u8(row, "risk_score")?,
                metadata: col_json(row, "metadata")?,
                deleted_at: read_opt_ts(row, "deleted_at")?,
            })
        }

        fn session_from_row(row: &DbRow) -> StoreResult<Session> {
            let device: Option<Uuid> = col(row, "device_id")?;
            let aal: i32 = col(row, "aal")?;
            Ok(Session {
                id: SessionId::from_uuid(col(row, "id")?),
                user_id: UserId::from_uuid(col(row, "user_id")?),
                device_id: device.map(DeviceId::from_uuid),
                session_type: col_enum(row, "session_type", SessionType::parse)?,
                status: col_enum(row, "status", SessionStatus::parse)?,
                aal: u8::try_from(aal)
                    .ok()
                    .and_then(Aal::from_level)
                    .ok_or_else(|| corrupt("aal"))?,
                amr: col_amr(row, "amr")?,
                mfa_at: read_opt_ts(row, "mfa_at")?,
                ip: col(row, "ip")?,
                user_agent: col(row, "user_agent")?,
                country: col(row, "country")?,
                risk_score: col_u8(row, "risk_score")?,
                created_at: read_ts(row, "created_at")?,
                last_seen_at: read_ts(row, "last_seen_at")?,
                expires_at: read_ts(row, "expires_at")?,
                revoked_at: read_opt_ts(row, "revoked_at")?,
                revocation_reason: col_opt_enum(row, "revocation_reason", RevocationReason::parse)?,
            })
        }

        fn refresh_from_row(row: &DbRow) -> StoreResult<RefreshToken> {
            let parent: Option<Uuid> = col(row, "parent_id")?;
            Ok(RefreshToken {
                id: RefreshTokenId::from_uuid(col(row, "id")?),
                family_id: FamilyId::from_uuid(col(row, "family_id")?),
                session_id: SessionId::from_uuid(col(row, "session_id")?),
                user_id: UserId::from_uuid(col(row, "user_id")?),
                parent_id: parent.map(RefreshTokenId::from_uuid),
                token_hash: col_digest(row, "token_hash", TokenHash::from_slice)?,
                status: col_enum(row, "status", RefreshStatus::parse)?,
                created_at: read_ts(row, "created_at")?,
                expires_at: read_ts(row, "expires_at")?,
                used_at: read_opt_ts(row, "used_at")?,
            })
        }

        fn audit_from_row(row: &DbRow) -> StoreResult<AuditEvent> {
            let user: Option<Uuid> = col(row, "user_id")?;
            let session: Option<Uuid> = col(row, "session_id")?;
            let device: Option<Uuid> = col(row, "device_id")?;
            let risk: Option<i32> = col(row, "risk_score")?;
            Ok(AuditEvent {
                id: mfa_core::model::AuditEventId::from_uuid(col(row, "id")?),
                at: read_ts(row, "at")?,
                user_id: user.map(UserId::from_uuid),
                session_id: session.map(SessionId::from_uuid),
                device_id: device.map(DeviceId::from_uuid),
                kind: col_enum(row, "kind", AuditKind::parse)?,
                outcome: col_enum(row, "outcome", AuditOutcome::parse)?,
                factor: col_opt_enum(row, "factor", FactorKind::parse)?,
                ip: col(row, "ip")?,
                user_agent: col(row, "user_agent")?,
                country: col(row, "country")?,
                risk_score: risk
                    .map(|r| u8::try_from(r).map_err(|_| corrupt("risk_score")))
                    .transpose()?,
                metadata: col_json(row, "metadata")?,
            })
        }

        fn scope_columns(scope: LockScope) -> (&'static str, &'static str) {
            match scope {
                LockScope::Password => ("password_failures", "password_locked_until"),
                LockScope::Mfa => ("mfa_failures", "mfa_locked_until"),
            }
        }

        /// Columns set to NULL when a device loses its trust.
        const CLEAR_TRUST: &str =
            "trust_token_hash = NULL, trusted_at = NULL, trusted_until = NULL";

        impl $store {
            /// A statement from a template, with its arguments bound in the
            /// backend's placeholder order.
            fn stmt(&self, template: &str, args: Vec<Arg>) -> DbQuery {
                let (sql, order) = DIALECT.prepare(template, self.prefix.as_str());
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                match order {
                    None => {
                        for arg in args {
                            query = bind_arg(query, arg);
                        }
                    }
                    Some(order) => {
                        for index in order {
                            if let Some(arg) = args.get(index) {
                                query = bind_arg(query, arg.clone());
                            }
                        }
                    }
                }
                query
            }

            /// Deletes rows matching `condition` in batches of
            /// [`PURGE_BATCH`]; returns how many went.
            async fn purge_in_batches(
                &self,
                table: &str,
                condition: &str,
                args: Vec<Arg>,
            ) -> StoreResult<u64> {
                let template = DIALECT.batch_delete(table, condition, PURGE_BATCH);
                let mut total = 0u64;
                loop {
                    let n = self
                        .stmt(&template, args.clone())
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    total += n;
                    if n < u64::from(PURGE_BATCH) {
                        return Ok(total);
                    }
                }
            }

            async fn affected(&self, template: &str, args: Vec<Arg>) -> StoreResult<u64> {
                Ok(self
                    .stmt(template, args)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?
                    .rows_affected())
            }
        }

        #[async_trait]
        impl UserRepository for $store {
            async fn create_user(&self, user: &User) -> StoreResult<()> {
                self.stmt(
                    "INSERT INTO {p}users (id, identifier, email, phone, locale, password_hash, \
                     status, password_failures, password_locked_until, mfa_failures, \
                     mfa_locked_until, created_at, updated_at, deleted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    vec![
                        uuid_of(user.id),
                        text(&user.identifier),
                        opt_text(&user.email),
                        opt_text(&user.phone),
                        opt_text(&user.locale),
                        opt_text(&user.password_hash),
                        text(user.status.as_str()),
                        count_i32(user.password_failures.failures),
                        Arg::OptTs(user.password_failures.locked_until),
                        count_i32(user.mfa_failures.failures),
                        Arg::OptTs(user.mfa_failures.locked_until),
                        Arg::Ts(user.created_at),
                        Arg::Ts(user.updated_at),
                        Arg::OptTs(user.deleted_at),
                    ],
                )
                .execute(&self.pool)
                .await
                .map_err(|e| map_err_as(e, "user identifier"))?;
                Ok(())
            }

            async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {} FROM {{p}}users WHERE id = $1", cols::USER);
                self.stmt(&sql, vec![uuid_of(id)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(user_from_row)
                    .transpose()
            }

            async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}users WHERE identifier = $1 AND deleted_at IS NULL",
                    cols::USER
                );
                self.stmt(&sql, vec![text(identifier)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(user_from_row)
                    .transpose()
            }

            async fn set_password(
                &self,
                id: UserId,
                password_hash: &str,
                history_limit: u32,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    let lock = format!(
                        "SELECT password_hash FROM {{p}}users WHERE id = $1 \
                         AND deleted_at IS NULL{}",
                        DIALECT.for_update
                    );
                    let Some(row) = self
                        .stmt(&lock, vec![uuid_of(id)])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?
                    else {
                        return Ok(false);
                    };
                    let previous: Option<String> = col(&row, "password_hash")?;
                    self.stmt(
                        "UPDATE {p}users SET password_hash = $2, updated_at = $3 WHERE id = $1",
                        vec![uuid_of(id), text(password_hash), Arg::Ts(now)],
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if let Some(previous) = previous {
                        self.stmt(
                            "INSERT INTO {p}password_history (id, user_id, password_hash, \
                             created_at) VALUES ($1, $2, $3, $4)",
                            vec![uuid_of(Uuid::now_v7()), uuid_of(id), Arg::Text(previous), Arg::Ts(now)],
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    let ids = self
                        .stmt(
                            "SELECT id FROM {p}password_history WHERE user_id = $1 \
                             ORDER BY created_at DESC, id DESC",
                            vec![uuid_of(id)],
                        )
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    let extra = ids
                        .iter()
                        .skip(history_limit as usize)
                        .map(|r| col::<Uuid>(r, "id").map(Arg::Uuid))
                        .collect::<StoreResult<Vec<_>>>()?;
                    if !extra.is_empty() {
                        let sql = format!(
                            "DELETE FROM {{p}}password_history WHERE id IN ({})",
                            params(1, extra.len())
                        );
                        self.stmt(&sql, extra)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(true)
                })
            }

            async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
                let rows = self
                    .stmt(
                        "SELECT password_hash FROM {p}password_history WHERE user_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT $2",
                        vec![uuid_of(id), Arg::I64(i64::from(limit))],
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                rows.iter().map(|r| col(r, "password_hash")).collect()
            }

            async fn set_contact(
                &self,
                id: UserId,
                contact: &Contact,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}users SET email = $2, phone = $3, locale = $4, \
                         updated_at = $5 WHERE id = $1 AND deleted_at IS NULL",
                        vec![
                            uuid_of(id),
                            opt_text(&contact.email),
                            opt_text(&contact.phone),
                            opt_text(&contact.locale),
                            Arg::Ts(now),
                        ],
                    )
                    .await?;
                Ok(n > 0)
            }

            async fn set_status(
                &self,
                id: UserId,
                status: UserStatus,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}users SET status = $2, updated_at = $3 \
                         WHERE id = $1 AND deleted_at IS NULL",
                        vec![uuid_of(id), text(status.as_str()), Arg::Ts(now)],
                    )
                    .await?;
                Ok(n > 0)
            }

            async fn record_failure(
                &self,
                id: UserId,
                scope: LockScope,
                rule: &LockoutRule,
                now: DateTime<Utc>,
            ) -> StoreResult<FailureOutcome> {
                // Compare-and-set: read the counter, apply the one definition
                // of the arithmetic (`LockoutRule::next`), and write it back
                // only if nobody changed it in between; otherwise read again.
                let (failures_col, locked_col) = scope_columns(scope);
                let read = format!(
                    "SELECT {failures_col}, {locked_col} FROM {{p}}users \
                     WHERE id = $1 AND deleted_at IS NULL"
                );
                let write = format!(
                    "UPDATE {{p}}users SET {failures_col} = $2, {locked_col} = $3 \
                     WHERE id = $1 AND deleted_at IS NULL AND {failures_col} = $4 \
                     AND {locked_col} {} $5",
                    DIALECT.null_safe_eq
                );
                for _ in 0..10_000 {
                    let Some(row) = self
                        .stmt(&read, vec![uuid_of(id)])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                    else {
                        return Ok(FailureOutcome::NotFound);
                    };
                    let current = FailureCounter {
                        failures: col_u32(&row, failures_col)?,
                        locked_until: read_opt_ts(&row, locked_col)?,
                    };
                    let Some(next) = rule.next(current, now) else {
                        let lock = current
                            .lock_at(rule, now)
                            .ok_or_else(|| StoreError::Corrupt("refused failure without a lock".into()))?;
                        return Ok(FailureOutcome::Locked(lock));
                    };
                    let n = self
                        .affected(
                            &write,
                            vec![
                                uuid_of(id),
                                count_i32(next.failures),
                                Arg::OptTs(next.locked_until),
                                count_i32(current.failures),
                                Arg::OptTs(current.locked_until),
                            ],
                        )
                        .await?;
                    if n == 1 {
                        let started = next
                            .locked_until
                            .filter(|_| next.locked_until != current.locked_until);
                        return Ok(FailureOutcome::Counted {
                            failures: next.failures,
                            locked_until: started,
                        });
                    }
                }
                Err(StoreError::Unavailable(
                    "the failure counter kept changing under contention".into(),
                ))
            }

            async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
                let (failures_col, locked_col) = scope_columns(scope);
                let sql = format!(
                    "UPDATE {{p}}users SET {failures_col} = 0, {locked_col} = NULL \
                     WHERE id = $1 AND deleted_at IS NULL"
                );
                Ok(self.affected(&sql, vec![uuid_of(id)]).await? > 0)
            }

            async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}users SET deleted_at = $2, updated_at = $2 \
                         WHERE id = $1 AND deleted_at IS NULL",
                        vec![uuid_of(id), Arg::Ts(now)],
                    )
                    .await?;
                Ok(n > 0)
            }

            async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                // Foreign keys cascade to everything the users own.
                self.purge_in_batches("users", "deleted_at < $1", vec![Arg::Ts(before)])
                    .await
            }
        }

        #[async_trait]
        impl FactorRepository for $store {
            async fn create_factor(&self, factor: &Factor) -> StoreResult<()> {
                let totp = factor.totp;
                self.stmt(
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
                )
                .execute(&self.pool)
                .await
                .map_err(|e| map_err_as(e, "factor id"))?;
                Ok(())
            }

            async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
                let sql = format!("SELECT {} FROM {{p}}factors WHERE id = $1", cols::FACTOR);
                self.stmt(&sql, vec![uuid_of(id)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(factor_from_row)
                    .transpose()
            }

            async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}factors WHERE user_id = $1 AND deleted_at IS NULL \
                     ORDER BY created_at, id",
                    cols::FACTOR
                );
                self.stmt(&sql, vec![uuid_of(user)])
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(factor_from_row)
                    .collect()
            }

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

            async fn set_factor_status(&self, id: FactorId, status: FactorStatus) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}factors SET status = $2 WHERE id = $1 AND deleted_at IS NULL",
                        vec![uuid_of(id), text(status.as_str())],
                    )
                    .await?;
                Ok(n > 0)
            }

            async fn set_factor_secret(&self, id: FactorId, secret: &SealedSecret) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}factors SET secret = $2 WHERE id = $1 AND deleted_at IS NULL",
                        vec![uuid_of(id), Arg::Bytes(secret.as_bytes().to_vec())],
                    )
                    .await?;
                Ok(n > 0)
            }

            async fn advance_totp_step(
                &self,
                id: FactorId,
                step: i64,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                // The replay guard: one conditional update, so exactly one
                // caller moves the step forward.
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

            async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()> {
                self.affected(
                    "UPDATE {p}factors SET last_used_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                    vec![uuid_of(id), Arg::Ts(now)],
                )
                .await?;
                Ok(())
            }

            async fn soft_delete_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}factors SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                        vec![uuid_of(id), Arg::Ts(now)],
                    )
                    .await?;
                Ok(n == 1)
            }

            async fn soft_delete_factors_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
                self.affected(
                    "UPDATE {p}factors SET deleted_at = $2 WHERE user_id = $1 AND deleted_at IS NULL",
                    vec![uuid_of(user), Arg::Ts(now)],
                )
                .await
            }

            async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}mfa_settings WHERE user_id = $1",
                    cols::SETTINGS
                );
                self.stmt(&sql, vec![uuid_of(user)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(settings_from_row)
                    .transpose()
            }

            async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()> {
                let upsert = if DIALECT.mysql {
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

            async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                self.purge_in_batches("factors", "deleted_at < $1", vec![Arg::Ts(before)])
                    .await
            }
        }

        #[async_trait]
        impl BackupCodeRepository for $store {
            async fn replace_backup_codes(
                &self,
                user: UserId,
                codes: &[BackupCodeRecord],
            ) -> StoreResult<()> {
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    self.stmt(
                        "DELETE FROM {p}backup_codes WHERE user_id = $1",
                        vec![uuid_of(user)],
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if !codes.is_empty() {
                        let rows = (0..codes.len())
                            .map(|i| format!("({})", params(i * 5 + 1, 5)))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let sql = format!(
                            "INSERT INTO {{p}}backup_codes (id, user_id, code_hash, created_at, \
                             used_at) VALUES {rows}"
                        );
                        let args = codes
                            .iter()
                            .flat_map(|c| {
                                [
                                    uuid_of(c.id),
                                    uuid_of(user),
                                    Arg::Bytes(c.code_hash.as_bytes().to_vec()),
                                    Arg::Ts(c.created_at),
                                    Arg::OptTs(c.used_at),
                                ]
                            })
                            .collect();
                        self.stmt(&sql, args)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| map_err_as(e, "backup code"))?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(())
                })
            }

            async fn consume_backup_code(
                &self,
                user: UserId,
                hash: &CodeHash,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}backup_codes SET used_at = $3 \
                         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                        vec![uuid_of(user), Arg::Bytes(hash.as_bytes().to_vec()), Arg::Ts(now)],
                    )
                    .await?;
                Ok(n == 1)
            }

            async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32> {
                let row = self
                    .stmt(
                        "SELECT COUNT(*) AS n FROM {p}backup_codes \
                         WHERE user_id = $1 AND used_at IS NULL",
                        vec![uuid_of(user)],
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                let n: i64 = col(&row, "n")?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }

            async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
                self.affected(
                    "DELETE FROM {p}backup_codes WHERE user_id = $1",
                    vec![uuid_of(user)],
                )
                .await
            }
        }

        #[async_trait]
        impl ChallengeRepository for $store {
            async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()> {
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    // Lock the factor so two concurrent sends cannot both
                    // leave their code open (SQLite: the write lock is held).
                    let lock = format!(
                        "SELECT id FROM {{p}}factors WHERE id = $1{}",
                        DIALECT.for_update
                    );
                    self.stmt(&lock, vec![uuid_of(challenge.factor_id)])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    self.stmt(
                        "UPDATE {p}challenges SET consumed_at = $3 \
                         WHERE factor_id = $1 AND purpose = $2 AND consumed_at IS NULL",
                        vec![
                            uuid_of(challenge.factor_id),
                            text(challenge.purpose.as_str()),
                            Arg::Ts(challenge.created_at),
                        ],
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    self.stmt(
                        "INSERT INTO {p}challenges (id, user_id, factor_id, ticket_id, purpose, \
                         channel, code_hash, attempts, max_attempts, created_at, expires_at, \
                         consumed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        vec![
                            uuid_of(challenge.id),
                            uuid_of(challenge.user_id),
                            uuid_of(challenge.factor_id),
                            opt_uuid(challenge.ticket_id),
                            text(challenge.purpose.as_str()),
                            text(challenge.channel.as_str()),
                            Arg::Bytes(challenge.code_hash.as_bytes().to_vec()),
                            count_i32(challenge.attempts),
                            count_i32(challenge.max_attempts),
                            Arg::Ts(challenge.created_at),
                            Arg::Ts(challenge.expires_at),
                            Arg::OptTs(challenge.consumed_at),
                        ],
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err_as(e, "challenge id"))?;
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(())
                })
            }

            async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>> {
                let sql = format!("SELECT {} FROM {{p}}challenges WHERE id = $1", cols::CHALLENGE);
                self.stmt(&sql, vec![uuid_of(id)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(challenge_from_row)
                    .transpose()
            }

            async fn latest_challenge(
                &self,
                factor: FactorId,
                purpose: ChallengePurpose,
            ) -> StoreResult<Option<OtpChallenge>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}challenges WHERE factor_id = $1 AND purpose = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                    cols::CHALLENGE
                );
                self.stmt(&sql, vec![uuid_of(factor), text(purpose.as_str())])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(challenge_from_row)
                    .transpose()
            }

            async fn record_challenge_attempt(
                &self,
                id: ChallengeId,
                now: DateTime<Utc>,
            ) -> StoreResult<ChallengeAttempt> {
                const OPEN: &str = "id = $1 AND consumed_at IS NULL AND expires_at > $2 \
                                    AND attempts < max_attempts";
                if DIALECT.returning {
                    let sql = format!(
                        "UPDATE {{p}}challenges SET attempts = attempts + 1 WHERE {OPEN} \
                         RETURNING attempts"
                    );
                    if let Some(row) = self
                        .stmt(&sql, vec![uuid_of(id), Arg::Ts(now)])
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                    {
                        return Ok(ChallengeAttempt::Allowed {
                            attempts: col_u32(&row, "attempts")?,
                        });
                    }
                    // Refused: say why. Attempts only grow and a closed
                    // challenge never reopens, so this read cannot flip it.
                    let Some(c) = self.get_challenge(id).await? else {
                        return Ok(ChallengeAttempt::Closed);
                    };
                    return Ok(attempt_refusal(&c, now));
                }
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    let sql = format!(
                        "SELECT {} FROM {{p}}challenges WHERE id = $1{}",
                        cols::CHALLENGE,
                        DIALECT.for_update
                    );
                    let Some(row) = self
                        .stmt(&sql, vec![uuid_of(id)])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?
                    else {
                        return Ok(ChallengeAttempt::Closed);
                    };
                    let c = challenge_from_row(&row)?;
                    if !c.is_open(now) {
                        return Ok(attempt_refusal(&c, now));
                    }
                    self.stmt(
                        "UPDATE {p}challenges SET attempts = attempts + 1 WHERE id = $1",
                        vec![uuid_of(id)],
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(ChallengeAttempt::Allowed {
                        attempts: c.attempts + 1,
                    })
                })
            }

            async fn consume_challenge(&self, id: ChallengeId, now: DateTime<Utc>) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}challenges SET consumed_at = $2 \
                         WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
                        vec![uuid_of(id), Arg::Ts(now)],
                    )
                    .await?;
                Ok(n == 1)
            }

            async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()> {
                self.stmt(
                    "INSERT INTO {p}login_tickets (id, token_hash, user_id, session_id, \
                     device_id, kind, amr, risk_score, created_at, expires_at, consumed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    vec![
                        uuid_of(ticket.id),
                        Arg::Bytes(ticket.token_hash.as_bytes().to_vec()),
                        uuid_of(ticket.user_id),
                        opt_uuid(ticket.session_id),
                        opt_uuid(ticket.device_id),
                        text(ticket.kind.as_str()),
                        Arg::Text(amr_text(&ticket.amr)),
                        Arg::I32(i32::from(ticket.risk_score)),
                        Arg::Ts(ticket.created_at),
                        Arg::Ts(ticket.expires_at),
                        Arg::OptTs(ticket.consumed_at),
                    ],
                )
                .execute(&self.pool)
                .await
                .map_err(|e| map_err_as(e, "ticket"))?;
                Ok(())
            }

            async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}login_tickets WHERE token_hash = $1",
                    cols::TICKET
                );
                self.stmt(&sql, vec![Arg::Bytes(token_hash.as_bytes().to_vec())])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(ticket_from_row)
                    .transpose()
            }

            async fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}login_tickets SET consumed_at = $2 \
                         WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
                        vec![uuid_of(id), Arg::Ts(now)],
                    )
                    .await?;
                Ok(n == 1)
            }

            async fn purge_expired_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                let challenges = self
                    .purge_in_batches("challenges", "expires_at < $1", vec![Arg::Ts(before)])
                    .await?;
                let tickets = self
                    .purge_in_batches("login_tickets", "expires_at < $1", vec![Arg::Ts(before)])
                    .await?;
                Ok(challenges + tickets)
            }
        }

        fn attempt_refusal(c: &OtpChallenge, now: DateTime<Utc>) -> ChallengeAttempt {
            if c.consumed_at.is_some() || now >= c.expires_at {
                ChallengeAttempt::Closed
            } else if c.attempts >= c.max_attempts {
                ChallengeAttempt::Exhausted
            } else {
                ChallengeAttempt::Closed
            }
        }

        #[async_trait]
        impl DeviceRepository for $store {
            async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted> {
                let new_id = DeviceId::new();
                let info = &sighting.info;
                let keep_metadata = sighting.metadata.is_null();
                let args = vec![
                    uuid_of(new_id),
                    uuid_of(sighting.user_id),
                    Arg::Bytes(sighting.fingerprint_hash.as_bytes().to_vec()),
                    text(info.kind.as_str()),
                    opt_text(&info.name),
                    opt_text(&info.os),
                    opt_text(&info.os_version),
                    opt_text(&info.browser),
                    opt_text(&info.browser_version),
                    opt_text(&info.app_version),
                    opt_text(&info.brand),
                    opt_text(&info.model),
                    opt_text(&sighting.ip),
                    opt_text(&sighting.country),
                    Arg::Ts(sighting.at),
                    Arg::I32(i32::from(sighting.risk_score)),
                    Arg::Json(sighting.metadata.clone()),
                    Arg::Bool(keep_metadata),
                ];
                const INSERT: &str = "INSERT INTO {p}devices (id, user_id, fingerprint_hash, \
                    kind, name, os, os_version, browser, browser_version, app_version, brand, \
                    model, last_ip, last_country, first_seen_at, last_seen_at, risk_score, \
                    metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                    $14, $15, $15, $16, $17)";
                let device = if DIALECT.mysql {
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
                    $crate::repo::retry!(async {
                        let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                        self.stmt(&sql, args.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| map_err_as(e, "device"))?;
                        let row = self
                            .stmt(
                                &select,
                                vec![
                                    uuid_of(sighting.user_id),
                                    Arg::Bytes(sighting.fingerprint_hash.as_bytes().to_vec()),
                                ],
                            )
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        let device = device_from_row(&row)?;
                        tx.commit().await.map_err(map_err)?;
                        Ok::<_, StoreError>(device)
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
                    let row = $crate::repo::retry!(async {
                        self.stmt(&sql, args.clone())
                            .fetch_one(&self.pool)
                            .await
                            .map_err(|e| map_err_as(e, "device"))
                    })?;
                    device_from_row(&row)?
                };
                let created = device.id == new_id;
                Ok(Upserted { device, created })
            }

            async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
                let sql = format!("SELECT {} FROM {{p}}devices WHERE id = $1", cols::DEVICE);
                self.stmt(&sql, vec![uuid_of(id)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(device_from_row)
                    .transpose()
            }

            async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}devices WHERE user_id = $1 AND deleted_at IS NULL \
                     ORDER BY last_seen_at DESC, id DESC",
                    cols::DEVICE
                );
                self.stmt(&sql, vec![uuid_of(user)])
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(device_from_row)
                    .collect()
            }

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
                self.stmt(
                    &sql,
                    vec![uuid_of(user), Arg::Bytes(token_hash.as_bytes().to_vec()), Arg::Ts(now)],
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?
                .as_ref()
                .map(device_from_row)
                .transpose()
            }

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

            async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool> {
                let sql = format!(
                    "UPDATE {{p}}devices SET {CLEAR_TRUST} WHERE id = $1 \
                     AND trust_token_hash IS NOT NULL"
                );
                Ok(self.affected(&sql, vec![uuid_of(id)]).await? == 1)
            }

            async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64> {
                let sql = format!(
                    "UPDATE {{p}}devices SET {CLEAR_TRUST} WHERE user_id = $1 \
                     AND trust_token_hash IS NOT NULL"
                );
                self.affected(&sql, vec![uuid_of(user)]).await
            }

            async fn mark_device_compromised(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
                let sql = format!(
                    "UPDATE {{p}}devices SET compromised_at = $2, {CLEAR_TRUST} WHERE id = $1 \
                     AND deleted_at IS NULL AND compromised_at IS NULL"
                );
                Ok(self.affected(&sql, vec![uuid_of(id), Arg::Ts(now)]).await? == 1)
            }

            async fn soft_delete_device(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
                let sql = format!(
                    "UPDATE {{p}}devices SET deleted_at = $2, {CLEAR_TRUST} WHERE id = $1 \
                     AND deleted_at IS NULL"
                );
                Ok(self.affected(&sql, vec![uuid_of(id), Arg::Ts(now)]).await? == 1)
            }

            async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                self.purge_in_batches("devices", "deleted_at < $1", vec![Arg::Ts(before)])
                    .await
            }
        }

        impl $store {
            /// Revokes a session and its refresh tokens on `conn` (inside a
            /// transaction); `true` if it was not revoked yet.
            async fn revoke_session_on(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                id: SessionId,
                reason: RevocationReason,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let n = self
                    .stmt(
                        "UPDATE {p}sessions SET status = 'revoked', revoked_at = $2, \
                         revocation_reason = $3 WHERE id = $1 AND status <> 'revoked'",
                        vec![uuid_of(id), Arg::Ts(now), text(reason.as_str())],
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                if n > 0 {
                    self.stmt(
                        "UPDATE {p}refresh_tokens SET status = 'revoked', \
                         used_at = COALESCE(used_at, $2) \
                         WHERE session_id = $1 AND status <> 'revoked'",
                        vec![uuid_of(id), Arg::Ts(now)],
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
                }
                Ok(n > 0)
            }

            /// Revokes every session matching `condition` (on `$1`, with
            /// `$2` the time and `$3` the reason) with its refresh tokens.
            async fn revoke_sessions_where(
                &self,
                condition: &str,
                args: Vec<Arg>,
            ) -> StoreResult<u64> {
                let tokens = format!(
                    "UPDATE {{p}}refresh_tokens SET status = 'revoked', \
                     used_at = COALESCE(used_at, $2) WHERE status <> 'revoked' AND session_id IN \
                     (SELECT id FROM {{p}}sessions WHERE {condition} AND status <> 'revoked')"
                );
                let sessions = format!(
                    "UPDATE {{p}}sessions SET status = 'revoked', revoked_at = $2, \
                     revocation_reason = $3 WHERE {condition} AND status <> 'revoked'"
                );
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    self.stmt(&tokens, args.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    let n = self
                        .stmt(&sessions, args.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(n)
                })
            }
        }

        #[async_trait]
        impl SessionRepository for $store {
            async fn create_session(&self, session: &Session) -> StoreResult<()> {
                self.stmt(
                    "INSERT INTO {p}sessions (id, user_id, device_id, session_type, status, aal, \
                     amr, mfa_at, ip, user_agent, country, risk_score, created_at, last_seen_at, \
                     expires_at, revoked_at, revocation_reason) VALUES ($1, $2, $3, $4, $5, $6, \
                     $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    vec![
                        uuid_of(session.id),
                        uuid_of(session.user_id),
                        opt_uuid(session.device_id),
                        text(session.session_type.as_str()),
                        text(session.status.as_str()),
                        Arg::I32(i32::from(session.aal.level())),
                        Arg::Text(amr_text(&session.amr)),
                        Arg::OptTs(session.mfa_at),
                        opt_text(&session.ip),
                        opt_text(&session.user_agent),
                        opt_text(&session.country),
                        Arg::I32(i32::from(session.risk_score)),
                        Arg::Ts(session.created_at),
                        Arg::Ts(session.last_seen_at),
                        Arg::Ts(session.expires_at),
                        Arg::OptTs(session.revoked_at),
                        Arg::OptText(session.revocation_reason.map(|r| r.as_str().to_owned())),
                    ],
                )
                .execute(&self.pool)
                .await
                .map_err(|e| map_err_as(e, "session id"))?;
                Ok(())
            }

            async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
                let sql = format!("SELECT {} FROM {{p}}sessions WHERE id = $1", cols::SESSION);
                self.stmt(&sql, vec![uuid_of(id)])
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?
                    .as_ref()
                    .map(session_from_row)
                    .transpose()
            }

            async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}sessions WHERE user_id = $1 AND status <> 'revoked' \
                     AND expires_at > $2 ORDER BY created_at DESC, id DESC",
                    cols::SESSION
                );
                self.stmt(&sql, vec![uuid_of(user), Arg::Ts(now)])
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(session_from_row)
                    .collect()
            }

            async fn authenticate_session(
                &self,
                id: SessionId,
                aal: Aal,
                amr: &[AuthMethod],
                mfa_at: Option<DateTime<Utc>>,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let n = self
                    .affected(
                        "UPDATE {p}sessions SET status = 'active', aal = $2, amr = $3, \
                         mfa_at = COALESCE($4, mfa_at), last_seen_at = $5 \
                         WHERE id = $1 AND status <> 'revoked' AND expires_at > $5",
                        vec![
                            uuid_of(id),
                            Arg::I32(i32::from(aal.level())),
                            Arg::Text(amr_text(amr)),
                            Arg::OptTs(mfa_at),
                            Arg::Ts(now),
                        ],
                    )
                    .await?;
                Ok(n == 1)
            }

            async fn revoke_session(
                &self,
                id: SessionId,
                reason: RevocationReason,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    let revoked = self.revoke_session_on(&mut *tx, id, reason, now).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(revoked)
                })
            }

            async fn revoke_user_sessions(
                &self,
                user: UserId,
                except: Option<SessionId>,
                reason: RevocationReason,
                now: DateTime<Utc>,
            ) -> StoreResult<u64> {
                let mut args = vec![uuid_of(user), Arg::Ts(now), text(reason.as_str())];
                let condition = match except {
                    Some(except) => {
                        args.push(uuid_of(except));
                        "user_id = $1 AND id <> $4"
                    }
                    None => "user_id = $1",
                };
                self.revoke_sessions_where(condition, args).await
            }

            async fn revoke_device_sessions(
                &self,
                device: DeviceId,
                reason: RevocationReason,
                now: DateTime<Utc>,
            ) -> StoreResult<u64> {
                self.revoke_sessions_where(
                    "device_id = $1",
                    vec![uuid_of(device), Arg::Ts(now), text(reason.as_str())],
                )
                .await
            }

            async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
                self.stmt(
                    "INSERT INTO {p}refresh_tokens (id, family_id, session_id, user_id, \
                     parent_id, token_hash, status, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    vec![
                        uuid_of(token.id),
                        uuid_of(token.family_id),
                        uuid_of(token.session_id),
                        uuid_of(token.user_id),
                        opt_uuid(token.parent_id),
                        Arg::Bytes(token.token_hash.as_bytes().to_vec()),
                        text(token.status.as_str()),
                        Arg::Ts(token.created_at),
                        Arg::Ts(token.expires_at),
                        Arg::OptTs(token.used_at),
                    ],
                )
                .execute(&self.pool)
                .await
                .map_err(|e| map_err_as(e, "refresh token"))?;
                Ok(())
            }

            async fn rotate_refresh_token(
                &self,
                presented: &TokenHash,
                new: &NewRefreshToken,
                now: DateTime<Utc>,
            ) -> StoreResult<RotateOutcome> {
                let hash = Arg::Bytes(presented.as_bytes().to_vec());
                // The gate: one conditional update decides the single winner.
                const GATE: &str = "UPDATE {p}refresh_tokens SET status = 'rotated', used_at = $2 \
                    WHERE token_hash = $1 AND status = 'active' AND expires_at > $2 \
                    AND EXISTS (SELECT 1 FROM {p}sessions s WHERE s.id = {p}refresh_tokens.session_id \
                    AND s.status = 'active' AND s.expires_at > $2)";
                $crate::repo::retry!(async {
                    let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                    let won = if DIALECT.returning {
                        let sql = format!("{GATE} RETURNING {}", cols::REFRESH);
                        self.stmt(&sql, vec![hash.clone(), Arg::Ts(now)])
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?
                    } else {
                        let n = self
                            .stmt(GATE, vec![hash.clone(), Arg::Ts(now)])
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?
                            .rows_affected();
                        if n == 1 {
                            let sql = format!(
                                "SELECT {} FROM {{p}}refresh_tokens WHERE token_hash = $1",
                                cols::REFRESH
                            );
                            self.stmt(&sql, vec![hash.clone()])
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(map_err)?
                        } else {
                            None
                        }
                    };
                    if let Some(row) = won {
                        let current = refresh_from_row(&row)?;
                        let session = if DIALECT.returning {
                            let sql = format!(
                                "UPDATE {{p}}sessions SET last_seen_at = $2 WHERE id = $1 \
                                 RETURNING {}",
                                cols::SESSION
                            );
                            self.stmt(&sql, vec![uuid_of(current.session_id), Arg::Ts(now)])
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(map_err)?
                        } else {
                            self.stmt(
                                "UPDATE {p}sessions SET last_seen_at = $2 WHERE id = $1",
                                vec![uuid_of(current.session_id), Arg::Ts(now)],
                            )
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                            let sql = format!(
                                "SELECT {} FROM {{p}}sessions WHERE id = $1",
                                cols::SESSION
                            );
                            self.stmt(&sql, vec![uuid_of(current.session_id)])
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(map_err)?
                        };
                        let session = session_from_row(&session)?;
                        let token = RefreshToken {
                            id: new.id,
                            family_id: current.family_id,
                            session_id: current.session_id,
                            user_id: current.user_id,
                            parent_id: Some(current.id),
                            token_hash: new.token_hash,
                            status: RefreshStatus::Active,
                            created_at: now,
                            expires_at: new.expires_at.min(session.expires_at),
                            used_at: None,
                        };
                        self.stmt(
                            "INSERT INTO {p}refresh_tokens (id, family_id, session_id, user_id, \
                             parent_id, token_hash, status, created_at, expires_at, used_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, NULL)",
                            vec![
                                uuid_of(token.id),
                                uuid_of(token.family_id),
                                uuid_of(token.session_id),
                                uuid_of(token.user_id),
                                opt_uuid(token.parent_id),
                                Arg::Bytes(token.token_hash.as_bytes().to_vec()),
                                Arg::Ts(token.created_at),
                                Arg::Ts(token.expires_at),
                            ],
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err_as(e, "refresh token"))?;
                        tx.commit().await.map_err(map_err)?;
                        return Ok(RotateOutcome::Rotated { token, session });
                    }
                    // Lost or refused: the locking read waits for a winner
                    // still in flight, so a loser sees the token rotated.
                    let sql = format!(
                        "SELECT {} FROM {{p}}refresh_tokens WHERE token_hash = $1{}",
                        cols::REFRESH,
                        DIALECT.for_update
                    );
                    let Some(row) = self
                        .stmt(&sql, vec![hash.clone()])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?
                    else {
                        return Ok(RotateOutcome::Unknown);
                    };
                    let current = refresh_from_row(&row)?;
                    let outcome = match current.status {
                        RefreshStatus::Revoked => RotateOutcome::Revoked {
                            user_id: current.user_id,
                        },
                        RefreshStatus::Active => RotateOutcome::Expired {
                            user_id: current.user_id,
                        },
                        RefreshStatus::Rotated => {
                            self.stmt(
                                "UPDATE {p}refresh_tokens SET status = 'revoked', \
                                 used_at = COALESCE(used_at, $2) \
                                 WHERE family_id = $1 AND status <> 'revoked'",
                                vec![uuid_of(current.family_id), Arg::Ts(now)],
                            )
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                            self.revoke_session_on(
                                &mut *tx,
                                current.session_id,
                                RevocationReason::TokenReuse,
                                now,
                            )
                            .await?;
                            RotateOutcome::Reused {
                                family_id: current.family_id,
                                session_id: current.session_id,
                                user_id: current.user_id,
                            }
                        }
                    };
                    tx.commit().await.map_err(map_err)?;
                    Ok::<_, StoreError>(outcome)
                })
            }

            async fn revoke_refresh_family(&self, family: FamilyId, now: DateTime<Utc>) -> StoreResult<u64> {
                self.affected(
                    "UPDATE {p}refresh_tokens SET status = 'revoked', \
                     used_at = COALESCE(used_at, $2) WHERE family_id = $1 AND status <> 'revoked'",
                    vec![uuid_of(family), Arg::Ts(now)],
                )
                .await
            }

            async fn purge_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                // Refresh tokens go with their session (ON DELETE CASCADE).
                self.purge_in_batches(
                    "sessions",
                    "(expires_at < $1 OR revoked_at < $1)",
                    vec![Arg::Ts(before)],
                )
                .await
            }
        }

        #[async_trait]
        impl AuditRepository for $store {
            async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
                self.stmt(
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
                )
                .execute(&self.pool)
                .await
                .map_err(|e| map_err_as(e, "audit event id"))?;
                Ok(())
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
                let rows = self
                    .stmt(&sql, args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                let mut items = rows
                    .iter()
                    .map(audit_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
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

        #[async_trait]
        impl RateLimiter for $store {
            async fn hit(
                &self,
                key: &str,
                limit: u32,
                window: TimeDelta,
                now: DateTime<Utc>,
            ) -> StoreResult<RateDecision> {
                // One row per key serialises the check and the insert: it is
                // created (idempotently) first, then locked in the
                // transaction that counts and records the hit.
                let ensure = if DIALECT.mysql {
                    "INSERT IGNORE INTO {p}rate_limit_keys (rate_key) VALUES ($1)"
                } else {
                    "INSERT INTO {p}rate_limit_keys (rate_key) VALUES ($1) ON CONFLICT DO NOTHING"
                };
                let lock = format!(
                    "SELECT rate_key FROM {{p}}rate_limit_keys WHERE rate_key = $1{}",
                    DIALECT.for_update
                );
                let window_start = now - window;
                for _ in 0..100 {
                    self.affected(ensure, vec![text(key)]).await?;
                    let decision = $crate::repo::retry!(async {
                        let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
                        let locked = self
                            .stmt(&lock, vec![text(key)])
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if locked.is_none() {
                            // Purged between the insert and the lock: again.
                            return Ok(None);
                        }
                        let rows = self
                            .stmt(
                                "SELECT at FROM {p}rate_limit_hits WHERE rate_key = $1 \
                                 AND at > $2 ORDER BY at",
                                vec![text(key), Arg::Ts(window_start)],
                            )
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        let used = u32::try_from(rows.len()).unwrap_or(u32::MAX);
                        if used >= limit {
                            let oldest = match rows.first() {
                                Some(row) => read_ts(row, "at")?,
                                None => now,
                            };
                            return Ok(Some(RateDecision::Limited {
                                retry_after: (oldest + window - now).max(TimeDelta::zero()),
                            }));
                        }
                        self.stmt(
                            "INSERT INTO {p}rate_limit_hits (id, rate_key, at, expires_at) \
                             VALUES ($1, $2, $3, $4)",
                            vec![uuid_of(Uuid::now_v7()), text(key), Arg::Ts(now), Arg::Ts(now + window)],
                        )
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        tx.commit().await.map_err(map_err)?;
                        Ok::<_, StoreError>(Some(RateDecision::Allowed {
                            remaining: limit - used - 1,
                        }))
                    })?;
                    if let Some(decision) = decision {
                        return Ok(decision);
                    }
                }
                Err(StoreError::Unavailable(
                    "the rate-limit key was purged repeatedly".into(),
                ))
            }

            async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                let hits = self
                    .purge_in_batches("rate_limit_hits", "expires_at <= $1", vec![Arg::Ts(now)])
                    .await?;
                // Keys without hits are dropped too; `hit` recreates them.
                let empty = if DIALECT.delete_limit {
                    format!(
                        "DELETE FROM {{p}}rate_limit_keys WHERE NOT EXISTS (SELECT 1 FROM \
                         {{p}}rate_limit_hits h WHERE h.rate_key = {{p}}rate_limit_keys.rate_key) \
                         LIMIT {PURGE_BATCH}"
                    )
                } else {
                    format!(
                        "DELETE FROM {{p}}rate_limit_keys WHERE rate_key IN (SELECT k.rate_key \
                         FROM {{p}}rate_limit_keys k WHERE NOT EXISTS (SELECT 1 FROM \
                         {{p}}rate_limit_hits h WHERE h.rate_key = k.rate_key) LIMIT {PURGE_BATCH})"
                    )
                };
                loop {
                    let n = self.affected(&empty, vec![]).await?;
                    if n < u64::from(PURGE_BATCH) {
                        break;
                    }
                }
                Ok(hits)
            }
        }
        }
    };
}

pub(crate) use impl_repositories;
pub(crate) use retry;
