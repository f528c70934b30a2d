//! Scheduler behaviour on simulated time: ordering, urgency, maintenance, failures, starvation,
//! incremental recomputation and simulation determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const H: Span = Span::HOUR;
const T0: Timestamp = Timestamp(1_800_000_000_000);

fn at(hours: f64) -> Timestamp {
    T0 + Span::from_secs_f64(hours * 3600.0)
}

fn hours(h: i64) -> Span {
    H.saturating_mul(h)
}

/// A fuel model (1 fuel/ms) where `module` is known to take `h` hours.
fn model(modules: &[(&str, i64)]) -> FuelModel {
    let mut f = FuelModel::with_rate(1_000.0);
    for (m, h) in modules {
        f.observe(m, u64::try_from(hours(*h).0).unwrap(), None);
    }
    f
}

fn sched(policy: Policy, instruments: Vec<Instrument>, fuel: FuelModel) -> Scheduler {
    Scheduler::new(
        policy,
        instruments,
        fuel,
        Config {
            worker_slots: 1,
            ..Config::default()
        },
    )
    .unwrap()
}

fn sample(id: &str, priority: Priority, deadline_h: Option<i64>) -> SampleProfile {
    SampleProfile::new(
        id,
        priority,
        Some(T0),
        deadline_h.map(|h| T0 + hours(h)),
        None,
    )
}

fn one(module: &str) -> Vec<TaskSpec> {
    vec![TaskSpec::new("s", module, COMPUTE)]
}

/// Runs everything to the end on one-at-a-time instruments; returns sample ids in start order.
fn run_order(s: &mut Scheduler, mut now: Timestamp) -> Vec<String> {
    let mut order = Vec::new();
    loop {
        let started = s.dispatch(now);
        if started.is_empty() {
            break;
        }
        for a in &started {
            order.push(a.sample.clone());
        }
        let end = started.iter().map(|a| a.predicted_end).max().unwrap();
        for a in started {
            s.complete(a.task, end, None).unwrap();
        }
        now = end;
    }
    order
}

#[test]
fn deadline_ordering() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    s.add_sample(sample("relaxed", Priority::Normal, Some(10)), &one("m"), T0)
        .unwrap();
    s.add_sample(sample("tight", Priority::Normal, Some(3)), &one("m"), T0)
        .unwrap();
    s.add_sample(sample("stable", Priority::Normal, None), &one("m"), T0)
        .unwrap();
    assert_eq!(run_order(&mut s, T0), ["tight", "relaxed", "stable"]);

    let mut fifo = sched(Policy::Fifo, Vec::new(), model(&[("m", 1)]));
    for (id, d) in [("relaxed", Some(10)), ("tight", Some(3)), ("stable", None)] {
        fifo.add_sample(sample(id, Priority::Normal, d), &one("m"), T0)
            .unwrap();
    }
    assert_eq!(run_order(&mut fifo, T0), ["relaxed", "tight", "stable"]);
}

#[test]
fn a_start_carries_the_slack_left_after_the_predicted_work() {
    // Deadline 8 h away, 1 h + 5 h of work from the first stage on, started at 0.5 h.
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("a", 1), ("b", 5)]));
    let dag = vec![
        TaskSpec::new("first", "a", COMPUTE),
        TaskSpec::new("second", "b", COMPUTE).after("first"),
    ];
    s.add_sample(sample("dated", Priority::Normal, Some(8)), &dag, T0)
        .unwrap();
    s.add_sample(sample("stable", Priority::Normal, None), &one("a"), T0)
        .unwrap();
    let started = s.dispatch(at(0.5));
    assert_eq!(started[0].sample, "dated");
    assert_eq!(started[0].slack, Some(Span::from_secs_f64(1.5 * 3600.0)));
    s.complete(started[0].task, at(1.5), None).unwrap();
    // Its second stage starts at 3.5 h, with 5 h of work left: 30 min late.
    let next = s.dispatch(at(3.5));
    assert_eq!(
        (next[0].sample.as_str(), next[0].slack),
        ("dated", Some(Span(-hours(1).0 / 2)))
    );
    s.complete(next[0].task, at(8.5), None).unwrap();
    // No deadline, no slack.
    let last = s.dispatch(at(8.5));
    assert_eq!((last[0].sample.as_str(), last[0].slack), ("stable", None));
}

#[test]
fn slack_counts_the_remaining_work_of_the_dag() {
    // Same deadline; `long` has 5 h of work left after its first stage, `short` none.
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("a", 1), ("b", 5)]));
    s.add_sample(sample("short", Priority::Normal, Some(8)), &one("a"), T0)
        .unwrap();
    let dag = vec![
        TaskSpec::new("first", "a", COMPUTE),
        TaskSpec::new("second", "b", COMPUTE).after("first"),
    ];
    s.add_sample(sample("long", Priority::Normal, Some(8)), &dag, T0)
        .unwrap();
    assert_eq!(s.dispatch(T0)[0].sample, "long");
}

