//! The `variants` port: VCF 4.2 written with noodles-vcf — the header (filters,
//! INFO and FORMAT fields, one contig line per reference contig, source and
//! command line) and one record per [`Call`].

use std::io::Write;

use noodles_core::Position;
use noodles_vcf::{
    self as vcf,
    header::{
        FileFormat,
        record::{
            Value as HeaderValue,
            key::Other,
            value::{
                Map,
                map::{Contig, Filter, Format, Info, format, info},
            },
        },
    },
    variant::{
        RecordBuf,
        io::Write as _,
        record_buf::{
            AlternateBases, Filters, Info as InfoBuf, Samples,
            info::field::Value as InfoValue,
            samples::{
                Keys,
                sample::{Value as SampleValue, value::Array},
            },
        },
    },
};
use petri_sdk::genomics::{InputError, Reference};

use crate::error::CallError;
use crate::params::CallParams;
use crate::site::Call;

pub(crate) const PORT: &str = "variants";
pub const LOW_QUAL: &str = "LowQual";
pub const LOW_DEPTH: &str = "LowDepth";

/// A VCF writer over the output port.
pub struct VcfOut<W: Write> {
    writer: vcf::io::Writer<W>,
    header: vcf::Header,
    written: u64,
}

fn io_err(record: u64, e: std::io::Error) -> CallError {
    InputError::from_io(PORT, record, e).into()
}

fn bad_header(e: impl std::fmt::Display) -> CallError {
    io_err(
        0,
        std::io::Error::other(format!("cannot build the VCF header: {e}")),
    )
}

/// The VCF header for `reference` and one sample.
pub fn header(
    reference: &Reference,
    sample: &str,
    params: &CallParams,
) -> Result<vcf::Header, CallError> {
    let ff = FileFormat::new(4, 2);
    let mut b = vcf::Header::builder()
        .set_file_format(ff)
        .add_filter("PASS", Map::<Filter>::pass())
        .add_filter(
            LOW_QUAL,
            Map::<Filter>::new(format!("QUAL below {}", params.min_qual)),
        )
        .add_filter(
            LOW_DEPTH,
            Map::<Filter>::new(format!("DP below {}", params.min_depth)),
        )
        .add_info(
            "DP",
            Map::<Info>::new(
                info::Number::Count(1),
                info::Type::Integer,
                "Reads covering the site (for indels: spanning the anchor base and the next)",
            ),
        )
        .add_info(
            "AF",
            Map::<Info>::new(
                info::Number::AlternateBases,
                info::Type::Float,
                "Fraction of the site's observations that show the ALT allele",
            ),
        )
        .add_info(
            "INDEL",
            Map::<Info>::new(
                info::Number::Count(0),
                info::Type::Flag,
                "The variant is an insertion or deletion",
            ),
        )
        .add_format(
            "GT",
            Map::<Format>::new(format::Number::Count(1), format::Type::String, "Genotype"),
        )
        .add_format(
            "DP",
            Map::<Format>::new(
                format::Number::Count(1),
                format::Type::Integer,
                "Reads covering the site",
            ),
        )
        .add_format(
            "AD",
            Map::<Format>::new(
                format::Number::ReferenceAlternateBases,
                format::Type::Integer,
                "Observations of the REF and ALT alleles (high-quality bases, or reads for indels)",
            ),
        );
    for c in &reference.contigs {
        let mut contig = Map::<Contig>::new();
        *contig.length_mut() = Some(c.seq.len());
        b = b.add_contig(c.name.as_str(), contig);
    }
    let source: Other = "source".parse().map_err(bad_header)?;
    let command: Other = "petri-call-variantsCommand".parse().map_err(bad_header)?;
    b = b
        .insert(
            source,
            HeaderValue::String(format!("petri-call-variants {}", env!("CARGO_PKG_VERSION"))),
        )
        .map_err(bad_header)?
        .insert(command, HeaderValue::String(params.command_line()))
        .map_err(bad_header)?;
    Ok(b.add_sample_name(sample).build())
}

impl<W: Write> VcfOut<W> {
    /// Writes the header.
    pub fn new(out: W, header: vcf::Header) -> Result<VcfOut<W>, CallError> {
        let mut writer = vcf::io::Writer::new(out);
        writer.write_header(&header).map_err(|e| io_err(0, e))?;
        Ok(VcfOut {
            writer,
            header,
            written: 0,
        })
    }

    /// Writes one record on contig `chrom`.
    pub fn write(&mut self, chrom: &str, call: &Call) -> Result<(), CallError> {
        self.written += 1;
        let at = self.written;
        let position = Position::try_from(call.pos as usize + 1)
            .map_err(|e| io_err(at, std::io::Error::other(e)))?;
        let filters: Filters = if !call.low_qual && !call.low_depth {
            Filters::pass()
        } else {
            [(call.low_qual, LOW_QUAL), (call.low_depth, LOW_DEPTH)]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, id)| id.to_owned())
                .collect()
        };
        let af = ((call.af * 10_000.0).round() / 10_000.0) as f32;
        let mut info: Vec<(String, Option<InfoValue>)> = vec![
            ("DP".into(), Some(InfoValue::Integer(saturate(call.depth)))),
            ("AF".into(), Some(InfoValue::from(vec![Some(af)]))),
        ];
        if call.indel {
            info.push(("INDEL".into(), Some(InfoValue::Flag)));
        }
        let keys: Keys = ["GT", "DP", "AD"].into_iter().map(String::from).collect();
        let sample = vec![
            Some(SampleValue::String(call.genotype.as_str().into())),
            Some(SampleValue::Integer(saturate(call.depth))),
            Some(SampleValue::Array(Array::Integer(vec![
                Some(saturate(call.ad[0])),
                Some(saturate(call.ad[1])),
            ]))),
        ];
        let record = RecordBuf::builder()
            .set_reference_sequence_name(chrom)
            .set_variant_start(position)
            .set_reference_bases(String::from_utf8_lossy(&call.reference).into_owned())
            .set_alternate_bases(AlternateBases::from(vec![
                String::from_utf8_lossy(&call.alt).into_owned(),
            ]))
            .set_quality_score(call.qual as f32)
            .set_filters(filters)
            .set_info(info.into_iter().collect::<InfoBuf>())
            .set_samples(Samples::new(keys, vec![sample]))
            .build();
        self.writer
            .write_variant_record(&self.header, &record)
            .map_err(|e| io_err(at, e))
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> Result<W, CallError> {
        let at = self.written;
        self.writer.get_mut().flush().map_err(|e| io_err(at, e))?;
        Ok(self.writer.into_inner())
    }
}

fn saturate(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
