"""``petri.Local``: a data dir opened in this process, and the runs made in it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _petri
from ._pipeline import FileArg, Pipeline, Stage, _py_name

PathLike = Union[str, "os.PathLike[str]"]
SampleSheet = Union[PathLike, Sequence[Mapping[str, Any]]]


class OutputFile:
    """One published output: ``path`` (a file under the run's output dir) and its digest."""

    def __init__(self, entry: Mapping[str, Any], dir: Path) -> None:
        self.sample: str = entry["sample"]
        self.stage: str = entry["stage"]
        self.port: str = entry["port"]
        self.format: str = entry["format"]
        self.sha256: str = entry["sha256"]
        self.size: int = entry["size"]
        self.path = dir / entry["path"]

    def __repr__(self) -> str:
        return f"<petri output {self.sample}/{self.stage}.{self.port} {self.path}>"

    def __fspath__(self) -> str:
        return os.fspath(self.path)


class Run:
    """A finished pipeline run: its record, outputs, provenance, verify and export."""

    def __init__(self, lab: Local, record: Dict[str, Any], returns: Mapping[str, str], output_dir: Optional[Path]) -> None:
        self._lab = lab
        self.record = record
        self._returns = dict(returns)
        self._output_dir = output_dir
        self._outputs: Optional[Dict[str, OutputFile]] = None

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def root(self) -> str:
        """The run's Merkle root: equal for two honest runs of the same pipeline text on the same inputs."""
        return self.record["root"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def stages(self) -> List[Dict[str, Any]]:
        return self.record["stages"]

    @property
    def records(self) -> List[Dict[str, Any]]:
        """The stage records (provenance) of every executed stage, as dicts."""
        return self._lab._native.stage_records(self.id)

    @property
    def outputs(self) -> Dict[str, OutputFile]:
        """Succeeded stages' outputs as files, published on first use (under the
        run's ``output_dir``, else ``<data dir>/outputs/<run id>``). Keys: the
        pipeline's returned names, ``stage.port`` (one sample) and
        ``sample/stage.port``."""
        if self._outputs is None:
            dir = self._output_dir or Path(self._lab.data_dir) / "outputs" / self.id
            files = [OutputFile(e, dir) for e in self.export(dir)]
            samples = {f.sample for f in files}
            out: Dict[str, OutputFile] = {}
            for f in files:
                out[f"{f.sample}/{f.stage}.{f.port}"] = f
                if len(samples) == 1:
                    out[f"{f.stage}.{f.port}"] = f
            for name, ref in self._returns.items():
                if ref in out:
                    out[name] = out[ref]
            self._outputs = out
        return self._outputs

    def verify(self) -> List[Dict[str, Any]]:
        """Re-executes every succeeded stage; returns each mismatch (empty: the run reproduces)."""
        return self._lab._native.verify(self.id)

    def export(self, dir: PathLike) -> List[Dict[str, Any]]:
        """Publishes the outputs under ``dir`` as ``<sample>/<stage>/<port>.<format>`` with ``manifest.tsv``."""
        return self._lab._native.export(self.id, Path(dir))

    @property
    def results(self) -> List[Dict[str, Any]]:
        """One flat dict per sample (and sweep combination): params, metrics, fuel, seconds, output digests."""
        return [_flat(row) for row in self._lab._native.results(self.id)]

    def results_frame(self) -> Any:
        """:attr:`results` as a pandas DataFrame (needs pandas)."""
        import pandas

        return pandas.DataFrame(self.results)

    def __repr__(self) -> str:
        return f"<petri run {self.id} {self.status} root {self.root}>"


def _flat(row: Mapping[str, Any]) -> Dict[str, Any]:
    out = {k: row[k] for k in ("sample", "combination", "status")}
    for group in ("params", "metrics"):
        out.update(row[group])
    out["fuel"], out["seconds"] = row["fuel"], row["seconds"]
    out.update(row["outputs"])
    return out


def _sheet_text(samples: Sequence[Mapping[str, Any]]) -> str:
    columns: List[str] = []
    for row in samples:
        columns += [c for c in row if c not in columns]
    lines = ["\t".join(columns)]
    for i, row in enumerate(samples):
        cells = ["" if row.get(c) is None else str(row[c]) for c in columns]
        if any("\t" in c or "\n" in c for c in cells):
            raise ValueError(f"sample {i}: a value contains a tab or a newline")
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


class Local:
    """A data dir opened in this process, as the CLI opens it: the blob store and
    its SQLite state database (or ``database``, a URL), with the module registry.

    >>> lab = petri.Local(".petri")
    >>> qc = lab.stage("fastq-qc")
    """

    def __init__(self, data_dir: PathLike = ".petri", database: Optional[str] = None) -> None:
        self._native = _petri.Lab(Path(data_dir), database)
        self.data_dir = Path(data_dir)

    def stage(self, reference: str, id: Optional[str] = None, policy: Optional[Mapping[str, Any]] = None, resources: Optional[Mapping[str, Any]] = None) -> Stage:
        """A handle on module ``reference`` (a registered name, a ``.wasm`` path or ``sha256:<hex>``).

        ``id`` names its calls in the pipeline (default: ``reference``);
        ``policy`` and ``resources`` are the stage table's."""
        manifest = self._native.manifest(reference)
        cls = type(f"Stage_{_py_name(manifest['name'])}", (Stage,), {"__doc__": None, "__module__": "petri"})
        return cls(self, reference, manifest, id, policy, resources)

    def _check_params(self, reference: str, params: Mapping[str, Any]) -> Any:
        return self._native.check_params(reference, dict(params))

    def _source(self, pipeline: Union[Pipeline, PathLike], inputs: Mapping[str, Optional[FileArg]], sweep: Optional[Mapping[str, Any]] = None) -> tuple:
        if isinstance(pipeline, Pipeline):
            from . import _toml

            text = _toml.dumps(pipeline.document(inputs, sweep))
            return text, Path.cwd() / f"{pipeline.name or 'pipeline'}.toml", pipeline.returns
        if inputs or sweep:
            raise TypeError("inputs and sweep axes are given only with a Pipeline; a pipeline file names its own")
        path = Path(pipeline)
        return path.read_text(), path, {}

    @staticmethod
    def _sheet(samples: Optional[SampleSheet]) -> Optional[tuple]:
        if samples is None:
            return None
        if isinstance(samples, (str, os.PathLike)):
            return (Path(samples), Path(samples).read_text())
        return (Path.cwd() / "samples.tsv", _sheet_text(samples))

    def validate(self, pipeline: Union[Pipeline, PathLike], samples: Optional[SampleSheet] = None, **inputs: Optional[FileArg]) -> Dict[str, Any]:
        """Checks the pipeline whole (nothing runs); raises :class:`petri.ValidationError`."""
        text, path, _ = self._source(pipeline, inputs)
        return self._native.validate(text, path, self._sheet(samples))

    def run(
        self,
        pipeline: Union[Pipeline, PathLike],
        samples: Optional[SampleSheet] = None,
        output_dir: Optional[PathLike] = None,
        no_cache: bool = False,
        progress: bool = True,
        **inputs: Optional[FileArg],
    ) -> Run:
        """Validates and runs ``pipeline`` here, in-process.

        ``inputs`` give the pipeline's input files (relative to the current
        directory); ``samples`` is a sample sheet (a path, or a list of dicts
        with a ``sample`` key and a column per input). Ctrl-C stops the run
        cleanly (running it again resumes it)."""
        text, path, returns = self._source(pipeline, inputs)
        record = self._native.run(text, path, self._sheet(samples), no_cache, progress)
        return Run(self, record, returns, Path(output_dir) if output_dir else None)

    def sweep(
        self,
        pipeline: Pipeline,
        samples: Optional[SampleSheet] = None,
        output_dir: Optional[PathLike] = None,
        no_cache: bool = False,
        progress: bool = True,
        **kwargs: Any,
    ) -> Run:
        """Runs ``pipeline`` over a grid of params: ``stage__param=[values]``
        keyword arguments are the sweep's axes (``qc__quality_cutoff=[15, 20, 25]``),
        the others its inputs. ``run.results`` has one row per combination."""
        axes: Dict[str, Any] = {}
        inputs: Dict[str, Any] = {}
        for name, value in kwargs.items():
            if "__" in name:
                stage, param = name.split("__", 1)
                axes[f"{stage}.{self._param_name(pipeline, stage, param)}"] = list(value)
            else:
                inputs[name] = value
        text, path, returns = self._source(pipeline, inputs, {"axes": axes})
        record = self._native.run(text, path, self._sheet(samples), no_cache, progress)
        return Run(self, record, returns, Path(output_dir) if output_dir else None)

    def _param_name(self, pipeline: Pipeline, stage: str, param: str) -> str:
        table = pipeline.stages.get(stage)
        if table is None:
            raise TypeError(f"pipeline `{pipeline.name}` has no stage `{stage}` (stages: {', '.join(pipeline.stages)})")
        for spec in self._native.manifest(table["module"])["params"]:
            if param in (spec["name"], _py_name(spec["name"])):
                return spec["name"]
        return param

    def record(self, run: str) -> Run:
        """An earlier run of this data dir, by id or unique prefix."""
        return Run(self, self._native.record(run), {}, None)
