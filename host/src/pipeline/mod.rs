//! Pipelines: a declarative TOML file, checked whole before anything runs.

mod diagnostic;
mod file;
mod plan;
mod sniff;
mod validate;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use plan::{DecisionKind, Plan, PlanInput, PlanStage, Policy, Wire};
pub use validate::validate;
