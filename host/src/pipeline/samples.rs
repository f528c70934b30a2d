//! Sample sheets: one row per sample, fanning a pipeline out into one DAG instance each.
//!
//! TSV (or CSV, by `.csv` extension) with a header row:
//!
//! ```text
//! sample   reads            mates            collected_at          stability_hours  priority
//! s1       s1_R1.fq.gz      s1_R2.fq.gz      2026-11-20T08:00:00Z  72               urgent
//! ```
//!
//! `sample` is required and unique. Every pipeline input without a `path` must
//! have a column of its name (files relative to the sheet). An input with a
//! `path` may have one too: a cell gives that sample its own file, an empty cell
//! or no column gives it the pipeline's `path`. `collected_at` and
//! `expires_at` are RFC 3339 times, `stability_hours` a number, `priority`
//! one of `normal`, `urgent`, `clinical`. Other columns are errors.

use crate::schedule::{SampleProfile, ScheduleError, Span, Timestamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::diagnostic::Diagnostics;
use super::files::Place;
use super::plan::PlanInput;

/// One sample: its files and how it decays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub id: String,
    /// Line in the sheet (1-based).
    pub line: usize,
    /// Input name → file.
    pub inputs: BTreeMap<String, PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability_hours: Option<f64>,
    pub priority: String,
}

impl Sample {
    /// The scheduler's view of this row (the sheet was checked when it was read).
    pub fn profile(&self) -> Result<SampleProfile, ScheduleError> {
        let bad = |message: String| ScheduleError::Sample {
            sample: self.id.clone(),
            message,
        };
        let time = |t: &Option<String>| {
            t.as_deref()
                .map(Timestamp::parse_rfc3339)
                .transpose()
                .map_err(bad)
        };
        let collected_at = time(&self.collected_at)?;
        let expires_at = time(&self.expires_at)?;
        let stability = self
            .stability_hours
            .map(|h| Span::from_secs_f64(h * 3_600.0));
        let priority = self.priority.parse().map_err(bad)?;
        Ok(SampleProfile::new(
            self.id.clone(),
            priority,
            collected_at,
            expires_at,
            stability,
        ))
    }
}

const META: [&str; 5] = [
    "sample",
    "collected_at",
    "expires_at",
    "stability_hours",
    "priority",
];

