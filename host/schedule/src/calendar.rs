//! The instruments calendar: a TOML file naming each instrument, its class, capacity, state and
//! maintenance windows.
//!
//! ```toml
//! [instruments.novaseq-1]
//! class = "sequencer"          # what stages ask for; default "compute"
//! capacity = 1                 # stages at once; default 1
//! state = "up"                 # up | down | draining; default up
//! maintenance = [
//!   { start = "2026-11-25T08:00:00Z", end = "2026-11-25T12:00:00Z", note = "service visit" },
//!   { start = "2026-11-23T22:00:00Z", duration = "2h", every = "7d", until = "2027-06-01T00:00:00Z" },
//! ]
//! ```
//!
//! `[classes.NAME] available = { hours = "19:00-07:00", days = ["sat", "sun"] }`
//! keeps a class's instruments for off-peak work (`availability.rs`).
//!
//! Times are RFC 3339. Inside a workload (which has a start time) they may
//! also be `+<duration>` offsets from that start.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::availability::closed_windows;
use super::error::{ScheduleError, Source, read};
use super::instrument::{COMPUTE, Instrument, Window};
use super::time::{Span, Timestamp};

/// One instrument as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstrumentDecl {
    #[serde(default)]
    class: Option<Spanned<String>>,
    #[serde(default)]
    capacity: Option<Spanned<i64>>,
    #[serde(default)]
    state: Option<Spanned<String>>,
    #[serde(default)]
    maintenance: Vec<Spanned<WindowDecl>>,
}

/// One maintenance window as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowDecl {
    start: Spanned<String>,
    #[serde(default)]
    end: Option<Spanned<String>>,
    #[serde(default)]
    duration: Option<Spanned<String>>,
    #[serde(default)]
    every: Option<Spanned<String>>,
    #[serde(default)]
    until: Option<Spanned<String>>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    #[serde(default)]
    instruments: BTreeMap<String, Spanned<InstrumentDecl>>,
    #[serde(default)]
    classes: BTreeMap<String, Spanned<ClassDecl>>,
}

/// An instrument class as written: when its instruments may be used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClassDecl {
    available: Spanned<AvailableDecl>,
}

/// Recurring availability (`availability.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailableDecl {
    #[serde(default)]
    hours: Option<String>,
    #[serde(default)]
    days: Vec<String>,
}

/// Closes each class's instruments outside its available hours: weekly
/// windows the scheduler holds work for, as for maintenance.
pub(crate) fn apply_classes(
    src: &Source<'_>,
    classes: &BTreeMap<String, Spanned<ClassDecl>>,
    instruments: &mut [Instrument],
) -> Result<(), ScheduleError> {
    for (name, decl) in classes {
        let available = &decl.get_ref().available;
        let field = format!("classes.{name}.available");
        let a = available.get_ref();
        let windows = closed_windows(a.hours.as_deref(), &a.days)
            .map_err(|e| src.error(Some(available.span()), field.clone(), e))?;
        let mut members = instruments
            .iter_mut()
            .filter(|i| &i.class == name)
            .peekable();
        if members.peek().is_none() {
            return Err(src.error(
                Some(decl.span()),
                field,
                format!("no instrument has class `{name}`"),
            ));
        }
        for i in members {
            i.maintenance.extend(windows.iter().cloned());
        }
    }
    Ok(())
}

/// Reads an instruments calendar.
pub fn load_calendar(path: &Path) -> Result<Vec<Instrument>, ScheduleError> {
    let text = read(path)?;
    parse_calendar(path, &text, None)
}

/// Parses an instruments calendar; `origin` allows `+<duration>` times.
pub fn parse_calendar(
    path: &Path,
    text: &str,
    origin: Option<Timestamp>,
) -> Result<Vec<Instrument>, ScheduleError> {
    let src = Source { file: path, text };
    let file: CalendarFile = src.parse()?;
    let mut out = instruments(&src, &file.instruments, origin)?;
    apply_classes(&src, &file.classes, &mut out)?;
    Ok(out)
}

