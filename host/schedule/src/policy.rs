//! Policies: how a ready task's priority key is computed (lower runs first).
//!
//! **petri**: the key is the task's *effective slack*. A task of a sample with
//! deadline `D`, whose remaining predicted work from this stage on is `R`
//! (its tail, see [`super::Task::tail`]), has slack `D − now − R`. While it waits
//! it ages: every second in the queue takes another `α` seconds off its slack.
//! So at time `now`, for a task that became ready at `e`,
//!
//! ```text
//! effective(now) = clamp(D − R − e, −C, C) − (1 + α)(now − e) − tier × S
//! ```
//!
//! where `C` is the slack horizon (slack beyond ±C counts as ±C; a sample
//! without a deadline has slack C), `tier` is 0 normal, 1 urgent, 2 clinical,
//! and `S` is the tier step. Every task's effective slack falls at the same
//! rate `(1 + α)`, so the order never changes with time and the key
//!
//! ```text
//! key = clamp(D − R − e, −C, C) + (1 + α)·e − tier × S
//! ```
//!
//! is computed once, when the task becomes ready: nothing is re-sorted as the
//! clock moves. It changes only when `R` changes (a module's prediction
//! drifts, see [`super::Scheduler`]) or the sample's deadline does.
//!
//! **Starvation bound.** A task `U` that becomes ready at `e_U` is ahead of a
//! waiting task `T` only if `key_U < key_T`. Since slack is clamped to ±C and
//! tiers differ by at most 2S, that needs
//! `(1 + α)(e_U − e_T) < 2C + 2S`: no task that becomes ready more than
//! `W = (2C + 2S)/(1 + α)` after `T` ever overtakes it (see
//! [`Tuning::starvation_window`]; 460.8 h with the defaults, and
//! 2C/(1 + α) = 115.2 h between tasks of the same tier). `T` waits at most until the work of its class that became
//! ready before `e_T + W` is done. An urgent task still goes
//! before every normal task that became ready at the same time (S > 2C), whatever
//! their slack.
//!
//! **fifo**: by the time the task became ready. **priority** (priority
//! without decay): clinical, then urgent, then normal, FIFO within a tier; no
//! aging, so a steady stream of urgent work starves normal work.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::decay::Priority;
use super::time::{Span, Timestamp};

/// A scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Urgent first, then least effective slack (decay-aware, with aging).
    Petri,
    /// First ready, first served.
    Fifo,
    /// Priority tiers, FIFO within a tier; decay ignored.
    Priority,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::Petri, Policy::Fifo, Policy::Priority];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Petri => "petri",
            Policy::Fifo => "fifo",
            Policy::Priority => "priority",
        }
    }

    /// The priority key of a ready task (lower runs first; ties go to the lower task id).
    pub fn key(self, tuning: &Tuning, task: &KeyInput) -> i64 {
        let e = task.ready_at.0;
        let tier = task.priority.tier();
        match self {
            Policy::Fifo => e,
            // Far more than any span of time: tiers are strict.
            Policy::Priority => e.saturating_sub(tier.saturating_mul(STRICT_TIER)),
            Policy::Petri => {
                let c = tuning.slack_horizon.0.max(0);
                let slack = match task.deadline {
                    Some(d) => (d.0.saturating_sub(task.tail.0).saturating_sub(e)).clamp(-c, c),
                    None => c,
                };
                let aged = e.saturating_add(e.saturating_mul(tuning.aging_percent) / 100);
                slack
                    .saturating_add(aged)
                    .saturating_sub(tier.saturating_mul(tuning.tier_step.0))
            }
        }
    }
}

/// One tier in the strict policy: about 3,000 years in milliseconds.
const STRICT_TIER: i64 = 100_000_000_000_000;

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("policy `{s}` is not one of: petri, fifo, priority"))
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The constants of the petri policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tuning {
    /// `C`: slack is clamped to ±C. Default 72 h.
    pub slack_horizon: Span,
    /// `α` in percent: each second of waiting takes α more seconds off the slack. Default 25.
    pub aging_percent: i64,
    /// `S`: how much slack one priority tier is worth. Default 3C = 216 h.
    pub tier_step: Span,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            slack_horizon: Span::HOUR.saturating_mul(72),
            aging_percent: 25,
            tier_step: Span::HOUR.saturating_mul(216),
        }
    }
}

impl Tuning {
    /// `W = (2C + 2S)/(1 + α)`: no task that becomes ready more than W after
    /// a waiting task overtakes it.
    pub fn starvation_window(&self) -> Span {
        let reach = self.slack_horizon.0.saturating_mul(2) + self.tier_step.0.saturating_mul(2);
        Span(reach.saturating_mul(100) / (100 + self.aging_percent.max(0)))
    }
}

/// What a key is computed from.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput {
    pub ready_at: Timestamp,
    pub deadline: Option<Timestamp>,
    pub tail: Span,
    pub priority: Priority,
}
