//! Retry with exponential backoff and jitter, shared by the HTTP and SMTP
//! transports.

use mfa_core::delivery::DeliveryError;
use rand::RngExt;
use std::future::Future;
use std::time::Duration;

/// How often and how patiently a transport retries a temporary failure
/// ([`DeliveryError::Transient`]: 5xx, timeouts, connection errors).
/// Nothing else is retried: not rejections (4xx, SMTP 5xx), not a
/// destination that is invalid or gone.
///
/// Attempt `n` (from 1) waits a random delay in
/// `[d/2, d]` with `d = min(max_backoff, initial_backoff · 2^(n-1))` before
/// attempt `n + 1` ("equal jitter"), so many senders do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, at least 1 (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry (before jitter).
    pub initial_backoff: Duration,
    /// Upper bound of any delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 200 ms then 400 ms (jittered), at most 2 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// The jittered delay after failed attempt `attempt` (counting from 1).
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let full = self
            .initial_backoff
            .saturating_mul(1 << exp)
            .min(self.max_backoff);
        let half = full / 2;
        let jitter_ms = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        let extra = if jitter_ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_ms)
        };
        half + Duration::from_millis(extra)
    }

    /// Runs `attempt` until it succeeds, fails with anything but
    /// [`DeliveryError::Transient`], or the attempts are used up.
    ///
    /// # Errors
    /// The last error.
    pub async fn run<F, Fut>(&self, mut attempt: F) -> Result<(), DeliveryError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<(), DeliveryError>>,
    {
        let max = self.max_attempts.max(1);
        let mut n = 1;
        loop {
            match attempt(n).await {
                Err(DeliveryError::Transient(reason)) if n < max => {
                    tracing::debug!(attempt = n, %reason, "delivery failed temporarily; retrying");
                    tokio::time::sleep(self.backoff(n)).await;
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b9 = p.backoff(9);
            assert!(b9 >= Duration::from_millis(500) && b9 <= Duration::from_millis(1000));
        }
    }

    #[tokio::test]
    async fn only_transient_errors_are_retried() {
        let p = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let r = p
            .run(|_| {
                calls += 1;
                async { Err(DeliveryError::Transient("503".into())) }
            })
            .await;
        assert!(matches!(r, Err(DeliveryError::Transient(_))));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r = p
            .run(|_| {
                calls += 1;
                async { Err(DeliveryError::Rejected("400".into())) }
            })
            .await;
        assert!(matches!(r, Err(DeliveryError::Rejected(_))));
        assert_eq!(calls, 1);

        // A destination that is gone or invalid stays so: one attempt each.
        let permanent: [fn() -> DeliveryError; 2] =
            [|| DeliveryError::Gone, || DeliveryError::InvalidDestination];
        for permanent in permanent {
            let mut calls = 0;
            let r = p
                .run(|_| {
                    calls += 1;
                    async move { Err(permanent()) }
                })
                .await;
            assert!(
                matches!(
                    r,
                    Err(DeliveryError::Gone | DeliveryError::InvalidDestination)
                ),
                "{r:?}"
            );
            assert_eq!(calls, 1);
        }
    }
}
