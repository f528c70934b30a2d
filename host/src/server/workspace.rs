//! A daemon run's namespace: the submitted pipeline text, sample sheet and the uploaded
//! blobs they name — and nothing else. No file of a run is ever written to or read from
//! the server's filesystem by path.
//!
//! The pipeline and sheet texts checked here are the texts validated and run
//! (see [`crate::pipeline::Source`]); a `files` entry is only ever an input, so
//! it cannot stand in for either. Paths are normalised lexically
//! ([`crate::pipeline::normalise`]: no absolute paths, NUL or control
//! characters, over-long names or deep climbs), modules are registered names or
//! `sha256:` digests the group may use, and a digest the group may not use is
//! reported exactly as a missing one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::error::ProblemBody;
use super::views::{SheetFormat, SubmitRun};
use crate::pipeline::{Diagnostic, Files, Source, Uploaded, normalise};
use crate::store::digest::Digest;

/// A submitted run, checked and resolved: its text and every file it names.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub pipeline_text: String,
    pub sheet_text: Option<String>,
    pub sheet_format: SheetFormat,
    /// Relative path (normalised) → blob.
    pub files: BTreeMap<String, Digest>,
    /// The `sha256:` modules the pipeline names (each one the group may use).
    pub modules: BTreeSet<Digest>,
}

/// What the run's pipeline file is called in problems and records.
pub const PIPELINE_FILE: &str = "pipeline.toml";

impl Resolved {
    /// The run as the validator takes it: exactly these texts, and only these files.
    pub fn source(self) -> Source {
        let sheet = self
            .sheet_text
            .map(|t| (PathBuf::from(sheet_name(self.sheet_format)), t));
        let files = self
            .files
            .into_iter()
            .map(|(p, d)| (PathBuf::from(p), d))
            .collect();
        Source {
            path: PathBuf::from(PIPELINE_FILE),
            text: self.pipeline_text,
            sheet,
            files: Files::Uploaded(Uploaded::new(files, self.modules)),
        }
    }
}

fn sheet_name(format: SheetFormat) -> &'static str {
    match format {
        SheetFormat::Tsv => "samples.tsv",
        SheetFormat::Csv => "samples.csv",
    }
}

/// Validation diagnostics as API problems (their files are already run-relative names).
pub fn problems(diagnostics: &[Diagnostic]) -> Vec<ProblemBody> {
    diagnostics
        .iter()
        .map(|d| ProblemBody {
            file: d.file.display().to_string(),
            line: d.line,
            column: d.column,
            message: d.message.clone(),
            hint: d.hint.clone(),
        })
        .collect()
}

fn problem(file: &str, message: String, hint: Option<&str>) -> ProblemBody {
    ProblemBody {
        file: file.to_owned(),
        line: 0,
        column: 0,
        message,
        hint: hint.map(str::to_owned),
    }
}

/// A pipeline input's name, path and declared SHA-256.
type InputPath = (String, String, Option<String>);

/// What a pipeline file names: its inputs' paths, the input names a sheet may
/// give files for, and its `sha256:` modules. Module file paths are problems.
#[derive(Default)]
struct Named {
    paths: Vec<InputPath>,
    names: Vec<String>,
    modules: Vec<(String, String)>,
}

fn pipeline_paths(text: &str, problems: &mut Vec<ProblemBody>) -> Named {
    // A file that does not parse is left to the validator, which locates the error.
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Named::default();
    };
    let mut paths = Vec::new();
    let mut names = Vec::new();
    let mut modules = Vec::new();
    if let Some(inputs) = table.get("inputs").and_then(|v| v.as_table()) {
        for (name, decl) in inputs {
            names.push(name.clone());
            if let Some(path) = decl.get("path").and_then(|p| p.as_str()) {
                let sha = decl
                    .get("sha256")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned);
                paths.push((name.clone(), path.to_owned(), sha));
            }
        }
    }
    if let Some(stages) = table.get("stages").and_then(|v| v.as_table()) {
        for (id, decl) in stages {
            let module = decl.get("module").and_then(|m| m.as_str());
            if let Some(hex) = module.and_then(|m| m.strip_prefix("sha256:")) {
                modules.push((id.clone(), hex.to_owned()));
            } else if let Some(module) = module
                && (module.ends_with(".wasm") || module.contains('/') || module.contains('\\'))
            {
                problems.push(problem(
                    "pipeline.toml",
                    format!("stage `{id}`: module `{module}` is a file path; the daemon runs modules by registered name or `sha256:<hex>`"),
                    Some("upload it with POST /v1/modules and write `module = \"sha256:<hex>\"`"),
                ));
            }
        }
    }
    Named {
        paths,
        names,
        modules,
    }
}

/// The file paths a sample sheet gives in its input columns.
fn sheet_paths(text: &str, format: SheetFormat, inputs: &[String]) -> Vec<String> {
    let delimiter = match format {
        SheetFormat::Csv => b',',
        SheetFormat::Tsv => b'\t',
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let Ok(headers) = reader.headers().cloned() else {
        return Vec::new();
    };
    let columns: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| inputs.iter().any(|i| i == h.trim()))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    for row in reader.records().flatten() {
        for &c in &columns {
            if let Some(cell) = row.get(c).map(str::trim).filter(|c| !c.is_empty()) {
                out.push(cell.to_owned());
            }
        }
    }
    out
}

