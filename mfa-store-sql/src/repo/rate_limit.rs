//! The rate limiter: one row per key holding the allowed hits still in the
//! key's window, updated by one upsert per hit.
//!
//! A hit is a single statement that prunes the hits that left the window,
//! counts the rest, appends `now` only if fewer than `limit` remain, records
//! whether it did (`allowed`), and returns the row:
//!
//! - PostgreSQL: `INSERT … ON CONFLICT DO UPDATE … RETURNING` on a
//!   `BIGINT[]`;
//! - SQLite: the same on a JSON array (`json_each`, `json_group_array`);
//! - MariaDB (≥ 10.6): `INSERT … ON DUPLICATE KEY UPDATE … RETURNING` on a
//!   JSON array (`JSON_TABLE`). MariaDB returns the row as updated. Its
//!   assignments are written so that each reads only the old `hits` (the
//!   one assigned last), which gives the same result whether the server
//!   assigns left to right (the default) or simultaneously
//!   (`SIMULTANEOUS_ASSIGNMENT`). MySQL 8 has no `RETURNING`: there the
//!   minimum would be the upsert and a read of the row in one transaction.
//!
//! The upsert takes the key's row lock (a concurrent first hit on a new key
//! becomes an update of the row the other inserted), so the check and the
//! record are one atomic step and concurrent hits on one key are
//! serialised: a single winner for the last slot. The window is exact (the
//! contract's sliding window, not fixed buckets): the row keeps the time of
//! every allowed hit still in it, at most `limit` values, never a read of a
//! log of hits. A refused hit rewrites the row with the expired hits pruned
//! and `allowed` false, but records no hit.

use crate::driver::Driver;
use crate::sql::{Arg, PURGE_BATCH, Placeholders};
use crate::store::{SqlStore, retry};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::store::*;
use tracing::instrument;

/// The hit upsert on PostgreSQL, the `n`-th of a statement (its
/// parameters `$5n+1` … `$5n+5`: key, now, window start (hits at or before
/// it have left), limit, now + window; times in µs since the epoch), made
/// only when `gate` (a boolean SQL expression) holds.
fn hit_postgres(n: usize, gate: &str) -> String {
    let [key, now, start, limit, end] = [1, 2, 3, 4, 5].map(|k| format!("${}", 5 * n + k));
    let live = format!("(SELECT count(*) FROM unnest(r.hits) h WHERE h > {start})");
    format!(
        "INSERT INTO {{p}}rate_limits AS r (rate_key, hits, allowed, expires_at) \
         SELECT {key}, CASE WHEN {limit} > 0 THEN ARRAY[{now}::bigint] \
         ELSE ARRAY[]::bigint[] END, {limit} > 0, {end} WHERE {gate} \
         ON CONFLICT (rate_key) DO UPDATE SET \
         allowed = {live} < {limit}, \
         hits = ARRAY(SELECT h FROM unnest(r.hits) h WHERE h > {start} \
         UNION ALL SELECT {now} WHERE {live} < {limit}), \
         expires_at = CASE WHEN {live} < {limit} \
         THEN GREATEST(r.expires_at, {end}) ELSE r.expires_at END \
         RETURNING allowed, array_to_string(hits, ',') AS hits"
    )
}

/// Hits in order as one PostgreSQL statement: each hit is a
/// data-modifying `WITH` clause made only when the one before it was
/// allowed, and the rows come back in order.
fn hits_postgres(count: usize) -> String {
    let clauses: Vec<String> = (0..count)
        .map(|n| {
            let gate = if n == 0 {
                "TRUE".to_owned()
            } else {
                format!("(SELECT allowed FROM h{})", n - 1)
            };
            format!("h{n} AS ({})", hit_postgres(n, &gate))
        })
        .collect();
    let rows: Vec<String> = (0..count)
        .map(|n| format!("SELECT {n} AS i, allowed, hits FROM h{n}"))
        .collect();
    format!(
        "WITH {} {} ORDER BY i",
        clauses.join(", "),
        rows.join(" UNION ALL ")
    )
}

