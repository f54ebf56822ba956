//! Pipelined transactions on PostgreSQL: a unit of work's `BEGIN` goes out
//! with its first statement, and its last statement with its `COMMIT`, so
//! a unit of *n* statements costs *n* round trips instead of *n* + 2.
//!
//! diesel-async's PostgreSQL connection runs queries through a shared
//! reference, and tokio-postgres writes the requests of futures polled
//! together without waiting for the answers in between. The server still
//! runs them one after the other, in the order they arrived, so the whole
//! question is the order in which they are sent:
//!
//! - **`BEGIN` first.** It is a simple query (`batch_execute`), which
//!   tokio-postgres hands to the connection in the first poll of its
//!   future, before anything can wait. Polled first (`join!` polls in
//!   order), it is sent before any part of the statement.
//! - **`COMMIT` last.** The statement and the `COMMIT` are both prepared
//!   statements (the `COMMIT` kept prepared like every statement of ours).
//!   A prepared statement takes the connection's statement-cache lock
//!   before it prepares, holds it while a missing statement is prepared,
//!   and sends its execution in the same poll in which it lets go of the
//!   lock; a `COMMIT` polled after it waits for the lock, so it is sent
//!   after the statement's execution. If the statement fails on the
//!   server, the transaction is aborted and the `COMMIT` that follows it
//!   rolls back.
//! - **Nothing sent means nothing committed.** A statement that fails
//!   before it is sent (in the client) would let the `COMMIT` through.
//!   With the value types this crate binds (text, integers, bytes,
//!   booleans, UUIDs, timestamps in chrono's range, JSON documents), a
//!   bound value cannot fail to encode; what can fail is the count of
//!   parameters, which the protocol caps: a statement with more than
//!   [`may_precede_commit`] allows is run first and committed after its
//!   answer, as on the other backends.
//!
//! The engine tests pin the round trips (`engine_steps_cost_pinned_round_trips`),
//! and the store's tests check that a failing last statement, prepared or
//! not, leaves nothing of its unit behind.

use crate::error::map_err;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use mfa_core::store::StoreResult;
use mfa_store_sql::driver::Statement;

/// Sends `sql` (one or more statements without parameters: `BEGIN`,
/// `COMMIT`, `ROLLBACK`) as a simple query and waits for its answer.
pub(crate) async fn simple(conn: &AsyncPgConnection, sql: &str) -> StoreResult<()> {
    let mut conn = conn;
    conn.batch_execute(sql).await.map_err(map_err)
}

/// The most parameters tokio-postgres encodes in one statement (the
/// protocol counts them in 16 bits; the client refuses more than
/// `i16::MAX` before anything is sent).
const MOST_PARAMETERS: usize = i16::MAX as usize;

/// Whether `statement` may be sent ahead of the `COMMIT` without waiting
/// for its answer: the client encodes it without fail (see the [module
/// docs](self)).
pub(crate) fn may_precede_commit(statement: &Statement) -> bool {
    statement.args.len() <= MOST_PARAMETERS
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_store_sql::sql::Arg;

    #[test]
    fn a_statement_over_the_parameter_cap_waits_for_its_answer() {
        let with = |n: usize| Statement {
            sql: "INSERT".into(),
            args: vec![Arg::Bool(true); n],
        };
        assert!(may_precede_commit(&with(0)));
        assert!(may_precede_commit(&with(MOST_PARAMETERS)));
        assert!(!may_precede_commit(&with(MOST_PARAMETERS + 1)));
    }
}
