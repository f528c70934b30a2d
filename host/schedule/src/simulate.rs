//! The discrete-event simulation: the real [`Scheduler`] driven by a virtual clock over a
//! realised workload, one run per policy.
//!
//! Events at the same instant are handled in the order they were scheduled
//! (a sequence number breaks ties), and the scheduler is asked to dispatch
//! once all of them are in. A stage re-queued by a failure or a maintenance
//! window starts over from scratch when it runs again; stages already done
//! are never re-run.

use std::collections::BTreeMap;

use super::error::ScheduleError;
use super::fuel::FuelModel;
use super::instrument::{Instrument, InstrumentState};
use super::maintenance::{self, Forecast};
use super::policy::Policy;
use super::report::{InstrumentReport, PolicyReport, Report, round3};
use super::scheduler::{Config, Scheduler};
use super::task::{TaskId, TaskState};
use super::time::{Span, Timestamp};
use super::workload::Scenario;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Arrive(usize),
    Finish { task: TaskId, attempt: u32 },
    State(String, InstrumentState),
    MaintenanceStart,
    Wakeup,
}

/// One policy's run: its report and the schedule it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub report: PolicyReport,
    pub forecast: Forecast,
}

/// Every policy on the scenario, side by side (petri, fifo, priority).
pub fn simulate_all(scenario: &Scenario) -> Result<Report, ScheduleError> {
    let w = &scenario.workload;
    let mut policies = Vec::new();
    for p in Policy::ALL {
        policies.push(simulate(scenario, p)?.report);
    }
    Ok(Report {
        workload: w.name.clone(),
        file: w.file.display().to_string(),
        seed: scenario.seed,
        start: w.start.to_rfc3339(),
        horizon_hours: round3(w.horizon.as_hours_f64()),
        samples: scenario.samples.len(),
        maintenance_duration_hours: round3(w.maintenance_duration.as_hours_f64()),
        policies,
    })
}

struct Sim {
    events: BTreeMap<(Timestamp, u64), Event>,
    seq: u64,
}

impl Sim {
    fn at(&mut self, t: Timestamp, e: Event) {
        self.seq += 1;
        self.events.insert((t, self.seq), e);
    }
}

