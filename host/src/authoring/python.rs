//! Building a Python stage package into its component: componentize-py
//! against the WIT contract, with the package and `petri_stage` on its path,
//! both named in `pyproject.toml`'s `[tool.petri]` table.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::build::BuildError;

/// The componentize-py release petri's Python stages are built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// `[tool.petri]`: the entry module and where the WIT and the SDK are
/// (relative to the package directory, or absolute).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolPetri {
    #[serde(default = "default_app")]
    app: String,
    wit: PathBuf,
    sdk: PathBuf,
}

fn default_app() -> String {
    "app".to_owned()
}

#[derive(Debug, Deserialize)]
struct Project {
    name: String,
}

#[derive(Debug, Deserialize)]
struct PyProject {
    project: Project,
    tool: Tool,
}

#[derive(Debug, Deserialize)]
struct Tool {
    petri: ToolPetri,
}

/// The componentize-py command line that builds the package in `dir` into `wasm`.
pub fn command_line(app: &str, wit: &Path, sdk: &Path, wasm: &Path) -> Vec<String> {
    let mut args = vec!["-d".to_owned(), wit.display().to_string()];
    args.extend(["-w", "stage-world", "componentize", "-p", "."].map(str::to_owned));
    args.extend(["-p".to_owned(), sdk.display().to_string(), app.to_owned()]);
    args.extend(["-o".to_owned(), wasm.display().to_string()]);
    args
}

/// Builds the package in `dir` (which has a `pyproject.toml`) into
/// `dir/target/<project name>.wasm` and returns that path.
pub fn component(dir: &Path) -> Result<PathBuf, BuildError> {
    // componentize-py runs in `dir`: every path it is given is absolute.
    let dir = &dir.canonicalize().map_err(BuildError::Spawn)?;
    let path = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| BuildError::PyProject {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let project: PyProject = toml::from_str(&text).map_err(|e| BuildError::PyProject {
        path: path.clone(),
        message: e.message().to_owned(),
    })?;
    let petri = project.tool.petri;
    let wasm = dir
        .join("target")
        .join(format!("{}.wasm", project.project.name));
    std::fs::create_dir_all(dir.join("target")).map_err(BuildError::Spawn)?;
    let status = Command::new("componentize-py")
        .args(command_line(
            &petri.app,
            &dir.join(&petri.wit),
            &dir.join(&petri.sdk),
            &wasm,
        ))
        .current_dir(dir)
        .status()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BuildError::NoComponentizePy,
            _ => BuildError::Spawn(e),
        })?;
    if !status.success() {
        return Err(BuildError::PythonFailed(dir.to_owned()));
    }
    Ok(wasm)
}
