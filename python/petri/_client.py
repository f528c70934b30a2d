"""``petri.Client``: the same calls as :class:`petri.Local`, against a daemon
(``petri serve``) over its REST API (docs/server.md), in plain Python.

A pipeline is submitted as the same TOML text a local run would validate, and
its files are uploaded blobs named by the relative paths that text uses, so a
daemon run of a pipeline has the root of the same pipeline run locally.
"""

from __future__ import annotations

import hashlib
import json
import re
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from . import _toml
from ._petri import PetriError, ValidationError
from ._pipeline import FileArg, File, Pipeline, Stage, _py_name

FINAL = ("COMPLETED", "FAILED", "CANCELLED")
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


class RemoteRun:
    """A daemon run: its id, status and (once finished) its run record and outputs."""

    def __init__(self, client: Client, id: str, returns: Mapping[str, str]) -> None:
        self._client = client
        self.id = id
        self._returns = dict(returns)
        self.view: Dict[str, Any] = {}
        self._record: Optional[Dict[str, Any]] = None

    @property
    def status(self) -> str:
        return self.view.get("status", "PENDING")

    def refresh(self) -> RemoteRun:
        self.view = self._client._get(f"/v1/runs/{self.id}")
        return self

    def wait(self, poll: float = 0.5) -> RemoteRun:
        """Polls until the run is COMPLETED, FAILED or CANCELLED."""
        while self.refresh().status not in FINAL:
            time.sleep(poll)
        return self

    def cancel(self) -> None:
        self._client._post(f"/v1/runs/{self.id}/cancel", b"", "application/json")

    @property
    def record(self) -> Dict[str, Any]:
        """The run record (provenance), once the run has one."""
        if self._record is None:
            self._record = self._client._get(f"/v1/runs/{self.id}/provenance", format="json")
        return self._record

    @property
    def root(self) -> str:
        return self.record["root"]

    @property
    def stages(self) -> List[Dict[str, Any]]:
        return self.record["stages"]

    def export(self, dir: Union[str, "os.PathLike[str]"]) -> List[Dict[str, Any]]:
        """Downloads the outputs under ``dir`` as ``<sample>/<stage>/<port>.<format>``."""
        out = []
        for o in self._client._get(f"/v1/runs/{self.id}/outputs")["outputs"]:
            parts = [o["sample"], o["stage"], f"{o['port']}.{o['format']}"]
            if not all(_SAFE.match(p) and p not in (".", "..") for p in parts):
                raise PetriError(f"the daemon named an output {'/'.join(parts)!r}, not a safe relative path")
            body = self._client._request(f"/v1/artifacts/{o['sha256']}")
            if hashlib.sha256(body).hexdigest() != o["sha256"]:
                raise PetriError(f"artifact sha256:{o['sha256']} arrived with other bytes")
            target = Path(dir).joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            out.append({**o, "path": "/".join(parts)})
        return out

    def __repr__(self) -> str:
        return f"<petri daemon run {self.id} {self.status}>"


class Client:
    """A petri daemon at ``url`` (``http://host:port``), with an API ``token``.

    >>> lab = petri.Client("http://127.0.0.1:8080", token=os.environ["PETRI_TOKEN"])
    >>> run = lab.run(variants, reads="r1.fq.gz", mates="r2.fq.gz", reference="ref.fa")
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, path: str, data: Optional[bytes] = None, content_type: Optional[str] = None, **query: str) -> bytes:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as e:
            raise _api_error(e) from None

    def _get(self, path: str, **query: str) -> Any:
        return json.loads(self._request(path, **query))

    def _post(self, path: str, data: bytes, content_type: str) -> Any:
        return json.loads(self._request(path, data, content_type) or b"null")

    def _check_params(self, reference: str, params: Mapping[str, Any]) -> None:
        """The daemon checks params when a run is submitted (422 with every problem)."""

    def add_module(self, path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
        """Uploads a stage component (registered under its name when the token is an admin's)."""
        return self._post("/v1/modules", Path(path).read_bytes(), "application/wasm")

    def stage(self, reference: str, id: Optional[str] = None, policy: Optional[Mapping[str, Any]] = None, resources: Optional[Mapping[str, Any]] = None) -> Stage:
        """A handle on a module the daemon knows: a registered name or ``sha256:<hex>``."""
        modules = self._get("/v1/modules")
        digest = reference[len("sha256:"):] if reference.startswith("sha256:") else None
        found = [m for m in modules if m["sha256"] == digest or (digest is None and m["name"] == reference)]
        if not found:
            raise PetriError(f"the daemon at {self.url} has no module `{reference}` for this token")
        m = max(found, key=lambda m: m["uploaded_at"])  # a name: the latest upload
        manifest = {**m["manifest"], "sha256": m["sha256"]}
        cls = type(f"Stage_{_py_name(manifest['name'])}", (Stage,), {"__doc__": None, "__module__": "petri"})
        return cls(self, reference, manifest, id, policy, resources)

    def upload(self, path: Union[str, "os.PathLike[str]"]) -> str:
        """Uploads a file as a blob; returns its SHA-256."""
        return self._post("/v1/blobs", Path(path).read_bytes(), "application/octet-stream")["sha256"]

    def submit(self, pipeline: Pipeline, samples: Optional[List[Mapping[str, Any]]] = None, priority: str = "normal", **inputs: Optional[FileArg]) -> RemoteRun:
        """Uploads the files the pipeline names and submits it; returns at once."""
        from ._local import _sheet_text

        text = _toml.dumps(pipeline.document(inputs))
        named = [(i.path if isinstance(i, File) else os.fspath(i)) for i in inputs.values() if i is not None]
        body: Dict[str, Any] = {"pipeline": text, "priority": priority}
        if samples is not None:
            body["samples"] = _sheet_text(samples)
            body["samples_format"] = "tsv"
            names = set(pipeline.inputs)
            named += [os.fspath(v) for row in samples for k, v in row.items() if k in names and v]
        for rel in named:
            if os.path.isabs(rel):
                raise ValueError(f"{rel}: a daemon run names its files by relative paths (relative to the current directory)")
        body["files"] = {rel: self.upload(rel) for rel in dict.fromkeys(named)}
        accepted = self._post("/v1/runs", json.dumps(body).encode(), "application/json")
        return RemoteRun(self, accepted["id"], pipeline.returns)

    def run(self, pipeline: Pipeline, samples: Optional[List[Mapping[str, Any]]] = None, priority: str = "normal", **inputs: Optional[FileArg]) -> RemoteRun:
        """:meth:`submit`, then waits for the run to finish."""
        return self.submit(pipeline, samples, priority, **inputs).wait()

    def record(self, run: str) -> RemoteRun:
        """An earlier run of this daemon, by id."""
        return RemoteRun(self, run, {}).refresh()


def _api_error(e: urllib.error.HTTPError) -> PetriError:
    try:
        detail = json.loads(e.read())["error"]
    except (ValueError, KeyError, TypeError):
        return PetriError(f"HTTP {e.code} from {e.url}")
    if detail.get("problems"):
        err = ValidationError(detail["message"] + "".join(f"\n  {p}" for p in detail["problems"]))
        err.problems = detail["problems"]
        return err
    return PetriError(f"{detail['message']} (HTTP {e.code}, {detail['code']})")
