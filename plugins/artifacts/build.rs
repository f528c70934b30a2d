//! Compiles every plugin under `plugins/` to a wasm32-wasip2 component, as
#![allow(clippy::unwrap_used, clippy::expect_used)] // a build script: failing loudly is the error handling
//! wasmtime's test-programs artifacts crate does: a nested cargo with its own
//! target dir in OUT_DIR, then generated path constants and `foreach_plugin!`.
//!
//! Python plugins (a directory with `pyproject.toml` and an `app.py`) are
//! built with componentize-py against the same `wit/stage.wit`
//! (`python.rs`).
//!
//! Rust builds are reproducible: the release profile without debug info, and
//! `--remap-path-prefix` for $CARGO_HOME and the checkout, so the bytes (and
//! so every module digest) do not depend on where the source or registry live.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod python;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let plugins_dir = manifest_dir
        .parent()
        .expect("plugins/artifacts has a parent");
    let workspace = plugins_dir.parent().expect("plugins/ has a parent");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    let mut plugins: Vec<String> = fs::read_dir(plugins_dir)
        .expect("reading plugins/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file() && e.file_name() != "artifacts")
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    plugins.sort();
    let python_plugins = python::plugins(plugins_dir);

    // Not all of sdk/: CPython and pytest write caches under sdk/python.
    for dir in ["sdk/src", "sdk/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    for p in &plugins {
        println!("cargo:rerun-if-changed={}", plugins_dir.join(p).display());
    }
    python::rerun_if_changed(&workspace.join("sdk/python/petri_stage"));
    for p in &python_plugins {
        python::rerun_if_changed(&plugins_dir.join(p));
        println!(
            "cargo:rerun-if-changed={}",
            plugins_dir.join(p).join("pyproject.toml").display()
        );
    }

    let target_dir = out_dir.join("wasm-target");
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let rustflags = [
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
        format!("--remap-path-prefix={}=/build", workspace.display()),
    ]
    .join("\x1f");

    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    for p in &plugins {
        cmd.arg("-p").arg(format!("petri-plugin-{p}"));
    }
    let status = cmd.status().expect("running cargo for the wasm plugins");
    assert!(
        status.success(),
        "building plugins for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );

    let mut built: Vec<(String, PathBuf)> = plugins
        .iter()
        .map(|p| {
            let wasm = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("petri_plugin_{}.wasm", p.replace('-', "_")));
            (p.clone(), wasm)
        })
        .collect();
    for p in &python_plugins {
        built.push((
            p.clone(),
            python::build(workspace, &plugins_dir.join(p), &out_dir),
        ));
    }
    built.sort();

    let mut code = String::new();
    let mut all = String::new();
    let mut each = String::new();
    for (p, wasm) in &built {
        let ident = p.replace('-', "_");
        assert!(wasm.is_file(), "{} was not built", wasm.display());
        let konst = ident.to_uppercase();
        writeln!(code, "/// Path of the `{p}` plugin component.").unwrap();
        writeln!(
            code,
            "pub const {konst}: &str = {:?};",
            wasm.display().to_string()
        )
        .unwrap();
        writeln!(all, "    ({p:?}, {konst}),").unwrap();
        writeln!(each, "        $mac!({ident}, {p:?});").unwrap();
    }
    writeln!(
        code,
        "/// Every plugin as (name, path).\npub const ALL: &[(&str, &str)] = &[\n{all}];"
    )
    .unwrap();
    writeln!(
        code,
        "/// Calls `$mac!(ident, \"name\")` once per plugin, so every plugin gets a test.\n\
         #[macro_export]\nmacro_rules! foreach_plugin {{\n    ($mac:ident) => {{\n{each}    }};\n}}"
    )
    .unwrap();
    fs::write(out_dir.join("plugins.rs"), code).expect("writing plugins.rs");
}
