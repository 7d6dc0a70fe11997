"""A conformance run of one backend in a process of its own, read back from its JSON
report: how the project's own tests hold the spec up against mistaken backends and scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]


def spec_run(backend: str, out: Path, areas: Sequence[str] = (), *extra: str, profile: str = "ci") -> dict:
    """The report of `pytest conformance --backend=BACKEND` over `areas` (all when empty), with
    the run's printed output under "stdout" and its exit status under "exit"."""
    command = [sys.executable, "-m", "pytest", str(REPO / "conformance"), f"--backend={backend}",
               f"--hypothesis-profile={profile}", f"--spec-json={out}", "-q", "-p", "no:cacheprovider",
               "-p", "no:xdist", *([f"--area={','.join(areas)}"] if areas else []), *extra]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    if not out.exists():
        pytest.fail(f"the conformance run wrote no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    report = json.loads(out.read_text())
    report["stdout"], report["exit"] = done.stdout, done.returncode
    return report
