//! The Python plugins: each directory under `plugins/` with a `pyproject.toml`
//! (and no `Cargo.toml`) is built by componentize-py into a component of the
//! world `stage-world` in `wit/stage.wit`, with `sdk/python` (`petri_stage`)
//! on its path and `app.py` as its entry module.
//!
//! The sources are copied into OUT_DIR first: CPython writes `__pycache__`
//! next to what it imports, and that must not touch the checkout (cargo would
//! see a change and rebuild every time).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release the Python plugins are built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// The names of the Python plugin directories, sorted.
pub fn plugins(plugins_dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = fs::read_dir(plugins_dir)
        .expect("reading plugins/")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.path().join("pyproject.toml").is_file() && !e.path().join("Cargo.toml").exists()
        })
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    found.sort();
    found
}

/// The `*.py` files directly in `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("reading Python sources")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    found.sort();
    found
}

/// Watches the `*.py` files a build reads from `dir` (not `tests/`, nor the
/// `__pycache__` CPython and pytest write).
pub fn rerun_if_changed(dir: &Path) {
    for path in sources(dir) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Copies the `*.py` files directly in `from` into `to`.
fn copy_sources(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("creating a source copy dir");
    for path in sources(from) {
        let name = path.file_name().expect("a file name");
        fs::copy(&path, to.join(name)).expect("copying a Python source");
    }
}

fn require_componentize_py() {
    let hint = format!(
        "componentize-py {COMPONENTIZE_PY} builds the Python plugins: \
         `python3 -m pip install componentize-py=={COMPONENTIZE_PY}`"
    );
    let out = Command::new("componentize-py")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("running componentize-py: {e}\n{hint}"));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.trim().ends_with(COMPONENTIZE_PY),
        "found `{}`, not {COMPONENTIZE_PY}\n{hint}",
        version.trim()
    );
}

/// Builds the Python plugin in `dir` and returns its component's path.
pub fn build(workspace: &Path, dir: &Path, out_dir: &Path) -> PathBuf {
    require_componentize_py();
    let name = dir.file_name().expect("a plugin dir name");
    let root = out_dir.join("python").join(name);
    let _ = fs::remove_dir_all(&root);
    copy_sources(dir, &root.join("src"));
    copy_sources(
        &workspace.join("sdk/python/petri_stage"),
        &root.join("sdk/petri_stage"),
    );
    let wasm = root.join(format!("{}.wasm", name.to_string_lossy()));
    let status = Command::new("componentize-py")
        .arg("-d")
        .arg(workspace.join("wit/stage.wit"))
        .args(["-w", "stage-world", "componentize", "-p"])
        .arg(root.join("src"))
        .arg("-p")
        .arg(root.join("sdk"))
        .arg("app")
        .arg("-o")
        .arg(&wasm)
        .current_dir(&root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("VIRTUAL_ENV")
        .status()
        .expect("running componentize-py");
    assert!(
        status.success(),
        "componentize-py failed for {}",
        dir.display()
    );
    wasm
}
