//! What a task asks Slurm for: CPUs, memory and time derived from its limits.
//!
//! - **CPUs: 1.** A stage is one wasm thread (wasmtime is built without
//!   threads); the host's tee and epoch threads are light.
//! - **Memory:** the stage's linear-memory cap (`memory_bytes`) plus
//!   [`HOST_MEMORY_MIB`] for the host (wasmtime, compiled code, 64 KiB
//!   chunks and buffers), in MiB rounded up. With `SelectTypeParameters`
//!   including memory, Slurm reserves it; with a cgroup task plugin it also
//!   enforces it (`OUT_OF_MEMORY`), but petri's own limit fires first.
//! - **Time:** `wall_clock_secs` plus [`HOST_SECS`] (loading and compiling
//!   the module, `describe`, hashing inputs, committing outputs), in whole
//!   minutes rounded up (Slurm keeps time limits in minutes). petri's own
//!   wall-clock limit stops the stage first (`deadline`, exit 13); Slurm's
//!   `TIMEOUT` means the host around it overran.

use crate::stage::limits::Limits;

/// Memory the host needs beside the stage's linear memory, in MiB.
pub const HOST_MEMORY_MIB: u64 = 512;

/// Seconds the host needs beside the stage's wall-clock limit.
pub const HOST_SECS: u64 = 120;

/// A job's resource request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resources {
    pub cpus: u32,
    pub memory_mib: u64,
    pub minutes: u64,
}

impl Resources {
    /// The request for a task with `limits`.
    pub fn of(limits: &Limits) -> Resources {
        let memory_mib = limits
            .memory_bytes
            .div_ceil(1 << 20)
            .saturating_add(HOST_MEMORY_MIB);
        let minutes = limits
            .wall_clock_secs
            .saturating_add(HOST_SECS)
            .div_ceil(60)
            .max(1);
        Resources {
            cpus: 1,
            memory_mib,
            minutes,
        }
    }

    /// The `sbatch` options.
    pub fn sbatch_args(&self) -> Vec<String> {
        vec![
            "--nodes=1".to_owned(),
            "--ntasks=1".to_owned(),
            format!("--cpus-per-task={}", self.cpus),
            format!("--mem={}M", self.memory_mib),
            format!("--time={}", self.minutes),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_become_a_request() {
        let r = Resources::of(&Limits::default());
        // 2 GiB of linear memory + 512 MiB; one hour + 2 minutes.
        assert_eq!(
            r,
            Resources {
                cpus: 1,
                memory_mib: 2048 + 512,
                minutes: 62
            }
        );
        let small = Limits {
            memory_bytes: 1,
            wall_clock_secs: 1,
            ..Limits::default()
        };
        assert_eq!(Resources::of(&small).memory_mib, 513);
        assert_eq!(Resources::of(&small).minutes, 3);
        assert_eq!(
            Resources::of(&small).sbatch_args(),
            [
                "--nodes=1",
                "--ntasks=1",
                "--cpus-per-task=1",
                "--mem=513M",
                "--time=3"
            ]
        );
    }
}
