//! The wasmtime engine and the engine profile: every setting that affects results.

use serde::Serialize;
use wasmtime::{Config, Engine, OptLevel};

use crate::store::digest::Digest;

/// The wasmtime release petri is built against; pinned in the workspace manifest.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// The stage contract this host implements.
pub const ABI: &str = "petri:stage@0.1.0";

/// Size of every chunk handed to a stage's reader. Fuel depends on how data
/// is split, so it is fixed and part of the profile.
pub const CHUNK_SIZE: u32 = 64 * 1024;

/// Fuel a stage pays for each call into the host (`reader.read`,
/// `writer.write`, `reader.port`, `writer.port`, `chunk-size`, `log`,
/// `progress`, and the WASI output-stream writes behind stdout and stderr),
/// on top of the wasm instructions that make the call: the host's
/// own work is metered, so a loop of cheap-looking host calls runs out of fuel
/// like any other loop. About a microsecond of host time.
pub const HOST_CALL_FUEL: u64 = 1_000;

/// Fuel a stage pays per byte a host call moves (chunk read, bytes written
/// to an output or to stdout/stderr, log message and fields, port name
/// returned): the host hashes or stores every one of them.
pub const HOST_BYTE_FUEL: u64 = 1;

/// Fuel between cooperative yields to the async executor. Scheduling only:
/// it changes neither results nor fuel counts.
pub(crate) const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// How often the engine's epoch advances: the resolution of wall-clock
/// deadlines. Scheduling only: it changes neither results nor fuel counts.
pub(crate) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Epoch ticks in `seconds` of wall-clock time (at least one).
pub(crate) fn epoch_ticks(seconds: u64) -> u64 {
    let per_second = 1000 / EPOCH_TICK.as_millis().max(1) as u64;
    seconds.saturating_mul(per_second).max(1)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a background thread,
/// which ends once the engine is dropped. Stores trap when their epoch
/// deadline passes: the wall-clock safety net behind the fuel budget.
pub(crate) fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    // A thread that fails to spawn leaves deadlines unenforced; fuel still
    // bounds every execution, so this is not fatal.
    let _ = std::thread::Builder::new()
        .name("petri-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
}

/// The settings that decide what a stage computes and how much fuel it uses.
/// Its digest (the profile id) is recorded with every execution and is part
/// of the compiled-code cache key. The CPU architecture is deliberately not
/// here: results do not depend on it (the cache key covers it separately,
/// through wasmtime's compatibility hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EngineProfile {
    pub wasmtime_version: &'static str,
    pub abi: &'static str,
    pub chunk_size: u32,
    pub nan_canonicalization: bool,
    pub relaxed_simd_deterministic: bool,
    /// Always false: wasmtime is built without the threads feature.
    pub threads: bool,
    pub fuel_metering: bool,
    /// Compiled code checks a wall-clock deadline (epoch interruption). It
    /// never changes results or fuel, only whether a runaway stage is stopped.
    pub epoch_interruption: bool,
    pub cranelift_opt_level: &'static str,
    /// Bytes of wasm stack before a stack-overflow trap.
    pub max_wasm_stack: usize,
    /// The fixed wall-clock time stages see, seconds since the Unix epoch.
    pub virtual_wall_clock_secs: u64,
    /// Seed of the deterministic "random" source stages see.
    pub random_seed: &'static str,
    /// Fuel charged per host call ([`HOST_CALL_FUEL`]).
    pub host_call_fuel: u64,
    /// Fuel charged per byte a host call moves ([`HOST_BYTE_FUEL`]).
    pub host_byte_fuel: u64,
}

impl Default for EngineProfile {
    fn default() -> EngineProfile {
        EngineProfile {
            wasmtime_version: WASMTIME_VERSION,
            abi: ABI,
            chunk_size: CHUNK_SIZE,
            nan_canonicalization: true,
            relaxed_simd_deterministic: true,
            threads: false,
            fuel_metering: true,
            epoch_interruption: true,
            cranelift_opt_level: "speed",
            max_wasm_stack: 1 << 20,
            // 2000-01-01T00:00:00Z
            virtual_wall_clock_secs: 946_684_800,
            random_seed: "petri deterministic random v1",
            host_call_fuel: HOST_CALL_FUEL,
            host_byte_fuel: HOST_BYTE_FUEL,
        }
    }
}

impl EngineProfile {
    /// The profile id: SHA-256 of the profile's canonical JSON.
    pub fn id(&self) -> Digest {
        // Serialising a struct of plain fields cannot fail.
        Digest::of(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Builds an engine with exactly these settings.
    pub fn engine(&self) -> wasmtime::Result<Engine> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(self.fuel_metering)
            .epoch_interruption(self.epoch_interruption)
            .cranelift_nan_canonicalization(self.nan_canonicalization)
            .relaxed_simd_deterministic(self.relaxed_simd_deterministic)
            .cranelift_opt_level(OptLevel::Speed)
            .max_wasm_stack(self.max_wasm_stack)
            // The host stack the guest runs on must exceed its wasm stack cap.
            .async_stack_size(self.max_wasm_stack + (2 << 20));
        Engine::new(&config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_id_is_stable_and_sensitive() {
        let a = EngineProfile::default();
        assert_eq!(a.id(), EngineProfile::default().id());
        let b = EngineProfile {
            nan_canonicalization: false,
            ..a.clone()
        };
        assert_ne!(a.id(), b.id());
        let c = EngineProfile {
            host_call_fuel: HOST_CALL_FUEL + 1,
            ..a.clone()
        };
        assert_ne!(a.id(), c.id(), "host-call fuel is part of the profile");
    }

    #[test]
    fn pinned_version_matches_lockfile() {
        let lock = include_str!("../../../Cargo.lock");
        let needle = format!("name = \"wasmtime\"\nversion = \"{WASMTIME_VERSION}\"");
        assert!(
            lock.contains(&needle),
            "Cargo.lock does not pin wasmtime {WASMTIME_VERSION}"
        );
    }
}
