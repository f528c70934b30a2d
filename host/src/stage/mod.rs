//! One stage execution: the engine and its profile, the compiled cache, the sandbox a stage runs
//! in (WASI, streams, log, limits, fuel), the checks on what a stage declares and is given, and
//! the [`Petri`] façade that ties them together.
//!
//! The loop closes here: `petri.rs` builds a `sandbox` whose linker serves `streams` and `log`
//! to the guest through `bindings`, under `limits`, ending in a `failure` or outputs.

pub(crate) mod bindings;
pub(crate) mod compiled;
pub(crate) mod engine;
pub(crate) mod failure;
pub(crate) mod limits;
pub(crate) mod log;
pub(crate) mod manifest;
pub(crate) mod params;
pub(crate) mod petri;
pub(crate) mod sandbox;
pub(crate) mod streams;
