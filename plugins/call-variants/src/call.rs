//! The whole stage as a plain function: [`call_variants`] streams the SAM
//! through the pileup window, calls each position as it leaves the window and
//! writes the VCF, returning a [`CallSummary`].

use std::io::{Read, Write};

use petri_sdk::genomics::Reference;

use crate::error::CallError;
use crate::model::Tables;
use crate::params::CallParams;
use crate::pileup::{PileupSettings, Window};
use crate::sam::{SamInput, SkipCounts};
use crate::site::{Call, SiteSettings, call_indel, call_snv};
use crate::vcf::{VcfOut, header};

/// Counts over one run.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CallSummary {
    pub sample: String,
    /// SAM alignment records read.
    pub records: u64,
    /// Records piled up.
    pub used: u64,
    pub skipped: SkipCounts,
    /// Records dropped because their start position already had max-depth reads.
    pub over_max_depth: u64,
    pub snvs: u64,
    pub indels: u64,
    /// Calls whose FILTER is PASS.
    pub pass: u64,
}

/// Where calls go: straight to the VCF when SAM contigs are in reference
/// order, otherwise held per contig and written at the end.
struct Sink<'r, W: Write> {
    out: VcfOut<W>,
    reference: &'r Reference,
    held: Option<Vec<Vec<Call>>>,
}

impl<W: Write> Sink<'_, W> {
    fn put(
        &mut self,
        contig: usize,
        call: Call,
        summary: &mut CallSummary,
    ) -> Result<(), CallError> {
        if call.indel {
            summary.indels += 1;
        } else {
            summary.snvs += 1;
        }
        if !call.low_qual && !call.low_depth {
            summary.pass += 1;
        }
        match &mut self.held {
            Some(held) => {
                held[contig].push(call);
                Ok(())
            }
            None => self.out.write(&self.reference.contigs[contig].name, &call),
        }
    }

    fn finish(mut self) -> Result<W, CallError> {
        if let Some(held) = self.held.take() {
            for (contig, calls) in held.iter().enumerate() {
                for call in calls {
                    self.out.write(&self.reference.contigs[contig].name, call)?;
                }
            }
        }
        self.out.finish()
    }
}

/// Calls every position of `window` left of `end` (all of it when `None`).
fn flush<W: Write>(
    window: &mut Window,
    end: Option<u64>,
    reference: &Reference,
    s: &SiteSettings,
    sink: &mut Sink<'_, W>,
    summary: &mut CallSummary,
) -> Result<(), CallError> {
    let contig = window.contig;
    let seq = &reference.contigs[contig].seq;
    while window.first().is_some_and(|p| end.is_none_or(|e| p < e)) {
        let Some((pos, col)) = window.pop() else {
            break;
        };
        // The window holds one column past the contig for depth bookkeeping.
        if pos >= seq.len() as u64 {
            continue;
        }
        if let Some(call) = call_snv(pos, &col, seq, s) {
            sink.put(contig, call, summary)?;
        }
        if let Some(call) = call_indel(pos, &col, seq, s) {
            sink.put(contig, call, summary)?;
        }
    }
    Ok(())
}

fn clamp_u8(v: i64) -> u8 {
    v.clamp(0, 255) as u8
}

/// Calls SNVs and short indels from coordinate-sorted SAM `sam` against the
/// FASTA `reference` and writes VCF 4.2 to `vcf`.
pub fn call_variants<W: Write>(
    params: &CallParams,
    reference: impl Read + 'static,
    sam: impl Read + 'static,
    vcf: W,
) -> Result<CallSummary, CallError> {
    let max_bases = params.max_reference_bases.max(0) as u64;
    let reference = Reference::read(reference, "reference", max_bases)?;
    let mut input = SamInput::new(sam, &reference, params)?;
    let sample = if !params.sample.is_empty() {
        params.sample.clone()
    } else {
        input.sample().unwrap_or_else(|| "sample".to_owned())
    };
    let out = VcfOut::new(vcf, header(&reference, &sample, params)?)?;
    let mut sink = Sink {
        out,
        reference: &reference,
        held: (!input.same_order()).then(|| vec![Vec::new(); reference.contigs.len()]),
    };
    let tables = Tables::new();
    let pileup = PileupSettings {
        min_base_quality: clamp_u8(params.min_base_quality),
        indel_quality: clamp_u8(params.indel_quality),
        max_depth: params.max_depth.clamp(1, i64::from(u32::MAX)) as u32,
    };
    let sites = SiteSettings {
        ploidy: params.ploidy,
        prior: params.prior,
        min_qual: params.min_qual,
        min_depth: params.min_depth.clamp(0, i64::from(u32::MAX)) as u32,
    };
    let mut summary = CallSummary {
        sample,
        ..CallSummary::default()
    };
    let mut window: Option<Window> = None;
    while let Some(aln) = input.next_alignment()? {
        match &mut window {
            Some(w) if w.contig == aln.contig => {
                flush(
                    w,
                    Some(aln.start),
                    &reference,
                    &sites,
                    &mut sink,
                    &mut summary,
                )?;
                w.restart_at(aln.start);
            }
            _ => {
                if let Some(w) = &mut window {
                    flush(w, None, &reference, &sites, &mut sink, &mut summary)?;
                }
                window = Some(Window::new(aln.contig, aln.start));
            }
        }
        let Some(w) = &mut window else { continue };
        let seq = &reference.contigs[aln.contig].seq;
        if aln.start >= seq.len() as u64 {
            continue;
        }
        if w.add(&aln, seq, &tables, &pileup) {
            summary.used += 1;
        } else {
            summary.over_max_depth += 1;
        }
    }
    if let Some(w) = &mut window {
        flush(w, None, &reference, &sites, &mut sink, &mut summary)?;
    }
    summary.records = input.records();
    summary.skipped = input.skipped;
    sink.finish()?;
    Ok(summary)
}
