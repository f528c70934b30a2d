"""vcf-summary's logic, natively: `summarize` over in-memory VCFs, and the
stage function with BytesIO ports (no component, no host)."""

import gzip
import io
import json

import pytest

from petri_stage import RetryWith, StageError
from vcf_summary import summarize, vcf_summary

HEADER = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def vcf(*records: str) -> bytes:
    return HEADER + "".join(r + "\n" for r in records).encode()


def test_alleles_are_classified_as_bcftools_counts_them():
    s = summarize(
        io.BytesIO(
            vcf(
                "c\t1\t.\tA\tG\t10\tPASS\t.",  # transition
                "c\t2\t.\tC\tA,T\t20\tPASS\t.",  # transversion + transition
                "c\t3\t.\tAT\tA\t30\tLowQual\t.",  # deletion
                "c\t4\t.\tA\tATT\t.\tPASS\t.",  # insertion, no QUAL
                "d\t5\t.\tAC\tGT\t45\tPASS\t.",  # MNP
                "d\t6\t.\tA\t<DEL>\t60\tPASS\t.",  # symbolic
            )
        ),
        bin_width=25,
    )
    assert (s.records, s.snvs, s.indels, s.mnps, s.others) == (6, 3, 2, 1, 1)
    assert (s.transitions, s.transversions) == (2, 1)
    assert s.ts_tv() == 2.0
    assert s.filtered == 1
    assert s.contigs == {"c": 4, "d": 2}
    assert s.qual_bins == {0: 2, 1: 2, 2: 1} and s.no_qual == 1


def test_gzip_input_is_read_transparently():
    plain = vcf("c\t1\t.\tA\tG\t10\tPASS\t.")
    assert summarize(io.BytesIO(gzip.compress(plain, mtime=0)), 10).snvs == 1


@pytest.mark.parametrize(
    "record,number",
    [("c\t1\t.\tA\tG\thigh\tPASS\t.", 1), ("c\t1\t.\tA", 1), ("c\t1\t.\tA\tG\t-3\tPASS\t.", 1)],
)
def test_a_malformed_record_is_a_typed_error_at_its_number(record, number):
    with pytest.raises(StageError) as e:
        summarize(io.BytesIO(vcf(record)), 10)
    assert (e.value.kind, e.value.port, e.value.record) == ("malformed", "vcf", number)


def test_the_stage_writes_json_and_returns_metrics():
    out = io.BytesIO()
    metrics = vcf_summary(io.BytesIO(vcf("c\t1\t.\tA\tG\t10\tPASS\t.")), out, qual_bin_width=5)
    summary = json.loads(out.getvalue())
    assert summary["snvs"] == 1
    assert summary["qual-histogram"]["bins"] == [{"from": 10, "to": 15, "records": 1}]
    assert metrics["snvs"] == (1, "variants")


def test_the_manifest_comes_from_the_signature():
    assert vcf_summary.name == "vcf-summary"
    p = vcf_summary.param("qual-bin-width")
    assert (p.kind, p.default, p.min, p.max) == ("integer", 50, 1, 10000)
    assert p.doc
    assert [n for n, _ in vcf_summary.inputs] == ["vcf"]
    assert "malformed" in dict(vcf_summary.errors)
    assert vcf_summary.recover_hook(StageError("malformed", "x"), 1) == "abort"


def test_too_fine_a_histogram_is_refused_and_recovered_with_coarser_bins():
    wide = vcf(*(f"c\t{q}\t.\tA\tG\t{q}\tPASS\t." for q in range(1, 1002)))
    with pytest.raises(StageError) as e:
        summarize(io.BytesIO(wide), 1)
    assert (e.value.kind, e.value.port) == ("too-many-bins", "vcf")
    assert "1001 QUAL bins of width 1" in e.value.message
    decision = vcf_summary.recover_hook(e.value, 1)
    assert isinstance(decision, RetryWith) and decision.params == {"qual_bin_width": 1000}
    assert vcf_summary.recover_hook(e.value, 2) == "abort"
    assert len(summarize(io.BytesIO(wide), 1000).qual_bins) == 2


def test_log_and_progress_run_natively(capsys):
    vcf_summary(io.BytesIO(vcf("c\t1\t.\tA\tG\t10\tPASS\t.")), io.BytesIO(), qual_bin_width=5)
    assert "info summarised records=1 bins=1 bin_width=5" in capsys.readouterr().err
