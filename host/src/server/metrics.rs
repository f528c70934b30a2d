//! Prometheus metrics: runs by status and queue depth (read from the store at each scrape),
//! the scheduler's queue and instruments (read at each scrape), stage durations, fuel, cache
//! hits, preemptions, trigger and notification deliveries (recorded as they happen),
//! rate-limited requests. Per-group series are rendered only for an admin's scrape.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::dispatcher::Dispatcher;
use crate::pipeline::RunStage;
use crate::schedule::InstrumentState;
use crate::server::views::RunStatus;
use crate::store::daemon::ServerStore;
use crate::store::state::StateError;

/// The process-wide recorder (one per process, whatever the number of daemons in it).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// A handle on the recorder, to render the exposition text.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl Metrics {
    /// Installs the recorder once per process; later calls share it. If
    /// another recorder is installed, metrics are rendered empty.
    pub fn install() -> Metrics {
        let handle = HANDLE.get_or_init(|| {
            let buckets = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("petri_stage_duration_seconds".into()),
                    &buckets,
                )
                .ok()?
                .install_recorder()
                .ok()
        });
        Metrics {
            handle: handle.clone(),
        }
    }

    /// The exposition text, with the run gauges refreshed from the store and
    /// the scheduler gauges from the dispatcher.
    pub async fn render(
        &self,
        store: &ServerStore,
        dispatcher: &Dispatcher,
    ) -> Result<String, StateError> {
        dispatcher.with(|s| {
            metrics::gauge!("petri_scheduler_queued_tasks").set(s.queued() as f64);
            metrics::gauge!("petri_scheduler_running_tasks").set(s.running() as f64);
            for inst in s.instruments() {
                let name = inst.name.clone();
                let running = s.running_on(&inst.name).len() as f64;
                metrics::gauge!("petri_instrument_running", "instrument" => name.clone())
                    .set(running);
                metrics::gauge!("petri_instrument_capacity", "instrument" => name.clone())
                    .set(f64::from(inst.capacity));
                let up = if inst.state == InstrumentState::Up {
                    1.0
                } else {
                    0.0
                };
                metrics::gauge!("petri_instrument_up", "instrument" => name).set(up);
            }
        });
        let counts = store.count_by_status().await?;
        // Every status is reported, even when no run has it.
        for status in RunStatus::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("petri_runs", "status" => status.as_str()).set(n as f64);
            if status == RunStatus::Pending {
                metrics::gauge!("petri_queue_depth").set(n as f64);
            }
        }
        Ok(self
            .handle
            .as_ref()
            .map(|h| {
                h.run_upkeep();
                h.render()
            })
            .unwrap_or_default())
    }
}

impl Metrics {
    /// Per-group series, for an admin's scrape only (kept out of the
    /// process-wide recorder so an anonymous scrape never shows them):
    /// `petri_group_runs{group,status}`.
    pub async fn render_groups(&self, store: &ServerStore) -> Result<String, StateError> {
        let mut text = String::from(
            "# HELP petri_group_runs Runs by research group and status.\n# TYPE petri_group_runs gauge\n",
        );
        for (group, status, n) in store.count_by_group().await? {
            // Group names are letters, digits, `-`, `_` and `.` (auth::valid_group): no escaping.
            text.push_str(&format!(
                "petri_group_runs{{group=\"{group}\",status=\"{status}\"}} {n}\n"
            ));
        }
        Ok(text)
    }
}

/// Counts a delivery to a configured trigger by what became of it
/// (`accepted`, `replayed`, `refused`, `unauthorized`).
pub fn trigger_delivery(trigger: &str, outcome: &'static str) {
    metrics::counter!("petri_trigger_deliveries_total", "trigger" => trigger.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Counts an attempt at a notification by what became of it (`delivered`,
/// `retried`, `failed`: for good).
pub fn notification_delivery(outcome: &'static str) {
    metrics::counter!("petri_notification_deliveries_total", "outcome" => outcome).increment(1);
}

/// Counts a stage stopped and re-queued because of its instrument.
pub fn stage_preempted(instrument: &str) {
    metrics::counter!("petri_stage_preemptions_total", "instrument" => instrument.to_owned())
        .increment(1);
}

/// Records one ended stage: its duration, fuel and cache outcome.
pub fn stage_ended(stage: &RunStage, seconds: Option<f64>) {
    let name = stage.name.clone();
    metrics::counter!("petri_stages_total", "status" => stage.status.as_str()).increment(1);
    metrics::counter!("petri_stage_cache_total", "result" => stage.cache.as_str()).increment(1);
    metrics::counter!("petri_stage_fuel_total", "stage" => name.clone()).increment(stage.fuel_used);
    if let Some(s) = seconds {
        metrics::histogram!("petri_stage_duration_seconds", "stage" => name).record(s);
    }
}
