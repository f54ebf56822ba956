//! Users (accounts), their failure counters and password history.

use super::UserId;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// Disabled by an administrator; every sign-in is refused.
    Disabled,
}

storage_names! {
    UserStatus {
        Active => "active",
        Disabled => "disabled",
    }
}

/// Which failure counter an attempt counts against. Password and MFA
/// failures are counted and locked separately, so a password-guessing attack
/// cannot be used to lock the second factor and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockScope {
    /// Failed password checks.
    Password,
    /// Failed second-factor checks (TOTP, email, SMS, backup codes together).
    Mfa,
}

/// The consecutive-failure counter and lock of one [`LockScope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailureCounter {
    /// Consecutive failures since the last success or reset.
    pub failures: u32,
    /// Locked until this time, if a lock is in force.
    pub locked_until: Option<DateTime<Utc>>,
}

impl FailureCounter {
    /// Whether the counter refuses attempts at `now` under `rule`.
    #[must_use]
    pub fn lock_at(&self, rule: &LockoutRule, now: DateTime<Utc>) -> Option<Lock> {
        if self.failures >= rule.hard_cap {
            return Some(Lock::UntilReset);
        }
        match self.locked_until {
            Some(until) if until > now => Some(Lock::Until(until)),
            _ => None,
        }
    }
}

/// A lock in force on a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lock {
    /// Attempts are refused until this time.
    Until(DateTime<Utc>),
    /// The hard cap of consecutive failures was reached; only a reset
    /// (successful recovery or an administrator) lifts it.
    UntilReset,
}

/// How failures turn into locks: every `threshold` consecutive failures lock
/// the counter, for `base_lock` the first time and twice as long each time
/// after, never longer than `max_lock`; at `hard_cap` consecutive failures no
/// further attempt is allowed until a reset (NIST SP 800-63B §5.2.2: at most
/// 100 consecutive failed attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutRule {
    /// Failures that trigger a lock (default 5).
    pub threshold: u32,
    /// Length of the first lock (default 15 minutes).
    pub base_lock: TimeDelta,
    /// Longest lock (default 24 hours).
    pub max_lock: TimeDelta,
    /// Consecutive failures after which attempts stop until reset (≤ 100).
    pub hard_cap: u32,
}

/// Upper bound on [`LockoutRule::hard_cap`] (NIST SP 800-63B §5.2.2).
pub const MAX_CONSECUTIVE_FAILURES: u32 = 100;

impl Default for LockoutRule {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_lock: TimeDelta::minutes(15),
            max_lock: TimeDelta::hours(24),
            hard_cap: MAX_CONSECUTIVE_FAILURES,
        }
    }
}

impl LockoutRule {
    /// Checks the rule's invariants.
    ///
    /// # Errors
    /// A static description of the first broken invariant.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.threshold == 0 {
            return Err("lockout threshold must be at least 1");
        }
        if self.hard_cap == 0 || self.hard_cap > MAX_CONSECUTIVE_FAILURES {
            return Err("lockout hard cap must be between 1 and 100");
        }
        if self.threshold > self.hard_cap {
            return Err("lockout threshold must not exceed the hard cap");
        }
        if self.base_lock <= TimeDelta::zero() || self.max_lock < self.base_lock {
            return Err("lock durations must be positive and max_lock >= base_lock");
        }
        Ok(())
    }

    /// The lock to apply once the counter has reached `failures`, if any.
    #[must_use]
    pub fn lock_after(&self, failures: u32) -> Option<TimeDelta> {
        if self.threshold == 0 || failures == 0 || !failures.is_multiple_of(self.threshold) {
            return None;
        }
        let doublings = (failures / self.threshold).saturating_sub(1).min(30);
        let factor = 1i32 << doublings;
        let lock = self
            .base_lock
            .checked_mul(factor)
            .unwrap_or(self.max_lock)
            .min(self.max_lock);
        Some(lock)
    }

    /// The counter after one more failure at `now`, or `None` if the counter
    /// is locked and the attempt must be refused without counting.
    ///
    /// This is the single definition of the lockout arithmetic; every store
    /// applies it inside its atomic update.
    #[must_use]
    pub fn next(&self, current: FailureCounter, now: DateTime<Utc>) -> Option<FailureCounter> {
        if current.lock_at(self, now).is_some() {
            return None;
        }
        let failures = current.failures.saturating_add(1);
        let locked_until = match self.lock_after(failures) {
            Some(lock) => Some(now + lock),
            None => current.locked_until,
        };
        Some(FailureCounter {
            failures,
            locked_until,
        })
    }
}

