//! Billing months: calendar months in UTC.

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use std::fmt;

/// A calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    year: i32,
    month: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid month {0:?}: want YYYY-MM, e.g. 2026-11")]
pub struct InvalidMonth(String);

impl Month {
    pub fn parse(text: &str) -> Result<Month, InvalidMonth> {
        let invalid = || InvalidMonth(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)?;
        Ok(Month { year, month })
    }

    /// The month `at_ms` falls in.
    pub fn containing(at_ms: i64) -> Month {
        let at = Utc
            .timestamp_millis_opt(at_ms)
            .single()
            .unwrap_or_else(Utc::now);
        Month {
            year: at.year(),
            month: at.month(),
        }
    }

    fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// First millisecond of the month.
    pub fn start_ms(self) -> i64 {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0)
    }

    /// First millisecond after the month.
    pub fn end_ms(self) -> i64 {
        self.next().start_ms()
    }

    /// How much of the month has passed at `now_ms` (0..=1).
    pub fn elapsed_fraction(self, now_ms: i64) -> f64 {
        let (start, end) = (self.start_ms(), self.end_ms());
        ((now_ms - start) as f64 / (end - start) as f64).clamp(0.0, 1.0)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_span_their_days() {
        let m = Month::parse("2026-02").unwrap();
        assert_eq!(m.to_string(), "2026-02");
        assert_eq!(m.end_ms() - m.start_ms(), 28 * 24 * 3_600_000);
        let dec = Month::parse("2025-12").unwrap();
        assert_eq!(dec.end_ms(), Month::parse("2026-01").unwrap().start_ms());
        assert_eq!(Month::containing(dec.start_ms()), dec);
        assert_eq!(Month::containing(dec.end_ms() - 1), dec);
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "abcd-ef"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        assert!((m.elapsed_fraction(m.start_ms() + 14 * 24 * 3_600_000) - 0.5).abs() < 1e-9);
    }
}
