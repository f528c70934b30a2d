"""Runs from Python: sample sheets as lists of dicts, sweeps and their results,
provenance as dicts, verify and export, and Ctrl-C stopping a run cleanly."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

import petri
from conftest import LAMBDA, PLUGINS


def qc_pipeline(lab):
    qc = lab.stage("fastq-qc", id="qc")

    @petri.pipeline
    def trim(reads, mates):
        return qc(reads=reads, mates=mates).summary

    return trim


def test_samples_as_dicts_fan_out_and_outputs_are_files(lab, tmp_path):
    samples = [
        {"sample": "a", "reads": LAMBDA / "reads_1.fq.gz", "mates": LAMBDA / "reads_2.fq.gz"},
        {"sample": "b", "reads": LAMBDA / "reads_2.fq.gz", "mates": LAMBDA / "reads_1.fq.gz", "priority": "urgent"},
    ]
    run = lab.run(qc_pipeline(lab), samples=samples, output_dir=tmp_path / "out")
    assert run.status == "completed"
    assert sorted(s["id"] for s in run.record["sample_info"]) == ["a", "b"]
    a, b = run.outputs["a/qc.summary"], run.outputs["b/qc.summary"]
    assert a.path == tmp_path / "out" / "a" / "qc" / "summary.json"
    assert a.path.is_file() and b.path.is_file()
    assert run.outputs["a/qc.trimmed"].sha256 != run.outputs["b/qc.trimmed"].sha256
    assert (tmp_path / "out" / "manifest.tsv").is_file()
    # Provenance as dicts: one stage record per executed stage.
    records = run.records
    assert sorted(r["id"] for r in records) == sorted(s["record_id"] for s in run.stages)
    assert {r["module"]["sha256"] for r in records} == {s["module_sha256"] for s in run.stages}
    assert run.verify() == []
    assert lab.record(run.id[:13]).root == run.root
    with pytest.raises(ValueError, match="tab"):
        lab.run(qc_pipeline(lab), samples=[{"sample": "x\ty"}])


def test_a_sweep_gives_a_row_per_combination(lab):
    run = lab.sweep(qc_pipeline(lab), reads=LAMBDA / "reads_1.fq.gz", mates=LAMBDA / "reads_2.fq.gz", qc__quality_cutoff=[15, 20, 25])
    rows = run.results
    assert [r["qc.quality-cutoff"] for r in rows] == [15, 20, 25]
    assert all(r["status"] == "completed" for r in rows)
    kept = [r["qc.reads-out"] for r in rows]
    assert kept == sorted(kept, reverse=True) and kept[0] > kept[-1]
    frame = run.results_frame()
    assert list(frame["combination"]) == [r["combination"] for r in rows]
    assert list(frame["qc.reads-out"]) == kept
    assert frame.shape == (3, len(rows[0]))


def test_ctrl_c_stops_a_run_cleanly(tmp_path):
    """SIGINT to a Python process running a stage that spins: the run stops
    through its interrupt and Python sees KeyboardInterrupt."""
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 100)
    script = tmp_path / "spin.py"
    script.write_text(textwrap.dedent(f"""
        import petri, sys
        lab = petri.Local({str(tmp_path / 'data')!r})
        spin = lab.stage({str(PLUGINS / 'testkit.wasm')!r}, id="spin", policy={{"fuel": 10**18, "wall-clock-secs": 600}})

        @petri.pipeline
        def forever(data):
            return spin(data=data, mode="spin").out

        print("running", flush=True)
        try:
            lab.run(forever, data={str(data)!r})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "running"
    time.sleep(2)  # let the stage start; an earlier signal is handled the same way
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 3, err
    assert out.strip() == "interrupted"
