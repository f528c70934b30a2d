//! petri-plugin-call-variants: pileup-based SNV and short-indel calling with
//! base- and mapping-quality filters and a haploid/diploid genotype model,
//! from coordinate-sorted SAM and a FASTA reference to VCF 4.2.
//!
//! The logic lives in plain modules over `Read`/`Write` ([`call_variants`])
//! and is unit-tested natively; the `Stage` impl below is glue.

pub mod call;
pub mod error;
pub mod model;
pub mod params;
pub mod pileup;
pub mod sam;
pub mod site;
pub mod vcf;

#[cfg(test)]
mod tests;

use petri_sdk::{Manifest, ParamSpec, Ports, Report, Stage, StageError, log};

pub use call::{CallSummary, call_variants};
pub use error::CallError;
pub use params::{CallParams, Ploidy};

/// The stage.
pub struct CallVariants;

impl Stage for CallVariants {
    type Params = CallParams;

    fn manifest() -> Manifest {
        let d = CallParams::default();
        Manifest::new(
            "call-variants",
            env!("CARGO_PKG_VERSION"),
            "Pileup-based SNV and short-indel calling from coordinate-sorted SAM against a FASTA \
             reference, with base- and mapping-quality filters and a haploid (default) or diploid \
             genotype model; VCF 4.2 out.",
        )
        .param(ParamSpec::choice("ploidy", &["haploid", "diploid"], d.ploidy.as_str(), "Genotype model: haploid (viruses) or diploid"))
        .param(ParamSpec::integer("min-mapping-quality", d.min_mapping_quality, "Skip reads with a lower MAPQ").range(0.0, 255.0))
        .param(ParamSpec::integer("min-base-quality", d.min_base_quality, "Ignore bases with a lower base quality (like bcftools mpileup -Q)").range(0.0, 93.0))
        .param(ParamSpec::integer("max-depth", d.max_depth, "Reads piled up per position at most; later reads starting there are dropped (like mpileup -d)").range(1.0, 1e9))
        .param(ParamSpec::float("prior", d.prior, "Prior probability of a variant site (like bcftools call -P)").range(1e-12, 0.5))
        .param(ParamSpec::integer("indel-quality", d.indel_quality, "Phred error rate of one read's indel observation (capped by its MAPQ)").range(1.0, 99.0))
        .param(ParamSpec::float("min-qual", d.min_qual, "Calls with a lower QUAL get FILTER LowQual").range(0.0, 999.0))
        .param(ParamSpec::integer("min-depth", d.min_depth, "Calls with a lower DP get FILTER LowDepth").range(0.0, 1e9))
        .param(ParamSpec::text("sample", &d.sample, "Sample column name (empty: the @RG SM tag, else `sample`)"))
        .param(ParamSpec::boolean("include-supplementary", d.include_supplementary, "Also pile up supplementary alignments"))
        .param(ParamSpec::integer("max-input-bytes", d.max_input_bytes, "Most SAM bytes accepted (after decompression)").range(0.0, 9e18))
        .param(ParamSpec::integer("max-reference-bases", d.max_reference_bases, "Most reference bases accepted").range(1.0, 9e18))
        .param(ParamSpec::integer("max-read-span", d.max_read_span, "Longest reference span of one alignment (bounds the pileup window)").range(1.0, 1e12))
        .input("reference", "fasta", true, "Reference FASTA (plain or gzip); its contigs must match the SAM's @SQ lines")
        .input("alignments", "sam", true, "Coordinate-sorted SAM (plain or gzip) aligned to the reference")
        .output("variants", "vcf", true, "Variant calls, VCF 4.2, sorted by contig then position")
        .error("reference-mismatch", "The SAM's @SQ lines do not name the reference's contigs with the same lengths")
        .error("unsorted-input", "An alignment record is out of coordinate order; names the first one")
        .error("malformed-sam", "The SAM header or a record is not valid SAM; names the record")
        .error("invalid-reference", "The reference is not valid FASTA; names the record")
        .error("limit-exceeded", "An input exceeds max-input-bytes, max-reference-bases or max-read-span")
        .error("io", "An input could not be read or an output written")
    }

    fn run(params: CallParams, ports: &mut Ports) -> Result<Report, StageError> {
        let reference = ports.required_input("reference")?;
        let alignments = ports.required_input("alignments")?;
        let variants = ports.output("variants")?;
        let summary = call_variants(&params, reference, alignments, variants)?;
        log::info(
            "calling done",
            &[
                ("records", &summary.records.to_string()),
                ("calls", &(summary.snvs + summary.indels).to_string()),
            ],
        );
        Ok(Report::new()
            .integer("records", summary.records as i64, "records")
            .integer("records-used", summary.used as i64, "records")
            .integer("snvs", summary.snvs as i64, "variants")
            .integer("indels", summary.indels as i64, "variants")
            .integer("pass", summary.pass as i64, "variants")
            .text("sample", &summary.sample))
    }
}

petri_sdk::export_stage!(CallVariants);
