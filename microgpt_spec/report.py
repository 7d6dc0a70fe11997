"""Results per spec area: counting them, the end-of-run table, and the JSON export."""

from __future__ import annotations

import io
from collections import Counter, defaultdict

from rich.console import Console
from rich.table import Table

from microgpt_spec.spec.contract import AREA_DEPENDS_ON, AREAS, UNCOUNTED_AREAS

STATUSES = ("passed", "failed", "not implemented", "skipped")
MESSAGE_LIMIT = 4000
UNCOUNTED_NOTE = "beyond the reference: not counted"


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
    """Counts per area, and one record per spec test: its area, status and message (the
    spec's table and --spec-json; the grader adds what its link saw, grading/pytest_plugin.py).

    Beside the records: each test's `seconds` (kept apart, so that the records are the same
    whenever the behaviour is: serial or under -n, on a fast machine or a slow one), which
    other areas it runs code of (`uses`) and its rank for "where to start" (`order`: unit
    rules before end-to-end ones).
    """

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.tests: dict[str, dict] = {}
        self.seconds: dict[str, float] = {}
        self._uses: dict[str, tuple[str, ...]] = {}
        self._order: dict[str, tuple] = {}

    def record(self, report) -> None:
        props = dict(report.user_properties)
        if "spec_area" not in props:
            return
        area, status = props["spec_area"], props["spec_status"]
        if report.nodeid in self.tests:  # a setup error already counted this test
            return
        self.counts[area][status] += 1
        self.tests[report.nodeid] = {"area": area, "status": status, "message": props.get("spec_message", "")}
        self.seconds[report.nodeid] = round(report.duration, 3)
        self._uses[report.nodeid] = tuple(props.get("spec_uses", AREA_DEPENDS_ON.get(area, ())))
        self._order[report.nodeid] = tuple(props.get("spec_order", (1, 0)))

    def has_any(self) -> bool:
        return bool(self.tests)

    def areas(self) -> list[str]:
        ordered = [a for a in AREAS if a in self.counts]
        return ordered + sorted(a for a in self.counts if a not in AREAS)

    def verdict(self, area: str) -> str:
        c = self.counts.get(area, Counter())
        if c["failed"]:
            return "FAIL"
        if c["not implemented"] and not c["passed"]:
            return "not implemented"
        if c["not implemented"]:
            return "partly implemented"
        if c["passed"]:
            return "PASS"
        return "skipped"

    @staticmethod
    def counted(area: str) -> bool:
        """Does this area count in verdicts and grades? (`robustness` does not.)"""
        return area not in UNCOUNTED_AREAS

    def failed_tests(self, area: str) -> list[str]:
        return [n for n, t in self.tests.items() if t["area"] == area and t["status"] == "failed"]

    def advice(self, area: str) -> str:
        """Point a learner at an earlier area to fix first: one that FAILED and that a failing
        test of this area really runs code of (not an area merely not implemented yet)."""
        if self.verdict(area) != "FAIL":
            return UNCOUNTED_NOTE if not self.counted(area) else ""
        used = {a for nodeid in self.failed_tests(area) for a in self._uses.get(nodeid, ())}
        broken = [a for a in AREAS if a in used and a != area and self.verdict(a) == "FAIL"]
        notes = [f"uses {', '.join(broken)}: fix that first"] if broken else []
        if not self.counted(area):
            notes.append(UNCOUNTED_NOTE)
        return "; ".join(notes)

    def start_here(self, area: str) -> str | None:
        """The failing test of `area` to read first: the most specific rule (a unit rule
        before the end-to-end ones), or None when nothing failed."""
        failed = self.failed_tests(area)
        if not failed:
            return None
        return min(failed, key=lambda nodeid: (self._order.get(nodeid, (1, 0)), nodeid))

    def write_next(self, area: str) -> str | None:
        """What to write next for an area with parts not implemented: the message of its
        first such test (unit rules first), e.g. "ops: Value.__init__: store data, ...";
        None when nothing is missing."""
        waiting = [n for n, t in self.tests.items() if t["area"] == area and t["status"] == "not implemented"]
        if not waiting:
            return None
        first = min(waiting, key=lambda nodeid: (self._order.get(nodeid, (1, 0)), nodeid))
        return self.headline(first).removeprefix("not implemented:").strip() or "a part of the contract"

    def waiting_count(self, area: str) -> int:
        return self.counts[area]["not implemented"]

    def headline(self, nodeid: str) -> str:
        message = self.tests[nodeid]["message"].strip()
        return message.splitlines()[0] if message else ""

    def only_uncounted_failed(self) -> bool:
        """True when every failed test belongs to an area that counts in no verdict."""
        failed = [t for t in self.tests.values() if t["status"] == "failed"]
        return bool(failed) and all(not self.counted(t["area"]) for t in failed)

    def as_json(self, title: str) -> dict:
        areas = {}
        for a in self.areas():
            start = self.start_here(a)
            areas[a] = {**{s: self.counts[a][s] for s in STATUSES}, "verdict": self.verdict(a),
                        "counted": self.counted(a), "note": self.advice(a), "write_next": self.write_next(a),
                        "start_here": None if start is None else {"test": start, "headline": self.headline(start)}}
        return {
            "backend": title,
            "areas": areas,
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
        style = styles.get(verdict) if results.counted(area) else "dim"  # uncounted: never a red FAIL
        shown = f"[{style}]{verdict}[/]" if style else verdict
        table.add_row(area, *counts, shown, "; ".join(filter(None, [_write_next_note(results, area),
                                                                     results.advice(area)])))
    return table


def short_name(what: str) -> str:
    """The part's name alone: "ops: Value.__init__: store data, ..." -> "Value.__init__"."""
    parts = [p.strip() for p in what.split(": ")]
    if len(parts) > 1 and parts[0] in AREAS + ("robustness", "crosscheck"):
        parts = parts[1:]
    return parts[0]


def _write_next_note(results: Results, area: str) -> str:
    what = results.write_next(area)
    return f"write next: {short_name(what)}" if what else ""


def write_next_lines(results: Results) -> list[str]:
    """One line per area with parts not implemented (never one per test): what to write."""
    lines = []
    for area in results.areas():
        what = results.write_next(area)
        if what is not None:
            waiting = results.waiting_count(area)
            lines.append(f"write next for {area}: {what} ({waiting} test{'s' * (waiting != 1)} wait for "
                         "parts not written; -v lists them)")
    return lines


def start_here_lines(results: Results) -> list[str]:
    """One line per failing area: the test to read first, and what it says."""
    lines = []
    for area in results.areas():
        nodeid = results.start_here(area)
        if nodeid is not None:
            name = nodeid.split("::", 1)[-1]
            lines.append(f"start here for {area}: {name}: {results.headline(nodeid)}")
    return lines


def write_table(terminalreporter, results: Results, title: str) -> None:
    markup = bool(getattr(terminalreporter._tw, "hasmarkup", False))
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=markup, no_color=not markup,
                      width=max(100, terminalreporter._tw.fullwidth), highlight=False)
    console.print(build_table(results, title))
    terminalreporter.write_sep("=", "microgpt-spec results by area")
    terminalreporter.write(buffer.getvalue())
    for line in start_here_lines(results) + write_next_lines(results):
        terminalreporter.write_line(line)
    if results.only_uncounted_failed():
        terminalreporter.write_line(
            f"only areas beyond the reference ({', '.join(UNCOUNTED_AREAS)}) failed: they count in no "
            "verdict, so the run passes")
