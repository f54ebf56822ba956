//! Sessions and refresh tokens.

use crate::columns as cols;
use crate::driver::{Driver, Executor};
use crate::repo::reads::{Part, aliased, qualified};
use crate::rows::*;
use crate::sql::Arg;
use crate::store::{SqlStore, in_tx};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;

/// The insert of one refresh token, with [`refresh_args`].
const INSERT_REFRESH: &str = "INSERT INTO {p}refresh_tokens (id, family_id, session_id, \
     user_id, parent_id, token_hash, status, created_at, expires_at, used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Ends the reuse grace kept on a token (`$1`) once its child is rotated:
/// the sealed child is no longer needed.
const END_PARENT_GRACE: &str = "UPDATE {p}refresh_tokens SET grace_successor = NULL, \
     grace_until = NULL WHERE id = $1 AND grace_until IS NOT NULL";

/// [`END_PARENT_GRACE`] as a clause of the PostgreSQL gate, for the parent
/// of the token the gate `g` rotated.
const END_PARENT_GRACE_BATCHED: &str = "UPDATE {p}refresh_tokens up SET grace_successor = NULL, \
     grace_until = NULL FROM g WHERE up.id = g.parent_id AND up.grace_until IS NOT NULL";

/// The values of [`INSERT_REFRESH`] for `token`.
fn refresh_args(token: &RefreshToken) -> Vec<Arg> {
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
    ]
}

