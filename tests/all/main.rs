//! petri's integration tests: one binary, hermetic (temp data dirs).

mod cache;
mod hostile;
mod plugins;
mod qc;
mod streaming;
