//! Growth mode: filler rows inserted straight into the run's PostgreSQL
//! tables, so the flows run against tables holding many users, refresh
//! tokens and audit events.
//!
//! Users, factors, settings and sessions: one `INSERT … SELECT … FROM
//! generate_series` per table copying a template user's rows (a pool user
//! signed up through the API) with new ids and identifiers. Refresh tokens:
//! `--tokens-per-user K` per filler user, one family of rotations on its
//! session (K − 1 `rotated` tokens, each used when its child was issued six
//! hours later, then one `active` token), the family's last rotation
//! somewhere in the past 28 days so expiries spread over the next month.
//! Audit events: `--audit-per-user K` per filler user, generated and linked
//! in Rust and streamed with `COPY` ([`crate::audit_fill`]), spread over
//! the past three months and their monthly partitions. Secondary indexes
//! are dropped before and rebuilt after, then every table is analysed.
//!
//! Ids are UUID v7-shaped (a millisecond prefix that grows with the row
//! number), like the engine's, so the primary-key indexes grow at their
//! right edge as they do in production. Filler users cannot sign in: their
//! sealed TOTP seeds are bound to the template's ids. They only make the
//! tables and indexes big.

use crate::Error;
use crate::audit_fill::{self, AuditFill, AuditFillReport};
use crate::service::sql;
use mfa_core::crypto::KeyRing;
use mfa_core::model::UserId;
use mfa_store_sqlx::sqlx::{self, PgPool};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Hours between two rotations of a filler refresh-token family.
const ROTATION_HOURS: u32 = 6;

/// Largest `--tokens-per-user` (the token's row number is part of its id).
pub const MAX_TOKENS_PER_USER: u32 = 1000;

/// Template-user events among the audit fillers (its audit page is
/// measured; the same number at every size).
pub const MARKED_EVENTS: u64 = 200;

/// What to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedOptions {
    /// Users in the tables afterwards (`--seed-users`).
    pub total_users: i64,
    /// Audit events per filler user (`--audit-per-user`, default 6).
    pub audit_per_user: u32,
    /// Refresh tokens per filler user (`--tokens-per-user`, default 1).
    pub tokens_per_user: u32,
}

/// What seeding inserted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedReport {
    /// Users in the table afterwards.
    pub users_total: i64,
    /// Filler users inserted.
    pub users_seeded: i64,
    /// Rows inserted and seconds taken, per table; `(secondary indexes)`:
    /// indexes rebuilt, `(analyze)`: tables analysed.
    pub tables: BTreeMap<String, TableSeed>,
    /// Whole seeding including `ANALYZE`, s.
    pub seconds: f64,
    /// The audit fillers.
    pub audit: Option<AuditFillReport>,
    /// Time of the oldest audit filler (the first day of a month).
    pub audit_from: Option<chrono::DateTime<chrono::Utc>>,
}

/// One table's seeding.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableSeed {
    /// Rows inserted.
    pub rows: u64,
    /// Seconds.
    pub seconds: f64,
}

