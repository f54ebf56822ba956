//! What the database must hold after a run: a session row and its audit
//! events for every verify the service answered with success, no
//! refresh-token family forked into two live tokens, and every step of the
//! engine whole or absent.
//!
//! # Steps: all of their rows or none
//!
//! Every engine step runs in one store transaction (a unit of work), so a
//! crash of the database at any moment must leave each step either complete
//! or without a trace. After the run the tables are read back and every
//! step of the run is rebuilt from its rows; a step that has some of its
//! rows but not all is *partial*:
//!
//! - a **verify** step ([`VerifySteps`]) writes a consumed MFA ticket
//!   (`login_tickets.consumed_at`), an `mfa_verification` success event, a
//!   session, the session's first refresh token and its `session_created`
//!   event. The schema links the last three by `session_id` only; ticket,
//!   event and session are linked by time: per user the engine takes the
//!   consumption time, then one instant `t` that is both the event's `at`
//!   and the session's `mfa_at`, and a user's verify steps are serialised
//!   by its failure-counter row lock. So in a user's rows ordered by time,
//!   a step is a ticket, then an event and a session at the same `t`, and
//!   a missing row shows as a group with a gap.
//! - a **failure** step ([`FailureSteps`]) counts the attempt
//!   (`users.mfa_failures + 1`, and `mfa_locked_until` when it starts a
//!   lock) and writes an `mfa_verification` failure event (and an
//!   `account_locked` event when it starts a lock). The schema keeps only
//!   the current counter, which a successful verify resets: what can be
//!   checked exactly is that each user's counter equals its failure events
//!   since its last successful verification, and that a lock exists exactly
//!   when its `account_locked` event does. The load's guessers (see
//!   [`crate::flow::FlowKind::Guess`]) never succeed, so every one of their
//!   failure steps is covered; a refused wrong code seen by the client must
//!   also have its event.
//! - a **refresh** step ([`RefreshSteps`]) marks the presented token used
//!   (`used_at`), inserts its child (`parent_id`) and writes a
//!   `session_refreshed` success event, all three at the same instant:
//!   parent, child and event are joined on (token, time) and (session,
//!   time).

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
    /// Wrong codes answered `invalid_code` without an `mfa_verification`
    /// failure event of their user (counted per user since the run
    /// started).
    pub missing_failure_events: i64,
    /// Refresh-token families with more than one active, unused token.
    pub families_with_two_live_tokens: i64,
    /// Live tokens beyond the first in those families (orphans).
    pub orphan_tokens: i64,
    /// Tokens that were rotated into more than one child.
    pub forked_parents: i64,
    /// Verify steps: all of their rows or none.
    pub verify_steps: VerifySteps,
    /// Failure steps: counter and events agree.
    pub failure_steps: FailureSteps,
    /// Refresh steps: all of their rows or none.
    pub refresh_steps: RefreshSteps,
}

impl DbChecks {
    /// Lost audit events of every kind checked.
    #[must_use]
    pub fn lost_audit_events(&self) -> i64 {
        self.missing_session_created_events
            + self.missing_verification_events
            + self.missing_refresh_events
            + self.missing_failure_events
    }

    /// Partial steps of every kind.
    #[must_use]
    pub fn partial_steps(&self) -> i64 {
        self.verify_steps.partial + self.failure_steps.partial() + self.refresh_steps.partial
    }

    /// Whether every invariant holds.
    #[must_use]
    pub fn hold(&self) -> bool {
        self.missing_sessions == 0
            && self.lost_audit_events() == 0
            && self.families_with_two_live_tokens == 0
            && self.orphan_tokens == 0
            && self.forked_parents == 0
            && self.partial_steps() == 0
    }
}