/// Checks declared instruments, in name order.
pub(crate) fn instruments(
    src: &Source<'_>,
    decls: &BTreeMap<String, Spanned<InstrumentDecl>>,
    origin: Option<Timestamp>,
) -> Result<Vec<Instrument>, ScheduleError> {
    let mut out = Vec::new();
    for (name, decl) in decls {
        let field = |f: &str| format!("instruments.{name}.{f}");
        let d = decl.get_ref();
        if name.trim().is_empty() {
            return Err(src.error(Some(decl.span()), "instruments", "empty instrument name"));
        }
        let class = match &d.class {
            Some(c) if c.get_ref().trim().is_empty() => {
                return Err(src.error(Some(c.span()), field("class"), "empty class"));
            }
            Some(c) => c.get_ref().clone(),
            None => COMPUTE.to_owned(),
        };
        let capacity = match &d.capacity {
            None => 1,
            Some(c) => u32::try_from(*c.get_ref())
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    src.error(
                        Some(c.span()),
                        field("capacity"),
                        format!("capacity {} is not a whole number ≥ 1", c.get_ref()),
                    )
                })?,
        };
        let state = match &d.state {
            None => Default::default(),
            Some(s) => s
                .get_ref()
                .parse()
                .map_err(|e| src.error(Some(s.span()), field("state"), e))?,
        };
        let mut maintenance = Vec::new();
        for (i, w) in d.maintenance.iter().enumerate() {
            let field = |f: &str| format!("instruments.{name}.maintenance[{i}].{f}");
            maintenance.push(window(src, w, origin, &field)?);
        }
        out.push(Instrument {
            name: name.clone(),
            class,
            capacity,
            state,
            maintenance,
        });
    }
    Ok(out)
}

