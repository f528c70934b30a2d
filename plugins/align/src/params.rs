//! The aligner's settings (the stage's params) and the scoring scheme derived from them.

/// Aligner settings; field names are the stage's param names (kebab-case).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct AlignParams {
    /// Seed (k-mer) length.
    pub k: i64,
    /// Smallest alignment score (AS) reported as mapped.
    pub min_score: i64,
    /// Score of a matching base.
    pub match_score: i64,
    /// Penalty of a mismatching base.
    pub mismatch_penalty: i64,
    /// Penalty for opening a gap (a gap of length L costs open + L × extend).
    pub gap_open: i64,
    /// Penalty per gap base.
    pub gap_extend: i64,
    /// Penalty for soft-clipping a read end.
    pub clip_penalty: i64,
    /// Band half-width of the alignment around the seeded diagonals (bounds indel length).
    pub band: i64,
    /// Largest insert size considered for a proper pair.
    pub max_insert: i64,
    /// Longest read accepted (bounds the alignment matrices).
    pub max_read_length: i64,
    /// Most reference bases accepted (bounds the index).
    pub max_reference_bases: i64,
    /// Most reads (both mates counted) held in memory for sorting.
    pub max_reads: i64,
    /// Most bytes of FASTQ text (after decompression) per input.
    pub max_input_bytes: i64,
    /// Seeds occurring more often than this in the reference are ignored.
    pub max_seed_hits: i64,
    /// Read group ID written to `@RG` and every record's RG tag.
    pub read_group: String,
    /// Sample name written to `@RG` SM.
    pub sample: String,
}

impl Default for AlignParams {
    fn default() -> AlignParams {
        AlignParams {
            k: 19,
            min_score: 30,
            match_score: 1,
            mismatch_penalty: 4,
            gap_open: 6,
            gap_extend: 1,
            clip_penalty: 5,
            band: 25,
            max_insert: 1000,
            max_read_length: 1000,
            max_reference_bases: 20_000_000,
            max_reads: 5_000_000,
            max_input_bytes: 4 << 30,
            max_seed_hits: 500,
            read_group: "rg1".into(),
            sample: "sample".into(),
        }
    }
}

/// Integer scoring used by the dynamic programming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scoring {
    pub matched: i32,
    pub mismatch: i32,
    /// Penalty of a base against an ambiguous base (N or IUPAC code).
    pub ambiguous: i32,
    pub gap_open: i32,
    pub gap_extend: i32,
    pub clip: i32,
}

/// Clamps an i64 param into `lo..=hi` and narrows it.
pub(crate) fn clamp(v: i64, lo: i64, hi: i64) -> i64 {
    v.clamp(lo, hi)
}

impl AlignParams {
    /// The scoring scheme (params clamped into their documented ranges).
    pub fn scoring(&self) -> Scoring {
        Scoring {
            matched: clamp(self.match_score, 1, 100) as i32,
            mismatch: clamp(self.mismatch_penalty, 0, 100) as i32,
            ambiguous: 1,
            gap_open: clamp(self.gap_open, 0, 100) as i32,
            gap_extend: clamp(self.gap_extend, 1, 100) as i32,
            clip: clamp(self.clip_penalty, 0, 1000) as i32,
        }
    }

    /// Seed length, clamped to what the 2-bit k-mer encoding supports.
    pub fn seed_len(&self) -> usize {
        clamp(self.k, 8, 31) as usize
    }

    /// The `@PG CL` text: every param, in a fixed order.
    pub fn command_line(&self) -> String {
        format!(
            "petri align k={} min-score={} match-score={} mismatch-penalty={} gap-open={} \
             gap-extend={} clip-penalty={} band={} max-insert={} max-read-length={} \
             max-reference-bases={} max-reads={} max-input-bytes={} max-seed-hits={} \
             read-group={} sample={}",
            self.k,
            self.min_score,
            self.match_score,
            self.mismatch_penalty,
            self.gap_open,
            self.gap_extend,
            self.clip_penalty,
            self.band,
            self.max_insert,
            self.max_read_length,
            self.max_reference_bases,
            self.max_reads,
            self.max_input_bytes,
            self.max_seed_hits,
            self.read_group,
            self.sample
        )
    }
}
