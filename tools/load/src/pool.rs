//! The pool of signed-up users and the rule that hands them out.
//!
//! The engine accepts each TOTP time step at most once per factor (replay
//! protection), and counts sign-ins per identifier (`login_rate`: 20 per
//! 15 minutes by default). A user is therefore handed out again only once
//! the wall clock has reached the step after the one it last spent, and
//! only while it has sign-ins left in the 15-minute window. A replayed code
//! or a per-identifier `rate_limited` in a report means this rule failed:
//! a bug here, not a result.

use crate::Error;
use crate::api::{Api, ClientIdentity, Reply};
use mfa_core::crypto::{Totp, TotpSecret};
use mfa_core::model::TotpParams;
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The engine's default sign-in window (`policy.login_rate.window`).
const LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Sign-ins per user per window that the pool allows: the engine's default
/// of 20, less the one spent at sign-up and one of margin.
const LOGINS_PER_WINDOW: usize = 18;

/// The current Unix time in milliseconds.
#[must_use]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A signed-up user with a confirmed authenticator app.
pub struct PoolUser {
    /// `user_id` from sign-up.
    pub user_id: String,
    /// Login name.
    pub identifier: String,
    /// Password.
    pub password: String,
    /// The authenticator app (mfa-core's TOTP; never reimplemented here).
    totp: Totp,
    /// Address and device the user always comes from.
    pub who: ClientIdentity,
}

impl PoolUser {
    /// The code for the current time and the step it belongs to.
    ///
    /// # Errors
    /// A clock before 1970.
    pub fn current_code(&self) -> Result<(String, i64), Error> {
        let now = chrono::Utc::now().timestamp();
        let code = self.totp.generate_at(now).map_err(Error::msg)?;
        let step = self.totp.step_at(now).map_err(Error::msg)?;
        Ok((
            code.expose().to_owned(),
            i64::try_from(step).map_err(Error::msg)?,
        ))
    }

    /// A code the engine must refuse, and the current step: the current
    /// code plus one (wrapping), moved on until it matches none of the
    /// codes of the two steps either side of now (the engine's skew window
    /// is at most that), so it can never be accepted by chance.
    ///
    /// # Errors
    /// A clock before 1970.
    pub fn wrong_code(&self) -> Result<(String, i64), Error> {
        let now = chrono::Utc::now().timestamp();
        let period = i64::from(self.totp.params().period);
        let valid = (-2..=2)
            .map(|k| {
                self.totp
                    .generate_at(now + k * period)
                    .map(|c| c.expose().to_owned())
                    .map_err(Error::msg)
            })
            .collect::<Result<Vec<String>, Error>>()?;
        let digits = usize::from(self.totp.params().digits);
        let modulus = 10u64.pow(u32::from(self.totp.params().digits));
        let current: u64 = valid[2].parse().map_err(Error::msg)?;
        let wrong = (1..=5)
            .map(|k| format!("{:0digits$}", (current + k) % modulus))
            .find(|c| !valid.contains(c))
            .ok_or_else(|| Error::msg("no wrong code among six candidates"))?;
        let step = self.totp.step_at(now).map_err(Error::msg)?;
        Ok((wrong, i64::try_from(step).map_err(Error::msg)?))
    }

    fn period_ms(&self) -> i64 {
        i64::from(self.totp.params().period) * 1000
    }
}

#[derive(Default)]
struct Usage {
    /// The last TOTP step a code was generated for (spent or maybe spent).
    last_step: Option<i64>,
    /// Sign-in attempts inside the window, oldest first (Unix ms).
    logins: VecDeque<i64>,
}

struct State {
    /// Users not in use, by the time they may be used again (Unix ms).
    ready: BinaryHeap<Reverse<(i64, usize)>>,
    usage: Vec<Usage>,
}

/// Users and the schedule that keeps them replay-free.
pub struct Pool {
    users: Vec<PoolUser>,
    state: Mutex<State>,
}

