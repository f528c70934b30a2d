//! The `Dispatcher`: one `Scheduler` shared by every run of a process, so instrument capacity,
//! worker slots and sample priority hold across runs; each run receives its own starts and stops.
//!
//! A run joins with its samples' DAGs and gets a [`Membership`]: an inbox of
//! [`Order`]s for its tasks only. Every change — a run joining, a stage
//! ending, an instrument changing, a timer — ends with one dispatch decision
//! over the whole queue, and each start or stop goes to the run that owns the
//! task. The lock is a plain mutex, never held across an await: every
//! operation on the scheduler is microseconds (docs/benchmarks.md §6).
//! A run that goes away (cancelled, its future dropped) withdraws its samples
//! when its membership drops, freeing what they held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::error::{Error, Problem};
use crate::pipeline::Plan;
use crate::schedule::{
    Assignment, COMPUTE, Config as ScheduleConfig, FuelModel, Instrument, Observation,
    Policy as SchedulePolicy, SampleProfile, ScheduleError, Scheduler, TaskId, TaskSpec, Timestamp,
};
use crate::store::state::StateStore;

/// What a run is told to do with one of its tasks.
#[derive(Debug, Clone)]
pub enum Order {
    /// Start it now on this instrument.
    Start(Assignment),
    /// Stop it: the scheduler has put it back in the queue (its instrument
    /// went down, or a maintenance window began).
    Stop { task: TaskId, reason: String },
}

struct Inner {
    scheduler: Scheduler,
    /// Stages running at once, over every run (the worker slots).
    slots: u32,
    /// Without a calendar, a class a run needs becomes one instrument of
    /// that name with `slots` places; with one, such a run is refused.
    open: bool,
    owners: HashMap<TaskId, u64>,
    inboxes: HashMap<u64, mpsc::UnboundedSender<Order>>,
    /// Scheduler sample ids of each run.
    samples: HashMap<u64, Vec<String>>,
    next_run: u64,
}

/// The scheduler of a process; cheap to clone (all clones share it).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

/// A run's place in the [`Dispatcher`]: its inbox, and its samples, which
/// are withdrawn when this is dropped.
pub struct Membership {
    run: u64,
    dispatcher: Dispatcher,
    pub(crate) inbox: mpsc::UnboundedReceiver<Order>,
    /// Scheduler task ids per sample, in the order of the stages given.
    pub(crate) tasks: Vec<Vec<TaskId>>,
    /// Scheduler sample ids, in the order given.
    pub(crate) sample_ids: Vec<String>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut inner = self.dispatcher.lock();
        inner.inboxes.remove(&self.run);
        let now = Timestamp::now();
        for id in inner.samples.remove(&self.run).unwrap_or_default() {
            for task in inner.scheduler.sample_tasks(&id) {
                inner.owners.remove(&task);
            }
            inner.scheduler.abandon_sample(&id, now);
        }
        if inner.inboxes.is_empty() {
            // No run left: nothing refers to a task id any more.
            inner.scheduler.forget_finished();
        }
        inner.tick(now);
    }
}

/// The fuel history kept in the state database (an unreadable history
/// starts afresh: it only orders work, never changes it).
pub async fn fuel_history(state: &StateStore) -> Result<FuelModel, Error> {
    let mut model = state
        .fuel_model()
        .await?
        .and_then(|json| serde_json::from_str::<FuelModel>(&json).ok())
        .unwrap_or_default();
    model.replay(&state.fuel_observations(FUEL_HISTORY).await?);
    Ok(model)
}

/// How many of the latest fuel observations a process starts from.
const FUEL_HISTORY: i64 = 100_000;

fn schedule_error(e: ScheduleError) -> Error {
    Error::State(format!("scheduler: {e}"))
}

impl Dispatcher {
    /// A dispatcher over `instruments` (a calendar), or, with `None`, one
    /// instrument per class as runs need them; `slots` stages at most run at
    /// once; predictions start from `fuel`.
    pub fn new(
        instruments: Option<Vec<Instrument>>,
        slots: u32,
        fuel: FuelModel,
    ) -> Result<Dispatcher, Error> {
        let open = instruments.is_none();
        let scheduler = Scheduler::new(
            SchedulePolicy::Petri,
            instruments.unwrap_or_default(),
            fuel,
            ScheduleConfig {
                worker_slots: slots,
                ..ScheduleConfig::default()
            },
        )
        .map_err(schedule_error)?;
        Ok(Dispatcher {
            inner: Arc::new(Mutex::new(Inner {
                scheduler,
                slots: slots.max(1),
                open,
                owners: HashMap::new(),
                inboxes: HashMap::new(),
                samples: HashMap::new(),
                next_run: 0,
            })),
        })
    }

