//! `petri results RUN`: one row per (sample, sweep combination) — params,
//! report metrics, fuel, time, output digests — as TSV, CSV or JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use petri_host::pipeline::{cell, columns, load_sealed_run, rows};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Tsv,
    Csv,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix of one).
    run: String,
    #[arg(long, value_enum, default_value = "tsv")]
    format: Format,
    /// Keep only this report metric, as STAGE.METRIC (repeatable; default: all).
    #[arg(long = "metric", value_name = "STAGE.METRIC")]
    metrics: Vec<String>,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let (petri, state) = crate::host::open(data_dir, database).await?;
    let (run, _) = load_sealed_run(petri.records(), &state, &args.run)
        .await
        .with_context(|| format!("loading run `{}`", args.run))?;
    let table = rows(&run, petri.records(), &args.metrics);
    let delimiter = match args.format {
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(&table)?);
            return Ok(ExitCode::SUCCESS);
        }
        Format::Tsv => b'\t',
        Format::Csv => b',',
    };
    let cols = columns(&table);
    let mut out = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(std::io::stdout().lock());
    out.write_record(&cols)?;
    for row in &table {
        out.write_record(
            cols.iter()
                .map(|c| crate::run::printable(&cell(row, c)).into_owned()),
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
