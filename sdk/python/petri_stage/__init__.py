"""petri_stage: write a petri stage in Python.

A stage is one decorated function. Its params come from the type hints and
defaults of the arguments that are not ports; its inputs arrive as binary
file-like readers and its outputs as binary file-like writers; it returns its
metrics; it raises :class:`StageError` for a typed failure; :func:`log` and
:func:`progress` reach the host's log and progress::

    from typing import Annotated
    from petri_stage import Param, StageError, stage

    @stage(name="gc-content", version="0.1.0",
           inputs={"reads": "fastq"}, outputs={"summary": "json"},
           errors={"malformed": "A record is not FASTQ"})
    def gc_content(reads, summary, window: Annotated[int, Param("Window", min=1)] = 100):
        ...
        return {"reads": (n, "reads")}

The function stays a plain function, called natively in unit tests with
``io.BytesIO`` ports. ``petri_stage.component`` (imported only inside the
component that componentize-py builds from ``wit/stage.wit``) turns the one
registered stage into the WIT ``stage`` export.
"""

from ._errors import SDK_ERROR_KINDS, StageError
from ._host import log, progress
from ._spec import Param, Port, RetryWith, StageSpec, registered, stage

__all__ = [
    "Param",
    "Port",
    "RetryWith",
    "SDK_ERROR_KINDS",
    "StageError",
    "StageSpec",
    "log",
    "progress",
    "registered",
    "stage",
]
