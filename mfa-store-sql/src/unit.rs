//! Units of work on a SQL store ([`mfa_core::store::UnitOfWork`]): one
//! transaction of the driver, and the same repository code running on it.
//!
//! [`SqlStore::begin`](mfa_core::store::UnitOfWork::begin) opens a
//! transaction (SQLite: `BEGIN IMMEDIATE`) and hands out a
//! `SqlStore<UnitDriver<D>>` whose "pool" is that one transaction. A
//! repository method that opens a transaction of its own gets a
//! [`Nested`] handle on the same transaction instead: its statements join
//! the unit and its commit or rollback is the unit's to make. Inside a unit
//! a deadlock or serialization failure aborts the whole transaction, so it
//! is not retried statement by statement: it comes back as
//! [`StoreError::Contention`] for the caller to run the unit again.
//!
//! What a unit saves over separate calls:
//!
//! - **Audit events are buffered**: `append_audit` inside a unit costs no
//!   statement; the unit's events are written by one multi-row `INSERT`
//!   just before its `COMMIT` (or before an audit query inside the unit,
//!   so the unit reads its own events: its audit queries, walks of the
//!   audit chains and counts of unlinked events). A rolled-back unit
//!   writes none, and a duplicate event id or chain position fails the
//!   commit (the unit is rolled back).
//! - **Resets of clean counters are skipped**: a user row read inside the
//!   unit (`get_user`, `find_user_by_identifier`) tells which failure
//!   counters are already clear; `reset_failures` of such a counter costs
//!   no statement (the reset takes effect at the moment of the read; a
//!   failure counted concurrently after it stays counted, the stricter
//!   outcome). A failure the unit records makes the counter dirty again.
//!
//! - **Rows read under lock decide the unit's conditional writes**: the
//!   combined read of a ticket, its user and the user's factors
//!   ([`StepReads::ticket_context`](mfa_core::store::StepReads)) locks
//!   them (`FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` already holds the
//!   database), and so does a unit's `find_user_by_identifier` of the
//!   user's row. While the unit holds them, `consume_ticket`,
//!   `record_failure`, `reset_failures` and `advance_totp_step` on those
//!   rows are decided from what was read, with the same rules as their
//!   conditional statements, and their writes are deferred; a failure
//!   counted and then reset writes nothing at all.
//! - **Deferred writes go together**: those writes, new sessions and
//!   refresh tokens, and the audit events wait until the unit's next
//!   statement or its commit, and then go as one statement of
//!   data-modifying `WITH` clauses on PostgreSQL, as one `;`-separated
//!   call where the driver runs those (sqlx's SQLite), one by one elsewhere,
//!   in the order they were made. A later deferred write of the same row
//!   replaces the earlier one, so no batch writes a row twice. An error in
//!   a deferred write (a duplicate id) fails the statement that flushed it
//!   or the commit, and the unit rolls back.
//!
//! - **Statements that touch no deferred row run ahead**: spending a
//!   backup code and counting the codes left touch only the backup codes,
//!   which no deferred write touches, so they do not flush the deferred
//!   writes first (`Driver::execute_ahead`, `Driver::fetch_ahead`); the
//!   unit remembers the count, so `remaining_backup_codes` after a spend
//!   costs no statement.
//!
//! The unit's statements, `BEGIN` and `COMMIT`/`ROLLBACK` count into the
//! [`StoreStats`](crate::stats::StoreStats) of the store that began it.

use crate::driver::{Driver, EachRow, Executor, Statement, Transaction};
use crate::error::is_retryable;
use crate::stats::CountedTx;
use crate::store::SqlStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::{
    AuditEvent, ChallengePurpose, Device, DeviceId, DeviceSighting, Factor, FactorId,
    FailureCounter, LockScope, LockoutRule, OtpChallenge, TicketId, User, UserId,
};
use mfa_core::store::{
    Durability, FailureOutcome, Repositories, SignInContext, StoreError, StoreResult,
    TicketContext, UnitOfWork,
};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::instrument;

/// The one open transaction of a unit, shared by its repository calls.
type Shared<D> = Arc<Mutex<Option<CountedTx<<D as Driver>::Tx>>>>;

