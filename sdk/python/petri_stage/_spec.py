"""The ``@stage`` decorator: a function's signature read into a manifest.

Everything here is plain Python (no WIT bindings), so a stage's manifest and
logic are unit-tested natively. Param names are the Python argument names in
kebab-case (``min_qual`` → ``min-qual``); ports are matched to arguments the
same way.
"""

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ._errors import SDK_ERROR_KINDS

# Python type → WIT param-kind name.
_KINDS = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "text",
    List[int]: "integer-list",
    List[float]: "float-list",
    List[str]: "text-list",
    list[int]: "integer-list",
    list[float]: "float-list",
    list[str]: "text-list",
}


@dataclass(frozen=True)
class Param:
    """What a type hint cannot say: ``Annotated[int, Param("doc", min=0)]``."""

    doc: str = ""
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Port:
    """A port with a doc or an optional input; a bare string is a required port of that format."""

    format: str
    doc: str = ""
    required: bool = True


@dataclass(frozen=True)
class RetryWith:
    """A ``recover`` decision: retry with these params (Python names or manifest names) replaced."""

    params: Dict[str, Any]


@dataclass
class ParamSpec:
    name: str
    arg: str
    kind: str
    doc: str
    default: Any
    min: Optional[float]
    max: Optional[float]
    choices: Tuple[str, ...]


@dataclass
class StageSpec:
    """A decorated stage: its manifest as plain data, its function and hooks."""

    name: str
    version: str
    description: str
    params: List[ParamSpec]
    inputs: List[Tuple[str, Port]]
    outputs: List[Tuple[str, Port]]
    errors: List[Tuple[str, str]]
    func: Callable[..., Any]
    recover_hook: Optional[Callable[..., Any]] = field(default=None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def recover(self, hook: Callable[..., Any]) -> Callable[..., Any]:
        """Decorates ``hook(error: StageError, attempt: int)`` as the recover hook.

        It returns ``"retry"``, ``"skip"``, ``"salvage"``, ``"abort"`` or a
        :class:`RetryWith`; without a hook every failure is ``"abort"``.
        """
        self.recover_hook = hook
        return hook

    def param(self, name: str) -> ParamSpec:
        """The param of manifest name (or Python argument name) ``name``."""
        for p in self.params:
            if name in (p.name, p.arg):
                return p
        raise KeyError(name)


_REGISTRY: List[StageSpec] = []


def registered() -> StageSpec:
    """The one stage this program defines (the component exports it)."""
    if len(_REGISTRY) != 1:
        raise RuntimeError(f"a component exports one @stage; {len(_REGISTRY)} are defined")
    return _REGISTRY[0]


def _kebab(arg: str) -> str:
    return arg.replace("_", "-")


def _port(spec: Union[str, Port]) -> Port:
    return spec if isinstance(spec, Port) else Port(spec)


def _param(arg: str, p: inspect.Parameter, hints: Dict[str, Any]) -> ParamSpec:
    hint = hints.get(arg)
    extra = Param()
    if typing.get_origin(hint) is typing.Annotated:
        hint, *meta = typing.get_args(hint)
        extra = next((m for m in meta if isinstance(m, Param)), extra)
    kind = _KINDS.get(hint)
    if kind is None:
        raise TypeError(
            f"param `{arg}`: type hint {hint!r} is not one of bool, int, float, str, "
            "list[int], list[float], list[str]"
        )
    if extra.choices:
        if kind != "text":
            raise TypeError(f"param `{arg}`: choices need a str param")
        kind = "choice"
    default = None if p.default is inspect.Parameter.empty else p.default
    return ParamSpec(
        _kebab(arg), arg, kind, extra.doc, default, extra.min, extra.max, tuple(extra.choices)
    )


def stage(
    *,
    name: str,
    version: str,
    inputs: Dict[str, Union[str, Port]],
    outputs: Dict[str, Union[str, Port]],
    description: str = "",
    errors: Optional[Dict[str, str]] = None,
) -> Callable[[Callable[..., Any]], StageSpec]:
    """Declares a stage: the function's port arguments are named like the
    ports, every other argument is a param typed by its hint."""

    def wrap(func: Callable[..., Any]) -> StageSpec:
        ports = {_kebab(p) for p in [*inputs, *outputs]}
        hints = typing.get_type_hints(func, include_extras=True)
        sig = inspect.signature(func)
        missing = ports - {_kebab(a) for a in sig.parameters}
        if missing:
            raise TypeError(f"{func.__name__} takes no argument for port(s) {sorted(missing)}")
        params = [
            _param(arg, p, hints) for arg, p in sig.parameters.items() if _kebab(arg) not in ports
        ]
        declared = dict(errors or {})
        for kind, doc in SDK_ERROR_KINDS:
            declared.setdefault(kind, doc)
        spec = StageSpec(
            name=name,
            version=version,
            description=description or (inspect.getdoc(func) or "").split("\n")[0],
            params=params,
            inputs=[(n, _port(p)) for n, p in inputs.items()],
            outputs=[(n, _port(p)) for n, p in outputs.items()],
            errors=list(declared.items()),
            func=func,
        )
        _REGISTRY.append(spec)
        return spec

    return wrap
