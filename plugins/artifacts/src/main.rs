//! `petri-plugins [DIR]`: lists the built plugin components, or copies them into DIR as NAME.wasm.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        for (name, path) in petri_plugins::ALL {
            println!("{name}\t{path}");
        }
        return ExitCode::SUCCESS;
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: creating {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, path) in petri_plugins::ALL {
        let target = dir.join(format!("{name}.wasm"));
        if let Err(e) = std::fs::copy(path, &target) {
            eprintln!("error: copying {path} to {}: {e}", target.display());
            return ExitCode::FAILURE;
        }
        println!("{}", target.display());
    }
    ExitCode::SUCCESS
}