/// What the repositories of one unit remember between their calls.
#[derive(Debug, Default)]
pub(crate) struct UnitState {
    /// Audit events appended in the unit, not yet written.
    audit: std::sync::Mutex<Vec<AuditEvent>>,
    /// Per live user read in the unit: whether its password and MFA failure
    /// counters are clear (nothing to reset).
    clean: std::sync::Mutex<HashMap<UserId, [bool; 2]>>,
    /// Rows the unit holds locked, as it last wrote (or read) them.
    locked: std::sync::Mutex<Locked>,
    /// Writes waiting for the unit's next statement or its commit.
    pending: std::sync::Mutex<Vec<Deferred>>,
    /// Per user: the unused backup codes left after a code the unit spent
    /// (until the unit changes that user's codes otherwise).
    backup_left: std::sync::Mutex<HashMap<UserId, u32>>,
}

/// The row a deferred write is for: a later write of the same row
/// replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKey {
    /// A login ticket's consumption.
    Ticket(TicketId),
    /// A user's failure counters.
    Counters(UserId),
    /// A factor's last accepted TOTP step.
    Step(FactorId),
    /// A device's sighting (its insert, or its update).
    Device(DeviceId),
}

/// A write deferred to the unit's next flush.
#[derive(Debug)]
pub(crate) struct Deferred {
    key: Option<RowKey>,
    statement: Statement,
}

/// A locked user's failure counters: as in the database, and as the unit
/// has them now (`[password, mfa]`).
#[derive(Debug, Clone, Copy)]
struct LockedUser {
    stored: [FailureCounter; 2],
    current: [FailureCounter; 2],
}

#[derive(Debug, Default)]
struct Locked {
    /// Per locked ticket: consumed, and when it expires.
    tickets: HashMap<TicketId, (bool, DateTime<Utc>)>,
    /// Per locked live user.
    users: HashMap<UserId, LockedUser>,
    /// Per locked live factor: its last accepted TOTP step.
    factors: HashMap<FactorId, Option<i64>>,
    /// Per locked live factor: its latest login challenge (`None`: it has
    /// none), as the unit has it.
    latest: HashMap<FactorId, Option<OtpChallenge>>,
    /// Per locked live user whose live devices the unit read under that
    /// lock: the devices as the unit has them now.
    devices: HashMap<UserId, Vec<KnownDevice>>,
}

/// A device of a locked user, as the unit has it.
#[derive(Debug, Clone)]
struct KnownDevice {
    device: Device,
    /// The row exists in the database (read, or its insert written).
    stored: bool,
}

/// What [`UnitState::sight_device`] decided.
#[derive(Debug)]
pub(crate) struct Sighted {
    /// The device after the sighting.
    pub(crate) device: Device,
    /// The sighting created it.
    pub(crate) created: bool,
    /// Its row exists already: the write is an update, not an insert.
    pub(crate) stored: bool,
}

impl Locked {
    /// Holds a live user's row and the user's live factors.
    fn hold(&mut self, user: Option<&User>, factors: &[Factor]) {
        if let Some(user) = user.filter(|u| u.deleted_at.is_none()) {
            let counters = [user.password_failures, user.mfa_failures];
            self.users.insert(
                user.id,
                LockedUser {
                    stored: counters,
                    current: counters,
                },
            );
        }
        for factor in factors {
            self.factors.insert(factor.id, factor.last_totp_step);
        }
    }
}

fn slot(scope: LockScope) -> usize {
    match scope {
        LockScope::Password => 0,
        LockScope::Mfa => 1,
    }
}

impl UnitState {
    /// Buffers an audit event until the unit writes its events.
    pub(crate) fn buffer_audit(&self, event: AuditEvent) {
        lock(&self.audit).push(event);
    }

