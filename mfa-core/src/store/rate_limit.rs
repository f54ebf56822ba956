//! Rate limiting counters.

use super::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

/// Result of [`RateLimiter::hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// The hit was allowed and recorded.
    Allowed {
        /// Hits still allowed in the current window.
        remaining: u32,
    },
    /// The hit was refused (and not recorded).
    Limited {
        /// When the next hit will be allowed.
        retry_after: TimeDelta,
    },
}

/// One hit of [`RateLimiter::hit_in_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHit<'a> {
    /// The limited key.
    pub key: &'a str,
    /// Hits allowed per window.
    pub limit: u32,
    /// The sliding window.
    pub window: TimeDelta,
}

/// [`RateLimiter::hit_in_order`] as one [`RateLimiter::hit`] per key: its
/// default, and the fallback of a store that batches them only sometimes.
///
/// # Errors
/// A store error.
pub async fn hit_one_by_one<L: RateLimiter + ?Sized>(
    limiter: &L,
    hits: &[RateHit<'_>],
    now: DateTime<Utc>,
) -> StoreResult<Vec<RateDecision>> {
    let mut decisions = Vec::with_capacity(hits.len());
    for hit in hits {
        let decision = limiter.hit(hit.key, hit.limit, hit.window, now).await?;
        let refused = matches!(decision, RateDecision::Limited { .. });
        decisions.push(decision);
        if refused {
            break;
        }
    }
    Ok(decisions)
}

/// Sliding-window rate limiter.
///
/// Contract: for every key, at most `limit` hits are allowed in any
/// half-open interval of length `window`. A refused hit is not recorded, so
/// a client that keeps hammering is not locked out forever. The check and
/// the record are one atomic step.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Records a hit on `key` at `now` if fewer than `limit` hits were
    /// allowed in `(now - window, now]`.
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> StoreResult<RateDecision>;

    /// Hits `hits` in order at `now`, as [`RateLimiter::hit`] each, and
    /// stops at the first refused: returns one decision per hit made, the
    /// last one the refusal if there was one (the keys after it are not
    /// hit). A store may send them as one statement.
    ///
    /// # Errors
    /// A store error; hits made before it stay made unless the unit of
    /// work they ran in is rolled back.
    async fn hit_in_order(
        &self,
        hits: &[RateHit<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<RateDecision>> {
        hit_one_by_one(self, hits, now).await
    }

    /// Forgets hits that fell out of their window before `now`; returns how
    /// many.
    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}
