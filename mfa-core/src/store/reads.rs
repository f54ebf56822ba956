//! Reads that a step makes together, in one call, so a store can answer
//! them with one statement (and, inside a unit of work, lock what it read).

use super::{ChallengeRepository, FactorRepository, StoreResult, UserRepository};
use crate::model::{Factor, LoginTicket, TokenHash, User};
use async_trait::async_trait;

/// A login ticket with what a step answering it reads next.
#[derive(Debug, Clone)]
pub struct TicketContext {
    /// The ticket, consumed or not, expired or not.
    pub ticket: LoginTicket,
    /// The ticket's user, when asked for and the row exists (deleted or
    /// not).
    pub user: Option<User>,
    /// The user's factors that are not deleted, in
    /// [`FactorRepository::list_factors`] order.
    pub factors: Vec<Factor>,
}

/// Combined reads of the engine's hot steps. Each method has a default
/// made of the single-table calls it replaces, so a store of one's own
/// needs only `impl StepReads for MyStore {}`; a SQL store answers each in
/// one statement.
///
/// **Inside a unit of work**, a store may lock the rows it returns until
/// the unit ends (`SELECT … FOR UPDATE`, or a database-wide write lock
/// such as SQLite's `BEGIN IMMEDIATE`). While it holds them, it may decide
/// the unit's later single-winner calls on those rows
/// ([`ChallengeRepository::consume_ticket`],
/// [`UserRepository::record_failure`], [`UserRepository::reset_failures`],
/// [`FactorRepository::advance_totp_step`]) from what it read, and write
/// their effects when the unit commits: nobody else can change those rows
/// in between, so the answers are the ones the conditional statements
/// would have given.
#[async_trait]
pub trait StepReads: UserRepository + FactorRepository + ChallengeRepository {
    /// The ticket whose token hashes to `token_hash`, with its user (only
    /// when `with_user`; a host that keeps its own user table reads the
    /// user there) and the user's factors. `None` when no ticket has that
    /// hash.
    ///
    /// # Errors
    /// A store error.
    async fn ticket_context(
        &self,
        token_hash: &TokenHash,
        with_user: bool,
    ) -> StoreResult<Option<TicketContext>> {
        let Some(ticket) = self.find_ticket(token_hash).await? else {
            return Ok(None);
        };
        let user = if with_user {
            self.get_user(ticket.user_id).await?
        } else {
            None
        };
        let factors = self.list_factors(ticket.user_id).await?;
        Ok(Some(TicketContext {
            ticket,
            user,
            factors,
        }))
    }
}