#[test]
fn urgent_override() {
    for policy in [Policy::Petri, Policy::Priority] {
        let mut s = sched(policy, Vec::new(), model(&[("m", 1)]));
        // A normal sample already late beats nothing urgent.
        s.add_sample(sample("late", Priority::Normal, Some(-100)), &one("m"), T0)
            .unwrap();
        s.add_sample(sample("urgent", Priority::Urgent, None), &one("m"), T0)
            .unwrap();
        s.add_sample(sample("clinical", Priority::Clinical, None), &one("m"), T0)
            .unwrap();
        assert_eq!(
            run_order(&mut s, T0),
            ["clinical", "urgent", "late"],
            "{policy}"
        );
    }
}

#[test]
fn maintenance_windows_respected() {
    let mut seq = Instrument::new("seq-1", "sequencer", 1);
    seq.maintenance.push(Window::once(at(2.0), at(4.0)));
    let mut s = sched(
        Policy::Petri,
        vec![seq],
        model(&[("long", 3), ("short", 1)]),
    );
    let spec = |m: &str| vec![TaskSpec::new("s", m, "sequencer")];
    s.add_sample(sample("long", Priority::Urgent, Some(5)), &spec("long"), T0)
        .unwrap();
    s.add_sample(sample("short", Priority::Normal, None), &spec("short"), T0)
        .unwrap();
    // The long one goes first by priority but would overrun into the window: the short one fills the gap.
    let started = s.dispatch(T0);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].sample, "short");
    s.complete(started[0].task, at(1.0), None).unwrap();
    assert!(s.dispatch(at(1.0)).is_empty(), "3 h from 1 h overruns 2 h");
    assert!(s.dispatch(at(2.5)).is_empty(), "in maintenance");
    assert_eq!(s.next_wakeup(at(2.5)), Some(at(4.0)));
    let started = s.dispatch(at(4.0));
    assert_eq!(started[0].sample, "long");
    assert_eq!(started[0].instrument, "seq-1");

    // Down and draining instruments take nothing.
    for state in [InstrumentState::Down, InstrumentState::Draining] {
        let mut s = sched(
            Policy::Petri,
            vec![Instrument::new("gpu", "gpu", 2)],
            model(&[("m", 1)]),
        );
        s.set_state("gpu", state).unwrap();
        s.add_sample(
            sample("x", Priority::Clinical, Some(1)),
            &[TaskSpec::new("s", "m", "gpu")],
            T0,
        )
        .unwrap();
        assert!(s.dispatch(T0).is_empty(), "{state}");
        s.set_state("gpu", InstrumentState::Up).unwrap();
        assert_eq!(s.dispatch(T0).len(), 1);
    }
}

/// A scheduler over `seq`, with one stage of unknown duration (no history)
/// started on it at T0.
fn one_running_on(seq: Instrument) -> (Scheduler, Vec<Assignment>) {
    let mut s = sched(Policy::Petri, vec![seq], FuelModel::with_rate(1_000.0));
    s.add_sample(
        sample("x", Priority::Normal, None),
        &[TaskSpec::new("s", "new-module", "sequencer")],
        T0,
    )
    .unwrap();
    let a = s.dispatch(T0);
    assert_eq!(a.len(), 1);
    (s, a)
}

#[test]
fn running_work_is_preempted_by_a_window_it_overran() {
    let mut seq = Instrument::new("seq-1", "sequencer", 1);
    seq.maintenance.push(Window::once(at(2.0), at(4.0)));
    // Unknown duration: allowed to start, taken off when the window begins.
    let (mut s, a) = one_running_on(seq);
    assert!(s.preempt_maintenance(at(1.0)).is_empty());
    assert_eq!(s.preempt_maintenance(at(2.0)), [a[0].task]);
    assert_eq!(s.task(a[0].task).unwrap().state, TaskState::Ready);
}

#[test]
fn a_window_added_at_run_time_preempts_and_holds_work_until_it_ends() {
    let (mut s, a) = one_running_on(Instrument::new("seq-1", "sequencer", 1));
    assert_eq!(s.next_preemption(T0), None, "no window yet");
    // An operator books maintenance from 1 h to 3 h while the stage runs.
    s.set_maintenance("seq-1", vec![Window::once(at(1.0), at(3.0))])
        .unwrap();
    assert_eq!(s.next_preemption(T0), Some(at(1.0)));
    assert!(s.preempt_maintenance(at(0.5)).is_empty());
    assert_eq!(s.preempt_maintenance(at(1.0)), [a[0].task]);
    assert_eq!(s.next_preemption(at(1.0)), None, "nothing runs now");
    assert!(s.dispatch(at(2.0)).is_empty(), "held during the window");
    assert_eq!(s.next_wakeup(at(2.0)), Some(at(3.0)));
    let again = s.dispatch(at(3.0));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt, 2);
    assert!(s.set_maintenance("nope", Vec::new()).is_err());
}

