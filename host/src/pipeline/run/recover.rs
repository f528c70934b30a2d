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
/// runs out of fuel or memory, proposes `retry-with` params its own manifest
/// rejects, or cannot even be set up gives a [`Failure::Hook`], which fails
/// this stage only (never the run: the type has no host error to return).
pub(super) async fn ask_recover(
    petri: &Petri,
    stage: &PlanStage,
    error: &crate::stage::bindings::StageError,
    attempt: u32,
    params: &[(String, RawParam)],
) -> Result<Decision, Failure> {
    let decision = petri
        .recover(&stage.module, error, attempt)
        .await
        .map_err(hook_failure)?;
    if let Decision::RetryWith(changed) = &decision
        && let Err(problems) =
            ParamSet::resolve(&stage.manifest.params, &with_changes(params, changed))
    {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(hook(format!(
            "retry-with proposes invalid params: {}",
            list.join("; ")
        )));
    }
    Ok(decision)
}

/// A `recover` hook's failure as the stage's, whatever failed: the hook's own
/// call (a trap, fuel, memory) or setting up its instance (which instantiated
/// moments before for `run`, so this is a host fault in practice).
fn hook_failure(e: Error) -> Failure {
    match e {
        Error::Recover(failure) => hook(failure.to_string()),
        other => hook(other.to_string()),
    }
}

fn hook(message: String) -> Failure {
    Failure::Hook {
        hook: "recover".into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_of_the_hook_is_the_stages_hook_failure() {
        let trap = Failure::Trap {
            message: "unreachable".into(),
        };
        let cases = [
            (Error::Recover(trap.clone()), trap.to_string()),
            (
                Error::Instantiate(wasmtime::Error::msg("out of fuel")),
                "the component cannot be instantiated by petri: out of fuel".into(),
            ),
        ];
        for (error, message) in cases {
            let expected = Failure::Hook {
                hook: "recover".into(),
                message,
            };
            assert_eq!(hook_failure(error), expected);
        }
    }
}
