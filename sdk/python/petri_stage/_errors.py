"""The typed failure a stage raises, and the kinds the SDK raises itself."""

from typing import Optional

# (name, doc) of the error kinds the SDK raises itself; each one a stage does
# not declare is added to its manifest, as the Rust SDK does.
SDK_ERROR_KINDS = (
    ("invalid-params", "The params do not fit the stage's signature"),
    ("missing-input", "A required input port is not connected"),
    ("io", "An input could not be read or decoded, or an output written"),
)


class StageError(Exception):
    """A failure the stage reports: the WIT ``stage-error``.

    ``kind`` must be one of the manifest's error kinds (the host refuses an
    undeclared one); ``port`` and ``record`` (1-based) locate the problem.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        port: Optional[str] = None,
        record: Optional[int] = None,
    ):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.port = port
        self.record = record