#[test]
fn instruments_added_later_and_abandoned_samples_free_their_places() {
    let mut s = sched(Policy::Petri, Vec::new(), FuelModel::with_rate(1_000.0));
    let dag = [TaskSpec::new("s", "m", "gpu")];
    assert!(
        s.add_sample(sample("x", Priority::Normal, None), &dag, T0)
            .is_err()
    );
    s.add_instrument(Instrument::new("gpu-1", "gpu", 1))
        .unwrap();
    assert!(
        s.add_instrument(Instrument::new("gpu-1", "gpu", 1))
            .is_err()
    );
    let x = s
        .add_sample(sample("x", Priority::Normal, None), &dag, T0)
        .unwrap();
    let y = s
        .add_sample(sample("y", Priority::Normal, None), &dag, T0)
        .unwrap();
    assert_eq!(s.dispatch(T0)[0].task, x[0]);
    assert!(s.dispatch(T0).is_empty(), "one place");
    // x's run went away: its place goes to y.
    s.abandon_sample("x", at(1.0));
    assert_eq!(s.task(x[0]).unwrap().state, TaskState::Skipped);
    assert_eq!(s.running(), 0);
    assert_eq!(s.dispatch(at(1.0))[0].task, y[0]);
    // Not everything has finished: nothing is forgotten.
    assert!(!s.forget_finished());
    s.complete(y[0], at(2.0), Some(7)).unwrap();
    assert!(s.forget_finished());
    assert!(s.sample("x").is_none() && s.task(y[0]).is_none());
    // The same sample id may come again, and the fuel history stayed.
    let again = s
        .add_sample(sample("x", Priority::Normal, None), &dag, at(3.0))
        .unwrap();
    assert_eq!(again[0], TaskId(0));
    assert!(s.fuel().predict("m").known);
}

#[test]
fn failure_mid_stage_requeues_and_keeps_completed_work() {
    let instruments = vec![
        Instrument::new("seq-1", "sequencer", 1),
        Instrument::new("seq-2", "sequencer", 1),
    ];
    let mut s = sched(
        Policy::Petri,
        instruments,
        model(&[("prep", 1), ("seq", 4), ("align", 2)]),
    );
    let dag = vec![
        TaskSpec::new("prep", "prep", COMPUTE),
        TaskSpec::new("seq", "seq", "sequencer").after("prep"),
        TaskSpec::new("align", "align", COMPUTE).after("seq"),
    ];
    let ids = s
        .add_sample(sample("s1", Priority::Normal, Some(24)), &dag, T0)
        .unwrap();
    let a = s.dispatch(T0);
    assert_eq!(a[0].task, ids[0]);
    assert_eq!(
        s.complete(ids[0], at(1.0), Some(3_600_000)).unwrap(),
        [ids[1]]
    );
    let a = s.dispatch(at(1.0));
    assert_eq!((a[0].task, a[0].instrument.as_str()), (ids[1], "seq-1"));

    // seq-1 fails two hours in: the stage goes back to the queue, prep stays done.
    assert_eq!(
        s.set_state("seq-1", InstrumentState::Down).unwrap(),
        [ids[1]]
    );
    assert!(matches!(
        s.task(ids[0]).unwrap().state,
        TaskState::Done { .. }
    ));
    assert_eq!(s.task(ids[0]).unwrap().attempts, 1);
    let a = s.dispatch(at(3.0));
    assert_eq!(a.len(), 1, "re-queued elsewhere");
    assert_eq!((a[0].task, a[0].instrument.as_str()), (ids[1], "seq-2"));
    assert_eq!(a[0].attempt, 2);
    s.complete(ids[1], at(7.0), None).unwrap();
    let a = s.dispatch(at(7.0));
    s.complete(a[0].task, at(9.0), None).unwrap();
    let (_, status) = s.sample("s1").unwrap();
    assert_eq!(status.finished, Some(at(9.0)));
    assert!(!status.failed);
    assert_eq!(
        s.task(ids[0]).unwrap().attempts,
        1,
        "completed work never re-ran"
    );
    assert_eq!(s.stats().requeued, 1);

    // With no other sequencer it waits for the repair.
    let mut s = sched(
        Policy::Petri,
        vec![Instrument::new("seq-1", "sequencer", 1)],
        model(&[("seq", 4)]),
    );
    let ids = s
        .add_sample(
            sample("s2", Priority::Normal, None),
            &[TaskSpec::new("seq", "seq", "sequencer")],
            T0,
        )
        .unwrap();
    s.dispatch(T0);
    s.set_state("seq-1", InstrumentState::Down).unwrap();
    assert!(s.dispatch(at(1.0)).is_empty());
    s.set_state("seq-1", InstrumentState::Up).unwrap();
    assert_eq!(s.dispatch(at(5.0))[0].task, ids[0]);
}

#[test]
fn stage_failure_skips_downstream_only() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    let dag = vec![
        TaskSpec::new("a", "m", COMPUTE),
        TaskSpec::new("b", "m", COMPUTE).after("a"),
        TaskSpec::new("c", "m", COMPUTE).after("b"),
    ];
    let ids = s
        .add_sample(sample("s", Priority::Normal, None), &dag, T0)
        .unwrap();
    s.dispatch(T0);
    s.complete(ids[0], at(1.0), None).unwrap();
    s.dispatch(at(1.0));
    s.fail(ids[1], at(2.0)).unwrap();
    assert_eq!(s.task(ids[2]).unwrap().state, TaskState::Skipped);
    let (_, status) = s.sample("s").unwrap();
    assert!(status.failed);
    assert_eq!(status.finished, Some(at(2.0)));
    assert!(s.is_idle());
}

