"""petri from Python: define, run and sweep reproducible lab pipelines.

>>> import petri
>>> lab = petri.Local(".petri")
>>> qc, align, call = lab.stage("fastq-qc"), lab.stage("align"), lab.stage("call-variants")
>>> @petri.pipeline
... def variants(reads, mates, reference):
...     t = qc(reads=reads, mates=mates, quality_cutoff=20)
...     a = align(reference=reference, reads=t.trimmed, mates=t.trimmed_mates)
...     return call(reference=reference, alignments=a.alignments).variants
>>> run = lab.run(variants, reads="r1.fq.gz", mates="r2.fq.gz", reference="ref.fa")
>>> run.outputs["variants"].path

A pipeline compiles to the same TOML the CLI reads (``variants.to_toml()``),
checked and run by petri-host itself: provenance and cache keys are the same.
"""

from ._petri import PetriError, ValidationError, __version__
from ._pipeline import File, Input, Node, Output, Pipeline, Stage, pipeline
from ._local import Local, OutputFile, Run
from ._client import Client, RemoteRun

__all__ = [
    "Client",
    "File",
    "Input",
    "Local",
    "Node",
    "Output",
    "OutputFile",
    "PetriError",
    "RemoteRun",
    "Pipeline",
    "Run",
    "Stage",
    "ValidationError",
    "pipeline",
    "__version__",
]
