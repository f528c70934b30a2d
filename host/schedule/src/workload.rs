//! The workload file `petri simulate` runs: instruments, pipeline DAG templates, sample arrivals
//! (fixed and seeded-random), and instrument failures; and its realisation for one seed.
//!
//! ```toml
//! [simulation]
//! name = "steady sequencing core"
//! start = "2026-11-23T00:00:00Z"      # the virtual clock's origin
//! horizon = "7d"                       # random arrivals stop here; report window
//! limit = "28d"                        # the clock stops here (default 4 × horizon)
//! seed = 7                             # default; `--seed` overrides
//! jitter = 0.15                        # actual work = nominal × U(1 − j, 1 + j)
//! fuel-per-second = 1e10               # the simulated host's rate
//! worker-slots = 4                     # the implicit `compute` instrument
//! maintenance-duration = "4h"          # slot length for maintenance proposals
//! history = true                       # modules start with one run of history
//! slack-horizon = "24h"                # petri policy constants (docs/scheduler.md)
//! aging-percent = 100
//! tier-step = "72h"                    # default: 3 × slack-horizon
//! calendar = "../instruments/core.toml"  # instruments (relative to this file)
//!
//! [instruments.prep-robot]             # more instruments, calendar syntax
//! class = "prep"
//!
//! [pipelines.wgs.stages.prep]
//! instrument = "prep"                  # class; default "compute"
//! duration = "2h"                      # or fuel = 1_000_000_000_000
//! [pipelines.wgs.stages.sequence]
//! instrument = "sequencer"
//! duration = "12h"
//! after = ["prep"]
//!
//! [[samples]]
//! id = "stat-1"
//! pipeline = "wgs"
//! at = "2h"                            # arrival, after start
//! stability = "48h"                    # or expires = "30h" (after start)
//! priority = "clinical"
//!
//! [[arrivals]]                         # Poisson arrivals
//! pipeline = "wgs"
//! every = "3h"                         # mean time between arrivals
//! until = "7d"                         # default: the horizon
//! stability = ["36h", "96h"]           # uniform in a range, or one value
//! urgent = 0.05                        # probabilities
//! clinical = 0.02
//!
//! [[failures]]
//! instrument = "novaseq-2"
//! at = "30h"
//! repair = "10h"                       # back up after; absent: stays down
//! state = "down"                       # or "draining"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use toml::Spanned;