    /// The buffered audit events, emptying the buffer.
    pub(crate) fn take_audit(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *lock(&self.audit))
    }

    /// Remembers which counters of a user read in the unit are clear.
    pub(crate) fn saw_user(&self, user: &User) {
        let mut clean = lock(&self.clean);
        if user.deleted_at.is_some() {
            clean.remove(&user.id);
            return;
        }
        let clear =
            |c: &mfa_core::model::FailureCounter| c.failures == 0 && c.locked_until.is_none();
        clean.insert(
            user.id,
            [clear(&user.password_failures), clear(&user.mfa_failures)],
        );
    }

    /// Whether the unit knows the counter of `scope` to be clear on a live
    /// user.
    pub(crate) fn is_clean(&self, id: UserId, scope: LockScope) -> bool {
        lock(&self.clean)
            .get(&id)
            .is_some_and(|flags| flags[slot(scope)])
    }

    /// Records the counter of `scope` as clear (after a reset) or not
    /// (after a counted failure); unknown users stay unknown.
    pub(crate) fn set_clean(&self, id: UserId, scope: LockScope, clear: bool) {
        if let Some(flags) = lock(&self.clean).get_mut(&id) {
            flags[slot(scope)] = clear;
        }
    }

    /// Forgets what the unit knew of a user (deleted, or changed wholesale).
    pub(crate) fn forget_user(&self, id: UserId) {
        lock(&self.clean).remove(&id);
        let mut locked = lock(&self.locked);
        locked.users.remove(&id);
        locked.devices.remove(&id);
    }

    /// Forgets what the unit knew of a factor (deleted), or of every
    /// factor (`None`).
    pub(crate) fn forget_factor(&self, id: Option<FactorId>) {
        let mut locked = lock(&self.locked);
        match id {
            Some(id) => {
                locked.factors.remove(&id);
                locked.latest.remove(&id);
            }
            None => {
                locked.factors.clear();
                locked.latest.clear();
            }
        }
    }

    /// Remembers how many unused backup codes `user` has left, after the
    /// unit spent one; `None` forgets it (the unit changed the codes).
    pub(crate) fn know_backup_left(&self, user: UserId, left: Option<u32>) {
        let mut known = lock(&self.backup_left);
        match left {
            Some(n) => known.insert(user, n),
            None => known.remove(&user),
        };
    }

    /// The unused backup codes of `user` left, if the unit knows them.
    pub(crate) fn backup_left(&self, user: UserId) -> Option<u32> {
        lock(&self.backup_left).get(&user).copied()
    }

    /// Remembers a user's row read under lock.
    pub(crate) fn hold_user(&self, user: &User) {
        lock(&self.locked).hold(Some(user), &[]);
    }

    /// Remembers the rows of a ticket context read under lock.
    pub(crate) fn lock_context(&self, context: &TicketContext) {
        let mut locked = lock(&self.locked);
        let ticket = &context.ticket;
        locked
            .tickets
            .insert(ticket.id, (ticket.consumed_at.is_some(), ticket.expires_at));
        locked.hold(context.user.as_ref(), &context.factors);
        drop(locked);
        if let Some(user) = &context.user {
            self.saw_user(user);
        }
    }

    /// Remembers the rows of a sign-in context read under the user's lock,
    /// with the user's devices.
    pub(crate) fn lock_sign_in(&self, context: &SignInContext) {
        let Some(user) = context.user.as_ref().filter(|u| u.deleted_at.is_none()) else {
            return;
        };
        let mut locked = lock(&self.locked);
        locked.hold(Some(user), &context.factors);
        let known = context
            .devices
            .iter()
            .map(|device| KnownDevice {
                device: device.clone(),
                stored: true,
            })
            .collect();
        locked.devices.insert(user.id, known);
        drop(locked);
        self.saw_user(user);
    }

    /// `upsert_device` of a user whose devices the unit read under lock
    /// (`None`: not read here): the same rule as the upsert (a live device
    /// of that fingerprint is updated, otherwise one is created).
    pub(crate) fn sight_device(&self, sighting: &DeviceSighting) -> Option<Sighted> {
        let mut locked = lock(&self.locked);
        let known = locked.devices.get_mut(&sighting.user_id)?;
        if let Some(entry) = known
            .iter_mut()
            .find(|k| k.device.fingerprint_hash == sighting.fingerprint_hash)
        {
            sighting.apply_to(&mut entry.device);
            return Some(Sighted {
                device: entry.device.clone(),
                created: false,
                stored: entry.stored,
            });
        }
        let device = sighting.new_device();
        known.push(KnownDevice {
            device: device.clone(),
            stored: false,
        });
        Some(Sighted {
            device,
            created: true,
            stored: false,
        })
    }

    /// Forgets the devices the unit knew (one was deleted).
    pub(crate) fn forget_devices(&self) {
        lock(&self.locked).devices.clear();
    }

    /// Remembers the latest login challenge of factors read under lock.
    pub(crate) fn know_latest_login_challenges(
        &self,
        latest: impl IntoIterator<Item = (FactorId, Option<OtpChallenge>)>,
    ) {
        lock(&self.locked).latest.extend(latest);
    }

    /// `latest_challenge` of a locked factor, when the unit knows it
    /// (`None`: ask the database).
    pub(crate) fn latest_challenge(
        &self,
        factor: FactorId,
        purpose: ChallengePurpose,
    ) -> Option<Option<OtpChallenge>> {
        if purpose != ChallengePurpose::Login {
            return None;
        }
        lock(&self.locked).latest.get(&factor).cloned()
    }

    /// Records a challenge the unit issued: the factor's latest now, if
    /// the unit tracks the factor's login challenges.
    pub(crate) fn issued_challenge(&self, challenge: &OtpChallenge) {
        if challenge.purpose != ChallengePurpose::Login {
            return;
        }
        if let Some(latest) = lock(&self.locked).latest.get_mut(&challenge.factor_id) {
            *latest = Some(challenge.clone());
        }
    }

    /// Forgets the latest challenges the unit knew (a challenge changed by
    /// a statement).
    pub(crate) fn forget_challenges(&self) {
        lock(&self.locked).latest.clear();
    }

    /// Whether the unit holds a live factor's row locked.
    pub(crate) fn holds_factor(&self, id: FactorId) -> bool {
        lock(&self.locked).factors.contains_key(&id)
    }

    /// `consume_ticket` of a locked ticket (`None`: not locked here).
    pub(crate) fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> Option<bool> {
        let mut locked = lock(&self.locked);
        let (consumed, expires_at) = locked.tickets.get_mut(&id)?;
        if *consumed || *expires_at <= now {
            return Some(false);
        }
        *consumed = true;
        Some(true)
    }

    /// `advance_totp_step` of a locked factor (`None`: not locked here).
    pub(crate) fn advance_step(&self, id: FactorId, step: i64) -> Option<bool> {
        let mut locked = lock(&self.locked);
        let last = locked.factors.get_mut(&id)?;
        if last.is_some_and(|last| last >= step) {
            return Some(false);
        }
        *last = Some(step);
        Some(true)
    }

    /// `record_failure` on a locked user (`None`: not locked here), with
    /// the rule's own arithmetic ([`LockoutRule::next`]).
    pub(crate) fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> Option<FailureOutcome> {
        let mut locked = lock(&self.locked);
        let user = locked.users.get_mut(&id)?;
        let current = user.current[slot(scope)];
        let Some(next) = rule.next(current, now) else {
            let lock = current.lock_at(rule, now)?;
            return Some(FailureOutcome::Locked(lock));
        };
        user.current[slot(scope)] = next;
        drop(locked);
        self.set_clean(id, scope, false);
        Some(FailureOutcome::Counted {
            failures: next.failures,
            locked_until: next
                .locked_until
                .filter(|_| rule.lock_after(next.failures).is_some()),
        })
    }

    /// `reset_failures` on a locked user (`false`: not locked here).
    pub(crate) fn reset_failures(&self, id: UserId, scope: LockScope) -> bool {
        let mut locked = lock(&self.locked);
        let Some(user) = locked.users.get_mut(&id) else {
            return false;
        };
        user.current[slot(scope)] = FailureCounter::default();
        drop(locked);
        self.set_clean(id, scope, true);
        true
    }

    /// A locked user's counters as the unit has them, when they differ from
    /// the database's (`Some(None)`: they no longer differ; `None`: not
    /// locked here).
    pub(crate) fn counters_to_write(&self, id: UserId) -> Option<Option<[FailureCounter; 2]>> {
        let locked = lock(&self.locked);
        let user = locked.users.get(&id)?;
        Some((user.current != user.stored).then_some(user.current))
    }

    /// Defers a write; one of the same row replaces the earlier one in
    /// place.
    pub(crate) fn defer(&self, key: Option<RowKey>, statement: Statement) {
        let mut pending = lock(&self.pending);
        if let Some(key) = key
            && let Some(slot) = pending.iter_mut().find(|d| d.key == Some(key))
        {
            slot.statement = statement;
            return;
        }
        pending.push(Deferred { key, statement });
    }

    /// Drops the deferred write of `key`, if any.
    pub(crate) fn undefer(&self, key: RowKey) {
        lock(&self.pending).retain(|d| d.key != Some(key));
    }

    /// The deferred writes, in order, emptying the queue; the locked users'
    /// counters count as written.
    fn take_pending(&self) -> Vec<Statement> {
        let pending = std::mem::take(&mut *lock(&self.pending));
        if !pending.is_empty() {
            let mut locked = lock(&self.locked);
            for user in locked.users.values_mut() {
                user.stored = user.current;
            }
            for known in locked.devices.values_mut().flatten() {
                known.stored = true;
            }
        }
        pending.into_iter().map(|d| d.statement).collect()
    }

    /// Forgets the deferred writes and the audit events of a unit rolled
    /// back.
    fn discard(&self) {
        lock(&self.pending).clear();
        lock(&self.audit).clear();
    }
}

