//! Reads that a step makes together, in one call, so a store can answer
//! them with one statement (and, inside a unit of work, lock what it read).

use super::{
    BackupCodeRepository, ChallengeRepository, DeviceRepository, FactorRepository, StoreResult,
    UserRepository,
};
use crate::model::{Device, Factor, FactorKind, LoginTicket, MfaSettings, TokenHash, User, UserId};
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

/// What a sign-in reads once its first factor is accepted: enough to
/// assess the risk, record the device and choose the second step.
#[derive(Debug, Clone)]
pub struct SignInContext {
    /// The user, when asked for and the row exists (deleted or not).
    pub user: Option<User>,
    /// The user's factors that are not deleted, in
    /// [`FactorRepository::list_factors`] order.
    pub factors: Vec<Factor>,
    /// The user's live devices, in [`DeviceRepository::list_devices`]
    /// order.
    pub devices: Vec<Device>,
    /// The user's MFA settings, if any were stored.
    pub settings: Option<MfaSettings>,
    /// Unused backup codes ([`BackupCodeRepository::remaining_backup_codes`]);
    /// 0 when no active backup-code factor is among `factors`.
    pub backup_codes_left: u32,
}

/// [`StepReads::ticket_context`] made of the single-table calls it
/// replaces: its default, and the fallback of a store whose combined
/// statement finds nothing to join.
///
/// # Errors
/// A store error.
pub async fn ticket_context_by_calls<S: StepReads + ?Sized>(
    store: &S,
    token_hash: &TokenHash,
    with_user: bool,
) -> StoreResult<Option<TicketContext>> {
    let Some(ticket) = store.find_ticket(token_hash).await? else {
        return Ok(None);
    };
    let user = if with_user {
        store.get_user(ticket.user_id).await?
    } else {
        None
    };
    let factors = store.list_factors(ticket.user_id).await?;
    Ok(Some(TicketContext {
        ticket,
        user,
        factors,
    }))
}

/// [`StepReads::sign_in_context`] made of the single-table calls it
/// replaces: its default, and the fallback of a store whose combined
/// statement cannot answer (a host's own user table).
///
/// # Errors
/// A store error.
pub async fn sign_in_context_by_calls<S: StepReads + ?Sized>(
    store: &S,
    user: UserId,
    with_user: bool,
) -> StoreResult<SignInContext> {
    let found = if with_user {
        store.get_user(user).await?
    } else {
        None
    };
    let factors = store.list_factors(user).await?;
    let devices = store.list_devices(user).await?;
    let settings = store.get_settings(user).await?;
    let backup_codes_left = if factors
        .iter()
        .any(|f| f.kind == FactorKind::BackupCodes && f.is_active())
    {
        store.remaining_backup_codes(user).await?
    } else {
        0
    };
    Ok(SignInContext {
        user: found,
        factors,
        devices,
        settings,
        backup_codes_left,
    })
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
/// [`FactorRepository::advance_totp_step`], and
/// [`DeviceRepository::upsert_device`] of a user whose devices it read
/// under the user's lock) from what it read, and write their effects when
/// the unit commits: nobody else can change those rows in between, so the
/// answers are the ones the conditional statements would have given.
#[async_trait]
pub trait StepReads:
    UserRepository + FactorRepository + ChallengeRepository + DeviceRepository + BackupCodeRepository
{
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
        ticket_context_by_calls(self, token_hash, with_user).await
    }

    /// What a sign-in reads after its first factor (see
    /// [`SignInContext`]): the user (only when `with_user`), factors,
    /// devices, settings and the backup codes left. Inside a unit of work
    /// a store may lock the user's row with it.
    ///
    /// # Errors
    /// A store error.
    async fn sign_in_context(&self, user: UserId, with_user: bool) -> StoreResult<SignInContext> {
        sign_in_context_by_calls(self, user, with_user).await
    }
}
