//! Steps as units of work: each public step of the engine reads and writes
//! through one store transaction and commits once.
//!
//! A step's body runs against a [`Step`]: the repositories of the open
//! unit (or, for the host's own user table or audit log, the host's
//! repository, outside the unit), and the engine's configuration through
//! `Deref<Target = Inner>`. What reaches the outside world (security
//! notifications, the message carrying a one-time code) waits in the step
//! and goes out only once the unit has committed, so nobody is told of a
//! change that did not happen.
//!
//! How a unit ends (see [`Inner::finish`]):
//!
//! - **success**: commit, then deliver;
//! - **a refusal** (wrong code, locked account, rate limit, bad ticket…):
//!   commit all the same, so a counted failure and its audit event are
//!   kept, then deliver (a lock notification), then return the error;
//! - **a failure** (store, crypto or configuration error): roll back, so a
//!   step cut short half-way leaves nothing; contention (deadlock,
//!   serialization failure) runs the whole step again, at most
//!   [`MAX_ATTEMPTS`] times.

use super::Inner;
use super::chains::Settled;
use super::support::Audit;
use crate::delivery::{DeliveryChannel, Message};
use crate::error::{MfaError, MfaResult};
use crate::model::{AuditEvent, AuditKind, AuditOutcome, NotificationKind, UserId};
use crate::store::{
    AuditRepository, BackupCodeRepository, ChallengeRepository, DeviceRepository, Durability,
    FactorRepository, KeyCheckRepository, PushRepository, RateLimiter, Repositories,
    SessionRepository, StepReads, Transaction, UserRepository,
};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// How many times a step runs before contention is returned to the caller
/// (as [`crate::store::StoreError::Contention`], code `unavailable`).
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Runs `$body` (a block of type `MfaResult<T>` that may `return` and use
/// `?`) as one unit of work of `$inner`, naming the step `$s`; retried as a
/// whole on contention. The unit's commit is
/// [`Durability::Flushed`](crate::store::Durability::Flushed) unless a
/// durability is given before the body.
macro_rules! unit {
    ($inner:expr, |$s:ident| $body:expr) => {
        $crate::flow::unit::unit!($inner, $crate::store::Durability::Flushed, |$s| $body)
    };
    ($inner:expr, $durability:expr, |$s:ident| $body:expr) => {{
        let owner: &$crate::flow::Inner = $inner;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            $crate::observability::unit_attempt(attempt);
            let tx = owner.begin($durability).await?;
            let $s = owner.step(Some(tx.repositories()));
            let result: $crate::error::MfaResult<_> = async { $body }.await;
            let (after, events) = $s.into_parts();
            match owner.finish(tx, result, after, events, attempt).await {
                $crate::flow::unit::Finished::Done(result) => break result,
                $crate::flow::unit::Finished::Again => {}
            }
        }
    }};
}

/// Runs `$body` against the store without a unit of work: for steps that
/// only read, and for the purge (batches committed one by one, so a long
/// purge never holds one huge transaction).
macro_rules! direct {
    ($inner:expr, |$s:ident| $body:expr) => {{
        let owner: &$crate::flow::Inner = $inner;
        let $s = owner.step(None);
        let result: $crate::error::MfaResult<_> = async { $body }.await;
        let (after, events) = $s.into_parts();
        let written = owner.write_audit(events).await;
        let delivered = owner.deliver(after).await;
        result.and_then(|value| written.and(delivered).map(|()| value))
    }};
}

pub(crate) use {direct, unit};

/// Something sent once the unit has committed.
pub(crate) enum After {
    /// A security notification, audited when sent.
    Notify {
        channel: Arc<dyn DeliveryChannel>,
        message: Message,
        user: UserId,
        kind: NotificationKind,
    },
    /// The message carrying a one-time code; a failed send fails the step.
    Code {
        channel: Arc<dyn DeliveryChannel>,
        message: Message,
        /// Audited when the send fails.
        failure: Box<Audit>,
    },
    /// A password reset or verification link. A failed send is audited
    /// (`failure`, with the error); it fails the step only when
    /// `fail_step` (a reset request answers the same whether or not an
    /// account exists, so its send never shows through).
    Link {
        channel: Arc<dyn DeliveryChannel>,
        message: Message,
        failure: Box<Audit>,
        fail_step: bool,
    },
    /// A push approval request's notices; the step fails when no device
    /// could be reached.
    Push(Box<super::push::PushSend>),
}