/// Parses and checks a sample sheet against the pipeline's inputs.
pub(crate) fn parse_sheet(
    path: &Path,
    text: &str,
    inputs: &[PlanInput],
    place: &Place<'_>,
    d: &mut Diagnostics<'_>,
) -> Vec<Sample> {
    // Cells are relative to the sheet.
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let place = Place {
        base: &base,
        ..*place
    };
    let delimiter = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        b','
    } else {
        b'\t'
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.trim().to_owned()).collect::<Vec<_>>(),
        Err(e) => {
            d.error_at(1, 1, format!("cannot read the header row: {e}"), None);
            return Vec::new();
        }
    };
    let needed: Vec<&PlanInput> = inputs.iter().filter(|i| i.path.is_none()).collect();
    let known: Vec<&str> = META
        .iter()
        .copied()
        .chain(inputs.iter().map(|i| i.name.as_str()))
        .collect();
    for (col, h) in headers.iter().enumerate() {
        if !known.contains(&h.as_str()) {
            d.error_at(
                1,
                col + 1,
                format!("unknown column `{h}`"),
                Some(format!("columns: {}", known.join(", "))),
            );
        }
    }
    if !headers.iter().any(|h| h == "sample") {
        d.error_at(1, 1, "the header has no `sample` column", None);
    }
    for i in &needed {
        if !headers.iter().any(|h| h == &i.name) {
            d.error_at(
                1,
                1,
                format!(
                    "pipeline input `{}` has no path, so the sheet needs a `{}` column",
                    i.name, i.name
                ),
                None,
            );
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut samples: Vec<Sample> = Vec::new();
    // Sample id → its line: a duplicate is found in O(1), not by a scan (a
    // 100,000-row sheet took 40 s with the scan).
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                d.error_at(
                    line,
                    1,
                    format!("malformed row: {e}"),
                    Some("every row needs one field per column".into()),
                );
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line() as usize);
        let field = |name: &str| {
            col(name)
                .and_then(|c| row.get(c))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let at = |name: &str| col(name).map_or(1, |c| c + 1);
        let Some(id) = field("sample") else {
            d.error_at(line, at("sample"), "empty sample id", None);
            continue;
        };
        if !super::publish::is_file_name(id) {
            d.error_at(
                line,
                at("sample"),
                format!("sample id `{id}` may only use letters, digits, `-`, `_` and `.` (at most 64, starting with a letter or digit)"),
                Some("a sample id names a directory of the run's published outputs".into()),
            );
            continue;
        }
        if let Some(first_line) = seen.get(id).copied() {
            d.error_at(
                line,
                at("sample"),
                format!("duplicate sample `{id}` (first on line {first_line})"),
                None,
            );
            continue;
        }
        let mut files = BTreeMap::new();
        for input in inputs {
            let Some(value) = field(&input.name) else {
                match &input.path {
                    // The pipeline's file (a shared reference, say), checked with the pipeline.
                    Some(path) => {
                        files.insert(input.name.clone(), path.clone());
                    }
                    None => d.error_at(
                        line,
                        at(&input.name),
                        format!("sample `{id}`: no file for input `{}`", input.name),
                        None,
                    ),
                }
                continue;
            };
            let file = match place.locate(value) {
                Ok(f) => f,
                Err(e) => {
                    d.error_at(line, at(&input.name), format!("sample `{id}`: {e}"), None);
                    continue;
                }
            };
            if let Err(e) = place.files.check(place.blobs, &file) {
                d.error_at(
                    line,
                    at(&input.name),
                    format!("sample `{id}`: {e}"),
                    Some("paths are relative to the sample sheet".into()),
                );
            } else if input.format != "any"
                && let Err(e) = place.files.check_format(place.blobs, &file, &input.format)
            {
                d.error_at(line, at(&input.name), format!("sample `{id}`: {e}"), None);
            }
            files.insert(input.name.clone(), file);
        }
        let time = |name: &str, d: &mut Diagnostics<'_>| {
            let v = field(name)?;
            match humantime::parse_rfc3339_weak(v) {
                Ok(_) => Some(v.to_owned()),
                Err(e) => {
                    d.error_at(
                        line,
                        at(name),
                        format!("`{name}` `{v}` is not an RFC 3339 time: {e}"),
                        None,
                    );
                    None
                }
            }
        };
        let collected_at = time("collected_at", d);
        let expires_at = time("expires_at", d);
        let stability_hours = field("stability_hours").and_then(|v| match v.parse::<f64>() {
            Ok(h) if h.is_finite() && h >= 0.0 => Some(h),
            _ => {
                d.error_at(
                    line,
                    at("stability_hours"),
                    format!("`stability_hours` `{v}` is not a number of hours"),
                    None,
                );
                None
            }
        });
        let priority = match field("priority").unwrap_or("normal") {
            p @ ("normal" | "urgent" | "clinical") => p.to_owned(),
            other => {
                d.error_at(
                    line,
                    at("priority"),
                    format!("priority `{other}`"),
                    Some("one of: normal, urgent, clinical".into()),
                );
                "normal".to_owned()
            }
        };
        seen.insert(id.to_owned(), line);
        samples.push(Sample {
            id: id.to_owned(),
            line,
            inputs: files,
            collected_at,
            expires_at,
            stability_hours,
            priority,
        });
    }
    if samples.is_empty() && d.list.is_empty() {
        d.error_at(1, 1, "the sample sheet has no samples", None);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(collected_at: &str, priority: &str) -> Sample {
        Sample {
            id: "s1".into(),
            line: 2,
            inputs: BTreeMap::new(),
            collected_at: Some(collected_at.into()),
            expires_at: None,
            stability_hours: Some(24.0),
            priority: priority.into(),
        }
    }

    #[test]
    fn a_row_the_scheduler_cannot_take_names_its_sample() {
        let profile = row("2026-11-20T08:00:00Z", "urgent").profile().unwrap();
        assert_eq!(profile.id, "s1");
        assert_eq!(
            profile.deadline,
            Some(Timestamp::parse_rfc3339("2026-11-21T08:00:00Z").unwrap()),
            "collected plus 24 h of stability"
        );
        for bad in [
            row("yesterday", "normal"),
            row("2026-11-20T08:00:00Z", "asap"),
        ] {
            match bad.profile() {
                Err(ScheduleError::Sample { sample, message }) => {
                    assert_eq!(sample, "s1");
                    assert!(!message.is_empty());
                }
                r => panic!("{r:?}"),
            }
        }
    }
}
