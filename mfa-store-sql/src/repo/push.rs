//! Push approval requests: created pending, answered once, completed once.
//! Each single-winner step is one conditional `UPDATE`: of concurrent
//! callers, the one whose statement changes the row wins, and every other
//! statement matches no row.

use crate::columns as cols;
use crate::driver::Driver;
use crate::rows::*;
use crate::sql::Arg;
use crate::store::SqlStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::{PushRequest, PushRequestId, PushResolution, PushStatus, UserId};
use mfa_core::store::*;
use tracing::instrument;

#[async_trait]
impl<D: Driver> PushRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "create_push_request"))]
    async fn create_push_request(&self, request: &PushRequest) -> StoreResult<()> {
        let context = serde_json::to_value(&request.context).map_err(StoreError::backend)?;
        let [choice_1, choice_2, choice_3] = request.choices.map(|c| Arg::I32(i32::from(c)));
        // A fresh id: inside a unit the insert waits for the flush. A user
        // that does not exist fails the foreign key (a backend error).
        self.insert_or_defer(
            "INSERT INTO {p}push_requests (id, user_id, ticket_id, number, choice_1, \
             choice_2, choice_3, context, status, factor_id, user_verified, created_at, \
             expires_at, answered_at, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            vec![
                uuid_of(request.id),
                uuid_of(request.user_id),
                uuid_of(request.ticket_id),
                Arg::I32(i32::from(request.number)),
                choice_1,
                choice_2,
                choice_3,
                Arg::Json(context),
                text(request.status.as_str()),
                opt_uuid(request.factor_id),
                Arg::Bool(request.user_verified),
                Arg::Ts(request.created_at),
                Arg::Ts(request.expires_at),
                Arg::OptTs(request.answered_at),
                Arg::OptTs(request.consumed_at),
            ],
            "push request id",
        )
        .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_push_request"))]
    async fn get_push_request(&self, id: PushRequestId) -> StoreResult<Option<PushRequest>> {
        let sql = format!(
            "SELECT {} FROM {{p}}push_requests WHERE id = $1",
            cols::PUSH_REQUEST
        );
        self.row(&sql, vec![uuid_of(id)]).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "resolve_push_request"))]
    async fn resolve_push_request(
        &self,
        id: PushRequestId,
        resolution: &PushResolution,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}push_requests \
                 SET status = $2, factor_id = $3, user_verified = $4, answered_at = $5 \
                 WHERE id = $1 AND status = $6 AND expires_at > $5",
                vec![
                    uuid_of(id),
                    text(resolution.status.as_str()),
                    uuid_of(resolution.factor_id),
                    Arg::Bool(resolution.user_verified),
                    Arg::Ts(resolution.at),
                    text(PushStatus::Pending.as_str()),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "consume_push_request"))]
    async fn consume_push_request(
        &self,
        id: PushRequestId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}push_requests SET consumed_at = $2 \
                 WHERE id = $1 AND status = $3 AND consumed_at IS NULL AND expires_at > $2",
                vec![
                    uuid_of(id),
                    Arg::Ts(now),
                    text(PushStatus::Approved.as_str()),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "count_pending_push_requests"))]
    async fn count_pending_push_requests(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let n = self
            .one_on(
                &mut self.pool(),
                "SELECT COUNT(*) AS n FROM {p}push_requests \
                 WHERE user_id = $1 AND status = $2 AND expires_at > $3",
                vec![
                    uuid_of(user),
                    text(PushStatus::Pending.as_str()),
                    Arg::Ts(now),
                ],
                |r| r.i64("n"),
            )
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_push_requests"))]
    async fn purge_push_requests(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_in_batches("push_requests", "expires_at < $1", vec![Arg::Ts(before)])
            .await
    }
}
