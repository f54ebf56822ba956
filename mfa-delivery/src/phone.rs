//! Phone numbers and the SMS-pumping guard.
//!
//! SMS pumping ("toll fraud") abuses a sign-in form to send many messages to
//! premium numbers the attacker is paid for. [`SmsGuard`] stops it before
//! any provider request: the number must be strict E.164, its country
//! calling code on an allow-list, and the destination under a quota (a
//! sliding window per number, kept in this process).

use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::delivery::DeliveryError;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// A phone number in strict E.164 form: `+`, then 7 to 15 digits, the
/// first not 0, nothing else (no spaces or punctuation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a strict E.164 number.
    ///
    /// ```
    /// use mfa_delivery::phone::PhoneNumber;
    /// assert!(PhoneNumber::parse("+41791234567").is_ok());
    /// assert!(PhoneNumber::parse("0041 79 123 45 67").is_err());
    /// ```
    ///
    /// # Errors
    /// [`GuardError::InvalidNumber`] for anything else.
    pub fn parse(s: &str) -> Result<Self, GuardError> {
        let digits = s.strip_prefix('+').ok_or(GuardError::InvalidNumber)?;
        let valid = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(GuardError::InvalidNumber)
        }
    }

    /// The number with its leading `+`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after the `+`.
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why [`SmsGuard`] refused a destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// Not a strict E.164 number.
    #[error("not an E.164 phone number")]
    InvalidNumber,
    /// The country calling code is not on the allow-list.
    #[error("country calling code not allowed")]
    CountryNotAllowed,
    /// Too many messages to this number in the window.
    #[error("too many messages to this number; retry in {retry_after}")]
    QuotaExceeded {
        /// When the oldest counted send leaves the window.
        retry_after: TimeDelta,
    },
}

impl From<GuardError> for DeliveryError {
    /// An invalid number is [`DeliveryError::InvalidDestination`]; a
    /// forbidden country or an exceeded quota is
    /// [`DeliveryError::Rejected`] (retrying soon will not help).
    fn from(e: GuardError) -> Self {
        match e {
            GuardError::InvalidNumber => Self::InvalidDestination,
            other => Self::Rejected(other.to_string()),
        }
    }
}

/// Why an [`SmsGuard`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardConfigError {
    /// A calling code is not 1 to 3 digits without a leading 0.
    #[error("invalid country calling code {0:?}")]
    InvalidCallingCode(String),
    /// The quota allows nothing or the window is not positive.
    #[error("the quota needs at least one message and a positive window")]
    InvalidQuota,
}

