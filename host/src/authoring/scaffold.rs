//! `petri plugin new`: writes a stage crate or a Python stage package from
//! the templates under `templates/` (a manifest with one param and ports,
//! plain logic with a unit test, the SDK's glue, and golden cases for
//! `petri plugin test`; both languages share the cases).

use std::fs;
use std::path::{Path, PathBuf};

/// Where the new crate takes `petri-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A petri checkout's `sdk/` (absolute). The crate builds offline, with
    /// the SDK (and, through its lock file, the dependency versions) petri
    /// itself is built and tested with.
    Path(PathBuf),
    /// A git repository and tag, for a `petri` installed away from a checkout.
    Git { url: String, tag: String },
}

/// Where a new Python package takes the WIT contract and `petri_stage` from
/// (a petri checkout's `wit/stage.wit` and `sdk/python`, absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonSdk {
    pub wit: PathBuf,
    pub sdk: PathBuf,
}

/// Why a crate could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{0}` is not a stage name: 2 to 64 of a-z, 0-9 and `-`, starting with a letter, \
         not ending with `-`"
    )]
    Name(String),
    #[error("`{0}` is reserved (it would clash with a Rust or petri crate)")]
    Reserved(String),
    #[error("{} already exists: petri plugin new never overwrites", .0.display())]
    Exists(PathBuf),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

const RESERVED: &[&str] = &[
    "std",
    "core",
    "alloc",
    "test",
    "proc-macro",
    "petri-sdk",
    "petri",
    // Python: the entry module, the SDK and standard modules a stage imports.
    "app",
    "petri-stage",
    "io",
    "json",
    "gzip",
    "typing",
];

/// The template files of a Rust stage: (path in the crate, text).
const RUST: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml.tmpl")),
    (".gitignore", include_str!("templates/rust/gitignore.tmpl")),
    ("src/lib.rs", include_str!("templates/rust/lib.rs.tmpl")),
];

/// The template files of a Python stage (`{{module}}`: the name in snake_case).
const PYTHON: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        include_str!("templates/python/pyproject.toml.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("templates/python/gitignore.tmpl"),
    ),
    ("app.py", include_str!("templates/python/app.py.tmpl")),
    (
        "{{module}}.py",
        include_str!("templates/python/stage.py.tmpl"),
    ),
    (
        "tests/test_{{module}}.py",
        include_str!("templates/python/test_stage.py.tmpl"),
    ),
];

/// The golden cases both languages start with: the stage does the same thing.
const GOLDEN: &[(&str, &str)] = &[
    (
        "tests/golden/basic/case.toml",
        include_str!("templates/golden/case.toml.tmpl"),
    ),
    (
        "tests/golden/basic/input.txt",
        include_str!("templates/golden/input.txt"),
    ),
    (
        "tests/golden/basic/expected.toml",
        include_str!("templates/golden/expected.toml.tmpl"),
    ),
    (
        "tests/golden/recover-io/case.toml",
        include_str!("templates/golden/recover-case.toml.tmpl"),
    ),
    (
        "tests/golden/recover-io/expected.toml",
        include_str!("templates/golden/recover-expected.toml.tmpl"),
    ),
];

/// Checks that `name` is a stage name and a crate name: `[a-z][a-z0-9-]*[a-z0-9]`, at most 64.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let bytes = name.as_bytes();
    let shape = (2..=64).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if !shape {
        return Err(ScaffoldError::Name(name.chars().take(80).collect()));
    }
    if RESERVED.contains(&name) {
        return Err(ScaffoldError::Reserved(name.to_owned()));
    }
    Ok(())
}

/// `gc-content` → `GcContent`: the stage's type name.
fn type_name(name: &str) -> String {
    name.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn sdk_dependency(sdk: &SdkSource) -> String {
    match sdk {
        // TOML basic strings: a Windows path's backslashes must be escaped.
        SdkSource::Path(p) => format!("{{ path = {:?} }}", p.display().to_string()),
        SdkSource::Git { url, tag } => format!("{{ git = {url:?}, tag = {tag:?} }}"),
    }
}

/// `template` with its `{{name}}`, `{{type}}` and `{{sdk}}` filled in.
fn fill(template: &str, name: &str, sdk: &SdkSource) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{type}}", &type_name(name))
        .replace("{{sdk}}", &sdk_dependency(sdk))
}

/// The files of a new stage `name` in `dir` (which must not exist).
fn start(
    name: &str,
    dir: &Path,
    templates: &[&[(&str, &str)]],
    fill: impl Fn(&str) -> String,
) -> Result<Vec<(PathBuf, Vec<u8>)>, ScaffoldError> {
    check_name(name)?;
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    Ok(templates
        .iter()
        .flat_map(|t| t.iter())
        .map(|(path, text)| (dir.join(fill(path)), fill(text).into_bytes()))
        .collect())
}

