//! One sign-in flow (login → verify with the current TOTP code → refresh,
//! or, for a guesser, login → verify with a wrong code) and a level of
//! concurrent virtual users running flows for a fixed time.

use crate::Error;
use crate::api::{Api, Reply, token_subject};
use crate::pool::{Pool, PoolUser, Spent, now_ms};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A step of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `POST /api/login`.
    Login,
    /// `POST /api/mfa/verify` with the right code.
    Verify,
    /// `POST /api/mfa/verify` with a wrong code (a guesser's flow): the
    /// expected answer is `invalid_code`.
    WrongCode,
    /// `POST /api/token/refresh`.
    Refresh,
}

impl Step {
    /// Lower-case name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Verify => "verify",
            Self::WrongCode => "wrong_code",
            Self::Refresh => "refresh",
        }
    }
}

/// One request of a flow.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Which.
    pub step: Step,
    /// When it was sent.
    pub sent: Instant,
    /// Time to the complete answer.
    pub latency: Duration,
    /// `None` for a success (for [`Step::WrongCode`]: the answer
    /// `invalid_code`); the error label otherwise (see
    /// [`Reply::error_label`]; `unexpected:…` for a 2xx that is not what
    /// the flow needs).
    pub error: Option<String>,
    /// Whether the failure was untyped.
    pub untyped: bool,
}

/// A session a successful verify created, as the service reported it.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedSession {
    /// The user (sign-up `user_id`, equal to the token's `sub`).
    pub user_id: String,
    /// `session_id` of the answer (equal to the token's `sid`).
    pub session_id: String,
}

/// Which flow a pool user runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// Login → verify with the current code → refresh.
    SignIn,
    /// Login → verify with a wrong code, which the engine must refuse and
    /// count as a failure. A guesser never sends the right code, so its
    /// failure counter holds every failure of the run (see
    /// [`crate::checks::FailureSteps`]).
    Guess,
}

/// A finished flow.
#[derive(Debug, Clone)]
pub struct FlowResult {
    /// Pool index of the user.
    pub user: usize,
    /// The user's id (sign-up `user_id`).
    pub user_id: String,
    /// Which flow it was.
    pub kind: FlowKind,
    /// When the login was sent.
    pub started: Instant,
    /// When the last step answered.
    pub finished: Instant,
    /// The steps attempted, in order (a failed step ends the flow).
    pub steps: Vec<StepResult>,
    /// Set when verify succeeded.
    pub verified: Option<VerifiedSession>,
    /// Whether refresh succeeded (the whole sign-in flow succeeded).
    pub refreshed: bool,
    /// Whether the wrong code of a guess was answered `invalid_code` (the
    /// whole guess flow succeeded; the failure was counted and committed).
    pub refused_wrong_code: bool,
}

impl FlowResult {
    /// Whether every step succeeded.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.refreshed || self.refused_wrong_code
    }
}

fn record(
    result: &mut FlowResult,
    step: Step,
    sent: Instant,
    latency: Duration,
    (error, untyped): (Option<String>, bool),
) {
    result.steps.push(StepResult {
        step,
        sent,
        latency,
        error,
        untyped,
    });
    result.finished = Instant::now();
}

fn unexpected(what: &str) -> (Option<String>, bool) {
    (Some(format!("unexpected:{what}")), false)
}

fn outcome(reply: &Reply) -> (Option<String>, bool) {
    (reply.error_label(), matches!(reply, Reply::Untyped(_)))
}

