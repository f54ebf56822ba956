//! What the engine and the library's stores tell a [`tracing`] subscriber:
//! a span for every step of [`Mfa`](crate::Mfa), a span for every store
//! operation, and the fields they carry. Nothing is recorded unless a
//! subscriber asks for it; a disabled span costs a check of its level.
//!
//! # Step spans
//!
//! Every `async` method of [`Mfa`](crate::Mfa) runs inside one span at
//! level `INFO`, named `mfa.` followed by the method's name, with the
//! target of the engine module that runs it (under `mfa_core`):
//!
//! | steps | span names |
//! |---|---|
//! | sign-in | `mfa.login`, `mfa.begin_after_primary_auth`, `mfa.continue_without_mfa`, `mfa.ticket_info` |
//! | second factor | `mfa.send_challenge`, `mfa.verify`, `mfa.begin_step_up` |
//! | sessions | `mfa.refresh`, `mfa.authenticate`, `mfa.logout`, `mfa.revoke_session`, `mfa.revoke_all_sessions`, `mfa.sessions` |
//! | enrolment | `mfa.enroll_totp`, `mfa.enroll_email`, `mfa.enroll_sms`, `mfa.confirm_factor`, `mfa.regenerate_backup_codes`, `mfa.remove_factor`, `mfa.rename_factor`, `mfa.factors`, `mfa.backup_codes_remaining` |
//! | devices | `mfa.register_device`, `mfa.devices`, `mfa.trusted_devices`, `mfa.revoke_device`, `mfa.revoke_all_devices`, `mfa.mark_device_compromised` |
//! | passkeys (feature `passkeys`) | `mfa.start_passkey_registration`, `mfa.finish_passkey_registration`, `mfa.passkey_options`, `mfa.verify_passkey`, `mfa.passkey_sign_in_options`, `mfa.passkey_sign_in`, `mfa.passkeys` |
//! | push approval | `mfa.start_push_enrolment`, `mfa.finish_push_enrolment`, `mfa.request_push`, `mfa.push_request_for_app`, `mfa.answer_push`, `mfa.push_status`, `mfa.complete_push`, `mfa.push_devices` |
//! | users | `mfa.create_user`, `mfa.user`, `mfa.change_password` |
//! | administration | `mfa.settings`, `mfa.set_enforcement`, `mfa.reset_mfa`, `mfa.unlock`, `mfa.set_user_status`, `mfa.delete_user`, `mfa.purge`, `mfa.audit_events` |
//! | keys and audit log | `mfa.check_keys`, `mfa.checkpoint_audit`, `mfa.archive_audit`, `mfa.verify_audit` |
//!
//! Their fields:
//!
//! | field | value |
//! |---|---|
//! | `user_id` | the user the step acts for (a UUID), recorded as soon as the step knows it: from the request, the ticket, the session or the account found; empty when the step never learns it (an unknown identifier, a malformed ticket) |
//! | `method` | the factor kind where the step has one (`totp`, `email`, `sms`, `backup_codes`, `webauthn`, `push`): the method a code answers, the kind being enrolled, removed or renamed |
//! | `outcome` | at the end: `success`; `refused` when the step said no (wrong code, locked account, rate limit, bad ticket…), whose counted failure and audit event are kept; `error` when it broke (store, crypto, configuration, delivery) and its writes were rolled back |
//! | `code` | with `refused` and `error`: the error's stable [`MfaError::code`] (`invalid_code`, `rate_limited`, `unavailable`, `internal`…); for `mfa.archive_audit`: `store`, `io`, `tampered` or `future` |
//! | `attempts` | how many times the step's unit of work ran: `1`, more when contention (a deadlock, a serialization failure) made it run again; the highest of its units for a step of several; empty for a step without one (reads, `mfa.purge`) |
//! | `store_calls` | the calls the step made to its store, as the store counts them: for the SQL stores every round trip (statements, `BEGIN`, `COMMIT`, `ROLLBACK`, as `mfa_store_sql::stats` counts them), for the memory store every operation (each repository call, and the begin and end of a unit); `0` for a store that does not count (see [`count_store_call`]) |
//!
//! A step that runs another one (`mfa.settings` reads the factors with
//! `mfa.factors`) shows it as a child span; the child's `store_calls` and
//! `attempts` count in the parent's too.
//!
//! A step whose future is dropped before it ends (the client went away)
//! closes its span without an `outcome`.
//!
//! # Store spans
//!
//! `mfa-store-memory` and the SQL stores (`mfa-store-sqlx`,
//! `mfa-store-diesel`, through `mfa-store-sql`) open a span at level
//! `DEBUG` around every repository operation, and around the begin,
//! commit and rollback of a unit of work, named `mfa.store`, with the
//! target of the store crate (`mfa_store_memory`, `mfa_store_sql`):
//!
//! | field | value |
//! |---|---|
//! | `backend` | `memory`, `postgres`, `mysql` or `sqlite` |
//! | `op` | the repository method (`find_ticket`, `record_failure`, `rotate_refresh_token`…), or `begin`, `commit`, `rollback` |
//!
//! Inside a step, a store span is the child of the step's span.
//!
//! # Never recorded
//!
//! No span records an argument of a step or of a store operation: no
//! password, code, token, ticket, secret, key, hash, email address or
//! phone number, and no SQL statement or its parameters. Only the fields
//! above are recorded, and a user appears only as their opaque id.
//!
//! # Turning them on
//!
//! With `tracing-subscriber`'s `EnvFilter`, steps are `mfa_core=info` and
//! store operations `mfa_store_memory=debug` or `mfa_store_sql=debug`:
//!
//! ```text
//! RUST_LOG=info,mfa_core=info,mfa_store_sql=debug
//! ```
//!
//! A span with no event inside prints nothing with the `fmt` layer unless
//! it is asked to report spans as they close
//! (`fmt().with_span_events(FmtSpan::CLOSE)`), which adds each span's
//! busy and idle time; an OpenTelemetry layer exports them as they are.

