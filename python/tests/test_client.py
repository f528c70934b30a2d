"""petri.Client against a live daemon (`petri serve` on 127.0.0.1:0): the same
pipeline submitted over REST has the root of the same pipeline run locally, and
the daemon's 422 problems come back as ValidationError."""

import os
import subprocess

import pytest

import petri
from conftest import LAMBDA, PETRI, PLUGINS, cli


@pytest.fixture
def daemon(tmp_path):
    data = tmp_path / "daemon"
    token = cli(data, "token", "create", "--group", "lab-a", "--admin", "--name", "py").strip()
    child = subprocess.Popen(
        [str(PETRI), "--data-dir", str(data), "serve", "--listen", "127.0.0.1:0", "--drain-timeout-secs", "5"],
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "serve.log", "w"),
        text=True,
    )
    line = child.stdout.readline()
    url = line.strip().rsplit(" ", 1)[-1]
    assert url.startswith("http://127.0.0.1:"), line + (tmp_path / "serve.log").read_text()
    yield petri.Client(url, token=token)
    child.terminate()
    child.wait(timeout=30)


def test_a_daemon_run_has_the_root_of_the_same_local_run(daemon, lab, tmp_path, monkeypatch):
    for wasm in ("fastq-qc", "align"):
        daemon.add_module(PLUGINS / f"{wasm}.wasm")
    monkeypatch.chdir(LAMBDA)
    files = {"reads": "reads_1.fq.gz", "mates": "reads_2.fq.gz", "reference": "lambda_virus.fa.gz"}

    def aligned(stages):
        qc, align = stages

        @petri.pipeline
        def aligned(reads, mates, reference):
            t = qc(reads=reads, mates=mates, quality_cutoff=20)
            return align(reference=reference, reads=t.trimmed, mates=t.trimmed_mates).alignments

        return aligned

    remote = daemon.run(aligned([daemon.stage("fastq-qc", id="qc"), daemon.stage("align")]), **files)
    assert remote.status == "COMPLETED", remote.view
    local = lab.run(aligned([lab.stage("fastq-qc", id="qc"), lab.stage("align")]), **files)
    assert remote.root == local.root
    exported = remote.export(tmp_path / "out")
    bam = next(o for o in exported if o["stage"] == "align" and o["port"] == "alignments")
    assert (tmp_path / "out" / bam["path"]).read_bytes() == local.outputs["alignments"].path.read_bytes()

    # Params are checked by the daemon at submission: every problem, located.
    @petri.pipeline
    def bad(reads):
        return daemon.stage("fastq-qc")(reads=reads, quality_cutoff=500).trimmed

    with pytest.raises(petri.ValidationError) as refused:
        daemon.submit(bad, reads="reads_1.fq.gz")
    assert any("quality-cutoff" in p["message"] for p in refused.value.problems)
    with pytest.raises(ValueError, match="relative paths"):
        daemon.submit(bad, reads=os.path.abspath("reads_1.fq.gz"))