/// The hit upsert on SQLite (parameters as [`hit_postgres`]'s first).
const HIT_SQLITE: &str = "INSERT INTO {p}rate_limits (rate_key, hits, allowed, expires_at) \
     VALUES ($1, CASE WHEN $4 > 0 THEN json_array($2) ELSE '[]' END, $4 > 0, $5) \
     ON CONFLICT (rate_key) DO UPDATE SET \
     allowed = (SELECT count(*) FROM json_each({p}rate_limits.hits) WHERE value > $3) < $4, \
     hits = (SELECT json_group_array(h) FROM (SELECT value AS h \
     FROM json_each({p}rate_limits.hits) WHERE value > $3 UNION ALL SELECT $2 \
     WHERE (SELECT count(*) FROM json_each({p}rate_limits.hits) WHERE value > $3) < $4)), \
     expires_at = CASE WHEN (SELECT count(*) FROM json_each({p}rate_limits.hits) \
     WHERE value > $3) < $4 THEN max(expires_at, $5) ELSE expires_at END \
     RETURNING allowed, hits";

/// The hits of the row still in the window, on MariaDB.
const LIVE_MYSQL: &str = "JSON_TABLE({p}rate_limits.hits, '$[*]' COLUMNS (h BIGINT PATH '$')) j \
     WHERE j.h > $3";

/// The hit upsert on MariaDB (parameters as [`hit_postgres`]'s first); `hits` is
/// assigned last, so every assignment reads the old value.
fn hit_mysql() -> String {
    let count = format!("(SELECT COUNT(*) FROM {LIVE_MYSQL})");
    let pruned = format!("COALESCE((SELECT JSON_ARRAYAGG(j.h) FROM {LIVE_MYSQL}), JSON_ARRAY())");
    format!(
        "INSERT INTO {{p}}rate_limits (rate_key, hits, allowed, expires_at) \
         VALUES ($1, IF($4 > 0, JSON_ARRAY($2), JSON_ARRAY()), $4 > 0, $5) \
         ON DUPLICATE KEY UPDATE \
         allowed = {count} < $4, \
         expires_at = IF({count} < $4, GREATEST(expires_at, $5), expires_at), \
         hits = IF({count} < $4, JSON_ARRAY_APPEND({pruned}, '$', $2), {pruned}) \
         RETURNING allowed, hits"
    )
}

/// The hit times of a returned row: a JSON array (`[1, 2]`, possibly of
/// strings) or PostgreSQL's `array_to_string` (`1,2`; empty when empty).
fn parse_hits(text: &str) -> StoreResult<Vec<i64>> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|v| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| crate::error::corrupt("rate_limits.hits"))
        })
        .collect()
}

/// The parameters of one hit (see [`hit_postgres`]).
fn hit_args(key: &str, limit: u32, window: TimeDelta, now_us: i64) -> [Arg; 5] {
    [
        Arg::Text(key.to_owned()),
        Arg::I64(now_us),
        Arg::I64(now_us.saturating_sub(micros(window))),
        Arg::I64(i64::from(limit)),
        Arg::I64(now_us.saturating_add(micros(window))),
    ]
}

