//! petri-plugin-coverage: per-position depth and breadth of coverage from SAM.
//!
//! The logic lives in plain modules over `Read`/`Write` ([`coverage`]) and is
//! unit-tested natively; the `Stage` impl below is glue.

pub mod depth;
pub mod error;
pub mod params;
pub mod run;
pub mod summary;
pub mod tsv;

#[cfg(test)]
mod tests;

use petri_sdk::{Manifest, ParamKind, ParamSpec, Ports, Report, Stage, StageError, Value, log};

pub use error::CoverageError;
pub use params::CoverageParams;
pub use run::coverage;
pub use summary::CoverageSummary;

/// The stage.
pub struct Coverage;

/// An integer-list param (the SDK has no builder for it).
fn integer_list(name: &str, default: &[i64], doc: &str) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        kind: ParamKind::IntegerList,
        doc: doc.into(),
        default: Some(Value::IntegerList(default.to_vec())),
        min: None,
        max: None,
        choices: Vec::new(),
    }
}

impl Stage for Coverage {
    type Params = CoverageParams;

    fn manifest() -> Manifest {
        let d = CoverageParams::default();
        Manifest::new(
            "coverage",
            env!("CARGO_PKG_VERSION"),
            "Depth of coverage at every reference position and breadth of coverage from SAM \
             (any order), with the numbers of `samtools depth -a -J`: unmapped, secondary, \
             QC-fail and duplicate records are skipped; deletions count as covered.",
        )
        .param(ParamSpec::integer("min-mapping-quality", d.min_mapping_quality, "Skip records with a lower MAPQ (samtools depth -Q)").range(0.0, 255.0))
        .param(ParamSpec::integer("min-base-quality", d.min_base_quality, "Do not count bases with a lower Phred quality (samtools depth -q)").range(0.0, 93.0))
        .param(ParamSpec::boolean("count-deletions", d.count_deletions, "A reference base deleted in a read counts as covered (samtools depth -J)"))
        .param(integer_list("thresholds", &d.thresholds, "Depths at which the summary reports breadth (≥1× is always reported)").range(0.0, 4e9))
        .param(ParamSpec::integer("max-reference-bases", d.max_reference_bases, "Most reference positions (sum of @SQ LN) to hold depth for (bounds memory)").range(1.0, 4e9))
        .param(ParamSpec::integer("max-input-bytes", d.max_input_bytes, "Most SAM bytes read after decompression (stops gzip bombs)").range(0.0, 9e18))
        .input("alignments", "sam", true, "Alignments with a full header (@SQ lines); any order; plain or gzip")
        .output("depth", "tsv", true, "Header `contig\\tposition\\tdepth`, then every position of every @SQ contig, 1-based, zeros included")
        .output("summary", "json", true, "Per contig and in total: length, mean, median and maximum depth, breadth at ≥1× and at each threshold; record counts")
        .error("malformed-sam", "The SAM is invalid (record 0: the header, e.g. no @SQ lines), or a record names a contig not in @SQ or runs past its end")
        .error("limit-exceeded", "The @SQ lengths exceed max-reference-bases or the input exceeds max-input-bytes")
        .error("io", "The input could not be read or an output written")
    }

    fn run(params: CoverageParams, ports: &mut Ports) -> Result<Report, StageError> {
        let sam = ports.required_input("alignments")?;
        let depth = ports.output("depth")?;
        let summary = ports.output("summary")?;
        let s = coverage(&params, sam, depth, summary, |n| log::progress(n, None))?;
        let at = |t: u32| {
            s.total
                .breadth
                .iter()
                .find(|b| b.min_depth == t)
                .map_or(0.0, |b| b.fraction)
        };
        log::info(
            "coverage done",
            &[
                ("records", &s.records.total.to_string()),
                ("counted", &s.records.counted.to_string()),
                ("mean_depth", &format!("{:.3}", s.total.mean_depth)),
            ],
        );
        Ok(Report::new()
            .integer("records", s.records.total as i64, "records")
            .integer("records-counted", s.records.counted as i64, "records")
            .integer("reference-bases", s.total.length as i64, "bases")
            .float("mean-depth", s.total.mean_depth, "x")
            .float("median-depth", s.total.median_depth, "x")
            .float("breadth-1x", at(1), "fraction"))
    }
}

petri_sdk::export_stage!(Coverage);
