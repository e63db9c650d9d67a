//! `[async]`: the asynchronous queue's limits and its workers.

use serde::Deserialize;
use std::time::Duration;

/// Asynchronous invocation (`Prefer: respond-async`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsyncConfig {
    /// Invocations this node's workers run at once (each also holds an instance slot and its
    /// tenant's concurrency while it runs).
    pub workers: u32,
    /// How often idle workers look for due invocations queued through other nodes (this
    /// node's own are taken at once).
    pub poll_interval_ms: u64,
    /// Largest request body an asynchronous call may carry (larger: 413).
    pub max_body_bytes: usize,
    /// Bytes of the guest's answer kept with the invocation's status (the rest is counted
    /// and dropped; the status says it was truncated).
    pub max_result_bytes: usize,
    /// How long an ended invocation's status and result stay readable.
    pub result_retention_ms: u64,
    /// Attempts of a function without its own `max_attempts`.
    pub max_attempts: u32,
    /// Age at which a function's invocation expires unless it set its own `max_age_ms`.
    pub max_age_ms: u64,
    /// Wait before the second attempt; doubled for each further one, at most
    /// `max_retry_backoff_ms`.
    pub retry_backoff_ms: u64,
    pub max_retry_backoff_ms: u64,
    /// How long a taken invocation stays with its node before another node may take it (its
    /// node died): covers the wait for a slot and the run; a function whose timeout plus
    /// `lease_margin_ms` is longer extends it before it runs.
    pub lease_ms: u64,
    pub lease_margin_ms: u64,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            workers: 16,
            poll_interval_ms: 250,
            max_body_bytes: 256 << 10,
            max_result_bytes: 64 << 10,
            result_retention_ms: 24 * 3_600_000,
            max_attempts: 3,
            max_age_ms: 6 * 3_600_000,
            retry_backoff_ms: 1000,
            max_retry_backoff_ms: 60_000,
            lease_ms: 60_000,
            lease_margin_ms: 5000,
        }
    }
}

impl AsyncConfig {
    /// What is wrong with these settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("async.workers must be at least 1".into());
        }
        if self.lease_ms < 1000 {
            return Err("async.lease_ms must be at least 1000".into());
        }
        if self.poll_interval_ms == 0 {
            return Err("async.poll_interval_ms must be at least 1".into());
        }
        if !(1..=geyser_core::MAX_ASYNC_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!(
                "async.max_attempts must be 1..={}",
                geyser_core::MAX_ASYNC_ATTEMPTS
            ));
        }
        if !(1..=geyser_core::MAX_ASYNC_AGE_MS).contains(&self.max_age_ms) {
            return Err(format!(
                "async.max_age_ms must be 1..={}",
                geyser_core::MAX_ASYNC_AGE_MS
            ));
        }
        Ok(())
    }

    /// The wait after failed attempt `attempt` (1-based): the backoff doubled per attempt.
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let wait = geyser_core::backoff::doubling(
            Duration::from_millis(self.retry_backoff_ms),
            Duration::from_millis(self.max_retry_backoff_ms),
            attempt,
        );
        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let config = AsyncConfig::default();
        let waits: Vec<u64> = (1..=8).map(|a| config.backoff_ms(a)).collect();
        assert_eq!(
            waits,
            [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]
        );
        assert!(config.check().is_ok());
        let bad = AsyncConfig {
            max_attempts: 0,
            ..AsyncConfig::default()
        };
        assert!(bad.check().is_err());
    }
}
