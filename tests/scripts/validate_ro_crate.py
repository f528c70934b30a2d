"""Validate a petri RO-Crate with roc-validator against the Workflow Run Crate 0.5 profile, offline.

The crate references the RO-Crate 1.1 JSON-LD context by URL, which the
validator would download. CI has no internet, so the check runs on a copy whose
@context is the local context shipped in the `rocrate` package, with the two
terms whose IRIs differ in RO-Crate 1.1 (bioschemas ComputationalWorkflow and
FormalParameter) mapped as 1.1 maps them. Usage: validate_ro_crate.py CRATE_DIR
Exit 0 when valid; otherwise prints every issue and exits 1.
"""

import importlib.resources
import json
import shutil
import sys
import tempfile
from pathlib import Path

from rocrate_validator import models, services

V11_TERMS = {
    "ComputationalWorkflow": "https://bioschemas.org/ComputationalWorkflow",
    "FormalParameter": "https://bioschemas.org/FormalParameter",
}


def main(crate: Path) -> int:
    context = json.loads(importlib.resources.files("rocrate").joinpath("data/ro-crate.jsonld").read_text())
    context = dict(context["@context"])
    context.update(V11_TERMS)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "crate"
        shutil.copytree(crate, copy)
        meta_path = copy / "ro-crate-metadata.json"
        meta = json.loads(meta_path.read_text())
        assert meta["@context"] == "https://w3id.org/ro/crate/1.1/context", meta["@context"]
        meta["@context"] = context
        meta_path.write_text(json.dumps(meta))
        settings = services.ValidationSettings(
            rocrate_uri=str(copy),
            profile_identifier="workflow-run-crate-0.5",
            requirement_severity=models.Severity.REQUIRED,
        )
        result = services.validate(settings)
        if not result.has_issues():
            print(f"{crate}: valid workflow-run-crate-0.5")
            return 0
        for issue in result.get_issues():
            print(f"{crate}: {issue.check.identifier}: {issue.message}")
        return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