#[test]
fn starvation_bound() {
    // One slot, a normal sample at 0, and an urgent 1 h sample every hour for ever.
    let run = |policy: Policy| -> Option<Timestamp> {
        let mut s = sched(policy, Vec::new(), model(&[("m", 1)]));
        s.add_sample(sample("patient", Priority::Normal, None), &one("m"), T0)
            .unwrap();
        let mut running = None;
        for h in 0..300 {
            let now = at(h as f64);
            if let Some(t) = running.take() {
                s.complete(t, now, None).unwrap();
            }
            s.add_sample(
                SampleProfile::new(format!("u{h}"), Priority::Urgent, Some(now), None, None),
                &one("m"),
                now,
            )
            .unwrap();
            for a in s.dispatch(now) {
                if a.sample == "patient" {
                    return Some(now);
                }
                running = Some(a.task);
            }
        }
        None
    };
    let bound = Tuning::default().starvation_window();
    assert_eq!(bound, Span::from_secs_f64(460.8 * 3600.0));
    let started = run(Policy::Petri).expect("petri bounds the wait");
    // Only urgent tasks that became ready within W of it may go first; each takes 1 h.
    assert!(started - T0 <= bound + H, "waited {}", started - T0);
    assert!(started - T0 >= H, "but urgent work did go first");
    // Urgent work ready after S/(1 + α) = 172.8 h no longer overtakes it.
    assert_eq!(started, at(173.0));
    assert_eq!(run(Policy::Priority), None, "strict priority starves it");
}

/// Submits random multi-stage samples with a seeded RNG.
fn random_load(s: &mut Scheduler, rng: &mut ChaCha8Rng, n: usize, prefix: &str, now: Timestamp) {
    let modules = ["qc", "align", "call"];
    for i in 0..n {
        let priority = match rng.random_range(0..10) {
            0 => Priority::Clinical,
            1 | 2 => Priority::Urgent,
            _ => Priority::Normal,
        };
        let deadline = (rng.random_range(0..4) > 0).then(|| now + hours(rng.random_range(-5..60)));
        let profile =
            SampleProfile::new(format!("{prefix}{i}"), priority, Some(now), deadline, None);
        let class = if rng.random_range(0..2) == 0 {
            COMPUTE
        } else {
            "gpu"
        };
        let mut dag = vec![TaskSpec::new("a", modules[i % 3], COMPUTE)];
        dag.push(TaskSpec::new("b", modules[(i + 1) % 3], class).after("a"));
        if rng.random_range(0..2) == 0 {
            dag.push(TaskSpec::new("c", modules[(i + 2) % 3], COMPUTE));
        }
        s.add_sample(profile, &dag, now).unwrap();
    }
}

fn snapshot(s: &Scheduler) -> Vec<(TaskId, i64)> {
    [COMPUTE, "gpu"]
        .iter()
        .flat_map(|c| s.queue_order(c))
        .map(|id| (id, s.key_of(id).unwrap()))
        .collect()
}

#[test]
fn incremental_recompute_equals_full_recompute() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let instruments = vec![
        Instrument::new("gpu-1", "gpu", 2),
        Instrument::new("gpu-2", "gpu", 1),
        Instrument::new("node", COMPUTE, 3),
    ];
    let mut s = sched(
        Policy::Petri,
        instruments,
        model(&[("qc", 1), ("align", 3), ("call", 2)]),
    );
    random_load(&mut s, &mut rng, 200, "a", T0);
    let mut now = T0;
    for round in 0..40 {
        now += Span::MINUTE.saturating_mul(17);
        let started = s.dispatch(now);
        // Finish some with fuel far from the history, so predictions drift and keys move.
        for a in started.iter().take(2) {
            let fuel = rng.random_range(1_000_000..30_000_000u64);
            s.complete(a.task, now + Span::MINUTE, Some(fuel)).unwrap();
        }
        if round % 7 == 3 {
            s.set_state("gpu-1", InstrumentState::Down).unwrap();
        }
        if round % 7 == 5 {
            s.set_state("gpu-1", InstrumentState::Up).unwrap();
            random_load(&mut s, &mut rng, 20, &format!("r{round}-"), now);
        }
    }
    assert!(s.stats().rekeyed > 0, "drift re-keyed something");
    assert!(s.stats().requeued > 0);
    let incremental = snapshot(&s);
    assert!(incremental.len() > 100);
    s.recompute_all();
    assert_eq!(incremental, snapshot(&s));
}

const WORKLOAD: &str = r#"
[simulation]
name = "determinism"
start = "2026-11-23T00:00:00Z"
horizon = "3d"
jitter = 0.2
fuel-per-second = 1e9
worker-slots = 2

[instruments.seq-1]
class = "sequencer"
maintenance = [{ start = "+30h", duration = "4h" }]
[instruments.seq-2]
class = "sequencer"

[pipelines.wgs.stages.prep]
duration = "1h"
[pipelines.wgs.stages.seq]
instrument = "sequencer"
duration = "5h"
after = ["prep"]
[pipelines.wgs.stages.align]
fuel = 7_200_000_000_000
after = ["seq"]

[[samples]]
id = "stat"
pipeline = "wgs"
at = "10h"
stability = "12h"
priority = "clinical"

