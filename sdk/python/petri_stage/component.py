"""The WIT ``stage`` export over the one registered ``@stage``.

Imported only inside a component: componentize-py generates ``wit_world``
from ``wit/stage.wit`` (world ``stage-world``), the same contract the host's
``bindgen!`` and the Rust SDK's ``generate!`` read. A component's app module
is two lines::

    import my_stage                            # registers the @stage
    from petri_stage.component import Stage   # the export componentize-py looks for
"""

import io
from typing import Any, Dict, List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import streams, types

from ._errors import StageError
from ._host import log, progress  # noqa: F401  (kept importable from here)
from ._spec import Port, RetryWith, StageSpec, registered

_KIND = {
    "boolean": types.ParamKind.BOOLEAN,
    "integer": types.ParamKind.INTEGER,
    "float": types.ParamKind.FLOAT,
    "text": types.ParamKind.TEXT,
    "choice": types.ParamKind.CHOICE,
    "integer-list": types.ParamKind.INTEGER_LIST,
    "float-list": types.ParamKind.FLOAT_LIST,
    "text-list": types.ParamKind.TEXT_LIST,
}

_VALUE = {
    "boolean": types.Value_Boolean,
    "integer": types.Value_Integer,
    "float": types.Value_Float,
    "text": types.Value_Text,
    "choice": types.Value_Text,
    "integer-list": types.Value_IntegerList,
    "float-list": types.Value_FloatList,
    "text-list": types.Value_TextList,
}

# Bytes buffered before a write crosses to the host.
_WRITE_BUFFER = 64 * 1024


class _Input(io.RawIOBase):
    """A WIT reader as a raw binary stream (the host's fixed-size chunks)."""

    def __init__(self, reader: streams.Reader):
        self._reader = reader
        self._chunk = b""
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._pos == len(self._chunk) and not self._eof:
            self._chunk, self._pos = self._reader.read(), 0
            self._eof = not self._chunk
        n = min(len(buf), len(self._chunk) - self._pos)
        buf[:n] = self._chunk[self._pos : self._pos + n]
        self._pos += n
        return n


class _Output(io.RawIOBase):
    """A WIT writer as a raw binary stream."""

    def __init__(self, writer: streams.Writer):
        self._writer = writer

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._writer.write(bytes(data))
        return len(data)


def _value(kind: str, v: Any) -> types.Value:
    return _VALUE[kind](list(v) if kind.endswith("-list") else v)


def _port_spec(name: str, p: Port) -> types.PortSpec:
    return types.PortSpec(name, p.format, p.doc, p.required)


def manifest(spec: StageSpec) -> types.Manifest:
    params = [
        types.ParamSpec(
            p.name,
            _KIND[p.kind],
            p.doc,
            None if p.default is None else _value(p.kind, p.default),
            p.min,
            p.max,
            list(p.choices),
        )
        for p in spec.params
    ]
    return types.Manifest(
        spec.name,
        spec.version,
        spec.description,
        params,
        [_port_spec(n, p) for n, p in spec.inputs],
        [_port_spec(n, p) for n, p in spec.outputs],
        [types.ErrorKindSpec(k, d) for k, d in spec.errors],
    )


def _arguments(
    spec: StageSpec, params: List[types.Param], inputs: List[streams.Reader]
) -> Dict[str, Any]:
    """The function's keyword arguments but the outputs: params and input readers."""
    args: Dict[str, Any] = {}
    for p in params:
        try:
            args[spec.param(p.name).arg] = p.value.value
        except KeyError:
            raise StageError("invalid-params", f"no param `{p.name}`") from None
    given = {r.port(): r for r in inputs}
    for name, port in spec.inputs:
        reader = given.get(name)
        if reader is None and port.required:
            raise StageError("missing-input", f"input `{name}` is not connected", port=name)
        args[name.replace("-", "_")] = (
            None if reader is None else io.BufferedReader(_Input(reader), streams.chunk_size())
        )
    return args


def _metric(name: str, v: Any) -> types.Metric:
    value, unit = v if isinstance(v, tuple) else (v, "")
    if isinstance(value, bool) or isinstance(value, int):
        mv: types.MetricValue = types.MetricValue_Integer(int(value))
    elif isinstance(value, float):
        mv = types.MetricValue_Float(value)
    else:
        mv = types.MetricValue_Text(str(value))
    return types.Metric(name, mv, unit)


def _stage_error(e: StageError) -> Err:
    return Err(types.StageError(e.kind, e.message, e.port, e.record))


def _decision(spec: StageSpec, d: Any) -> types.Decision:
    if isinstance(d, RetryWith):
        return types.Decision_RetryWith(
            [
                types.Param(spec.param(k).name, _value(spec.param(k).kind, v))
                for k, v in d.params.items()
            ]
        )
    simple = {
        "retry": types.Decision_Retry,
        "skip": types.Decision_Skip,
        "salvage": types.Decision_Salvage,
        "abort": types.Decision_Abort,
    }
    return simple[d]()


class Stage(exports.Stage):
    """The export: ``describe``, ``run`` and ``recover`` of the registered stage."""

    def describe(self) -> types.Manifest:
        return manifest(registered())

    def run(
        self,
        params: List[types.Param],
        inputs: List[streams.Reader],
        outputs: List[streams.Writer],
    ) -> types.Report:
        spec = registered()
        writers: List[io.BufferedWriter] = []
        try:
            args = _arguments(spec, params, inputs)
            for w in outputs:
                writers.append(io.BufferedWriter(_Output(w), _WRITE_BUFFER))
                args[w.port().replace("-", "_")] = writers[-1]
            metrics = spec.func(**args) or {}
            for w in writers:
                w.flush()
        except StageError as e:
            raise _stage_error(e) from None
        except (OSError, UnicodeDecodeError) as e:
            raise _stage_error(StageError("io", str(e))) from None
        return types.Report([_metric(k, v) for k, v in metrics.items()])

    def recover(self, error: types.StageError, attempt: int) -> types.Decision:
        spec = registered()
        if spec.recover_hook is None:
            return types.Decision_Abort()
        e = StageError(error.kind, error.message, error.port, error.record)
        return _decision(spec, spec.recover_hook(e, attempt))
