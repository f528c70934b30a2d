//! Per-execution resource limits and the store limiter that enforces them.

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

/// What one stage execution may consume. Recorded in provenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) for `run`.
    pub fuel: u64,
    /// Bytes of linear memory per memory.
    pub memory_bytes: u64,
    /// Elements per table.
    pub table_elements: u64,
    pub instances: u32,
    pub memories: u32,
    pub tables: u32,
    /// Bytes per output port.
    pub output_bytes: u64,
    /// Bytes over all output ports of one run together. Records written
    /// before it existed read as the default.
    pub total_output_bytes: u64,
    /// Bytes read from each input port (also what the host reads to digest
    /// an input the stage left unread): stops an endless input such as
    /// `/dev/zero`. Records written before it existed read as the default.
    pub max_input_bytes: u64,
    /// Bytes of log (structured lines, stdout and stderr together).
    pub log_bytes: u64,
    /// Seconds of wall-clock time before the execution is stopped: a safety
    /// net only (fuel is the deterministic bound). Records written before it
    /// existed read as the default.
    pub wall_clock_secs: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 1_000_000_000_000,
            memory_bytes: 2 << 30,
            table_elements: 100_000,
            instances: 32,
            memories: 8,
            tables: 32,
            output_bytes: 64 << 30,
            total_output_bytes: 256 << 30,
            max_input_bytes: 1 << 40,
            log_bytes: 1 << 20,
            wall_clock_secs: DEFAULT_WALL_CLOCK_SECS,
        }
    }
}

/// Fuel for instantiation, spent before the budget is set. Instantiation fuel
/// is platform-dependent, so it is never part of a recorded count.
pub(crate) const INSTANTIATION_FUEL: u64 = 1_000_000_000;

/// Fuel for `describe` and `recover`, which must be cheap.
pub(crate) const HOOK_FUEL: u64 = 1_000_000_000;

/// Default wall-clock limit of one execution: an hour, far above what the
/// default fuel budget takes on any host petri has run on.
pub const DEFAULT_WALL_CLOCK_SECS: u64 = 3600;

/// Wall-clock limit of instantiation and of the `describe`/`recover` hooks.
pub(crate) const HOOK_WALL_CLOCK_SECS: u64 = 60;

/// A limit the guest tried to exceed; carried through the trap as its cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LimitExceeded {
    #[error("memory would grow to {desired} bytes, limit is {limit}")]
    Memory { desired: u64, limit: u64 },
    #[error("table would grow to {desired} elements, limit is {limit}")]
    Table { desired: u64, limit: u64 },
}

/// Enforces [`Limits`] on one store.
pub(crate) struct Limiter {
    pub limits: Limits,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limits.memory_bytes {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                desired,
                limit: self.limits.memory_bytes,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limits.table_elements {
            return Err(wasmtime::Error::new(LimitExceeded::Table {
                desired,
                limit: self.limits.table_elements,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances as usize
    }

    fn tables(&self) -> usize {
        self.limits.tables as usize
    }

    fn memories(&self) -> usize {
        self.limits.memories as usize
    }
}