[[arrivals]]
pipeline = "wgs"
every = "3h"
stability = ["20h", "60h"]
urgent = 0.1

[[failures]]
instrument = "seq-2"
at = "20h"
repair = "6h"
"#;

#[test]
fn simulation_is_deterministic() {
    let w = parse_workload(Path::new("w.toml"), WORKLOAD).unwrap();
    let a = simulate_all(&w.realise(11)).unwrap();
    let b = simulate_all(&w.realise(11)).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let c = simulate_all(&w.realise(12)).unwrap();
    assert_ne!(a, c, "another seed, other arrivals");
    for p in &a.policies {
        assert_eq!(p.completed, p.samples, "{}", p.policy);
        assert!(p.instruments["seq-2"].down_hours > 5.9);
    }
}

#[test]
fn simulation_never_runs_work_in_maintenance_or_while_down() {
    let w = parse_workload(Path::new("w.toml"), WORKLOAD).unwrap();
    let scenario = w.realise(3);
    for p in Policy::ALL {
        let out = simulate(&scenario, p).unwrap();
        let seq1 = w.instruments.iter().find(|i| i.name == "seq-1").unwrap();
        let (ms, me) = seq1.maintenance[0].next_after(w.start).unwrap();
        for (s, e) in &out.forecast.busy["seq-1"] {
            assert!(
                *e <= ms || *s >= me,
                "{p}: busy {s}..{e} overlaps maintenance"
            );
        }
        let down = &out.forecast.unavailable["seq-2"];
        for (s, e) in &out.forecast.busy["seq-2"] {
            for (ds, de) in down {
                assert!(*e <= *ds || *s >= *de, "{p}: busy {s}..{e} while down");
            }
        }
    }
}

/// The repository's `examples/`. `cargo test` sets `CARGO_MANIFEST_DIR` when
/// it runs a test too, which finds the checkout the test runs in even when
/// cargo reuses a binary built in another clone of it.
pub(crate) fn examples() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    crate_dir.join("../../examples")
}

#[test]
fn shipped_workloads_simulate_and_petri_misses_no_more_than_fifo() {
    let dir = examples().join("workloads");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        n += 1;
        let w = load_workload(&path).unwrap();
        let report = simulate_all(&w.realise(w.seed)).unwrap();
        assert_eq!(report, simulate_all(&w.realise(w.seed)).unwrap());
        let [petri, fifo, _] = &report.policies[..] else {
            panic!("three policies")
        };
        assert!(
            petri.deadline_misses <= fifo.deadline_misses,
            "{}: petri {} vs fifo {}",
            path.display(),
            petri.deadline_misses,
            fifo.deadline_misses
        );
    }
    assert!(n >= 3, "three workloads shipped");
    load_calendar(&examples().join("instruments/core.toml")).unwrap();
}

#[test]
fn maintenance_proposals_sit_in_idle_gaps() {
    let mut inst = Instrument::new("seq", "sequencer", 1);
    inst.maintenance.push(Window::once(at(10.0), at(12.0)));
    let mut f = Forecast::default();
    f.busy
        .insert("seq".into(), vec![(at(0.0), at(3.0)), (at(5.0), at(9.0))]);
    let slots = propose_maintenance(&[inst.clone()], &f, at(0.0), at(24.0), hours(2), 2);
    let got: Vec<_> = slots.iter().map(|s| (s.start, s.end)).collect();
    assert_eq!(got, [(at(3.0), at(5.0)), (at(12.0), at(14.0))]);
    assert_eq!(
        idle_gaps(&inst, &f, at(0.0), at(24.0)),
        [
            (at(3.0), at(5.0)),
            (at(9.0), at(10.0)),
            (at(12.0), at(24.0))
        ]
    );
}

#[test]
fn fair_share_keeps_places_for_other_owners() {
    let owned =
        |id: &str, owner: &str| sample(id, Priority::Normal, None).owned_by(Some(owner.to_owned()));
    let add = |s: &mut Scheduler| {
        // Group a floods the queue first, with tighter deadlines than b's.
        for i in 0..4 {
            let p = sample(&format!("a{i}"), Priority::Urgent, Some(1));
            s.add_sample(p.owned_by(Some("a".into())), &one("m"), T0)
                .unwrap();
        }
        s.add_sample(owned("b0", "b"), &one("m"), T0).unwrap();
    };
    let four = vec![Instrument::new("cpu", COMPUTE, 4)];
    let mut open = sched(Policy::Petri, four.clone(), model(&[("m", 1)]));
    add(&mut open);
    let started: Vec<String> = open.dispatch(T0).into_iter().map(|a| a.sample).collect();
    assert_eq!(
        started,
        ["a0", "a1", "a2", "a3"],
        "without a share, a takes every place"
    );

    let mut fair = sched(Policy::Petri, four, model(&[("m", 1)]));
    fair.set_owner_share(50);
    add(&mut fair);
    let first: Vec<String> = fair.dispatch(T0).into_iter().map(|a| a.sample).collect();
    assert_eq!(
        first,
        ["a0", "a1", "b0"],
        "a holds at most half; b starts at once"
    );
    // A place of a's frees: a may take it again, never more than its half.
    let running_a0 = fair.sample_tasks("a0")[0];
    fair.complete(running_a0, T0 + hours(1), None).unwrap();
    let next: Vec<String> = fair
        .dispatch(T0 + hours(1))
        .into_iter()
        .map(|a| a.sample)
        .collect();
    assert_eq!(next, ["a2"]);
    // Samples without an owner are not held back.
    fair.add_sample(sample("free", Priority::Normal, None), &one("m"), T0)
        .unwrap();
    let free: Vec<String> = fair
        .dispatch(T0 + hours(1))
        .into_iter()
        .map(|a| a.sample)
        .collect();
    assert_eq!(free, ["free"]);
}