/// What a flow did with a user, for the schedule.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// When the login request was sent (Unix ms), if it was.
    pub login_at_ms: Option<i64>,
    /// The TOTP step of the code sent, if one was.
    pub step: Option<i64>,
}

impl Pool {
    /// The users; `usage` from sign-up (one login, one step each).
    fn new(users: Vec<(PoolUser, Spent)>) -> Self {
        let mut pool = Self {
            users: Vec::with_capacity(users.len()),
            state: Mutex::new(State {
                ready: BinaryHeap::new(),
                usage: Vec::new(),
            }),
        };
        for (user, spent) in users {
            pool.users.push(user);
            let index = pool.users.len() - 1;
            let mut state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            state.usage.push(Usage::default());
            drop(state);
            pool.release(index, spent);
        }
        pool
    }

    /// Number of users.
    #[must_use]
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the pool has no users.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// User `index`.
    #[must_use]
    pub fn user(&self, index: usize) -> &PoolUser {
        &self.users[index]
    }

    /// Takes the user that has been ready longest, waiting for one if none
    /// is ready; `None` when `deadline` passes first. Also returns how long
    /// it waited (time the pool, not the service, was the bottleneck).
    pub async fn acquire(&self, deadline: Instant) -> (Option<usize>, Duration) {
        let started = Instant::now();
        loop {
            let wait_ms = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = now_ms();
                match state.ready.peek().copied() {
                    Some(Reverse((at, index))) if at <= now => {
                        state.ready.pop();
                        return (Some(index), started.elapsed());
                    }
                    Some(Reverse((at, _))) => (at - now).clamp(1, 250),
                    None => 50,
                }
            };
            let wake = Instant::now() + Duration::from_millis(wait_ms.unsigned_abs());
            if wake >= deadline {
                tokio::time::sleep_until(deadline.into()).await;
                return (None, started.elapsed());
            }
            tokio::time::sleep_until(wake.into()).await;
        }
    }

    /// Takes user `index` itself, waiting until it is ready (for a
    /// measurement that needs one particular user, outside the levels).
    pub async fn acquire_index(&self, index: usize) {
        loop {
            let wait_ms = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = now_ms();
                let at = state
                    .ready
                    .iter()
                    .find(|Reverse((_, i))| *i == index)
                    .map(|Reverse((at, _))| *at);
                match at {
                    Some(at) if at <= now => {
                        state.ready.retain(|Reverse((_, i))| *i != index);
                        return;
                    }
                    Some(at) => (at - now).clamp(1, 250),
                    None => 50,
                }
            };
            tokio::time::sleep(Duration::from_millis(wait_ms.unsigned_abs())).await;
        }
    }

    /// Waits until every user is ready (at most one TOTP period after the
    /// last sign-up), so a run starts with the whole pool.
    pub async fn wait_until_all_ready(&self) {
        let last = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.ready.iter().map(|Reverse((at, _))| *at).max()
        };
        if let Some(at) = last {
            let wait = (at - now_ms()).max(0).unsigned_abs();
            if wait > 0 {
                eprintln!(
                    "pool: waiting {:.1} s for the next TOTP step of the last sign-ups",
                    wait as f64 / 1000.0
                );
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
    }

    /// Gives user `index` back after a flow that spent `spent`.
    pub fn release(&self, index: usize, spent: Spent) {
        let period = self.users[index].period_ms();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let usage = &mut state.usage[index];
        if let Some(step) = spent.step {
            usage.last_step = Some(usage.last_step.map_or(step, |s| s.max(step)));
        }
        if let Some(at) = spent.login_at_ms {
            usage.logins.push_back(at);
        }
        let now = now_ms();
        while usage
            .logins
            .front()
            .is_some_and(|t| *t + LOGIN_WINDOW_MS < now)
        {
            usage.logins.pop_front();
        }
        // The next code must belong to a later step than any sent before.
        let step_ready = usage.last_step.map_or(0, |s| (s + 1) * period);
        let window_ready = if usage.logins.len() >= LOGINS_PER_WINDOW {
            usage.logins[usage.logins.len() - LOGINS_PER_WINDOW] + LOGIN_WINDOW_MS + 1000
        } else {
            0
        };
        let ready = step_ready.max(window_ready);
        state.ready.push(Reverse((ready, index)));
    }
}

