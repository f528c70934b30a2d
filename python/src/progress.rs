//! What a run shows and how it stops from Python: a tqdm-style bar of
//! (sample, stage) pairs on a terminal's stderr, and Ctrl-C turned into the
//! run's interrupt.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use petri_host::pipeline::{EventCallback, Plan, RunEvent};
use pyo3::prelude::*;
use tokio_util::sync::CancellationToken;

/// How often a running pipeline looks for a pending Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// A progress bar over every (sample, stage) of `plan`, when stderr is a terminal.
pub fn bar(plan: &Plan) -> Option<EventCallback> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let total = (plan.stages.len() * plan.samples.len()) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} stages [{elapsed}<{eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(Arc::new(move |event: RunEvent<'_>| {
        if let RunEvent::Ended(s) = event {
            bar.inc(1);
            bar.set_message(format!("{}/{} {}", s.sample, s.stage, s.status));
            if bar.position() >= total {
                bar.finish_and_clear();
            }
        }
    }))
}

/// Awaits `run` while checking for Python signals (the GIL is not held while
/// a run goes on, so Python's own Ctrl-C handler only sets a flag): on one,
/// cancels `interrupt` and still awaits the run, which stops cleanly. Returns
/// the run's result and the signal's exception, if one arrived.
pub async fn until_interrupted<T>(
    run: impl Future<Output = T>,
    interrupt: CancellationToken,
) -> (T, Option<PyErr>) {
    let mut run = std::pin::pin!(run);
    let mut signal = None;
    loop {
        tokio::select! {
            result = &mut run => return (result, signal),
            () = tokio::time::sleep(SIGNAL_POLL), if signal.is_none() => {
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    signal = Some(e);
                    interrupt.cancel();
                }
            }
        }
    }
}