#[test]
fn names_parse_back_from_their_display() {
    for p in Policy::ALL {
        assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
    }
    assert_eq!(
        "lifo".parse::<Policy>(),
        Err("policy `lifo` is not one of: petri, fifo, priority".to_owned())
    );
    for p in [Priority::Normal, Priority::Urgent, Priority::Clinical] {
        assert_eq!(p.to_string().parse::<Priority>(), Ok(p));
    }
    assert_eq!(
        "stat".parse::<Priority>(),
        Err("priority `stat` is not one of: normal, urgent, clinical".to_owned())
    );
    assert_eq!(TaskId(7).to_string(), "#7");
    assert_eq!(at(1.5).to_string(), "2027-01-15T09:30:00Z");
    assert_eq!(
        Timestamp::from_system(std::time::UNIX_EPOCH - std::time::Duration::from_millis(1_500)),
        Timestamp(-1_500)
    );
}

#[test]
fn instrument_names_are_unique() {
    let twice = vec![
        Instrument::new("seq", "sequencer", 1),
        Instrument::new("seq", "sequencer", 2),
    ];
    let e = Scheduler::new(Policy::Fifo, twice, FuelModel::new(), Config::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sample ``: instrument `seq` is declared twice"
    );
    let s = sched(Policy::Fifo, Vec::new(), FuelModel::new());
    assert_eq!(s.policy(), Policy::Fifo);
}

#[test]
fn a_sample_dag_is_checked_before_anything_is_queued() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    let t = |stage: &str| TaskSpec::new(stage, "m", COMPUTE);
    let mut add = |id: &str, dag: Vec<TaskSpec>| {
        s.add_sample(sample(id, Priority::Normal, None), &dag, T0)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(add("ok", vec![t("a")]), Ok(()));
    assert_eq!(
        add("ok", vec![t("a")]),
        Err("sample `ok`: submitted twice".into())
    );
    assert_eq!(
        add("empty", vec![]),
        Err("sample `empty`: has no stages".into())
    );
    assert_eq!(
        add("dup", vec![t("a"), t("a")]),
        Err("sample `dup`: stage `a` appears twice".into())
    );
    assert_eq!(
        add("gpu", vec![TaskSpec::new("a", "m", "gpu")]),
        Err("sample `gpu`, stage `a`: no instrument of class `gpu`".into())
    );
    assert_eq!(
        add("after", vec![t("a").after("z")]),
        Err("sample `after`: stage `a` comes after unknown stage `z`".into())
    );
    assert_eq!(
        add("cycle", vec![t("a").after("b"), t("b").after("a")]),
        Err("sample `cycle`: its stages form a cycle".into())
    );
    assert_eq!(s.queued(), 1, "only `ok` was queued");
    let ids: Vec<&str> = s.samples().map(|(p, _)| p.id.as_str()).collect();
    assert_eq!(ids, ["ok"]);
}

#[test]
fn a_new_deadline_re_keys_the_queued_stages() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    let a = s
        .add_sample(sample("a", Priority::Normal, Some(100)), &one("m"), T0)
        .unwrap()[0];
    let b = s
        .add_sample(sample("b", Priority::Normal, Some(50)), &one("m"), T0)
        .unwrap()[0];
    assert_eq!(s.queue_order(COMPUTE), [b, a]);
    let before = s.key_of(a).unwrap();
    s.update_sample(sample("a", Priority::Normal, Some(2)))
        .unwrap();
    assert!(s.key_of(a).unwrap() < before);
    assert_eq!(s.queue_order(COMPUTE), [a, b]);
    assert_eq!(s.sample_of(a).unwrap().deadline, Some(T0 + hours(2)));
    assert_eq!(s.sample_of(TaskId(99)), None);
    let e = s
        .update_sample(sample("zz", Priority::Normal, None))
        .unwrap_err();
    assert_eq!(e.to_string(), "sample `zz`: unknown sample");
}