/// How many users to sign up.
#[derive(Debug, Clone, Copy)]
pub enum PoolSize {
    /// Exactly this many (`--users`).
    Fixed(usize),
    /// Enough for the run: estimated from the sign-up rate of a first batch.
    Auto {
        /// Total measured time of the run (all levels).
        run: Duration,
        /// Highest concurrency of the run.
        max_concurrency: usize,
    },
}

/// Users signed up per sign-up worker batch before the estimate.
const PROBE_USERS: usize = 48;
/// Concurrent sign-ups.
const SIGNUP_CONCURRENCY: usize = 8;
/// Upper bound of an automatic pool.
const MAX_AUTO_USERS: usize = 20_000;

/// Signs up the pool through the API. `tag` makes identifiers unique to
/// the run. Prints progress to stderr. Call [`Pool::wait_until_all_ready`]
/// before measuring.
///
/// # Errors
/// A sign-up step failing (with the step and error code).
pub async fn build(api: &Api, tag: &str, size: PoolSize) -> Result<Pool, Error> {
    let started = Instant::now();
    let first = match size {
        PoolSize::Fixed(n) => n,
        PoolSize::Auto { .. } => PROBE_USERS,
    };
    let mut users = sign_up_range(api, tag, 0, first).await?;
    if let PoolSize::Auto {
        run,
        max_concurrency,
    } = size
    {
        let rate = users.len() as f64 / started.elapsed().as_secs_f64();
        let target = auto_size(rate, run, max_concurrency);
        eprintln!(
            "pool: {rate:.1} sign-ups/s; estimated need {target} users for {:.0} s of load",
            run.as_secs_f64()
        );
        if target > users.len() {
            users.extend(sign_up_range(api, tag, users.len(), target).await?);
        }
    }
    eprintln!(
        "pool: {} users signed up in {:.1} s",
        users.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Pool::new(users))
}

/// Users needed: a flow costs one argon2 verification, a sign-up two (hash
/// and first login) plus enrolment, so flows run at most ~2× the sign-up
/// rate (2.5× for margin); each user serves at most one flow per 30-s step,
/// and never more than the run is long.
fn auto_size(signup_rate: f64, run: Duration, max_concurrency: usize) -> usize {
    let flow_rate = 2.5 * signup_rate;
    let horizon = run.as_secs_f64().min(31.0);
    let need = (flow_rate * horizon * 1.1).ceil() as usize + 2 * max_concurrency;
    need.clamp(PROBE_USERS, MAX_AUTO_USERS)
}

async fn sign_up_range(
    api: &Api,
    tag: &str,
    from: usize,
    to: usize,
) -> Result<Vec<(PoolUser, Spent)>, Error> {
    let next = Arc::new(Mutex::new(from));
    let mut tasks = Vec::new();
    for _ in 0..SIGNUP_CONCURRENCY.min(to.saturating_sub(from)).max(1) {
        let api = api.clone();
        let tag = tag.to_owned();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let index = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    if *n >= to {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                done.push((index, sign_up(&api, &tag, index).await?));
                if index > 0 && index % 500 == 0 {
                    eprintln!("pool: {index} users…");
                }
            }
            Ok::<_, Error>(done)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(Error::msg)??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, u)| u).collect())
}

