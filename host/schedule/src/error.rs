//! `ScheduleError`: what the scheduling core and its file formats can reject, with places.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::task::TaskId;

/// Everything the scheduler, a calendar or a workload file can refuse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A problem in a calendar or workload file, at a line and column, naming the field.
    #[error("{}:{line}:{column}: {field}: {message}", file.display())]
    File {
        file: PathBuf,
        /// 1-based; 0 when the problem has no place in the file.
        line: usize,
        column: usize,
        /// The field, as a dotted path (`instruments.seq-1.capacity`).
        field: String,
        message: String,
    },
    #[error("unknown instrument `{0}`")]
    UnknownInstrument(String),
    #[error("sample `{sample}`, stage `{stage}`: no instrument of class `{class}`")]
    NoInstrumentOfClass {
        sample: String,
        stage: String,
        class: String,
    },
    #[error("sample `{sample}`: {message}")]
    Sample { sample: String, message: String },
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    #[error("task {task} is {state}, not running")]
    NotRunning { task: TaskId, state: &'static str },
}

/// A TOML source being read, to turn byte spans into located errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at `span` (or at no place) about `field`.
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScheduleError {
        let (line, column) = span.map_or((0, 0), |s| line_col(self.text, s.start));
        ScheduleError::File {
            file: self.file.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    /// Parses the whole text; a syntax or shape error names the field serde complained about.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ScheduleError> {
        toml::from_str(self.text).map_err(|e| {
            let message = e.message().trim().to_owned();
            // serde names the field in backticks: "unknown field `x`", "missing field `y`".
            let field = message
                .split('`')
                .nth(1)
                .map(str::to_owned)
                .unwrap_or_else(|| "syntax".to_owned());
            self.error(e.span(), field, message)
        })
    }
}

/// Reads a file into a string with a typed error.
pub(crate) fn read(path: &Path) -> Result<String, ScheduleError> {
    std::fs::read_to_string(path).map_err(|source| ScheduleError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn an_offset_inside_a_character_counts_from_its_start() {
        // `é` is bytes 1..3: offset 2 is inside it.
        assert_eq!(line_col("aé\nb", 2), (1, 2));
        assert_eq!(line_col("aé\nb", 4), (2, 1));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
