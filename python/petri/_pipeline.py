"""Pipelines as Python functions: stage handles, the DAG their calls record,
and its compilation to the pipeline TOML the CLI reads.

Calling a stage handle does not run anything: it records a node. Inside a
function decorated with :func:`pipeline` the nodes form a DAG, which
:meth:`Pipeline.to_toml` writes as a pipeline file. petri validates and runs
that exact text, so a pipeline defined in Python has the same provenance and
cache keys as the same pipeline written in TOML.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from . import _petri, _toml

ValidationError = _petri.ValidationError

_TRACE: contextvars.ContextVar[Optional[_Trace]] = contextvars.ContextVar("petri_trace", default=None)


def _py_name(name: str) -> str:
    """A manifest name (``quality-cutoff``) as a Python keyword (``quality_cutoff``)."""
    return name.replace("-", "_")


class Input:
    """A pipeline input (an argument of a ``@pipeline`` function)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def ref(self) -> str:
        return f"inputs.{self.name}"

    def __repr__(self) -> str:
        return f"<petri input {self.name}>"


class Output:
    """One output port of a recorded stage call: wire it into another stage's input."""

    def __init__(self, node: Node, port: str) -> None:
        self.node = node
        self.port = port

    @property
    def ref(self) -> str:
        return f"{self.node.id}.{self.port}"

    def __repr__(self) -> str:
        return f"<petri output {self.ref}>"


class Node:
    """A recorded stage call. ``node.<port>`` (or ``node["port"]``) is an :class:`Output`."""

    def __init__(self, stage: Stage, id: str, params: Dict[str, Any], inputs: Dict[str, str]) -> None:
        self.stage = stage
        self.id = id
        self.params = params
        self.inputs = inputs

    def __getitem__(self, port: str) -> Output:
        ports = [p["name"] for p in self.stage.manifest["outputs"]]
        if port not in ports:
            raise KeyError(f"`{self.stage.name}` has no output `{port}` (outputs: {', '.join(ports)})")
        return Output(self, port)

    def __getattr__(self, attr: str) -> Output:
        if attr.startswith("__"):
            raise AttributeError(attr)
        ports = {_py_name(p["name"]): p["name"] for p in self.stage.manifest["outputs"]}
        if attr not in ports:
            raise AttributeError(f"`{self.stage.name}` has no output `{attr}` (outputs: {', '.join(ports)})")
        return Output(self, ports[attr])

    def table(self) -> Dict[str, Any]:
        """The ``[stages.<id>]`` table of this call."""
        table: Dict[str, Any] = {"module": self.stage.reference}
        if self.params:
            table["params"] = dict(self.params)
        if self.inputs:
            table["inputs"] = dict(self.inputs)
        if self.stage.policy:
            table["policy"] = dict(self.stage.policy)
        if self.stage.resources:
            table["resources"] = dict(self.stage.resources)
        return table

    def __repr__(self) -> str:
        return f"<petri stage call {self.id} ({self.stage.name})>"


def _describe(manifest: Mapping[str, Any]) -> str:
    """The manifest as a docstring: what ``help(stage)`` shows."""
    lines = [f"{manifest['name']} {manifest['version']}: {manifest['description']}", ""]

    def section(title: str, items: List[Mapping[str, Any]], fmt: Callable[[Mapping[str, Any]], str]) -> None:
        if items:
            lines.append(title)
            lines.extend(f"    {fmt(item)}" for item in items)
            lines.append("")

    def param(p: Mapping[str, Any]) -> str:
        kind = p["kind"].lower()
        number = int if kind.startswith("integer") else float
        text = f"{_py_name(p['name'])} ({kind}"
        if p.get("default") is not None:
            text += f", default {_plain(p['default'])}"
        else:
            text += ", required"
        if p.get("min") is not None or p.get("max") is not None:
            low, high = (("" if b is None else number(b)) for b in (p.get("min"), p.get("max")))
            text += f", range {low}..{high}"
        if p.get("choices"):
            text += f", one of {', '.join(p['choices'])}"
        return text + f"): {p['doc']}"

    def port(p: Mapping[str, Any]) -> str:
        need = "" if p.get("required", True) else ", optional"
        return f"{_py_name(p['name'])} ({p['format']}{need}): {p['doc']}"

    section("Params (keyword arguments):", manifest["params"], param)
    section("Inputs (keyword arguments: a pipeline input or another stage's output):", manifest["inputs"], port)
    section("Outputs (attributes of the call's result):", manifest["outputs"], port)
    section("Errors:", manifest.get("errors", []), lambda e: f"{e['name']}: {e['doc']}")
    lines.append(f"module sha256:{manifest['sha256']}")
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """A WIT value as the manifest serialises it (``{"integer": 20}``) as plain data."""
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value.values()))
    return value


