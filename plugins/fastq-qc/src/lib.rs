//! petri-plugin-fastq-qc: FASTQ quality control as a petri stage.
//!
//! The logic lives in plain modules over `Read`/`Write` ([`qc::run_qc`]) and
//! is unit-tested natively; the `Stage` impl below is glue.

pub mod fastq;
pub mod qc;
pub mod summary;
pub mod trim;

use std::io::Write;

use petri_sdk::genomics::InputError;
use petri_sdk::{Manifest, ParamSpec, Ports, Report, Stage, StageError, log};

pub use qc::{QcParams, run_qc};

/// What can go wrong in QC.
#[derive(Debug, thiserror::Error)]
pub enum QcError {
    #[error("{port}: record {record}: {message}")]
    Malformed {
        port: String,
        record: u64,
        message: String,
    },
    /// An input over max-input-bytes (worded without its record: the cap is on
    /// the whole input), or a port that could not be read or written.
    #[error("{}", input_message(.0))]
    Input(#[from] InputError),
    #[error("mates out of sync at record {record}: {message}")]
    OutOfSync { record: u64, message: String },
}

fn input_message(e: &InputError) -> String {
    match e {
        InputError::Limit { port, message, .. } => format!("{port}: {message}"),
        InputError::Io { .. } => e.to_string(),
    }
}

impl From<QcError> for StageError {
    fn from(e: QcError) -> StageError {
        let message = e.to_string();
        match e {
            QcError::Malformed { port, record, .. } => {
                StageError::new("malformed-fastq", message).at(port, Some(record))
            }
            QcError::Input(e) => StageError {
                message,
                record: Some(e.record()),
                ..StageError::from(e)
            },
            QcError::OutOfSync { record, .. } => {
                StageError::new("mates-out-of-sync", message).at("mates", Some(record))
            }
        }
    }
}

/// The stage.
pub struct FastqQc;

impl Stage for FastqQc {
    type Params = QcParams;

    fn manifest() -> Manifest {
        let d = QcParams::default();
        Manifest::new(
            "fastq-qc",
            env!("CARGO_PKG_VERSION"),
            "FASTQ quality control: 3'/5' quality trimming (BWA/cutadapt algorithm), optional 3' adapter \
             trimming, minimum length and maximum N-fraction filters; pairs are kept or dropped together.",
        )
        .param(ParamSpec::integer("quality-cutoff", d.quality_cutoff, "Phred cutoff for 3' quality trimming (0 disables)").range(0.0, 93.0))
        .param(ParamSpec::integer("leading-quality-cutoff", d.leading_quality_cutoff, "Phred cutoff for 5' quality trimming (0 disables)").range(0.0, 93.0))
        .param(ParamSpec::integer("min-length", d.min_length, "Drop reads (pairs) shorter than this after trimming").range(0.0, 1e9))
        .param(ParamSpec::float("max-n-fraction", d.max_n_fraction, "Drop reads whose fraction of N bases exceeds this").range(0.0, 1.0))
        .param(ParamSpec::text("adapter", &d.adapter, "3' adapter to remove, e.g. AGATCGGAAGAGC (empty: none)"))
        .param(ParamSpec::integer("adapter-min-overlap", d.adapter_min_overlap, "Shortest adapter prefix recognised at the read end").range(1.0, 1000.0))
        .param(ParamSpec::float("adapter-max-error-rate", d.adapter_max_error_rate, "Mismatches allowed per adapter base").range(0.0, 0.5))
        .param(ParamSpec::integer("max-read-length", d.max_read_length, "Longest line accepted (bounds memory)").range(1.0, 1e9))
        .param(ParamSpec::integer("max-input-bytes", d.max_input_bytes, "Most FASTQ bytes per input after decompression (stops gzip bombs)").range(0.0, 9e18))
        .input("reads", "fastq", true, "Reads (or read 1 of pairs); plain or gzip")
        .input("mates", "fastq", false, "Read 2 of pairs, in the same order; plain or gzip")
        .output("trimmed", "fastq", true, "Kept reads, trimmed")
        .output("trimmed-mates", "fastq", false, "Kept mates, trimmed (paired input only)")
        .output("summary", "json", true, "Counts and quality statistics before and after")
        .error("malformed-fastq", "A record is not valid FASTQ; names the port and record")
        .error("limit-exceeded", "An input exceeds max-input-bytes or max-read-length")
        .error("mates-out-of-sync", "Mate files differ in length or read names")
        .error("io", "An input could not be read or an output written")
    }

    fn run(params: QcParams, ports: &mut Ports) -> Result<Report, StageError> {
        let reads = ports.required_input("reads")?;
        let mates = ports.input("mates");
        let trimmed = ports.output("trimmed")?;
        let trimmed_mates = match mates {
            Some(_) => Some(ports.output("trimmed-mates")?),
            None => None,
        };
        let summary = run_qc(&params, reads, mates, trimmed, trimmed_mates, |n| {
            log::progress(n, None)
        })?;
        let json = serde_json::to_vec_pretty(&summary)
            .map_err(|e| StageError::new("io", format!("summary: {e}")))?;
        let mut out = ports.output("summary")?;
        out.write_all(&json)
            .map_err(|e| StageError::new("io", e.to_string()))?;
        log::info(
            "qc done",
            &[("reads_in", &summary.before.reads.to_string())],
        );
        Ok(Report::new()
            .integer("reads-in", summary.before.reads as i64, "reads")
            .integer("reads-out", summary.after.reads as i64, "reads")
            .integer("bases-in", summary.before.bases as i64, "bases")
            .integer("bases-out", summary.after.bases as i64, "bases")
            .float("mean-quality-in", summary.before.mean_quality, "phred")
            .float("mean-quality-out", summary.after.mean_quality, "phred"))
    }
}

petri_sdk::export_stage!(FastqQc);
