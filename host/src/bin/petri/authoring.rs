//! `petri plugin new | test`: glue over `petri_host::authoring` (scaffold,
//! build, golden cases through the real sandbox).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::Petri;
use petri_host::authoring::golden::{self, Case, Expected};
use petri_host::authoring::{build, python, scaffold};

use crate::run::printable;

/// The language a stage is written in.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The stage's name (a-z, 0-9, `-`): its manifest name and crate or package name.
    name: String,
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to write the crate (default: ./NAME); must not exist.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A petri checkout's sdk/ directory to depend on (default: the checkout
    /// this petri was built from, else petri's git repository at this
    /// version); for `--lang python`, its sdk/python directory (the WIT is
    /// taken from the same checkout's wit/).
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct TestArgs {
    /// The plugin's directory (its golden cases are DIR/tests/golden/<case>/).
    dir: PathBuf,
    /// Test this component instead of building DIR with cargo.
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
    /// Write each case's expected.toml from what the stage does now.
    #[arg(long)]
    bless: bool,
}

/// The SDK a new crate depends on when `--sdk` is not given.
fn default_sdk() -> scaffold::SdkSource {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    match checkout.canonicalize() {
        Ok(sdk) if sdk.join("Cargo.toml").is_file() => scaffold::SdkSource::Path(sdk),
        _ => scaffold::SdkSource::Git {
            url: env!("CARGO_PKG_REPOSITORY").to_owned(),
            tag: concat!("v", env!("CARGO_PKG_VERSION")).to_owned(),
        },
    }
}

/// `--sdk` (a checkout's sdk/python) or this petri's checkout: the WIT and `petri_stage`.
fn python_sdk(sdk: Option<PathBuf>) -> anyhow::Result<scaffold::PythonSdk> {
    let sdk = sdk.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python"));
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "no petri_stage SDK at {} (pass a petri checkout's sdk/python with --sdk)",
            sdk.display()
        )
    })?;
    let wit = sdk.join("../../wit/stage.wit");
    let wit = wit
        .canonicalize()
        .with_context(|| format!("no WIT contract at {}", wit.display()))?;
    Ok(scaffold::PythonSdk { wit, sdk })
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    if let Lang::Python = args.lang {
        let paths = python_sdk(args.sdk)?;
        let files = scaffold::python(&args.name, &dir, &paths)?;
        for f in &files {
            println!("wrote {}", f.display());
        }
        let wasm = Path::new("target").join(format!("{}.wasm", args.name));
        let build = python::command_line("app", &paths.wit, &paths.sdk, &wasm);
        println!(
            "\nnext:\n  cd {}\n  python3 -m pytest                           # the logic, natively\n  \
             componentize-py {}   # the component\n  petri plugin test .                         # builds it, runs the golden cases sandboxed",
            dir.display(),
            build.join(" ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sdk = match args.sdk {
        Some(p) => scaffold::SdkSource::Path(
            p.canonicalize()
                .with_context(|| format!("--sdk {}", p.display()))?,
        ),
        None => default_sdk(),
    };
    let files = scaffold::rust(&args.name, &dir, &sdk)?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    println!(
        "\nnext:\n  cd {}\n  cargo test                                  # the logic, natively\n  \
         cargo {}   # the component\n  petri plugin test .                         # the golden cases, sandboxed",
        dir.display(),
        build::BUILD_ARGS.join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let cases = golden::load_cases(&args.dir)?;
    let wasm = match args.wasm {
        Some(w) => w,
        None => build::component(&args.dir)?,
    };
    // Golden runs leave nothing behind: a data dir of their own.
    let data = tempfile::tempdir().context("creating a temporary data dir")?;
    let petri = Petri::open(data.path())?;
    let stage = petri
        .load_file(&wasm)
        .with_context(|| format!("loading {}", wasm.display()))?;
    println!("testing {} (sha256:{})", wasm.display(), stage.digest);
    let mut failed = 0;
    for case in &cases {
        let ok = match golden::run(&petri, &stage, case).await {
            Ok(got) if args.bless => bless(case, &got)?,
            Ok(got) => report(case, &got),
            Err(e) => {
                println!(
                    "case {:<24} ERROR\n    {}",
                    case.name,
                    printable(&e.to_string())
                );
                false
            }
        };
        failed += usize::from(!ok);
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn bless(case: &Case, got: &Expected) -> anyhow::Result<bool> {
    let path = case.dir.join("expected.toml");
    std::fs::write(&path, golden::to_toml(&golden::blessed(got))?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("case {:<24} blessed  {}", case.name, path.display());
    Ok(true)
}

/// Prints the case's verdict and its diffs; whether it passed.
fn report(case: &Case, got: &Expected) -> bool {
    let Some(expected) = &case.expected else {
        println!(
            "case {:<24} FAILED\n    no expected.toml: `petri plugin test --bless` writes one",
            case.name
        );
        return false;
    };
    let diffs = golden::compare(expected, got);
    if diffs.is_empty() {
        println!("case {:<24} ok", case.name);
        return true;
    }
    println!("case {:<24} FAILED", case.name);
    for d in diffs {
        println!("    {}", printable(&d.to_string()));
    }
    false
}
