//! `petri run`: run one stage on files and report digests, fuel and status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use petri_host::{
    InputSource, Limits, Outcome, Petri, RawParam, RunRequest, StageRecord, StateStore,
};

#[derive(clap::Args)]
pub struct Args {
    /// The stage component (.wasm) or pipeline file (.toml).
    stage: PathBuf,
    /// Pipelines: a sample sheet (TSV/CSV) to fan out over, one DAG per sample.
    #[arg(long, value_name = "SHEET")]
    samples: Option<PathBuf>,
    /// Pipelines: an instruments calendar (TOML) to schedule stages onto. Without
    /// one, every instrument class the pipeline names is one instrument with as
    /// many places as there are worker slots (CPU cores).
    #[arg(long, value_name = "CALENDAR")]
    instruments: Option<PathBuf>,
    /// Pipelines: run every stage even when a cached result exists.
    #[arg(long)]
    no_cache: bool,
    /// A param as NAME=VALUE (lists are comma-separated). Repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// An input as PORT=PATH. Repeatable.
    #[arg(long = "input", short = 'i', value_name = "PORT=PATH")]
    inputs: Vec<String>,
    /// Write outputs here: a stage's as PORT.FORMAT; a pipeline's as
    /// SAMPLE/STAGE/PORT.FORMAT with manifest.tsv (never overwriting other bytes).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Fuel budget for the run.
    #[arg(long, default_value_t = Limits::default().fuel)]
    fuel: u64,
    /// Linear memory cap in bytes.
    #[arg(long, default_value_t = Limits::default().memory_bytes)]
    memory: u64,
    /// Cap per output in bytes.
    #[arg(long, default_value_t = Limits::default().output_bytes)]
    max_output: u64,
    /// Cap on all outputs together in bytes.
    #[arg(long, default_value_t = Limits::default().total_output_bytes)]
    max_total_output: u64,
    /// Cap per input in bytes (an endless input such as /dev/zero stops here).
    #[arg(long, default_value_t = Limits::default().max_input_bytes)]
    max_input: u64,
    /// Wall-clock limit in seconds: a safety net behind the fuel budget; a
    /// stage still running after it fails with `deadline`.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().wall_clock_secs)]
    wall_clock: u64,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    executor: crate::executor::Args,
}

fn split<'a>(flag: &str, s: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("--{flag} `{s}`: expected NAME=VALUE"),
    }
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    if args.stage.extension().is_some_and(|e| e == "toml") {
        return crate::pipeline::main(
            data_dir,
            database,
            crate::pipeline::Request {
                pipeline: &args.stage,
                samples: args.samples.as_deref(),
                instruments: args.instruments.as_deref(),
                output_dir: args.output_dir.as_deref(),
                json: args.json,
            },
            petri_host::pipeline::RunOptions {
                no_cache: args.no_cache,
                executor: args.executor.build(data_dir, database)?,
                ..Default::default()
            },
        )
        .await;
    }
    let params = args
        .params
        .iter()
        .map(|p| split("param", p).map(|(k, v)| (k.to_owned(), RawParam::Text(v.to_owned()))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let inputs = args
        .inputs
        .iter()
        .map(|i| split("input", i).map(|(k, v)| (k.to_owned(), InputSource::Path(v.into()))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let limits = Limits {
        fuel: args.fuel,
        memory_bytes: args.memory,
        output_bytes: args.max_output,
        total_output_bytes: args.max_total_output,
        max_input_bytes: args.max_input,
        wall_clock_secs: args.wall_clock,
        ..Limits::default()
    };
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let stage = petri
        .load_file(&args.stage)
        .with_context(|| format!("loading {}", args.stage.display()))?;
    let manifest = petri
        .describe(&stage)
        .await
        .with_context(|| format!("describing {}", args.stage.display()))?;
    let (record, seal) = petri
        .run_sealed(
            &stage,
            RunRequest {
                params,
                inputs,
                limits,
                attempt: 1,
            },
        )
        .await
        .with_context(|| format!("running {}", args.stage.display()))?;
    // The record is a blob; the index finds it by id (`petri provenance ID`).
    StateStore::open_in(data_dir, database)
        .await?
        .seal(&record.id, &seal.to_hex())
        .await?;

    let mut exported = Vec::new();
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for out in &record.outputs {
            let format = manifest
                .outputs
                .iter()
                .find(|p| p.name == out.port)
                .map_or("bin", |p| p.format.as_str());
            let target = dir.join(format!("{}.{format}", out.port));
            petri
                .blobs()
                .copy_to(&out.sha256, &target)
                .with_context(|| {
                    format!("copying output `{}` to {}", out.port, target.display())
                })?;
            exported.push(target);
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&record, &exported))?
        );
    } else {
        print_human(&record, &exported);
    }
    Ok(match record.outcome {
        Outcome::Succeeded { .. } => ExitCode::SUCCESS,
        Outcome::Failed { .. } => ExitCode::FAILURE,
    })
}