#[test]
fn failing_a_queued_or_waiting_stage_skips_what_follows_and_finished_ones_refuse() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    let dag = vec![
        TaskSpec::new("a", "m", COMPUTE),
        TaskSpec::new("b", "m", COMPUTE).after("a"),
        TaskSpec::new("c", "m", COMPUTE).after("b"),
    ];
    let ids = s
        .add_sample(sample("s", Priority::Normal, None), &dag, T0)
        .unwrap();
    // `b` waits for `a`: failing it skips `c` and leaves `a` queued.
    s.fail(ids[1], T0).unwrap();
    assert_eq!(s.task(ids[2]).unwrap().state, TaskState::Skipped);
    assert_eq!(s.queue_order(COMPUTE), [ids[0]]);
    // `a` is queued: failing it takes it out of the queue.
    s.fail(ids[0], at(1.0)).unwrap();
    assert!(s.is_idle());
    assert_eq!(s.sample("s").unwrap().1.finished, Some(at(1.0)));
    let refused = |s: &mut Scheduler, id: TaskId| s.fail(id, at(2.0)).unwrap_err().to_string();
    assert_eq!(refused(&mut s, ids[0]), "task #0 is failed, not running");
    assert_eq!(refused(&mut s, ids[2]), "task #2 is skipped, not running");
    assert_eq!(refused(&mut s, TaskId(9)), "unknown task #9");

    let ids = s
        .add_sample(sample("t", Priority::Normal, None), &dag[..2], at(2.0))
        .unwrap();
    let e = s.complete(ids[0], at(2.0), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("task {} is ready, not running", ids[0])
    );
    let e = s.requeue(ids[1]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("task {} is waiting, not running", ids[1])
    );
    let started = s.dispatch(at(2.0));
    assert_eq!(s.task(ids[0]).unwrap().state.name(), "running");
    s.complete(started[0].task, at(3.0), None).unwrap();
    assert_eq!(
        refused(&mut s, ids[0]),
        format!("task {} is done, not running", ids[0])
    );
}

#[test]
fn abandoning_a_sample_frees_running_queued_and_waiting_stages() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    let dag = vec![
        TaskSpec::new("run", "m", COMPUTE),
        TaskSpec::new("queued", "m", COMPUTE),
        TaskSpec::new("waits", "m", COMPUTE).after("run"),
    ];
    let ids = s
        .add_sample(sample("s", Priority::Normal, None), &dag, T0)
        .unwrap();
    let started = s.dispatch(T0);
    assert_eq!(started.len(), 1, "one worker slot");
    s.abandon_sample("s", at(1.0));
    for id in &ids {
        assert_eq!(s.task(*id).unwrap().state, TaskState::Skipped);
    }
    assert!(s.is_idle());
    assert_eq!(s.sample("s").unwrap().1.finished, Some(at(1.0)));
    // Abandoning again, or an unknown sample, changes nothing.
    s.abandon_sample("s", at(2.0));
    s.abandon_sample("nobody", at(2.0));
    assert_eq!(s.sample("s").unwrap().1.finished, Some(at(1.0)));
}

#[test]
fn history_recorded_through_fuel_mut_moves_predictions_on_reload() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    let id = s
        .add_sample(sample("s", Priority::Normal, Some(10)), &one("slow"), T0)
        .unwrap()[0];
    assert!(!s.task(id).unwrap().predicted.known);
    s.fuel_mut()
        .observe("slow", u64::try_from(hours(5).0).unwrap(), None);
    s.reload_predictions();
    let t = s.task(id).unwrap();
    assert!(t.predicted.known);
    assert_eq!(t.predicted.duration, hours(5));
    assert_eq!(t.tail, hours(5));
}

#[test]
fn a_drifted_prediction_re_keys_the_other_samples_of_its_module() {
    let mut s = Scheduler::new(
        Policy::Petri,
        Vec::new(),
        model(&[("m", 1)]),
        Config {
            worker_slots: 1,
            ..Config::default()
        },
    )
    .unwrap();
    let first = s
        .add_sample(sample("a", Priority::Normal, Some(20)), &one("m"), T0)
        .unwrap()[0];
    let waiting = s
        .add_sample(sample("b", Priority::Normal, Some(20)), &one("m"), T0)
        .unwrap()[0];
    let key = s.key_of(waiting).unwrap();
    s.dispatch(T0);
    // `a` took 9 h of fuel, not 1 h: `b`'s prediction and key follow.
    s.complete(first, at(9.0), Some(u64::try_from(hours(9).0).unwrap()))
        .unwrap();
    let t = s.task(waiting).unwrap();
    assert!(t.predicted.duration > hours(1), "{:?}", t.predicted);
    assert!(s.key_of(waiting).unwrap() < key, "less slack, so sooner");
}

#[test]
fn the_report_table_has_a_column_per_policy_and_a_row_per_instrument() {
    let text = r#"
[simulation]
name = "tiny"
start = "2026-11-23T00:00:00Z"
horizon = "1d"
worker-slots = 1
[instruments.seq-1]
class = "sequencer"
[pipelines.p.stages.prep]
duration = "1h"
[pipelines.p.stages.seq]
instrument = "sequencer"
duration = "2h"
after = ["prep"]
[[samples]]
id = "s1"
pipeline = "p"
at = "0h"
stability = "10h"
"#;
    let w = parse_workload(Path::new("tiny.toml"), text).unwrap();
    let report = simulate_all(&w.realise(0)).unwrap();
    let table = report.to_text();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "tiny (tiny.toml): 1 samples, seed 0, start 2026-11-23T00:00:00Z, horizon 24 h"
    );
    let cells = |label: &str| -> Vec<String> {
        // "  {label:<30}" then a 14-wide cell per policy.
        let line = lines
            .iter()
            .find(|l| l.get(2..32).is_some_and(|l| l.trim_end() == label))
            .unwrap_or_else(|| panic!("no row `{label}`:\n{table}"));
        line[32..].split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(cells(""), ["petri", "fifo", "priority"]);
    assert_eq!(cells("completed"), ["1/1"; 3]);
    assert_eq!(cells("deadline misses"), ["0/1"; 3]);
    assert_eq!(cells("makespan"), ["3.0", "h", "3.0", "h", "3.0", "h"]);
    assert_eq!(cells("re-queued stages"), ["0"; 3]);
    assert!(lines.iter().any(|l| l.trim() == "utilisation"), "{table}");
    assert!(
        lines.iter().any(|l| l.trim() == "maintenance slots (4 h)"),
        "{table}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.trim_start().starts_with("seq-1"))
            .count(),
        2,
        "seq-1 under both headings:\n{table}"
    );
}