/// Whether a step that failed with `e` refused the request (its writes, a
/// counted failure and the audit event, are kept) rather than broke: store,
/// crypto and configuration errors (and a delivery error, which a body
/// never returns since sends wait for the commit) roll the unit back, so a
/// step cut short half-way leaves nothing behind.
pub(crate) const fn is_refusal(e: &MfaError) -> bool {
    !matches!(
        e,
        MfaError::Store(_) | MfaError::Crypto(_) | MfaError::Config(_) | MfaError::Delivery(_)
    )
}

/// What ending a unit decided.
pub(crate) enum Finished<T> {
    /// The step's answer.
    Done(MfaResult<T>),
    /// Contention: run the step again.
    Again,
}

/// One step's view of the store (see the module docs).
pub(crate) struct Step<'a> {
    inner: &'a Inner,
    pub users: &'a dyn UserRepository,
    pub factors: &'a dyn FactorRepository,
    pub backup_codes: &'a dyn BackupCodeRepository,
    pub challenges: &'a dyn ChallengeRepository,
    pub devices: &'a dyn DeviceRepository,
    pub sessions: &'a dyn SessionRepository,
    pub audit: &'a dyn AuditRepository,
    pub rate: &'a dyn RateLimiter,
    pub push: &'a dyn PushRepository,
    pub key_checks: &'a dyn KeyCheckRepository,
    /// The combined reads, on the unit's repositories (never the host's).
    pub reads: &'a dyn StepReads,
    after: Mutex<Vec<After>>,
    /// The step's audit events, linked and written when the unit commits.
    events: Mutex<Vec<AuditEvent>>,
}

impl Deref for Step<'_> {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        self.inner
    }
}

impl<'a> Step<'a> {
    /// Queues something to send after the commit.
    pub fn after_commit(&self, action: After) {
        self.after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(action);
    }

    /// Records an audit event of the step (written when it commits). The
    /// event's user is the step's (see [`crate::observability`]).
    pub fn record_event(&self, event: AuditEvent) {
        if let Some(user) = event.user_id {
            crate::observability::note_user(user);
        }
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }

