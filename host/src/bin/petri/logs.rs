//! `petri logs ID`: a stage's log. With `--url` (or `PETRI_URL`) a daemon
//! run's logs and events (`client::logs`); without, a record in the local
//! data dir — one stage execution, or every stage of a pipeline run — with
//! the failure that ended it (a guest panic's message included).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use petri_host::pipeline::{RUN_SCHEMA, RunRecord};
use petri_host::{Level, LogLine, Outcome, Petri, StageRecord, StateStore};

use crate::run::printable;

#[derive(clap::Args)]
pub struct Args {
    /// A run id on the daemon, or a local record id (or a unique prefix).
    id: String,
    /// The daemon's base URL; without it the record is read from the data dir.
    #[arg(long, env = "PETRI_URL")]
    url: Option<String>,
    /// An API token (`petri token create`), for `--url`.
    #[arg(long, env = "PETRI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.url {
        let Some(token) = &args.token else {
            bail!("--url needs --token (or PETRI_TOKEN)");
        };
        return crate::client::logs(url, token, &args.id, args.json);
    }
    let petri =
        Petri::open(data_dir).with_context(|| format!("in data dir {}", data_dir.display()))?;
    let state = StateStore::open_in(data_dir, database).await?;
    let mut records = Vec::new();
    let (id, seal) = petri.records().find(&state, &args.id).await?;
    let record: serde_json::Value = petri.records().read(&id, seal.as_ref())?;
    if record["schema"] == RUN_SCHEMA {
        let run: RunRecord = serde_json::from_value(record)?;
        for s in &run.stages {
            let Some(id) = &s.record_id else { continue };
            let (id, seal) = petri.records().find(&state, id).await?;
            let r: StageRecord = serde_json::from_value(petri.records().read(&id, seal.as_ref())?)?;
            records.push((format!("{}/{}", s.sample, s.stage), r));
        }
    } else {
        let r: StageRecord = serde_json::from_value(record)?;
        records.push((r.stage.name.clone(), r));
    }
    for (name, r) in &records {
        show(&petri, name, r, args.json)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The log lines of `r`'s log blob.
fn lines(petri: &Petri, r: &StageRecord) -> anyhow::Result<Vec<LogLine>> {
    let bytes = petri
        .blobs()
        .read(&r.log.sha256)
        .with_context(|| format!("reading the log of {}", r.id))?;
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).context("a log line that is not JSON"))
        .collect()
}

fn show(petri: &Petri, name: &str, r: &StageRecord, json: bool) -> anyhow::Result<()> {
    let lines = lines(petri, r)?;
    if json {
        let failure = match &r.outcome {
            Outcome::Failed { failure } => Some(failure.to_string()),
            Outcome::Succeeded { .. } => None,
        };
        let out = serde_json::json!({
            "record_id": r.id, "stage": name, "status": r.outcome.status(),
            "lines": lines, "dropped": r.log.dropped, "failure": failure,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    // Stage-provided text: escaped, so it cannot drive the terminal.
    let name = printable(name);
    println!("{name}  record {}  {}", r.id, r.outcome.status());
    for l in &lines {
        let fields: String = l.fields.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        let level = level_name(l.level);
        println!(
            "{name}  {level:<5} {:<6} {}{}",
            l.source,
            printable(&l.message),
            printable(&fields)
        );
    }
    if r.log.dropped > 0 {
        println!("{name}  ({} lines past the log cap dropped)", r.log.dropped);
    }
    if let Outcome::Failed { failure } = &r.outcome {
        println!("{name}  failure {}", printable(&failure.to_string()));
    }
    Ok(())
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}
