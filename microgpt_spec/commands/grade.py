"""Grade submissions: run the spec against each, in a sandboxed process, and score it.

    microgpt-spec grade alice.py bob/                 two submissions
    microgpt-spec grade submissions/ --out grades     a folder of submissions (+ gradebook.csv)
    microgpt-spec grade mine/ --area tokenizer        one area only
    microgpt-spec grade mine/ --rubric rubric.toml    points, policies and limits of your own

A submission is a .py file, or a folder holding one (backend.py, microgpt.py, submission.py,
a package with __init__.py, or a single .py file); it defines `Backend` (a subclass of
microgpt_spec.spec.contract.Backend). Each is run in a separate process with a time limit
per test and per submission, and a memory limit; submissions run in parallel, one per core.

Written per submission, in OUT/NAME/: report.json (every test), results.json (Gradescope's
format), table.txt, submission-output.txt (what it printed), grader.log. With several
submissions, OUT/gradebook.csv too. See docs/grading.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from microgpt_spec.cli import CommandError
from microgpt_spec.grading import RunOptions, SandboxUnavailable, SubmissionError, grade, prepare_sandbox
from microgpt_spec.grading.reports import (area_table, gradescope_results, problems_text, render_text,
                                           summary_table)
from microgpt_spec.grading.rubric import GRADABLE_AREAS, RubricError, load_rubric
from microgpt_spec.grading.failures import printable
from microgpt_spec.grading.sandbox import describe as describe_walls
from microgpt_spec.spec.profiles import PROFILE_NAMES


NAME = "grade"
HELP = "grade submissions against the spec (sandboxed, in parallel) and write reports"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                        help="a .py file, a folder holding one, or a folder of submissions")
    parser.add_argument("--rubric", type=Path, default=None, help="a rubric TOML file (default: 100 points, "
                        "see docs/grading.md)")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="output folder (default: grades)")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="submissions graded at once (default: cores)")
    parser.add_argument("--area", action="append", default=[], metavar="AREA",
                        help=f"grade only these areas (repeat or comma-separate): {', '.join(GRADABLE_AREAS)}")
    parser.add_argument("--test-timeout", type=float, default=None, metavar="S",
                        help="seconds the submission may take per test (default: the rubric's, 60)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="seconds for the whole submission (default: the rubric's, 900)")
    parser.add_argument("--memory", type=int, default=None, metavar="MB",
                        help="memory limit of the submission's process (default: the rubric's, 2048)")
    parser.add_argument("--output-kb", type=int, default=None, metavar="KB",
                        help="how much of the submission's printing is kept (default: the rubric's, 1000)")
    parser.add_argument("--profile", default="grade",
                        help="hypothesis profile: grade (default), or quick (a tenth of the examples)")
    parser.add_argument("--gradescope-results", type=Path, default=None, metavar="PATH",
                        help="also write the (single) submission's results.json here (for Gradescope)")
    parser.add_argument("--keep-privileges", action="store_true",
                        help="when run as root, do not give each worker a uid of its own (the kernel's "
                             "walls still apply)")
    parser.add_argument("--accept-weaker-sandbox", action="store_true",
                        help="grade even where none of the kernel's walls (Landlock, seccomp, namespaces) "
                             "can be raised: only inside a throw-away container")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the summary")


def run(args: argparse.Namespace) -> int:
    rubric, options = _settings(args)
    if args.gradescope_results and len(args.submissions) != 1:
        raise CommandError("--gradescope-results takes exactly one submission")

    try:
        options, walls = prepare_sandbox(options)
    except SandboxUnavailable as error:
        raise CommandError(f"grading refused: {error}") from None
    if not args.quiet:
        sys.stdout.write("sandbox of every submission:\n" + describe_walls(walls) + "\n")
    display = ProgressDisplay(quiet=args.quiet)
    try:
        with display:
            reports = grade(args.submissions, args.out, rubric, options, jobs=args.jobs, on_done=display.done,
                            on_skipped=show_skipped, on_progress=display.progress)
    except SubmissionError as error:
        raise CommandError(str(error)) from None
    if args.gradescope_results:
        if len(reports) != 1:
            raise CommandError(f"--gradescope-results needs one submission, found {len(reports)}")
        _write_json(args.gradescope_results, gradescope_results(reports[0]))
    if len(reports) > 1:
        sys.stdout.write(printable(render_text(summary_table(reports))))
    print(f"reports in {args.out}/")
    return 0


class ProgressDisplay:
    """On a terminal, a live line per submission being graded (its area, tests done of all);
    each finished submission's table printed above them. Elsewhere, only the tables."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live = sys.stdout.isatty() and not quiet
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), disable=not self.live)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "ProgressDisplay":
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.stop()

    def progress(self, name: str, done: int, total: int, area: str) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.bars.add_task(name, total=total or None)
        self.bars.update(self.tasks[name], completed=done, total=total or None,
                         description=printable(f"{name}: {area}" if area else name))

    def done(self, report) -> None:
        if name_task := self.tasks.pop(report.name, None):
            self.bars.remove_task(name_task)
        if not self.quiet:
            text = printable(render_text(area_table(report)) + problems_text(report))
            if self.live:
                self.bars.console.print(text, end="", highlight=False, markup=False)
            else:
                sys.stdout.write(text)
                sys.stdout.flush()


def show_skipped(skipped: list[tuple[str, str]]) -> None:
    for name, why in skipped:
        print(printable(f"skipped {name}: {why}"))


def _settings(args: argparse.Namespace):
    try:
        rubric = load_rubric(args.rubric)
    except RubricError as error:
        raise CommandError(str(error)) from None
    limits = rubric.limits
    changes = {"test_seconds": args.test_timeout, "submission_seconds": args.timeout,
               "memory_mb": args.memory, "output_bytes": args.output_kb * 1000 if args.output_kb else None}
    for key, value in changes.items():
        if value is not None and value <= 0:
            raise CommandError(f"--{key.replace('_', '-')} must be positive")
    limits = replace(limits, **{k: v for k, v in changes.items() if v is not None})
    areas = tuple(a.strip() for value in args.area for a in value.split(",") if a.strip())
    unknown = [a for a in areas if a not in GRADABLE_AREAS]
    if unknown:
        raise CommandError(f"--area: unknown area {unknown}; the areas are {', '.join(GRADABLE_AREAS)}")
    not_in_rubric = [a for a in areas if a not in rubric.points]
    if not_in_rubric:
        raise CommandError(f"--area: {not_in_rubric} not in the rubric ({', '.join(rubric.points)})")
    if args.profile not in PROFILE_NAMES:
        raise CommandError(f"--profile: unknown profile {args.profile!r}; the profiles are {', '.join(PROFILE_NAMES)}")
    if args.jobs is not None and args.jobs < 1:
        raise CommandError("--jobs must be at least 1")
    options = RunOptions(limits=limits, areas=areas, profile=args.profile, separate_uid=not args.keep_privileges,
                         accept_weaker_sandbox=args.accept_weaker_sandbox)
    return rubric, options


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