use crate::error::MfaError;
use crate::model::{FactorKind, UserId};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use tracing::Span;

/// Counts one call to the store for the engine step being run on this
/// thread; outside a step it does nothing. The library's stores call it
/// (the SQL stores once per database round trip, the memory store once
/// per operation); a store of one's own may call it too, for its calls to
/// show in the steps' `store_calls` (see the [module docs](self)).
pub fn count_store_call() {
    with_tally(|t| t.store_calls = t.store_calls.saturating_add(1));
}

/// What a step counted and noted so far.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// The id of the step's span; `None` when no subscriber wants it.
    span: Option<u64>,
    attempts: u32,
    store_calls: u64,
    user_noted: bool,
    method_noted: bool,
}

thread_local! {
    /// The tally of the step being polled on this thread. A step's future
    /// puts its tally here for the length of each poll and takes it back
    /// after (see [`observe`]), so the counting follows the step from
    /// thread to thread on a multi-threaded runtime.
    static CURRENT: Cell<Option<Tally>> = const { Cell::new(None) };
}

/// Changes the tally of the step being polled, if any.
fn with_tally<R>(change: impl FnOnce(&mut Tally) -> R) -> Option<R> {
    CURRENT.with(|current| {
        let mut tally = current.get()?;
        let out = change(&mut tally);
        current.set(Some(tally));
        Some(out)
    })
}

/// A step's tally in place for one poll: put back as it was on drop (a
/// panic too), with what the poll counted kept in the step.
struct Polling<'a> {
    tally: &'a mut Tally,
    outer: Option<Tally>,
}

impl<'a> Polling<'a> {
    fn begin(tally: &'a mut Tally) -> Self {
        let outer = CURRENT.with(|current| current.replace(Some(*tally)));
        Self { tally, outer }
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        if let Some(counted) = CURRENT.with(|current| current.replace(self.outer)) {
            *self.tally = counted;
        }
    }
}

/// How a step ended, as the span records it.
pub(crate) trait Outcome {
    /// `outcome` and `code` (see the module docs).
    fn outcome(&self) -> (&'static str, Option<&'static str>);
}

impl<T> Outcome for Result<T, MfaError> {
    fn outcome(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Ok(_) => ("success", None),
            Err(e) if crate::flow::unit::is_refusal(e) => ("refused", Some(e.code())),
            Err(e) => ("error", Some(e.code())),
        }
    }
}

impl<T> Outcome for Result<T, crate::audit::archive::ArchiveError> {
    fn outcome(&self) -> (&'static str, Option<&'static str>) {
        use crate::audit::archive::ArchiveError;
        match self {
            Ok(_) => ("success", None),
            Err(e) => (
                "error",
                Some(match e {
                    ArchiveError::Store(_) => "store",
                    ArchiveError::Io(_) => "io",
                    ArchiveError::Tampered(_) => "tampered",
                    ArchiveError::Future(_) => "future",
                }),
            ),
        }
    }
}