/// Allowed countries and per-destination quotas for SMS.
///
/// The quota counts every send attempt that passed the other checks, in a
/// sliding window, in this process only (several server processes each
/// keep their own count; the engine's store-backed per-destination cap
/// still applies across them).
///
/// ```
/// use chrono::TimeDelta;
/// use mfa_delivery::phone::{GuardError, SmsGuard};
///
/// let guard = SmsGuard::new(["41", "49"])?.with_quota(2, TimeDelta::hours(1))?;
/// assert!(guard.check("+41791234567").is_ok());
/// assert!(guard.check("+41791234567").is_ok());
/// assert!(matches!(guard.check("+41791234567"), Err(GuardError::QuotaExceeded { .. })));
/// assert_eq!(guard.check("+88212345678"), Err(GuardError::CountryNotAllowed));
/// # Ok::<(), mfa_delivery::phone::GuardConfigError>(())
/// ```
pub struct SmsGuard {
    allowed: Option<Vec<String>>,
    max: usize,
    window: TimeDelta,
    clock: Arc<dyn Clock>,
    sent: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl fmt::Debug for SmsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsGuard")
            .field("allowed", &self.allowed)
            .field("max", &self.max)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Above this many tracked numbers, stale entries are swept on the next
/// check, so the map cannot grow without bound.
const SWEEP_ABOVE: usize = 10_000;

impl SmsGuard {
    /// A guard allowing only the given country calling codes (`"1"`,
    /// `"41"`, `"49"`, …, without `+`), with the default quota of 5
    /// messages per number per hour.
    ///
    /// # Errors
    /// [`GuardConfigError::InvalidCallingCode`].
    pub fn new<I, S>(calling_codes: I) -> Result<Self, GuardConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allowed = Vec::new();
        for code in calling_codes {
            let code = code.as_ref().trim().trim_start_matches('+');
            let ok = (1..=3).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_digit())
                && !code.starts_with('0');
            if !ok {
                return Err(GuardConfigError::InvalidCallingCode(code.to_owned()));
            }
            allowed.push(code.to_owned());
        }
        Ok(Self::with_allowed(Some(allowed)))
    }

    /// A guard that accepts every country (quotas still apply). Prefer
    /// [`SmsGuard::new`] with the countries you serve.
    #[must_use]
    pub fn all_countries() -> Self {
        Self::with_allowed(None)
    }

    fn with_allowed(allowed: Option<Vec<String>>) -> Self {
        Self {
            allowed,
            max: 5,
            window: TimeDelta::hours(1),
            clock: Arc::new(SystemClock),
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// At most `max` messages per number within any `window`.
    ///
    /// # Errors
    /// [`GuardConfigError::InvalidQuota`] for `max == 0` or a window that
    /// is not positive.
    pub fn with_quota(mut self, max: usize, window: TimeDelta) -> Result<Self, GuardConfigError> {
        if max == 0 || window <= TimeDelta::zero() {
            return Err(GuardConfigError::InvalidQuota);
        }
        self.max = max;
        self.window = window;
        Ok(self)
    }

    /// Uses `clock` for the quota window (tests pass a manual clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates `to` and counts one send to it.
    ///
    /// # Errors
    /// [`GuardError::InvalidNumber`], [`GuardError::CountryNotAllowed`] or
    /// [`GuardError::QuotaExceeded`]; a refused send is not counted.
    pub fn check(&self, to: &str) -> Result<PhoneNumber, GuardError> {
        let number = PhoneNumber::parse(to)?;
        if let Some(allowed) = &self.allowed {
            // Calling codes are prefix-free (ITU-T E.164), so a prefix
            // match identifies the country code exactly.
            if !allowed
                .iter()
                .any(|c| number.digits().starts_with(c.as_str()))
            {
                return Err(GuardError::CountryNotAllowed);
            }
        }
        let now = self.clock.now();
        let horizon = now - self.window;
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        if sent.len() > SWEEP_ABOVE {
            sent.retain(|_, times| times.back().is_some_and(|t| *t > horizon));
        }
        let times = sent.entry(number.as_str().to_owned()).or_default();
        while times.front().is_some_and(|t| *t <= horizon) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(GuardError::QuotaExceeded {
                retry_after: oldest + self.window - now,
            });
        }
        times.push_back(now);
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::clock::ManualClock;

    #[test]
    fn e164_is_strict() {
        for ok in ["+41791234567", "+12025550123", "+4930123456"] {
            assert!(PhoneNumber::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "+",
            "41791234567",
            "+041791234567",
            "+41 79 123 45 67",
            "+41-791234567",
            "+1234567890123456",
            "+123456",
            "+4179123456a",
            "alice@example.com",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad),
                Err(GuardError::InvalidNumber),
                "{bad}"
            );
        }
    }

    #[test]
    fn calling_codes_are_validated() {
        assert!(SmsGuard::new(["+41", "1"]).is_ok());
        assert!(SmsGuard::new(["0"]).is_err());
        assert!(SmsGuard::new(["4100"]).is_err());
        assert!(SmsGuard::new(["ab"]).is_err());
        assert!(
            SmsGuard::all_countries()
                .with_quota(0, TimeDelta::hours(1))
                .is_err()
        );
    }

    #[test]
    fn quota_is_a_sliding_window() {
        let clock = Arc::new(ManualClock::default());
        let guard = SmsGuard::new(["41"])
            .unwrap()
            .with_quota(2, TimeDelta::minutes(10))
            .unwrap()
            .with_clock(clock.clone());
        let n = "+41791234567";
        assert!(guard.check(n).is_ok());
        clock.advance(TimeDelta::minutes(6));
        assert!(guard.check(n).is_ok());
        assert_eq!(
            guard.check(n),
            Err(GuardError::QuotaExceeded {
                retry_after: TimeDelta::minutes(4)
            })
        );
        // Other numbers have their own window.
        assert!(guard.check("+41791234568").is_ok());
        clock.advance(TimeDelta::minutes(4));
        assert!(guard.check(n).is_ok());
        assert!(guard.check(n).is_err());
    }
}
