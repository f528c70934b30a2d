//! The plugin author's side of petri: a new stage crate or Python package
//! from templates (`scaffold`), building it (`build`, `python`), and its
//! golden cases run through the real sandbox (`golden`). `petri plugin new |
//! test` is glue over these.

pub mod build;
pub mod golden;
pub mod python;
pub mod scaffold;
