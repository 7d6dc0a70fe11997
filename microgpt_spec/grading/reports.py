"""Scores and reports: from one run's test results to what people read.

Per submission, in its output folder:

    report.json        every test (area, status, message), the score per area, the flags
    results.json       Gradescope's format: one test entry per area, markdown output
    table.txt          the terminal table, as text
    submission-output.txt   what the submission printed (cut off at the output limit)
    grader.log         pytest's own output of the run (for the instructor)

and for several submissions, `gradebook.csv` beside them. Everything but the `timings`
entries (and Gradescope's `execution_time`) is a function of the submission's behaviour:
grading it twice writes the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from microgpt_spec.files import write_atomically
from microgpt_spec.grading.rubric import Rubric
from microgpt_spec.grading.runner import RawRun, RunOptions, problems_of, rubric_summary

STATUSES = ("passed", "failed", "not implemented", "skipped")
SHOWN_FAILURES = 12
SHOWN_MESSAGE = 1500
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")


def normalize(text: str) -> str:
    """Messages without what changes from run to run (object addresses)."""
    return _ADDRESS.sub("0x…", text)


@dataclass
class AreaReport:
    area: str
    max_score: float
    score: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    verdict: str = "not checked"
    delegated: bool = False
    graded: bool = True
    failures: list[dict] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("passed", "failed", "not implemented"))


@dataclass
class SubmissionReport:
    name: str
    path: str
    rubric: Rubric
    backend: dict = field(default_factory=dict)
    areas: list[AreaReport] = field(default_factory=list)
    tests: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reference_events: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    restarts: int = 0
    walls: list[dict] = field(default_factory=list)
    profile: str = "grade"
    timings: dict = field(default_factory=dict)
    log: str = ""
    output: bytes = b""

    @property
    def score(self) -> float:
        return round(sum(a.score for a in self.areas), 2)

    @property
    def max_score(self) -> float:
        """The points of the areas graded in this run (all of the rubric's, unless --area)."""
        return round(sum(a.max_score for a in self.areas), 2)

    @property
    def delegated_areas(self) -> list[str]:
        return [a.area for a in self.areas if a.delegated]


# --------------------------------------------------------------------------- scoring
def score_run(name: str, path: str, run: RawRun, rubric: Rubric, options: RunOptions) -> SubmissionReport:
    """The report of one run under `rubric`."""
    tests = [_test_entry(nodeid, record) for nodeid, record in sorted(run.tests.items())]
    report = SubmissionReport(
        name=name, path=path, rubric=rubric, backend=run.session.get("backend") or {}, tests=tests,
        problems=[normalize(p) for p in problems_of(run)],
        reference_events=list(run.session.get("reference_events", ())),
        refused=[normalize(r) for r in run.session.get("refused", ())],
        restarts=int(run.session.get("restarts", 0)), walls=list(run.session.get("walls") or ()),
        profile=options.profile,
        timings={"wall_seconds": round(run.wall_seconds, 2),
                 "tests": {nodeid: record.get("seconds", 0.0) for nodeid, record in sorted(run.tests.items())}},
        log=run.log, output=run.output,
    )
    selected = set(options.areas) or set(rubric.points)
    report.areas = [_area_report(area, points, tests, rubric, True, report.problems)
                    for area, points in rubric.points.items() if area in selected]
    return report


def _test_entry(nodeid: str, record: dict) -> dict:
    return {"nodeid": nodeid, "area": record.get("area"), "status": record.get("status"),
            "message": normalize(record.get("message") or ""), "kind": record.get("kind"),
            "delegated": bool(record.get("delegated"))}


def _area_report(area: str, points: float, tests: list[dict], rubric: Rubric, graded: bool,
                 problems: list[str]) -> AreaReport:
    mine = [t for t in tests if t["area"] == area]
    counts = Counter(t["status"] for t in mine)
    report = AreaReport(area=area, max_score=points, counts={s: counts.get(s, 0) for s in STATUSES},
                        graded=graded, delegated=any(t["delegated"] for t in mine))
    report.failures = [t for t in mine if t["status"] in ("failed", "not implemented")]
    report.score = rubric.area_score(area, counts.get("passed", 0), report.counted, report.delegated) if graded else 0.0
    report.verdict = _verdict(report, rubric, problems)
    return report


def _verdict(report: AreaReport, rubric: Rubric, problems: list[str]) -> str:
    c = report.counts
    if not report.graded:
        return "not graded"
    if report.counted == 0:
        return "not checked" if problems else "no tests ran"
    if report.delegated and rubric.delegation == "no-credit":
        return "delegated: no credit"
    if c["failed"]:
        return "FAIL"
    if c["not implemented"]:
        return "partly implemented" if c["passed"] else "not implemented"
    return "PASS"


# --------------------------------------------------------------------------- report.json
def report_json(report: SubmissionReport) -> dict:
    return {
        "submission": report.path,
        "backend": report.backend,
        "score": report.score,
        "max_score": report.max_score,
        "areas": {a.area: {"score": a.score, "max_score": a.max_score, **a.counts, "verdict": a.verdict,
                           "delegated": a.delegated, "graded": a.graded} for a in report.areas},
        "problems": report.problems,
        "delegation": {"policy": report.rubric.delegation, "events": report.reference_events,
                       "areas": report.delegated_areas},
        "sandbox": {"walls": report.walls, "refused": report.refused},
        "worker_restarts": report.restarts,
        "hypothesis_profile": report.profile,
        "rubric": rubric_summary(report.rubric),
        "tests": report.tests,
        "timings": report.timings,
    }


# --------------------------------------------------------------------------- Gradescope
def gradescope_results(report: SubmissionReport) -> dict:
    """Gradescope's results.json: one test entry per rubric area, plus a top-level output."""
    tests = []
    for number, area in enumerate(report.areas, start=1):
        tests.append({
            "name": area.area, "number": str(number), "score": area.score, "max_score": area.max_score,
            "status": "passed" if area.graded and area.score >= area.max_score else "failed",
            "output": area_markdown(area, report), "output_format": "md",
            "visibility": report.rubric.visibility_of(area.area),
        })
    return {
        "score": report.score,
        "output": summary_markdown(report),
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "execution_time": report.timings.get("wall_seconds", 0.0),
        "tests": tests,
    }


def summary_markdown(report: SubmissionReport) -> str:
    backend = report.backend or {}
    lines = [f"**microgpt-spec: {_points(report.score)} / {_points(report.max_score)} points**", ""]
    if backend.get("name"):
        lines.append(f"Backend {_inline_code(backend.get('name'))} version {_inline_code(backend.get('version'))} "
                     f"({_inline_code(backend.get('precision'))}), checked with the `{report.profile}` profile.")
    if report.problems:
        lines += ["", "**The grader could not check everything:**", ""]
        lines += [_fenced(p) for p in report.problems]
    if report.reference_events:
        policy = ("those areas get no credit" if report.rubric.delegation == "no-credit"
                  else "the rubric allows it")
        areas = ", ".join(report.delegated_areas) or "none of the graded calls"
        lines += ["", f"**Uses the project's reference backends** ({'; '.join(report.reference_events[:5])}): "
                      f"delegated areas: {areas}; {policy}."]
    if report.refused:
        lines += ["", "**Refused by the grader's sandbox:** " + "; ".join(_inline_code(r) for r in report.refused[:5])]
    return "\n".join(lines).strip() + "\n"


def area_markdown(area: AreaReport, report: SubmissionReport) -> str:
    if not area.graded:
        return "Not graded in this run.\n"
    c = area.counts
    head = f"**{c['passed']} of {area.counted} tests passed**"
    extra = [f"{c[s]} {s}" for s in ("failed", "not implemented", "skipped") if c[s]]
    lines = [head + (f" ({', '.join(extra)})" if extra else "")]
    if area.counted == 0:
        lines = ["No test of this area ran." + (" See the summary above." if report.problems else "")]
    if area.delegated:
        lines.append("")
        lines.append("This area's calls ran the project's reference backend code"
                     + (": no credit." if report.rubric.delegation == "no-credit" else "."))
    for test in area.failures[:SHOWN_FAILURES]:
        lines += ["", f"`{short_name(test['nodeid'])}`: {test['status']}", _fenced(test["message"][:SHOWN_MESSAGE])]
    if len(area.failures) > SHOWN_FAILURES:  # named at least: students never see report.json
        rest = ", ".join(f"`{short_name(t['nodeid'])}` ({t['status']})" for t in area.failures[SHOWN_FAILURES:])
        lines += ["", f"Also not passed: {rest}."]
    return "\n".join(lines) + "\n"


def short_name(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1]


def _inline_code(value: object) -> str:
    """`value` as inline code that no text inside it can break out of (a name holding
    backticks or line breaks cannot forge a line of the report)."""
    text = " ".join(str(value).split())[:200]
    fence = "`"
    while fence in text:
        fence += "`"
    return f"{fence} {text} {fence}"


def _fenced(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _points(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


# --------------------------------------------------------------------------- terminal
def area_table(report: SubmissionReport) -> Table:
    table = Table(title=f"{report.name}: {_points(report.score)} / {_points(report.max_score)}",
                  title_justify="left")
    table.add_column("area")
    table.add_column("score", justify="right")
    for status in STATUSES:
        table.add_column(status, justify="right")
    table.add_column("verdict")
    for area in report.areas:
        table.add_row(area.area, f"{_points(area.score)}/{_points(area.max_score)}",
                      *(str(area.counts[s]) for s in STATUSES), area.verdict)
    return table


def render_text(renderable, width: int = 110) -> str:
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=False, no_color=True, width=width, highlight=False).print(renderable)
    return buffer.getvalue()


def problems_text(report: SubmissionReport) -> str:
    lines = [f"  problem: {p.splitlines()[0]}" for p in report.problems]
    if report.reference_events:
        lines.append(f"  uses reference backends: {'; '.join(report.reference_events[:3])} "
                     f"(delegated areas: {', '.join(report.delegated_areas) or 'none'})")
    if report.refused:
        lines.append(f"  sandbox refused: {'; '.join(report.refused[:3])}")
    return "\n".join(lines) + ("\n" if lines else "")


def summary_table(reports: list[SubmissionReport]) -> Table:
    """One row per submission: the total and the graded areas' scores."""
    table = Table(title="gradebook", title_justify="left")
    table.add_column("submission")
    table.add_column("total", justify="right")
    areas = [a.area for a in reports[0].areas if a.graded] if reports else []
    for area in areas:
        table.add_column(area, justify="right")
    table.add_column("flags")
    for report in reports:
        scores = {a.area: _points(a.score) for a in report.areas}
        table.add_row(report.name, f"{_points(report.score)}/{_points(report.max_score)}",
                      *(scores.get(a, "") for a in areas), flags_of(report))
    return table


def flags_of(report: SubmissionReport) -> str:
    flags = []
    if report.problems:
        flags.append(report.problems[0].splitlines()[0][:50])
    if report.reference_events:
        flags.append("uses reference backend")
    if report.refused:
        flags.append("sandbox refusals")
    return "; ".join(flags)


# --------------------------------------------------------------------------- files
def write_reports(report: SubmissionReport, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "report.json", json.dumps(report_json(report), indent=1, sort_keys=True) + "\n")
    _write(folder / "results.json", json.dumps(gradescope_results(report), indent=1, sort_keys=True) + "\n")
    _write(folder / "table.txt", render_text(area_table(report)) + problems_text(report))
    write_atomically(folder / "submission-output.txt", report.output)
    _write(folder / "grader.log", report.log)


def write_gradebook(reports: list[SubmissionReport], path: Path) -> None:
    areas = [a.area for a in reports[0].areas] if reports else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "path", "score", "max_score", *areas, "delegated_areas", "problems"])
    for report in sorted(reports, key=lambda r: r.name):
        scores = {a.area: a.score for a in report.areas}
        writer.writerow([report.name, report.path, report.score, report.max_score,
                         *(scores.get(a, "") for a in areas), " ".join(report.delegated_areas),
                         " | ".join(p.splitlines()[0] for p in report.problems)])
    _write(path, buffer.getvalue())


def write_skipped(skipped: list[tuple[str, str]], path: Path) -> None:
    """The entries of a folder of submissions that were not graded, and why."""
    if skipped:
        _write(path, "".join(f"{name}\t{why}\n" for name, why in skipped))
    else:
        path.unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    """Write atomically (a reader never sees half a report), whatever the text holds: bytes
    of the submission's that are not UTF-8 become backslash escapes."""
    write_atomically(path, text.encode("utf-8", "backslashreplace"))