class Stage:
    """A stage from a data dir's registry, carrying its manifest.

    Call it with keyword arguments (params and inputs, ``-`` in names written
    as ``_``) to record a stage call; params are checked with petri's own
    rules at once, and a problem raises :class:`petri.ValidationError`.
    """

    def __init__(
        self,
        lab: Any,
        reference: str,
        manifest: Mapping[str, Any],
        id: Optional[str] = None,
        policy: Optional[Mapping[str, Any]] = None,
        resources: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.lab = lab
        self.reference = reference
        self.manifest = dict(manifest)
        self.name: str = manifest["name"]
        self.version: str = manifest["version"]
        self.id = id or reference
        self.policy = dict(policy or {})
        self.resources = dict(resources or {})
        self.__doc__ = _describe(manifest)
        names = [p["name"] for p in manifest["params"]] + [p["name"] for p in manifest["inputs"]]
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(_py_name(n), inspect.Parameter.KEYWORD_ONLY) for n in names]
        )

    def with_options(
        self,
        id: Optional[str] = None,
        policy: Optional[Mapping[str, Any]] = None,
        resources: Optional[Mapping[str, Any]] = None,
    ) -> Stage:
        """The same stage under another id, policy or resources (``[stages.<id>]``)."""
        return type(self)(
            self.lab,
            self.reference,
            self.manifest,
            id or self.id,
            self.policy if policy is None else policy,
            self.resources if resources is None else resources,
        )

    def __call__(self, **kwargs: Any) -> Node:
        params, inputs, problems = self._split(kwargs)
        try:
            self.lab._check_params(self.reference, params)
        except ValidationError as e:
            problems += e.problems
        if problems:
            raise _problems(f"the call of `{self.name}`", problems)
        trace = _TRACE.get()
        node_id = trace.unique_id(self.id) if trace is not None else self.id
        node = Node(self, node_id, params, inputs)
        if trace is not None:
            trace.nodes.append(node)
        return node

    def _split(self, kwargs: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, str], List[Dict[str, str]]]:
        param_names = {_py_name(p["name"]): p["name"] for p in self.manifest["params"]}
        param_names.update({p["name"]: p["name"] for p in self.manifest["params"]})
        ports = {_py_name(p["name"]): p for p in self.manifest["inputs"]}
        ports.update({p["name"]: p for p in self.manifest["inputs"]})
        params: Dict[str, Any] = {}
        inputs: Dict[str, str] = {}
        problems: List[Dict[str, str]] = []
        for given, v in kwargs.items():
            if given in ports:
                port = ports[given]["name"]
                if isinstance(v, (Input, Output)):
                    inputs[port] = v.ref
                else:
                    problems.append({"input": port, "problem": f"expected a pipeline input or a stage output, got {type(v).__name__}"})
            elif given in param_names:
                params[param_names[given]] = v
            else:
                problems.append({"param": given, "problem": f"`{self.name}` has no param or input of this name"})
        for p in self.manifest["inputs"]:
            given = p["name"] in kwargs or _py_name(p["name"]) in kwargs
            if p.get("required", True) and not given:
                problems.append({"input": p["name"], "problem": "required input not given"})
        return params, inputs, problems

    def __repr__(self) -> str:
        return f"<petri stage {self.name} {self.version} as `{self.id}`>"


def _problems(what: str, problems: List[Dict[str, str]]) -> ValidationError:
    def line(p: Dict[str, str]) -> str:
        kind = "param" if "param" in p else "input"
        return f"{kind} `{p[kind]}`: {p['problem']}"

    err = ValidationError(f"{len(problems)} problem(s) in {what}" + "".join(f"\n  {line(p)}" for p in problems))
    err.problems = problems
    return err


class _Trace:
    def __init__(self) -> None:
        self.nodes: List[Node] = []

    def unique_id(self, base: str) -> str:
        taken = {n.id for n in self.nodes}
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"


Returned = Union[None, Output, Tuple[Output, ...], Mapping[str, Output]]
FileArg = Union[str, "os.PathLike[str]", "File"]