/// A poisoned lock only means another call panicked mid-update of plain
/// data; the data is still usable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A retryable failure inside a unit is contention: the transaction is
/// gone, only running the whole unit again can help.
fn contention(err: StoreError) -> StoreError {
    if is_retryable(&err) {
        match err {
            StoreError::Unavailable(source) => StoreError::Contention(source),
            other => other,
        }
    } else {
        err
    }
}

fn ended() -> StoreError {
    StoreError::Backend("the unit of work has already ended".into())
}

/// The statements that write the unit's deferred writes: one batch
/// statement where the dialect has them, otherwise one statement each.
fn pending_statements<D: Driver>(state: &UnitState) -> Vec<Statement> {
    let pending = state.take_pending();
    if pending.len() > 1 && (D::DIALECT.batch_writes || D::JOINS_STATEMENTS) {
        vec![if D::DIALECT.batch_writes {
            crate::sql::batch_statement(pending)
        } else {
            crate::sql::joined_statement(pending)
        }]
    } else {
        pending
    }
}

/// Writes the unit's deferred writes on `open`.
async fn flush<D: Driver>(open: &mut CountedTx<D::Tx>, state: &UnitState) -> StoreResult<()> {
    for statement in &pending_statements::<D>(state) {
        open.execute(statement).await.map_err(contention)?;
    }
    Ok(())
}