/// The client address of user `index`: one per user in 198.18.0.0/15 (the
/// range reserved for benchmarks), so 131 070 users at most.
fn address_of(index: usize) -> String {
    let n = index + 1;
    format!(
        "198.{}.{}.{}",
        18 + (n >> 16) % 2,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

fn ok_or_step(step: &str, reply: Reply) -> Result<serde_json::Value, Error> {
    match reply {
        Reply::Ok(v) => Ok(v),
        other => Err(Error::msg(format!(
            "sign-up step {step} failed: {}",
            other.error_label().unwrap_or_default()
        ))),
    }
}

fn field(v: &serde_json::Value, name: &str) -> Result<String, Error> {
    v[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::msg(format!("no {name} in {v}")))
}

/// Signs up user `index`: sign-up, login, TOTP enrolment and confirmation.
async fn sign_up(api: &Api, tag: &str, index: usize) -> Result<(PoolUser, Spent), Error> {
    let identifier = format!("load-{tag}-{index}@load.invalid");
    let password = format!("load-{}-password", uuid::Uuid::new_v4().simple());
    let who = ClientIdentity {
        ip: address_of(index),
        fingerprint: format!("load-device-{tag}-{index}"),
    };
    let body = json!({ "identifier": identifier, "password": password });
    let (reply, _) = api.post("/api/signup", &who, None, &body).await;
    let user_id = field(&ok_or_step("signup", reply)?, "user_id")?;
    let login_at_ms = now_ms();
    let (reply, _) = api.post("/api/login", &who, None, &body).await;
    let access = field(&ok_or_step("login", reply)?, "access_token")?;
    let (reply, _) = api
        .post(
            "/api/mfa/totp/enroll",
            &who,
            Some(&access),
            &json!({ "label": "load" }),
        )
        .await;
    let enrolled = ok_or_step("enroll", reply)?;
    let secret = field(&enrolled, "secret")?;
    let totp = Totp::new(
        TotpSecret::from_base32(&secret).map_err(Error::msg)?,
        TotpParams::default(),
        "mfa-load",
        "user",
    )
    .map_err(Error::msg)?;
    let user = PoolUser {
        user_id,
        identifier,
        password,
        totp,
        who,
    };
    let (code, step) = user.current_code()?;
    let (reply, _) = api
        .post(
            "/api/mfa/totp/confirm",
            &user.who,
            Some(&access),
            &json!({ "factor_id": field(&enrolled, "factor_id")?, "code": code }),
        )
        .await;
    ok_or_step("confirm", reply)?;
    Ok((
        user,
        Spent {
            login_at_ms: Some(login_at_ms),
            step: Some(step),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_code_is_none_of_the_codes_around_now() {
        for n in 0..20u8 {
            let user = PoolUser {
                user_id: String::new(),
                identifier: String::new(),
                password: String::new(),
                totp: Totp::new(
                    TotpSecret::from_bytes(vec![n; 20]).unwrap(),
                    TotpParams::default(),
                    "mfa-load",
                    "user",
                )
                .unwrap(),
                who: ClientIdentity {
                    ip: address_of(0),
                    fingerprint: String::new(),
                },
            };
            let (wrong, step) = user.wrong_code().unwrap();
            let (right, now_step) = user.current_code().unwrap();
            assert_eq!(wrong.len(), right.len());
            assert!(wrong.bytes().all(|b| b.is_ascii_digit()));
            assert_ne!(wrong, right);
            assert!((now_step - step).abs() <= 1);
            let now = chrono::Utc::now().timestamp();
            for k in -1..=1 {
                let near = user.totp.generate_at(now + k * 30).unwrap();
                assert_ne!(wrong, near.expose());
            }
        }
    }

    #[test]
    fn addresses_are_distinct_per_user() {
        let all: std::collections::HashSet<String> = (0..70_000).map(address_of).collect();
        assert_eq!(all.len(), 70_000);
        assert_eq!(address_of(0), "198.18.0.1");
    }

    #[test]
    fn the_auto_pool_covers_thirty_seconds_of_the_estimated_rate() {
        // 20 sign-ups/s → 50 flows/s → 50 × 31 × 1.1 + 2 × 64.
        assert_eq!(auto_size(20.0, Duration::from_secs(60), 64), 1834);
        // A short run needs only its own length.
        assert_eq!(auto_size(20.0, Duration::from_secs(10), 1), 552);
    }
}
