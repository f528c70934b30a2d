//! `Scheduler`: the clock-agnostic state machine that decides which ready task runs on which
//! instrument slot, shared by the executor and the simulator.
//!
//! The caller owns the clock and the work. It submits each sample's DAG
//! ([`Scheduler::add_sample`]), asks for [`Scheduler::dispatch`] whenever
//! something changed (a sample arrived, a stage ended, an instrument changed
//! state, [`Scheduler::next_wakeup`] passed), starts what it is told to, and
//! reports each end ([`Scheduler::complete`], [`Scheduler::fail`]) or
//! instrument change ([`Scheduler::set_state`],
//! [`Scheduler::preempt_maintenance`]). Time is always an argument.
//!
//! Recomputation is incremental: a new sample inserts its ready stages
//! (O(k log n)); a re-queued task keeps its key; an instrument's state changes
//! no key (keys do not depend on instruments, only on where a task may go).
//! Keys change when a module's predicted duration drifts by more than
//! [`Config::drift_percent`] from the prediction the queue was keyed with —
//! then only the samples using that module are re-keyed — or when the host's
//! calibrated fuel rate drifts that much, which re-keys everything
//! ([`Scheduler::recompute_all`]).

use std::collections::{BTreeMap, BTreeSet};

use super::decay::SampleProfile;
use super::error::ScheduleError;
use super::fuel::{FuelModel, Prediction};
use super::instrument::{COMPUTE, Instrument, InstrumentState};
use super::policy::{KeyInput, Policy, Tuning};
use super::queue::ReadyQueue;
use super::task::{Task, TaskId, TaskSpec, TaskState};
use super::time::{Span, Timestamp};

/// At most this many queued tasks of a class are looked at per dispatch for
/// one that fits before a maintenance window; beyond it the slot stays free
/// until the next dispatch. Bounds the cost of one decision.
pub const SCAN_LIMIT: usize = 4096;

/// How the scheduler is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub tuning: Tuning,
    /// Capacity of the implicit `compute` instrument when no instrument of
    /// class `compute` is declared.
    pub worker_slots: u32,
    /// Re-key when a prediction moves by more than this percentage.
    pub drift_percent: u32,
    /// The most of a class's places (percent, rounded up, at least one) that
    /// the samples of one owner may hold at once; 100 turns fair share off.
    /// A group's runaway stages then cannot take every place from another's.
    pub owner_share_percent: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tuning: Tuning::default(),
            worker_slots: 2,
            drift_percent: 10,
            owner_share_percent: 100,
        }
    }
}

/// One start decision: run `task` on `instrument` now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub task: TaskId,
    pub sample: String,
    pub stage: String,
    pub instrument: String,
    pub attempt: u32,
    /// Now plus the predicted duration.
    pub predicted_end: Timestamp,
    /// The sample's slack at the start: its deadline − now − the predicted
    /// work left from this stage on (negative: late); `None`: no deadline.
    pub slack: Option<Span>,
}

/// Where a sample stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleStatus {
    pub arrived: Timestamp,
    /// When its last stage ended (done, failed or skipped).
    pub finished: Option<Timestamp>,
    /// Whether a stage failed.
    pub failed: bool,
}

#[derive(Debug, Clone)]
struct SampleEntry {
    profile: SampleProfile,
    /// Its tasks are `first..first + count`, numbered in topological order.
    first: u64,
    count: u64,
    unfinished: usize,
    status: SampleStatus,
}

#[derive(Debug, Clone)]
struct Slot {
    instrument: Instrument,
    running: BTreeSet<TaskId>,
}

/// Counters over the scheduler's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub dispatched: u64,
    pub requeued: u64,
    /// Tasks re-keyed because a prediction drifted.
    pub rekeyed: u64,
    pub full_recomputes: u64,
}

/// Places of one class held per owner during a dispatch, against the fair-share cap.
struct Shares {
    /// `None`: no fair share.
    cap: Option<u64>,
    held: BTreeMap<String, u64>,
}

