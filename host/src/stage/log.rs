//! The host side of `petri:stage/host`: a stage's structured log and progress,
//! capped, each call metered in fuel.

use serde::{Deserialize, Serialize};
use wasmtime::StoreContextMut;
use wasmtime::component::Linker;

use crate::stage::bindings::host::Host;
use crate::stage::bindings::types::{self, Level};
use crate::stage::sandbox::{StageState, charge_bytes, charge_call};

/// One log line from a stage (structured, or a line it printed to stdout/stderr).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: Level,
    /// `log`, `stdout` or `stderr`.
    pub source: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
}

/// A stage's log, capped in bytes; lines past the cap are counted, not kept.
#[derive(Debug, Default)]
pub(crate) struct StageLog {
    pub lines: Vec<LogLine>,
    pub dropped: u64,
    bytes: u64,
    cap: u64,
    pub progress: Option<(u64, Option<u64>)>,
}

impl StageLog {
    pub fn with_cap(cap: u64) -> StageLog {
        StageLog {
            cap,
            ..StageLog::default()
        }
    }

    pub fn push(&mut self, line: LogLine) {
        let size = line.message.len()
            + line
                .fields
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if self.bytes + size as u64 > self.cap {
            self.dropped += 1;
            return;
        }
        self.bytes += size as u64;
        self.lines.push(line);
    }

    /// Counts `lines` lines that were dropped before they reached the log.
    pub fn count_dropped(&mut self, lines: u64) {
        self.dropped = self.dropped.saturating_add(lines);
    }

    /// Adds captured stdout/stderr bytes, one log line per text line.
    pub fn push_captured(&mut self, source: &str, bytes: &[u8]) {
        let level = if source == "stderr" {
            Level::Warn
        } else {
            Level::Info
        };
        for line in String::from_utf8_lossy(bytes).lines() {
            self.push(LogLine {
                level,
                source: source.to_owned(),
                message: line.to_owned(),
                fields: Vec::new(),
            });
        }
    }
}

/// The interface whose functions [`link_metered`] redefines.
const HOST: &str = "petri:stage/host@0.1.0";

/// Redefines `log` and `progress` (defined first by `bindgen!`, on a linker
/// that allows shadowing) so that each call pays its fuel first: a fee per
/// call and per byte of message and fields. A log past its cap is dropped,
/// but the call is still paid for.
pub(crate) fn link_metered(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    type Cx<'a> = StoreContextMut<'a, StageState>;
    type LogArgs = (Level, String, Vec<(String, String)>);
    let mut i = linker.instance(HOST)?;
    i.func_wrap("log", |mut cx: Cx, (level, message, fields): LogArgs| {
        charge_call(&mut cx)?;
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        charge_bytes(&mut cx, size)?;
        Host::log(cx.data_mut(), level, message, fields)
    })?;
    i.func_wrap(
        "progress",
        |mut cx: Cx, (done, total): (u64, Option<u64>)| {
            charge_call(&mut cx)?;
            Host::progress(cx.data_mut(), done, total)
        },
    )?;
    Ok(())
}

impl types::Host for StageState {}

impl Host for StageState {
    fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        self.log.push(LogLine {
            level,
            source: "log".to_owned(),
            message,
            fields,
        });
        Ok(())
    }

    fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.log.progress = Some((done, total));
        Ok(())
    }
}
