//! The repository implementations, written once and expanded per backend.
//!
//! `impl_repositories!(Store, Db, Conn)` is invoked inside a backend module
//! that provides:
//!
//! - `DIALECT: Dialect`, the SQL differences (shared with `mfa-store-sqlx`);
//! - `bind_arg(query, Arg) -> query`, the value conversions;
//! - `read_uuid`, `read_opt_uuid`, `read_ts`, `read_opt_ts`, `read_json`,
//!   the backend-specific column readers;
//! - `begin(conn)`, a transaction that takes the write lock up front where
//!   the backend needs that (SQLite: `BEGIN IMMEDIATE`);
//!
//! and a `Store` struct with fields `pool: Pool<Conn>` and
//! `prefix: TablePrefix`.
//!
//! Every statement is a `diesel::sql_query` with bound parameters: diesel's
//! `table!` needs static table names, and the prefix is chosen at run time.

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

/// Runs `$body` (an expression of type `StoreResult<T>` that may `return`)
/// in a transaction on a pooled connection bound to `$conn`, committing on
/// `Ok` and rolling back on `Err`, retried as a whole on conflicts.
macro_rules! in_tx {
    ($self:ident, $conn:ident, $body:block) => {
        $crate::repo::retry!(async {
            let mut pooled = $self.conn().await?;
            let $conn: &mut Conn = &mut pooled;
            begin(&mut *$conn).await?;
            let result: StoreResult<_> = async { $body }.await;
            finish(&mut *$conn, result).await
        })
    };
}