impl Shares {
    fn admits(&self, owner: Option<&str>) -> bool {
        match (self.cap, owner) {
            (Some(cap), Some(o)) => self.held.get(o).copied().unwrap_or(0) < cap,
            _ => true,
        }
    }

    fn take(&mut self, owner: Option<&str>) {
        if let Some(o) = owner {
            *self.held.entry(o.to_owned()).or_default() += 1;
        }
    }
}

/// The scheduling core. See the module documentation for the protocol.
#[derive(Debug, Clone)]
pub struct Scheduler {
    policy: Policy,
    config: Config,
    fuel: FuelModel,
    /// The prediction per module the current keys were computed with.
    keyed: BTreeMap<String, Prediction>,
    keyed_rate: f64,
    slots: Vec<Slot>,
    by_name: BTreeMap<String, usize>,
    /// Class names, sorted; a class's index numbers its queue.
    class_names: Vec<String>,
    /// Class index → its instruments (slot indices).
    class_slots: Vec<Vec<usize>>,
    samples: Vec<SampleEntry>,
    sample_ids: BTreeMap<String, usize>,
    /// Module → samples that have (or had) a stage of it.
    module_samples: BTreeMap<String, BTreeSet<usize>>,
    tasks: Vec<Task>,
    queue: ReadyQueue,
    running: usize,
    stats: Stats,
}