/// Runs `statement` on the unit's transaction, after the unit's deferred
/// writes when `state` is given (`None`: ahead of them).
async fn run_on<D: Driver>(
    tx: &Shared<D>,
    state: Option<&UnitState>,
    statement: &Statement,
) -> StoreResult<u64> {
    let mut guard = tx.lock().await;
    let open = guard.as_mut().ok_or_else(ended)?;
    if let Some(state) = state {
        flush::<D>(open, state).await?;
    }
    open.execute(statement).await.map_err(contention)
}

async fn fetch_on<D: Driver>(
    tx: &Shared<D>,
    state: Option<&UnitState>,
    statement: &Statement,
    each: &mut EachRow<'_>,
) -> StoreResult<()> {
    let mut guard = tx.lock().await;
    let open = guard.as_mut().ok_or_else(ended)?;
    if let Some(state) = state {
        flush::<D>(open, state).await?;
    }
    open.fetch(statement, each).await.map_err(contention)
}

/// The driver of an open unit: every statement on the unit's transaction,
/// after the unit's deferred writes.
pub struct UnitDriver<D: Driver> {
    tx: Shared<D>,
    state: Arc<UnitState>,
}

/// A repository method's own transaction inside a unit: the unit's
/// transaction, whose end is the unit's.
pub struct Nested<D: Driver> {
    tx: Shared<D>,
    state: Arc<UnitState>,
}

