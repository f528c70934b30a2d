//! The scheduler: which stage of which sample runs on which instrument, and when.
//!
//! A pure, clock-agnostic core (time is passed in as a [`Timestamp`]) shared
//! by the executor and by `petri simulate`, which drives it with a virtual
//! clock. The model, the file formats and the commands are described in
//! `docs/scheduler.md`.
//!
//! - [`Scheduler`]: tasks, the ready queue, dispatch, re-queue on failure.
//! - [`Policy`]: petri (urgent, then slack, with aging), FIFO, priority-without-decay.
//! - [`SampleProfile`]: a sample's deadline and priority.
//! - [`FuelModel`]: predicted durations from per-module fuel history.
//! - [`Instrument`]: classes, capacity, state, maintenance windows;
//!   [`load_calendar`] reads them from TOML; [`closed_windows`] turns a
//!   class's recurring availability (off-peak hours) into weekly windows.
//! - [`Workload`] and [`simulate`]: the discrete-event simulation and its [`Report`].
//! - [`propose_maintenance`]: maintenance slots in the gaps of a forecast.

mod availability;
mod calendar;
mod decay;
mod error;
mod fuel;
mod instrument;
mod maintenance;
mod policy;
mod queue;
mod report;
mod scheduler;
mod simulate;
mod task;
#[cfg(test)]
mod tests;
mod time;
mod workload;

pub use availability::closed_windows;
pub use calendar::{load_calendar, parse_calendar};
pub use decay::{Priority, SampleProfile};
pub use error::{ScheduleError, line_col};
pub use fuel::{
    DEFAULT_FUEL_PER_SECOND, DEFAULT_STAGE_FUEL, FuelModel, MIN_CALIBRATION_RUN, ModuleFuel,
    Observation, Prediction,
};
pub use instrument::{COMPUTE, Instrument, InstrumentState, Window};
pub use maintenance::{Forecast, Slot, idle_gaps, propose_maintenance};
pub use policy::{KeyInput, Policy, Tuning};
pub use report::{InstrumentReport, PolicyReport, Report};
pub use scheduler::{Assignment, Config, SCAN_LIMIT, SampleStatus, Scheduler, Stats};
pub use simulate::{Outcome, simulate, simulate_all};
pub use task::{Task, TaskId, TaskSpec, TaskState};
pub use time::{Span, Timestamp};
pub use workload::{Scenario, ScenarioSample, Workload, load_workload, parse_workload};
