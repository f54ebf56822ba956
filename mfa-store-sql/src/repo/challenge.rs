//! OTP challenges and login tickets.

use crate::columns as cols;
use crate::driver::{Driver, Row};
use crate::rows::*;
use crate::sql::Arg;
use crate::store::{SqlStore, in_tx};
use crate::unit::RowKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;

#[async_trait]
impl<D: Driver> ChallengeRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "issue_challenge"))]
    async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()> {
        let close = self.st(
            "UPDATE {p}challenges SET consumed_at = $3 \
             WHERE factor_id = $1 AND purpose = $2 AND consumed_at IS NULL",
            vec![
                uuid_of(challenge.factor_id),
                text(challenge.purpose.as_str()),
                Arg::Ts(challenge.created_at),
            ],
        );
        let insert = self.st(
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
        );
        // A unit that holds the factor's row locked (it read it through
        // `ticket_context`) has already serialised the senders: both
        // writes wait for its flush.
        if let Some(unit) = self.unit()
            && unit.holds_factor(challenge.factor_id)
        {
            unit.defer(None, close);
            unit.defer(None, insert);
            unit.issued_challenge(challenge);
            return Ok(());
        }
        // Lock the factor so two concurrent sends cannot both leave
        // their code open (SQLite: the write lock is held).
        let lock = format!(
            "SELECT id FROM {{p}}factors WHERE id = $1{}",
            self.dialect().for_update
        );
        in_tx!(self, |conn| {
            self.row_on(conn, &lock, vec![uuid_of(challenge.factor_id)], |r| {
                r.uuid("id")
            })
            .await?;
            conn.execute(&close).await?;
            conn.execute(&insert)
                .await
                .map_err(crate::error::conflict_as("challenge id"))?;
            Ok(())
        })
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_challenge"))]
    async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>> {
        let sql = format!(
            "SELECT {} FROM {{p}}challenges WHERE id = $1",
            cols::CHALLENGE
        );
        self.row(&sql, vec![uuid_of(id)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "latest_challenge"))]
    async fn latest_challenge(
        &self,
        factor: FactorId,
        purpose: ChallengePurpose,
    ) -> StoreResult<Option<OtpChallenge>> {
        // A unit that read the factor under lock knows its latest login
        // challenge (see `ticket_context`).
        if let Some(known) = self
            .unit()
            .and_then(|unit| unit.latest_challenge(factor, purpose))
        {
            return Ok(known);
        }
        let sql = format!(
            "SELECT {} FROM {{p}}challenges WHERE factor_id = $1 AND purpose = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
            cols::CHALLENGE
        );
        self.row(&sql, vec![uuid_of(factor), text(purpose.as_str())])
            .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "record_challenge_attempt"))]
    async fn record_challenge_attempt(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<ChallengeAttempt> {
        if let Some(unit) = self.unit() {
            unit.forget_challenges();
        }
        const OPEN: &str = "id = $1 AND consumed_at IS NULL AND expires_at > $2 \
                            AND attempts < max_attempts";
        if self.dialect().returning {
            let sql = format!(
                "UPDATE {{p}}challenges SET attempts = attempts + 1 WHERE {OPEN} \
                 RETURNING attempts"
            );
            let attempts = |r: &dyn Row| c_u32(r, "attempts");
            if let Some(attempts) = self
                .row_on(
                    &mut self.pool(),
                    &sql,
                    vec![uuid_of(id), Arg::Ts(now)],
                    attempts,
                )
                .await?
            {
                return Ok(ChallengeAttempt::Allowed { attempts });
            }
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
            self.dialect().for_update
        );
        in_tx!(self, |conn| {
            let Some(c) = self
                .row_on(conn, &sql, vec![uuid_of(id)], challenge_from_row)
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "consume_challenge"))]
    async fn consume_challenge(&self, id: ChallengeId, now: DateTime<Utc>) -> StoreResult<bool> {
        if let Some(unit) = self.unit() {
            unit.forget_challenges();
        }
        let n = self
            .affected(
                "UPDATE {p}challenges SET consumed_at = $2 \
                 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
                vec![uuid_of(id), Arg::Ts(now)],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "create_ticket"))]
    async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()> {
        // A fresh id and token: inside a unit the insert waits for the
        // flush.
        self.insert_or_defer(
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "find_ticket"))]
    async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>> {
        let sql = format!(
            "SELECT {} FROM {{p}}login_tickets WHERE token_hash = $1",
            cols::TICKET
        );
        self.row(&sql, vec![Arg::Bytes(token_hash.as_bytes().to_vec())])
            .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "consume_ticket"))]
    async fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> StoreResult<bool> {
        if let Some(unit) = self.unit()
            && let Some(consumed) = unit.consume_ticket(id, now)
        {
            if consumed {
                unit.defer(
                    Some(RowKey::Ticket(id)),
                    self.st(
                        "UPDATE {p}login_tickets SET consumed_at = $2 WHERE id = $1",
                        vec![uuid_of(id), Arg::Ts(now)],
                    ),
                );
            }
            return Ok(consumed);
        }
        let n = self
            .affected(
                "UPDATE {p}login_tickets SET consumed_at = $2 \
                 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
                vec![uuid_of(id), Arg::Ts(now)],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "create_ceremony"))]
    async fn create_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()> {
        // A fresh id: inside a unit the insert waits for the flush.
        self.insert_or_defer(
            "INSERT INTO {p}webauthn_ceremonies (id, user_id, ticket_id, session_id, \
             purpose, state, created_at, expires_at, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                uuid_of(ceremony.id),
                opt_uuid(ceremony.user_id),
                opt_uuid(ceremony.ticket_id),
                opt_uuid(ceremony.session_id),
                text(ceremony.purpose.as_str()),
                Arg::Bytes(ceremony.state.as_bytes().to_vec()),
                Arg::Ts(ceremony.created_at),
                Arg::Ts(ceremony.expires_at),
                Arg::OptTs(ceremony.consumed_at),
            ],
            "ceremony id",
        )
        .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "take_ceremony"))]
    async fn take_ceremony(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebauthnCeremony>> {
        const TAKE: &str = "UPDATE {p}webauthn_ceremonies SET consumed_at = $2 \
                            WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2";
        if self.dialect().returning {
            // The conditional update is the single winner; it returns the
            // row it took.
            let sql = format!("{TAKE} RETURNING {}", cols::CEREMONY);
            return self
                .row_on(
                    &mut self.pool(),
                    &sql,
                    vec![uuid_of(id), Arg::Ts(now)],
                    ceremony_from_row,
                )
                .await;
        }
        // MySQL: the conditional update decides; the row is read back in the
        // same transaction, where the update's lock holds it.
        let read = format!(
            "SELECT {} FROM {{p}}webauthn_ceremonies WHERE id = $1",
            cols::CEREMONY
        );
        in_tx!(self, |conn| {
            if self
                .run(conn, TAKE, vec![uuid_of(id), Arg::Ts(now)])
                .await?
                != 1
            {
                return Ok(None);
            }
            self.row_on(conn, &read, vec![uuid_of(id)], ceremony_from_row)
                .await
        })
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_expired_challenges"))]
    async fn purge_expired_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        if let Some(unit) = self.unit() {
            unit.forget_challenges();
        }
        let challenges = self
            .purge_in_batches("challenges", "expires_at < $1", vec![Arg::Ts(before)])
            .await?;
        let ceremonies = self
            .purge_in_batches(
                "webauthn_ceremonies",
                "expires_at < $1",
                vec![Arg::Ts(before)],
            )
            .await?;
        let tickets = self
            .purge_in_batches("login_tickets", "expires_at < $1", vec![Arg::Ts(before)])
            .await?;
        Ok(challenges + ceremonies + tickets)
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
