//! The whole stage as one function over `Read`/`Write`: load the reference and
//! the optional depth mask, apply the VCF's calls, write the consensus FASTA.

use std::io::{Read, Write};

use petri_sdk::genomics::{InputError, Reference, decompressed};
use serde::Serialize;

use crate::apply::{Applier, CallCounts};
use crate::error::{CONSENSUS, ConsensusError, DEPTH, REFERENCE, VARIANTS};
use crate::fasta::{record_name, write_record};
use crate::mask::Mask;
use crate::params::ConsensusParams;
use crate::vcf::CallReader;

/// One output record.
#[derive(Debug, Clone, Serialize)]
pub struct ContigResult {
    pub name: String,
    pub reference_length: u64,
    pub consensus_length: u64,
    /// Reference positions written as `N` for low depth.
    pub masked: u64,
}

/// What the stage did.
#[derive(Debug, Clone, Serialize)]
pub struct ConsensusSummary {
    pub sample: Option<String>,
    pub calls: CallCounts,
    /// Masked positions over all contigs (0 without a depth input).
    pub masked_positions: u64,
    pub contigs: Vec<ContigResult>,
}

/// Reads the reference FASTA, the VCF and optionally the depth TSV (each plain
/// or gzip/BGZF), writes the consensus FASTA to `fasta`.
pub fn consensus(
    params: &ConsensusParams,
    reference: impl Read + 'static,
    vcf: impl Read + 'static,
    depth: Option<Box<dyn Read>>,
    mut fasta: impl Write,
) -> Result<ConsensusSummary, ConsensusError> {
    let cap = params.max_input_bytes.max(0) as u64;
    let reference = Reference::read(
        reference,
        REFERENCE,
        params.max_reference_bases.max(0) as u64,
    )?;
    let mask = match depth {
        Some(d) => {
            let mut source = decompressed(d, cap).map_err(|e| InputError::from_io(DEPTH, 0, e))?;
            Mask::read(&mut source, &reference, params.min_depth.max(0) as u64)?
        }
        None => Mask::none(&reference),
    };
    let source = decompressed(vcf, cap).map_err(|e| InputError::from_io(VARIANTS, 0, e))?;
    let mut calls = CallReader::new(source, &reference)?;
    if params.name_template.contains("{sample}") && calls.sample.is_none() {
        return Err(ConsensusError::vcf(
            0,
            "name-template uses {sample} but the VCF has no sample column",
        ));
    }
    let mut applier = Applier::new(reference.contigs.len(), params.heterozygous);
    while let Some(call) = calls.next_call()? {
        applier.add(&call, &mask.masked[call.contig]);
    }
    let sample = calls.sample.clone();
    let mut contigs = Vec::with_capacity(reference.contigs.len());
    for (i, contig) in reference.contigs.iter().enumerate() {
        let name = record_name(
            &params.name_template,
            &contig.name,
            sample.as_deref().unwrap_or(""),
        );
        let written = write_record(
            &mut fasta,
            &name,
            &contig.seq,
            &mask.masked[i],
            &applier.edits[i],
        )
        .map_err(|e| InputError::from_io(CONSENSUS, 0, e))?;
        contigs.push(ContigResult {
            name,
            reference_length: contig.seq.len() as u64,
            consensus_length: written,
            masked: mask.masked[i].iter().filter(|&&m| m).count() as u64,
        });
    }
    fasta
        .flush()
        .map_err(|e| InputError::from_io(CONSENSUS, 0, e))?;
    Ok(ConsensusSummary {
        sample,
        calls: applier.counts,
        masked_positions: mask.count(),
        contigs,
    })
}
