//! The retry and dead-letter policy of a Kafka binding, apart from the consumer that carries
//! it out: what comes after each attempt at a record, and how long to wait before the next.

use std::time::Duration;

/// How one attempt at a record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Done,
    /// Already processed (by an earlier delivery or another node).
    Duplicate,
    /// Refused before it ran (no free slot, a quota, a spent budget, a disabled tenant): wait;
    /// it does not count as an attempt.
    Busy,
    Failed(String),
}

/// What the consumer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Processed: commit the offset.
    Delivered,
    /// Processed before: commit the offset.
    Duplicate,
    /// Wait `after`, then make attempt number `attempt`; `failed` is why the last one failed
    /// (`None`: it was refused and did not count).
    Retry {
        after: Duration,
        attempt: u32,
        failed: Option<String>,
    },
    /// The last attempt failed: park the record in the dead-letter topic.
    DeadLetter(String),
}

/// A binding's `max_attempts` and `backoff_ms`, bounded by the node's `kafka.max_backoff_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

/// The shortest wait after a refusal, so a refused record does not spin.
const MIN_BUSY_WAIT: Duration = Duration::from_millis(20);

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based): the backoff, doubled per attempt,
    /// never more than `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        geyser_core::backoff::doubling(self.backoff, self.max_backoff, attempt)
    }

    /// What follows attempt number `attempt` ending in `outcome`.
    pub fn after(&self, attempt: u32, outcome: Attempt) -> Step {
        match outcome {
            Attempt::Done => Step::Delivered,
            Attempt::Duplicate => Step::Duplicate,
            Attempt::Busy => Step::Retry {
                after: self.backoff(1).max(MIN_BUSY_WAIT),
                attempt,
                failed: None,
            },
            Attempt::Failed(reason) if attempt >= self.max_attempts => Step::DeadLetter(reason),
            Attempt::Failed(reason) => Step::Retry {
                after: self.backoff(attempt),
                attempt: attempt + 1,
                failed: Some(reason),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
        }
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_cap_then_dead_letter() {
        let p = policy(5);
        let waits: Vec<_> = (1..=4)
            .map(|n| match p.after(n, Attempt::Failed("trap".into())) {
                Step::Retry { after, attempt, .. } => {
                    assert_eq!(attempt, n + 1);
                    after.as_millis()
                }
                other => panic!("attempt {n}: {other:?}"),
            })
            .collect();
        assert_eq!(waits, [200, 400, 800, 1000]);
        assert_eq!(
            p.after(5, Attempt::Failed("trap".into())),
            Step::DeadLetter("trap".into())
        );
        assert_eq!(p.after(1, Attempt::Done), Step::Delivered);
        assert_eq!(p.after(3, Attempt::Duplicate), Step::Duplicate);
    }

    #[test]
    fn a_refusal_waits_without_using_an_attempt() {
        let p = policy(1);
        assert_eq!(
            p.after(1, Attempt::Busy),
            Step::Retry {
                after: Duration::from_millis(200),
                attempt: 1,
                failed: None
            }
        );
        let no_backoff = RetryPolicy {
            backoff: Duration::ZERO,
            ..p
        };
        assert!(matches!(
            no_backoff.after(1, Attempt::Busy),
            Step::Retry { after, .. } if after == MIN_BUSY_WAIT
        ));
    }

    /// The consumer's loop, driven by a scripted sequence of outcomes under paused time: a
    /// record refused twice, then failing three times with `max_attempts = 3`, is dead-lettered
    /// after waiting two refusal pauses and two backoffs — and used exactly three attempts.
    #[tokio::test(start_paused = true)]
    async fn a_scripted_delivery_waits_what_the_policy_says() {
        let p = policy(3);
        let mut script = vec![
            Attempt::Busy,
            Attempt::Busy,
            Attempt::Failed("a".into()),
            Attempt::Failed("b".into()),
            Attempt::Failed("c".into()),
        ]
        .into_iter();
        let start = tokio::time::Instant::now();
        let mut attempt = 1;
        let mut attempts_made = Vec::new();
        let dead = loop {
            let outcome = script.next().expect("the policy asked for more attempts");
            if !matches!(outcome, Attempt::Busy) {
                attempts_made.push(attempt);
            }
            match p.after(attempt, outcome) {
                Step::Retry {
                    after,
                    attempt: next,
                    ..
                } => {
                    tokio::time::sleep(after).await;
                    attempt = next;
                }
                Step::DeadLetter(reason) => break reason,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(dead, "c");
        assert_eq!(attempts_made, [1, 2, 3]);
        // 200 + 200 (refusals) + 200 + 400 (backoffs after attempts 1 and 2).
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
    }
}