/// The verify steps of the run (second factor accepted), rebuilt from
/// their rows (see the module docs).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifySteps {
    /// Steps found (complete or partial).
    pub steps: i64,
    /// MFA tickets consumed during the run.
    pub consumed_tickets: i64,
    /// `mfa_verification` success events of the run.
    pub success_events: i64,
    /// Sessions created by a second factor during the run (`mfa_at` set).
    pub sessions: i64,
    /// Steps without their consumed ticket.
    pub without_ticket: i64,
    /// Steps without their `mfa_verification` success event.
    pub without_success_event: i64,
    /// Steps without their session.
    pub without_session: i64,
    /// Steps with a session that has no first refresh token.
    pub without_first_token: i64,
    /// Steps with a session that has no `session_created` event.
    pub without_created_event: i64,
    /// Steps missing at least one of their rows.
    pub partial: i64,
}

/// The failure steps of the run (second factor refused and counted),
/// checked per user (see the module docs).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FailureSteps {
    /// `mfa_verification` failure events of the run: one per failure step.
    pub events: i64,
    /// Users whose counter was compared (every user of the run's tables).
    pub users: i64,
    /// Failure events compared with a counter: those after their user's
    /// last successful verification.
    pub compared_events: i64,
    /// Sum of the users' MFA failure counters.
    pub counted: i64,
    /// Users whose counter differs from their failure events since their
    /// last successful verification.
    pub users_mismatched: i64,
    /// Failures counted without their event (counter above the events).
    pub counted_without_event: i64,
    /// Failure events without their count (counter below the events).
    pub event_without_count: i64,
    /// Users whose MFA lock and `account_locked` events disagree (a lock
    /// without its event since the last success, or the event without
    /// the lock).
    pub lock_mismatches: i64,
    /// Users locked during the run.
    pub locked_users: i64,
}

impl FailureSteps {
    /// Partial failure steps: counts without events, events without
    /// counts, and locks without their event or the reverse.
    #[must_use]
    pub fn partial(&self) -> i64 {
        self.counted_without_event + self.event_without_count + self.lock_mismatches
    }
}

/// The refresh steps of the run (a token rotated), rebuilt from their rows
/// (see the module docs).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshSteps {
    /// Steps found (complete or partial).
    pub steps: i64,
    /// Tokens rotated during the run (status `rotated`, or with a child).
    pub rotated_tokens: i64,
    /// Tokens created by a rotation during the run (`parent_id` set).
    pub child_tokens: i64,
    /// `session_refreshed` success events of the run.
    pub events: i64,
    /// Steps without their rotated parent.
    pub without_rotated_parent: i64,
    /// Steps without their child token.
    pub without_child: i64,
    /// Steps without their `session_refreshed` event.
    pub without_event: i64,
    /// Steps missing at least one of their rows.
    pub partial: i64,
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
    let mut refused: BTreeMap<String, i64> = BTreeMap::new();
    for f in flows.iter().filter(|f| f.refused_wrong_code) {
        *refused.entry(f.user_id.clone()).or_default() += 1;
    }
    c.missing_failure_events = sqlx::query_scalar(sql(format!(
        "SELECT coalesce(sum(greatest(u.n - (SELECT count(*) FROM {p}audit_events a \
         WHERE a.user_id = u.id AND a.kind = 'mfa_verification' AND a.outcome = 'failure' \
         AND a.at >= $3), 0)), 0)::bigint \
         FROM unnest($1::uuid[], $2::bigint[]) AS u(id, n)"
    )))
    .bind(uuids(refused.keys().cloned())?)
    .bind(refused.values().copied().collect::<Vec<i64>>())
    .bind(since)
    .fetch_one(pool)
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
    c.verify_steps = verify_steps(pool, prefix, since).await?;
    c.failure_steps = failure_steps(pool, prefix, since).await?;
    c.refresh_steps = refresh_steps(pool, prefix, since).await?;
    Ok(c)
}

