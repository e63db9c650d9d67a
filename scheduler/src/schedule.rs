//! A cron expression in a time zone: next fire times in UTC, and the ticks due after a pause.
//!
//! **DST rule.** Fire times are computed on the local wall clock of the schedule's zone:
//! - a local time that does not exist (skipped by a spring-forward change, e.g. 02:30 on the
//!   night clocks jump from 02:00 to 03:00) fires once, at the first instant after the gap
//!   (03:00 local);
//! - a local time that occurs twice (a fall-back change) fires once, at its first occurrence.
//!
//! So a daily job fires exactly once on every day, DST or not.

use crate::expr::{CronExpr, ExprError};
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Expr(#[from] ExprError),
    #[error("unknown time zone {0:?}: use an IANA name such as Europe/Berlin or UTC")]
    TimeZone(String),
}

/// What to do about ticks that came due while no scheduler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedPolicy {
    /// Fire none of them.
    Skip,
    /// Fire the latest one, once.
    Once,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    expr: CronExpr,
    tz: Tz,
}

/// How far past a gap to look for the first valid local instant (no zone jumps more than this).
const MAX_GAP_MINUTES: i64 = 24 * 60;

impl Schedule {
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, ScheduleError> {
        let tz: Tz = timezone
            .parse()
            .map_err(|_| ScheduleError::TimeZone(timezone.to_owned()))?;
        Ok(Schedule {
            expr: CronExpr::parse(expression)?,
            tz,
        })
    }

    pub fn expression(&self) -> &str {
        self.expr.source()
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The UTC instant a local fire time maps to, per the DST rule above.
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
            LocalResult::None => (1..=MAX_GAP_MINUTES).find_map(|m| {
                let probe = local + Duration::minutes(m);
                // The first whole minute after the gap; its earliest instance.
                self.tz
                    .from_local_datetime(&probe)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            }),
        }
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Walk local wall-clock candidates from the local time of `after` (one hour earlier, to
        // catch a candidate that maps forward over a gap) and keep the first instant after it.
        let mut local = after.with_timezone(&self.tz).naive_local() - Duration::hours(1);
        for _ in 0..10_000 {
            local = self.expr.next_local_after(local)?;
            if let Some(instant) = self.instant(local)
                && instant > after
            {
                return Some(instant);
            }
        }
        None
    }

    /// Fire times in `(after, until]`, at most `limit`.
    pub fn fires_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut cursor = after;
        while out.len() < limit {
            match self.next_after(cursor) {
                Some(t) if t <= until => {
                    out.push(t);
                    cursor = t;
                }
                _ => break,
            }
        }
        out
    }
}

