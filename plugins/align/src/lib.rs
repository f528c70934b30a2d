//! petri-plugin-align: a short-read aligner for small genomes as a petri stage.
//!
//! k-mer seeds on both strands → clusters of seed diagonals → banded affine-gap alignment
//! with soft-clipping → left-aligned indels → pairing (FR, estimated insert bounds, mate
//! rescue) → coordinate-sorted SAM. Single-threaded and deterministic. The logic is plain
//! Rust over `Read`/`Write` ([`align`]); the `Stage` impl below is glue.

pub mod align;
pub mod cigar;
pub mod dp;
pub mod error;
pub mod index;
pub mod map;
pub mod pair;
pub mod params;
pub mod reads;
pub mod sam;
pub mod summary;

#[cfg(test)]
mod tests;

use std::io::Write;

use petri_sdk::{Manifest, ParamSpec, Ports, Report, Stage, StageError, log};

pub use align::align;
pub use error::AlignError;
pub use params::AlignParams;
pub use summary::AlignSummary;

/// The stage.
pub struct Align;

impl Stage for Align {
    type Params = AlignParams;

    fn manifest() -> Manifest {
        let d = AlignParams::default();
        Manifest::new(
            "align",
            env!("CARGO_PKG_VERSION"),
            "Short-read aligner for small genomes (viral to bacterial): k-mer seeds on both strands, \
             banded affine-gap alignment with soft-clipping, left-aligned indels, FR pairing with \
             estimated insert-size bounds and mate rescue; coordinate-sorted SAM with NM/MD/AS/XS/RG.",
        )
        .param(ParamSpec::integer("k", d.k, "Seed (k-mer) length").range(8.0, 31.0))
        .param(ParamSpec::integer("min-score", d.min_score, "Smallest alignment score reported as mapped").range(0.0, 100000.0))
        .param(ParamSpec::integer("match-score", d.match_score, "Score of a matching base").range(1.0, 100.0))
        .param(ParamSpec::integer("mismatch-penalty", d.mismatch_penalty, "Penalty of a mismatching base").range(0.0, 100.0))
        .param(ParamSpec::integer("gap-open", d.gap_open, "Gap open penalty (a gap of length L costs open + L x extend)").range(0.0, 100.0))
        .param(ParamSpec::integer("gap-extend", d.gap_extend, "Gap extension penalty per base").range(1.0, 100.0))
        .param(ParamSpec::integer("clip-penalty", d.clip_penalty, "Penalty for soft-clipping a read end").range(0.0, 1000.0))
        .param(ParamSpec::integer("band", d.band, "Band half-width around the seeded diagonals (longest indel found inside a read)").range(1.0, 500.0))
        .param(ParamSpec::integer("max-insert", d.max_insert, "Largest insert size of a proper pair (the estimated bounds never exceed it)").range(1.0, 1e9))
        .param(ParamSpec::integer("max-read-length", d.max_read_length, "Longest read accepted; longer reads fail with read-too-long (bounds the alignment matrices)").range(1.0, 100000.0))
        .param(ParamSpec::integer("max-reference-bases", d.max_reference_bases, "Most reference bases accepted (the index takes ~12 bytes per base)").range(1.0, 4e9))
        .param(ParamSpec::integer("max-reads", d.max_reads, "Most reads (both mates counted) held in memory for sorting").range(1.0, 1e10))
        .param(ParamSpec::integer("max-input-bytes", d.max_input_bytes, "Most FASTQ bytes per input after decompression (stops gzip bombs)").range(0.0, 9e18))
        .param(ParamSpec::integer("max-seed-hits", d.max_seed_hits, "Seeds occurring more often than this in the reference are ignored").range(1.0, 1e9))
        .param(ParamSpec::text("read-group", &d.read_group, "Read group ID (@RG ID and each record's RG tag)"))
        .param(ParamSpec::text("sample", &d.sample, "Sample name (@RG SM)"))
        .input("reference", "fasta", true, "Reference genome; plain or gzip")
        .input("reads", "fastq", true, "Reads (or read 1 of pairs); plain or gzip")
        .input("mates", "fastq", false, "Read 2 of pairs, in the same order; plain or gzip")
        .output("alignments", "sam", true, "Coordinate-sorted SAM; unmapped reads kept")
        .output("summary", "json", true, "Reads in, mapped, properly paired, insert sizes")
        .error("invalid-reference", "The reference is not valid FASTA; names the record")
        .error("malformed-fastq", "A read is not valid FASTQ; names the port and record")
        .error("read-too-long", "A read exceeds max-read-length; names the port and record")
        .error("mates-out-of-sync", "Mate files differ in length or read names")
        .error("limit-exceeded", "An input exceeds max-reference-bases, max-reads or max-input-bytes")
        .error("invalid-params", "read-group or sample is empty or contains control characters")
        .error("io", "An input could not be read or an output written")
    }

    fn run(params: AlignParams, ports: &mut Ports) -> Result<Report, StageError> {
        let reference = ports.required_input("reference")?;
        let reads = ports.required_input("reads")?;
        let mates = ports.input("mates");
        let out = ports.output("alignments")?;
        let summary = align(&params, reference, reads, mates, out)?;
        let json = serde_json::to_vec_pretty(&summary)
            .map_err(|e| StageError::new("io", format!("summary: {e}")))?;
        let mut out = ports.output("summary")?;
        out.write_all(&json)
            .map_err(|e| StageError::new("io", e.to_string()).at("summary", None))?;
        log::info(
            "align done",
            &[
                ("reads_in", &summary.reads_in.to_string()),
                ("mapped", &summary.mapped.to_string()),
            ],
        );
        Ok(Report::new()
            .integer("reads-in", summary.reads_in as i64, "reads")
            .integer("mapped", summary.mapped as i64, "reads")
            .integer("properly-paired", summary.properly_paired as i64, "reads")
            .float("mapped-fraction", summary.mapped_fraction, "fraction")
            .float("mean-insert-size", summary.mean_insert_size, "bp"))
    }
}

petri_sdk::export_stage!(Align);