/// An account as the engine sees it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// The login name (normalised by the engine; unique among live users).
    pub identifier: String,
    /// Email address for notifications, if known.
    pub email: Option<String>,
    /// When the holder of [`User::email`] proved it receives mail there
    /// ([`crate::Mfa::verify_email`]); cleared when the address changes.
    #[serde(default)]
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Phone number (E.164) for notifications, if known.
    pub phone: Option<String>,
    /// Preferred locale for messages (BCP 47, e.g. `en`, `de-CH`).
    pub locale: Option<String>,
    /// argon2id PHC string; `None` for users whose host checks passwords.
    pub password_hash: Option<String>,
    /// Whether the account may sign in.
    pub status: UserStatus,
    /// Failed password attempts.
    pub password_failures: FailureCounter,
    /// Failed second-factor attempts.
    pub mfa_failures: FailureCounter,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl User {
    /// A new active user with no password and clean counters.
    #[must_use]
    pub fn new(identifier: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            id: UserId::new(),
            identifier: identifier.into(),
            email: None,
            email_verified_at: None,
            phone: None,
            locale: None,
            password_hash: None,
            status: UserStatus::Active,
            password_failures: FailureCounter::default(),
            mfa_failures: FailureCounter::default(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    /// The counter for `scope`.
    #[must_use]
    pub const fn counter(&self, scope: LockScope) -> &FailureCounter {
        match scope {
            LockScope::Password => &self.password_failures,
            LockScope::Mfa => &self.mfa_failures,
        }
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("identifier", &self.identifier)
            .field("status", &self.status)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .field("password_failures", &self.password_failures)
            .field("mfa_failures", &self.mfa_failures)
            .field("deleted_at", &self.deleted_at)
            .finish_non_exhaustive()
    }
}

/// Contact details a user can change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    /// Email address.
    pub email: Option<String>,
    /// Phone number (E.164).
    pub phone: Option<String>,
    /// Preferred locale.
    pub locale: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    #[test]
    fn lock_doubles_every_threshold_and_caps_at_max() {
        let rule = LockoutRule::default();
        assert_eq!(rule.lock_after(4), None);
        assert_eq!(rule.lock_after(5), Some(TimeDelta::minutes(15)));
        assert_eq!(rule.lock_after(10), Some(TimeDelta::minutes(30)));
        assert_eq!(rule.lock_after(15), Some(TimeDelta::minutes(60)));
        assert_eq!(rule.lock_after(95), Some(TimeDelta::hours(24)));
    }

    #[test]
    fn r20_counter_never_passes_the_hard_cap() {
        let rule = LockoutRule::default();
        let mut now = t0();
        let mut c = FailureCounter::default();
        loop {
            match rule.next(c, now) {
                Some(next) => c = next,
                None => match c.lock_at(&rule, now) {
                    Some(Lock::Until(until)) => now = until,
                    Some(Lock::UntilReset) => break,
                    None => unreachable!("refused without a lock"),
                },
            }
        }
        assert_eq!(c.failures, MAX_CONSECUTIVE_FAILURES);
        assert_eq!(rule.next(c, now + TimeDelta::days(365)), None);
    }

    #[test]
    fn locked_counter_refuses_without_counting() {
        let rule = LockoutRule::default();
        let c = FailureCounter {
            failures: 5,
            locked_until: Some(t0() + TimeDelta::minutes(15)),
        };
        assert_eq!(rule.next(c, t0()), None);
        let after = rule.next(c, t0() + TimeDelta::minutes(15)).unwrap();
        assert_eq!(after.failures, 6);
    }

    #[test]
    fn rule_validation_rejects_cap_above_100() {
        let rule = LockoutRule {
            hard_cap: 101,
            ..LockoutRule::default()
        };
        assert!(rule.validate().is_err());
        assert!(LockoutRule::default().validate().is_ok());
    }

    #[test]
    fn user_debug_hides_password_hash() {
        let mut u = User::new("alice", t0());
        u.password_hash = Some("$argon2id$v=19$secretish".into());
        assert!(!format!("{u:?}").contains("argon2id"));
    }
}
