//! Building a stage crate into its component: `cargo build --release
//! --target wasm32-wasip2`, the `.wasm` found in cargo's own JSON messages;
//! a Python package (a `pyproject.toml`) is built by `python.rs`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The build command a stage crate's component comes from.
pub const BUILD_ARGS: &[&str] = &["build", "--release", "--target", "wasm32-wasip2"];

/// Why a stage crate did not build into a component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{} has no Cargo.toml or pyproject.toml: a stage crate's or Python package's directory is expected",
        .0.display()
    )]
    NotACrate(PathBuf),
    #[error("{}: {message} (a Python stage's [tool.petri] names `wit` and `sdk`)", path.display())]
    PyProject { path: PathBuf, message: String },
    #[error(
        "componentize-py was not found: `python3 -m pip install componentize-py=={}`",
        super::python::COMPONENTIZE_PY
    )]
    NoComponentizePy,
    #[error("componentize-py failed in {} (its errors are above)", .0.display())]
    PythonFailed(PathBuf),
    #[error("running the build (cargo or componentize-py): {0}")]
    Spawn(std::io::Error),
    #[error(
        "`cargo {}` failed in {} (its errors are above; is the target installed? \
         `rustup target add wasm32-wasip2`)",
        BUILD_ARGS.join(" "), .0.display()
    )]
    Failed(PathBuf),
    #[error("cargo built no .wasm for {}: is its crate-type `cdylib`?", .0.display())]
    NoComponent(PathBuf),
}

/// Builds the crate or Python package in `dir` and returns its component's
/// path. The tools' own diagnostics go to stderr as usual.
pub fn component(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        if dir.join("pyproject.toml").is_file() {
            return super::python::component(dir);
        }
        return Err(BuildError::NotACrate(dir.to_owned()));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(BUILD_ARGS)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(BuildError::Spawn)?;
    let mut wasm = None;
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            wasm = wasm_of(&line, &manifest).or(wasm);
        }
    }
    let status = child.wait().map_err(BuildError::Spawn)?;
    if !status.success() {
        return Err(BuildError::Failed(dir.to_owned()));
    }
    wasm.ok_or_else(|| BuildError::NoComponent(dir.to_owned()))
}

/// The `.wasm` a `compiler-artifact` message of the crate at `manifest` names.
fn wasm_of(line: &str, manifest: &Path) -> Option<PathBuf> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" {
        return None;
    }
    let ours = msg["manifest_path"]
        .as_str()
        .is_some_and(|p| same_file(Path::new(p), manifest));
    if !ours {
        return None;
    }
    msg["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_found_in_cargo_messages() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").unwrap();
        let line = serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": manifest,
            "filenames": ["/t/wasm32-wasip2/release/libx.rlib", "/t/wasm32-wasip2/release/x.wasm"],
        })
        .to_string();
        assert_eq!(
            wasm_of(&line, &manifest),
            Some(PathBuf::from("/t/wasm32-wasip2/release/x.wasm"))
        );
        let other = line.replace("compiler-artifact", "build-script-executed");
        assert_eq!(wasm_of(&other, &manifest), None);
        assert_eq!(wasm_of("not json", &manifest), None);
    }
}
