//! Pipelines: a declarative TOML file, checked whole before anything runs.

mod bundle;
mod diagnostic;
mod export;
mod file;
mod files;
mod plan;
mod promote;
mod publish;
mod record;
mod report;
mod results;
mod run;
mod samples;
mod shadow;
mod sniff;
mod sweep;
mod validate;
mod verify;

pub use bundle::{
    BUNDLE_SCHEMA, BundleError, FileEntry, Inputs, Manifest, Opened, SignatureFile, open_bundle,
    write_bundle,
};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use export::{prov_json, ro_crate_metadata, write_ro_crate};
pub use files::{Files, MAX_CLIMB, Uploaded, normalise};
pub use plan::{DecisionKind, Plan, PlanInput, PlanStage, Policy, Texts, Wire};
pub use promote::{
    Promote, PromoteError, Promotion, Require, Verdict, previous, promote, rollback,
};
pub use publish::{
    Layout, MANIFEST, Output, Placement, PublishError, Published, WriteError, outputs,
    publish_from_store, write_new,
};
pub use record::{
    Attempt, CacheUse, Edge, PipelineRef, Preemption, RUN_SCHEMA, RunInput, RunRecord, RunStage,
    SheetRef, StageStatus, load_sealed_run,
};
pub use report::{Direction, ReportError, ReportOptions, escape, html_table, report};
pub use results::{Row, RowStatus, cell, columns, rows};
pub use run::{DEFAULT_SAMPLE, EventCallback, RunEvent, RunOptions, cache_key, run_plan};
pub use samples::Sample;
pub use shadow::{
    FuelDiff, MetricDiff, MetricView, OutputDiff, ShadowError, ShadowReport, ShadowRun,
    latest_executions,
};
pub use sweep::{Combination, MAX_COMBINATIONS};
pub use validate::{Source, validate, validate_source};
pub use verify::{Mismatch, verify_run};