impl Scheduler {
    /// A scheduler over `instruments` (unique names; an implicit `compute`
    /// instrument with `config.worker_slots` is added when none has that class).
    pub fn new(
        policy: Policy,
        instruments: Vec<Instrument>,
        fuel: FuelModel,
        config: Config,
    ) -> Result<Scheduler, ScheduleError> {
        let mut instruments = instruments;
        if !instruments.iter().any(|i| i.class == COMPUTE) {
            instruments.push(Instrument::new(
                COMPUTE,
                COMPUTE,
                config.worker_slots.max(1),
            ));
        }
        instruments.sort_by(|a, b| a.name.cmp(&b.name));
        let mut by_name = BTreeMap::new();
        let mut by_class: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, inst) in instruments.iter().enumerate() {
            if by_name.insert(inst.name.clone(), i).is_some() {
                return Err(ScheduleError::Sample {
                    sample: String::new(),
                    message: format!("instrument `{}` is declared twice", inst.name),
                });
            }
            by_class.entry(inst.class.clone()).or_default().push(i);
        }
        let (class_names, class_slots): (Vec<String>, Vec<Vec<usize>>) =
            by_class.into_iter().unzip();
        let keyed_rate = fuel.fuel_per_second();
        Ok(Scheduler {
            policy,
            config,
            fuel,
            keyed: BTreeMap::new(),
            keyed_rate,
            slots: instruments
                .into_iter()
                .map(|instrument| Slot {
                    instrument,
                    running: BTreeSet::new(),
                })
                .collect(),
            by_name,
            queue: ReadyQueue::new(class_names.len()),
            class_names,
            class_slots,
            samples: Vec::new(),
            sample_ids: BTreeMap::new(),
            module_samples: BTreeMap::new(),
            tasks: Vec::new(),
            running: 0,
            stats: Stats::default(),
        })
    }

    /// Sets the fair share ([`Config::owner_share_percent`]); it applies from the next dispatch.
    pub fn set_owner_share(&mut self, percent: u32) {
        self.config.owner_share_percent = percent.clamp(1, 100);
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn fuel(&self) -> &FuelModel {
        &self.fuel
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn instruments(&self) -> impl Iterator<Item = &Instrument> {
        self.slots.iter().map(|s| &s.instrument)
    }

    pub fn instrument(&self, name: &str) -> Option<&Instrument> {
        self.by_name.get(name).map(|&i| &self.slots[i].instrument)
    }

    /// The tasks running on an instrument.
    pub fn running_on(&self, name: &str) -> Vec<TaskId> {
        self.by_name
            .get(name)
            .map(|&i| self.slots[i].running.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn task(&self, id: TaskId) -> Option<&Task> {
        usize::try_from(id.0).ok().and_then(|i| self.tasks.get(i))
    }

    /// The sample a task belongs to.
    pub fn sample_of(&self, id: TaskId) -> Option<&SampleProfile> {
        self.task(id).map(|t| &self.samples[t.sample].profile)
    }

    pub fn sample(&self, id: &str) -> Option<(&SampleProfile, SampleStatus)> {
        self.sample_ids
            .get(id)
            .map(|&i| (&self.samples[i].profile, self.samples[i].status))
    }

    /// Every sample with its status, in submission order.
    pub fn samples(&self) -> impl Iterator<Item = (&SampleProfile, SampleStatus)> {
        self.samples.iter().map(|s| (&s.profile, s.status))
    }

    /// The sample's tasks, in topological order.
    pub fn sample_tasks(&self, id: &str) -> Vec<TaskId> {
        self.sample_ids
            .get(id)
            .map(|&i| self.ids(i).map(TaskId).collect())
            .unwrap_or_default()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn running(&self) -> usize {
        self.running
    }

    /// Nothing queued and nothing running.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.running == 0
    }

    /// Forgets every sample and task once all of them have finished, so a
    /// long-lived scheduler (the daemon's) does not grow with every run it
    /// has seen. Instruments, fuel history and counters stay; task ids start
    /// again from 0. Returns whether anything was forgotten.
    pub fn forget_finished(&mut self) -> bool {
        if self.samples.is_empty() || self.samples.iter().any(|s| s.unfinished > 0) {
            return false;
        }
        self.samples.clear();
        self.sample_ids.clear();
        self.module_samples.clear();
        self.tasks.clear();
        true
    }

    /// The queued tasks of `class` in the order they would be dispatched.
    pub fn queue_order(&self, class: &str) -> Vec<TaskId> {
        self.class_index(class)
            .map(|c| self.queue.iter(c).map(|(_, id)| id).collect())
            .unwrap_or_default()
    }

    /// Classes are sorted when the scheduler is made; classes added later
    /// ([`Scheduler::add_instrument`]) come after them. There are few.
    fn class_index(&self, class: &str) -> Option<usize> {
        self.class_names.iter().position(|c| c == class)
    }

    /// The key of a queued task (lower runs first).
    pub fn key_of(&self, id: TaskId) -> Option<i64> {
        self.task(id)
            .filter(|t| t.state == TaskState::Ready)
            .map(|t| t.key)
    }

    /// Submits one sample's DAG at `now`; stages without dependencies are queued.
    /// Returns the task ids in the order of `stages`.
    pub fn add_sample(
        &mut self,
        profile: SampleProfile,
        stages: &[TaskSpec],
        now: Timestamp,
    ) -> Result<Vec<TaskId>, ScheduleError> {
        let bad = |message: String| ScheduleError::Sample {
            sample: profile.id.clone(),
            message,
        };
        if self.sample_ids.contains_key(&profile.id) {
            return Err(bad("submitted twice".into()));
        }
        if stages.is_empty() {
            return Err(bad("has no stages".into()));
        }
        let mut index = BTreeMap::new();
        for (i, s) in stages.iter().enumerate() {
            if index.insert(s.stage.as_str(), i).is_some() {
                return Err(bad(format!("stage `{}` appears twice", s.stage)));
            }
            if self.class_index(&s.class).is_none() {
                return Err(ScheduleError::NoInstrumentOfClass {
                    sample: profile.id.clone(),
                    stage: s.stage.clone(),
                    class: s.class.clone(),
                });
            }
        }
        let mut deps = vec![Vec::new(); stages.len()];
        for (i, s) in stages.iter().enumerate() {
            for a in &s.after {
                let &j = index.get(a.as_str()).ok_or_else(|| {
                    bad(format!(
                        "stage `{}` comes after unknown stage `{a}`",
                        s.stage
                    ))
                })?;
                deps[i].push(j);
            }
        }
        // Kahn's algorithm, taking stages in their given order: a stable topological order.
        let mut left: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut succs = vec![Vec::new(); stages.len()];
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                succs[j].push(i);
            }
        }
        let mut order = Vec::with_capacity(stages.len());
        let mut done = vec![false; stages.len()];
        while order.len() < stages.len() {
            let Some(next) = (0..stages.len()).find(|&i| !done[i] && left[i] == 0) else {
                return Err(bad("its stages form a cycle".into()));
            };
            done[next] = true;
            order.push(next);
            for &s in &succs[next] {
                left[s] -= 1;
            }
        }

        let sample = self.samples.len();
        let base = self.tasks.len() as u64;
        // Ids follow the topological order, so a sample's tasks are one
        // contiguous range and tails are computed by walking it backwards.
        let mut position = vec![0; stages.len()];
        for (p, &i) in order.iter().enumerate() {
            position[i] = p;
        }
        let id = |i: usize| TaskId(base + position[i] as u64);
        for &i in &order {
            let s = &stages[i];
            let predicted = self.prediction(&s.module);
            // Checked above.
            let class_ix = self.class_index(&s.class).unwrap_or(0);
            self.module_samples
                .entry(s.module.clone())
                .or_default()
                .insert(sample);
            self.tasks.push(Task {
                id: id(i),
                stage: s.stage.clone(),
                module: s.module.clone(),
                class: s.class.clone(),
                class_ix,
                deps: deps[i].iter().map(|&j| id(j)).collect(),
                succs: succs[i].iter().map(|&j| id(j)).collect(),
                state: TaskState::Waiting,
                predicted,
                tail: Span::ZERO,
                ready_at: None,
                attempts: 0,
                sample,
                key: 0,
                deps_left: u32::try_from(deps[i].len()).unwrap_or(u32::MAX),
            });
        }
        self.sample_ids.insert(profile.id.clone(), sample);
        self.samples.push(SampleEntry {
            profile,
            first: base,
            count: stages.len() as u64,
            unfinished: stages.len(),
            status: SampleStatus {
                arrived: now,
                finished: None,
                failed: false,
            },
        });
        self.compute_tails(sample);
        for &i in &order {
            if deps[i].is_empty() {
                self.make_ready(id(i), now);
            }
        }
        Ok((0..stages.len()).map(id).collect())
    }

    /// Changes a sample's decay (e.g. a new expiry from the API) and re-keys its queued stages.
    pub fn update_sample(&mut self, profile: SampleProfile) -> Result<(), ScheduleError> {
        let &s = self
            .sample_ids
            .get(&profile.id)
            .ok_or_else(|| ScheduleError::Sample {
                sample: profile.id.clone(),
                message: "unknown sample".into(),
            })?;
        self.samples[s].profile = profile;
        self.rekey_sample(s);
        Ok(())
    }

    /// Decides what starts now: for each instrument slot that is free, up and
    /// not in maintenance, the best queued task of its class that (when its
    /// duration is known) ends before the instrument's next maintenance window.
    /// Among instruments it fits on, the one whose next window is soonest is
    /// used (best fit), then by name.
    pub fn dispatch(&mut self, now: Timestamp) -> Vec<Assignment> {
        let mut out = Vec::new();
        for class in 0..self.class_names.len() {
            if self.queue.class_len(class) == 0 {
                continue;
            }
            // (slot, free places, start of the next maintenance window)
            let mut free: Vec<(usize, u32, Option<Timestamp>)> = Vec::new();
            for &i in &self.class_slots[class] {
                let slot = &self.slots[i];
                let used = u32::try_from(slot.running.len()).unwrap_or(u32::MAX);
                if used >= slot.instrument.capacity || !slot.instrument.accepts(now, None) {
                    continue;
                }
                let limit = slot
                    .instrument
                    .next_maintenance(now)
                    .map(|(start, _)| start);
                free.push((i, slot.instrument.capacity - used, limit));
            }
            // Soonest window first, so best fit is the first that fits.
            free.sort_by_key(|&(i, _, limit)| (limit.is_none(), limit, i));
            let mut share = self.owner_shares(class);
            let mut chosen = Vec::new();
            for (key, id) in self.queue.iter(class).take(SCAN_LIMIT) {
                if free.is_empty() {
                    break;
                }
                let owner = self.owner_of(id);
                if !share.admits(owner) {
                    continue;
                }
                let p = self.tasks[id.0 as usize].predicted;
                let fits = |limit: &Option<Timestamp>| {
                    !p.known || limit.is_none_or(|l| now + p.duration <= l)
                };
                if let Some(k) = free.iter().position(|(_, _, limit)| fits(limit)) {
                    share.take(owner);
                    chosen.push((key, id, free[k].0));
                    free[k].1 -= 1;
                    if free[k].1 == 0 {
                        free.remove(k);
                    }
                }
            }
            for (key, id, slot) in chosen {
                self.queue.remove(class, key, id);
                let name = self.slots[slot].instrument.name.clone();
                self.slots[slot].running.insert(id);
                self.running += 1;
                self.stats.dispatched += 1;
                let deadline = self.samples[self.tasks[id.0 as usize].sample]
                    .profile
                    .deadline;
                let task = &mut self.tasks[id.0 as usize];
                task.attempts += 1;
                task.state = TaskState::Running {
                    instrument: name.clone(),
                    started: now,
                    attempt: task.attempts,
                };
                out.push(Assignment {
                    task: id,
                    sample: self.samples[task.sample].profile.id.clone(),
                    stage: task.stage.clone(),
                    instrument: name,
                    attempt: task.attempts,
                    predicted_end: now + task.predicted.duration,
                    slack: deadline.map(|d| d - now - task.tail),
                });
            }
        }
        out
    }

    /// The owner of a task's sample.
    fn owner_of(&self, id: TaskId) -> Option<&str> {
        let sample = self.tasks.get(id.0 as usize)?.sample;
        self.samples.get(sample)?.profile.owner.as_deref()
    }

    /// How many places of `class` each owner holds now, and the most one may hold.
    fn owner_shares(&self, class: usize) -> Shares {
        let capacity: u64 = self.class_slots[class]
            .iter()
            .map(|&i| u64::from(self.slots[i].instrument.capacity))
            .sum();
        let percent = u64::from(self.config.owner_share_percent.min(100));
        let cap = (capacity * percent).div_ceil(100).max(1);
        let mut held: BTreeMap<String, u64> = BTreeMap::new();
        for &i in &self.class_slots[class] {
            for &id in &self.slots[i].running {
                if let Some(owner) = self.owner_of(id) {
                    *held.entry(owner.to_owned()).or_default() += 1;
                }
            }
        }
        Shares {
            cap: (percent < 100).then_some(cap),
            held,
        }
    }

    /// A running task finished. `fuel` (when the stage was metered) goes into
    /// the module's history and, with the elapsed time, calibrates the rate.
    /// Returns the tasks that became ready.
    pub fn complete(
        &mut self,
        id: TaskId,
        now: Timestamp,
        fuel: Option<u64>,
    ) -> Result<Vec<TaskId>, ScheduleError> {
        let (instrument, started) = self.stop(id)?;
        let t = &mut self.tasks[id.0 as usize];
        t.state = TaskState::Done {
            instrument,
            finished: now,
        };
        let (module, succs, sample) = (t.module.clone(), t.succs.clone(), t.sample);
        self.finish_one(sample, now);
        let mut ready = Vec::new();
        for s in succs {
            let st = &mut self.tasks[s.0 as usize];
            st.deps_left = st.deps_left.saturating_sub(1);
            if st.deps_left == 0 && st.state == TaskState::Waiting {
                self.make_ready(s, now);
                ready.push(s);
            }
        }
        if let Some(fuel) = fuel {
            self.fuel.observe(&module, fuel, Some(now - started));
            self.refresh_predictions(&module);
        }
        Ok(ready)
    }

    /// A task failed for good (its own error, after its recovery policy): it
    /// and every stage after it end; the rest of the sample carries on.
    pub fn fail(&mut self, id: TaskId, now: Timestamp) -> Result<(), ScheduleError> {
        let t = self.task(id).ok_or(ScheduleError::UnknownTask(id))?;
        let (state, class, key) = (t.state.clone(), t.class_ix, t.key);
        match state {
            TaskState::Running { .. } => {
                self.stop(id)?;
            }
            TaskState::Ready => {
                self.queue.remove(class, key, id);
            }
            TaskState::Waiting => {}
            other => {
                return Err(ScheduleError::NotRunning {
                    task: id,
                    state: other.name(),
                });
            }
        }
        let sample = self.tasks[id.0 as usize].sample;
        self.tasks[id.0 as usize].state = TaskState::Failed;
        self.samples[sample].status.failed = true;
        self.finish_one(sample, now);
        let mut stack = self.tasks[id.0 as usize].succs.clone();
        while let Some(s) = stack.pop() {
            let st = &mut self.tasks[s.0 as usize];
            if st.state == TaskState::Waiting {
                st.state = TaskState::Skipped;
                stack.extend(st.succs.iter().copied());
                self.finish_one(sample, now);
            }
        }
        Ok(())
    }

    /// Puts a running task back in the queue (its instrument failed, went into
    /// maintenance, or the executor gave up on this attempt). It keeps its key,
    /// so it goes first again; finished stages of its sample stay finished.
    pub fn requeue(&mut self, id: TaskId) -> Result<(), ScheduleError> {
        self.stop(id)?;
        self.tasks[id.0 as usize].state = TaskState::Ready;
        // Same ready time, so the same key unless a prediction moved meanwhile.
        let key = self.key(id);
        let t = &mut self.tasks[id.0 as usize];
        t.key = key;
        self.queue.insert(t.class_ix, key, id);
        self.stats.requeued += 1;
        Ok(())
    }

    /// Changes an instrument's state. Going down re-queues what ran on it
    /// (returned, for the executor to cancel); draining lets it finish.
    pub fn set_state(
        &mut self,
        name: &str,
        state: InstrumentState,
    ) -> Result<Vec<TaskId>, ScheduleError> {
        let &i = self
            .by_name
            .get(name)
            .ok_or_else(|| ScheduleError::UnknownInstrument(name.to_owned()))?;
        self.slots[i].instrument.state = state;
        if state != InstrumentState::Down {
            return Ok(Vec::new());
        }
        let victims: Vec<TaskId> = self.slots[i].running.iter().copied().collect();
        for &id in &victims {
            self.requeue(id)?;
        }
        Ok(victims)
    }

    /// Adds an instrument (of a new class or not) while the scheduler runs.
    pub fn add_instrument(&mut self, instrument: Instrument) -> Result<(), ScheduleError> {
        if self.by_name.contains_key(&instrument.name) {
            return Err(ScheduleError::Sample {
                sample: String::new(),
                message: format!("instrument `{}` is declared twice", instrument.name),
            });
        }
        let i = self.slots.len();
        self.by_name.insert(instrument.name.clone(), i);
        match self.class_index(&instrument.class) {
            Some(c) => self.class_slots[c].push(i),
            None => {
                self.class_names.push(instrument.class.clone());
                self.class_slots.push(vec![i]);
                self.queue.add_class();
            }
        }
        self.slots.push(Slot {
            instrument,
            running: BTreeSet::new(),
        });
        Ok(())
    }

    /// Withdraws a sample whose run went away (cancelled): its running tasks
    /// free their instruments, its queued and waiting tasks are skipped.
    pub fn abandon_sample(&mut self, id: &str, now: Timestamp) {
        for task in self.sample_tasks(id) {
            let t = &self.tasks[task.0 as usize];
            let (state, class, key, sample) = (t.state.clone(), t.class_ix, t.key, t.sample);
            match state {
                TaskState::Running { .. } => {
                    // It is running, so it is in its slot's set: `stop` cannot fail.
                    let _ = self.stop(task);
                }
                TaskState::Ready => {
                    self.queue.remove(class, key, task);
                }
                TaskState::Waiting => {}
                _ => continue,
            }
            self.tasks[task.0 as usize].state = TaskState::Skipped;
            self.finish_one(sample, now);
        }
    }

    /// Replaces an instrument's maintenance windows (a window added or
    /// cancelled at run time). Keys do not change; call
    /// [`Scheduler::preempt_maintenance`] to re-queue work inside a window now.
    pub fn set_maintenance(
        &mut self,
        name: &str,
        windows: Vec<super::instrument::Window>,
    ) -> Result<(), ScheduleError> {
        let &i = self
            .by_name
            .get(name)
            .ok_or_else(|| ScheduleError::UnknownInstrument(name.to_owned()))?;
        self.slots[i].instrument.maintenance = windows;
        Ok(())
    }

    /// When running work must be looked at again even if nothing else
    /// happens: the soonest start, after `now`, of a maintenance window on an
    /// instrument that runs something (see [`Scheduler::preempt_maintenance`]).
    pub fn next_preemption(&self, now: Timestamp) -> Option<Timestamp> {
        self.slots
            .iter()
            .filter(|s| !s.running.is_empty())
            .filter_map(|s| s.instrument.next_maintenance(now))
            .map(|(start, _)| start)
            .filter(|&start| start > now)
            .min()
    }

    /// Re-queues the tasks running on instruments that are in maintenance at
    /// `now` (work that overran its prediction, or of unknown duration).
    pub fn preempt_maintenance(&mut self, now: Timestamp) -> Vec<TaskId> {
        let victims: Vec<TaskId> = self
            .slots
            .iter()
            .filter(|s| !s.running.is_empty() && s.instrument.in_maintenance(now).is_some())
            .flat_map(|s| s.running.iter().copied())
            .collect();
        for &id in &victims {
            // Each victim is running (it is in a slot's running set), so this cannot fail.
            let _ = self.requeue(id);
        }
        victims
    }

    /// When dispatch should be asked again even if nothing else happens: the
    /// soonest end of a maintenance window on an up instrument whose class has
    /// queued work.
    pub fn next_wakeup(&self, now: Timestamp) -> Option<Timestamp> {
        self.class_slots
            .iter()
            .enumerate()
            .filter(|(class, _)| self.queue.class_len(*class) > 0)
            .flat_map(|(_, slots)| slots.iter())
            .map(|&i| &self.slots[i].instrument)
            .filter(|inst| inst.state == InstrumentState::Up)
            .filter_map(|inst| inst.next_maintenance(now).map(|(_, end)| end))
            .min()
    }

    /// Recomputes every prediction-derived tail and key from scratch and
    /// rebuilds the queue. Incremental updates keep the queue equal to this.
    pub fn recompute_all(&mut self) {
        self.stats.full_recomputes += 1;
        let mut classes: Vec<Vec<(i64, TaskId)>> = (0..self.class_names.len())
            .map(|c| Vec::with_capacity(self.queue.class_len(c)))
            .collect();
        for s in 0..self.samples.len() {
            if self.samples[s].unfinished == 0 {
                continue;
            }
            self.compute_tails(s);
            for id in self.ids(s).map(TaskId) {
                if self.tasks[id.0 as usize].state == TaskState::Ready {
                    let key = self.key(id);
                    let t = &mut self.tasks[id.0 as usize];
                    t.key = key;
                    classes[t.class_ix].push((key, id));
                }
            }
        }
        self.queue.rebuild(classes);
    }

    /// Takes new predictions from the fuel model for every module (e.g. after
    /// loading history) and recomputes everything.
    pub fn reload_predictions(&mut self) {
        self.keyed_rate = self.fuel.fuel_per_second();
        let modules: Vec<String> = self.keyed.keys().cloned().collect();
        for m in modules {
            let p = self.fuel.predict(&m);
            self.keyed.insert(m, p);
        }
        for t in &mut self.tasks {
            if let Some(p) = self.keyed.get(&t.module) {
                t.predicted = *p;
            }
        }
        self.recompute_all();
    }

    /// The fuel model, to record history from elsewhere; call
    /// [`Scheduler::reload_predictions`] afterwards.
    pub fn fuel_mut(&mut self) -> &mut FuelModel {
        &mut self.fuel
    }

    fn prediction(&mut self, module: &str) -> Prediction {
        if let Some(p) = self.keyed.get(module) {
            return *p;
        }
        let p = self.fuel.predict(module);
        self.keyed.insert(module.to_owned(), p);
        p
    }

    /// After new history for `module`: re-key what a drifted prediction changes.
    fn refresh_predictions(&mut self, module: &str) {
        let drift = f64::from(self.config.drift_percent) / 100.0;
        let rate = self.fuel.fuel_per_second();
        if (rate - self.keyed_rate).abs() > drift * self.keyed_rate {
            self.reload_predictions();
            return;
        }
        let new = self.fuel.predict(module);
        let Some(old) = self.keyed.get(module).copied() else {
            return;
        };
        let moved = (new.duration.0 - old.duration.0).abs() as f64;
        if new.known == old.known && moved <= drift * old.duration.0 as f64 {
            return;
        }
        self.keyed.insert(module.to_owned(), new);
        let samples: Vec<usize> = self
            .module_samples
            .get(module)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for s in samples {
            if self.samples[s].unfinished == 0 {
                continue;
            }
            for id in self.ids(s).map(TaskId) {
                let t = &mut self.tasks[id.0 as usize];
                if t.module == module {
                    t.predicted = new;
                }
            }
            self.rekey_sample(s);
        }
    }

    /// Recomputes one sample's tails and moves its queued tasks to their new keys.
    fn rekey_sample(&mut self, s: usize) {
        self.compute_tails(s);
        for id in self.ids(s).map(TaskId) {
            if self.tasks[id.0 as usize].state != TaskState::Ready {
                continue;
            }
            let key = self.key(id);
            let t = &mut self.tasks[id.0 as usize];
            if key != t.key {
                self.queue.remove(t.class_ix, t.key, id);
                t.key = key;
                self.queue.insert(t.class_ix, key, id);
                self.stats.rekeyed += 1;
            }
        }
    }

    /// Tail of each task: its predicted duration plus the longest tail after it.
    fn compute_tails(&mut self, s: usize) {
        for id in self.ids(s).rev().map(TaskId) {
            let t = &self.tasks[id.0 as usize];
            let after = t
                .succs
                .iter()
                .filter(|n| !self.tasks[n.0 as usize].state.is_terminal())
                .map(|n| self.tasks[n.0 as usize].tail)
                .max()
                .unwrap_or(Span::ZERO);
            let tail = t.predicted.duration + after;
            self.tasks[id.0 as usize].tail = tail;
        }
    }

    /// The task ids of sample `s`, in topological order.
    fn ids(&self, s: usize) -> std::ops::Range<u64> {
        let e = &self.samples[s];
        e.first..e.first + e.count
    }

    fn key(&self, id: TaskId) -> i64 {
        let t = &self.tasks[id.0 as usize];
        let profile = &self.samples[t.sample].profile;
        self.policy.key(
            &self.config.tuning,
            &KeyInput {
                ready_at: t.ready_at.unwrap_or(Timestamp(0)),
                deadline: profile.deadline,
                tail: t.tail,
                priority: profile.priority,
            },
        )
    }

    fn make_ready(&mut self, id: TaskId, now: Timestamp) {
        self.tasks[id.0 as usize].ready_at = Some(now);
        self.tasks[id.0 as usize].state = TaskState::Ready;
        let key = self.key(id);
        let t = &mut self.tasks[id.0 as usize];
        t.key = key;
        self.queue.insert(t.class_ix, key, id);
    }

    /// Takes a running task off its instrument; returns the instrument and start time.
    fn stop(&mut self, id: TaskId) -> Result<(String, Timestamp), ScheduleError> {
        let t = self.task(id).ok_or(ScheduleError::UnknownTask(id))?;
        let TaskState::Running {
            instrument,
            started,
            ..
        } = &t.state
        else {
            return Err(ScheduleError::NotRunning {
                task: id,
                state: t.state.name(),
            });
        };
        let (instrument, started) = (instrument.clone(), *started);
        if let Some(&i) = self.by_name.get(&instrument) {
            self.slots[i].running.remove(&id);
        }
        self.running -= 1;
        Ok((instrument, started))
    }

    fn finish_one(&mut self, s: usize, now: Timestamp) {
        let entry = &mut self.samples[s];
        entry.unfinished = entry.unfinished.saturating_sub(1);
        if entry.unfinished == 0 {
            entry.status.finished = Some(now);
        }
    }
}
