//! `petri plugin promote | rollback | history`: move a registered name after shadow runs, move
//! it back, and show how it moved. Each move is in the registry history (with its time and, for a
//! promotion, its report's digest) and in the data dir's audit log as `cli:$USER`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use petri_host::pipeline::{self, Promote, Promotion, Require, ShadowReport, Verdict};
use petri_host::server;
use petri_host::{Digest, Petri, Registration, Registry};

/// `--require` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Requirement {
    /// Every shadowed execution has the same outputs, outcome and metrics.
    Identical,
}

#[derive(clap::Args)]
pub struct PromoteArgs {
    /// The registered name.
    name: String,
    /// The candidate: `sha256:<hex>` of a module in this data dir, or a .wasm file (stored).
    candidate: String,
    /// Shadow the name's latest N executions with the candidate first.
    #[arg(long, default_value_t = 10)]
    shadow: usize,
    /// Refuse to move the name unless this holds for every shadowed execution.
    #[arg(long, value_enum)]
    require: Option<Requirement>,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "")]
    reason: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The registered name.
    name: String,
    /// Back to this module of its history (`sha256:<hex>`) instead of the previous one.
    #[arg(long)]
    to: Option<String>,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "")]
    reason: String,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The registered name.
    name: String,
    #[arg(long)]
    json: bool,
}

pub async fn promote(
    data_dir: &Path,
    database: Option<&str>,
    args: PromoteArgs,
) -> anyhow::Result<ExitCode> {
    let (petri, state) = crate::host::open(data_dir, database).await?;
    let candidate = candidate(&petri, &args.candidate)?;
    let request = Promote {
        name: args.name.clone(),
        candidate,
        shadow: args.shadow,
        require: match args.require {
            Some(Requirement::Identical) => Require::Identical,
            None => Require::Nothing,
        },
    };
    let registry = Registry::new(&state);
    let promotion = pipeline::promote(&petri, &state, &registry, &request, None)
        .await
        .with_context(|| format!("promoting `{}`", args.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&promotion.report)?);
    } else {
        print_report(&promotion.report);
    }
    let Promotion {
        report_sha256,
        verdict,
        report,
    } = promotion;
    let Verdict::Moved(moved) = verdict else {
        eprintln!(
            "petri: not promoted: `--require identical` and {} (report sha256:{report_sha256})",
            if report.executions.is_empty() {
                "no execution to compare".to_owned()
            } else {
                format!(
                    "{} of {} executions differ",
                    report.executions.iter().filter(|e| !e.identical).count(),
                    report.executions.len()
                )
            }
        );
        return Ok(ExitCode::FAILURE);
    };
    let target = format!(
        "{} sha256:{} -> sha256:{}",
        args.name, report.current, moved.sha256
    );
    let detail = format!("report sha256:{report_sha256}");
    let store = server::open_store(data_dir, database).await?;
    crate::token::audit(
        &store,
        data_dir,
        "plugin promote",
        &target,
        &args.reason,
        &detail,
    )
    .await?;
    eprintln!(
        "petri: {target} ({} {})",
        moved.version,
        moved.kind.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn rollback(
    data_dir: &Path,
    database: Option<&str>,
    args: RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let (_, state) = crate::host::open(data_dir, database).await?;
    let to = args
        .to
        .as_deref()
        .map(|d| d.parse::<Digest>().with_context(|| format!("--to {d}")))
        .transpose()?;
    let (from, moved) = pipeline::rollback(&Registry::new(&state), &args.name, to)
        .await
        .with_context(|| format!("rolling back `{}`", args.name))?;
    let target = format!("{} sha256:{from} -> sha256:{}", args.name, moved.sha256);
    let store = server::open_store(data_dir, database).await?;
    crate::token::audit(
        &store,
        data_dir,
        "plugin rollback",
        &target,
        &args.reason,
        "",
    )
    .await?;
    println!("{target} ({} {})", moved.version, moved.kind.as_str());
    Ok(ExitCode::SUCCESS)
}

pub async fn history(
    data_dir: &Path,
    database: Option<&str>,
    args: HistoryArgs,
) -> anyhow::Result<ExitCode> {
    let (_, state) = crate::host::open(data_dir, database).await?;
    let named = Registry::new(&state)
        .history(&args.name)
        .await?
        .with_context(|| format!("no module is registered as `{}`", args.name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&named)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &named.history {
        let current = if r.sha256 == named.entry.sha256 {
            "*"
        } else {
            " "
        };
        println!("{current} {}", line(r));
    }
    Ok(ExitCode::SUCCESS)
}

/// One registration: when, how, version, digest, and a promotion's report.
pub fn line(r: &Registration) -> String {
    let when = if r.added_at.is_empty() {
        "(before history was kept)"
    } else {
        &r.added_at
    };
    let forced = if r.forced { "  (forced)" } else { "" };
    let report = r
        .report
        .map(|d| format!("  report sha256:{d}"))
        .unwrap_or_default();
    format!(
        "{when:<27} {:<11} {:<10} sha256:{}{forced}{report}",
        r.kind.as_str(),
        r.version,
        r.sha256
    )
}

/// A candidate given as `sha256:<hex>` (in the store) or as a component file (stored now).
fn candidate(petri: &Petri, given: &str) -> anyhow::Result<Digest> {
    if given.starts_with("sha256:") {
        return given.parse().with_context(|| format!("candidate {given}"));
    }
    let stage = petri
        .load_file(Path::new(given))
        .with_context(|| format!("loading {given}"))?;
    Ok(stage.digest)
}

fn print_report(report: &ShadowReport) {
    println!(
        "{}: sha256:{} -> sha256:{} ({}), {} of {} executions shadowed",
        report.name,
        report.current,
        report.candidate,
        report.candidate_version,
        report.executions.len(),
        report.requested
    );
    for e in &report.executions {
        let verdict = if e.identical { "identical" } else { "DIFFERS" };
        let fuel = e
            .fuel
            .candidate
            .map_or_else(|| "-".to_owned(), |f| f.to_string());
        println!(
            "  {}  {verdict}  fuel {} -> {fuel}",
            e.record, e.fuel.current
        );
        for o in e.outputs.iter().filter(|o| !o.equal) {
            let side = |d: Option<Digest>| d.map_or_else(|| "none".to_owned(), |d| d.to_string());
            println!(
                "    output {}: {} -> {}",
                o.port,
                side(o.current),
                side(o.candidate)
            );
        }
        for m in &e.metrics {
            let side = |v: &Option<petri_host::pipeline::MetricView>| {
                v.as_ref().map_or_else(
                    || "none".to_owned(),
                    |v| serde_json::to_string(v).unwrap_or_default(),
                )
            };
            println!(
                "    metric {}: {} -> {}",
                m.name,
                side(&m.current),
                side(&m.candidate)
            );
        }
        if let Some(error) = &e.error {
            println!("    candidate: {error}");
        }
    }
}