/// The ticks to fire now, given the last tick that was handled (fired or deliberately skipped).
///
/// Ticks due within `grace` of `now` are on time and always fire. Older ones were missed
/// (no scheduler ran): `Skip` fires none of them, `Once` fires only the latest. Without a
/// previous tick (a new schedule) nothing from the past fires.
pub fn due_ticks(
    schedule: &Schedule,
    last_handled: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: MissedPolicy,
    grace: Duration,
) -> Vec<DateTime<Utc>> {
    let Some(last) = last_handled else {
        return schedule.fires_between(now - grace, now, usize::MAX);
    };
    // Bounded: a schedule firing every second over a long outage must not allocate forever.
    let due = schedule.fires_between(last, now, 100_000);
    let (missed, on_time): (Vec<_>, Vec<_>) = due.into_iter().partition(|t| *t < now - grace);
    let mut fire = match (policy, missed.last()) {
        (MissedPolicy::Once, Some(latest)) if on_time.is_empty() => vec![*latest],
        _ => Vec::new(),
    };
    fire.extend(on_time);
    fire
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn monthly_fires_once_at_the_month_boundary_in_its_zone() {
        let s = Schedule::parse("0 6 1 * *", "Europe/Berlin").unwrap();
        // Winter: CET = UTC+1; summer: CEST = UTC+2.
        assert_eq!(
            s.next_after(utc("2026-01-15T00:00:00Z")),
            Some(utc("2026-02-01T05:00:00Z"))
        );
        assert_eq!(
            s.next_after(utc("2026-06-15T00:00:00Z")),
            Some(utc("2026-07-01T04:00:00Z"))
        );
        let year = s.fires_between(
            utc("2026-01-01T00:00:00Z"),
            utc("2027-01-01T00:00:00Z"),
            100,
        );
        assert_eq!(year.len(), 12);
    }

    #[test]
    fn quarterly_fires_four_times_a_year() {
        let s = Schedule::parse("0 6 1 1,4,7,10 *", "America/New_York").unwrap();
        let year = s.fires_between(
            utc("2026-01-01T00:00:00Z"),
            utc("2027-01-01T00:00:00Z"),
            100,
        );
        assert_eq!(year.len(), 4);
        let s = Schedule::parse("0 6 1 */3 *", "UTC").unwrap();
        assert_eq!(
            s.fires_between(
                utc("2026-01-01T00:00:00Z"),
                utc("2027-01-01T00:00:00Z"),
                100
            )
            .len(),
            4
        );
    }

    #[test]
    fn spring_forward_fires_a_skipped_time_once_right_after_the_gap() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
        let s = Schedule::parse("30 2 * * *", "America/New_York").unwrap();
        let fires = s.fires_between(utc("2026-03-06T12:00:00Z"), utc("2026-03-10T12:00:00Z"), 10);
        assert_eq!(
            fires,
            [
                utc("2026-03-07T07:30:00Z"), // 02:30 EST
                utc("2026-03-08T07:00:00Z"), // 03:00 EDT, first instant after the gap
                utc("2026-03-09T06:30:00Z"), // 02:30 EDT
                utc("2026-03-10T06:30:00Z"),
            ]
        );
    }

    #[test]
    fn fall_back_fires_a_repeated_time_once() {
        // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 occurs twice.
        let s = Schedule::parse("30 1 * * *", "America/New_York").unwrap();
        let fires = s.fires_between(utc("2026-10-31T12:00:00Z"), utc("2026-11-02T12:00:00Z"), 10);
        assert_eq!(
            fires,
            [
                utc("2026-11-01T05:30:00Z"), // 01:30 EDT, the first occurrence only
                utc("2026-11-02T06:30:00Z"), // 01:30 EST
            ]
        );
        // Asked from between the two occurrences, the next is the following day.
        assert_eq!(
            s.next_after(utc("2026-11-01T06:00:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
    }

    #[test]
    fn hourly_across_both_changes_never_doubles() {
        let s = Schedule::parse("0 * * * *", "Europe/Berlin").unwrap();
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET — a 25-hour day.
        let day = s.fires_between(
            utc("2026-10-24T22:00:00Z"),
            utc("2026-10-25T23:00:00Z"),
            100,
        );
        let mut sorted = day.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), day.len());
        assert_eq!(day.len(), 24, "the repeated 02:00 hour fires once");
    }

    #[test]
    fn missed_ticks_follow_the_policy() {
        let s = Schedule::parse("0 * * * *", "UTC").unwrap();
        let grace = Duration::seconds(60);
        let last = Some(utc("2026-01-01T00:00:00Z"));
        let now = utc("2026-01-01T05:30:00Z");
        assert_eq!(
            due_ticks(&s, last, now, MissedPolicy::Skip, grace),
            Vec::<DateTime<Utc>>::new()
        );
        assert_eq!(
            due_ticks(&s, last, now, MissedPolicy::Once, grace),
            [utc("2026-01-01T05:00:00Z")]
        );
        // On time: fires whatever the policy.
        let now = utc("2026-01-01T01:00:10Z");
        assert_eq!(
            due_ticks(&s, last, now, MissedPolicy::Skip, grace),
            [utc("2026-01-01T01:00:00Z")]
        );
        // Nothing due.
        let now = utc("2026-01-01T00:59:59Z");
        assert!(due_ticks(&s, last, now, MissedPolicy::Once, grace).is_empty());
        // A new schedule does not fire its past.
        assert!(
            due_ticks(
                &s,
                None,
                utc("2026-01-01T05:30:00Z"),
                MissedPolicy::Once,
                grace
            )
            .is_empty()
        );
    }

    #[test]
    fn unknown_zones_are_refused() {
        let err = Schedule::parse("0 6 1 * *", "Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("unknown time zone"), "{err}");
    }
}
