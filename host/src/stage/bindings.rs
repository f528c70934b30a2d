//! The one `bindgen!` of the host: Rust types for the `petri:stage` world.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "stage-world",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "petri:stage/streams.reader": crate::stage::streams::ReaderSlot,
            "petri:stage/streams.writer": crate::stage::streams::WriterSlot,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub use generated::petri::stage::types::{
    Decision, ErrorKindSpec, Level, Manifest, Metric, MetricValue, Param, ParamKind, ParamSpec,
    PortSpec, Report, StageError, Value,
};
pub(crate) use generated::petri::stage::{host, streams, types};
pub use generated::{StageWorld, StageWorldPre};
