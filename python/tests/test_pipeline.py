"""The Python API against the CLI: a `@petri.pipeline` compiles to the TOML the
CLI runs (same root, same cache keys), its TOML round-trips, and params are
checked with petri's own rules."""

import pydoc

import pytest

import petri
from conftest import REPO, cli_json, registered


def lambda_pipeline(lab):
    """examples/lambda/pipeline.toml written in Python: same ids, params, policy, resources."""
    qc = lab.stage("fastq-qc", id="qc", policy={"max-attempts": 2, "allow": ["retry", "abort"]}, resources={"instrument": "compute"})
    align = lab.stage("align", resources={"instrument": "compute"})
    coverage = lab.stage("coverage")
    call = lab.stage("call-variants", id="call")
    consensus = lab.stage("consensus")

    @petri.pipeline
    def lambda_(reference, reads, mates):
        """QC, alignment, variant calling and consensus of the bundled paired-end lambda phage reads"""
        t = qc(reads=reads, mates=mates, quality_cutoff=20, min_length=30, max_n_fraction=0.1)
        a = align(reference=reference, reads=t.trimmed, mates=t.trimmed_mates, sample="lambda", read_group="lambda-1")
        depth = coverage(alignments=a.alignments).depth
        variants = call(reference=reference, alignments=a.alignments, ploidy="haploid").variants
        return consensus(reference=reference, variants=variants, depth=depth, min_depth=5).consensus

    return lambda_


def test_a_python_pipeline_has_the_root_of_its_toml_run_by_the_cli(lab, tmp_path, lambda_files):
    variants = lambda_pipeline(lab)
    run = lab.run(variants, **lambda_files)
    assert run.status == "completed"
    assert sorted(s["stage"] for s in run.stages) == ["align", "call", "consensus", "coverage", "qc"]

    # The same text, run by the CLI in a data dir of its own.
    pipeline = tmp_path / "lambda.toml"
    pipeline.write_text(variants.to_toml(**lambda_files))
    by_cli = cli_json(registered(tmp_path / "cli"), "run", pipeline)
    assert by_cli["status"] == "completed"
    assert by_cli["root"] == run.root


def test_the_example_toml_and_its_python_twin_share_every_cache_key(tmp_path, lambda_files):
    data = registered(tmp_path / "data")
    by_cli = cli_json(data, "run", REPO / "examples" / "lambda" / "pipeline.toml")
    lab = petri.Local(data)
    run = lab.run(lambda_pipeline(lab), **lambda_files)
    assert [s["cache"] for s in run.stages] == ["hit"] * 5
    key = lambda s: (s["stage"], s["module_sha256"], s["outputs"])
    assert sorted(map(key, run.stages)) == sorted(map(key, by_cli["stages"]))
    assert run.outputs["consensus"].path.read_bytes().startswith(b">")
    assert run.outputs["consensus"] is run.outputs["consensus.consensus"]
    # The file itself, run from Python: the CLI's root.
    assert lab.run(REPO / "examples" / "lambda" / "pipeline.toml").root == by_cli["root"]


def test_to_toml_round_trips(lab, lambda_files):
    variants = lambda_pipeline(lab)
    text = variants.to_toml(**lambda_files)
    again = petri.Pipeline.from_toml(text)
    assert again.to_toml() == text
    assert list(again.stages) == ["align", "call", "consensus", "coverage", "qc"]
    # The example file parses to the same tables, stage by stage.
    example = petri.Pipeline.from_toml((REPO / "examples" / "lambda" / "pipeline.toml").read_text())
    assert example.stages == variants.stages
    assert sorted(lab.validate(again)["stages"]) == sorted(again.stages)


def test_params_are_checked_with_petris_rules(lab):
    qc = lab.stage("fastq-qc")
    reads = petri.Input("reads")
    with pytest.raises(petri.ValidationError) as bad:
        qc(reads=reads, quality_cutoff=200, max_n_fraction="lots", qualty=3)
    problems = {(p.get("param"), p["problem"]) for p in bad.value.problems}
    assert ("qualty", "`fastq-qc` has no param or input of this name") in problems
    assert any(param == "quality-cutoff" and "maximum" in why for param, why in problems)
    assert any(param == "max-n-fraction" for param, _ in problems)
    assert isinstance(bad.value, petri.PetriError)
    with pytest.raises(petri.ValidationError) as missing:
        qc(quality_cutoff=20)
    assert missing.value.problems == [{"input": "reads", "problem": "required input not given"}]
    with pytest.raises(AttributeError, match="no output `trimmed_reads`"):
        qc(reads=reads).trimmed_reads


def test_pipeline_problems_are_located(lab, tmp_path):
    qc = lab.stage("fastq-qc")

    @petri.pipeline
    def unwired(reads):
        return qc(reads=reads).trimmed

    # No path for `reads` and no sample sheet: petri-host's validation says where.
    with pytest.raises(petri.ValidationError) as bad:
        lab.validate(unwired)
    (problem,) = bad.value.problems
    assert problem["line"] > 0 and "reads" in problem["message"]
    with pytest.raises(petri.ValidationError):
        lab.run(unwired, reads=tmp_path / "missing.fq")


def test_help_shows_the_manifest(lab):
    qc = lab.stage("fastq-qc")
    text = pydoc.render_doc(qc, renderer=pydoc.plaintext)
    assert "fastq-qc 0.1.0" in text
    assert "quality_cutoff (integer, default 20, range 0..93)" in text
    assert "trimmed_mates (fastq, optional)" in text
