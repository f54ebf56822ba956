//! What the database must hold after a run: a session row and its audit
//! events for every verify the service answered with success, and no
//! refresh-token family forked into two live tokens.

use crate::Error;
use crate::flow::FlowResult;
use crate::service::sql;
use mfa_store_sqlx::sqlx::{self, PgPool};
use serde::Serialize;
use std::collections::BTreeMap;

/// The database invariants, counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbChecks {
    /// Successful verifies checked.
    pub verified_sessions: usize,
    /// Successful verifies whose session row is missing.
    pub missing_sessions: i64,
    /// Successful verifies without their `session_created` audit event.
    pub missing_session_created_events: i64,
    /// Successful verifies without an `mfa_verification` success event of
    /// their user (counted per user since the run started).
    pub missing_verification_events: i64,
    /// Successful refreshes without their `session_refreshed` event.
    pub missing_refresh_events: i64,
    /// Refresh-token families with more than one active, unused token.
    pub families_with_two_live_tokens: i64,
    /// Live tokens beyond the first in those families (orphans).
    pub orphan_tokens: i64,
    /// Tokens that were rotated into more than one child.
    pub forked_parents: i64,
}

impl DbChecks {
    /// Lost audit events of every kind checked.
    #[must_use]
    pub fn lost_audit_events(&self) -> i64 {
        self.missing_session_created_events
            + self.missing_verification_events
            + self.missing_refresh_events
    }

    /// Whether every invariant holds.
    #[must_use]
    pub fn hold(&self) -> bool {
        self.missing_sessions == 0
            && self.lost_audit_events() == 0
            && self.families_with_two_live_tokens == 0
            && self.orphan_tokens == 0
            && self.forked_parents == 0
    }
}

fn uuids(values: impl Iterator<Item = String>) -> Result<Vec<uuid::Uuid>, Error> {
    values
        .map(|v| v.parse().map_err(Error::msg))
        .collect::<Result<_, _>>()
}

/// Checks the tables of `prefix` against the flows of the run, which
/// started at `since`.
///
/// # Errors
/// A failed query or a malformed id in an answer.
pub async fn check(
    pool: &PgPool,
    prefix: &str,
    flows: &[FlowResult],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<DbChecks, Error> {
    let verified: Vec<_> = flows.iter().filter_map(|f| f.verified.clone()).collect();
    let sessions = uuids(verified.iter().map(|v| v.session_id.clone()))?;
    let refreshed = uuids(
        flows
            .iter()
            .filter(|f| f.refreshed)
            .filter_map(|f| f.verified.as_ref().map(|v| v.session_id.clone())),
    )?;
    let mut per_user: BTreeMap<String, i64> = BTreeMap::new();
    for v in &verified {
        *per_user.entry(v.user_id.clone()).or_default() += 1;
    }
    let users = uuids(per_user.keys().cloned())?;
    let counts: Vec<i64> = per_user.values().copied().collect();

    let p = prefix;
    let missing = |text: String, ids: Vec<uuid::Uuid>| async move {
        sqlx::query_scalar::<_, i64>(sql(text))
            .bind(ids)
            .fetch_one(pool)
            .await
    };
    let mut c = DbChecks {
        verified_sessions: sessions.len(),
        ..DbChecks::default()
    };
    c.missing_sessions = missing(
        format!(
            "SELECT count(*) FROM unnest($1::uuid[]) AS s(id) \
             WHERE NOT EXISTS (SELECT 1 FROM {p}sessions x WHERE x.id = s.id)"
        ),
        sessions.clone(),
    )
    .await?;
    c.missing_session_created_events = missing(
        format!(
            "SELECT count(*) FROM unnest($1::uuid[]) AS s(id) \
             WHERE NOT EXISTS (SELECT 1 FROM {p}audit_events a WHERE a.session_id = s.id \
             AND a.kind = 'session_created' AND a.outcome = 'success')"
        ),
        sessions,
    )
    .await?;
    c.missing_refresh_events = missing(
        format!(
            "SELECT count(*) FROM unnest($1::uuid[]) AS s(id) \
             WHERE NOT EXISTS (SELECT 1 FROM {p}audit_events a WHERE a.session_id = s.id \
             AND a.kind = 'session_refreshed' AND a.outcome = 'success')"
        ),
        refreshed,
    )
    .await?;
    c.missing_verification_events = sqlx::query_scalar(sql(format!(
        "SELECT coalesce(sum(greatest(u.n - (SELECT count(*) FROM {p}audit_events a \
         WHERE a.user_id = u.id AND a.kind = 'mfa_verification' AND a.outcome = 'success' \
         AND a.at >= $3), 0)), 0)::bigint \
         FROM unnest($1::uuid[], $2::bigint[]) AS u(id, n)"
    )))
    .bind(users)
    .bind(counts)
    .bind(since)
    .fetch_one(pool)
    .await?;
    // A family is one chain of rotations: at any time at most one of its
    // tokens is active and unused.
    let (families, orphans): (i64, i64) = sqlx::query_as(sql(format!(
        "SELECT count(*), coalesce(sum(n - 1), 0)::bigint FROM ( \
         SELECT family_id, count(*) AS n FROM {p}refresh_tokens \
         WHERE status = 'active' AND used_at IS NULL GROUP BY family_id HAVING count(*) > 1) f"
    )))
    .fetch_one(pool)
    .await?;
    c.families_with_two_live_tokens = families;
    c.orphan_tokens = orphans;
    c.forked_parents = sqlx::query_scalar(sql(format!(
        "SELECT count(*) FROM (SELECT parent_id FROM {p}refresh_tokens \
         WHERE parent_id IS NOT NULL GROUP BY parent_id HAVING count(*) > 1) f"
    )))
    .fetch_one(pool)
    .await?;
    Ok(c)
}
