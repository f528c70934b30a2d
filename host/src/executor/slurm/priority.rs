//! petri's priorities as Slurm nice values: clinical first, then urgent, then normal, least slack first within a tier.
//!
//! `nice = (2 − tier) × TIER_NICE + clamp(slack in minutes, 0, TIER_NICE − 1)`
//! where tier is 0 normal, 1 urgent, 2 clinical ([`Priority::tier`]) and
//! slack is the task's effective slack from the scheduler (deadline − now −
//! predicted remaining work; none: no deadline, the end of its tier). So
//! clinical jobs get nice 0–9,999, urgent 10,000–19,999, normal 20,000–29,999;
//! a sample already late has slack 0. Nice values are never negative: Slurm
//! lets only operators lower priority below the default.
//!
//! **What Slurm then decides.** Nice is only subtracted from a job's
//! priority; Slurm's scheduler owns the order:
//! - `priority/basic`: priority falls by one per submitted job, so a tier
//!   outranks jobs submitted up to 10,000 submissions earlier, not all of them.
//! - `priority/multifactor`: nice is subtracted from the weighted sum of age,
//!   fair-share, job size, partition and QOS factors; the site's weights
//!   decide what 10,000 is worth (with `PriorityWeightAge` in the tens of
//!   thousands a normal job waiting a day can overtake a clinical one).
//! - Backfill starts a lower-priority job early when it fits in a gap without
//!   delaying the expected start of higher ones; partition `PriorityTier` and
//!   preemption rules, QOS and limits per account all come first.
//! - Priorities are fixed at submission: aging happens inside Slurm, not by
//!   petri re-computing the key (a later step may `scontrol update nice=` pending jobs).

use petri_schedule::{Priority, Span};

/// How much nice one priority tier is worth.
pub const TIER_NICE: u32 = 10_000;

/// The nice value of a task of `priority` with `slack` left (`None`: no deadline).
pub fn nice(priority: Priority, slack: Option<Span>) -> u32 {
    let tier = u32::try_from(priority.tier()).unwrap_or(0).min(2);
    let within = match slack {
        None => i64::from(TIER_NICE - 1),
        Some(s) => (s.0 / Span::MINUTE.0).clamp(0, i64::from(TIER_NICE - 1)),
    };
    (2 - tier) * TIER_NICE + u32::try_from(within).unwrap_or(TIER_NICE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_come_first_then_slack() {
        let h = Span::HOUR;
        assert_eq!(nice(Priority::Clinical, Some(Span::ZERO)), 0);
        assert_eq!(nice(Priority::Clinical, Some(Span(-h.0))), 0);
        assert_eq!(nice(Priority::Clinical, Some(h)), 60);
        assert_eq!(nice(Priority::Clinical, None), 9_999);
        assert_eq!(nice(Priority::Urgent, Some(Span::ZERO)), 10_000);
        assert_eq!(nice(Priority::Normal, Some(h)), 20_060);
        assert_eq!(
            nice(Priority::Normal, Some(Span::DAY.saturating_mul(30))),
            29_999
        );
        // A clinical sample with no deadline still goes before an urgent one about to spoil.
        assert!(nice(Priority::Clinical, None) < nice(Priority::Urgent, Some(Span::ZERO)));
    }
}
