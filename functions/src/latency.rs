//! The wall-time histogram kept per function and hour: logarithmic buckets, so a quantile read
//! back from it is within one bucket (25 %) of the true value, whatever the traffic.

/// Upper bound of bucket 0.
const FIRST_UPPER_NS: f64 = 50_000.0;
/// Each bucket's upper bound is this much larger than the previous one's.
const GROWTH: f64 = 1.25;
/// Buckets in all; the last also takes everything slower (50 µs × 1.25^80 ≈ 47 min).
pub const BUCKETS: u32 = 81;

/// The bucket of an invocation that took `wall_ns`.
pub fn bucket_of(wall_ns: u64) -> u32 {
    let ns = wall_ns as f64;
    if ns <= FIRST_UPPER_NS {
        return 0;
    }
    let b = ((ns / FIRST_UPPER_NS).ln() / GROWTH.ln()).ceil();
    // Guard against rounding at an exact bound: a value belongs to the first bucket whose
    // upper bound is at least it.
    let mut b = (b as u32).min(BUCKETS - 1);
    while b > 0 && upper_bound_ns(b - 1) >= ns {
        b -= 1;
    }
    b
}

/// The largest wall time bucket `b` holds, in nanoseconds.
pub fn upper_bound_ns(bucket: u32) -> f64 {
    FIRST_UPPER_NS * GROWTH.powi(bucket.min(BUCKETS - 1) as i32)
}

/// The `q` quantile (0..=1) of a histogram given as (bucket, count) pairs in any order, as the
/// upper bound of the bucket it falls in, in milliseconds; `None` for an empty histogram.
pub fn quantile_ms(histogram: &[(u32, u64)], q: f64) -> Option<f64> {
    let total: u64 = histogram.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let mut sorted = histogram.to_vec();
    sorted.sort_unstable_by_key(|(b, _)| *b);
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (bucket, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(upper_bound_ns(bucket) / 1e6);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lies_in_a_bucket_at_most_25_percent_above_it() {
        for wall_ns in [
            1u64,
            50_000,
            50_001,
            62_500,
            99_999,
            1_000_000,
            123_456_789,
            10u64.pow(12),
        ] {
            let b = bucket_of(wall_ns);
            let upper = upper_bound_ns(b);
            assert!(
                upper >= wall_ns as f64 || b == BUCKETS - 1,
                "{wall_ns} → {b}"
            );
            if b > 0 && b < BUCKETS - 1 {
                assert!(upper_bound_ns(b - 1) < wall_ns as f64, "{wall_ns} → {b}");
                assert!(upper <= wall_ns as f64 * GROWTH + 1.0, "{wall_ns} → {b}");
            }
        }
        assert_eq!(bucket_of(50_000), 0);
        assert_eq!(bucket_of(62_500), 1);
        assert_eq!(bucket_of(62_501), 2);
    }

    #[test]
    fn quantiles_come_from_the_cumulative_counts() {
        // 90 fast calls (≤ 50 µs) and 10 slow ones (bucket 20).
        let h = [(20, 10), (0, 90)];
        assert_eq!(quantile_ms(&h, 0.5), Some(0.05));
        assert_eq!(quantile_ms(&h, 0.9), Some(0.05));
        let p99 = quantile_ms(&h, 0.99).unwrap();
        assert!((p99 - upper_bound_ns(20) / 1e6).abs() < 1e-9);
        assert_eq!(quantile_ms(&[], 0.5), None);
    }
}