/// Rebuilds the verify steps since `since` (see the module docs): per user,
/// consumed tickets (k = 0), success events (k = 1) and sessions (k = 2)
/// ordered by time; a new step starts at each ticket, at a row whose kind
/// does not follow the previous one's, and at a session whose time differs
/// from the event before it.
async fn verify_steps(
    pool: &PgPool,
    p: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<VerifySteps, Error> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(sql(format!(
        "WITH r AS ( \
               SELECT user_id, consumed_at AS t, 0 AS k, NULL::uuid AS sid \
                 FROM {p}login_tickets WHERE kind = 'mfa' AND consumed_at >= $1 \
               UNION ALL \
               SELECT user_id, at, 1, NULL::uuid FROM {p}audit_events \
                 WHERE kind = 'mfa_verification' AND outcome = 'success' AND at >= $1 \
               UNION ALL \
               SELECT user_id, mfa_at, 2, id FROM {p}sessions WHERE mfa_at >= $1), \
             o AS ( \
               SELECT *, lag(k) OVER w AS pk, lag(t) OVER w AS pt FROM r \
               WINDOW w AS (PARTITION BY user_id ORDER BY t, k, sid)), \
             g AS ( \
               SELECT *, sum(CASE WHEN pk IS NULL OR pk >= k OR (k = 2 AND pk = 1 AND pt <> t) \
                 THEN 1 ELSE 0 END) OVER (PARTITION BY user_id ORDER BY t, k, sid \
                 ROWS UNBOUNDED PRECEDING) AS n FROM o), \
             s AS ( \
               SELECT bool_or(k = 0) AS ticket, bool_or(k = 1) AS event, \
                 (array_agg(sid) FILTER (WHERE k = 2))[1] AS sid \
               FROM g GROUP BY user_id, n), \
             c AS ( \
               SELECT ticket, event, sid IS NOT NULL AS session, \
                 EXISTS (SELECT 1 FROM {p}refresh_tokens x \
                   WHERE x.session_id = s.sid AND x.parent_id IS NULL) AS token, \
                 EXISTS (SELECT 1 FROM {p}audit_events a WHERE a.session_id = s.sid \
                   AND a.kind = 'session_created' AND a.outcome = 'success') AS created \
               FROM s) \
             SELECT count(*), \
               count(*) FILTER (WHERE ticket), count(*) FILTER (WHERE event), \
               count(*) FILTER (WHERE session), \
               count(*) FILTER (WHERE NOT ticket), count(*) FILTER (WHERE NOT event), \
               count(*) FILTER (WHERE NOT session), \
               count(*) FILTER (WHERE session AND NOT token), \
               count(*) FILTER (WHERE session AND NOT created), \
               count(*) FILTER (WHERE NOT (ticket AND event AND session AND token AND created)) \
             FROM c"
    )))
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(VerifySteps {
        steps: row.0,
        consumed_tickets: row.1,
        success_events: row.2,
        sessions: row.3,
        without_ticket: row.4,
        without_success_event: row.5,
        without_session: row.6,
        without_first_token: row.7,
        without_created_event: row.8,
        partial: row.9,
    })
}