fn timed(rows: u64, since: Instant) -> TableSeed {
    TableSeed {
        rows,
        seconds: (since.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    }
}

/// The SQL of a seeded id: `kind` (an SQL integer expression below 4096)
/// separates tables and rows of one user; `g` is the filler number.
fn seeded_id(kind: &str) -> String {
    format!(
        "(lpad(to_hex($3::bigint + g), 12, '0') || '7' || lpad(to_hex({kind}), 3, '0') \
         || '8000' || lpad(to_hex(g), 12, '0'))::uuid"
    )
}

/// The statements, in foreign-key order, with `{p}` replaced. Every one
/// binds `$1` template user id, `$2` number of fillers, `$3` id time base.
fn statements(prefix: &str, tag: &str, tokens_per_user: u32) -> Vec<(&'static str, String)> {
    let uid = seeded_id("1");
    let sid = seeded_id("2");
    let fam = seeded_id("4");
    let fid = seeded_id("256 + t.n");
    let rid = seeded_id("3072 + k");
    let parent = seeded_id("3071 + k");
    let series = "CROSS JOIN generate_series(1::bigint, $2::bigint) AS g";
    let last = tokens_per_user.clamp(1, MAX_TOKENS_PER_USER);
    let h = ROTATION_HOURS;
    let list = [
        (
            "users",
            format!(
                "INSERT INTO {{p}}users (id, identifier, email, phone, locale, password_hash, status, \
                 password_failures, password_locked_until, mfa_failures, mfa_locked_until, \
                 created_at, updated_at, deleted_at) \
                 SELECT {uid}, 'seed-' || g || '@{tag}.invalid', NULL, NULL, t.locale, t.password_hash, \
                 t.status, 0, NULL, 0, NULL, t.created_at, t.updated_at, NULL \
                 FROM {{p}}users t {series} WHERE t.id = $1"
            ),
        ),
        (
            "factors",
            format!(
                "INSERT INTO {{p}}factors (id, user_id, kind, status, label, secret, totp_algorithm, \
                 totp_digits, totp_period, destination, last_totp_step, created_at, confirmed_at, \
                 last_used_at, deleted_at) \
                 SELECT {fid}, {uid}, t.kind, t.status, t.label, t.secret, t.totp_algorithm, \
                 t.totp_digits, t.totp_period, t.destination, t.last_totp_step, t.created_at, \
                 t.confirmed_at, t.last_used_at, t.deleted_at \
                 FROM (SELECT f.*, row_number() OVER (ORDER BY f.created_at, f.id) AS n \
                 FROM {{p}}factors f WHERE f.user_id = $1) t {series}"
            ),
        ),
        (
            "mfa_settings",
            format!(
                "INSERT INTO {{p}}mfa_settings (user_id, enforced, grace_deadline, preferred, updated_at) \
                 SELECT {uid}, t.enforced, t.grace_deadline, t.preferred, t.updated_at \
                 FROM {{p}}mfa_settings t {series} WHERE t.user_id = $1"
            ),
        ),
        (
            "sessions",
            format!(
                "INSERT INTO {{p}}sessions (id, user_id, device_id, session_type, status, aal, amr, \
                 mfa_at, ip, user_agent, country, risk_score, created_at, last_seen_at, expires_at, \
                 revoked_at, revocation_reason) \
                 SELECT {sid}, {uid}, NULL, t.session_type, t.status, t.aal, t.amr, t.mfa_at, t.ip, \
                 t.user_agent, t.country, t.risk_score, t.created_at, t.last_seen_at, t.expires_at, \
                 t.revoked_at, t.revocation_reason \
                 FROM (SELECT * FROM {{p}}sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1) t \
                 {series}"
            ),
        ),
        (
            "refresh_tokens",
            // Token k of family g: issued (last − k) rotations before the
            // family's newest, which lies up to 28 days back.
            format!(
                "INSERT INTO {{p}}refresh_tokens (id, family_id, session_id, user_id, parent_id, \
                 token_hash, status, created_at, expires_at, used_at) \
                 SELECT {rid}, {fam}, {sid}, {uid}, \
                 CASE WHEN k = 1 THEN NULL ELSE {parent} END, \
                 sha256(convert_to('{tag}-refresh-' || g || '-' || k, 'UTF8')), \
                 CASE WHEN k = {last} THEN 'active' ELSE 'rotated' END, \
                 c.at, c.at + interval '30 days', \
                 CASE WHEN k = {last} THEN NULL ELSE c.at + interval '{h} hours' END \
                 FROM (SELECT created_at FROM {{p}}refresh_tokens WHERE user_id = $1 \
                 ORDER BY created_at DESC LIMIT 1) t {series} \
                 CROSS JOIN generate_series(1, {last}) AS k \
                 CROSS JOIN LATERAL (SELECT t.created_at - (g * 7919 % 2419200) * interval '1 second' \
                 - ({last} - k) * interval '{h} hours' AS at) c"
            ),
        ),
    ];
    list.into_iter()
        .map(|(table, sql)| (table, sql.replace("{p}", prefix)))
        .collect()
}

/// Fills the tables of `prefix` up to `options.total_users` users, copying
/// the rows of `template` (a user id); the audit fillers are linked with
/// `keys` (the service's key ring). Prints each table's time to stderr.
///
/// # Errors
/// A failed statement.
pub async fn seed(
    pool: &PgPool,
    prefix: &str,
    template: &str,
    options: SeedOptions,
    keys: KeyRing,
) -> Result<SeedReport, Error> {
    let started = Instant::now();
    let template: uuid::Uuid = template.parse().map_err(Error::msg)?;
    let existing: i64 = sqlx::query_scalar(sql(format!("SELECT count(*) FROM {prefix}users")))
        .fetch_one(pool)
        .await?;
    let fillers = (options.total_users - existing).max(0);
    let mut report = SeedReport {
        users_seeded: fillers,
        ..SeedReport::default()
    };
    // Ids a few hours in the past, one millisecond apart.
    let base_ms = chrono::Utc::now().timestamp_millis() - fillers - 3_600_000 * 3;
    let tag = prefix.trim_end_matches('_').replace('_', "-");
    if fillers > 0 {
        let mut conn = pool.acquire().await?;
        sqlx::query("SET maintenance_work_mem = '512MB'")
            .execute(&mut *conn)
            .await?;
        // The rows reference each other by construction: skip the per-row
        // foreign-key triggers (needs a superuser; without, only slower).
        if let Err(e) = sqlx::query("SET session_replication_role = replica")
            .execute(&mut *conn)
            .await
        {
            eprintln!("seed: foreign-key checks stay on ({e})");
        }
        let statements = statements(prefix, &tag, options.tokens_per_user);
        let mut tables: Vec<String> = statements
            .iter()
            .map(|(t, _)| format!("{prefix}{t}"))
            .collect();
        tables.push(format!("{prefix}audit_events"));
        // Secondary indexes are rebuilt once after the inserts (a sort)
        // instead of growing row by row (random page writes). On the
        // partitioned audit log these are the parent's indexes: dropping
        // one drops it on every partition, making it makes it on every one.
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
             WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1) \
             AND NOT i.indisprimary",
        )
        .bind(&tables)
        .fetch_all(&mut *conn)
        .await?;
        for (name, _) in &indexes {
            sqlx::query(sql(format!("DROP INDEX \"{name}\"")))
                .execute(&mut *conn)
                .await?;
        }
        for (table, statement) in statements {
            let t = Instant::now();
            let rows = sqlx::query(sql(statement))
                .bind(template)
                .bind(fillers)
                .bind(base_ms)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            report.tables.insert(table.to_owned(), timed(rows, t));
            eprintln!(
                "seed: {table}: {rows} rows in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        let now = chrono::Utc::now();
        let from = months_back(now, 3);
        report.audit_from = Some(from);
        let fill = AuditFill {
            users: fillers,
            per_user: u64::from(options.audit_per_user),
            base_ms,
            template: UserId::from_uuid(template),
            marked: MARKED_EVENTS,
            from,
            to: now - chrono::TimeDelta::hours(1),
        };
        let t = Instant::now();
        let audit = audit_fill::fill_audit(pool, prefix, keys, fill).await?;
        report
            .tables
            .insert("audit_events".into(), timed(audit.events, t));
        eprintln!(
            "seed: audit_events: {} linked events in {} chains in {:.1} s (generating and linking {:.1} s)",
            audit.events,
            audit.chains,
            t.elapsed().as_secs_f64(),
            audit.generate_s
        );
        report.audit = Some(audit);
        let t = Instant::now();
        for (_, definition) in &indexes {
            // A partitioned table's index reads back as `ON ONLY parent`,
            // which would make it on the parent alone (invalid, unused).
            let definition = definition.replacen(" ON ONLY ", " ON ", 1);
            sqlx::query(sql(definition)).execute(&mut *conn).await?;
        }
        report
            .tables
            .insert("(secondary indexes)".into(), timed(indexes.len() as u64, t));
        eprintln!(
            "seed: {} secondary indexes rebuilt in {:.1} s",
            indexes.len(),
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        for table in &tables {
            // On the partitioned parent this samples every partition too.
            sqlx::query(sql(format!("ANALYZE {table}")))
                .execute(&mut *conn)
                .await?;
        }
        report
            .tables
            .insert("(analyze)".into(), timed(tables.len() as u64, t));
        sqlx::query("RESET session_replication_role")
            .execute(&mut *conn)
            .await?;
    }
    report.users_total = sqlx::query_scalar(sql(format!("SELECT count(*) FROM {prefix}users")))
        .fetch_one(pool)
        .await?;
    report.seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    Ok(report)
}

/// The first instant of the month `months` before the month of `at`.
#[must_use]
pub fn months_back(
    at: chrono::DateTime<chrono::Utc>,
    months: i32,
) -> chrono::DateTime<chrono::Utc> {
    use chrono::{Datelike, NaiveDate, TimeZone};
    let index = at.year() * 12 + at.month0().cast_signed() - months;
    let date = NaiveDate::from_ymd_opt(
        index.div_euclid(12),
        index.rem_euclid(12).cast_unsigned() + 1,
        1,
    )
    .unwrap_or(NaiveDate::MIN);
    chrono::Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_statement_binds_all_three_parameters() {
        for (table, sql) in statements("load_ab_", "load-ab", 10) {
            for p in ["$1", "$2", "$3"] {
                assert!(sql.contains(p), "{table} does not use {p}");
            }
            assert!(!sql.contains("{p}"), "{table} keeps a placeholder");
        }
    }

    #[test]
    fn months_back_roll_over_the_year() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 2, 17, 9, 0, 0).unwrap();
        assert_eq!(
            months_back(at, 3),
            chrono::Utc.with_ymd_and_hms(2025, 11, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            months_back(at, 0),
            chrono::Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
        );
    }
}
