//! petri-plugins: paths of every plugin under `plugins/`, freshly built to wasm32-wasip2 by build.rs.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

mod variants;

pub use variants::{testkit_rebuilt, testkit_reflavoured};
