"""A stage's structured log and progress: the host's ``log`` and ``progress``
inside the component; natively (unit tests, no host) a log line goes to
stderr and progress is not reported, so a stage calling them stays testable
with plain pytest."""

import sys
from typing import Optional

LEVELS = ("trace", "debug", "info", "warn", "error")


def _host():
    """The host's imports inside a component, else None."""
    try:
        from wit_world.imports import host, types
    except ImportError:
        return None
    return host, types


def log(level: str, message: str, **fields: object) -> None:
    """A structured log line: ``level`` one of trace, debug, info, warn, error;
    ``fields`` become key/value pairs (values as text)."""
    if level not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    pairs = [(k, str(v)) for k, v in fields.items()]
    imports = _host()
    if imports is None:
        rest = "".join(f" {k}={v}" for k, v in pairs)
        print(f"{level} {message}{rest}", file=sys.stderr)
        return
    host, types = imports
    host.log(types.Level[level.upper()], message, pairs)


def progress(done: int, total: Optional[int] = None) -> None:
    """How far the stage is (``done`` of ``total`` units, ``total`` unknown if None)."""
    if done < 0 or (total is not None and total < 0):
        raise ValueError(f"progress {done} of {total}: counts are never negative")
    imports = _host()
    if imports is not None:
        imports[0].progress(done, total)
