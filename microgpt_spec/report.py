"""Results per spec area: counting them, the end-of-run table, and the JSON export."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from microgpt_spec.spec.contract import AREA_DEPENDS_ON, AREAS

STATUSES = ("passed", "failed", "not implemented", "skipped")
MESSAGE_LIMIT = 4000


def classify(report, call, not_implemented_type) -> str:
    """One word for how a spec test ended."""
    if report.passed:
        return "passed"
    if report.skipped:
        excinfo = call.excinfo
        if excinfo is not None and excinfo.errisinstance(not_implemented_type):
            return "not implemented"
        return "skipped"
    return "failed"


def message_of(call) -> str:
    """The explanation a failed or skipped test gave (the spec's message, not the traceback)."""
    if call.excinfo is None:
        return ""
    value = call.excinfo.value
    text = getattr(value, "msg", None) or str(value) or type(value).__name__
    if not isinstance(value, AssertionError) and not hasattr(value, "msg"):
        text = f"{type(value).__name__}: {text}"
    return text[:MESSAGE_LIMIT]


class Results:
    """Counts per area, and one record per spec test (for --spec-json)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.tests: dict[str, dict] = {}

    def record(self, report) -> None:
        props = dict(report.user_properties)
        if "spec_area" not in props:
            return
        area, status = props["spec_area"], props["spec_status"]
        if report.nodeid in self.tests:  # a setup error already counted this test
            return
        self.counts[area][status] += 1
        self.tests[report.nodeid] = {"area": area, "status": status, "message": props.get("spec_message", "")}

    def has_any(self) -> bool:
        return bool(self.tests)

    def areas(self) -> list[str]:
        ordered = [a for a in AREAS if a in self.counts]
        return ordered + sorted(a for a in self.counts if a not in AREAS)

    def verdict(self, area: str) -> str:
        c = self.counts[area]
        if c["failed"]:
            return "FAIL"
        if c["not implemented"] and not c["passed"]:
            return "not implemented"
        if c["not implemented"]:
            return "partly implemented"
        if c["passed"]:
            return "PASS"
        return "skipped"

    def advice(self, area: str) -> str:
        """Point a learner at the earlier area to fix first, when there is one."""
        if self.verdict(area) == "PASS":
            return ""
        broken = [a for a in AREA_DEPENDS_ON.get(area, ()) if self.verdict(a) not in ("PASS", "skipped")]
        return f"uses {', '.join(broken)}: fix that first" if broken else ""

    def as_json(self, title: str) -> dict:
        return {
            "backend": title,
            "areas": {a: {**{s: self.counts[a][s] for s in STATUSES}, "verdict": self.verdict(a)}
                      for a in self.areas()},
            "tests": [{"nodeid": nodeid, **record} for nodeid, record in sorted(self.tests.items())],
        }


def build_table(results: Results, title: str) -> Table:
    table = Table(caption=f"checked: {title}", caption_justify="left")
    table.add_column("area")
    for status in STATUSES:
        table.add_column(status, justify="right")
    table.add_column("verdict")
    table.add_column("note")
    styles = {"PASS": "green", "FAIL": "bold red", "not implemented": "yellow", "partly implemented": "yellow"}
    for area in results.areas():
        verdict = results.verdict(area)
        counts = [str(results.counts[area][s]) for s in STATUSES]
        table.add_row(area, *counts, f"[{styles.get(verdict, '')}]{verdict}[/]" if verdict in styles else verdict,
                      results.advice(area))
    return table


def write_table(terminalreporter, results: Results, title: str) -> None:
    markup = bool(getattr(terminalreporter._tw, "hasmarkup", False))
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=markup, no_color=not markup,
                      width=max(100, terminalreporter._tw.fullwidth), highlight=False)
    console.print(build_table(results, title))
    terminalreporter.write_sep("=", "microgpt-spec results by area")
    terminalreporter.write(buffer.getvalue())


def write_json_atomically(path: Path, document: dict) -> None:
    """Write then rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