impl<D: Driver> SqlStore<D> {
    /// Revokes a session and its refresh tokens on `conn` (inside a
    /// transaction); `true` if it was not revoked yet.
    async fn revoke_session_on(
        &self,
        conn: &mut (dyn Executor + '_),
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
    async fn revoke_sessions_where(&self, condition: &str, args: Vec<Arg>) -> StoreResult<u64> {
        let tokens = format!(
            "UPDATE {{p}}refresh_tokens SET status = 'revoked', \
             used_at = COALESCE(used_at, $2) WHERE status <> 'revoked' AND session_id IN \
             (SELECT id FROM {{p}}sessions WHERE {condition} AND status <> 'revoked')"
        );
        let sessions = format!(
            "UPDATE {{p}}sessions SET status = 'revoked', revoked_at = $2, \
             revocation_reason = $3 WHERE {condition} AND status <> 'revoked'"
        );
        in_tx!(self, |conn| {
            self.run(conn, &tokens, args.clone()).await?;
            self.run(conn, &sessions, args.clone()).await
        })
    }
}

#[async_trait]
impl<D: Driver> SessionRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "create_session"))]
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.insert_or_defer(
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_session"))]
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        let sql = format!("SELECT {} FROM {{p}}sessions WHERE id = $1", cols::SESSION);
        self.row(&sql, vec![uuid_of(id)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "list_sessions"))]
    async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let sql = format!(
            "SELECT {} FROM {{p}}sessions WHERE user_id = $1 AND status <> 'revoked' \
             AND expires_at > $2 ORDER BY created_at DESC, id DESC",
            cols::SESSION
        );
        self.rows(&sql, vec![uuid_of(user), Arg::Ts(now)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "authenticate_session"))]
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "revoke_session"))]
    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_tx!(self, |conn| {
            self.revoke_session_on(conn, id, reason, now).await
        })
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "revoke_user_sessions"))]
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "revoke_device_sessions"))]
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "insert_refresh_token"))]
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        self.insert_or_defer(INSERT_REFRESH, refresh_args(token), "refresh token")
            .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "rotate_refresh_token"))]
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        new: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome> {
        let hash = Arg::Bytes(presented.as_bytes().to_vec());
        // The gate: one conditional update decides the single winner. With
        // reuse grace it also keeps the sealed child and the grace deadline
        // on the token it rotates.
        let gate = format!(
            "UPDATE {{p}}refresh_tokens SET status = 'rotated', used_at = $2{} \
             WHERE token_hash = $1 AND status = 'active' AND expires_at > $2 \
             AND EXISTS (SELECT 1 FROM {{p}}sessions s WHERE s.id = {{p}}refresh_tokens.session_id \
             AND s.status = 'active' AND s.expires_at > $2)",
            if new.grace.is_some() {
                ", grace_successor = $3, grace_until = $4"
            } else {
                ""
            }
        );
        let mut gate_args = vec![hash.clone(), Arg::Ts(now)];
        if let Some(grace) = &new.grace {
            gate_args.push(Arg::Bytes(grace.sealed_successor.as_bytes().to_vec()));
            gate_args.push(Arg::Ts(grace.until));
        }
        let by_hash = format!(
            "SELECT {} FROM {{p}}refresh_tokens WHERE token_hash = $1",
            cols::REFRESH
        );
        // Inside a unit on PostgreSQL the gate and the session's touch are
        // one statement (with grace, so is the end of the parent's grace),
        // and the child waits for the unit's flush.
        let batched = self.dialect().batch_writes && self.unit().is_some();
        let gate_and_touch = format!(
            "WITH g AS ({gate} RETURNING {}),{} s AS (UPDATE {{p}}sessions x \
             SET last_seen_at = $2 FROM g WHERE x.id = g.session_id RETURNING {}) \
             SELECT {}, {} FROM g JOIN s ON TRUE",
            cols::REFRESH,
            if new.grace.is_some() {
                format!(" y AS ({END_PARENT_GRACE_BATCHED}),")
            } else {
                String::new()
            },
            qualified("x", cols::SESSION),
            aliased("g", cols::REFRESH),
            aliased("s", cols::SESSION),
        );
        // A retry within grace: the presented token's child, still the
        // family's active token, and its active session (the child locked,
        // so it cannot be rotated before this answer is decided).
        let retry_read = format!(
            "SELECT {}, {} FROM {{p}}refresh_tokens c JOIN {{p}}sessions s \
             ON s.id = c.session_id WHERE c.parent_id = $1 AND c.status = 'active' \
             AND c.expires_at > $2 AND s.status = 'active' AND s.expires_at > $2{}",
            aliased("c", cols::REFRESH),
            aliased("s", cols::SESSION),
            self.dialect().for_update_of("c"),
        );
        in_tx!(self, |conn| {
            let touched = if batched {
                self.row_on(conn, &gate_and_touch, gate_args.clone(), |row| {
                    Ok((
                        RefreshToken::from_row(&Part { row, alias: "g" })?,
                        Session::from_row(&Part { row, alias: "s" })?,
                    ))
                })
                .await?
            } else {
                None
            };
            let won = if batched {
                touched.as_ref().map(|(token, _)| token.clone())
            } else if self.dialect().returning {
                let sql = format!("{gate} RETURNING {}", cols::REFRESH);
                self.row_on(conn, &sql, gate_args.clone(), refresh_from_row)
                    .await?
            } else {
                let n = self.run(conn, &gate, gate_args.clone()).await?;
                if n == 1 {
                    self.row_on(conn, &by_hash, vec![hash.clone()], refresh_from_row)
                        .await?
                } else {
                    None
                }
            };
            if let Some(current) = won {
                let session = if let Some((_, session)) = touched {
                    session
                } else if self.dialect().returning {
                    let sql = format!(
                        "UPDATE {{p}}sessions SET last_seen_at = $2 WHERE id = $1 \
                         RETURNING {}",
                        cols::SESSION
                    );
                    self.one_on(
                        conn,
                        &sql,
                        vec![uuid_of(current.session_id), Arg::Ts(now)],
                        session_from_row,
                    )
                    .await?
                } else {
                    self.run(
                        conn,
                        "UPDATE {p}sessions SET last_seen_at = $2 WHERE id = $1",
                        vec![uuid_of(current.session_id), Arg::Ts(now)],
                    )
                    .await?;
                    let sql = format!("SELECT {} FROM {{p}}sessions WHERE id = $1", cols::SESSION);
                    self.one_on(
                        conn,
                        &sql,
                        vec![uuid_of(current.session_id)],
                        session_from_row,
                    )
                    .await?
                };
                if !batched
                    && new.grace.is_some()
                    && let Some(parent) = current.parent_id
                {
                    self.run(conn, END_PARENT_GRACE, vec![uuid_of(parent)])
                        .await?;
                }
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
                if batched {
                    // A fresh id and token hash: the insert waits for the
                    // unit's flush.
                    self.insert_refresh_token(&token).await?;
                } else {
                    self.run_as(conn, INSERT_REFRESH, refresh_args(&token), "refresh token")
                        .await?;
                }
                return Ok(RotateOutcome::Rotated { token, session });
            }
            // Lost or refused: the locking read waits for a winner
            // still in flight, so a loser sees the token rotated.
            // The sealed child kept by a rotation with grace comes with it;
            // a rotation made without grace ignores it.
            let locked = format!(
                "SELECT {}, grace_successor, grace_until FROM {{p}}refresh_tokens \
                 WHERE token_hash = $1{}",
                cols::REFRESH,
                self.dialect().for_update
            );
            let found = self
                .row_on(conn, &locked, vec![hash.clone()], |row| {
                    let kept = match (
                        row.opt_bytes("grace_successor")?,
                        row.opt_ts("grace_until")?,
                    ) {
                        (Some(sealed), Some(until)) => {
                            Some((SealedSecret::from_bytes(sealed), until))
                        }
                        _ => None,
                    };
                    Ok((refresh_from_row(row)?, kept))
                })
                .await?;
            let Some((current, kept)) = found else {
                return Ok(RotateOutcome::Unknown);
            };
            let kept = kept.filter(|_| new.grace.is_some());
            let outcome = match current.status {
                RefreshStatus::Revoked => RotateOutcome::Revoked {
                    user_id: current.user_id,
                },
                RefreshStatus::Active => RotateOutcome::Expired {
                    user_id: current.user_id,
                },
                RefreshStatus::Rotated => {
                    if let Some((sealed, until)) = kept
                        && now < until
                        && let Some((token, session)) = self
                            .row_on(
                                conn,
                                &retry_read,
                                vec![uuid_of(current.id), Arg::Ts(now)],
                                |row| {
                                    Ok((
                                        RefreshToken::from_row(&Part { row, alias: "c" })?,
                                        Session::from_row(&Part { row, alias: "s" })?,
                                    ))
                                },
                            )
                            .await?
                    {
                        return Ok(RotateOutcome::Retried {
                            token,
                            session,
                            sealed_successor: sealed,
                        });
                    }
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "revoke_refresh_family"))]
    async fn revoke_refresh_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        // One UPDATE is not enough: a rotation in flight holds its token's
        // row lock until it commits the token's child, and the UPDATE,
        // having waited for that lock, still works from a snapshot taken
        // before the child existed, so the child stays active (and a
        // rotation of the child may be in flight in turn). So revoke again,
        // each statement with a fresh snapshot, until one finds nothing
        // left: then no rotation of the family was in flight (it would
        // hold a row this statement had to wait for and revoke), and every
        // token a rotation committed is revoked. Each round costs a client
        // a full rotation, so this ends after a few rounds.
        const REVOKE: &str = "UPDATE {p}refresh_tokens SET status = 'revoked', \
             used_at = COALESCE(used_at, $2) WHERE family_id = $1 AND status <> 'revoked'";
        const MAX_ROUNDS: usize = 64;
        in_tx!(self, |conn| {
            let mut revoked = 0;
            for _ in 0..MAX_ROUNDS {
                match self
                    .run(conn, REVOKE, vec![uuid_of(family), Arg::Ts(now)])
                    .await?
                {
                    0 => return Ok(revoked),
                    n => revoked += n,
                }
            }
            Err(StoreError::Unavailable(
                "the refresh family kept rotating while it was being revoked".into(),
            ))
        })
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_sessions"))]
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
