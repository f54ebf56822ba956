//! The audit log.

use super::StoreResult;
use crate::model::{
    AuditChainId, AuditEvent, AuditEventId, AuditKind, AuditOutcome, DeviceId, SessionId, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which events a query returns. Empty fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only this user's events.
    pub user_id: Option<UserId>,
    /// Only this session's events.
    pub session_id: Option<SessionId>,
    /// Only this device's events.
    pub device_id: Option<DeviceId>,
    /// Only these kinds (empty: any kind).
    pub kinds: Vec<AuditKind>,
    /// Only this outcome.
    pub outcome: Option<AuditOutcome>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events strictly before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only events with (`true`) or without (`false`) a chain link
    /// ([`AuditEvent::link`]); `None`: both.
    #[serde(default)]
    pub linked: Option<bool>,
}

/// Position in a newest-first listing: the last event of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCursor {
    /// Time of the last event returned.
    pub at: DateTime<Utc>,
    /// Id of the last event returned (breaks ties between equal times).
    pub id: AuditEventId,
}

/// Which page to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// Page size, 1 to [`PageRequest::MAX_LIMIT`].
    pub limit: u32,
    /// Continue after this position (`None`: the newest events).
    pub after: Option<AuditCursor>,
}

impl PageRequest {
    /// Largest page size a store must serve.
    pub const MAX_LIMIT: u32 = 500;

    /// The first page of `limit` events (clamped to 1..=MAX_LIMIT).
    #[must_use]
    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            after: None,
        }
    }

    /// The effective page size.
    #[must_use]
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }
}

/// One page of results, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when there are no more items.
    pub next: Option<AuditCursor>,
}

/// A position in the audit chains: where a walk of them resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPosition {
    /// The chain.
    pub chain: AuditChainId,
    /// The position in it.
    pub seq: u64,
}

/// What [`AuditRepository::erase_audit_personal`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditErasure {
    /// Events whose personal fields were emptied.
    pub erased: u64,
    /// Events of the user left as they are: linked before personal digests
    /// existed, so that erasing their fields would break their link (see
    /// [`crate::audit`]).
    pub kept: u64,
}

/// Append-only audit log.
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Appends an event.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;

    /// Events matching `filter`, ordered by (`at`, `id`) descending.
    async fn query_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>>;

    /// Up to `limit` events that carry a link, ordered by chain id (the
    /// UUID's bytes) and then position, after `after` (`None`: from the
    /// start), and only those strictly before `before` when it is set. For
    /// verification ([`crate::audit::verify_store`]) and archives
    /// ([`crate::audit::archive`]).
    async fn scan_audit_chains(
        &self,
        after: Option<ChainPosition>,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>>;

    /// How many events carry no link, among those at or after `since`
    /// (`None`: all).
    async fn count_unlinked_audit(&self, since: Option<DateTime<Utc>>) -> StoreResult<u64>;

    /// Empties the personal fields (user id, IP address, user agent,
    /// country) of every event of `user` that carries no link or a link
    /// with a digest of them (see [`crate::audit`]), in one atomic change;
    /// events linked without one are left and counted. Only
    /// [`crate::Mfa::erase_user_data`] calls it.
    async fn erase_audit_personal(&self, user: UserId) -> StoreResult<AuditErasure>;

    /// Removes archived events: those of each chain in `cuts` at or before
    /// its position, and those without a link strictly before
    /// `unlinked_before` (none when `None`). Returns how many were removed.
    /// Only [`crate::Mfa::archive_audit`] calls it, after the archive is
    /// written and its cut recorded.
    async fn delete_audit_prefix(
        &self,
        cuts: &[ChainPosition],
        unlinked_before: Option<DateTime<Utc>>,
    ) -> StoreResult<u64>;
}
