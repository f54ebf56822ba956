//! Push approval requests.

use super::StoreResult;
use crate::model::{PushRequest, PushRequestId, PushResolution, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Push approval requests: created pending, answered once, completed once.
#[async_trait]
pub trait PushRepository: Send + Sync {
    /// Inserts a request.
    async fn create_push_request(&self, request: &PushRequest) -> StoreResult<()>;

    /// A request by id, in whatever state.
    async fn get_push_request(&self, id: PushRequestId) -> StoreResult<Option<PushRequest>>;

    /// Records the app's answer, atomically, if the request is still
    /// pending and unexpired at `resolution.at`: sets its status, the
    /// answering factor, `user_verified` and `answered_at`. Returns `true`
    /// for exactly one caller; every other answer, and any after
    /// `expires_at`, gets `false` and changes nothing.
    async fn resolve_push_request(
        &self,
        id: PushRequestId,
        resolution: &PushResolution,
    ) -> StoreResult<bool>;

    /// Marks an approved request consumed, atomically, if it is approved,
    /// not consumed and unexpired at `now`. Returns `true` for exactly one
    /// caller: an approval completes its ticket once.
    async fn consume_push_request(
        &self,
        id: PushRequestId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// How many of `user`'s requests are pending and unexpired at `now`.
    async fn count_pending_push_requests(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u32>;

    /// Deletes requests that expired before `before`; returns how many.
    async fn purge_push_requests(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