class File:
    """A pipeline input file with an optional format and expected SHA-256."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], format: Optional[str] = None, sha256: Optional[str] = None) -> None:
        self.path = os.fspath(path)
        self.format = format
        self.sha256 = sha256

    def table(self) -> Dict[str, str]:
        table = {"path": self.path}
        if self.format:
            table["format"] = self.format
        if self.sha256:
            table["sha256"] = self.sha256
        return table


class Pipeline:
    """A pipeline: the DAG of a ``@pipeline`` function, or one read from TOML."""

    def __init__(self, name: str, description: str, inputs: List[str], stages: Dict[str, Dict[str, Any]], returns: Dict[str, str], defaults: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
        self.name = name
        self.description = description
        self.inputs = inputs
        self.stages = stages
        self.returns = returns
        self.defaults = defaults or {}
        self.sweep_table: Optional[Dict[str, Any]] = None

    @classmethod
    def from_function(cls, fn: Callable[..., Returned]) -> Pipeline:
        names = list(inspect.signature(fn).parameters)
        trace = _Trace()
        token = _TRACE.set(trace)
        try:
            returned = fn(*[Input(n) for n in names])
        finally:
            _TRACE.reset(token)
        doc = inspect.getdoc(fn) or ""
        stages = {n.id: n.table() for n in trace.nodes}
        return cls(fn.__name__.replace("_", "-"), doc.split("\n\n")[0].replace("\n", " "), names, stages, _returns(returned))

    @classmethod
    def from_toml(cls, text: str) -> Pipeline:
        """A pipeline read from TOML text (parsed by petri's own TOML parser)."""
        doc = _petri.toml_to_data(text)
        meta = doc.get("pipeline", {})
        decls = doc.get("inputs", {})
        defaults = {name: d for name, d in decls.items() if d}
        pipeline = cls(meta.get("name", ""), meta.get("description", ""), list(decls), doc.get("stages", {}), {}, defaults)
        pipeline.sweep_table = doc.get("sweep")
        return pipeline

    def document(self, inputs: Mapping[str, Optional[FileArg]] = {}, sweep: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """The pipeline file as a dict (what :meth:`to_toml` writes)."""
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            raise TypeError(f"pipeline `{self.name}` has no input {', '.join(unknown)} (inputs: {', '.join(self.inputs)})")
        meta = {"name": self.name}
        if self.description:
            meta["description"] = self.description
        decls: Dict[str, Any] = {}
        for name in self.inputs:
            given = inputs.get(name)
            if given is None:
                decls[name] = dict(self.defaults.get(name, {}))
            else:
                decls[name] = (given if isinstance(given, File) else File(given)).table()
        doc: Dict[str, Any] = {
            "pipeline": meta,
            "inputs": _sorted(decls, _ordered(["path", "format", "sha256"])),
            "stages": _sorted(self.stages, _ordered(["module", "params", "inputs", "policy", "resources"])),
        }
        sweep = sweep if sweep is not None else self.sweep_table
        if sweep:
            doc["sweep"] = {k: _sorted(v) if k == "axes" else v for k, v in sweep.items()}
        return doc

    def to_toml(self, **inputs: Optional[FileArg]) -> str:
        """The pipeline file petri validates and runs, in canonical form
        (stages, inputs and params sorted by name): one DAG, one text, one
        digest. Inputs given here get a ``path`` (relative paths resolve
        against the file's directory); the others are read from a sample
        sheet's columns. ``Pipeline.from_toml(p.to_toml()).to_toml() == p.to_toml()``."""
        return _toml.dumps(self.document(inputs))

    def __repr__(self) -> str:
        return f"<petri pipeline {self.name}: {', '.join(self.stages)}>"


def _ordered(keys: List[str]) -> Callable[[Mapping[str, Any]], Dict[str, Any]]:
    """Puts a table's known keys in this order, the rest after them sorted;
    nested tables (params, inputs…) are sorted."""

    def order(table: Mapping[str, Any]) -> Dict[str, Any]:
        rank = {k: (keys.index(k) if k in keys else len(keys), k) for k in table}
        return {k: _sorted(v) if isinstance(v, Mapping) else v for k, v in sorted(table.items(), key=lambda kv: rank[kv[0]])}

    return order


def _sorted(table: Mapping[str, Any], each: Optional[Callable[[Mapping[str, Any]], Any]] = None) -> Dict[str, Any]:
    """``table`` with its keys sorted (and ``each`` applied to its values):
    the canonical form, so one DAG always gives one text whatever the order
    its calls or a parsed file listed it in."""
    return {k: each(table[k]) if each else table[k] for k in sorted(table)}


def _returns(returned: Returned) -> Dict[str, str]:
    if returned is None:
        return {}
    if isinstance(returned, Output):
        return {returned.port: returned.ref}
    if isinstance(returned, Mapping):
        return {k: v.ref for k, v in returned.items()}
    if isinstance(returned, tuple):
        return {o.port: o.ref for o in returned}
    raise TypeError(f"a pipeline returns outputs (one, a tuple or a dict of them), not {type(returned).__name__}")


def pipeline(fn: Callable[..., Returned]) -> Pipeline:
    """Turns a function of pipeline inputs into a :class:`Pipeline`.

    The function runs once, at decoration: each stage call inside it records a
    node, wired by the outputs passed between calls. What it returns names the
    run's main outputs (``run.outputs[<port>]``).
    """
    return functools.update_wrapper(Pipeline.from_function(fn), fn, updated=())
