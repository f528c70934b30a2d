//! The host side of `petri:stage/host`: a stage's structured log and progress.

use serde::{Deserialize, Serialize};

use crate::bindings::host::Host;
use crate::bindings::types::{self, Level};
use crate::sandbox::StageState;

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
