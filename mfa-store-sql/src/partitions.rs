//! The monthly partitions of the audit log on PostgreSQL (migration 7):
//! made ahead of time, filled from the DEFAULT partition, and dropped
//! whole once archived. Elsewhere every function here does nothing.

use crate::driver::{Driver, Executor, fetch_all};
use crate::sql::Arg;
use crate::store::{SqlStore, finish};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use mfa_core::store::{ChainPosition, Durability, StoreResult};

/// Months of partitions kept ready after the current one.
pub const AUDIT_MONTHS_AHEAD: u32 = 3;

/// The first instant of the month `months` after the month of `at`.
pub(crate) fn month_start(at: DateTime<Utc>, months: i32) -> DateTime<Utc> {
    let index = at.year() * 12 + at.month0() as i32 + months;
    let date = NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MIN);
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// A partition's table name (without the prefix) for the month starting
/// at `start`.
fn partition_name(start: DateTime<Utc>) -> String {
    format!("audit_events_y{:04}m{:02}", start.year(), start.month())
}

/// The month a partition name stands for.
fn month_of(name: &str) -> Option<DateTime<Utc>> {
    let rest = name.rsplit_once("audit_events_y")?.1;
    let (year, month) = rest.split_once('m')?;
    let date = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// An instant as a PostgreSQL literal (partition bounds cannot be
/// parameters).
fn literal(at: DateTime<Utc>) -> String {
    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S+00"))
}

impl<D: Driver> SqlStore<D> {
    /// The monthly partitions of the audit log (table names with the
    /// prefix) and the month each starts.
    async fn audit_partitions(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        let parent = format!("{}audit_events", self.prefix().as_str());
        let names = fetch_all(
            &mut self.pool(),
            &self.st(
                "SELECT c.relname::text AS name FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = to_regclass($1::text)",
                vec![Arg::Text(parent)],
            ),
            |r| r.text("name"),
        )
        .await?;
        Ok(names
            .into_iter()
            .filter_map(|name| month_of(&name).map(|month| (name, month)))
            .collect())
    }

    /// On PostgreSQL: makes sure the audit log has a partition for every
    /// month from the oldest event waiting in the DEFAULT partition (or
    /// this month) to [`AUDIT_MONTHS_AHEAD`] months after `now`, moving
    /// the DEFAULT partition's rows into their month. Each month is one
    /// transaction. Returns how many partitions it made; elsewhere, 0.
    /// [`SqlStore::migrate`] runs it; run it again from time to time (the
    /// example service does after every archive), so that events never
    /// wait long in the DEFAULT partition.
    ///
    /// # Errors
    /// A store error; the months done so far stay done.
    pub async fn maintain_audit_partitions(&self, now: DateTime<Utc>) -> StoreResult<u32> {
        if !D::DIALECT.audit_partitions {
            return Ok(0);
        }
        let waiting = fetch_all(
            &mut self.pool(),
            &self.st(
                "SELECT min(at) AS oldest, max(at) AS newest FROM {p}audit_events_default",
                Vec::new(),
            ),
            |r| Ok((r.opt_ts("oldest")?, r.opt_ts("newest")?)),
        )
        .await?;
        let (oldest, newest) = waiting.into_iter().next().unwrap_or((None, None));
        let first = month_start(oldest.map_or(now, |o| o.min(now)), 0);
        let last = month_start(
            newest.map_or(now, |n| n.max(now)),
            AUDIT_MONTHS_AHEAD as i32,
        );
        let existing: Vec<DateTime<Utc>> = self
            .audit_partitions()
            .await?
            .into_iter()
            .map(|(_, month)| month)
            .collect();
        let mut made = 0;
        let mut month = first;
        while month <= last {
            let next = month_start(month, 1);
            if !existing.contains(&month) {
                self.make_partition(month, next).await?;
                made += 1;
            }
            month = next;
        }
        Ok(made)
    }

    /// Makes the partition of `[start, end)` and moves the DEFAULT
    /// partition's rows of that month into it, in one transaction.
    async fn make_partition(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> StoreResult<()> {
        let name = partition_name(start);
        let range = format!("at >= {} AND at < {}", literal(start), literal(end));
        let statements = [
            format!(
                "CREATE TABLE {{p}}{name} (LIKE {{p}}audit_events \
                 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            ),
            format!(
                "INSERT INTO {{p}}{name} SELECT * FROM {{p}}audit_events_default WHERE {range}"
            ),
            format!("DELETE FROM {{p}}audit_events_default WHERE {range}"),
            format!(
                "ALTER TABLE {{p}}audit_events ATTACH PARTITION {{p}}{name} \
                 FOR VALUES FROM ({}) TO ({})",
                literal(start),
                literal(end)
            ),
        ];
        let mut tx = self.pool().begin(Durability::Flushed).await?;
        let result = async {
            // Two instances starting at once: one makes the partition, the
            // other waits here and then finds it made.
            let lock = format!("mfa-store-sqlx:{}", self.prefix().as_str());
            tx.execute(&self.st(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                vec![Arg::Text(lock)],
            ))
            .await?;
            let table = format!("{}{name}", self.prefix().as_str());
            let missing = fetch_all(
                &mut tx,
                &self.st(
                    "SELECT to_regclass($1::text) IS NULL AS missing",
                    vec![Arg::Text(table)],
                ),
                |r| r.bool("missing"),
            )
            .await?;
            if missing.first() == Some(&true) {
                for statement in &statements {
                    tx.execute(&self.st(statement, Vec::new())).await?;
                }
            }
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    /// On PostgreSQL: drops every monthly partition that ends at or before
    /// `before` and holds nothing but archived events (each linked row at
    /// or before its chain's cut in `cuts`, no unlinked row). Returns the
    /// rows dropped with them; elsewhere, 0.
    pub(crate) async fn drop_archived_partitions(
        &self,
        cuts: &[ChainPosition],
        before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        if !D::DIALECT.audit_partitions {
            return Ok(0);
        }
        let cuts_json = serde_json::Value::Array(
            cuts.iter()
                .map(|c| serde_json::json!({ "chain": c.chain.to_string(), "seq": c.seq }))
                .collect(),
        );
        let mut dropped = 0u64;
        for (name, month) in self.audit_partitions().await? {
            if month_start(month, 1) > before {
                continue;
            }
            let counts = fetch_all(
                &mut self.pool(),
                &self.st(
                    &format!(
                        "SELECT count(*) AS n, count(*) FILTER (WHERE e.chain_id IS NULL OR NOT EXISTS \
                         (SELECT 1 FROM jsonb_to_recordset($1::jsonb) AS c(chain uuid, seq bigint) \
                          WHERE c.chain = e.chain_id AND e.chain_seq <= c.seq)) AS kept \
                         FROM {name} e"
                    ),
                    vec![Arg::Json(cuts_json.clone())],
                ),
                |r| Ok((r.i64("n")?, r.i64("kept")?)),
            )
            .await?;
            let (rows, kept) = counts.into_iter().next().unwrap_or((0, 1));
            if kept == 0 {
                self.affected(&format!("DROP TABLE {name}"), Vec::new())
                    .await?;
                dropped += u64::try_from(rows).unwrap_or(0);
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_years_and_name_their_partition() {
        let at = Utc.with_ymd_and_hms(2026, 11, 17, 9, 30, 0).unwrap();
        assert_eq!(
            month_start(at, 0),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            month_start(at, 2),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            month_start(at, -11),
            Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap()
        );
        let name = partition_name(month_start(at, 2));
        assert_eq!(name, "audit_events_y2027m01");
        assert_eq!(month_of(&format!("mfa_{name}")), Some(month_start(at, 2)));
        assert_eq!(month_of("mfa_audit_events_default"), None);
        assert_eq!(literal(month_start(at, 0)), "'2026-11-01 00:00:00+00'");
    }
}