/// Runs one flow of `kind` for pool user `index`; returns the result and
/// what it spent (for the pool's schedule).
pub async fn run_flow(api: &Api, pool: &Pool, index: usize, kind: FlowKind) -> (FlowResult, Spent) {
    let user = pool.user(index);
    let started = Instant::now();
    let mut spent = Spent::default();
    let mut result = FlowResult {
        user: index,
        user_id: user.user_id.clone(),
        kind,
        started,
        finished: started,
        steps: Vec::new(),
        verified: None,
        refreshed: false,
        refused_wrong_code: false,
    };
    // Login.
    spent.login_at_ms = Some(now_ms());
    let sent = Instant::now();
    let (reply, latency) = api
        .post(
            "/api/login",
            &user.who,
            None,
            &json!({ "identifier": user.identifier, "password": user.password }),
        )
        .await;
    let ticket = match &reply {
        Reply::Ok(v) if v["mfa_required"] == true => v["ticket"].as_str().map(str::to_owned),
        _ => None,
    };
    let ticket = match (ticket, &reply) {
        (Some(t), _) => {
            record(&mut result, Step::Login, sent, latency, (None, false));
            t
        }
        (None, Reply::Ok(_)) => {
            record(
                &mut result,
                Step::Login,
                sent,
                latency,
                unexpected("no_mfa"),
            );
            return (result, spent);
        }
        (None, _) => {
            record(&mut result, Step::Login, sent, latency, outcome(&reply));
            return (result, spent);
        }
    };

    if kind == FlowKind::Guess {
        guess(api, user, &ticket, &mut result, &mut spent).await;
        return (result, spent);
    }

    // Verify with the code of the current step.
    let Some((sent, reply, latency)) = post_verify(
        api,
        user,
        &ticket,
        user.current_code(),
        Step::Verify,
        &mut result,
        &mut spent,
    )
    .await
    else {
        return (result, spent);
    };
    let tokens = match &reply {
        Reply::Ok(v) => match (
            v["session_id"].as_str(),
            v["access_token"].as_str(),
            v["refresh_token"].as_str(),
        ) {
            (Some(sid), Some(access), Some(refresh)) => {
                Some((sid.to_owned(), access.to_owned(), refresh.to_owned()))
            }
            _ => None,
        },
        _ => None,
    };
    let Some((session_id, access, refresh)) = tokens else {
        let o = if matches!(reply, Reply::Ok(_)) {
            unexpected("verify_body")
        } else {
            outcome(&reply)
        };
        record(&mut result, Step::Verify, sent, latency, o);
        return (result, spent);
    };
    // The token must name the user and the session the answer names.
    let claims_match =
        token_subject(&access).is_some_and(|(sub, sid)| sub == user.user_id && sid == session_id);
    result.verified = Some(VerifiedSession {
        user_id: user.user_id.clone(),
        session_id: session_id.clone(),
    });
    if !claims_match {
        record(
            &mut result,
            Step::Verify,
            sent,
            latency,
            unexpected("claims"),
        );
        return (result, spent);
    }
    record(&mut result, Step::Verify, sent, latency, (None, false));

    // Refresh.
    let sent = Instant::now();
    let (reply, latency) = api
        .post(
            "/api/token/refresh",
            &user.who,
            None,
            &json!({ "refresh_token": refresh }),
        )
        .await;
    let o = match &reply {
        Reply::Ok(v)
            if v["session_id"].as_str() == Some(session_id.as_str())
                && v["refresh_token"].as_str().is_some_and(|r| r != refresh) =>
        {
            result.refreshed = true;
            (None, false)
        }
        Reply::Ok(_) => unexpected("refresh_body"),
        other => outcome(other),
    };
    record(&mut result, Step::Refresh, sent, latency, o);
    (result, spent)
}

/// Posts a TOTP verify for `ticket` with `code` (and its step, which
/// counts as spent from now on). Without a code (the clock failed) it
/// records that as `step` and returns `None`; else when the request was
/// sent, the reply and its latency.
async fn post_verify(
    api: &Api,
    user: &PoolUser,
    ticket: &str,
    code: Result<(String, i64), Error>,
    step: Step,
    result: &mut FlowResult,
    spent: &mut Spent,
) -> Option<(Instant, Reply, Duration)> {
    let Ok((code, totp_step)) = code else {
        record(
            result,
            step,
            Instant::now(),
            Duration::ZERO,
            unexpected("clock"),
        );
        return None;
    };
    spent.step = Some(totp_step);
    let sent = Instant::now();
    let (reply, latency) = api
        .post(
            "/api/mfa/verify",
            &user.who,
            None,
            &json!({ "ticket": ticket, "method": "totp", "code": code }),
        )
        .await;
    Some((sent, reply, latency))
}

