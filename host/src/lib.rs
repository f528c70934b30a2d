//! petri-host: runs lab pipeline stages as deterministic, sandboxed WebAssembly components.
//!
//! A stage is a component implementing the `petri:stage` world (see `wit/`).
//! [`Petri`] loads it (through the compiled cache), checks a run request
//! against its manifest, runs it in a fresh sandbox with fuel and memory
//! limits while every input and output byte streams through SHA-256 into the
//! content-addressed [`BlobStore`], and writes one [`StageRecord`] per execution.

mod bindings;
mod cache;
mod cas;
mod data_dir;
mod digest;
mod engine;
mod error;
mod failure;
mod limits;
mod manifest;
mod params;
pub mod pipeline;
mod provenance;
mod registry;
mod runner;
mod sandbox;
pub mod schedule;
pub mod server;
mod stage_log;
mod state;
mod streams;

pub use bindings::{
    Decision, ErrorKindSpec, Level, Manifest, Metric, MetricValue, Param, ParamKind, ParamSpec,
    PortSpec, Report, StageError, Value,
};
pub use cache::{CacheError, CacheOutcome, CompiledCache};
pub use cas::{BlobStore, BlobWriter, CasError};
pub use data_dir::{DATA_DIR_ENV, DataDir};
pub use digest::{Digest, Hasher, ParseDigestError};
pub use engine::{ABI, CHUNK_SIZE, EngineProfile, WASMTIME_VERSION};
pub use error::{Error, Problem};
pub use failure::Failure;
pub use limits::Limits;
pub use params::{ParamProblem, ParamSet, RawParam};
pub use provenance::{
    LogRef, ModuleRef, Outcome, PortData, RECORD_SCHEMA, RecordError, RecordStore, StageRecord,
    StageRef,
};
pub use registry::{Added, NamedModule, Registration, Registry, RegistryEntry, RegistryError};
pub use runner::{InputSource, LoadedStage, Petri, RunRequest};
pub use stage_log::LogLine;
pub use state::{StateError, StateStore};