#[test]
fn times_outside_rfc3339_print_clamped_instead_of_panicking() {
    assert_eq!(Timestamp(-5_000).to_rfc3339(), "1970-01-01T00:00:00Z");
    assert_eq!(Timestamp(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59Z");
    let far = Timestamp(0) + Span::parse("4000000d").unwrap();
    assert_eq!(far.to_rfc3339(), "9999-12-31T23:59:59Z");
    assert_eq!(
        serde_json::to_string(&Timestamp(-1)).unwrap(),
        "\"1970-01-01T00:00:00.000Z\""
    );
}

#[test]
fn a_scheduler_that_has_seen_nothing_has_nothing_to_forget() {
    let mut s = sched(Policy::Petri, Vec::new(), model(&[("m", 1)]));
    assert!(!s.forget_finished());
}

/// A clock that stops before the work ends, an instrument that fails for
/// good, a sample with no deadline and modules with no history.
const STOPPED_EARLY: &str = r#"
[simulation]
name = "stopped early"
start = "2026-11-23T00:00:00Z"
horizon = "1d"
limit = "3h"
history = false
aging-percent = 50
worker-slots = 1

[instruments.seq-1]
class = "sequencer"

[pipelines.p.stages.sequence]
instrument = "sequencer"
duration = "12h"

[[samples]]
id = "a"
pipeline = "p"
at = "1h"

[[failures]]
instrument = "seq-1"
at = "2h"
state = "down"
"#;

#[test]
fn a_clock_stopped_before_the_work_ends_reports_it_unfinished() {
    let w = parse_workload(Path::new("w.toml"), STOPPED_EARLY).unwrap();
    let report = simulate_all(&w.realise(1)).unwrap();
    for p in &report.policies {
        assert_eq!(
            (p.samples, p.completed, p.failed),
            (1, 0, 0),
            "{}",
            p.policy
        );
        assert_eq!(p.unfinished, 1, "{}", p.policy);
        assert_eq!(p.with_deadline, 0, "{}", p.policy);
        assert_eq!(p.mean_turnaround_hours, 0.0, "{}", p.policy);
        // It ran from 1h until seq-1 failed at 2h: that hour is wasted, the task re-queued.
        let seq = &p.instruments["seq-1"];
        assert_eq!(
            (seq.busy_hours, seq.wasted_hours),
            (1.0, 1.0),
            "{}: {seq:?}",
            p.policy
        );
        assert_eq!(p.requeued, 1, "{}", p.policy);
    }
}

#[test]
fn a_calibrated_rate_that_drifts_re_predicts_what_is_queued() {
    // No fixed rate: the default until a timed run calibrates it.
    let mut s = sched(Policy::Petri, Vec::new(), FuelModel::new());
    let x = s
        .add_sample(sample("x", Priority::Normal, Some(48)), &one("m"), T0)
        .unwrap();
    let y = s
        .add_sample(sample("y", Priority::Normal, Some(48)), &one("m"), T0)
        .unwrap();
    assert_eq!(s.dispatch(T0)[0].task, x[0]);
    // 3.6e12 fuel in one hour: 1e9 fuel/s, a tenth of the default rate.
    s.complete(x[0], at(1.0), Some(3_600_000_000_000)).unwrap();
    assert_eq!(s.fuel().fuel_per_second(), 1.0e9);
    // y's prediction follows the new rate: its module's mean fuel at 1e9/s.
    assert_eq!(s.task(y[0]).unwrap().predicted.duration, H);
}

#[test]
fn work_that_can_never_run_leaves_the_simulation_when_its_events_run_out() {
    // No limit: the clock would stop at 4 × the horizon, but once seq-1 is down for good
    // nothing is left to happen. Its maintenance window is open when the clock starts.
    let text = STOPPED_EARLY.replace("limit = \"3h\"\n", "").replace(
        "class = \"sequencer\"\n",
        "class = \"sequencer\"\nmaintenance = [{ start = \"+0h\", duration = \"30m\" }]\n",
    );
    let w = parse_workload(Path::new("w.toml"), &text).unwrap();
    let report = simulate_all(&w.realise(1)).unwrap();
    for p in &report.policies {
        assert_eq!((p.completed, p.unfinished), (0, 1), "{}", p.policy);
        let seq = &p.instruments["seq-1"];
        assert!(seq.down_hours > 0.0, "{}: {seq:?}", p.policy);
        assert_eq!(seq.maintenance_hours, 0.5, "{}: {seq:?}", p.policy);
    }
}
