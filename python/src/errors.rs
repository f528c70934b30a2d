//! The exceptions the extension raises: `PetriError` for anything that stops
//! petri around a run, `ValidationError` (a subclass) for a request petri's own
//! checks refused, carrying every located problem as a list of dicts.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde::Serialize;

create_exception!(
    petri,
    PetriError,
    PyException,
    "Something stopped petri around a run (I/O, store, a module that cannot load)."
);
create_exception!(
    petri,
    ValidationError,
    PetriError,
    "petri's own checks refused a pipeline or params; `problems` lists each one with its place."
);

/// Adds the exception types to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("PetriError", py.get_type::<PetriError>())?;
    m.add("ValidationError", py.get_type::<ValidationError>())?;
    Ok(())
}

/// A `PetriError` with the error's whole chain of causes.
pub fn petri_error(e: impl std::error::Error) -> PyErr {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    PetriError::new_err(text)
}

/// A `ValidationError` whose `problems` attribute lists `problems` as dicts.
pub fn validation_error<P: Serialize + std::fmt::Display>(
    py: Python<'_>,
    what: &str,
    problems: &[P],
) -> PyErr {
    let mut text = format!("{} problem(s) in {what}", problems.len());
    for p in problems {
        text.push_str("\n  ");
        text.push_str(&p.to_string());
    }
    let err = ValidationError::new_err(text);
    let list = serde_json::to_value(problems)
        .map_err(petri_error)
        .and_then(|v| crate::convert::to_python(py, &v));
    match list.and_then(|l| err.value(py).setattr("problems", l)) {
        Ok(()) => err,
        Err(e) => e,
    }
}
