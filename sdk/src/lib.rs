//! petri-sdk: write a petri pipeline stage as a plain Rust type and one trait impl.
//!
//! ```ignore
//! use petri_sdk::{Manifest, Ports, Report, Stage, StageError};
//!
//! struct Count;
//!
//! #[derive(serde::Deserialize)]
//! struct Params { }
//!
//! impl Stage for Count {
//!     type Params = Params;
//!     fn manifest() -> Manifest { /* … */ }
//!     fn run(_: Params, ports: &mut Ports) -> Result<Report, StageError> { /* … */ }
//! }
//!
//! petri_sdk::export_stage!(Count);
//! ```
//!
//! Params arrive typed (serde), inputs are [`std::io::Read`], outputs
//! [`std::io::Write`]. Keep the stage's logic in plain functions over `Read`
//! and `Write` so it can be unit-tested natively; `impl Stage` is glue.

// Lets the generated code name this crate as `petri_sdk` from inside it.
extern crate self as petri_sdk;

#[cfg(feature = "genomics")]
pub mod genomics;
mod io;
pub mod log;
mod manifest;
mod params;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "stage-world",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "petri_sdk::bindings",
        runtime_path: "petri_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::petri::stage::types::{
    Decision, ErrorKindSpec, Level, Manifest, Metric, MetricValue, Param, ParamKind, ParamSpec,
    PortSpec, Report, StageError, Value,
};
pub use io::{Input, Output, Ports};
pub use manifest::SDK_ERROR_KINDS;
pub use params::from_params;

/// A pipeline stage.
pub trait Stage {
    /// The stage's params; field names match the manifest's param names.
    type Params: serde::de::DeserializeOwned;

    /// What the stage is, takes and produces. The error kinds the SDK raises
    /// itself ([`SDK_ERROR_KINDS`]) need not be declared: the exported
    /// `describe` adds them.
    fn manifest() -> Manifest;

    /// Runs the stage over its ports.
    fn run(params: Self::Params, ports: &mut Ports) -> Result<Report, StageError>;

    /// Proposes what to do after `run` failed; `attempt` counts from 1.
    fn recover(_error: &StageError, _attempt: u32) -> Decision {
        Decision::Abort
    }
}

impl StageError {
    /// An error of one of the manifest's kinds.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> StageError {
        StageError {
            kind: kind.into(),
            message: message.into(),
            port: None,
            record: None,
        }
    }

    /// Locates the error at a port and 1-based record number.
    pub fn at(mut self, port: impl Into<String>, record: Option<u64>) -> StageError {
        self.port = Some(port.into());
        self.record = record;
        self
    }
}

impl Report {
    pub fn new() -> Report {
        Report {
            metrics: Vec::new(),
        }
    }

    pub fn integer(mut self, name: &str, value: i64, unit: &str) -> Report {
        self.metrics.push(Metric {
            name: name.into(),
            value: MetricValue::Integer(value),
            unit: unit.into(),
        });
        self
    }

    pub fn float(mut self, name: &str, value: f64, unit: &str) -> Report {
        self.metrics.push(Metric {
            name: name.into(),
            value: MetricValue::Float(value),
            unit: unit.into(),
        });
        self
    }

    pub fn text(mut self, name: &str, value: &str) -> Report {
        self.metrics.push(Metric {
            name: name.into(),
            value: MetricValue::Text(value.into()),
            unit: String::new(),
        });
        self
    }
}

impl Default for Report {
    fn default() -> Report {
        Report::new()
    }
}

#[doc(hidden)]
pub mod __export {
    use super::*;
    use crate::bindings::exports::petri::stage::stage::{Reader, Writer};

    pub fn run<S: Stage>(
        params: Vec<Param>,
        inputs: Vec<Reader>,
        outputs: Vec<Writer>,
    ) -> Result<Report, StageError> {
        let params = from_params::<S::Params>(&params)?;
        let mut ports = Ports::new(inputs, outputs);
        let report = S::run(params, &mut ports)?;
        ports.finish()?;
        Ok(report)
    }
}

/// Exports a [`Stage`] implementation as the component's `petri:stage/stage`.
#[macro_export]
macro_rules! export_stage {
    ($stage:ty) => {
        struct __PetriStageExport;

        impl $crate::bindings::exports::petri::stage::stage::Guest for __PetriStageExport {
            fn describe() -> $crate::Manifest {
                <$stage as $crate::Stage>::manifest().with_sdk_errors()
            }
            fn run(
                params: ::std::vec::Vec<$crate::Param>,
                inputs: ::std::vec::Vec<$crate::bindings::exports::petri::stage::stage::Reader>,
                outputs: ::std::vec::Vec<$crate::bindings::exports::petri::stage::stage::Writer>,
            ) -> ::std::result::Result<$crate::Report, $crate::StageError> {
                $crate::__export::run::<$stage>(params, inputs, outputs)
            }
            fn recover(error: $crate::StageError, attempt: u32) -> $crate::Decision {
                <$stage as $crate::Stage>::recover(&error, attempt)
            }
        }

        // Exported only in wasm: natively the crate is plain Rust for unit tests.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__PetriStageExport with_types_in $crate::bindings);
    };
}
