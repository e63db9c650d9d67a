//! The one retry schedule of every trigger (Kafka records, asynchronous invocations, cron
//! ticks): the first wait, doubled per failed attempt, never more than a maximum.

use std::time::Duration;

/// The wait after failed attempt `attempt` (1-based): `first`, doubled per attempt after the
/// first, at most `max`.
pub fn doubling(first: Duration, max: Duration, attempt: u32) -> Duration {
    first
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_first_wait_up_to_the_maximum() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (0..=5).map(|a| doubling(ms(100), ms(1000), a)).collect();
        assert_eq!(
            waits,
            [ms(100), ms(100), ms(200), ms(400), ms(800), ms(1000)]
        );
        assert_eq!(doubling(ms(100), ms(1000), u32::MAX), ms(1000));
    }
}
