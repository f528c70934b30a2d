//! petri-host: runs lab pipeline stages as deterministic, sandboxed WebAssembly components.
//!
//! A stage is a component implementing the `petri:stage` world (see `wit/`).
//! [`Petri`] loads it (through the compiled cache), checks a run request
//! against its manifest, runs it in a fresh sandbox with fuel and memory
//! limits while every input and output byte streams through SHA-256 into the
//! content-addressed [`BlobStore`], and writes one [`StageRecord`] per execution.

pub mod authoring;
pub mod dispatcher;
mod error;
pub mod executor;
pub mod pipeline;
mod provenance;
pub use petri_schedule as schedule;
pub mod server;
mod stage;
mod store;

pub use dispatcher::{Dispatcher, fuel_history};
pub use error::{Error, Problem};
pub use provenance::{LogRef, ModuleRef, Outcome, PortData, RECORD_SCHEMA, StageRecord, StageRef};
pub use stage::bindings::{
    Decision, ErrorKindSpec, Level, Manifest, Metric, MetricValue, Param, ParamKind, ParamSpec,
    PortSpec, Report, StageError, Value,
};
pub use stage::compiled::{CacheError, CacheOutcome, CompiledCache};
pub use stage::engine::{ABI, CHUNK_SIZE, EngineProfile, WASMTIME_VERSION};
pub use stage::failure::Failure;
pub use stage::limits::Limits;
pub use stage::log::LogLine;
pub use stage::params::{ParamProblem, ParamSet, RawParam, kind_name as param_kind_name};
pub use stage::petri::{InputSource, LoadedStage, Petri, RunRequest};
pub use store::blobs::{BlobStore, BlobWriter, CasError};
pub use store::data_dir::{DATA_DIR_ENV, DataDir};
pub use store::db::Backend;
pub use store::digest::{Digest, Hasher, ParseDigestError};
pub use store::jobs::{JobId, JobOwner, Jobs, TrackedJob, TrackedState};
pub use store::keys::{
    KeyError, fingerprint as key_fingerprint, generate as generate_key, key_path, load as load_key,
};
pub use store::lease::{DEFAULT_LEASE, Fence, epoch_ms};
pub use store::notifications::{
    Attempted, DeliveryRow, DeliveryState, Due, Next, Notifications, NotifyEvent, Subscription,
};
pub use store::objects::{Directory, Objects, ReadSeek};
pub use store::places::{Place, Places};
pub use store::quota::{Exhausted, GroupQuota, Quota, QuotaKind};
pub use store::records::{RecordError, RecordStore};
pub use store::registry::{
    Added, Change, Move, NamedModule, Registration, Registry, RegistryEntry, RegistryError,
};
pub use store::state::{StageRows, StateError, StateStore};
pub use store::triggers::{Deliveries, Delivery};