    /// The queued sends and the step's audit events.
    pub fn into_parts(self) -> (Vec<After>, Vec<AuditEvent>) {
        (
            self.after
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            self.events
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Inner {
    /// Starts a unit of work whose commit has `durability`.
    pub(crate) async fn begin(&self, durability: Durability) -> MfaResult<Box<dyn Transaction>> {
        Ok(self.store.begin_with(durability).await?)
    }

    /// A step on `unit`'s repositories, or on the store's own (autocommit)
    /// without one. The host's user table and audit log, when set, are used
    /// as they are.
    pub(crate) fn step<'a>(&'a self, unit: Option<&'a dyn Repositories>) -> Step<'a> {
        let repos: &'a dyn Repositories = unit.unwrap_or(&*self.store);
        Step {
            inner: self,
            users: self.host_users.as_deref().unwrap_or(repos),
            factors: repos,
            backup_codes: repos,
            challenges: repos,
            devices: repos,
            sessions: repos,
            audit: self.host_audit.as_deref().unwrap_or(repos),
            rate: repos,
            push: repos,
            key_checks: repos,
            reads: repos,
            after: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// The audit log outside any unit (for events of sends made after a
    /// commit).
    pub(crate) fn audit_log(&self) -> &dyn AuditRepository {
        self.host_audit.as_deref().unwrap_or(&*self.store)
    }

    /// Ends a unit (see the module docs).
    pub(crate) async fn finish<T>(
        &self,
        tx: Box<dyn Transaction>,
        result: MfaResult<T>,
        after: Vec<After>,
        mut events: Vec<AuditEvent>,
        attempt: u32,
    ) -> Finished<T> {
        let retry = attempt < MAX_ATTEMPTS;
        // The unit's events join it, unless they go to the host's log
        // (after the commit, which the host's log cannot be part of).
        let mut lease = None;
        let mut result = result;
        if self.host_audit.is_none() && !result.as_ref().is_err_and(|e| !is_refusal(e)) {
            lease = self.link(&mut events, false);
            if let Err(e) = super::chains::append_all(tx.repositories(), &events).await {
                result = Err(e.into());
            }
        }
        if let Err(e) = &result
            && !is_refusal(e)
        {
            self.settle(lease, Settled::Discarded);
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back a failed step failed");
            }
            if retry && matches!(e, MfaError::Store(s) if s.is_contention()) {
                tracing::debug!(attempt, "contention: running the step again");
                return Finished::Again;
            }
            return Finished::Done(result);
        }
        match tx.commit().await {
            Ok(()) => self.settle(lease, Settled::Written),
            Err(e) => {
                // Contention aborts the transaction before anything is
                // written; any other failure may come after the commit.
                let settled = if e.is_contention() {
                    Settled::Discarded
                } else {
                    Settled::Unknown
                };
                self.settle(lease, settled);
                if retry && e.is_contention() {
                    tracing::debug!(attempt, "contention at commit: running the step again");
                    return Finished::Again;
                }
                return Finished::Done(Err(e.into()));
            }
        }
        if self.host_audit.is_some()
            && let Err(e) = self.write_audit(events).await
        {
            tracing::warn!(error = %e, "could not write a step's events to the host's audit log");
        }
        let delivered = self.deliver(after).await;
        Finished::Done(match (result, delivered) {
            (Ok(_), Err(e)) => Err(e),
            (result, _) => result,
        })
    }

    /// Sends what a committed step queued. Notifications never fail the
    /// step (a failed one is audited); a code that could not be sent does.
    pub(crate) async fn deliver(&self, after: Vec<After>) -> MfaResult<()> {
        let mut outcome = Ok(());
        for action in after {
            match action {
                After::Notify {
                    channel,
                    message,
                    user,
                    kind,
                } => {
                    let (result, error) = match channel.send(&message).await {
                        Ok(()) => (AuditOutcome::Success, None),
                        Err(e) => (AuditOutcome::Failure, Some(e.to_string())),
                    };
                    let audit = Audit::new(AuditKind::NotificationSent, result, self.now())
                        .user(user)
                        .meta(serde_json::json!({
                            "notification": kind.as_str(),
                            "channel": channel.channel().as_str(),
                            "error": error,
                        }));
                    if let Err(e) = self.write_audit(vec![audit.event().clone()]).await {
                        tracing::warn!(error = %e, "could not audit a notification");
                    }
                }
                After::Code {
                    channel,
                    message,
                    failure,
                } => {
                    if let Err(e) = channel.send(&message).await {
                        let failure = (*failure).meta_field("error", e.to_string());
                        if let Err(e) = self.write_audit(vec![failure.event().clone()]).await {
                            tracing::warn!(error = %e, "could not audit a failed code delivery");
                        }
                        outcome = Err(MfaError::Delivery(Box::new(e)));
                    }
                }
                After::Link {
                    channel,
                    message,
                    failure,
                    fail_step,
                } => {
                    if let Err(e) = channel.send(&message).await {
                        let failure = (*failure).meta_field("error", e.to_string());
                        if let Err(e) = self.write_audit(vec![failure.event().clone()]).await {
                            tracing::warn!(error = %e, "could not audit a failed link delivery");
                        }
                        if fail_step {
                            outcome = Err(MfaError::Delivery(Box::new(e)));
                        }
                    }
                }
                After::Push(send) => {
                    if let Err(e) = self.deliver_push(*send).await {
                        outcome = Err(e);
                    }
                }
            }
        }
        outcome
    }
}
