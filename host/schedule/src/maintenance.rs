//! Maintenance proposals: slots in the natural gaps of a forecast schedule.
//!
//! A gap is a stretch in which an instrument runs nothing and is neither in
//! maintenance nor down. A proposal is the start of the earliest gaps that
//! can hold the requested duration, so the slot costs no planned work.

use std::collections::BTreeMap;

use serde::Serialize;

use super::instrument::Instrument;
use super::time::{Span, Timestamp};

/// What a schedule is predicted to look like: busy and unavailable intervals per instrument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Forecast {
    /// Instrument → intervals in which it runs something (they may overlap).
    pub busy: BTreeMap<String, Vec<(Timestamp, Timestamp)>>,
    /// Instrument → intervals in which it is down or draining.
    pub unavailable: BTreeMap<String, Vec<(Timestamp, Timestamp)>>,
}

/// A proposed maintenance slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub instrument: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The idle gap the slot sits in.
    pub gap_start: Timestamp,
    pub gap_end: Timestamp,
}

/// The idle gaps of `instrument` within `[from, to)`, in order.
pub fn idle_gaps(
    instrument: &Instrument,
    forecast: &Forecast,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    let mut taken: Vec<(Timestamp, Timestamp)> = instrument.windows_between(from, to);
    for map in [&forecast.busy, &forecast.unavailable] {
        taken.extend(map.get(&instrument.name).into_iter().flatten().copied());
    }
    taken.sort();
    let mut gaps = Vec::new();
    let mut t = from;
    for (s, e) in taken {
        if s > t {
            gaps.push((t, s.min(to)));
        }
        t = t.max(e);
        if t >= to {
            break;
        }
    }
    if t < to {
        gaps.push((t, to));
    }
    gaps.retain(|(s, e)| s < e);
    gaps
}

/// Up to `per_instrument` slots of `duration` per instrument in `[from, to)`,
/// each at the start of the earliest idle gaps long enough to hold it.
/// Instruments that are down get none (their repair is the maintenance).
pub fn propose_maintenance(
    instruments: &[Instrument],
    forecast: &Forecast,
    from: Timestamp,
    to: Timestamp,
    duration: Span,
    per_instrument: usize,
) -> Vec<Slot> {
    let mut out = Vec::new();
    for inst in instruments {
        if inst.state == super::instrument::InstrumentState::Down {
            continue;
        }
        out.extend(
            idle_gaps(inst, forecast, from, to)
                .into_iter()
                .filter(|(s, e)| *e - *s >= duration)
                .take(per_instrument)
                .map(|(s, e)| Slot {
                    instrument: inst.name.clone(),
                    start: s,
                    end: s + duration,
                    gap_start: s,
                    gap_end: e,
                }),
        );
    }
    out
}

/// How many disjoint slots of `duration` fit in the gaps.
pub(crate) fn slot_count(gaps: &[(Timestamp, Timestamp)], duration: Span) -> usize {
    if duration.0 <= 0 {
        return 0;
    }
    gaps.iter()
        .map(|(s, e)| usize::try_from((*e - *s).0 / duration.0).unwrap_or(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::{Instrument, InstrumentState};

    #[test]
    fn a_down_instrument_gets_no_slot_and_an_empty_duration_fits_none() {
        let t = |h: i64| Timestamp(0) + Span::HOUR.saturating_mul(h);
        let up = Instrument::new("a", "sequencer", 1);
        let mut down = Instrument::new("b", "sequencer", 1);
        down.state = InstrumentState::Down;
        let slots = propose_maintenance(
            &[up, down],
            &Forecast::default(),
            t(0),
            t(10),
            Span::HOUR,
            2,
        );
        assert_eq!(slots.len(), 1, "{slots:?}");
        assert_eq!(slots[0].instrument, "a");
        assert_eq!(slot_count(&[(t(0), t(10))], Span(0)), 0);
        assert_eq!(slot_count(&[(t(0), t(10))], Span::HOUR), 10);
    }
}