/// Every blob a submitted run names (files, declared input digests,
/// `sha256:` modules): the candidates whose ownership the caller's group is asked about.
pub fn named_digests(request: &SubmitRun, pipeline_text: &str) -> Vec<Digest> {
    let named = pipeline_paths(pipeline_text, &mut Vec::new());
    let files = request
        .files
        .values()
        .map(|s| s.trim_start_matches("sha256:"));
    let declared = named.paths.iter().filter_map(|(_, _, sha)| sha.as_deref());
    let modules = named.modules.iter().map(|(_, hex)| hex.as_str());
    files
        .chain(declared)
        .chain(modules)
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Checks a submitted run's paths and resolves every file it names to a blob.
/// `owned` says whether the caller may use a blob.
pub fn resolve(
    request: &SubmitRun,
    pipeline_text: String,
    owned: &dyn Fn(&Digest) -> bool,
) -> Result<Resolved, Vec<ProblemBody>> {
    let mut problems = Vec::new();
    let named = pipeline_paths(&pipeline_text, &mut problems);
    let mut files: BTreeMap<String, Digest> = BTreeMap::new();
    let mut given = BTreeSet::new();
    for (path, sha) in &request.files {
        let field = format!("files[{path:?}]");
        let (norm, _) = match normalise(path) {
            Ok(n) => n,
            Err(e) => {
                problems.push(problem(&field, e, None));
                continue;
            }
        };
        let digest = match sha.trim_start_matches("sha256:").parse::<Digest>() {
            Ok(d) if owned(&d) => d,
            Ok(_) => {
                problems.push(problem(
                    &field,
                    format!("no uploaded blob sha256:{sha} (upload it with POST /v1/blobs)"),
                    None,
                ));
                continue;
            }
            Err(e) => {
                problems.push(problem(&field, e.to_string(), None));
                continue;
            }
        };
        let key = norm.to_string_lossy().into_owned();
        given.insert(key.clone());
        files.insert(key, digest);
    }
    let mut check = |file: &str,
                     what: String,
                     path: &str,
                     sha: Option<&str>,
                     problems: &mut Vec<ProblemBody>| {
        match normalise(path) {
            Ok((norm, _)) => {
                let key = norm.to_string_lossy().into_owned();
                if given.contains(&key) || files.contains_key(&key) {
                    return;
                }
                // A declared digest the caller uploaded stands for the file.
                match sha.and_then(|s| s.parse::<Digest>().ok()) {
                    Some(d) if owned(&d) => {
                        files.insert(key, d);
                    }
                    _ => problems.push(problem(
                        file,
                        format!("{what}: `{path}` is not among the uploaded files"),
                        Some(
                            "upload it with POST /v1/blobs and list it in `files` as path → sha256",
                        ),
                    )),
                }
            }
            Err(e) => problems.push(problem(file, format!("{what}: `{path}`: {e}"), None)),
        }
    };
    for (name, path, sha) in &named.paths {
        check(
            "pipeline.toml",
            format!("input `{name}`"),
            path,
            sha.as_deref(),
            &mut problems,
        );
    }
    let sheet_file = sheet_name(request.samples_format);
    if let Some(sheet) = &request.samples {
        // Sheet cells are relative to the sheet, which sits beside the pipeline file.
        for path in sheet_paths(sheet, request.samples_format, &named.names) {
            check(
                sheet_file,
                "sample sheet".to_owned(),
                &path,
                None,
                &mut problems,
            );
        }
    }
    let mut modules = BTreeSet::new();
    for (stage, hex) in &named.modules {
        match hex.parse::<Digest>() {
            Ok(d) if owned(&d) => {
                modules.insert(d);
            }
            // Not uploaded, or not this group's: the same answer.
            _ => problems.push(problem(
                PIPELINE_FILE,
                format!("stage `{stage}`: no module sha256:{hex}"),
                Some("upload it with POST /v1/modules"),
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Resolved {
        pipeline_text,
        sheet_text: request.samples.clone(),
        sheet_format: request.samples_format,
        files,
        modules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A submission with nothing but defaults.
    fn request() -> SubmitRun {
        SubmitRun {
            pipeline: None,
            pipeline_sha256: None,
            samples: None,
            samples_format: SheetFormat::Tsv,
            files: BTreeMap::new(),
            description: String::new(),
            priority: Default::default(),
        }
    }

    #[test]
    fn named_digests_are_found() {
        let d = Digest::of(b"x");
        let m = Digest::of(b"m");
        let text = format!(
            "[inputs.a]\npath = \"a\"\nsha256 = \"{d}\"\n[inputs.b]\npath = \"b\"\n[stages.s]\nmodule = \"sha256:{m}\"\n"
        );
        let req = request();
        assert_eq!(named_digests(&req, &text), vec![d, m]);
    }

    #[test]
    fn module_paths_and_unknown_files_are_problems() {
        let req = request();
        let text =
            "[inputs.r]\npath = \"/etc/shadow\"\n[stages.s]\nmodule = \"../x.wasm\"\n".to_owned();
        let problems = resolve(&req, text, &|_| true).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
