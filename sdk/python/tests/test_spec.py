"""petri_stage natively: the manifest @stage reads from a signature."""

from typing import Annotated, List

import pytest

import petri_stage._spec as spec
from petri_stage import Param, Port, RetryWith, StageError, registered, stage


@pytest.fixture(autouse=True)
def fresh_registry():
    spec._REGISTRY.clear()
    yield
    spec._REGISTRY.clear()


def test_params_come_from_hints_and_defaults():
    @stage(name="demo", version="1.0.0", inputs={"reads": "fastq"}, outputs={"out-table": "tsv"})
    def demo(
        reads,
        out_table,
        min_qual: Annotated[int, Param("Lowest quality", min=0, max=93)],
        fraction: float = 0.5,
        strict: bool = False,
        label: str = "x",
        mode: Annotated[str, Param("How", choices=("fast", "exact"))] = "fast",
        sizes: List[int] = [1, 2],  # noqa: B006
        names: list[str] = [],  # noqa: B006
    ):
        """Does a demo."""

    got = [(p.name, p.kind, p.default) for p in demo.params]
    assert got == [
        ("min-qual", "integer", None),
        ("fraction", "float", 0.5),
        ("strict", "boolean", False),
        ("label", "text", "x"),
        ("mode", "choice", "fast"),
        ("sizes", "integer-list", [1, 2]),
        ("names", "text-list", []),
    ]
    assert (demo.param("min_qual").min, demo.param("min-qual").max) == (0, 93)
    assert demo.param("mode").choices == ("fast", "exact")
    assert demo.description == "Does a demo."
    assert demo.outputs == [("out-table", Port("tsv"))]
    assert registered() is demo


def test_the_sdk_error_kinds_are_declared_unless_the_stage_did():
    @stage(name="e", version="1", inputs={}, outputs={"o": "txt"}, errors={"io": "mine"})
    def e(o):
        pass

    kinds = dict(e.errors)
    assert kinds["io"] == "mine"
    assert set(kinds) == {"io", "invalid-params", "missing-input"}


def test_misuse_is_named():
    with pytest.raises(TypeError, match="port"):
        stage(name="a", version="1", inputs={"reads": "fastq"}, outputs={})(lambda out: None)
    with pytest.raises(TypeError, match="`window`"):

        @stage(name="b", version="1", inputs={}, outputs={"o": "txt"})
        def b(o, window: dict = {}):  # noqa: B006
            pass

    with pytest.raises(TypeError, match="choices need a str"):

        @stage(name="c", version="1", inputs={}, outputs={"o": "txt"})
        def c(o, n: Annotated[int, Param("n", choices=("1",))] = 1):
            pass


def test_one_stage_per_component():
    with pytest.raises(RuntimeError, match="0 are defined"):
        registered()


def test_the_function_stays_callable_and_recover_defaults_to_none():
    @stage(name="d", version="1", inputs={}, outputs={"o": "txt"})
    def d(o, n: int = 2):
        return {"n": n}

    assert d(None) == {"n": 2}
    assert d.recover_hook is None

    @d.recover
    def hook(error: StageError, attempt: int):
        return RetryWith({"n": 1}) if attempt == 1 else "abort"

    assert d.recover_hook(StageError("io", "x"), 1) == RetryWith({"n": 1})
    assert str(StageError("io", "broken", port="o", record=3)) == "io: broken"
