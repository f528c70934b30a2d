"""vcf-summary: a petri stage written in Python. It reads a VCF (plain or
gzip) and writes a JSON summary: records, SNVs, MNPs, indels and other
alleles, transitions and transversions, and a QUAL histogram, with the same
counts as typed metrics.

The logic is :func:`summarize`, plain Python over a binary stream, unit
tested natively with pytest (tests/); ``@stage`` declares the manifest from
the function's signature. app.py is what componentize-py builds.
"""

import gzip
import io
import json
import math
from dataclasses import dataclass, field
from typing import Annotated, BinaryIO, Dict, List, Optional

from petri_stage import Param, Port, RetryWith, StageError, log, progress, stage

_TRANSITIONS = {frozenset("AG"), frozenset("CT")}
# A summary, not a dump: more non-empty QUAL bins than this is refused
# (typed `too-many-bins`), and the recover hook retries with COARSE_BIN_WIDTH.
MAX_BINS = 1000
COARSE_BIN_WIDTH = 1000
# Progress is reported every this many records.
PROGRESS_EVERY = 10_000


@dataclass
class Summary:
    """What :func:`summarize` counted. Alleles are counted one per ALT, as bcftools stats does."""

    records: int = 0
    snvs: int = 0
    mnps: int = 0
    indels: int = 0
    others: int = 0
    transitions: int = 0
    transversions: int = 0
    filtered: int = 0
    no_qual: int = 0
    contigs: Dict[str, int] = field(default_factory=dict)
    qual_bins: Dict[int, int] = field(default_factory=dict)

    def ts_tv(self) -> Optional[float]:
        return round(self.transitions / self.transversions, 4) if self.transversions else None

    def to_json(self, bin_width: int) -> Dict[str, object]:
        return {
            "records": self.records,
            "snvs": self.snvs,
            "mnps": self.mnps,
            "indels": self.indels,
            "others": self.others,
            "transitions": self.transitions,
            "transversions": self.transversions,
            "ts-tv": self.ts_tv(),
            "filtered": self.filtered,
            "contigs": dict(sorted(self.contigs.items())),
            "qual-histogram": {
                "bin-width": bin_width,
                "bins": [
                    {"from": b * bin_width, "to": (b + 1) * bin_width, "records": n}
                    for b, n in sorted(self.qual_bins.items())
                ],
                "missing": self.no_qual,
            },
        }


def _allele(summary: Summary, ref: str, alt: str) -> None:
    if alt in (".", "*") or alt.startswith("<") or "[" in alt or "]" in alt:
        summary.others += 1
    elif len(ref) == 1 and len(alt) == 1:
        summary.snvs += 1
        if frozenset((ref.upper(), alt.upper())) in _TRANSITIONS:
            summary.transitions += 1
        else:
            summary.transversions += 1
    elif len(ref) == len(alt):
        summary.mnps += 1
    else:
        summary.indels += 1


def _qual(summary: Summary, text: str, bin_width: int, record: int) -> None:
    if text == ".":
        summary.no_qual += 1
        return
    try:
        q = float(text)
    except ValueError:
        raise StageError("malformed", f"QUAL `{text}` is not a number", "vcf", record) from None
    if not math.isfinite(q) or q < 0:
        raise StageError("malformed", f"QUAL `{text}` is out of range", "vcf", record)
    b = int(q // bin_width)
    summary.qual_bins[b] = summary.qual_bins.get(b, 0) + 1


def _lines(stream: BinaryIO) -> io.TextIOWrapper:
    """The stream's lines, gunzipped when it starts with the gzip magic."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
    raw: BinaryIO = buffered  # type: ignore[assignment]
    if buffered.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        raw = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")


def summarize(stream: BinaryIO, bin_width: int) -> Summary:
    """Counts the records of a VCF; a malformed record is a typed error naming its number."""
    summary = Summary()
    for line in _lines(stream):
        if line.startswith("#") or not line.strip():
            continue
        summary.records += 1
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 8:
            raise StageError(
                "malformed", f"{len(cols)} columns, a VCF record has at least 8", "vcf", summary.records
            )
        chrom, ref, alts, qual, filt = cols[0], cols[3], cols[4], cols[5], cols[6]
        summary.contigs[chrom] = summary.contigs.get(chrom, 0) + 1
        for alt in alts.split(","):
            _allele(summary, ref, alt)
        _qual(summary, qual, bin_width, summary.records)
        if filt not in ("PASS", "."):
            summary.filtered += 1
        if summary.records % PROGRESS_EVERY == 0:
            progress(summary.records)
    if len(summary.qual_bins) > MAX_BINS:
        raise StageError(
            "too-many-bins",
            f"{len(summary.qual_bins)} QUAL bins of width {bin_width}: at most {MAX_BINS}",
            "vcf",
        )
    return summary


@stage(
    name="vcf-summary",
    version="0.1.0",
    description="Counts a VCF's SNVs, indels, transitions/transversions and QUAL distribution",
    inputs={"vcf": Port("vcf", "Variant calls (plain or gzip VCF)")},
    outputs={"summary": Port("json", "The counts and the QUAL histogram")},
    errors={
        "malformed": "A record is not a VCF record (too few columns, a bad QUAL)",
        "too-many-bins": f"The QUAL histogram would have more than {MAX_BINS} bins",
    },
)
def vcf_summary(
    vcf: BinaryIO,
    summary: BinaryIO,
    qual_bin_width: Annotated[int, Param("Width of a QUAL histogram bin", min=1, max=10000)] = 50,
) -> Dict[str, object]:
    s = summarize(vcf, qual_bin_width)
    progress(s.records, s.records)
    log("info", "summarised", records=s.records, bins=len(s.qual_bins), bin_width=qual_bin_width)
    text = json.dumps(s.to_json(qual_bin_width), indent=2, sort_keys=False) + "\n"
    summary.write(text.encode())
    metrics: Dict[str, object] = {
        "records": (s.records, "records"),
        "snvs": (s.snvs, "variants"),
        "indels": (s.indels, "variants"),
        "mnps": (s.mnps, "variants"),
        "transitions": (s.transitions, "variants"),
        "transversions": (s.transversions, "variants"),
    }
    if s.ts_tv() is not None:
        metrics["ts-tv"] = s.ts_tv()
    return metrics


@vcf_summary.recover
def _recover(error: StageError, attempt: int) -> object:
    # Too fine a histogram: once, with bins wide enough for any realistic
    # QUAL range. A malformed VCF stays malformed: retrying cannot help.
    if error.kind == "too-many-bins" and attempt == 1:
        return RetryWith({"qual_bin_width": COARSE_BIN_WIDTH})
    return "abort"
