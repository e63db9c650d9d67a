//! A sliding window of one version's calls: how many, how many failed, and their p99 wall time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Calls kept per version at most; older ones leave first.
pub const MAX_SAMPLES: usize = 2_000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    failed: bool,
    wall: Duration,
}

/// The calls of the last `span` (at most [`MAX_SAMPLES`]).
#[derive(Debug)]
pub struct Window {
    span: Duration,
    samples: VecDeque<Sample>,
    failed: usize,
}

/// What a window holds now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub calls: usize,
    pub error_rate: f64,
    pub p99: Duration,
}

impl Window {
    pub fn new(span: Duration) -> Self {
        Window {
            span,
            samples: VecDeque::new(),
            failed: 0,
        }
    }

    pub fn add(&mut self, at: Instant, failed: bool, wall: Duration) {
        self.expire(at);
        if self.samples.len() == MAX_SAMPLES {
            self.pop();
        }
        self.failed += usize::from(failed);
        self.samples.push_back(Sample { at, failed, wall });
    }

    fn pop(&mut self) {
        if let Some(old) = self.samples.pop_front() {
            self.failed -= usize::from(old.failed);
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .samples
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > self.span)
        {
            self.pop();
        }
    }

    /// Calls, error rate and p99 of the window.
    pub fn figures(&mut self, now: Instant) -> Figures {
        self.figures_with(now, true)
    }

    /// [`Window::figures`]; without `p99` (left zero) it costs O(1) instead of a pass over
    /// the samples.
    pub fn figures_with(&mut self, now: Instant, p99: bool) -> Figures {
        self.expire(now);
        let calls = self.samples.len();
        if calls == 0 {
            return Figures {
                calls,
                error_rate: 0.0,
                p99: Duration::ZERO,
            };
        }
        let p99 = if p99 {
            let mut walls: Vec<Duration> = self.samples.iter().map(|s| s.wall).collect();
            // The smallest wall time at or above 99 % of the calls (nearest rank).
            let rank = (calls * 99).div_ceil(100).max(1) - 1;
            *walls.select_nth_unstable(rank).1
        } else {
            Duration::ZERO
        };
        Figures {
            calls,
            error_rate: self.failed as f64 / calls as f64,
            p99,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_and_the_p99_of_the_span() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60));
        for i in 0..100u64 {
            w.add(t0, i % 4 == 0, Duration::from_millis(i + 1));
        }
        let f = w.figures(t0);
        assert_eq!(f.calls, 100);
        assert!((f.error_rate - 0.25).abs() < 1e-9);
        assert_eq!(f.p99, Duration::from_millis(99));
        // Past the span, every call has left.
        let f = w.figures(t0 + Duration::from_secs(61));
        assert_eq!((f.calls, f.error_rate), (0, 0.0));
    }

    #[test]
    fn keeps_at_most_max_samples() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(60));
        for i in 0..MAX_SAMPLES + 10 {
            w.add(t0, i < 10, Duration::from_millis(1));
        }
        let f = w.figures(t0);
        assert_eq!(f.calls, MAX_SAMPLES);
        assert_eq!(f.error_rate, 0.0, "the ten failures were the oldest");
    }
}
