//! The fuel → seconds model: predicted work of a module from the fuel its past runs used.
//!
//! Fuel is deterministic (same module + params + inputs ⇒ same fuel on any
//! machine); seconds are not. So history is kept in fuel per module, and one
//! host-wide rate (fuel per second, calibrated from timed runs on this host)
//! turns it into time.
//!
//! Before any history a module is predicted to need [`DEFAULT_STAGE_FUEL`]
//! (flagged as a guess, so it never blocks a start before maintenance); before
//! any timed run the rate is [`DEFAULT_FUEL_PER_SECOND`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::time::Span;

/// Fuel per second before calibration: fastq-qc on the lambda reads uses
/// 1.0 × 10⁹ fuel in 73 ms on the reference 2-vCPU VM (docs/benchmarks.md),
/// about 1.4 × 10¹⁰ fuel/s including the host's hashing and storing; rounded
/// down so that first predictions err long.
pub const DEFAULT_FUEL_PER_SECOND: f64 = 1.0e10;

/// Predicted fuel of a module never seen: 60 s at the default rate.
pub const DEFAULT_STAGE_FUEL: u64 = 600_000_000_000;

/// Timed runs shorter than this do not calibrate the rate: host overhead
/// (instantiation, hashing, the record) dominates them.
pub const MIN_CALIBRATION_RUN: Span = Span(50);

/// After this many runs a module's prediction is an exponentially weighted
/// mean with weight 1/`WINDOW`, so it follows a drifting workload.
const WINDOW: f64 = 8.0;

/// Fuel history of one module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleFuel {
    pub runs: u64,
    /// Mean fuel per run (exponentially weighted after `WINDOW` runs).
    pub mean: f64,
}

/// A prediction of how long a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub duration: Span,
    /// False when it is the default for a module without history.
    pub known: bool,
}

/// One finished run as the model saw it: what several hosts sharing a
/// history append to it, so that histories merge instead of overwriting
/// each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub module: String,
    pub fuel: u64,
    pub elapsed: Option<Span>,
}

/// Per-module fuel history plus this host's calibrated fuel rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FuelModel {
    modules: BTreeMap<String, ModuleFuel>,
    /// Total fuel and seconds of the timed runs that calibrate the rate.
    timed_fuel: f64,
    timed_seconds: f64,
    /// A fixed rate (a simulated host) instead of calibration.
    fixed_rate: Option<f64>,
    /// Observations not yet handed to a shared history ([`FuelModel::drain`]).
    #[serde(skip)]
    journal: Vec<Observation>,
}

impl FuelModel {
    pub fn new() -> FuelModel {
        FuelModel::default()
    }

    /// A model whose rate is fixed (the simulator's host); non-positive rates are ignored.
    pub fn with_rate(fuel_per_second: f64) -> FuelModel {
        FuelModel {
            fixed_rate: (fuel_per_second.is_finite() && fuel_per_second > 0.0)
                .then_some(fuel_per_second),
            ..FuelModel::default()
        }
    }

    /// Records a finished run: its fuel, and how long it took when it was timed.
    pub fn observe(&mut self, module: &str, fuel: u64, elapsed: Option<Span>) {
        self.journal.push(Observation {
            module: module.to_owned(),
            fuel,
            elapsed,
        });
        self.learn(module, fuel, elapsed);
    }

    /// Takes the observations made since the last call (for a shared history).
    pub fn drain(&mut self) -> Vec<Observation> {
        std::mem::take(&mut self.journal)
    }

    /// Replays observations read back from a shared history.
    pub fn replay(&mut self, observations: &[Observation]) {
        for o in observations {
            self.learn(&o.module, o.fuel, o.elapsed);
        }
    }

    fn learn(&mut self, module: &str, fuel: u64, elapsed: Option<Span>) {
        let fuel_f = fuel as f64;
        let entry = self
            .modules
            .entry(module.to_owned())
            .or_insert(ModuleFuel { runs: 0, mean: 0.0 });
        entry.runs += 1;
        let weight = (1.0 / entry.runs as f64).max(1.0 / WINDOW);
        entry.mean += (fuel_f - entry.mean) * weight;
        if let Some(e) = elapsed
            && e >= MIN_CALIBRATION_RUN
            && fuel > 0
        {
            self.timed_fuel += fuel_f;
            self.timed_seconds += e.as_secs_f64();
        }
    }

    /// Fuel per second on this host: fixed, calibrated, or the default.
    pub fn fuel_per_second(&self) -> f64 {
        if let Some(r) = self.fixed_rate {
            return r;
        }
        if self.timed_seconds > 0.0 && self.timed_fuel > 0.0 {
            self.timed_fuel / self.timed_seconds
        } else {
            DEFAULT_FUEL_PER_SECOND
        }
    }

    pub fn module(&self, module: &str) -> Option<&ModuleFuel> {
        self.modules.get(module)
    }

    /// Predicted fuel of one run of `module`.
    pub fn predicted_fuel(&self, module: &str) -> (f64, bool) {
        match self.modules.get(module) {
            Some(m) => (m.mean, true),
            None => (DEFAULT_STAGE_FUEL as f64, false),
        }
    }

    /// Predicted duration of one run of `module` on this host.
    pub fn predict(&self, module: &str) -> Prediction {
        let (fuel, known) = self.predicted_fuel(module);
        Prediction {
            duration: self.seconds(fuel),
            known,
        }
    }

    /// How long `fuel` takes on this host.
    pub fn seconds(&self, fuel: f64) -> Span {
        Span::from_secs_f64(fuel / self.fuel_per_second())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn default_then_history_then_calibration() {
        let mut m = FuelModel::new();
        let p = m.predict("qc");
        assert!(!p.known);
        assert_eq!(p.duration, Span::from_secs_f64(60.0));
        m.observe("qc", 2_000_000_000, None);
        m.observe("qc", 4_000_000_000, None);
        assert_eq!(m.predict("qc").duration, Span::from_secs_f64(0.3));
        // A timed run calibrates: 3e9 fuel in 1 s.
        m.observe("qc", 3_000_000_000, Some(Span::SECOND));
        assert_eq!(m.fuel_per_second(), 3.0e9);
        assert_eq!(m.predict("qc").duration, Span::SECOND);
        // Too short to calibrate.
        m.observe("tiny", 1_000, Some(Span(1)));
        assert_eq!(m.fuel_per_second(), 3.0e9);
    }

    #[test]
    fn a_fixed_rate_must_be_positive_and_an_empty_run_does_not_calibrate() {
        assert_eq!(FuelModel::with_rate(2.0e9).fuel_per_second(), 2.0e9);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let m = FuelModel::with_rate(bad);
            assert_eq!(m.fuel_per_second(), DEFAULT_FUEL_PER_SECOND, "{bad}");
        }
        let mut m = FuelModel::new();
        m.observe("qc", 0, Some(Span::SECOND));
        assert_eq!(m.fuel_per_second(), DEFAULT_FUEL_PER_SECOND);
    }
}
