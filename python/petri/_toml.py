"""Writing a pipeline as TOML text, in the layout of examples/lambda/pipeline.toml.

Tables one or two levels deep get headers (``[pipeline]``, ``[stages.qc]``);
anything deeper is written inline (``params = { quality-cutoff = 20 }``).
The same dict always gives the same text, so its SHA-256 (part of the run's
root) is stable.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else string(name)


def string(text: str) -> str:
    # JSON escapes are TOML basic-string escapes; DEL must be escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write a {type(v).__name__} to a pipeline file")


def dumps(doc: dict, header: str = "") -> str:
    """``doc`` as TOML; ``header`` is a comment block put first."""
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    for section, body in doc.items():
        if not isinstance(body, dict):
            raise TypeError(f"top-level `{section}` must be a table")
        scalars = {k: v for k, v in body.items() if not _is_table(v)}
        tables = {k: v for k, v in body.items() if _is_table(v)}
        if scalars or not tables:
            out += ["", f"[{key(section)}]"]
            out += [f"{key(k)} = {value(v)}" for k, v in scalars.items()]
        for name, table in tables.items():
            out += ["", f"[{key(section)}.{key(name)}]"]
            out += [f"{key(k)} = {value(v)}" for k, v in table.items()]
    return "\n".join(out).lstrip("\n") + "\n"


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)