/// Runs one policy over the scenario on a virtual clock.
pub fn simulate(scenario: &Scenario, policy: Policy) -> Result<Outcome, ScheduleError> {
    let w = &scenario.workload;
    let mut fuel = FuelModel::with_rate(w.fuel_per_second);
    if w.history {
        for stages in w.pipelines.values() {
            for st in stages {
                fuel.observe(&st.spec.module, st.fuel, None);
            }
        }
    }
    let config = Config {
        worker_slots: w.worker_slots,
        tuning: w.tuning,
        ..Config::default()
    };
    let mut sched = Scheduler::new(policy, w.instruments.clone(), fuel, config)?;
    let instruments: Vec<Instrument> = sched.instruments().cloned().collect();
    let (start, stop) = (w.start, w.start + w.limit);

    let mut sim = Sim {
        events: BTreeMap::new(),
        seq: 0,
    };
    for (i, s) in scenario.samples.iter().enumerate() {
        sim.at(s.arrive, Event::Arrive(i));
    }
    for f in &w.failures {
        sim.at(start + f.at, Event::State(f.instrument.clone(), f.state));
        if let Some(r) = f.repair {
            sim.at(
                start + f.at + r,
                Event::State(f.instrument.clone(), InstrumentState::Up),
            );
        }
    }
    for inst in &instruments {
        for (s, _) in inst.windows_between(start, stop) {
            if s > start {
                sim.at(s, Event::MaintenanceStart);
            }
        }
    }

    // Task → (sample, stage index in its pipeline template).
    let mut origin: BTreeMap<TaskId, (usize, usize)> = BTreeMap::new();
    // Running task → (instrument, start) as the simulator saw it start.
    let mut started: BTreeMap<TaskId, (String, Timestamp)> = BTreeMap::new();
    let mut forecast = Forecast::default();
    let mut wasted: BTreeMap<String, Span> = BTreeMap::new();
    let mut down_since: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut wakeups = std::collections::BTreeSet::new();
    let mut arrived = 0;
    let mut now = start;
    let mut last_end = start;

    let mut lose = |victims: Vec<TaskId>,
                    now: Timestamp,
                    started: &mut BTreeMap<TaskId, (String, Timestamp)>,
                    forecast: &mut Forecast| {
        for v in victims {
            if let Some((inst, t0)) = started.remove(&v) {
                forecast
                    .busy
                    .entry(inst.clone())
                    .or_default()
                    .push((t0, now));
                let e = wasted.entry(inst).or_default();
                *e = *e + (now - t0);
            }
        }
    };

    while let Some(((t, _), event)) = sim.events.pop_first() {
        if t > stop {
            break;
        }
        now = t;
        match event {
            Event::Arrive(i) => {
                let s = &scenario.samples[i];
                let specs: Vec<_> = w.pipelines[&s.pipeline]
                    .iter()
                    .map(|st| st.spec.clone())
                    .collect();
                let ids = sched.add_sample(s.profile.clone(), &specs, now)?;
                for (k, id) in ids.into_iter().enumerate() {
                    origin.insert(id, (i, k));
                }
                arrived += 1;
            }
            Event::Finish { task, attempt } => {
                let current = sched.task(task).map(|t| &t.state);
                if matches!(current, Some(TaskState::Running { attempt: a, .. }) if *a == attempt) {
                    if let Some((inst, t0)) = started.remove(&task) {
                        forecast.busy.entry(inst).or_default().push((t0, now));
                    }
                    let fuel = origin.get(&task).map(|&(i, k)| scenario.samples[i].fuel[k]);
                    sched.complete(task, now, fuel)?;
                    last_end = now;
                }
            }
            Event::State(name, state) => {
                match state {
                    InstrumentState::Up => {
                        if let Some(t0) = down_since.remove(&name) {
                            forecast
                                .unavailable
                                .entry(name.clone())
                                .or_default()
                                .push((t0, now));
                        }
                    }
                    _ => {
                        down_since.entry(name.clone()).or_insert(now);
                    }
                }
                let victims = sched.set_state(&name, state)?;
                lose(victims, now, &mut started, &mut forecast);
            }
            Event::MaintenanceStart => {
                let victims = sched.preempt_maintenance(now);
                lose(victims, now, &mut started, &mut forecast);
            }
            Event::Wakeup => {
                wakeups.remove(&now);
            }
        }
        if sim
            .events
            .first_key_value()
            .is_some_and(|((t, _), _)| *t == now)
        {
            continue;
        }
        for a in sched.dispatch(now) {
            let fuel = origin
                .get(&a.task)
                .map_or(0, |&(i, k)| scenario.samples[i].fuel[k]);
            let took = Span::from_secs_f64(fuel as f64 / w.fuel_per_second).max(Span(1));
            started.insert(a.task, (a.instrument.clone(), now));
            sim.at(
                now + took,
                Event::Finish {
                    task: a.task,
                    attempt: a.attempt,
                },
            );
        }
        if let Some(t) = sched.next_wakeup(now)
            && t > now
            && wakeups.insert(t)
        {
            sim.at(t, Event::Wakeup);
        }
        if arrived == scenario.samples.len() && sched.is_idle() {
            break;
        }
    }
    let end = now.max(last_end);
    for (name, t0) in down_since {
        forecast
            .unavailable
            .entry(name)
            .or_default()
            .push((t0, end));
    }
    for (inst, t0) in started.values() {
        forecast
            .busy
            .entry(inst.clone())
            .or_default()
            .push((*t0, end));
    }
    for v in forecast.busy.values_mut() {
        v.sort();
    }

    let mut report = PolicyReport {
        policy: policy.name().to_owned(),
        samples: scenario.samples.len(),
        completed: 0,
        failed: 0,
        unfinished: 0,
        with_deadline: 0,
        deadline_misses: 0,
        urgent: 0,
        urgent_misses: 0,
        mean_turnaround_hours: 0.0,
        p95_turnaround_hours: 0.0,
        urgent_mean_turnaround_hours: 0.0,
        makespan_hours: round3((end - start).as_hours_f64()),
        dispatched: sched.stats().dispatched,
        requeued: sched.stats().requeued,
        instruments: BTreeMap::new(),
    };
    let mut turnaround = Vec::new();
    let mut urgent_turnaround = Vec::new();
    for s in &scenario.samples {
        let status = sched.sample(&s.profile.id).map(|(_, st)| st);
        let finished = status.and_then(|st| st.finished);
        let failed = status.is_some_and(|st| st.failed);
        let urgent = s.profile.priority > super::decay::Priority::Normal;
        report.urgent += usize::from(urgent);
        match finished {
            Some(_) if failed => report.failed += 1,
            Some(f) => {
                report.completed += 1;
                let h = (f - s.arrive).as_hours_f64();
                turnaround.push(h);
                if urgent {
                    urgent_turnaround.push(h);
                }
            }
            None => report.unfinished += 1,
        }
        if let Some(d) = s.profile.deadline {
            report.with_deadline += 1;
            let missed = finished.is_none_or(|f| f > d) || failed;
            report.deadline_misses += usize::from(missed);
            report.urgent_misses += usize::from(missed && urgent);
        }
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    report.mean_turnaround_hours = round3(mean(&turnaround));
    report.urgent_mean_turnaround_hours = round3(mean(&urgent_turnaround));
    turnaround.sort_by(f64::total_cmp);
    if !turnaround.is_empty() {
        // Nearest rank.
        let rank = ((0.95 * turnaround.len() as f64).ceil() as usize).clamp(1, turnaround.len());
        report.p95_turnaround_hours = round3(turnaround[rank - 1]);
    }

    let period = (end - start).max(Span(1));
    for inst in &instruments {
        let busy: Span = forecast
            .busy
            .get(&inst.name)
            .into_iter()
            .flatten()
            .fold(Span::ZERO, |acc, (s, e)| acc + (*e - *s));
        let sum = |v: Vec<(Timestamp, Timestamp)>| {
            v.iter().fold(Span::ZERO, |acc, (s, e)| {
                acc + (*e.min(&end) - *s.max(&start))
            })
        };
        let maintenance_hours = sum(inst.windows_between(start, end));
        let down = sum(forecast
            .unavailable
            .get(&inst.name)
            .cloned()
            .unwrap_or_default());
        let gaps = maintenance::idle_gaps(inst, &forecast, start, start + w.horizon);
        let first_slot = gaps
            .iter()
            .find(|(s, e)| *e - *s >= w.maintenance_duration)
            .map(|(s, _)| s.to_rfc3339());
        report.instruments.insert(
            inst.name.clone(),
            InstrumentReport {
                class: inst.class.clone(),
                capacity: inst.capacity,
                utilisation: round3(
                    busy.as_secs_f64() / (period.as_secs_f64() * f64::from(inst.capacity.max(1))),
                ),
                busy_hours: round3(busy.as_hours_f64()),
                wasted_hours: round3(
                    wasted
                        .get(&inst.name)
                        .copied()
                        .unwrap_or_default()
                        .as_hours_f64(),
                ),
                maintenance_hours: round3(maintenance_hours.as_hours_f64()),
                down_hours: round3(down.as_hours_f64()),
                maintenance_slots: maintenance::slot_count(&gaps, w.maintenance_duration),
                first_slot,
            },
        );
    }
    Ok(Outcome { report, forecast })
}
