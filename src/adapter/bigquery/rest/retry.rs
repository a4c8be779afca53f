//! The one retry policy: how often, and how patiently, a failed call, a
//! failed job or an upload part that did not land is tried again, with
//! exponential backoff and jitter, each wait noted in the run's log.

use std::time::Duration;

use super::error::short_reason;
use super::{Api, ApiError};

/// How often, and how patiently, failed calls and jobs are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 5,
            initial: Duration::from_millis(250),
            max: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "full jitter" between half and all of the step.
    pub(super) fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let step = self
            .initial
            .saturating_mul(1_u32 << attempt.min(16))
            .min(self.max);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

impl Api {
    /// Waits before another attempt of `what`, saying so in the log.
    pub(super) async fn back_off(&self, what: &str, error: &ApiError, attempt: u32) {
        let delay = self.retry.delay(attempt, self.next_jitter());
        self.note(&format!(
            "retrying {what} in {:.1}s ({}; attempt {} of {})",
            delay.as_secs_f64(),
            short_reason(error),
            attempt + 2,
            self.retry.retries + 1
        ));
        tokio::time::sleep(delay).await;
    }

    /// A call made again, with backoff, while it fails in a retryable way.
    pub(super) async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(error) if error.retryable && attempt < self.retry.retries => {
                    self.back_off(what, &error, attempt).await;
                    attempt += 1;
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
    fn backoff_grows_to_the_cap_with_jitter() {
        let policy = RetryPolicy {
            retries: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(policy.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(policy.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(policy.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(policy.delay(9, 1.0), Duration::from_secs(1));
    }
}
