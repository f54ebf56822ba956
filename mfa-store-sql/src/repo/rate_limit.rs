//! The rate limiter.

use crate::driver::Driver;
use crate::rows::*;
use crate::sql::{Arg, PURGE_BATCH};
use crate::store::{SqlStore, in_tx};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::store::*;
use uuid::Uuid;

#[async_trait]
impl<D: Driver> RateLimiter for SqlStore<D> {
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
        let ensure = if self.dialect().mysql {
            "INSERT IGNORE INTO {p}rate_limit_keys (rate_key) VALUES ($1)"
        } else {
            "INSERT INTO {p}rate_limit_keys (rate_key) VALUES ($1) ON CONFLICT DO NOTHING"
        };
        let lock = format!(
            "SELECT rate_key FROM {{p}}rate_limit_keys WHERE rate_key = $1{}",
            self.dialect().for_update
        );
        let window_start = now - window;
        for _ in 0..100 {
            self.affected(ensure, vec![text(key)]).await?;
            let decision = in_tx!(self, |conn| {
                let locked = self
                    .row_on(conn, &lock, vec![text(key)], |r| r.text("rate_key"))
                    .await?;
                if locked.is_none() {
                    // Purged between the insert and the lock: again.
                    return Ok(None);
                }
                let hits = self
                    .rows_on(
                        conn,
                        "SELECT at FROM {p}rate_limit_hits WHERE rate_key = $1 \
                         AND at > $2 ORDER BY at",
                        vec![text(key), Arg::Ts(window_start)],
                        |r| r.ts("at"),
                    )
                    .await?;
                let used = u32::try_from(hits.len()).unwrap_or(u32::MAX);
                if used >= limit {
                    let oldest = hits.first().copied().unwrap_or(now);
                    return Ok(Some(RateDecision::Limited {
                        retry_after: (oldest + window - now).max(TimeDelta::zero()),
                    }));
                }
                self.run(
                    conn,
                    "INSERT INTO {p}rate_limit_hits (id, rate_key, at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                    vec![
                        uuid_of(Uuid::now_v7()),
                        text(key),
                        Arg::Ts(now),
                        Arg::Ts(now + window),
                    ],
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
        Err(StoreError::Unavailable(
            "the rate-limit key was purged repeatedly".into(),
        ))
    }

    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let hits = self
            .purge_in_batches("rate_limit_hits", "expires_at <= $1", vec![Arg::Ts(now)])
            .await?;
        // Keys without hits are dropped too; `hit` recreates them.
        let empty = if self.dialect().delete_limit {
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