/// Microseconds of a duration, saturating.
fn micros(d: TimeDelta) -> i64 {
    d.num_microseconds().unwrap_or(if d < TimeDelta::zero() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The decision a returned row means: `allowed` and the hits in the window
/// after this hit.
fn decision(allowed: bool, hits: &[i64], limit: u32, window: TimeDelta, now: i64) -> RateDecision {
    let count = u32::try_from(hits.len()).unwrap_or(u32::MAX);
    if allowed {
        RateDecision::Allowed {
            remaining: limit.saturating_sub(count),
        }
    } else {
        // Allowed again when the oldest hit in the window leaves it.
        let retry_after = hits.iter().min().map_or(window, |oldest| {
            TimeDelta::microseconds(oldest.saturating_add(micros(window)).saturating_sub(now))
        });
        RateDecision::Limited {
            retry_after: retry_after.max(TimeDelta::zero()),
        }
    }
}

#[async_trait]
impl<D: Driver> RateLimiter for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "hit"))]
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> StoreResult<RateDecision> {
        let owned;
        let template = match self.dialect().placeholders {
            Placeholders::Dollar => {
                owned = hit_postgres(0, "TRUE");
                owned.as_str()
            }
            Placeholders::NumberedQuestion => HIT_SQLITE,
            Placeholders::Question => {
                owned = hit_mysql();
                owned.as_str()
            }
        };
        let now_us = now.timestamp_micros();
        let args = hit_args(key, limit, window, now_us).to_vec();
        // One statement; outside a unit a deadlock (InnoDB, two first hits
        // on one new key) runs it again.
        let row = if self.unit().is_some() {
            self.one_on(&mut self.pool(), template, args, |r| {
                Ok((r.bool("allowed")?, r.text("hits")?))
            })
            .await?
        } else {
            retry!(async {
                self.one_on(&mut self.pool(), template, args.clone(), |r| {
                    Ok((r.bool("allowed")?, r.text("hits")?))
                })
                .await
            })?
        };
        let (allowed, hits) = row;
        Ok(decision(
            allowed,
            &parse_hits(&hits)?,
            limit,
            window,
            now_us,
        ))
    }

    /// PostgreSQL: one statement for all the hits (chained `WITH` clauses);
    /// elsewhere one per hit.
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "hit_in_order"))]
    async fn hit_in_order(
        &self,
        hits: &[RateHit<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<RateDecision>> {
        if !self.dialect().batch_writes || hits.len() < 2 {
            return hit_one_by_one(self, hits, now).await;
        }
        let template = hits_postgres(hits.len());
        let now_us = now.timestamp_micros();
        let args: Vec<Arg> = hits
            .iter()
            .flat_map(|h| hit_args(h.key, h.limit, h.window, now_us))
            .collect();
        let read = |r: &dyn crate::driver::Row| Ok((r.bool("allowed")?, r.text("hits")?));
        let rows = if self.unit().is_some() {
            self.rows_on(&mut self.pool(), &template, args, read)
                .await?
        } else {
            retry!(async {
                self.rows_on(&mut self.pool(), &template, args.clone(), read)
                    .await
            })?
        };
        rows.iter()
            .zip(hits)
            .map(|((allowed, returned), hit)| {
                Ok(decision(
                    *allowed,
                    &parse_hits(returned)?,
                    hit.limit,
                    hit.window,
                    now_us,
                ))
            })
            .collect()
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_rate_limits"))]
    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        // Keys whose every hit left its window go, and their hits are
        // counted; `hit` recreates a key. Hits that expired in a key that
        // still has live ones are pruned by the key's next hit.
        let length = match self.dialect().placeholders {
            Placeholders::Dollar => "cardinality(hits)::bigint",
            Placeholders::NumberedQuestion => "json_array_length(hits)",
            Placeholders::Question => "JSON_LENGTH(hits)",
        };
        let template = if self.dialect().delete_limit {
            format!(
                "DELETE FROM {{p}}rate_limits WHERE expires_at <= $1 LIMIT {PURGE_BATCH} \
                 RETURNING {length} AS n"
            )
        } else {
            format!(
                "DELETE FROM {{p}}rate_limits WHERE rate_key IN (SELECT rate_key FROM \
                 {{p}}rate_limits WHERE expires_at <= $1 LIMIT {PURGE_BATCH}) \
                 RETURNING {length} AS n"
            )
        };
        let mut total = 0u64;
        loop {
            let counts = self
                .rows_on(
                    &mut self.pool(),
                    &template,
                    vec![Arg::I64(now.timestamp_micros())],
                    |r| r.i64("n"),
                )
                .await?;
            total += counts
                .iter()
                .map(|n| u64::try_from(*n).unwrap_or(0))
                .sum::<u64>();
            if counts.len() < PURGE_BATCH as usize {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returned_hits_parse_in_every_backend_format() {
        assert_eq!(parse_hits("[1, 2]").unwrap(), vec![1, 2]);
        assert_eq!(parse_hits("[\"3\",\"4\"]").unwrap(), vec![3, 4]);
        assert_eq!(parse_hits("5,6").unwrap(), vec![5, 6]);
        assert_eq!(parse_hits("").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_hits("[]").unwrap(), Vec::<i64>::new());
        assert!(parse_hits("[x]").is_err());
    }

    #[test]
    fn a_refusal_waits_for_the_oldest_hit() {
        let w = TimeDelta::seconds(60);
        let s = 1_000_000;
        assert_eq!(
            decision(false, &[30 * s, 10 * s], 2, w, 20 * s),
            RateDecision::Limited {
                retry_after: TimeDelta::seconds(50)
            }
        );
        assert_eq!(
            decision(true, &[10 * s, 20 * s], 3, w, 20 * s),
            RateDecision::Allowed { remaining: 1 }
        );
        assert_eq!(
            decision(false, &[], 0, w, 0),
            RateDecision::Limited { retry_after: w }
        );
    }
}
