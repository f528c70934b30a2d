//! Recurring availability of an instrument class (off-peak work): "only
//! 19:00–07:00 and at weekends", turned into the weekly closed windows the
//! scheduler already honours like maintenance.
//!
//! ```toml
//! [classes.compute-heavy]
//! available = { hours = "19:00-07:00", days = ["sat", "sun"] }   # UTC
//! ```
//!
//! `hours` (`HH:MM[:SS]-HH:MM[:SS]`, may wrap past midnight) is open on every
//! day; each of `days` is open all day. Without `hours`, only `days` are open.

use super::instrument::Window;
use super::time::{Span, Timestamp};

const DAY: usize = 86_400;
const WEEK: usize = 7 * DAY;
/// 1970-01-05T00:00:00Z, a Monday: every weekly window is anchored here.
const MONDAY: i64 = 4 * DAY as i64 * 1_000;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The weekly windows in which a class with these open `hours` and `days`
/// is closed. Errors name what is wrong.
pub fn closed_windows(hours: Option<&str>, days: &[String]) -> Result<Vec<Window>, String> {
    let mut open = vec![false; WEEK];
    for day in days {
        let d = DAYS
            .iter()
            .position(|n| n.eq_ignore_ascii_case(day))
            .ok_or_else(|| format!("`{day}` is not a day: one of {}", DAYS.join(", ")))?;
        open[d * DAY..(d + 1) * DAY].fill(true);
    }
    if let Some(hours) = hours {
        let (from, to) = parse_hours(hours)?;
        for d in 0..7 {
            let start = d * DAY + from;
            let len = if to > from {
                to - from
            } else {
                DAY - from + to
            };
            for s in start..start + len {
                open[s % WEEK] = true;
            }
        }
    }
    let Some(first_open) = open.iter().position(|o| *o) else {
        return Err("the class would never be available: give `hours` or `days`".into());
    };
    Ok(closed_runs(&open, first_open)
        .into_iter()
        .map(|(start, len)| weekly(start, len))
        .collect())
}

/// Runs of closed seconds `(start, length)`, scanning one week from an open second.
fn closed_runs(open: &[bool], from: usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut run: Option<usize> = None;
    for i in 0..=WEEK {
        let s = (from + i) % WEEK;
        match (open[s] || i == WEEK, run) {
            (false, None) => run = Some(from + i),
            (true, Some(start)) => {
                runs.push((start % WEEK, from + i - start));
                run = None;
            }
            _ => {}
        }
    }
    runs
}

fn weekly(start: usize, len: usize) -> Window {
    let secs = |n: usize| Span::from_secs_f64(n as f64);
    let start = Timestamp(MONDAY) + secs(start);
    Window {
        start,
        end: start + secs(len),
        every: Some(secs(WEEK)),
        until: None,
        note: "outside the class's available hours".into(),
    }
}

/// `HH:MM[:SS]-HH:MM[:SS]` as seconds of the day.
fn parse_hours(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("hours `{text}` must be HH:MM-HH:MM (UTC, seconds optional)");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let time = |t: &str| -> Option<usize> {
        let parts: Vec<usize> = t
            .trim()
            .split(':')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let (h, m, s) = match parts[..] {
            [h, m] => (h, m, 0),
            [h, m, s] => (h, m, s),
            _ => return None,
        };
        (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
    };
    let (from, to) = (time(a).ok_or_else(bad)?, time(b).ok_or_else(bad)?);
    if from == to {
        return Err(format!("hours `{text}` open and close at the same time"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn closed(windows: &[Window], t: &str) -> bool {
        windows
            .iter()
            .any(|w| w.next_after(at(t)).is_some_and(|(s, _)| s <= at(t)))
    }

    #[test]
    fn nights_and_weekends() {
        let w = closed_windows(Some("19:00-07:00"), &["sat".into(), "Sun".into()]).unwrap();
        // 2026-11-27 is a Friday.
        assert!(closed(&w, "2026-11-27T12:00:00Z"));
        assert!(!closed(&w, "2026-11-27T20:00:00Z"));
        assert!(!closed(&w, "2026-11-28T12:00:00Z"), "Saturday is open");
        assert!(!closed(&w, "2026-11-29T23:00:00Z"), "Sunday night is open");
        assert!(
            !closed(&w, "2026-11-30T06:59:59Z"),
            "Monday early is still the night"
        );
        assert!(closed(&w, "2026-11-30T07:00:00Z"));
        assert_eq!(w.len(), 5, "one closed day-time per weekday: {w:?}");
    }

    #[test]
    fn bad_availability_is_named() {
        assert!(
            closed_windows(Some("7-19"), &[])
                .unwrap_err()
                .contains("HH:MM-HH:MM")
        );
        assert!(
            closed_windows(None, &["funday".into()])
                .unwrap_err()
                .contains("not a day")
        );
        assert!(
            closed_windows(None, &[])
                .unwrap_err()
                .contains("never be available")
        );
        assert!(
            closed_windows(Some("09:00-09:00"), &[])
                .unwrap_err()
                .contains("same time")
        );
        let all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from);
        assert!(closed_windows(None, &all).unwrap().is_empty());
    }

    #[test]
    fn day_hours_and_out_of_range_times() {
        let w = closed_windows(Some("09:00-17:00:30"), &[]).unwrap();
        assert!(closed(&w, "2026-11-27T08:59:59Z"));
        assert!(!closed(&w, "2026-11-27T09:00:00Z"));
        assert!(!closed(&w, "2026-11-27T17:00:29Z"));
        assert!(closed(&w, "2026-11-27T17:00:30Z"));
        for bad in ["24:00-07:00", "07:60-08:00", "07:00-08:00:60"] {
            let e = closed_windows(Some(bad), &[]).unwrap_err();
            assert!(e.contains("HH:MM-HH:MM"), "{bad}: {e}");
        }
    }
}
