//! `petri._petri`: the native half of the `petri` Python package, over `petri-host`.
//!
//! Everything crosses the boundary as plain Python values (dicts, lists,
//! strings, numbers) built from the host's own serde views, so the Python
//! layer (`python/petri/`) sees exactly what the CLI's `--json` prints.

use pyo3::prelude::*;

mod convert;
mod errors;
mod lab;
mod progress;

/// The native module; `petri/__init__.py` wraps it.
#[pymodule]
fn _petri(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<lab::Lab>()?;
    m.add_function(wrap_pyfunction!(convert::toml_to_data, m)?)?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
