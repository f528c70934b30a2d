//! Stages that will not run, and why: recorded as skipped, and taken out of the scheduler.
use std::collections::{HashMap, HashSet};

use super::*;
use crate::dispatcher::Dispatcher;
use crate::pipeline::plan::{Plan, PlanStage};
use crate::pipeline::record::{CacheUse, RunInput, RunStage, StageStatus};
use crate::schedule::TaskState;

/// Whether stages downstream of a salvaged `stage` run on its partial outputs.
pub(super) fn continues(plan: &Plan, stage: &str) -> bool {
    plan.stages
        .iter()
        .any(|s| s.id == stage && s.policy.run_downstream_of_salvage)
}

/// Records stages that will not run.
pub(super) struct Skips<'a> {
    pub(super) options: &'a RunOptions,
    pub(super) plan: &'a Plan,
    pub(super) inputs: &'a [RunInput],
    pub(super) dispatcher: &'a Dispatcher,
    /// Sample id → its id in the scheduler.
    pub(super) sample_keys: &'a HashMap<String, String>,
}

impl Skips<'_> {
    pub(super) fn record(&self, skipped: &RunStage) {
        self.options.emit(RunEvent::Ended(skipped));
    }

    /// After a stage of `sample` failed for good: records every stage the
    /// scheduler skipped because of it (in the plan's topological order, so
    /// each names the upstream stage that stopped it).
    pub(super) fn after_failure(
        &self,
        sample: &str,
        results: &mut HashMap<(String, String), RunStage>,
    ) {
        let key = self.sample_keys.get(sample).map_or(sample, String::as_str);
        let skipped: HashSet<String> = self.dispatcher.with(|scheduler| {
            scheduler
                .sample_tasks(key)
                .into_iter()
                .filter_map(|id| scheduler.task(id))
                .filter(|task| task.state == TaskState::Skipped)
                .map(|task| task.stage.clone())
                .collect()
        });
        for stage in self.plan.stages.iter().filter(|s| skipped.contains(&s.id)) {
            let key = (sample.to_owned(), stage.id.clone());
            if results.contains_key(&key) {
                continue;
            }
            let (_, blocked) = wiring(self.plan, stage, sample, results, self.inputs);
            let reason = blocked.unwrap_or_else(|| "an upstream stage failed".into());
            let skipped = skipped_stage(sample, stage, reason);
            self.record(&skipped);
            results.insert(key, skipped);
        }
    }
}

pub(super) fn skipped_stage(sample: &str, stage: &PlanStage, reason: String) -> RunStage {
    RunStage {
        sample: sample.to_owned(),
        stage: stage.id.clone(),
        name: stage.manifest.name.clone(),
        version: stage.manifest.version.clone(),
        module_sha256: stage.module.digest,
        params_sha256: stage.params.digest(),
        status: StageStatus::Skipped,
        cache: CacheUse::None,
        cache_key: None,
        record_id: None,
        record_sha256: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
        fuel_used: 0,
        instrument: None,
        attempts: Vec::new(),
        preemptions: Vec::new(),
        reason: Some(reason),
    }
}