/// A guess: verify with a wrong code, expecting `invalid_code`. The step
/// of the current code counts as spent, so a guesser is handed out as
/// often as any other user (once per TOTP step), not in a tight loop.
async fn guess(
    api: &Api,
    user: &PoolUser,
    ticket: &str,
    result: &mut FlowResult,
    spent: &mut Spent,
) {
    let Some((sent, reply, latency)) = post_verify(
        api,
        user,
        ticket,
        user.wrong_code(),
        Step::WrongCode,
        result,
        spent,
    )
    .await
    else {
        return;
    };
    let o = match &reply {
        Reply::Typed { code, .. } if code == "invalid_code" => {
            result.refused_wrong_code = true;
            (None, false)
        }
        // A wrong code accepted would be a security bug of the engine.
        Reply::Ok(_) => unexpected("wrong_code_accepted"),
        other => outcome(other),
    };
    record(result, Step::WrongCode, sent, latency, o);
}

/// What a level of virtual users produced.
#[derive(Debug, Default)]
pub struct LevelRun {
    /// Every flow, in completion order.
    pub flows: Vec<FlowResult>,
    /// From the start until the last virtual user stopped.
    pub elapsed: Duration,
    /// Total time virtual users waited for a ready user.
    pub pool_wait: Duration,
}

/// How virtual users behave.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Virtual users start evenly spread over this time (zero: all at
    /// once), as clients arrive in real traffic rather than in one burst.
    pub ramp_up: Duration,
    /// Pause after a failed flow (a client backing off, not a retry
    /// storm).
    pub retry_pause: Duration,
    /// Share of the pool's users (0 to 1, spread evenly over the pool)
    /// that are guessers ([`FlowKind::Guess`]); the others sign in.
    pub guessers: f64,
}

impl Pacing {
    /// The flow pool user `index` runs: user `i` is a guesser when
    /// `⌊(i + 1)·share⌋ > ⌊i·share⌋`, which spreads the guessers evenly.
    #[must_use]
    pub fn kind_of(&self, index: usize) -> FlowKind {
        let share = self.guessers.clamp(0.0, 1.0);
        if ((index + 1) as f64 * share).floor() > (index as f64 * share).floor() {
            FlowKind::Guess
        } else {
            FlowKind::SignIn
        }
    }
}

/// Runs `concurrency` virtual users for `duration`: each takes a ready
/// user, runs a flow, gives it back, and starts again; flows in flight at
/// the deadline finish.
pub async fn run_level(
    api: &Api,
    pool: &Arc<Pool>,
    concurrency: usize,
    duration: Duration,
    pacing: Pacing,
) -> LevelRun {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for n in 0..concurrency {
        let api = api.clone();
        let pool = pool.clone();
        let start = started + pacing.ramp_up.mul_f64(n as f64 / concurrency as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut flows = Vec::new();
            let mut waited = Duration::ZERO;
            while Instant::now() < deadline {
                let (index, wait) = pool.acquire(deadline).await;
                waited += wait;
                let Some(index) = index else {
                    break;
                };
                let (flow, spent) = run_flow(&api, &pool, index, pacing.kind_of(index)).await;
                pool.release(index, spent);
                let ok = flow.ok();
                flows.push(flow);
                if !ok {
                    tokio::time::sleep(pacing.retry_pause).await;
                }
            }
            (flows, waited)
        }));
    }
    let mut run = LevelRun::default();
    for task in tasks {
        if let Ok((flows, waited)) = task.await {
            run.flows.extend(flows);
            run.pool_wait += waited;
        }
    }
    run.elapsed = started.elapsed();
    run.flows.sort_by_key(|f| f.finished);
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(guessers: f64) -> Pacing {
        Pacing {
            ramp_up: Duration::ZERO,
            retry_pause: Duration::ZERO,
            guessers,
        }
    }

    #[test]
    fn guessers_are_spread_evenly_over_the_pool() {
        let count = |share: f64| {
            (0..1000)
                .filter(|i| pacing(share).kind_of(*i) == FlowKind::Guess)
                .count()
        };
        assert_eq!(count(0.0), 0);
        assert_eq!(count(0.25), 250);
        assert_eq!(count(1.0), 1000);
        let quarter = pacing(0.25);
        let first: Vec<usize> = (0..12)
            .filter(|i| quarter.kind_of(*i) == FlowKind::Guess)
            .collect();
        assert_eq!(first, vec![3, 7, 11]);
    }
}
