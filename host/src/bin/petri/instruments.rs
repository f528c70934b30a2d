//! `petri instruments`: show an instruments calendar, and propose maintenance slots in the natural
//! gaps of a forecast schedule.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::simulate::emit;
use anyhow::Context;
use petri_host::schedule::{
    Forecast, Policy, Span, Timestamp, load_calendar, load_workload, propose_maintenance, simulate,
};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show each instrument's class, capacity, state and maintenance windows.
    List {
        /// The instruments calendar (.toml).
        calendar: PathBuf,
        /// Also list the window occurrences in [--from, --from + --horizon).
        #[arg(long, value_name = "RFC3339")]
        from: Option<String>,
        #[arg(long, default_value = "14d")]
        horizon: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Propose maintenance slots where the forecast schedule leaves an instrument idle.
    Plan {
        /// The instruments calendar (.toml).
        calendar: PathBuf,
        /// Forecast this workload on the calendar's instruments (petri policy).
        #[arg(long, value_name = "WORKLOAD")]
        workload: Option<PathBuf>,
        /// How far ahead to look.
        #[arg(long, default_value = "7d")]
        horizon: String,
        /// Length of a maintenance slot.
        #[arg(long, default_value = "4h")]
        duration: String,
        /// Start of the plan (default: the workload's start, else now).
        #[arg(long, value_name = "RFC3339")]
        from: Option<String>,
        /// Slots proposed per instrument.
        #[arg(long, default_value_t = 1)]
        per_instrument: usize,
        /// Seed for the workload's random parts (default: its `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn span(text: &str, flag: &str) -> anyhow::Result<Span> {
    Span::parse(text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--{flag}"))
}

fn time(text: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_rfc3339(text)
        .map_err(anyhow::Error::msg)
        .context("--from")
}

pub fn main(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List {
            calendar,
            from,
            horizon,
            json,
        } => {
            let instruments = load_calendar(&calendar)
                .with_context(|| format!("loading {}", calendar.display()))?;
            let window = match from {
                Some(f) => Some((time(&f)?, span(&horizon, "horizon")?)),
                None => None,
            };
            if json {
                let list: Vec<_> = instruments
                    .iter()
                    .map(|i| {
                        let occurrences = window.map(|(f, h)| {
                            i.windows_between(f, f + h)
                                .into_iter()
                                .map(|(s, e)| [s.to_rfc3339(), e.to_rfc3339()])
                                .collect::<Vec<_>>()
                        });
                        serde_json::json!({
                            "name": i.name,
                            "class": i.class,
                            "capacity": i.capacity,
                            "state": i.state,
                            "maintenance": i.maintenance.iter().map(|w| serde_json::json!({
                                "start": w.start.to_rfc3339(),
                                "end": w.end.to_rfc3339(),
                                "every": w.every.map(|e| e.to_string()),
                                "until": w.until.map(Timestamp::to_rfc3339),
                                "note": w.note,
                            })).collect::<Vec<_>>(),
                            "occurrences": occurrences,
                        })
                    })
                    .collect();
                emit(&format!("{}\n", serde_json::to_string_pretty(&list)?))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = String::new();
            for i in &instruments {
                writeln!(
                    out,
                    "{:<16} {:<12} capacity {:<3} {}",
                    i.name, i.class, i.capacity, i.state
                )?;
                for w in &i.maintenance {
                    let repeat = match (w.every, w.until) {
                        (Some(e), Some(u)) => format!(", every {e} until {u}"),
                        (Some(e), None) => format!(", every {e}"),
                        _ => String::new(),
                    };
                    let note = if w.note.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", w.note)
                    };
                    writeln!(out, "  maintenance {} – {}{repeat}{note}", w.start, w.end)?;
                }
                if let Some((f, h)) = window {
                    for (s, e) in i.windows_between(f, f + h) {
                        writeln!(out, "    {s} – {e}")?;
                    }
                }
            }
            emit(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            calendar,
            workload,
            horizon,
            duration,
            from,
            per_instrument,
            seed,
            json,
        } => {
            let instruments = load_calendar(&calendar)
                .with_context(|| format!("loading {}", calendar.display()))?;
            let horizon = span(&horizon, "horizon")?;
            let duration = span(&duration, "duration")?;
            let (forecast, start) = match &workload {
                Some(path) => {
                    let mut w = load_workload(path)
                        .with_context(|| format!("loading workload {}", path.display()))?;
                    // Forecast on this calendar's instruments, not the workload's own.
                    w.instruments = instruments.clone();
                    w.failures
                        .retain(|f| instruments.iter().any(|i| i.name == f.instrument));
                    let start = w.start;
                    let scenario = w.realise(seed.unwrap_or(w.seed));
                    let out =
                        simulate(&scenario, Policy::Petri).context("forecasting the workload")?;
                    (out.forecast, start)
                }
                None => (Forecast::default(), Timestamp::now()),
            };
            let from = match from {
                Some(f) => time(&f)?,
                None => start,
            };
            let slots = propose_maintenance(
                &instruments,
                &forecast,
                from,
                from + horizon,
                duration,
                per_instrument,
            );
            if json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&slots)?))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = String::new();
            writeln!(
                out,
                "maintenance slots of {duration} from {from} to {}{}",
                from + horizon,
                workload
                    .as_ref()
                    .map(|w| format!(" (forecast: {})", w.display()))
                    .unwrap_or_default()
            )?;
            for i in &instruments {
                let mine: Vec<_> = slots.iter().filter(|s| s.instrument == i.name).collect();
                if mine.is_empty() {
                    writeln!(out, "  {:<16} no idle gap of {duration}", i.name)?;
                }
                for s in mine {
                    writeln!(
                        out,
                        "  {:<16} {} – {}   (idle {} – {})",
                        s.instrument, s.start, s.end, s.gap_start, s.gap_end
                    )?;
                }
            }
            emit(&out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
