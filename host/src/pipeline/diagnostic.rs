//! Located problems in a pipeline or sample sheet: file, line, column, message and a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One problem, where it is, and what might fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place in the file.
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        let hint = self
            .hint
            .as_ref()
            .map(|h| format!("\n    hint: {h}"))
            .unwrap_or_default();
        if self.line > 0 {
            let (line, column) = (self.line, self.column);
            write!(f, "{file}:{line}:{column}: {}{hint}", self.message)
        } else {
            write!(f, "{file}: {}{hint}", self.message)
        }
    }
}

/// Collects diagnostics against one source text.
#[derive(Debug)]
pub struct Diagnostics<'a> {
    file: &'a Path,
    text: &'a str,
    pub list: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Diagnostics<'a> {
        Diagnostics {
            file,
            text,
            list: Vec::new(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        crate::schedule::line_col(self.text, offset)
    }

    /// Records a problem at `span` (or at no place).
    pub fn error(
        &mut self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = span.map_or((0, 0), |s| self.line_col(s.start));
        self.error_at(line, column, message, hint);
    }

    /// Records a problem at a 1-based line and column (for tabular files).
    pub fn error_at(
        &mut self,
        line: usize,
        column: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.list.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
            hint,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_line_and_column() {
        let d = Diagnostics::new(Path::new("p.toml"), "ab\ncdé\nf");
        assert_eq!(d.line_col(0), (1, 1));
        assert_eq!(d.line_col(4), (2, 2));
        assert_eq!(d.line_col(8), (3, 1));
        assert_eq!(d.line_col(6), (2, 3), "inside a multi-byte char");
    }

    #[test]
    fn a_problem_shows_its_place_when_it_has_one_and_its_hint() {
        let at = |line, hint: Option<&str>| Diagnostic {
            file: PathBuf::from("p.toml"),
            line,
            column: 7,
            message: "bad".into(),
            hint: hint.map(str::to_owned),
        };
        assert_eq!(at(3, None).to_string(), "p.toml:3:7: bad");
        assert_eq!(
            at(3, Some("fix it")).to_string(),
            "p.toml:3:7: bad\n    hint: fix it"
        );
        assert_eq!(at(0, None).to_string(), "p.toml: bad");
        assert_eq!(
            at(0, Some("fix it")).to_string(),
            "p.toml: bad\n    hint: fix it"
        );
    }
}
