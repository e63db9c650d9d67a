//! Day-of-week fields as users write them (0–7, Sunday = 0 or 7, names, ranges, lists, steps),
//! rewritten as day names for the `cron` crate, which numbers days 1–7 from Sunday.

const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn day(token: &str) -> Result<usize, String> {
    if let Ok(n) = token.parse::<usize>() {
        return match n {
            0..=6 => Ok(n),
            7 => Ok(0),
            _ => Err(format!("day of week {n} is out of range 0-7")),
        };
    }
    NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(token))
        .ok_or_else(|| format!("unknown day of week {token:?}"))
}

/// The days (0 = Sunday) a field selects.
fn days(field: &str) -> Result<[bool; 7], String> {
    let mut selected = [false; 7];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: usize = step.parse().map_err(|_| format!("invalid step {step:?}"))?;
                if step == 0 {
                    return Err("step must be at least 1".into());
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (first, last) = match range {
            "*" | "?" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => {
                    // A range may end on 7 (Sunday at the end of the week): `5-7` is Fri–Sun.
                    let (a, b) = (day(a)?, if b == "7" { 7 } else { day(b)? });
                    if b < a {
                        return Err(format!("range {range:?} runs backwards"));
                    }
                    (a, b)
                }
                None if step > 1 => (day(range)?, 6),
                None => {
                    let d = day(range)?;
                    (d, d)
                }
            },
        };
        for d in (first..=last).step_by(step) {
            selected[d % 7] = true;
        }
    }
    Ok(selected)
}

/// Rewrites a user's day-of-week field for the `cron` crate.
pub fn translate(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let selected = days(field)?;
    let names: Vec<&str> = (0..7).filter(|d| selected[*d]).map(|d| NAMES[d]).collect();
    if names.is_empty() {
        return Err(format!("{field:?} selects no day"));
    }
    Ok(names.join(","))
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn numbers_follow_the_usual_cron_convention() {
        assert_eq!(translate("1").unwrap(), "MON");
        assert_eq!(translate("0").unwrap(), "SUN");
        assert_eq!(translate("7").unwrap(), "SUN");
        assert_eq!(translate("1-5").unwrap(), "MON,TUE,WED,THU,FRI");
        assert_eq!(translate("5-7").unwrap(), "SUN,FRI,SAT");
        assert_eq!(translate("*/2").unwrap(), "SUN,TUE,THU,SAT");
        assert_eq!(translate("mon,wed").unwrap(), "MON,WED");
        assert_eq!(translate("*").unwrap(), "*");
    }

    #[test]
    fn bad_days_are_explained() {
        assert!(translate("8").unwrap_err().contains("out of range"));
        assert!(translate("funday").unwrap_err().contains("unknown day"));
        assert!(translate("5-1").unwrap_err().contains("backwards"));
    }
}
