//! Growth mode: filler rows inserted straight into the run's PostgreSQL
//! tables, so the flows run against tables holding many users.
//!
//! Each table gets one `INSERT … SELECT … FROM generate_series` copying a
//! template user's rows (a pool user signed up through the API) with new ids
//! and identifiers, then `ANALYZE`. Ids are UUID v7-shaped (a millisecond
//! prefix that grows with the row number), like the engine's, so the
//! primary-key indexes grow at their right edge as they do in production.
//! Filler users cannot sign in: their sealed TOTP seeds are bound to the
//! template's ids. They only make the tables and indexes big.

use crate::Error;
use crate::service::sql;
use mfa_store_sqlx::sqlx::{self, PgPool};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Audit events copied per filler user (the template's first ones).
const AUDIT_PER_USER: usize = 6;

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
fn statements(prefix: &str, tag: &str) -> Vec<(&'static str, String)> {
    let uid = seeded_id("1");
    let sid = seeded_id("2");
    let rid = seeded_id("3");
    let fam = seeded_id("4");
    let fid = seeded_id("256 + t.n");
    let aid = seeded_id("512 + t.n");
    let series = "CROSS JOIN generate_series(1::bigint, $2::bigint) AS g";
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
            format!(
                "INSERT INTO {{p}}refresh_tokens (id, family_id, session_id, user_id, parent_id, \
                 token_hash, status, created_at, expires_at, used_at) \
                 SELECT {rid}, {fam}, {sid}, {uid}, NULL, \
                 sha256(convert_to('{tag}-refresh-' || g, 'UTF8')), t.status, t.created_at, \
                 t.expires_at, t.used_at \
                 FROM (SELECT * FROM {{p}}refresh_tokens WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1) t \
                 {series}"
            ),
        ),
        (
            "audit_events",
            format!(
                "INSERT INTO {{p}}audit_events (id, at, user_id, session_id, device_id, kind, outcome, \
                 factor, ip, user_agent, country, risk_score, metadata) \
                 SELECT {aid}, t.at, {uid}, CASE WHEN t.session_id IS NULL THEN NULL ELSE {sid} END, \
                 NULL, t.kind, t.outcome, t.factor, t.ip, t.user_agent, t.country, t.risk_score, \
                 t.metadata \
                 FROM (SELECT a.*, row_number() OVER (ORDER BY a.at, a.id) AS n \
                 FROM {{p}}audit_events a WHERE a.user_id = $1 ORDER BY a.at, a.id \
                 LIMIT {AUDIT_PER_USER}) t {series}"
            ),
        ),
    ];
    list.into_iter()
        .map(|(table, sql)| (table, sql.replace("{p}", prefix)))
        .collect()
}

/// Fills the tables of `prefix` up to `total_users` users, copying the rows
/// of `template` (a user id). Prints each table's time to stderr.
///
/// # Errors
/// A failed statement.
pub async fn seed(
    pool: &PgPool,
    prefix: &str,
    template: &str,
    total_users: i64,
) -> Result<SeedReport, Error> {
    let started = Instant::now();
    let template: uuid::Uuid = template.parse().map_err(Error::msg)?;
    let existing: i64 = sqlx::query_scalar(sql(format!("SELECT count(*) FROM {prefix}users")))
        .fetch_one(pool)
        .await?;
    let fillers = (total_users - existing).max(0);
    let mut report = SeedReport {
        users_seeded: fillers,
        ..SeedReport::default()
    };
    // Ids a few hours in the past, one millisecond apart.
    let base_ms = chrono::Utc::now().timestamp_millis() - fillers - 3_600_000 * 3;
    let tag = prefix.trim_end_matches('_').replace('_', "-");
    if fillers > 0 {
        let mut conn = pool.acquire().await?;
        sqlx::query("SET maintenance_work_mem = '256MB'")
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
        let tables: Vec<String> = statements(prefix, &tag)
            .iter()
            .map(|(t, _)| format!("{prefix}{t}"))
            .collect();
        // Secondary indexes are rebuilt once after the inserts (a sort)
        // instead of growing row by row (random page writes).
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
        for (table, statement) in statements(prefix, &tag) {
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
        let t = Instant::now();
        for (_, definition) in &indexes {
            sqlx::query(sql(definition.clone()))
                .execute(&mut *conn)
                .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_binds_all_three_parameters() {
        for (table, sql) in statements("load_ab_", "load-ab") {
            for p in ["$1", "$2", "$3"] {
                assert!(sql.contains(p), "{table} does not use {p}");
            }
            assert!(!sql.contains("{p}"), "{table} keeps a placeholder");
        }
    }
}