fn summary_json(r: &StageRecord, exported: &[PathBuf]) -> serde_json::Value {
    let failure = match &r.outcome {
        Outcome::Failed { failure } => {
            Some(serde_json::json!({ "kind": failure, "message": failure.to_string() }))
        }
        Outcome::Succeeded { .. } => None,
    };
    // As in the record: non-finite float metrics are strings there.
    let report = serde_json::to_value(&r.outcome)
        .ok()
        .and_then(|o| o.get("report").cloned());
    serde_json::json!({
        "run_id": r.id,
        "status": r.outcome.status(),
        "stage": r.stage,
        "module_sha256": r.module.sha256,
        "params_sha256": r.params_sha256,
        "fuel_used": r.fuel_used,
        "inputs": r.inputs,
        "outputs": r.outputs,
        "exported": exported,
        "report": report,
        "failure": failure,
        "engine_profile_id": r.engine_profile_id,
    })
}

/// `text` safe to print to a terminal: C0 and C1 control characters (but
/// tab), DEL and the Unicode line/paragraph separators are escaped as
/// `\u{…}`, so stage-provided text cannot move the cursor, clear the
/// screen, retitle the window or forge lines. Newlines are escaped too: one
/// value stays one line.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn print_human(r: &StageRecord, exported: &[PathBuf]) {
    println!(
        "run {}  {} {}  {}",
        r.id,
        printable(&r.stage.name),
        printable(&r.stage.version),
        r.outcome.status()
    );
    println!("  module  sha256:{}", r.module.sha256);
    println!("  fuel    {}", r.fuel_used);
    for i in &r.inputs {
        println!(
            "  input   {:<16} sha256:{}  {} bytes",
            printable(&i.port),
            i.sha256,
            i.size
        );
    }
    for o in &r.outputs {
        println!(
            "  output  {:<16} sha256:{}  {} bytes",
            printable(&o.port),
            o.sha256,
            o.size
        );
    }
    match &r.outcome {
        Outcome::Succeeded { report } => {
            for m in &report.metrics {
                let v = match &m.value {
                    petri_host::MetricValue::Integer(i) => i.to_string(),
                    petri_host::MetricValue::Float(f) => f.to_string(),
                    petri_host::MetricValue::Text(t) => t.clone(),
                };
                println!(
                    "  metric  {:<16} {} {}",
                    printable(&m.name),
                    printable(&v),
                    printable(&m.unit)
                );
            }
        }
        Outcome::Failed { failure } => {
            println!("  failure {}", printable(&failure.to_string()));
            println!("  log     petri logs {}", r.id);
        }
    }
    for p in exported {
        println!("  wrote   {}", p.display());
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain\ttext é"), "plain\ttext é");
        assert_eq!(
            printable("a\u{1b}]0;pwned\u{7}b\nc\rd"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{a}c\\u{d}d"
        );
        assert_eq!(printable("\u{9b}2J\u{7f}"), "\\u{9b}2J\\u{7f}");
        assert_eq!(printable("x\u{2028}y"), "x\\u{2028}y");
    }
}