use super::calendar::{self, ClassDecl, InstrumentDecl};
use super::decay::{Priority, SampleProfile};
use super::error::{ScheduleError, Source, read};
use super::instrument::{COMPUTE, Instrument, InstrumentState};
use super::policy::Tuning;
use super::task::TaskSpec;
use super::time::{Span, Timestamp};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    simulation: Spanned<SimulationDecl>,
    #[serde(default)]
    instruments: BTreeMap<String, Spanned<InstrumentDecl>>,
    #[serde(default)]
    classes: BTreeMap<String, Spanned<ClassDecl>>,
    #[serde(default)]
    pipelines: BTreeMap<String, Spanned<PipelineDecl>>,
    #[serde(default)]
    samples: Vec<Spanned<SampleDecl>>,
    #[serde(default)]
    arrivals: Vec<Spanned<ArrivalDecl>>,
    #[serde(default)]
    failures: Vec<Spanned<FailureDecl>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SimulationDecl {
    #[serde(default)]
    name: Option<String>,
    start: Spanned<String>,
    horizon: Spanned<String>,
    #[serde(default)]
    limit: Option<Spanned<String>>,
    #[serde(default)]
    seed: Option<Spanned<i64>>,
    #[serde(default)]
    jitter: Option<Spanned<f64>>,
    #[serde(default)]
    fuel_per_second: Option<Spanned<f64>>,
    #[serde(default)]
    worker_slots: Option<Spanned<i64>>,
    #[serde(default)]
    maintenance_duration: Option<Spanned<String>>,
    #[serde(default)]
    history: Option<bool>,
    #[serde(default)]
    calendar: Option<Spanned<String>>,
    #[serde(default)]
    slack_horizon: Option<Spanned<String>>,
    #[serde(default)]
    aging_percent: Option<Spanned<i64>>,
    #[serde(default)]
    tier_step: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineDecl {
    stages: BTreeMap<String, Spanned<StageDecl>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageDecl {
    #[serde(default)]
    instrument: Option<String>,
    #[serde(default)]
    duration: Option<Spanned<String>>,
    #[serde(default)]
    fuel: Option<Spanned<i64>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    #[serde(default)]
    module: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleDecl {
    id: Spanned<String>,
    pipeline: Spanned<String>,
    at: Spanned<String>,
    #[serde(default)]
    stability: Option<Spanned<String>>,
    #[serde(default)]
    expires: Option<Spanned<String>>,
    #[serde(default)]
    priority: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrRange {
    One(String),
    Range(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrivalDecl {
    pipeline: Spanned<String>,
    every: Spanned<String>,
    #[serde(default)]
    from: Option<Spanned<String>>,
    #[serde(default)]
    until: Option<Spanned<String>>,
    #[serde(default)]
    stability: Option<Spanned<OneOrRange>>,
    #[serde(default)]
    urgent: Option<Spanned<f64>>,
    #[serde(default)]
    clinical: Option<Spanned<f64>>,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureDecl {
    instrument: Spanned<String>,
    at: Spanned<String>,
    #[serde(default)]
    repair: Option<Spanned<String>>,
    #[serde(default)]
    state: Option<Spanned<String>>,
}

/// One stage of a pipeline template.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTemplate {
    pub spec: TaskSpec,
    /// Nominal work in fuel (a `duration` is converted at the host rate).
    pub fuel: u64,
}

/// A sample given in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedSample {
    pub id: String,
    pub pipeline: String,
    pub at: Span,
    pub stability: Option<Span>,
    pub expires: Option<Span>,
    pub priority: Priority,
}

/// A stream of random arrivals.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalStream {
    pub pipeline: String,
    pub prefix: String,
    pub every: Span,
    pub from: Span,
    pub until: Span,
    pub stability: Option<(Span, Span)>,
    pub urgent: f64,
    pub clinical: f64,
}

/// An instrument state change at a given time.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureEvent {
    pub instrument: String,
    pub at: Span,
    pub repair: Option<Span>,
    pub state: InstrumentState,
}

/// A checked workload file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub name: String,
    pub file: PathBuf,
    pub start: Timestamp,
    pub horizon: Span,
    pub limit: Span,
    pub seed: u64,
    pub jitter: f64,
    pub fuel_per_second: f64,
    pub worker_slots: u32,
    pub maintenance_duration: Span,
    pub history: bool,
    /// The petri policy's constants.
    pub tuning: Tuning,
    pub instruments: Vec<Instrument>,
    /// Pipeline → stages in name order.
    pub pipelines: BTreeMap<String, Vec<StageTemplate>>,
    pub samples: Vec<FixedSample>,
    pub arrivals: Vec<ArrivalStream>,
    pub failures: Vec<FailureEvent>,
}

/// One sample of a realised workload.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSample {
    pub profile: SampleProfile,
    pub arrive: Timestamp,
    pub pipeline: String,
    /// Actual fuel of each stage (template order), jitter applied.
    pub fuel: Vec<u64>,
}

/// A workload with its random parts drawn from one seed: what every policy is run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub workload: Workload,
    pub seed: u64,
    /// In arrival order.
    pub samples: Vec<ScenarioSample>,
}

/// Reads and checks a workload file.
pub fn load_workload(path: &Path) -> Result<Workload, ScheduleError> {
    let text = read(path)?;
    parse_workload(path, &text)
}

