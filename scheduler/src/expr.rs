//! Cron expressions as users write them: five fields (`minute hour day-of-month month
//! day-of-week`) or six with leading seconds; day of week 0–7 with Sunday as 0 or 7; and `L` in
//! the day-of-month field for the last day of the month. Errors name the field at fault.

use crate::dow;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use std::str::FromStr;

const FIELD_NAMES: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

/// A cron expression that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error(
        "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds; got {0}"
    )]
    FieldCount(usize),
    #[error("invalid {field} field {value:?}: {reason}")]
    Field {
        field: &'static str,
        value: String,
        reason: String,
    },
}

/// A parsed expression, matched against local (naive) date-times.
#[derive(Debug, Clone)]
pub struct CronExpr {
    source: String,
    schedule: cron::Schedule,
    /// `L` in the day-of-month field: only the last day of each month matches.
    last_day_of_month: bool,
}

fn last_day_of_month(date: NaiveDate) -> bool {
    date.succ_opt()
        .is_none_or(|next| next.month() != date.month())
}

/// The `cron` crate's explanation without the echo of the expression it parsed (which is
/// our rewritten form, confusing to the user): its last line.
fn reason(err: &cron::error::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && *l != "^")
        .unwrap_or("invalid value")
        .to_owned()
}

impl CronExpr {
    pub fn parse(source: &str) -> Result<CronExpr, ExprError> {
        let mut fields: Vec<String> = source.split_whitespace().map(str::to_owned).collect();
        match fields.len() {
            5 => fields.insert(0, "0".into()),
            6 => {}
            n => return Err(ExprError::FieldCount(n)),
        }
        let field_error = |index: usize, reason: String| ExprError::Field {
            field: FIELD_NAMES[index],
            value: fields[index].clone(),
            reason,
        };
        let mut last_day = false;
        let mut cron_fields = fields.clone();
        if fields[3].eq_ignore_ascii_case("L") {
            // Candidates 28–31; the last-day filter keeps the real one.
            last_day = true;
            cron_fields[3] = "28-31".into();
        }
        cron_fields[5] = dow::translate(&fields[5]).map_err(|reason| field_error(5, reason))?;
        let text = cron_fields.join(" ");
        match cron::Schedule::from_str(&text) {
            Ok(schedule) => Ok(CronExpr {
                source: source.to_owned(),
                schedule,
                last_day_of_month: last_day,
            }),
            Err(err) => {
                // Find the field at fault: the first one that fails on its own.
                for index in 0..6 {
                    let mut probe = vec!["*".to_owned(); 6];
                    probe[0] = "0".into();
                    probe[index] = cron_fields[index].clone();
                    if let Err(e) = cron::Schedule::from_str(&probe.join(" ")) {
                        return Err(field_error(index, reason(&e)));
                    }
                }
                Err(ExprError::Field {
                    field: "expression",
                    value: source.to_owned(),
                    reason: reason(&err),
                })
            }
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first local date-time strictly after `after` that matches.
    pub fn next_local_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let start = after.and_utc();
        self.schedule
            .after(&start)
            .map(|t| t.naive_utc())
            .find(|t| !self.last_day_of_month || last_day_of_month(t.date()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn five_fields_mean_minute_first() {
        let e = CronExpr::parse("0 6 1 * *").unwrap();
        assert_eq!(
            e.next_local_after(at("2026-01-15 00:00:00")),
            Some(at("2026-02-01 06:00:00"))
        );
        let e = CronExpr::parse("30 0 6 1 * *").unwrap();
        assert_eq!(
            e.next_local_after(at("2026-01-15 00:00:00")),
            Some(at("2026-02-01 06:00:30"))
        );
    }

    #[test]
    fn day_of_week_uses_sunday_zero() {
        // 2026-11-23 is a Monday.
        let e = CronExpr::parse("0 9 * * 1").unwrap();
        assert_eq!(
            e.next_local_after(at("2026-11-22 00:00:00")),
            Some(at("2026-11-23 09:00:00"))
        );
        let e = CronExpr::parse("0 9 * * 0").unwrap();
        assert_eq!(
            e.next_local_after(at("2026-11-23 00:00:00")),
            Some(at("2026-11-29 09:00:00"))
        );
    }

    #[test]
    fn l_is_the_last_day_of_the_month() {
        let e = CronExpr::parse("0 18 L * *").unwrap();
        let mut t = at("2026-01-01 00:00:00");
        let mut days = Vec::new();
        for _ in 0..4 {
            t = e.next_local_after(t).unwrap();
            days.push(t.date().to_string());
        }
        assert_eq!(
            days,
            ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
        );
        let leap = CronExpr::parse("0 0 L 2 *").unwrap();
        assert_eq!(
            leap.next_local_after(at("2027-03-01 00:00:00"))
                .unwrap()
                .date()
                .to_string(),
            "2028-02-29"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = CronExpr::parse("61 6 1 * *").unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::Field {
                    field: "minute",
                    ..
                }
            ),
            "{err}"
        );
        let err = CronExpr::parse("0 25 1 * *").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid hour field \"25\""),
            "{err}"
        );
        let err = CronExpr::parse("0 6 1 13 *").unwrap_err();
        assert!(
            matches!(err, ExprError::Field { field: "month", .. }),
            "{err}"
        );
        let err = CronExpr::parse("0 6 1 * 9").unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::Field {
                    field: "day-of-week",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            CronExpr::parse("* * *").unwrap_err(),
            ExprError::FieldCount(3)
        );
    }
}