macro_rules! impl_repositories {
    ($store:ident, $db:ty, $connty:ty) => {
        mod repositories {
        use super::*;
        use $crate::columns as cols;
        use $crate::error::{corrupt, map_err, map_err_as, pool_err};
        use $crate::sql::{Arg, PURGE_BATCH, params};
        use async_trait::async_trait;
        use chrono::{DateTime, TimeDelta, Utc};
        use diesel::deserialize::{self, QueryableByName};
        use diesel::row::NamedRow;
        use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
        use diesel_async::{AsyncConnection, RunQueryDsl, TransactionManager};
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

        type Conn = $connty;
        type DbQuery = diesel::query_builder::BoxedSqlQuery<
            'static,
            $db,
            diesel::query_builder::SqlQuery,
        >;

        /// Commits on `Ok`, rolls back on `Err` (keeping the first error).
        async fn finish<T>(conn: &mut Conn, result: StoreResult<T>) -> StoreResult<T> {
            type Tm = <Conn as AsyncConnection>::TransactionManager;
            match result {
                Ok(value) => {
                    <Tm as TransactionManager<Conn>>::commit_transaction(conn)
                        .await
                        .map_err(map_err)?;
                    Ok(value)
                }
                Err(e) => {
                    // A failed rollback leaves the transaction manager
                    // broken, and the pool discards the connection.
                    let _ = <Tm as TransactionManager<Conn>>::rollback_transaction(conn).await;
                    Err(e)
                }
            }
        }

        fn c_text<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<String> {
            NamedRow::get::<Text, String>(row, name).map_err(|_| corrupt(name))
        }

        fn c_opt_text<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<Option<String>> {
            NamedRow::get::<Nullable<Text>, Option<String>>(row, name).map_err(|_| corrupt(name))
        }

        fn c_i32<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<i32> {
            NamedRow::get::<Integer, i32>(row, name).map_err(|_| corrupt(name))
        }

        fn c_opt_i32<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<Option<i32>> {
            NamedRow::get::<Nullable<Integer>, Option<i32>>(row, name).map_err(|_| corrupt(name))
        }

        fn c_i64<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<i64> {
            NamedRow::get::<BigInt, i64>(row, name).map_err(|_| corrupt(name))
        }

        fn c_opt_i64<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<Option<i64>> {
            NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, name).map_err(|_| corrupt(name))
        }

        fn c_bytes<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<Vec<u8>> {
            NamedRow::get::<Binary, Vec<u8>>(row, name).map_err(|_| corrupt(name))
        }

        fn c_opt_bytes<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<Option<Vec<u8>>> {
            NamedRow::get::<Nullable<Binary>, Option<Vec<u8>>>(row, name).map_err(|_| corrupt(name))
        }

        fn c_bool<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<bool> {
            NamedRow::get::<Bool, bool>(row, name).map_err(|_| corrupt(name))
        }

        fn c_enum<'a, T>(
            row: &impl NamedRow<'a, $db>,
            name: &str,
            parse: fn(&str) -> Option<T>,
        ) -> StoreResult<T> {
            let text = c_text(row, name)?;
            parse(&text).ok_or_else(|| corrupt(name))
        }

        fn c_opt_enum<'a, T>(
            row: &impl NamedRow<'a, $db>,
            name: &str,
            parse: fn(&str) -> Option<T>,
        ) -> StoreResult<Option<T>> {
            c_opt_text(row, name)?
                .map(|t| parse(&t).ok_or_else(|| corrupt(name)))
                .transpose()
        }

        fn c_u32<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<u32> {
            u32::try_from(c_i32(row, name)?).map_err(|_| corrupt(name))
        }

        fn c_u8<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<u8> {
            u8::try_from(c_i32(row, name)?).map_err(|_| corrupt(name))
        }

        fn c_digest<'a, T>(
            row: &impl NamedRow<'a, $db>,
            name: &str,
            make: fn(&[u8]) -> Result<T, mfa_core::model::DigestLengthError>,
        ) -> StoreResult<T> {
            make(&c_bytes(row, name)?).map_err(|_| corrupt(name))
        }

        fn c_opt_digest<'a, T>(
            row: &impl NamedRow<'a, $db>,
            name: &str,
            make: fn(&[u8]) -> Result<T, mfa_core::model::DigestLengthError>,
        ) -> StoreResult<Option<T>> {
            c_opt_bytes(row, name)?
                .map(|b| make(&b).map_err(|_| corrupt(name)))
                .transpose()
        }

        fn c_amr<'a>(row: &impl NamedRow<'a, $db>, name: &str) -> StoreResult<Vec<AuthMethod>> {
            c_text(row, name)?
                .split(',')
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

        /// A row read into a model value.
        pub(crate) struct Row<T>(T);

        /// A single-column result, selected `AS v`.
        pub(crate) struct V<T>(T);

        macro_rules! by_name {
            ($t:ty, $read:expr) => {
                impl QueryableByName<$db> for $t {
                    fn build<'a>(row: &impl NamedRow<'a, $db>) -> deserialize::Result<Self> {
                        let read: fn(&_) -> StoreResult<_> = $read;
                        Ok(read(row)?)
                    }
                }
            };
        }

        by_name!(Row<User>, |r| user_from_row(r).map(Row));
        by_name!(Row<Factor>, |r| factor_from_row(r).map(Row));
        by_name!(Row<MfaSettings>, |r| settings_from_row(r).map(Row));
        by_name!(Row<OtpChallenge>, |r| challenge_from_row(r).map(Row));
        by_name!(Row<LoginTicket>, |r| ticket_from_row(r).map(Row));
        by_name!(Row<Device>, |r| device_from_row(r).map(Row));
        by_name!(Row<Session>, |r| session_from_row(r).map(Row));
        by_name!(Row<RefreshToken>, |r| refresh_from_row(r).map(Row));
        by_name!(Row<AuditEvent>, |r| audit_from_row(r).map(Row));
        by_name!(Row<FailureCounter>, |r| Ok(Row(FailureCounter {
            failures: c_u32(r, "failures")?,
            locked_until: read_opt_ts(r, "locked_until")?,
        })));
        by_name!(V<String>, |r| c_text(r, "v").map(V));
        by_name!(V<Option<String>>, |r| c_opt_text(r, "v").map(V));
        by_name!(V<i64>, |r| c_i64(r, "v").map(V));
        by_name!(V<i32>, |r| c_i32(r, "v").map(V));
        by_name!(V<Uuid>, |r| read_uuid(r, "v").map(V));
        by_name!(V<DateTime<Utc>>, |r| read_ts(r, "v").map(V));

        fn user_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<User> {
            Ok(User {
                id: UserId::from_uuid(read_uuid(row, "id")?),
                identifier: c_text(row, "identifier")?,
                email: c_opt_text(row, "email")?,
                phone: c_opt_text(row, "phone")?,
                locale: c_opt_text(row, "locale")?,
                password_hash: c_opt_text(row, "password_hash")?,
                status: c_enum(row, "status", UserStatus::parse)?,
                password_failures: FailureCounter {
                    failures: c_u32(row, "password_failures")?,
                    locked_until: read_opt_ts(row, "password_locked_until")?,
                },
                mfa_failures: FailureCounter {
                    failures: c_u32(row, "mfa_failures")?,
                    locked_until: read_opt_ts(row, "mfa_locked_until")?,
                },
                created_at: read_ts(row, "created_at")?,
                updated_at: read_ts(row, "updated_at")?,
                deleted_at: read_opt_ts(row, "deleted_at")?,
            })
        }

        fn factor_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<Factor> {
            let algorithm = c_opt_enum(row, "totp_algorithm", TotpAlgorithm::parse)?;
            let digits = c_opt_i32(row, "totp_digits")?;
            let period = c_opt_i32(row, "totp_period")?;
            let totp = match (algorithm, digits, period) {
                (Some(algorithm), Some(digits), Some(period)) => Some(TotpParams {
                    algorithm,
                    digits: u8::try_from(digits).map_err(|_| corrupt("totp_digits"))?,
                    period: u32::try_from(period).map_err(|_| corrupt("totp_period"))?,
                }),
                (None, None, None) => None,
                _ => return Err(corrupt("totp_algorithm")),
            };
            Ok(Factor {
                id: FactorId::from_uuid(read_uuid(row, "id")?),
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                kind: c_enum(row, "kind", FactorKind::parse)?,
                status: c_enum(row, "status", FactorStatus::parse)?,
                label: c_opt_text(row, "label")?,
                secret: c_opt_bytes(row, "secret")?.map(SealedSecret::from_bytes),
                totp,
                destination: c_opt_text(row, "destination")?,
                last_totp_step: c_opt_i64(row, "last_totp_step")?,
                created_at: read_ts(row, "created_at")?,
                confirmed_at: read_opt_ts(row, "confirmed_at")?,
                last_used_at: read_opt_ts(row, "last_used_at")?,
                deleted_at: read_opt_ts(row, "deleted_at")?,
            })
        }

        fn settings_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<MfaSettings> {
            Ok(MfaSettings {
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                enforced: c_bool(row, "enforced")?,
                grace_deadline: read_opt_ts(row, "grace_deadline")?,
                preferred: c_opt_enum(row, "preferred", FactorKind::parse)?,
                updated_at: read_ts(row, "updated_at")?,
            })
        }

        fn challenge_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<OtpChallenge> {
            Ok(OtpChallenge {
                id: ChallengeId::from_uuid(read_uuid(row, "id")?),
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                factor_id: FactorId::from_uuid(read_uuid(row, "factor_id")?),
                ticket_id: read_opt_uuid(row, "ticket_id")?.map(TicketId::from_uuid),
                purpose: c_enum(row, "purpose", ChallengePurpose::parse)?,
                channel: c_enum(row, "channel", OtpChannel::parse)?,
                code_hash: c_digest(row, "code_hash", CodeHash::from_slice)?,
                attempts: c_u32(row, "attempts")?,
                max_attempts: c_u32(row, "max_attempts")?,
                created_at: read_ts(row, "created_at")?,
                expires_at: read_ts(row, "expires_at")?,
                consumed_at: read_opt_ts(row, "consumed_at")?,
            })
        }

        fn ticket_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<LoginTicket> {
            Ok(LoginTicket {
                id: TicketId::from_uuid(read_uuid(row, "id")?),
                token_hash: c_digest(row, "token_hash", TokenHash::from_slice)?,
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                session_id: read_opt_uuid(row, "session_id")?.map(SessionId::from_uuid),
                device_id: read_opt_uuid(row, "device_id")?.map(DeviceId::from_uuid),
                kind: c_enum(row, "kind", TicketKind::parse)?,
                amr: c_amr(row, "amr")?,
                risk_score: c_u8(row, "risk_score")?,
                created_at: read_ts(row, "created_at")?,
                expires_at: read_ts(row, "expires_at")?,
                consumed_at: read_opt_ts(row, "consumed_at")?,
            })
        }

        fn device_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<Device> {
            Ok(Device {
                id: DeviceId::from_uuid(read_uuid(row, "id")?),
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                fingerprint_hash: c_digest(row, "fingerprint_hash", FingerprintHash::from_slice)?,
                info: DeviceInfo {
                    kind: c_enum(row, "kind", DeviceKind::parse)?,
                    name: c_opt_text(row, "name")?,
                    os: c_opt_text(row, "os")?,
                    os_version: c_opt_text(row, "os_version")?,
                    browser: c_opt_text(row, "browser")?,
                    browser_version: c_opt_text(row, "browser_version")?,
                    app_version: c_opt_text(row, "app_version")?,
                    brand: c_opt_text(row, "brand")?,
                    model: c_opt_text(row, "model")?,
                },
                last_ip: c_opt_text(row, "last_ip")?,
                last_country: c_opt_text(row, "last_country")?,
                first_seen_at: read_ts(row, "first_seen_at")?,
                last_seen_at: read_ts(row, "last_seen_at")?,
                trust_token_hash: c_opt_digest(row, "trust_token_hash", TokenHash::from_slice)?,
                trusted_at: read_opt_ts(row, "trusted_at")?,
                trusted_until: read_opt_ts(row, "trusted_until")?,
                compromised_at: read_opt_ts(row, "compromised_at")?,
                risk_score: c_u8(row, "risk_score")?,
                metadata: read_json(row, "metadata")?,
                deleted_at: read_opt_ts(row, "deleted_at")?,
            })
        }

        fn session_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<Session> {
            let aal = c_i32(row, "aal")?;
            Ok(Session {
                id: SessionId::from_uuid(read_uuid(row, "id")?),
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                device_id: read_opt_uuid(row, "device_id")?.map(DeviceId::from_uuid),
                session_type: c_enum(row, "session_type", SessionType::parse)?,
                status: c_enum(row, "status", SessionStatus::parse)?,
                aal: u8::try_from(aal)
                    .ok()
                    .and_then(Aal::from_level)
                    .ok_or_else(|| corrupt("aal"))?,
                amr: c_amr(row, "amr")?,
                mfa_at: read_opt_ts(row, "mfa_at")?,
                ip: c_opt_text(row, "ip")?,
                user_agent: c_opt_text(row, "user_agent")?,
                country: c_opt_text(row, "country")?,
                risk_score: c_u8(row, "risk_score")?,
                created_at: read_ts(row, "created_at")?,
                last_seen_at: read_ts(row, "last_seen_at")?,
                expires_at: read_ts(row, "expires_at")?,
                revoked_at: read_opt_ts(row, "revoked_at")?,
                revocation_reason: c_opt_enum(row, "revocation_reason", RevocationReason::parse)?,
            })
        }

        fn refresh_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<RefreshToken> {
            Ok(RefreshToken {
                id: RefreshTokenId::from_uuid(read_uuid(row, "id")?),
                family_id: FamilyId::from_uuid(read_uuid(row, "family_id")?),
                session_id: SessionId::from_uuid(read_uuid(row, "session_id")?),
                user_id: UserId::from_uuid(read_uuid(row, "user_id")?),
                parent_id: read_opt_uuid(row, "parent_id")?.map(RefreshTokenId::from_uuid),
                token_hash: c_digest(row, "token_hash", TokenHash::from_slice)?,
                status: c_enum(row, "status", RefreshStatus::parse)?,
                created_at: read_ts(row, "created_at")?,
                expires_at: read_ts(row, "expires_at")?,
                used_at: read_opt_ts(row, "used_at")?,
            })
        }

        fn audit_from_row<'a>(row: &impl NamedRow<'a, $db>) -> StoreResult<AuditEvent> {
            Ok(AuditEvent {
                id: mfa_core::model::AuditEventId::from_uuid(read_uuid(row, "id")?),
                at: read_ts(row, "at")?,
                user_id: read_opt_uuid(row, "user_id")?.map(UserId::from_uuid),
                session_id: read_opt_uuid(row, "session_id")?.map(SessionId::from_uuid),
                device_id: read_opt_uuid(row, "device_id")?.map(DeviceId::from_uuid),
                kind: c_enum(row, "kind", AuditKind::parse)?,
                outcome: c_enum(row, "outcome", AuditOutcome::parse)?,
                factor: c_opt_enum(row, "factor", FactorKind::parse)?,
                ip: c_opt_text(row, "ip")?,
                user_agent: c_opt_text(row, "user_agent")?,
                country: c_opt_text(row, "country")?,
                risk_score: c_opt_i32(row, "risk_score")?
                    .map(|r| u8::try_from(r).map_err(|_| corrupt("risk_score")))
                    .transpose()?,
                metadata: read_json(row, "metadata")?,
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
            /// A connection from the pool.
            async fn conn(
                &self,
            ) -> StoreResult<
                diesel_async::pooled_connection::deadpool::Object<Conn>,
            > {
                self.pool.get().await.map_err(pool_err)
            }

            /// A statement from a template, with its arguments bound in the
            /// backend's placeholder order.
            fn stmt(&self, template: &str, args: Vec<Arg>) -> DbQuery {
                let (sql, order) = DIALECT.prepare(template, self.prefix.as_str());
                let mut query = diesel::sql_query(sql).into_boxed::<$db>();
                match order {
                    None => {
                        let used = $crate::sql::highest_placeholder(template);
                        for arg in args.into_iter().take(used) {
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

            /// Runs a statement on `conn`; returns the affected row count.
            async fn run_as(
                &self,
                conn: &mut Conn,
                template: &str,
                args: Vec<Arg>,
                conflict: &'static str,
            ) -> StoreResult<u64> {
                let n = self
                    .stmt(template, args)
                    .execute(conn)
                    .await
                    .map_err(|e| map_err_as(e, conflict))?;
                Ok(n as u64)
            }

            async fn run(&self, conn: &mut Conn, template: &str, args: Vec<Arg>) -> StoreResult<u64> {
                self.run_as(conn, template, args, "duplicate row").await
            }

            /// Every row of a query on `conn`.
            async fn all<R>(&self, conn: &mut Conn, template: &str, args: Vec<Arg>) -> StoreResult<Vec<R>>
            where
                R: QueryableByName<$db> + Send + 'static,
            {
                self.stmt(template, args)
                    .load::<R>(conn)
                    .await
                    .map_err(map_err)
            }

            /// The first row of a query on `conn`, if any.
            async fn first<R>(&self, conn: &mut Conn, template: &str, args: Vec<Arg>) -> StoreResult<Option<R>>
            where
                R: QueryableByName<$db> + Send + 'static,
            {
                Ok(self.all::<R>(conn, template, args).await?.into_iter().next())
            }

            /// The row a query must return on `conn`.
            async fn one<R>(&self, conn: &mut Conn, template: &str, args: Vec<Arg>) -> StoreResult<R>
            where
                R: QueryableByName<$db> + Send + 'static,
            {
                self.first::<R>(conn, template, args)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("an expected row is missing".into()))
            }

            /// [`Self::run`] on a pooled connection.
            async fn affected(&self, template: &str, args: Vec<Arg>) -> StoreResult<u64> {
                let mut conn = self.conn().await?;
                self.run(&mut conn, template, args).await
            }

            /// [`Self::run_as`] on a pooled connection, for inserts.
            async fn insert(&self, template: &str, args: Vec<Arg>, conflict: &'static str) -> StoreResult<()> {
                let mut conn = self.conn().await?;
                self.run_as(&mut conn, template, args, conflict).await?;
                Ok(())
            }

            /// [`Self::first`] of a model row on a pooled connection.
            async fn get_row<T>(&self, template: &str, args: Vec<Arg>) -> StoreResult<Option<T>>
            where
                Row<T>: QueryableByName<$db> + Send + 'static,
            {
                let mut conn = self.conn().await?;
                Ok(self.first::<Row<T>>(&mut conn, template, args).await?.map(|r| r.0))
            }

            /// [`Self::all`] of model rows on a pooled connection.
            async fn get_rows<T>(&self, template: &str, args: Vec<Arg>) -> StoreResult<Vec<T>>
            where
                Row<T>: QueryableByName<$db> + Send + 'static,
            {
                let mut conn = self.conn().await?;
                Ok(self
                    .all::<Row<T>>(&mut conn, template, args)
                    .await?
                    .into_iter()
                    .map(|r| r.0)
                    .collect())
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
                let mut conn = self.conn().await?;
                loop {
                    let n = self.run(&mut conn, &template, args.clone()).await?;
                    total += n;
                    if n < u64::from(PURGE_BATCH) {
                        return Ok(total);
                    }
                }
            }
        }

        #[async_trait]
        impl UserRepository for $store {
            async fn create_user(&self, user: &User) -> StoreResult<()> {
                self.insert(
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
                    "user identifier",
                )
                .await
            }

            async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {} FROM {{p}}users WHERE id = $1", cols::USER);
                self.get_row(&sql, vec![uuid_of(id)]).await
            }

            async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}users WHERE identifier = $1 AND deleted_at IS NULL",
                    cols::USER
                );
                self.get_row(&sql, vec![text(identifier)]).await
            }

            async fn set_password(
                &self,
                id: UserId,
                password_hash: &str,
                history_limit: u32,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let lock = format!(
                    "SELECT password_hash AS v FROM {{p}}users WHERE id = $1 \
                     AND deleted_at IS NULL{}",
                    DIALECT.for_update
                );
                $crate::repo::in_tx!(self, conn, {
                    let Some(V(previous)) = self
                        .first::<V<Option<String>>>(conn, &lock, vec![uuid_of(id)])
                        .await?
                    else {
                        return Ok(false);
                    };
                    self.run(
                        conn,
                        "UPDATE {p}users SET password_hash = $2, updated_at = $3 WHERE id = $1",
                        vec![uuid_of(id), text(password_hash), Arg::Ts(now)],
                    )
                    .await?;
                    if let Some(previous) = previous {
                        self.run(
                            conn,
                            "INSERT INTO {p}password_history (id, user_id, password_hash, \
                             created_at) VALUES ($1, $2, $3, $4)",
                            vec![uuid_of(Uuid::now_v7()), uuid_of(id), Arg::Text(previous), Arg::Ts(now)],
                        )
                        .await?;
                    }
                    let ids = self
                        .all::<V<Uuid>>(
                            conn,
                            "SELECT id AS v FROM {p}password_history WHERE user_id = $1 \
                             ORDER BY created_at DESC, id DESC",
                            vec![uuid_of(id)],
                        )
                        .await?;
                    let extra: Vec<Arg> = ids
                        .into_iter()
                        .skip(history_limit as usize)
                        .map(|V(u)| Arg::Uuid(u))
                        .collect();
                    if !extra.is_empty() {
                        let sql = format!(
                            "DELETE FROM {{p}}password_history WHERE id IN ({})",
                            params(1, extra.len())
                        );
                        self.run(conn, &sql, extra).await?;
                    }
                    Ok(true)
                })
            }

            async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
                let mut conn = self.conn().await?;
                let rows = self
                    .all::<V<String>>(
                        &mut conn,
                        "SELECT password_hash AS v FROM {p}password_history WHERE user_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT $2",
                        vec![uuid_of(id), Arg::I64(i64::from(limit))],
                    )
                    .await?;
                Ok(rows.into_iter().map(|V(h)| h).collect())
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
                    "SELECT {failures_col} AS failures, {locked_col} AS locked_until \
                     FROM {{p}}users WHERE id = $1 AND deleted_at IS NULL"
                );
                let write = format!(
                    "UPDATE {{p}}users SET {failures_col} = $2, {locked_col} = $3 \
                     WHERE id = $1 AND deleted_at IS NULL AND {failures_col} = $4 \
                     AND {locked_col} {} $5",
                    DIALECT.null_safe_eq
                );
                let mut conn = self.conn().await?;
                for _ in 0..10_000 {
                    let Some(Row(current)) = self
                        .first::<Row<FailureCounter>>(&mut conn, &read, vec![uuid_of(id)])
                        .await?
                    else {
                        return Ok(FailureOutcome::NotFound);
                    };
                    let Some(next) = rule.next(current, now) else {
                        let lock = current.lock_at(rule, now).ok_or_else(|| {
                            StoreError::Corrupt("refused failure without a lock".into())
                        })?;
                        return Ok(FailureOutcome::Locked(lock));
                    };
                    let n = self
                        .run(
                            &mut conn,
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
                Err(StoreError::Corrupt("failure counter never settled".into()))
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

            async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
                let sql = format!("SELECT {} FROM {{p}}factors WHERE id = $1", cols::FACTOR);
                self.get_row(&sql, vec![uuid_of(id)]).await
            }

            async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}factors WHERE user_id = $1 AND deleted_at IS NULL \
                     ORDER BY created_at, id",
                    cols::FACTOR
                );
                self.get_rows(&sql, vec![uuid_of(user)]).await
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
                self.get_row(&sql, vec![uuid_of(user)]).await
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
                $crate::repo::in_tx!(self, conn, {
                    self.run(
                        conn,
                        "DELETE FROM {p}backup_codes WHERE user_id = $1",
                        vec![uuid_of(user)],
                    )
                    .await?;
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
                        self.run_as(conn, &sql, args, "backup code").await?;
                    }
                    Ok(())
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
                let mut conn = self.conn().await?;
                let V(n) = self
                    .one::<V<i64>>(
                        &mut conn,
                        "SELECT COUNT(*) AS v FROM {p}backup_codes \
                         WHERE user_id = $1 AND used_at IS NULL",
                        vec![uuid_of(user)],
                    )
                    .await?;
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
                // Lock the factor so two concurrent sends cannot both leave
                // their code open (SQLite: the write lock is held).
                let lock = format!(
                    "SELECT id AS v FROM {{p}}factors WHERE id = $1{}",
                    DIALECT.for_update
                );
                $crate::repo::in_tx!(self, conn, {
                    self.first::<V<Uuid>>(conn, &lock, vec![uuid_of(challenge.factor_id)])
                        .await?;
                    self.run(
                        conn,
                        "UPDATE {p}challenges SET consumed_at = $3 \
                         WHERE factor_id = $1 AND purpose = $2 AND consumed_at IS NULL",
                        vec![
                            uuid_of(challenge.factor_id),
                            text(challenge.purpose.as_str()),
                            Arg::Ts(challenge.created_at),
                        ],
                    )
                    .await?;
                    self.run_as(
                        conn,
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
                        "challenge id",
                    )
                    .await?;
                    Ok(())
                })
            }

            async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>> {
                let sql = format!("SELECT {} FROM {{p}}challenges WHERE id = $1", cols::CHALLENGE);
                self.get_row(&sql, vec![uuid_of(id)]).await
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
                self.get_row(&sql, vec![uuid_of(factor), text(purpose.as_str())])
                    .await
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
                         RETURNING attempts AS v"
                    );
                    let mut conn = self.conn().await?;
                    if let Some(V(attempts)) = self
                        .first::<V<i32>>(&mut conn, &sql, vec![uuid_of(id), Arg::Ts(now)])
                        .await?
                    {
                        return Ok(ChallengeAttempt::Allowed {
                            attempts: u32::try_from(attempts).map_err(|_| corrupt("attempts"))?,
                        });
                    }
                    drop(conn);
                    // Refused: say why. Attempts only grow and a closed
                    // challenge never reopens, so this read cannot flip it.
                    let Some(c) = self.get_challenge(id).await? else {
                        return Ok(ChallengeAttempt::Closed);
                    };
                    return Ok(attempt_refusal(&c, now));
                }
                let sql = format!(
                    "SELECT {} FROM {{p}}challenges WHERE id = $1{}",
                    cols::CHALLENGE,
                    DIALECT.for_update
                );
                $crate::repo::in_tx!(self, conn, {
                    let Some(Row(c)) = self
                        .first::<Row<OtpChallenge>>(conn, &sql, vec![uuid_of(id)])
                        .await?
                    else {
                        return Ok(ChallengeAttempt::Closed);
                    };
                    if !c.is_open(now) {
                        return Ok(attempt_refusal(&c, now));
                    }
                    self.run(
                        conn,
                        "UPDATE {p}challenges SET attempts = attempts + 1 WHERE id = $1",
                        vec![uuid_of(id)],
                    )
                    .await?;
                    Ok(ChallengeAttempt::Allowed {
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
                self.insert(
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
                    "ticket",
                )
                .await
            }

            async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}login_tickets WHERE token_hash = $1",
                    cols::TICKET
                );
                self.get_row(&sql, vec![Arg::Bytes(token_hash.as_bytes().to_vec())])
                    .await
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
                    $crate::repo::in_tx!(self, conn, {
                        self.run_as(conn, &sql, args.clone(), "device").await?;
                        let Row(device) = self
                            .one::<Row<Device>>(
                                conn,
                                &select,
                                vec![
                                    uuid_of(sighting.user_id),
                                    Arg::Bytes(sighting.fingerprint_hash.as_bytes().to_vec()),
                                ],
                            )
                            .await?;
                        Ok(device)
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
                    $crate::repo::retry!(async {
                        let mut conn = self.conn().await?;
                        let Row(device) = self
                            .stmt(&sql, args.clone())
                            .load::<Row<Device>>(&mut conn)
                            .await
                            .map_err(|e| map_err_as(e, "device"))?
                            .into_iter()
                            .next()
                            .ok_or_else(|| StoreError::Corrupt("upsert returned no row".into()))?;
                        Ok::<_, StoreError>(device)
                    })?
                };
                let created = device.id == new_id;
                Ok(Upserted { device, created })
            }

            async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
                let sql = format!("SELECT {} FROM {{p}}devices WHERE id = $1", cols::DEVICE);
                self.get_row(&sql, vec![uuid_of(id)]).await
            }

            async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}devices WHERE user_id = $1 AND deleted_at IS NULL \
                     ORDER BY last_seen_at DESC, id DESC",
                    cols::DEVICE
                );
                self.get_rows(&sql, vec![uuid_of(user)]).await
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
                self.get_row(
                    &sql,
                    vec![uuid_of(user), Arg::Bytes(token_hash.as_bytes().to_vec()), Arg::Ts(now)],
                )
                .await
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
                conn: &mut Conn,
                id: SessionId,
                reason: RevocationReason,
                now: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let n = self
                    .run(
                        conn,
                        "UPDATE {p}sessions SET status = 'revoked', revoked_at = $2, \
                         revocation_reason = $3 WHERE id = $1 AND status <> 'revoked'",
                        vec![uuid_of(id), Arg::Ts(now), text(reason.as_str())],
                    )
                    .await?;
                if n > 0 {
                    self.run(
                        conn,
                        "UPDATE {p}refresh_tokens SET status = 'revoked', \
                         used_at = COALESCE(used_at, $2) \
                         WHERE session_id = $1 AND status <> 'revoked'",
                        vec![uuid_of(id), Arg::Ts(now)],
                    )
                    .await?;
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
                $crate::repo::in_tx!(self, conn, {
                    self.run(conn, &tokens, args.clone()).await?;
                    self.run(conn, &sessions, args.clone()).await
                })
            }
        }

        #[async_trait]
        impl SessionRepository for $store {
            async fn create_session(&self, session: &Session) -> StoreResult<()> {
                self.insert(
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
                    "session id",
                )
                .await
            }

            async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
                let sql = format!("SELECT {} FROM {{p}}sessions WHERE id = $1", cols::SESSION);
                self.get_row(&sql, vec![uuid_of(id)]).await
            }

            async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
                let sql = format!(
                    "SELECT {} FROM {{p}}sessions WHERE user_id = $1 AND status <> 'revoked' \
                     AND expires_at > $2 ORDER BY created_at DESC, id DESC",
                    cols::SESSION
                );
                self.get_rows(&sql, vec![uuid_of(user), Arg::Ts(now)]).await
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
                $crate::repo::in_tx!(self, conn, {
                    self.revoke_session_on(conn, id, reason, now).await
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
                self.insert(
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
                    "refresh token",
                )
                .await
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
                let by_hash = format!(
                    "SELECT {} FROM {{p}}refresh_tokens WHERE token_hash = $1",
                    cols::REFRESH
                );
                let locked_by_hash = format!("{by_hash}{}", DIALECT.for_update);
                $crate::repo::in_tx!(self, conn, {
                    let won = if DIALECT.returning {
                        let sql = format!("{GATE} RETURNING {}", cols::REFRESH);
                        self.first::<Row<RefreshToken>>(conn, &sql, vec![hash.clone(), Arg::Ts(now)])
                            .await?
                    } else {
                        let n = self
                            .run(conn, GATE, vec![hash.clone(), Arg::Ts(now)])
                            .await?;
                        if n == 1 {
                            self.first::<Row<RefreshToken>>(conn, &by_hash, vec![hash.clone()])
                                .await?
                        } else {
                            None
                        }
                    };
                    if let Some(Row(current)) = won {
                        let Row(session) = if DIALECT.returning {
                            let sql = format!(
                                "UPDATE {{p}}sessions SET last_seen_at = $2 WHERE id = $1 \
                                 RETURNING {}",
                                cols::SESSION
                            );
                            self.one::<Row<Session>>(
                                conn,
                                &sql,
                                vec![uuid_of(current.session_id), Arg::Ts(now)],
                            )
                            .await?
                        } else {
                            self.run(
                                conn,
                                "UPDATE {p}sessions SET last_seen_at = $2 WHERE id = $1",
                                vec![uuid_of(current.session_id), Arg::Ts(now)],
                            )
                            .await?;
                            let sql = format!(
                                "SELECT {} FROM {{p}}sessions WHERE id = $1",
                                cols::SESSION
                            );
                            self.one::<Row<Session>>(conn, &sql, vec![uuid_of(current.session_id)])
                                .await?
                        };
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
                        self.run_as(
                            conn,
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
                            "refresh token",
                        )
                        .await?;
                        return Ok(RotateOutcome::Rotated { token, session });
                    }
                    // Lost or refused: the locking read waits for a winner
                    // still in flight, so a loser sees the token rotated.
                    let Some(Row(current)) = self
                        .first::<Row<RefreshToken>>(conn, &locked_by_hash, vec![hash.clone()])
                        .await?
                    else {
                        return Ok(RotateOutcome::Unknown);
                    };
                    let outcome = match current.status {
                        RefreshStatus::Revoked => RotateOutcome::Revoked {
                            user_id: current.user_id,
                        },
                        RefreshStatus::Active => RotateOutcome::Expired {
                            user_id: current.user_id,
                        },
                        RefreshStatus::Rotated => {
                            self.run(
                                conn,
                                "UPDATE {p}refresh_tokens SET status = 'revoked', \
                                 used_at = COALESCE(used_at, $2) \
                                 WHERE family_id = $1 AND status <> 'revoked'",
                                vec![uuid_of(current.family_id), Arg::Ts(now)],
                            )
                            .await?;
                            self.revoke_session_on(
                                conn,
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
                    Ok(outcome)
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
                let mut items: Vec<AuditEvent> = self.get_rows(&sql, args).await?;
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
                    "SELECT rate_key AS v FROM {{p}}rate_limit_keys WHERE rate_key = $1{}",
                    DIALECT.for_update
                );
                let window_start = now - window;
                for _ in 0..100 {
                    self.affected(ensure, vec![text(key)]).await?;
                    let decision = $crate::repo::in_tx!(self, conn, {
                        let locked = self.first::<V<String>>(conn, &lock, vec![text(key)]).await?;
                        if locked.is_none() {
                            // Purged between the insert and the lock: again.
                            return Ok(None);
                        }
                        let hits = self
                            .all::<V<DateTime<Utc>>>(
                                conn,
                                "SELECT at AS v FROM {p}rate_limit_hits WHERE rate_key = $1 \
                                 AND at > $2 ORDER BY at",
                                vec![text(key), Arg::Ts(window_start)],
                            )
                            .await?;
                        let used = u32::try_from(hits.len()).unwrap_or(u32::MAX);
                        if used >= limit {
                            let oldest = hits.iter().next().map_or(now, |V(at)| *at);
                            return Ok(Some(RateDecision::Limited {
                                retry_after: (oldest + window - now).max(TimeDelta::zero()),
                            }));
                        }
                        self.run(
                            conn,
                            "INSERT INTO {p}rate_limit_hits (id, rate_key, at, expires_at) \
                             VALUES ($1, $2, $3, $4)",
                            vec![uuid_of(Uuid::now_v7()), text(key), Arg::Ts(now), Arg::Ts(now + window)],
                        )
                        .await?;
                        Ok(Some(RateDecision::Allowed {
                            remaining: limit - used - 1,
                        }))
                    })?;
                    if let Some(decision) = decision {
                        return Ok(decision);
                    }
                }
                Err(StoreError::Corrupt("rate limit key vanished repeatedly".into()))
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
pub(crate) use in_tx;
pub(crate) use retry;