/// Parses and checks a workload; a `calendar` is read relative to `path`.
pub fn parse_workload(path: &Path, text: &str) -> Result<Workload, ScheduleError> {
    let src = Source { file: path, text };
    let file: WorkloadFile = src.parse()?;
    let sim = file.simulation.get_ref();
    let span = |v: &Spanned<String>, field: &str| {
        Span::parse(v.get_ref()).map_err(|e| src.error(Some(v.span()), field, e))
    };
    let start = Timestamp::parse_rfc3339(sim.start.get_ref())
        .map_err(|e| src.error(Some(sim.start.span()), "simulation.start", e))?;
    let horizon = span(&sim.horizon, "simulation.horizon")?;
    let limit = match &sim.limit {
        Some(l) => span(l, "simulation.limit")?,
        None => horizon.saturating_mul(4),
    };
    let seed = match &sim.seed {
        None => 0,
        Some(s) => u64::try_from(*s.get_ref())
            .map_err(|_| src.error(Some(s.span()), "simulation.seed", "a seed is ≥ 0"))?,
    };
    let jitter = match &sim.jitter {
        None => 0.0,
        Some(j) if (0.0..1.0).contains(j.get_ref()) => *j.get_ref(),
        Some(j) => {
            return Err(src.error(
                Some(j.span()),
                "simulation.jitter",
                "jitter is a fraction in [0, 1)",
            ));
        }
    };
    let fuel_per_second = match &sim.fuel_per_second {
        None => super::fuel::DEFAULT_FUEL_PER_SECOND,
        Some(r) if r.get_ref().is_finite() && *r.get_ref() > 0.0 => *r.get_ref(),
        Some(r) => {
            return Err(src.error(
                Some(r.span()),
                "simulation.fuel-per-second",
                "a rate is a positive number",
            ));
        }
    };
    let worker_slots = match &sim.worker_slots {
        None => 2,
        Some(w) => u32::try_from(*w.get_ref())
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                src.error(
                    Some(w.span()),
                    "simulation.worker-slots",
                    "a whole number ≥ 1",
                )
            })?,
    };
    let maintenance_duration = match &sim.maintenance_duration {
        Some(d) => span(d, "simulation.maintenance-duration")?,
        None => Span::HOUR.saturating_mul(4),
    };

    let mut tuning = Tuning::default();
    if let Some(c) = &sim.slack_horizon {
        tuning.slack_horizon = span(c, "simulation.slack-horizon")?;
        // The tier step follows the horizon unless given: 3C keeps urgent work first.
        tuning.tier_step = tuning.slack_horizon.saturating_mul(3);
    }
    if let Some(s) = &sim.tier_step {
        tuning.tier_step = span(s, "simulation.tier-step")?;
    }
    if let Some(a) = &sim.aging_percent {
        if *a.get_ref() < 0 {
            return Err(src.error(Some(a.span()), "simulation.aging-percent", "must be ≥ 0"));
        }
        tuning.aging_percent = *a.get_ref();
    }

    let mut instruments = Vec::new();
    if let Some(c) = &sim.calendar {
        let cal_path = path.parent().unwrap_or(Path::new("")).join(c.get_ref());
        let cal_text = read(&cal_path)
            .map_err(|e| src.error(Some(c.span()), "simulation.calendar", e.to_string()))?;
        instruments.extend(calendar::parse_calendar(&cal_path, &cal_text, Some(start))?);
    }
    for inst in calendar::instruments(&src, &file.instruments, Some(start))? {
        if instruments.iter().any(|i: &Instrument| i.name == inst.name) {
            let at = file.instruments.get(&inst.name).map(Spanned::span);
            return Err(src.error(
                at,
                format!("instruments.{}", inst.name),
                "declared in the calendar too",
            ));
        }
        instruments.push(inst);
    }
    calendar::apply_classes(&src, &file.classes, &mut instruments)?;
    let mut classes: BTreeSet<String> = instruments.iter().map(|i| i.class.clone()).collect();
    classes.insert(COMPUTE.to_owned());

    let mut pipelines = BTreeMap::new();
    for (name, p) in &file.pipelines {
        let mut stages = Vec::new();
        for (stage, decl) in &p.get_ref().stages {
            let field = |f: &str| format!("pipelines.{name}.stages.{stage}.{f}");
            let d = decl.get_ref();
            let class = d.instrument.clone().unwrap_or_else(|| COMPUTE.to_owned());
            if !classes.contains(&class) {
                return Err(src.error(
                    Some(decl.span()),
                    field("instrument"),
                    format!(
                        "no instrument of class `{class}` (classes: {})",
                        classes.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            let fuel = match (&d.duration, &d.fuel) {
                (Some(t), None) => {
                    (span(t, &field("duration"))?.as_secs_f64() * fuel_per_second) as u64
                }
                (None, Some(f)) => u64::try_from(*f.get_ref())
                    .ok()
                    .filter(|f| *f > 0)
                    .ok_or_else(|| {
                        src.error(Some(f.span()), field("fuel"), "fuel is a whole number > 0")
                    })?,
                _ => {
                    return Err(src.error(
                        Some(decl.span()),
                        field("duration"),
                        "give exactly one of `duration` and `fuel`",
                    ));
                }
            };
            let mut after = Vec::new();
            for a in &d.after {
                if !p.get_ref().stages.contains_key(a.get_ref()) {
                    return Err(src.error(
                        Some(a.span()),
                        field("after"),
                        format!("no stage `{}` in pipeline `{name}`", a.get_ref()),
                    ));
                }
                after.push(a.get_ref().clone());
            }
            stages.push(StageTemplate {
                spec: TaskSpec {
                    stage: stage.clone(),
                    module: d
                        .module
                        .clone()
                        .unwrap_or_else(|| format!("{name}/{stage}")),
                    class,
                    after,
                },
                fuel,
            });
        }
        if stages.is_empty() {
            return Err(src.error(
                Some(p.span()),
                format!("pipelines.{name}.stages"),
                "a pipeline needs stages",
            ));
        }
        pipelines.insert(name.clone(), stages);
    }
    let pipeline = |p: &Spanned<String>, field: &str| {
        if pipelines.contains_key(p.get_ref()) {
            Ok(p.get_ref().clone())
        } else {
            Err(src.error(
                Some(p.span()),
                field,
                format!("no pipeline `{}`", p.get_ref()),
            ))
        }
    };

    let mut samples = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, s) in file.samples.iter().enumerate() {
        let d = s.get_ref();
        let field = |f: &str| format!("samples[{i}].{f}");
        if !ids.insert(d.id.get_ref().clone()) {
            return Err(src.error(Some(d.id.span()), field("id"), "duplicate sample id"));
        }
        samples.push(FixedSample {
            id: d.id.get_ref().clone(),
            pipeline: pipeline(&d.pipeline, &field("pipeline"))?,
            at: span(&d.at, &field("at"))?,
            stability: d
                .stability
                .as_ref()
                .map(|v| span(v, &field("stability")))
                .transpose()?,
            expires: d
                .expires
                .as_ref()
                .map(|v| span(v, &field("expires")))
                .transpose()?,
            priority: match &d.priority {
                None => Priority::Normal,
                Some(p) => p
                    .get_ref()
                    .parse()
                    .map_err(|e| src.error(Some(p.span()), field("priority"), e))?,
            },
        });
    }

    let mut arrivals = Vec::new();
    for (i, a) in file.arrivals.iter().enumerate() {
        let d = a.get_ref();
        let field = |f: &str| format!("arrivals[{i}].{f}");
        let every = span(&d.every, &field("every"))?;
        if every <= Span::ZERO {
            return Err(src.error(Some(d.every.span()), field("every"), "must be > 0"));
        }
        let stability = match &d.stability {
            None => None,
            Some(s) => {
                let bad = |m: &str| src.error(Some(s.span()), field("stability"), m);
                match s.get_ref() {
                    OneOrRange::One(v) => {
                        let v = Span::parse(v).map_err(|e| bad(&e))?;
                        Some((v, v))
                    }
                    OneOrRange::Range(r) => match r.as_slice() {
                        [lo, hi] => {
                            let lo = Span::parse(lo).map_err(|e| bad(&e))?;
                            let hi = Span::parse(hi).map_err(|e| bad(&e))?;
                            if hi < lo {
                                return Err(bad("the range is [low, high]"));
                            }
                            Some((lo, hi))
                        }
                        _ => return Err(bad("a range is two durations: [\"24h\", \"72h\"]")),
                    },
                }
            }
        };
        let probability = |v: &Option<Spanned<f64>>, f: &str| match v {
            None => Ok(0.0),
            Some(p) if (0.0..=1.0).contains(p.get_ref()) => Ok(*p.get_ref()),
            Some(p) => Err(src.error(Some(p.span()), field(f), "a probability in [0, 1]")),
        };
        let urgent = probability(&d.urgent, "urgent")?;
        let clinical = probability(&d.clinical, "clinical")?;
        if urgent + clinical > 1.0 {
            return Err(src.error(
                Some(a.span()),
                field("urgent"),
                "urgent + clinical is more than 1",
            ));
        }
        let pipeline = pipeline(&d.pipeline, &field("pipeline"))?;
        arrivals.push(ArrivalStream {
            prefix: d.prefix.clone().unwrap_or_else(|| pipeline.clone()),
            pipeline,
            every,
            from: d
                .from
                .as_ref()
                .map(|v| span(v, &field("from")))
                .transpose()?
                .unwrap_or(Span::ZERO),
            until: d
                .until
                .as_ref()
                .map(|v| span(v, &field("until")))
                .transpose()?
                .unwrap_or(horizon),
            stability,
            urgent,
            clinical,
        });
    }

    let mut failures = Vec::new();
    for (i, f) in file.failures.iter().enumerate() {
        let d = f.get_ref();
        let field = |x: &str| format!("failures[{i}].{x}");
        if !instruments
            .iter()
            .any(|i| &i.name == d.instrument.get_ref())
        {
            return Err(src.error(
                Some(d.instrument.span()),
                field("instrument"),
                format!("no instrument `{}`", d.instrument.get_ref()),
            ));
        }
        let state = match &d.state {
            None => InstrumentState::Down,
            Some(s) => match s.get_ref().parse() {
                Ok(InstrumentState::Up) | Err(_) => {
                    return Err(src.error(
                        Some(s.span()),
                        field("state"),
                        "a failure's state is `down` or `draining`",
                    ));
                }
                Ok(st) => st,
            },
        };
        failures.push(FailureEvent {
            instrument: d.instrument.get_ref().clone(),
            at: span(&d.at, &field("at"))?,
            repair: d
                .repair
                .as_ref()
                .map(|v| span(v, &field("repair")))
                .transpose()?,
            state,
        });
    }

    Ok(Workload {
        name: sim.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        file: path.to_owned(),
        start,
        horizon,
        limit,
        seed,
        jitter,
        fuel_per_second,
        worker_slots,
        maintenance_duration,
        history: sim.history.unwrap_or(true),
        tuning,
        instruments,
        pipelines,
        samples,
        arrivals,
        failures,
    })
}

impl Workload {
    /// Draws the random parts (arrival times, priorities, stability, jitter)
    /// from a ChaCha8 stream seeded with `seed`: the same seed gives the same scenario.
    pub fn realise(&self, seed: u64) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut samples = Vec::new();
        for f in &self.samples {
            let arrive = self.start + f.at;
            samples.push((
                SampleProfile::new(
                    f.id.clone(),
                    f.priority,
                    Some(arrive),
                    f.expires.map(|e| self.start + e),
                    f.stability,
                ),
                arrive,
                f.pipeline.clone(),
            ));
        }
        for a in &self.arrivals {
            let mut t = a.from;
            let mut n = 0;
            loop {
                // Exponential inter-arrival time with mean `every`.
                let u: f64 = rng.random();
                t = t + Span::from_secs_f64(-(1.0 - u).ln() * a.every.as_secs_f64());
                if t >= a.until {
                    break;
                }
                n += 1;
                let p: f64 = rng.random();
                let priority = if p < a.clinical {
                    Priority::Clinical
                } else if p < a.clinical + a.urgent {
                    Priority::Urgent
                } else {
                    Priority::Normal
                };
                let stability = a.stability.map(|(lo, hi)| {
                    let u: f64 = rng.random();
                    lo + Span::from_secs_f64(u * (hi - lo).as_secs_f64())
                });
                let arrive = self.start + t;
                samples.push((
                    SampleProfile::new(
                        format!("{}-{n:04}", a.prefix),
                        priority,
                        Some(arrive),
                        None,
                        stability,
                    ),
                    arrive,
                    a.pipeline.clone(),
                ));
            }
        }
        // Stable: equal arrival times keep file order.
        samples.sort_by_key(|(_, arrive, _)| *arrive);
        let samples = samples
            .into_iter()
            .map(|(profile, arrive, pipeline)| {
                let fuel = self.pipelines[&pipeline]
                    .iter()
                    .map(|st| {
                        let u: f64 = rng.random();
                        let factor = 1.0 + self.jitter * (2.0 * u - 1.0);
                        ((st.fuel as f64) * factor).max(1.0) as u64
                    })
                    .collect();
                ScenarioSample {
                    profile,
                    arrive,
                    pipeline,
                    fuel,
                }
            })
            .collect();
        Scenario {
            workload: self.clone(),
            seed,
            samples,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn errors_name_the_field_and_line() {
        let text = r#"
[simulation]
start = "2026-11-23T00:00:00Z"
horizon = "1d"

[pipelines.p.stages.a]
duration = "1h"
after = ["b"]
"#;
        let e = parse_workload(Path::new("w.toml"), text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "w.toml:8:10: pipelines.p.stages.a.after: no stage `b` in pipeline `p`"
        );
    }

    const BASE: &str = r#"[simulation]
start = "2026-11-23T00:00:00Z"
horizon = "1d"
"#;

    const PIPELINE: &str = r#"
[instruments.seq-1]
class = "sequencer"

[pipelines.p.stages.a]
duration = "1h"
"#;

    /// The error of `BASE` + `sim` (more `[simulation]` lines) + `rest`.
    fn error(sim: &str, rest: &str) -> String {
        let text = format!("{BASE}{sim}\n{rest}");
        match parse_workload(Path::new("w.toml"), &text) {
            Ok(w) => panic!("accepted:\n{text}\n{w:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_rejected_simulation_field_is_named() {
        for (sim, field, message) in [
            ("limit = \"soon\"", "simulation.limit", "`soon`"),
            ("seed = -1", "simulation.seed", "a seed is ≥ 0"),
            (
                "jitter = 1.0",
                "simulation.jitter",
                "jitter is a fraction in [0, 1)",
            ),
            (
                "jitter = -0.1",
                "simulation.jitter",
                "jitter is a fraction in [0, 1)",
            ),
            (
                "fuel-per-second = 0.0",
                "simulation.fuel-per-second",
                "a rate is a positive number",
            ),
            (
                "fuel-per-second = inf",
                "simulation.fuel-per-second",
                "a rate is a positive number",
            ),
            (
                "worker-slots = 0",
                "simulation.worker-slots",
                "a whole number ≥ 1",
            ),
            (
                "worker-slots = 5000000000",
                "simulation.worker-slots",
                "a whole number ≥ 1",
            ),
            (
                "maintenance-duration = \"x\"",
                "simulation.maintenance-duration",
                "`x`",
            ),
            ("slack-horizon = \"x\"", "simulation.slack-horizon", "`x`"),
            ("tier-step = \"x\"", "simulation.tier-step", "`x`"),
            (
                "aging-percent = -1",
                "simulation.aging-percent",
                "must be ≥ 0",
            ),
            (
                "calendar = \"no-such-calendar.toml\"",
                "simulation.calendar",
                "no-such-calendar.toml",
            ),
        ] {
            let e = error(sim, "");
            assert!(e.starts_with("w.toml:4:"), "{sim}: {e}");
            assert!(e.contains(&format!(": {field}: ")), "{sim}: {e}");
            assert!(e.contains(message), "{sim}: {e}");
        }
        let start = parse_workload(
            Path::new("w.toml"),
            &BASE.replace("2026-11-23T00:00:00Z", "monday"),
        );
        assert!(
            start
                .unwrap_err()
                .to_string()
                .starts_with("w.toml:2:9: simulation.start: ")
        );
        let horizon = parse_workload(Path::new("w.toml"), &BASE.replace("\"1d\"", "\"a day\""));
        assert!(
            horizon
                .unwrap_err()
                .to_string()
                .starts_with("w.toml:3:11: simulation.horizon: ")
        );
    }

    #[test]
    fn every_rejected_pipeline_and_sample_field_is_named() {
        let stage = "\n[pipelines.q.stages.s]\n";
        let sample = |fields: &str| {
            format!("{PIPELINE}\n[[samples]]\nid = \"s1\"\npipeline = \"p\"\nat = \"1h\"\n{fields}")
        };
        for (rest, field, message) in [
            (
                format!("{stage}instrument = \"centrifuge\"\nduration = \"1h\""),
                "pipelines.q.stages.s.instrument",
                "no instrument of class `centrifuge` (classes: compute)",
            ),
            (
                format!("{stage}duration = \"1h\"\nfuel = 5"),
                "pipelines.q.stages.s.duration",
                "give exactly one of `duration` and `fuel`",
            ),
            (
                format!("{stage}module = \"m\""),
                "pipelines.q.stages.s.duration",
                "give exactly one of `duration` and `fuel`",
            ),
            (
                format!("{stage}fuel = 0"),
                "pipelines.q.stages.s.fuel",
                "fuel is a whole number > 0",
            ),
            (
                format!("{stage}duration = \"long\""),
                "pipelines.q.stages.s.duration",
                "`long`",
            ),
            (
                "\n[pipelines.q]\nstages = {}".to_owned(),
                "pipelines.q.stages",
                "a pipeline needs stages",
            ),
            (
                sample("[[samples]]\nid = \"s1\"\npipeline = \"p\"\nat = \"2h\""),
                "samples[1].id",
                "duplicate sample id",
            ),
            (
                sample("").replace("pipeline = \"p\"\nat", "pipeline = \"wgs\"\nat"),
                "samples[0].pipeline",
                "no pipeline `wgs`",
            ),
            (
                sample("").replace("at = \"1h\"", "at = \"noon\""),
                "samples[0].at",
                "`noon`",
            ),
            (sample("stability = \"x\""), "samples[0].stability", "`x`"),
            (sample("expires = \"x\""), "samples[0].expires", "`x`"),
            (
                sample("priority = \"stat\""),
                "samples[0].priority",
                "priority `stat` is not one of: normal, urgent, clinical",
            ),
        ] {
            let e = error("", &rest);
            assert!(e.contains(&format!(": {field}: ")), "{rest}\n{e}");
            assert!(e.contains(message), "{rest}\n{e}");
        }
    }

    #[test]
    fn every_rejected_arrival_and_failure_field_is_named() {
        let arrival = |fields: &str| {
            format!("{PIPELINE}\n[[arrivals]]\npipeline = \"p\"\nevery = \"3h\"\n{fields}")
        };
        let failure = |fields: &str| {
            format!("{PIPELINE}\n[[failures]]\ninstrument = \"seq-1\"\nat = \"2h\"\n{fields}")
        };
        for (rest, field, message) in [
            (
                arrival("").replace("\"3h\"", "\"0s\""),
                "arrivals[0].every",
                "must be > 0",
            ),
            (
                arrival("").replace("\"3h\"", "\"often\""),
                "arrivals[0].every",
                "`often`",
            ),
            (arrival("stability = \"x\""), "arrivals[0].stability", "`x`"),
            (
                arrival("stability = [\"x\", \"2h\"]"),
                "arrivals[0].stability",
                "`x`",
            ),
            (
                arrival("stability = [\"1h\", \"y\"]"),
                "arrivals[0].stability",
                "`y`",
            ),
            (
                arrival("stability = [\"3h\", \"2h\"]"),
                "arrivals[0].stability",
                "the range is [low, high]",
            ),
            (
                arrival("stability = [\"1h\", \"2h\", \"3h\"]"),
                "arrivals[0].stability",
                "a range is two durations",
            ),
            (
                arrival("urgent = 1.5"),
                "arrivals[0].urgent",
                "a probability in [0, 1]",
            ),
            (
                arrival("clinical = -0.5"),
                "arrivals[0].clinical",
                "a probability in [0, 1]",
            ),
            (
                arrival("urgent = 0.6\nclinical = 0.6"),
                "arrivals[0].urgent",
                "urgent + clinical is more than 1",
            ),
            (
                arrival("").replace("pipeline = \"p\"\nevery", "pipeline = \"wgs\"\nevery"),
                "arrivals[0].pipeline",
                "no pipeline `wgs`",
            ),
            (arrival("from = \"x\""), "arrivals[0].from", "`x`"),
            (arrival("until = \"x\""), "arrivals[0].until", "`x`"),
            (
                failure("").replace("\"seq-1\"", "\"seq-9\""),
                "failures[0].instrument",
                "no instrument `seq-9`",
            ),
            (
                failure("state = \"up\""),
                "failures[0].state",
                "a failure's state is `down` or `draining`",
            ),
            (
                failure("state = \"broken\""),
                "failures[0].state",
                "a failure's state is `down` or `draining`",
            ),
            (
                failure("").replace("at = \"2h\"", "at = \"x\""),
                "failures[0].at",
                "`x`",
            ),
            (failure("repair = \"x\""), "failures[0].repair", "`x`"),
        ] {
            let e = error("", &rest);
            assert!(e.contains(&format!(": {field}: ")), "{rest}\n{e}");
            assert!(e.contains(message), "{rest}\n{e}");
        }
    }

    #[test]
    fn an_instrument_in_both_the_calendar_and_the_workload_is_refused() {
        // The shipped calendar, read relative to the workload's path.
        let path = crate::tests::examples().join("workloads/w.toml");
        let calendar = "calendar = \"../instruments/core.toml\"\n";
        let text = format!("{BASE}{calendar}[instruments.novaseq-1]\nclass = \"sequencer\"\n");
        let e = parse_workload(&path, &text).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(":5:1: instruments.novaseq-1: declared in the calendar too"),
            "{e}"
        );
        // Without the duplicate the calendar's instruments come first; a
        // failure may name any of them, and keeps its state.
        let text = format!(
            "{BASE}{calendar}[instruments.seq-2]\nclass = \"sequencer\"\n\
             [pipelines.p.stages.a]\ninstrument = \"sequencer\"\nfuel = 9\n\
             [[failures]]\ninstrument = \"novaseq-1\"\nat = \"2h\"\nrepair = \"1h\"\nstate = \"draining\"\n"
        );
        let w = parse_workload(&path, &text).unwrap();
        let names: Vec<&str> = w.instruments.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "analysis",
                "gpu-box",
                "novaseq-1",
                "novaseq-2",
                "prep-robot",
                "seq-2"
            ]
        );
        assert_eq!(w.name, "w", "named after the file without a `name`");
        assert_eq!(w.pipelines["p"][0].fuel, 9);
        assert_eq!(w.pipelines["p"][0].spec.module, "p/a");
        assert_eq!(
            w.failures,
            [FailureEvent {
                instrument: "novaseq-1".into(),
                at: Span::HOUR.saturating_mul(2),
                repair: Some(Span::HOUR),
                state: InstrumentState::Draining,
            }]
        );
        let e = load_workload(&path).unwrap_err();
        assert!(
            matches!(&e, ScheduleError::Read { path: p, .. } if *p == path),
            "{e}"
        );
    }
}
