//! Promoting a registered name to a candidate module after shadow runs, and rolling it back.
//!
//! A promotion shadows the name's latest executions with the candidate
//! ([`super::shadow`]), keeps the report as a blob, and then moves the name
//! in the registry (`promoted`, with the report's digest) — unless
//! [`Require::Identical`] was asked and any execution differed, or none was
//! found to compare. The move is checked against the module the executions
//! were shadowed for: if the name moved meanwhile, nothing moves. A rollback
//! moves the name back to the module it pointed to before (or to any module
//! in its history), recorded as `rolled-back`.
//!
//! Shadow executions are charged to a group's fuel quota when one is given
//! (the daemon's promoting group): each is granted fuel before it starts and
//! settled to what it used, as a run's stages are; a quota with nothing left
//! stops the promotion before that execution, and nothing moves.

use crate::error::Error;
use crate::store::blobs::CasError;
use crate::store::digest::Digest;
use crate::store::lease::epoch_ms;
use crate::store::quota::{Exhausted, Quota};
use crate::store::registry::{Change, Move, Registration, Registry, RegistryError};
use crate::store::state::StateStore;

use super::shadow::{ShadowError, ShadowReport, ShadowRun, latest_executions, shadow};
use crate::stage::petri::Petri;

/// What a promotion demands of its shadow runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Require {
    /// Report, then move whatever the report says.
    #[default]
    Nothing,
    /// Move only when every shadowed execution was identical (and there was one).
    Identical,
}

/// A promotion to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promote {
    pub name: String,
    pub candidate: Digest,
    /// How many of the latest executions to shadow.
    pub shadow: usize,
    pub require: Require,
}

/// How a promotion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The name points to the candidate now.
    Moved(Registration),
    /// `--require identical` and the report shows a difference (or nothing
    /// to compare): the name did not move.
    Refused,
}

/// A promotion's report and verdict.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub report: ShadowReport,
    /// The report as a blob (also in the registry history when the name moved).
    pub report_sha256: Digest,
    pub verdict: Verdict,
}

