//! The instruments a pipeline run schedules onto: a calendar's, or one per class the plan names.

use crate::error::{Error, Problem};
use crate::schedule::{COMPUTE, Instrument};

use super::plan::Plan;

/// The instruments for running `plan` with `slots` worker slots.
///
/// With a calendar, its instruments (the scheduler adds a `compute`
/// instrument with `slots` places if the calendar has none); every class a
/// stage needs must be provided, else the run is refused before it starts.
/// Without one, every class the plan names is a single instrument of that
/// name with `slots` places, always up.
pub fn plan_instruments(
    plan: &Plan,
    calendar: Option<&[Instrument]>,
    slots: u32,
) -> Result<Vec<Instrument>, Error> {
    let Some(calendar) = calendar else {
        let mut classes: Vec<&str> = plan.stages.iter().map(|s| s.instrument.as_str()).collect();
        classes.sort_unstable();
        classes.dedup();
        return Ok(classes
            .into_iter()
            .map(|class| Instrument::new(class, class, slots.max(1)))
            .collect());
    };
    let problems: Vec<Problem> = plan
        .stages
        .iter()
        .filter(|s| s.instrument != COMPUTE && !calendar.iter().any(|i| i.class == s.instrument))
        .map(|s| Problem {
            field: format!("stage `{}`", s.id),
            problem: format!(
                "needs instrument class `{}`, which no instrument in the calendar provides",
                s.instrument
            ),
        })
        .collect();
    if problems.is_empty() {
        Ok(calendar.to_vec())
    } else {
        Err(Error::Request(problems))
    }
}