/// Writes `files` and returns their paths.
fn write_all(files: Vec<(PathBuf, Vec<u8>)>) -> Result<Vec<PathBuf>, ScaffoldError> {
    for (path, bytes) in &files {
        let write = |path: &Path| {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(path, bytes)
        };
        write(path).map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// Writes a new Rust stage crate `name` into `dir` (which must not exist)
/// and returns the files written. With a path SDK, the checkout's
/// `Cargo.lock` is copied in, so the crate resolves the dependency versions
/// petri is tested with (and builds offline).
pub fn rust(name: &str, dir: &Path, sdk: &SdkSource) -> Result<Vec<PathBuf>, ScaffoldError> {
    let mut files = start(name, dir, &[RUST, GOLDEN], |t| fill(t, name, sdk))?;
    if let SdkSource::Path(sdk) = sdk
        && let Some(lock) = sdk.parent().map(|p| p.join("Cargo.lock"))
        && let Ok(bytes) = fs::read(&lock)
    {
        files.push((dir.join("Cargo.lock"), bytes));
    }
    write_all(files)
}

/// `gc-content` → `gc_content`: the Python module (and stage function) name.
pub fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// `template` with its `{{name}}`, `{{module}}`, `{{wit}}` and `{{sdk}}` filled in
/// (the paths as TOML strings).
fn fill_python(template: &str, name: &str, paths: &PythonSdk) -> String {
    let toml = |p: &Path| format!("{:?}", p.display().to_string());
    template
        .replace("{{name}}", name)
        .replace("{{module}}", &module_name(name))
        .replace("{{wit}}", &toml(&paths.wit))
        .replace("{{sdk}}", &toml(&paths.sdk))
}

/// Writes a new Python stage package `name` into `dir` (which must not
/// exist) and returns the files written.
pub fn python(name: &str, dir: &Path, paths: &PythonSdk) -> Result<Vec<PathBuf>, ScaffoldError> {
    let files = start(name, dir, &[PYTHON, GOLDEN], |t| {
        fill_python(t, name, paths)
    })?;
    write_all(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_a_safe_charset() {
        for good in ["gc-content", "qc2", "ab"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Gc",
            "2fast",
            "gc_content",
            "gc-",
            "../x",
            "a b",
            "é-stage",
        ] {
            assert!(
                matches!(check_name(bad), Err(ScaffoldError::Name(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            check_name(&"a".repeat(65)),
            Err(ScaffoldError::Name(_))
        ));
        assert!(matches!(
            check_name("test"),
            Err(ScaffoldError::Reserved(_))
        ));
    }

    #[test]
    fn templates_are_filled() {
        let sdk = SdkSource::Path("/src/petri/sdk".into());
        assert_eq!(type_name("gc-content"), "GcContent");
        let toml = fill(RUST[0].1, "gc-content", &sdk);
        assert!(toml.contains("name = \"gc-content\""));
        assert!(toml.contains("petri-sdk = { path = \"/src/petri/sdk\" }"));
        let git = SdkSource::Git {
            url: "https://example.org/petri".into(),
            tag: "v0.1.0".into(),
        };
        assert!(fill(RUST[0].1, "x1", &git).contains("git = \"https://example.org/petri\""));
        let lib = fill(RUST[2].1, "gc-content", &sdk);
        assert!(lib.contains("impl Stage for GcContent"));
        assert!(!lib.contains("{{"));
    }

    #[test]
    fn an_existing_directory_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = SdkSource::Path(dir.path().join("sdk"));
        let err = rust("gc-content", dir.path(), &sdk).unwrap_err();
        assert!(matches!(err, ScaffoldError::Exists(_)));
        let files = rust("gc-content", &dir.path().join("new"), &sdk).unwrap();
        assert!(files.iter().any(|f| f.ends_with("src/lib.rs")));
    }

    #[test]
    fn a_python_package_is_filled_and_named_by_module() {
        let dir = tempfile::tempdir().unwrap();
        let paths = PythonSdk {
            wit: "/src/petri/wit/stage.wit".into(),
            sdk: "/src/petri/sdk/python".into(),
        };
        let files = python("gc-content", &dir.path().join("new"), &paths).unwrap();
        for f in ["gc_content.py", "tests/test_gc_content.py", "app.py"] {
            assert!(files.iter().any(|p| p.ends_with(f)), "{f}");
        }
        let stage = fill_python(PYTHON[3].1, "gc-content", &paths);
        assert!(stage.contains("name=\"gc-content\"") && stage.contains("def gc_content("));
        let toml = fill_python(PYTHON[0].1, "gc-content", &paths);
        assert!(toml.contains("sdk = \"/src/petri/sdk/python\""), "{toml}");
        assert!(!toml.contains("{{"));
        assert!(matches!(check_name("app"), Err(ScaffoldError::Reserved(_))));
    }
}