/// Why a promotion or rollback could not be made (nothing moved).
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("candidate sha256:{digest}: {source}")]
    Candidate { digest: Digest, source: Error },
    #[error("candidate sha256:{digest} is the stage `{manifest}`, not `{name}`")]
    OtherStage {
        name: String,
        digest: Digest,
        manifest: String,
    },
    #[error("`{name}` already points to sha256:{digest}")]
    AlreadyCurrent { name: String, digest: Digest },
    #[error("`{name}` has no earlier module to roll back to (give one from its history)")]
    NothingToRollBack { name: String },
    #[error("sha256:{digest} was never registered as `{name}` (see `petri plugin history {name}`)")]
    NotInHistory { name: String, digest: Digest },
    #[error("finding the executions to shadow: {0}")]
    Shadow(#[from] ShadowError),
    #[error("storing the shadow report: {0}")]
    Store(#[from] CasError),
    #[error("shadow runs stopped: {0}")]
    Quota(#[from] Exhausted),
}

/// Shadows `p.name`'s latest executions with `p.candidate` (their fuel
/// charged to `quota`, if given), keeps the report, and moves the name
/// unless the requirement refuses it.
pub async fn promote(
    petri: &Petri,
    state: &StateStore,
    registry: &Registry,
    p: &Promote,
    quota: Option<&Quota>,
) -> Result<Promotion, PromoteError> {
    let current = registry
        .resolve(&p.name)
        .await?
        .ok_or_else(|| RegistryError::Unknown(p.name.clone()))?;
    if current.sha256 == p.candidate {
        return Err(PromoteError::AlreadyCurrent {
            name: p.name.clone(),
            digest: p.candidate,
        });
    }
    let candidate_error = |source| PromoteError::Candidate {
        digest: p.candidate,
        source,
    };
    let wasm = petri
        .blobs()
        .read(&p.candidate)
        .map_err(|e| candidate_error(Error::Store(e)))?;
    let candidate = petri.load(&wasm).map_err(candidate_error)?;
    let manifest = petri.describe(&candidate).await.map_err(candidate_error)?;
    if manifest.name != p.name {
        return Err(PromoteError::OtherStage {
            name: p.name.clone(),
            digest: p.candidate,
            manifest: manifest.name,
        });
    }
    let mut executions = Vec::new();
    for old in latest_executions(petri, state, &current.sha256, p.shadow).await? {
        let Some(quota) = quota else {
            executions.push(shadow(petri, state, &candidate, &old, None).await);
            continue;
        };
        let granted = quota
            .grant(old.limits.fuel, epoch_ms(std::time::SystemTime::now()))
            .await
            .map_err(ShadowError::State)??;
        let run = shadow(petri, state, &candidate, &old, Some(granted.fuel)).await;
        quota
            .settle(&granted, charged(&run))
            .await
            .map_err(ShadowError::State)?;
        executions.push(run);
    }
    let identical = !executions.is_empty() && executions.iter().all(|e| e.identical);
    let report = ShadowReport {
        name: p.name.clone(),
        current: current.sha256,
        candidate: p.candidate,
        candidate_version: manifest.version.clone(),
        requested: p.shadow,
        executions,
        identical,
    };
    // Serialising plain data (strings, numbers, digests) cannot fail.
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    let report_sha256 = petri.blobs().put(&json)?;
    let verdict = if p.require == Require::Identical && !identical {
        Verdict::Refused
    } else {
        let moved = registry
            .move_name(&Move {
                name: p.name.clone(),
                version: manifest.version,
                from: current.sha256,
                to: p.candidate,
                kind: Change::Promoted,
                report: Some(report_sha256),
            })
            .await?;
        Verdict::Moved(moved)
    };
    Ok(Promotion {
        report,
        report_sha256,
        verdict,
    })
}

/// The fuel a shadow execution is charged: what it used (none when it
/// failed before running).
fn charged(run: &ShadowRun) -> u64 {
    run.fuel.candidate.unwrap_or(0)
}

/// Moves `name` back to the module it pointed to before the current one, or
/// to `to` (a module in its history). Returns the module it moved from and
/// the new registration.
pub async fn rollback(
    registry: &Registry,
    name: &str,
    to: Option<Digest>,
) -> Result<(Digest, Registration), PromoteError> {
    let named = registry
        .history(name)
        .await?
        .ok_or_else(|| RegistryError::Unknown(name.to_owned()))?;
    let target = match to {
        Some(digest) => named
            .history
            .iter()
            .rev()
            .find(|r| r.sha256 == digest)
            .ok_or_else(|| PromoteError::NotInHistory {
                name: name.to_owned(),
                digest,
            })?,
        None => previous(&named.history).ok_or_else(|| PromoteError::NothingToRollBack {
            name: name.to_owned(),
        })?,
    };
    let from = named.entry.sha256;
    if target.sha256 == from {
        return Err(PromoteError::AlreadyCurrent {
            name: name.to_owned(),
            digest: from,
        });
    }
    let moved = registry
        .move_name(&Move {
            name: name.to_owned(),
            version: target.version.clone(),
            from,
            to: target.sha256,
            kind: Change::RolledBack,
            report: None,
        })
        .await?;
    Ok((from, moved))
}

/// The module a name pointed to before its current one, undoing rollbacks:
/// the history read as a stack, where a registration or promotion pushes
/// (unless it is already on top) and a rollback pops back to its module
/// (or pushes it when it had been popped before).
pub fn previous(history: &[Registration]) -> Option<&Registration> {
    let mut stack: Vec<&Registration> = Vec::new();
    for r in history {
        let on_stack = stack.iter().rposition(|t| t.sha256 == r.sha256);
        match (r.kind, on_stack) {
            (Change::RolledBack, Some(i)) => stack.truncate(i + 1),
            _ if stack.last().is_some_and(|t| t.sha256 == r.sha256) => {}
            _ => stack.push(r),
        }
    }
    stack
        .len()
        .checked_sub(2)
        .and_then(|i| stack.get(i).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, kind: Change) -> Registration {
        Registration {
            version: format!("0.{n}"),
            sha256: Digest::of(&[n]),
            added_at: String::new(),
            forced: false,
            kind,
            report: None,
        }
    }

    fn previous_of(history: &[(u8, Change)]) -> Option<u8> {
        let h: Vec<Registration> = history.iter().map(|&(n, k)| entry(n, k)).collect();
        previous(&h)
            .map(|r| r.sha256)
            .map(|d| (0..=9).find(|&n| Digest::of(&[n]) == d).unwrap_or(u8::MAX))
    }

    #[test]
    fn rollbacks_walk_back_instead_of_toggling() {
        use Change::*;
        assert_eq!(previous_of(&[(1, Registered)]), None);
        assert_eq!(previous_of(&[(1, Registered), (2, Promoted)]), Some(1));
        let three = [(1, Registered), (2, Registered), (3, Promoted)];
        assert_eq!(previous_of(&three), Some(2));
        let back = [
            (1, Registered),
            (2, Registered),
            (3, Promoted),
            (2, RolledBack),
        ];
        assert_eq!(previous_of(&back), Some(1));
        // Back to the first, then `--to` a module popped before: it is pushed again.
        let jump = [
            (1, Registered),
            (2, Promoted),
            (1, RolledBack),
            (2, RolledBack),
        ];
        assert_eq!(previous_of(&jump), Some(1));
        assert_eq!(
            previous_of(&[(1, Registered), (2, Promoted), (1, RolledBack)]),
            None
        );
    }
}