fn window(
    src: &Source<'_>,
    w: &Spanned<WindowDecl>,
    origin: Option<Timestamp>,
    field: &dyn Fn(&str) -> String,
) -> Result<Window, ScheduleError> {
    let d = w.get_ref();
    let time = |v: &Spanned<String>, f: &str| {
        Timestamp::parse_relative(v.get_ref(), origin)
            .map_err(|e| src.error(Some(v.span()), field(f), e))
    };
    let span = |v: &Spanned<String>, f: &str| {
        Span::parse(v.get_ref()).map_err(|e| src.error(Some(v.span()), field(f), e))
    };
    let start = time(&d.start, "start")?;
    let end = match (&d.end, &d.duration) {
        (Some(e), None) => time(e, "end")?,
        (None, Some(l)) => start + span(l, "duration")?,
        _ => {
            return Err(src.error(
                Some(w.span()),
                field("end"),
                "give exactly one of `end` and `duration`",
            ));
        }
    };
    if end <= start {
        return Err(src.error(
            Some(w.span()),
            field("end"),
            "the window ends before it starts",
        ));
    }
    let every = d.every.as_ref().map(|e| span(e, "every")).transpose()?;
    if let (Some(e), Some(every)) = (&d.every, every)
        && every < end - start
    {
        return Err(src.error(
            Some(e.span()),
            field("every"),
            "repeats more often than the window lasts",
        ));
    }
    let until = d.until.as_ref().map(|u| time(u, "until")).transpose()?;
    Ok(Window {
        start,
        end,
        every,
        until,
        note: d.note.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::instrument::InstrumentState;

    #[test]
    fn reads_a_calendar() {
        let text = r#"
[instruments.seq-1]
class = "sequencer"
maintenance = [{ start = "2026-11-25T08:00:00Z", duration = "4h", every = "7d" }]

[instruments.node]
capacity = 4
state = "draining"
"#;
        let list = parse_calendar(Path::new("i.toml"), text, None).unwrap();
        assert_eq!(list[0].name, "node");
        assert_eq!(list[0].class, COMPUTE);
        assert_eq!(list[0].state, InstrumentState::Draining);
        assert_eq!(
            list[1].maintenance[0].every,
            Some(Span::DAY.saturating_mul(7))
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let text = "[instruments.seq-1]\nclass = \"sequencer\"\ncapacity = 0\n";
        let e = parse_calendar(Path::new("i.toml"), text, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "i.toml:3:12: instruments.seq-1.capacity: capacity 0 is not a whole number ≥ 1"
        );
        let text =
            "[instruments.seq-1]\nmaintenance = [{ start = \"tomorrow\", duration = \"1h\" }]\n";
        let e = parse_calendar(Path::new("i.toml"), text, None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("i.toml:2:26: instruments.seq-1.maintenance[0].start: `tomorrow`"),
            "{e}"
        );
        let e =
            parse_calendar(Path::new("i.toml"), "[instruments.a]\ncolour = 1\n", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("i.toml:2:1: colour: unknown field"),
            "{e}"
        );
        let text = "[instruments.a]\nclass = \"prep\"\n\n\
                    [classes.heavy]\navailable = { hours = \"19:00-07:00\" }\n";
        let e = parse_calendar(Path::new("i.toml"), text, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("classes.heavy.available: no instrument has class `heavy`"),
            "{e}"
        );
    }

    #[test]
    fn every_invalid_instrument_and_window_is_named() {
        let window = |w: &str| format!("[instruments.seq-1]\nmaintenance = [{{ {w} }}]\n");
        let start = "start = \"2026-11-25T08:00:00Z\"";
        for (text, field, message) in [
            (
                "[instruments.\" \"]\n".to_owned(),
                "instruments",
                "empty instrument name",
            ),
            (
                "[instruments.a]\nclass = \" \"\n".to_owned(),
                "instruments.a.class",
                "empty class",
            ),
            (
                "[instruments.a]\nstate = \"broken\"\n".to_owned(),
                "instruments.a.state",
                "broken",
            ),
            (
                window(start),
                "instruments.seq-1.maintenance[0].end",
                "give exactly one of `end` and `duration`",
            ),
            (
                window(&format!(
                    "{start}, end = \"2026-11-25T09:00:00Z\", duration = \"1h\""
                )),
                "instruments.seq-1.maintenance[0].end",
                "give exactly one of `end` and `duration`",
            ),
            (
                window(&format!("{start}, end = \"2026-11-25T08:00:00Z\"")),
                "instruments.seq-1.maintenance[0].end",
                "the window ends before it starts",
            ),
            (
                window(&format!("{start}, end = \"later\"")),
                "instruments.seq-1.maintenance[0].end",
                "`later`",
            ),
            (
                window(&format!("{start}, duration = \"ever\"")),
                "instruments.seq-1.maintenance[0].duration",
                "`ever`",
            ),
            (
                window(&format!("{start}, duration = \"4h\", every = \"2h\"")),
                "instruments.seq-1.maintenance[0].every",
                "repeats more often than the window lasts",
            ),
            (
                window(&format!("{start}, duration = \"4h\", every = \"often\"")),
                "instruments.seq-1.maintenance[0].every",
                "`often`",
            ),
            (
                window(&format!(
                    "{start}, duration = \"4h\", every = \"7d\", until = \"never\""
                )),
                "instruments.seq-1.maintenance[0].until",
                "`never`",
            ),
            (
                window("start = \"+2h\", duration = \"1h\""),
                "instruments.seq-1.maintenance[0].start",
                "is relative, but there is no start time here",
            ),
        ] {
            let e = parse_calendar(Path::new("i.toml"), &text, None)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("i.toml:"), "{text}\n{e}");
            assert!(e.contains(&format!(": {field}: ")), "{text}\n{e}");
            assert!(e.contains(message), "{text}\n{e}");
        }
        // With an origin (inside a workload) `+<duration>` times are offsets from it.
        let origin = Timestamp::parse_rfc3339("2026-11-25T00:00:00Z").unwrap();
        let text = window("start = \"+2h\", end = \"+3h\", until = \"+30d\", note = \"n\"");
        let list = parse_calendar(Path::new("i.toml"), &text, Some(origin)).unwrap();
        let w = &list[0].maintenance[0];
        assert_eq!(
            (w.start, w.end),
            (
                origin + Span::HOUR.saturating_mul(2),
                origin + Span::HOUR.saturating_mul(3)
            )
        );
        assert_eq!(w.until, Some(origin + Span::DAY.saturating_mul(30)));
        assert_eq!(w.note, "n");
        let e = load_calendar(Path::new("/nonexistent/i.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("reading /nonexistent/i.toml: "),
            "{e}"
        );
    }
}
