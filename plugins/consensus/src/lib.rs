//! petri-plugin-consensus: a consensus FASTA from a reference and a VCF, with
//! low-depth positions masked from the coverage stage's depth TSV.
//!
//! The logic lives in plain modules over `Read`/`Write` ([`consensus`]) and is
//! unit-tested natively; the `Stage` impl below is glue.

pub mod apply;
pub mod error;
pub mod fasta;
pub mod iupac;
pub mod mask;
pub mod params;
pub mod run;
pub mod vcf;

#[cfg(test)]
mod tests;

use std::io::Read;

use petri_sdk::{Manifest, ParamSpec, Ports, Report, Stage, StageError, log};

pub use error::ConsensusError;
pub use params::{ConsensusParams, Heterozygous};
pub use run::{ConsensusSummary, consensus};

/// The stage.
pub struct Consensus;

impl Stage for Consensus {
    type Params = ConsensusParams;

    fn manifest() -> Manifest {
        let d = ConsensusParams::default();
        Manifest::new(
            "consensus",
            env!("CARGO_PKG_VERSION"),
            "Consensus FASTA: applies the PASS variants (SNVs, MNPs, insertions, deletions) whose \
             first-sample genotype carries a non-reference allele to the reference, like \
             `bcftools consensus`; the first of overlapping variants wins. With a depth input, \
             positions below min-depth become N and variants touching them are not applied.",
        )
        .param(ParamSpec::text("name-template", &d.name_template, "Output record name; {contig} and {sample} (the VCF's first sample) are replaced"))
        .param(ParamSpec::choice("heterozygous", &["skip", "iupac", "alt"], "skip", "Heterozygous genotypes: skip them, write SNVs as IUPAC codes (other hets skipped), or apply the non-reference allele"))
        .param(ParamSpec::integer("min-depth", d.min_depth, "With a depth input, positions with a lower depth (or not listed) become N").range(0.0, 1e9))
        .param(ParamSpec::integer("max-reference-bases", d.max_reference_bases, "Most reference bases loaded (bounds memory)").range(1.0, 4e9))
        .param(ParamSpec::integer("max-input-bytes", d.max_input_bytes, "Most bytes read from each input after decompression (stops gzip bombs)").range(0.0, 9e18))
        .input("reference", "fasta", true, "Reference FASTA; plain or gzip")
        .input("variants", "vcf", true, "Variant calls sorted by position, REF matching the reference; plain, gzip or BGZF")
        .input("depth", "tsv", false, "The coverage stage's depth table (contig, position, depth); enables masking")
        .output("consensus", "fasta", true, "One record per reference contig, named by name-template, 60 bases per line")
        .error("reference-mismatch", "A VCF record names a contig not in the reference, or its REF differs from the reference at POS")
        .error("unsorted-input", "The VCF is not sorted (positions go back, or a contig appears again)")
        .error("malformed-vcf", "The VCF is invalid (bad header, POS, REF, ALT or GT); record 0 is the header")
        .error("malformed-depth", "A depth line is invalid or names an unknown contig or a position outside it; names the line")
        .error("invalid-reference", "The reference FASTA is invalid")
        .error("limit-exceeded", "The reference exceeds max-reference-bases or an input max-input-bytes")
        .error("io", "An input could not be read or the output written")
    }

    fn run(params: ConsensusParams, ports: &mut Ports) -> Result<Report, StageError> {
        let reference = ports.required_input("reference")?;
        let variants = ports.required_input("variants")?;
        let depth = ports.input("depth").map(|d| Box::new(d) as Box<dyn Read>);
        let out = ports.output("consensus")?;
        let s = consensus(&params, reference, variants, depth, out)?;
        let c = &s.calls;
        log::info(
            "consensus done",
            &[
                ("records", &c.records.to_string()),
                ("applied", &c.applied.to_string()),
                ("skipped_overlap", &c.skipped_overlap.to_string()),
                ("skipped_masked", &c.skipped_masked.to_string()),
                ("skipped_heterozygous", &c.skipped_heterozygous.to_string()),
                ("skipped_filter", &c.skipped_filter.to_string()),
                ("masked_positions", &s.masked_positions.to_string()),
            ],
        );
        if c.skipped_overlap > 0 {
            log::warn(
                "overlapping variants skipped",
                &[("count", &c.skipped_overlap.to_string())],
            );
        }
        let length: u64 = s.contigs.iter().map(|c| c.consensus_length).sum();
        Ok(Report::new()
            .integer("records", c.records as i64, "records")
            .integer("applied", c.applied as i64, "variants")
            .integer("applied-snvs", c.applied_snvs as i64, "variants")
            .integer(
                "applied-insertions",
                c.applied_insertions as i64,
                "variants",
            )
            .integer("applied-deletions", c.applied_deletions as i64, "variants")
            .integer("skipped-overlap", c.skipped_overlap as i64, "variants")
            .integer("skipped-masked", c.skipped_masked as i64, "variants")
            .integer(
                "skipped-heterozygous",
                c.skipped_heterozygous as i64,
                "variants",
            )
            .integer("skipped-filter", c.skipped_filter as i64, "variants")
            .integer("masked-positions", s.masked_positions as i64, "bases")
            .integer("consensus-bases", length as i64, "bases"))
    }
}

petri_sdk::export_stage!(Consensus);
