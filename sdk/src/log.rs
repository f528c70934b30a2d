//! Structured logging and progress from inside a stage (no-ops when not in wasm).

use crate::Level;

/// Logs `message` with `fields` into the run's log.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        crate::bindings::petri::stage::host::log(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message, fields);
}

pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields)
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields)
}

/// Reports progress as `done` of an optional `total`.
pub fn progress(done: u64, total: Option<u64>) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::petri::stage::host::progress(done, total);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (done, total);
}
