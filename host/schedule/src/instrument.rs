//! Instruments: named resources of a class, with a capacity, a run-time state and maintenance windows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::time::{Span, Timestamp};

/// The class of a stage that declares none: plain compute on this host.
pub const COMPUTE: &str = "compute";

/// Whether an instrument takes work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstrumentState {
    /// Takes new work.
    #[default]
    Up,
    /// Broken or switched off: takes nothing, and what ran on it is re-queued.
    Down,
    /// Finishes what it runs, takes nothing new.
    Draining,
}

impl FromStr for InstrumentState {
    type Err = String;
    fn from_str(s: &str) -> Result<InstrumentState, String> {
        match s {
            "up" => Ok(InstrumentState::Up),
            "down" => Ok(InstrumentState::Down),
            "draining" => Ok(InstrumentState::Draining),
            other => Err(format!("state `{other}` is not one of: up, down, draining")),
        }
    }
}

impl fmt::Display for InstrumentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstrumentState::Up => "up",
            InstrumentState::Down => "down",
            InstrumentState::Draining => "draining",
        })
    }
}

/// A maintenance window `[start, end)`, once or repeating every `every` until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<Span>,
    /// No occurrence starts at or after this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub note: String,
}

impl Window {
    /// A one-off window.
    pub fn once(start: Timestamp, end: Timestamp) -> Window {
        Window {
            start,
            end,
            every: None,
            until: None,
            note: String::new(),
        }
    }

    /// The first occurrence that ends after `t`: the one containing `t`, or the next.
    pub fn next_after(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let len = self.end - self.start;
        let occurrence = match self.every.filter(|e| e.0 > 0) {
            None => (self.start, self.end),
            Some(every) => {
                // Index of the occurrence whose end is the first after t.
                let k = if t < self.end {
                    0
                } else {
                    (t - self.end).0 / every.0 + 1
                };
                let start = self.start + every.saturating_mul(k);
                (start, start + len)
            }
        };
        let within = self.until.is_none_or(|u| occurrence.0 < u) || self.every.is_none();
        (occurrence.1 > t && within).then_some(occurrence)
    }

    /// Every occurrence overlapping `[from, to)`, in order.
    pub fn occurrences(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let mut out = Vec::new();
        let mut t = from;
        while let Some((s, e)) = self.next_after(t) {
            if s >= to {
                break;
            }
            out.push((s, e));
            if self.every.is_none() || e <= t {
                break;
            }
            t = e;
        }
        out
    }
}

/// A named resource work runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub name: String,
    /// What stages ask for (`sequencer`, `gpu`, `compute`…).
    pub class: String,
    /// How many stages it runs at once.
    pub capacity: u32,
    pub state: InstrumentState,
    pub maintenance: Vec<Window>,
}

impl Instrument {
    /// An instrument that is up, with no maintenance.
    pub fn new(name: impl Into<String>, class: impl Into<String>, capacity: u32) -> Instrument {
        Instrument {
            name: name.into(),
            class: class.into(),
            capacity,
            state: InstrumentState::Up,
            maintenance: Vec::new(),
        }
    }

    /// The maintenance window containing `t`, if any.
    pub fn in_maintenance(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        self.next_maintenance(t).filter(|(s, _)| *s <= t)
    }

    /// The earliest maintenance window that ends after `t` (it may contain `t`).
    pub fn next_maintenance(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        self.maintenance
            .iter()
            .filter_map(|w| w.next_after(t))
            .min()
    }

    /// Whether work predicted to take `duration` (if known) may start at `now`:
    /// the instrument is up, not in maintenance, and the work ends before the next window.
    pub fn accepts(&self, now: Timestamp, duration: Option<Span>) -> bool {
        if self.state != InstrumentState::Up {
            return false;
        }
        match self.next_maintenance(now) {
            None => true,
            Some((start, _)) if start <= now => false,
            Some((start, _)) => duration.is_none_or(|d| now + d <= start),
        }
    }

    /// Every maintenance occurrence overlapping `[from, to)`, merged and in order.
    pub fn windows_between(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let mut all: Vec<_> = self
            .maintenance
            .iter()
            .flat_map(|w| w.occurrences(from, to))
            .collect();
        all.sort();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::new();
        for (s, e) in all {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const H: Span = Span::HOUR;

    #[test]
    fn recurring_windows() {
        let w = Window {
            start: Timestamp(0) + H.saturating_mul(10),
            end: Timestamp(0) + H.saturating_mul(12),
            every: Some(Span::DAY),
            until: Some(Timestamp(0) + Span::DAY.saturating_mul(3)),
            note: String::new(),
        };
        let t = |h: i64| Timestamp(0) + H.saturating_mul(h);
        assert_eq!(w.next_after(t(0)), Some((t(10), t(12))));
        assert_eq!(w.next_after(t(11)), Some((t(10), t(12))));
        assert_eq!(w.next_after(t(12)), Some((t(34), t(36))));
        assert_eq!(
            w.next_after(t(60)),
            None,
            "the 4th occurrence is after `until`"
        );
        assert_eq!(w.occurrences(t(0), t(100)).len(), 3);
        let mut i = Instrument::new("seq", "sequencer", 1);
        i.maintenance.push(w);
        assert!(i.accepts(t(0), Some(H.saturating_mul(10))));
        assert!(
            !i.accepts(t(0), Some(H.saturating_mul(11))),
            "would overrun"
        );
        assert!(
            i.accepts(t(0), None),
            "unknown duration: only the window itself blocks"
        );
        assert!(!i.accepts(t(11), None));
        i.state = InstrumentState::Draining;
        assert!(!i.accepts(t(13), None));
    }

    #[test]
    fn one_off_windows_occur_once_and_overlapping_ones_merge() {
        let t = |h: i64| Timestamp(0) + H.saturating_mul(h);
        let once = Window::once(t(2), t(4));
        assert_eq!(once.occurrences(t(0), t(100)), vec![(t(2), t(4))]);
        let mut i = Instrument::new("seq", "sequencer", 1);
        i.maintenance.push(once);
        i.maintenance.push(Window::once(t(3), t(6)));
        i.maintenance.push(Window::once(t(8), t(9)));
        assert_eq!(
            i.windows_between(t(0), t(10)),
            vec![(t(2), t(6)), (t(8), t(9))]
        );
    }
}