/// Compares each user's MFA failure counter and lock with its failure and
/// `account_locked` events since its last successful verification (or the
/// start of the run).
async fn failure_steps(
    pool: &PgPool,
    p: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<FailureSteps, Error> {
    let events: i64 = sqlx::query_scalar(sql(format!(
        "SELECT count(*) FROM {p}audit_events \
         WHERE kind = 'mfa_verification' AND outcome = 'failure' AND at >= $1"
    )))
    .bind(since)
    .fetch_one(pool)
    .await?;
    let row: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(sql(format!(
        "WITH ok AS ( \
           SELECT user_id, max(at) AS at FROM {p}audit_events \
           WHERE kind = 'mfa_verification' AND outcome = 'success' AND at >= $1 \
           GROUP BY user_id), \
         u AS ( \
           SELECT u.mfa_failures AS counted, u.mfa_locked_until IS NOT NULL AS locked, \
             (SELECT count(*) FROM {p}audit_events a WHERE a.user_id = u.id \
               AND a.kind = 'mfa_verification' AND a.outcome = 'failure' \
               AND a.at >= $1 AND (ok.at IS NULL OR a.at > ok.at)) AS events, \
             (SELECT count(*) FROM {p}audit_events a WHERE a.user_id = u.id \
               AND a.kind = 'account_locked' AND a.metadata->>'scope' = 'mfa' \
               AND a.at >= $1 AND (ok.at IS NULL OR a.at > ok.at)) AS locks \
           FROM {p}users u LEFT JOIN ok ON ok.user_id = u.id) \
         SELECT count(*), coalesce(sum(events), 0)::bigint, coalesce(sum(counted), 0)::bigint, \
           count(*) FILTER (WHERE counted <> events), \
           coalesce(sum(greatest(counted - events, 0)), 0)::bigint, \
           coalesce(sum(greatest(events - counted, 0)), 0)::bigint, \
           count(*) FILTER (WHERE locked <> (locks > 0)), \
           count(*) FILTER (WHERE locked) \
         FROM u"
    )))
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(FailureSteps {
        events,
        users: row.0,
        compared_events: row.1,
        counted: row.2,
        users_mismatched: row.3,
        counted_without_event: row.4,
        event_without_count: row.5,
        lock_mismatches: row.6,
        locked_users: row.7,
    })
}

/// Rebuilds the refresh steps since `since`: rotated parents joined to
/// their children on (token, time), then to the `session_refreshed` events
/// on (session, time).
async fn refresh_steps(
    pool: &PgPool,
    p: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<RefreshSteps, Error> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(sql(format!(
        "WITH child AS ( \
           SELECT id, parent_id, session_id, created_at FROM {p}refresh_tokens \
           WHERE parent_id IS NOT NULL AND created_at >= $1), \
         parent AS ( \
           SELECT id, session_id, used_at FROM {p}refresh_tokens \
           WHERE used_at >= $1 \
             AND (status = 'rotated' OR id IN (SELECT parent_id FROM child))), \
         event AS ( \
           SELECT id, session_id, at FROM {p}audit_events \
           WHERE kind = 'session_refreshed' AND outcome = 'success' AND at >= $1), \
         pair AS ( \
           SELECT p.id AS parent, c.id AS child, \
             coalesce(c.session_id, p.session_id) AS sid, coalesce(c.created_at, p.used_at) AS at \
           FROM parent p FULL JOIN child c ON c.parent_id = p.id AND c.created_at = p.used_at), \
         step AS ( \
           SELECT x.parent IS NOT NULL AS rotated, x.child IS NOT NULL AS child, \
             e.id IS NOT NULL AS event \
           FROM pair x FULL JOIN event e ON e.session_id = x.sid AND e.at = x.at) \
         SELECT count(*), count(*) FILTER (WHERE rotated), count(*) FILTER (WHERE child), \
           count(*) FILTER (WHERE event), count(*) FILTER (WHERE NOT rotated), \
           count(*) FILTER (WHERE NOT child), count(*) FILTER (WHERE NOT event), \
           count(*) FILTER (WHERE NOT (rotated AND child AND event)) \
         FROM step"
    )))
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(RefreshSteps {
        steps: row.0,
        rotated_tokens: row.1,
        child_tokens: row.2,
        events: row.3,
        without_rotated_parent: row.4,
        without_child: row.5,
        without_event: row.6,
        partial: row.7,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_step_of_any_kind_breaks_the_invariants() {
        assert!(DbChecks::default().hold());
        let mut c = DbChecks::default();
        c.verify_steps.partial = 1;
        assert!(!c.hold());
        let mut c = DbChecks::default();
        c.failure_steps.lock_mismatches = 1;
        assert_eq!(c.partial_steps(), 1);
        assert!(!c.hold());
        let mut c = DbChecks::default();
        c.refresh_steps.partial = 2;
        c.failure_steps.counted_without_event = 1;
        c.failure_steps.event_without_count = 1;
        assert_eq!(c.partial_steps(), 4);
        let c = DbChecks {
            missing_failure_events: 1,
            ..DbChecks::default()
        };
        assert_eq!(c.lost_audit_events(), 1);
        assert!(!c.hold());
    }
}
