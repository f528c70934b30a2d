"""Fixtures for the Python API's tests: the `petri` binary and the bundled
plugins that `cargo test` and `cargo run -p petri-plugins` built (.ci/run), a
data dir with the plugins registered, and the lambda example's files."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import petri

REPO = Path(__file__).resolve().parents[2]
LAMBDA = REPO / "examples" / "data" / "lambda"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "petri-target"))
PETRI = Path(os.environ.get("PETRI_BIN", TARGET / "release" / "petri"))
PLUGINS = Path(os.environ.get("PETRI_PLUGINS", TARGET / "plugins"))


def cli(data_dir, *args):
    """Runs the `petri` CLI on `data_dir`; returns its stdout (checked)."""
    out = subprocess.run([str(PETRI), "--data-dir", str(data_dir), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"petri {' '.join(map(str, args))}: {out.stderr}"
    return out.stdout


def cli_json(data_dir, *args):
    return json.loads(cli(data_dir, *args, "--json"))


def registered(data_dir):
    """`data_dir` with every bundled plugin added to its registry."""
    wasm = sorted(PLUGINS.glob("*.wasm"))
    assert wasm, f"no plugins in {PLUGINS}: run `cargo run --release -p petri-plugins -- {PLUGINS}`"
    cli(data_dir, "plugin", "add", *wasm)
    return data_dir


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One data dir for the tests that need no fresh one (modules compile once)."""
    return petri.Local(registered(tmp_path_factory.mktemp("lab")))


@pytest.fixture(scope="session")
def lambda_files():
    return {
        "reads": str(LAMBDA / "reads_1.fq.gz"),
        "mates": str(LAMBDA / "reads_2.fq.gz"),
        "reference": str(LAMBDA / "lambda_virus.fa.gz"),
    }