    /// Sets the fair share between owners (see `schedule::Config::owner_share_percent`).
    pub fn set_owner_share(&self, percent: u32) {
        self.lock().scheduler.set_owner_share(percent);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the scheduler as consistent
        // as the panicking call made it; carrying on beats poisoning every run.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the scheduler.
    pub fn with<R>(&self, f: impl FnOnce(&Scheduler) -> R) -> R {
        f(&self.lock().scheduler)
    }

    /// The fuel history.
    pub fn fuel(&self) -> FuelModel {
        self.lock().scheduler.fuel().clone()
    }

    /// The fuel observations made since the last call, to append to the
    /// history every process sharing the database reads.
    pub fn drain_fuel(&self) -> Vec<Observation> {
        self.lock().scheduler.fuel_mut().drain()
    }

    /// Checks that every class `plan` needs has an instrument (adding one
    /// per missing class when there is no calendar).
    pub fn admit(&self, plan: &Plan) -> Result<(), Error> {
        let mut inner = self.lock();
        let mut problems = Vec::new();
        for stage in &plan.stages {
            let class = stage.instrument.as_str();
            if inner.scheduler.instruments().any(|i| i.class == class) {
                continue;
            }
            if inner.open && class != COMPUTE {
                let slots = inner.slots;
                inner
                    .scheduler
                    .add_instrument(Instrument::new(class, class, slots))
                    .map_err(schedule_error)?;
            } else {
                problems.push(Problem {
                    field: format!("stage `{}`", stage.id),
                    problem: format!(
                        "needs instrument class `{class}`, which no instrument in the calendar provides"
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Request(problems))
        }
    }

    /// Submits a run's samples (one DAG each, over `specs`) and dispatches.
    /// Sample ids are made unique per run.
    pub(crate) fn join(
        &self,
        samples: Vec<SampleProfile>,
        specs: &[TaskSpec],
        now: Timestamp,
    ) -> Result<Membership, Error> {
        let (tx, inbox) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        let run = inner.next_run;
        inner.next_run += 1;
        inner.inboxes.insert(run, tx);
        let mut membership = Membership {
            run,
            dispatcher: self.clone(),
            inbox,
            tasks: Vec::new(),
            sample_ids: Vec::new(),
        };
        for mut profile in samples {
            profile.id = format!("{run}/{}", profile.id);
            let id = profile.id.clone();
            let tasks = inner
                .scheduler
                .add_sample(profile, specs, now)
                .map_err(schedule_error)?;
            for &task in &tasks {
                inner.owners.insert(task, run);
            }
            inner.samples.entry(run).or_default().push(id.clone());
            membership.sample_ids.push(id);
            membership.tasks.push(tasks);
        }
        inner.tick(now);
        drop(inner);
        Ok(membership)
    }

    /// A task ended well; `fuel` when it was metered.
    pub(crate) fn complete(
        &self,
        task: TaskId,
        now: Timestamp,
        fuel: Option<u64>,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        inner
            .scheduler
            .complete(task, now, fuel)
            .map_err(schedule_error)?;
        inner.tick(now);
        Ok(())
    }

    /// A task failed for good (or could not run): it and what follows it end.
    pub(crate) fn fail(&self, task: TaskId, now: Timestamp) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.scheduler.fail(task, now).map_err(schedule_error)?;
        inner.tick(now);
        Ok(())
    }

    /// Stops what maintenance now covers and starts what may start.
    pub(crate) fn tick(&self, now: Timestamp) {
        self.lock().tick(now);
    }

    /// When to call [`Dispatcher::tick`] even if nothing else happens: a
    /// maintenance window ending (queued work waits for it) or beginning
    /// (running work must stop).
    pub(crate) fn wakeup(&self, now: Timestamp) -> Option<Timestamp> {
        let inner = self.lock();
        [
            inner.scheduler.next_wakeup(now),
            inner.scheduler.next_preemption(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Applies instruments as they are now (state and maintenance, by name;
    /// new names are added): what ran on an instrument that went down is
    /// stopped and re-queued, then everything is dispatched again.
    pub fn set_instruments(&self, current: &[Instrument]) -> Result<(), Error> {
        let mut inner = self.lock();
        let now = Timestamp::now();
        for inst in current {
            let Some(known) = inner.scheduler.instrument(&inst.name) else {
                inner
                    .scheduler
                    .add_instrument(inst.clone())
                    .map_err(schedule_error)?;
                continue;
            };
            let (state, maintenance) = (known.state, known.maintenance.clone());
            if maintenance != inst.maintenance {
                inner
                    .scheduler
                    .set_maintenance(&inst.name, inst.maintenance.clone())
                    .map_err(schedule_error)?;
            }
            if state != inst.state {
                let reason = format!("instrument `{}` went {}", inst.name, inst.state);
                for task in inner
                    .scheduler
                    .set_state(&inst.name, inst.state)
                    .map_err(schedule_error)?
                {
                    inner.send(
                        task,
                        Order::Stop {
                            task,
                            reason: reason.clone(),
                        },
                    );
                }
            }
        }
        inner.tick(now);
        Ok(())
    }
}

impl Inner {
    /// Sends `order` to the run owning `task`. A run that is gone cannot
    /// take it: the task is withdrawn.
    fn send(&mut self, task: TaskId, order: Order) {
        let delivered = self
            .owners
            .get(&task)
            .and_then(|run| self.inboxes.get(run))
            .is_some_and(|tx| tx.send(order).is_ok());
        if !delivered {
            let _ = self.scheduler.fail(task, Timestamp::now());
        }
    }

    fn tick(&mut self, now: Timestamp) {
        for task in self.scheduler.preempt_maintenance(now) {
            self.send(
                task,
                Order::Stop {
                    task,
                    reason: "a maintenance window began".into(),
                },
            );
        }
        let started = self.scheduler.dispatch(now);
        let mut busy = self.scheduler.running().saturating_sub(started.len());
        for a in started {
            if busy >= self.slots as usize {
                // Every worker slot is busy: back in the queue, with its key.
                let _ = self.scheduler.requeue(a.task);
                continue;
            }
            busy += 1;
            self.send(a.task, Order::Start(a));
        }
    }
}
