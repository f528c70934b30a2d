//! petri's integration tests: one binary, hermetic (temp data dirs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod bundle;
mod cache;
mod fuzz;
mod genomics;
mod governance;
mod hostile;
mod pipeline;
mod plugins;
#[path = "../support/postgres.rs"]
mod postgres;
mod promote;
mod publish;
mod python_stage;
mod qc;
mod report;
mod results;
mod schedule;
mod server;
mod store;
mod streaming;
mod trust;
mod verify;
