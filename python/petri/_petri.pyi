"""Type stubs of the native module ``petri._petri`` (python/src/)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Tuple, Union

__version__: str

class PetriError(Exception):
    """Something stopped petri around a run (I/O, store, a module that cannot load)."""

class ValidationError(PetriError):
    """petri's own checks refused a pipeline or params."""

    problems: List[Dict[str, Any]]
    """Every problem: ``{"param", "problem"}`` for params; ``{"file", "line",
    "column", "message", "hint"}`` for a pipeline or sample sheet."""

_Path = Union[str, "PathLike[str]"]
_Sheet = Optional[Tuple[_Path, str]]

class Lab:
    """A data dir opened in this process (what ``petri.Local`` wraps)."""

    def __init__(self, data_dir: _Path, database: Optional[str] = None) -> None: ...
    @property
    def data_dir(self) -> str: ...
    def manifest(self, reference: str) -> Dict[str, Any]: ...
    def check_params(self, reference: str, params: Dict[str, Any]) -> Dict[str, Any]: ...
    def validate(self, text: str, path: _Path, sheet: _Sheet = None) -> Dict[str, Any]: ...
    def run(self, text: str, path: _Path, sheet: _Sheet = None, no_cache: bool = False, progress: bool = True) -> Dict[str, Any]: ...
    def record(self, run: str) -> Dict[str, Any]: ...
    def stage_records(self, run: str) -> List[Dict[str, Any]]: ...
    def verify(self, run: str) -> List[Dict[str, Any]]: ...
    def export(self, run: str, dir: _Path) -> List[Dict[str, Any]]: ...
    def results(self, run: str, metrics: List[str] = ...) -> List[Dict[str, Any]]: ...

def toml_to_data(text: str) -> Dict[str, Any]:
    """TOML text as dicts and lists (petri's own TOML parser)."""