#[async_trait]
impl<D: Driver> Executor for Nested<D> {
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        run_on::<D>(&self.tx, Some(&self.state), statement).await
    }

    async fn fetch(&mut self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        fetch_on::<D>(&self.tx, Some(&self.state), statement, each).await
    }
}

#[async_trait]
impl<D: Driver> Transaction for Nested<D> {
    async fn commit(self) -> StoreResult<()> {
        Ok(())
    }

    // A failed repository method returns its error, and the unit is then
    // rolled back as a whole by its owner.
    async fn rollback(self) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
impl<D: Driver> Driver for UnitDriver<D> {
    const DIALECT: crate::sql::Dialect = D::DIALECT;
    const JOINS_STATEMENTS: bool = D::JOINS_STATEMENTS;
    type Tx = Nested<D>;

    async fn execute(&self, statement: &Statement) -> StoreResult<u64> {
        run_on::<D>(&self.tx, Some(&self.state), statement).await
    }

    async fn fetch(&self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        fetch_on::<D>(&self.tx, Some(&self.state), statement, each).await
    }

    /// Leaves the deferred writes waiting: the statement touches none of
    /// their rows.
    async fn execute_ahead(&self, statement: &Statement) -> StoreResult<u64> {
        run_on::<D>(&self.tx, None, statement).await
    }

    /// Leaves the deferred writes waiting (see `execute_ahead`).
    async fn fetch_ahead(&self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        fetch_on::<D>(&self.tx, None, statement, each).await
    }

    async fn begin(&self) -> StoreResult<Nested<D>> {
        Ok(Nested {
            tx: Arc::clone(&self.tx),
            state: Arc::clone(&self.state),
        })
    }
}

/// An open unit of work on a [`SqlStore`].
struct SqlUnit<D: Driver> {
    repositories: SqlStore<UnitDriver<D>>,
    tx: Shared<D>,
    state: Arc<UnitState>,
}

#[async_trait]
impl<D: Driver> mfa_core::store::Transaction for SqlUnit<D> {
    fn repositories(&self) -> &dyn Repositories {
        &self.repositories
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "commit"))]
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let buffered = self.repositories.flush_audit();
        let mut tx = self.tx.lock().await.take().ok_or_else(ended)?;
        let mut statements = match buffered {
            Ok(()) => pending_statements::<D>(&self.state),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        // The last write goes with the commit (in one round trip where the
        // driver pipelines); the ones before it first.
        let last = statements.pop();
        for statement in &statements {
            if let Err(e) = tx.execute(statement).await {
                let _ = tx.rollback().await;
                return Err(contention(e));
            }
        }
        match last {
            Some(last) => tx.commit_after(&last).await.map(drop),
            None => tx.commit().await,
        }
        .map_err(contention)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "rollback"))]
    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        // Deferred writes and buffered audit events go with the transaction.
        self.state.discard();
        let tx = self.tx.lock().await.take().ok_or_else(ended)?;
        tx.rollback().await
    }
}

#[async_trait]
impl<D: Driver> UnitOfWork for SqlStore<D> {
    async fn begin(&self) -> StoreResult<Box<dyn mfa_core::store::Transaction>> {
        self.begin_with(Durability::Flushed).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "begin"))]
    async fn begin_with(
        &self,
        durability: Durability,
    ) -> StoreResult<Box<dyn mfa_core::store::Transaction>> {
        let tx: Shared<D> = Arc::new(Mutex::new(Some(self.pool().begin(durability).await?)));
        let state = Arc::new(UnitState::default());
        let driver = UnitDriver::<D> {
            tx: Arc::clone(&tx),
            state: Arc::clone(&state),
        };
        Ok(Box::new(SqlUnit {
            repositories: SqlStore::for_unit(
                driver,
                self.prefix().clone(),
                Arc::clone(self.stats_handle()),
                Arc::clone(&state),
            ),
            tx,
            state,
        }))
    }
}
