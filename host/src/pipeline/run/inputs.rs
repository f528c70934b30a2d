//! A run's inputs: ingesting sample files into the blob store, and wiring each stage to its inputs.
use std::collections::HashMap;
use std::sync::Arc;

use super::skips::continues;
use crate::error::{Error, Problem};
use crate::pipeline::plan::{Plan, PlanStage, Wire};
use crate::pipeline::record::{RunInput, RunStage, StageStatus};
use crate::pipeline::samples::Sample;
use crate::stage::petri::Petri;
use crate::store::digest::Digest;

pub(super) async fn ingest_inputs(
    petri: &Arc<Petri>,
    plan: &Plan,
    samples: &[&Sample],
) -> Result<Vec<RunInput>, Error> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for sample in samples {
        for input in &plan.inputs {
            let Some(path) = sample.inputs.get(&input.name).cloned() else {
                continue;
            };
            let (sha256, size) = match plan.files.digest(&path) {
                // An uploaded file is a blob already: its bytes are checked
                // against this digest as they stream into the stage.
                Some(d) => (d, petri.blobs().size_of(&d)?),
                None => {
                    let p = petri.clone();
                    let path2 = path.clone();
                    tokio::task::spawn_blocking(move || p.blobs().in_memory().put_file(&path2))
                        .await
                        .map_err(|e| Error::State(e.to_string()))??
                }
            };
            if let Some(expected) = input.sha256
                && expected != sha256
                && input.path.as_ref() == Some(&path)
            {
                problems.push(Problem {
                    field: format!("input `{}`", input.name),
                    problem: format!(
                        "{}: sha256 is {sha256}, the pipeline expects {expected}",
                        path.display()
                    ),
                });
            }
            out.push(RunInput {
                sample: sample.id.clone(),
                name: input.name.clone(),
                path: path.display().to_string(),
                sha256,
                size,
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Request(problems))
    }
}

/// A stage's inputs as (port, digest, source), or why it cannot run: a missing
/// sample input, or an upstream stage that did not succeed (or did not run).
pub(super) fn wiring(
    plan: &Plan,
    stage: &PlanStage,
    sample: &str,
    results: &HashMap<(String, String), RunStage>,
    inputs: &[RunInput],
) -> (Vec<(String, Digest, String)>, Option<String>) {
    let mut wired = Vec::new();
    let mut blocked = None;
    let mut waiting = None;
    for (port, wire) in &stage.inputs {
        match wire {
            Wire::Input { name } => match inputs
                .iter()
                .find(|i| i.sample == sample && &i.name == name)
            {
                Some(i) => wired.push((port.clone(), i.sha256, format!("inputs.{name}"))),
                None => blocked = Some(format!("sample has no file for input `{name}`")),
            },
            Wire::Stage {
                stage: up,
                port: out,
            } => match results.get(&(sample.to_owned(), up.clone())) {
                None => waiting = Some(format!("upstream stage `{up}` did not run")),
                Some(r)
                    if r.status != StageStatus::Succeeded
                        && !(r.status == StageStatus::Salvaged && continues(plan, up)) =>
                {
                    blocked = Some(format!("upstream stage `{up}` {}", r.status))
                }
                Some(r) => match r.outputs.iter().find(|o| &o.port == out) {
                    Some(o) => wired.push((port.clone(), o.sha256, format!("{up}.{out}"))),
                    None => blocked = Some(format!("upstream stage `{up}` produced no `{out}`")),
                },
            },
        }
    }
    (wired, blocked.or(waiting))
}
