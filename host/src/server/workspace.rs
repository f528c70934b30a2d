//! A run's working directory: the submitted pipeline file, sample sheet and the uploaded
//! blobs they name, laid out so that every relative path resolves inside it and nowhere else.
//!
//! ```text
//! <data-dir>/server/runs/<id>/work/d1/…/dk/pipeline.toml   k = how far the paths climb with `..`
//! <data-dir>/server/runs/<id>/work/d1/…/dk/samples.tsv
//! <data-dir>/server/runs/<id>/work/…/<each file, at its relative path>   (hard links into the blob store)
//! ```
//!
//! Absolute paths, paths that climb out of the directory and modules named by
//! file path are refused before anything is read: a pipeline submitted over
//! HTTP sees only blobs its group uploaded, and modules by name or digest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::error::ProblemBody;
use super::views::{SheetFormat, SubmitRun};
use crate::data_dir::DataDir;
use crate::digest::Digest;

/// The deepest `..` climb a submitted path may make.
const MAX_CLIMB: usize = 16;

/// Where a run's files are.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `<data-dir>/server/runs/<id>/work`.
    pub root: PathBuf,
    pub pipeline: PathBuf,
    pub sheet: Option<PathBuf>,
    /// The directory the pipeline's relative paths start from.
    pub base: PathBuf,
}

/// A submitted run, checked and resolved: its text and every file it names.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub pipeline_text: String,
    pub sheet_text: Option<String>,
    pub sheet_format: SheetFormat,
    /// Relative path (normalised) → blob.
    pub files: BTreeMap<String, Digest>,
    /// How many directories the paths climb above the pipeline file.
    pub climb: usize,
}

pub fn run_dir(data: &DataDir, id: &str) -> PathBuf {
    data.root().join("server").join("runs").join(id)
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

/// Normalises a relative path lexically; returns it and how far it climbs above its start.
fn normalise(path: &str) -> Result<(PathBuf, usize), String> {
    let mut parts: Vec<&str> = Vec::new();
    let mut climb = 0usize;
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or("the path is not UTF-8")?),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    climb += 1;
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(
                    "absolute paths are not allowed; give a path relative to the pipeline file"
                        .into(),
                );
            }
        }
    }
    if parts.is_empty() {
        return Err("the path names no file".into());
    }
    if climb > MAX_CLIMB {
        return Err(format!("the path climbs more than {MAX_CLIMB} directories"));
    }
    // `climb` leading `..` then the rest: relative to the pipeline's directory.
    let mut p = PathBuf::new();
    for _ in 0..climb {
        p.push("..");
    }
    for s in parts {
        p.push(s);
    }
    Ok((p, climb))
}

/// A pipeline input's name, path and declared SHA-256.
type InputPath = (String, String, Option<String>);

/// The paths a pipeline file names (pipeline inputs) and the input names a
/// sheet may give files for; module references that are file paths are problems.
fn pipeline_paths(text: &str, problems: &mut Vec<ProblemBody>) -> (Vec<InputPath>, Vec<String>) {
    // A file that does not parse is left to the validator, which locates the error.
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return (Vec::new(), Vec::new());
    };
    let mut paths = Vec::new();
    let mut names = Vec::new();
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
            if let Some(module) = decl.get("module").and_then(|m| m.as_str())
                && !module.starts_with("sha256:")
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
    (paths, names)
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

/// Checks a submitted run's paths and resolves every file it names to a blob.
/// `owned` says whether the caller may use a blob.
pub fn resolve(
    request: &SubmitRun,
    pipeline_text: String,
    owned: &dyn Fn(&Digest) -> bool,
) -> Result<Resolved, Vec<ProblemBody>> {
    let mut problems = Vec::new();
    let (inputs, input_names) = pipeline_paths(&pipeline_text, &mut problems);
    let mut files: BTreeMap<String, Digest> = BTreeMap::new();
    let mut climb = 0;
    let mut given = BTreeSet::new();
    for (path, sha) in &request.files {
        let field = format!("files[{path:?}]");
        let (norm, up) = match normalise(path) {
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
        climb = climb.max(up);
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
            Ok((norm, up)) => {
                climb = climb.max(up);
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
    for (name, path, sha) in &inputs {
        check(
            "pipeline.toml",
            format!("input `{name}`"),
            path,
            sha.as_deref(),
            &mut problems,
        );
    }
    let sheet_file = match request.samples_format {
        SheetFormat::Tsv => "samples.tsv",
        SheetFormat::Csv => "samples.csv",
    };
    if let Some(sheet) = &request.samples {
        // Sheet cells are relative to the sheet, which sits beside the pipeline file.
        let declared: Vec<String> = input_names;
        for path in sheet_paths(sheet, request.samples_format, &declared) {
            check(
                sheet_file,
                "sample sheet".to_owned(),
                &path,
                None,
                &mut problems,
            );
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
        climb,
    })
}

/// Lays out the run's directory afresh (removing what a previous attempt left)
/// with hard links into the blob store (copies across filesystems).
pub fn materialise(
    dir: &Path,
    resolved: &Resolved,
    blob_path: &dyn Fn(&Digest) -> PathBuf,
) -> std::io::Result<Workspace> {
    let root = dir.join("work");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let mut base = root.clone();
    for i in 1..=resolved.climb {
        base.push(format!("d{i}"));
    }
    std::fs::create_dir_all(&base)?;
    let pipeline = base.join("pipeline.toml");
    std::fs::write(&pipeline, &resolved.pipeline_text)?;
    let sheet = match &resolved.sheet_text {
        Some(text) => {
            let name = match resolved.sheet_format {
                SheetFormat::Tsv => "samples.tsv",
                SheetFormat::Csv => "samples.csv",
            };
            let p = base.join(name);
            std::fs::write(&p, text)?;
            Some(p)
        }
        None => None,
    };
    for (rel, digest) in &resolved.files {
        let target = clean_join(&base, Path::new(rel));
        if !target.starts_with(&root) {
            return Err(std::io::Error::other(format!(
                "{rel} leaves the run directory"
            )));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let _ = std::fs::remove_file(&target);
        let source = blob_path(digest);
        if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(Workspace {
        root,
        pipeline,
        sheet,
        base,
    })
}

/// `base` joined with a normalised relative path, resolving leading `..` lexically.
pub fn clean_join(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_confined() {
        assert_eq!(
            normalise("../data/x.fq").unwrap(),
            (PathBuf::from("../data/x.fq"), 1)
        );
        assert_eq!(normalise("a/../../b").unwrap(), (PathBuf::from("../b"), 1));
        assert_eq!(normalise("./a/b").unwrap(), (PathBuf::from("a/b"), 0));
        assert!(normalise("/etc/passwd").is_err());
        assert!(normalise("a/..").is_err());
    }

    #[test]
    fn module_paths_and_unknown_files_are_problems() {
        let req = SubmitRun {
            pipeline: None,
            pipeline_sha256: None,
            samples: None,
            samples_format: SheetFormat::Tsv,
            files: BTreeMap::new(),
            description: String::new(),
            priority: Default::default(),
        };
        let text =
            "[inputs.r]\npath = \"/etc/shadow\"\n[stages.s]\nmodule = \"../x.wasm\"\n".to_owned();
        let problems = resolve(&req, text, &|_| true).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