/// Runs `step` inside `span` (a span of [`step_span!`]) and records, when
/// it ends, its outcome and what it counted. `user_noted` and
/// `method_noted` say whether the span was opened with those fields.
pub(crate) async fn observe<R: Outcome>(
    span: Span,
    user_noted: bool,
    method_noted: bool,
    step: impl Future<Output = R>,
) -> R {
    let mut tally = Tally {
        span: span.id().map(|id| id.into_u64()),
        user_noted,
        method_noted,
        ..Tally::default()
    };
    let mut step = pin!(step);
    let result = std::future::poll_fn(|cx| {
        let _entered = span.enter();
        let _polling = Polling::begin(&mut tally);
        step.as_mut().poll(cx)
    })
    .await;
    let (outcome, code) = result.outcome();
    span.record("outcome", outcome);
    if let Some(code) = code {
        span.record("code", code);
    }
    if tally.attempts > 0 {
        span.record("attempts", tally.attempts);
    }
    span.record("store_calls", tally.store_calls);
    // A step run by another step counts in the outer one too.
    with_tally(|outer| {
        outer.store_calls = outer.store_calls.saturating_add(tally.store_calls);
        outer.attempts = outer.attempts.max(tally.attempts);
    });
    result
}

/// Notes that the step's unit of work runs for the `attempt`-th time.
pub(crate) fn unit_attempt(attempt: u32) {
    with_tally(|t| t.attempts = t.attempts.max(attempt));
}

/// Records the step's `user_id`, the first time the step learns it.
pub(crate) fn note_user(user: UserId) {
    let first = with_tally(|t| (!std::mem::replace(&mut t.user_noted, true), t.span));
    if let Some((true, Some(step))) = first {
        record_on_step(step, "user_id", tracing::field::display(user));
    }
}

/// Records the step's `method`, the first time the step learns it.
pub(crate) fn note_method(kind: FactorKind) {
    let first = with_tally(|t| (!std::mem::replace(&mut t.method_noted, true), t.span));
    if let Some((true, Some(step))) = first {
        record_on_step(step, "method", kind.as_str());
    }
}

/// Records `field` on the step's span `step`, which the step's poll
/// entered: the current span, unless a span of the host's is current
/// because the step's was not wanted (a host's `method` or `user_id` is
/// never written over).
fn record_on_step(step: u64, field: &str, value: impl tracing::Value) {
    let current = Span::current();
    if current.id().is_some_and(|id| id.into_u64() == step) {
        current.record(field, value);
    }
}

/// The span of step `$name`, with `user_id` and `method` when known
/// (`Option<UserId>`, `Option<FactorKind>`) and the other fields to be
/// recorded.
macro_rules! step_span {
    ($name:literal, $user:expr, $method:expr) => {
        ::tracing::info_span!(
            $name,
            user_id = $user.map(::tracing::field::display),
            method = $method.map($crate::model::FactorKind::as_str),
            outcome = ::tracing::field::Empty,
            code = ::tracing::field::Empty,
            attempts = ::tracing::field::Empty,
            store_calls = ::tracing::field::Empty,
        )
    };
}

/// Runs `$body`, an `async` block giving the step's result, as the step
/// `$name` (`mfa.<method>`, see the module docs) and awaits it. The user
/// and the method, when the step knows them from its arguments, come
/// first: `step!("mfa.unlock", user = user, async { … })`,
/// `step!("mfa.verify", method = request.method, async { … })`.
macro_rules! step {
    ($name:literal, user = $user:expr, method = $method:expr, $body:expr) => {
        $crate::observability::step!(@run $name, Some($user), Some($method), $body)
    };
    ($name:literal, user = $user:expr, $body:expr) => {
        $crate::observability::step!(@run $name, Some($user), None, $body)
    };
    ($name:literal, method = $method:expr, $body:expr) => {
        $crate::observability::step!(@run $name, None, Some($method), $body)
    };
    ($name:literal, $body:expr) => {
        $crate::observability::step!(@run $name, None, None, $body)
    };
    (@run $name:literal, $user:expr, $method:expr, $body:expr) => {{
        let user: Option<$crate::model::UserId> = $user;
        let method: Option<$crate::model::FactorKind> = $method;
        $crate::observability::observe(
            $crate::observability::step_span!($name, user, method),
            user.is_some(),
            method.is_some(),
            $body,
        )
        .await
    }};
}

pub(crate) use {step, step_span};

#[cfg(test)]
mod tests {
    use super::*;

    fn tally() -> Option<Tally> {
        CURRENT.with(Cell::get)
    }

    #[test]
    fn counting_outside_a_step_does_nothing() {
        count_store_call();
        unit_attempt(3);
        assert!(tally().is_none());
    }

    #[test]
    fn a_poll_puts_the_outer_tally_back() {
        let mut outer = Tally::default();
        {
            let _outer = Polling::begin(&mut outer);
            count_store_call();
            let mut inner = Tally::default();
            {
                let _inner = Polling::begin(&mut inner);
                count_store_call();
                count_store_call();
                unit_attempt(2);
            }
            assert_eq!(inner.store_calls, 2);
            assert_eq!(inner.attempts, 2);
            count_store_call();
        }
        assert_eq!(outer.store_calls, 2, "the inner calls stay the inner's");
        assert_eq!(outer.attempts, 0);
        assert!(tally().is_none());
    }
}
