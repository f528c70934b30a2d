//! A failed stage's `recover` hook, asked as stage code: its own failures fail only that stage.

use crate::error::Error;
use crate::pipeline::plan::PlanStage;
use crate::stage::bindings::Decision;
use crate::stage::failure::Failure;
use crate::stage::params::{ParamSet, RawParam};
use crate::stage::petri::Petri;

/// `params` with a `retry-with` proposal's changes applied.
pub(super) fn with_changes(
    params: &[(String, RawParam)],
    changed: &[crate::stage::bindings::Param],
) -> Vec<(String, RawParam)> {
    let mut out = params.to_vec();
    for p in changed {
        let value = crate::stage::params::value_to_json(&p.value);
        out.retain(|(n, _)| n != &p.name);
        out.push((p.name.clone(), RawParam::Json(value)));
    }
    out
}

/// The stage's `recover` proposal. The hook is stage code: one that traps,
/// runs out of fuel or memory, or proposes `retry-with` params its own
/// manifest rejects gives `Err(Failure::Hook)`, which fails this stage only.
pub(super) async fn ask_recover(
    petri: &Petri,
    stage: &PlanStage,
    error: &crate::stage::bindings::StageError,
    attempt: u32,
    params: &[(String, RawParam)],
) -> Result<Result<Decision, Failure>, Error> {
    let hook = |message: String| Failure::Hook {
        hook: "recover".into(),
        message,
    };
    let decision = match petri.recover(&stage.module, error, attempt).await {
        Ok(d) => d,
        Err(Error::Recover(f)) => return Ok(Err(hook(f.to_string()))),
        Err(Error::Instantiate(e)) => return Ok(Err(hook(format!("instantiating: {e:#}")))),
        Err(e) => return Err(e),
    };
    if let Decision::RetryWith(changed) = &decision
        && let Err(problems) =
            ParamSet::resolve(&stage.manifest.params, &with_changes(params, changed))
    {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Ok(Err(hook(format!(
            "retry-with proposes invalid params: {}",
            list.join("; ")
        ))));
    }
    Ok(Ok(decision))
}
