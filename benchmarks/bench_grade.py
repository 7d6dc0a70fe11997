"""Grading throughput: N copies of the pure backend graded as submissions.

    python benchmarks/bench_grade.py                       # 20 copies, all areas, one job per core
    python benchmarks/bench_grade.py --copies 4 --jobs 2 --profile quick
    python benchmarks/bench_grade.py --json grade-bench.json

Each copy is `backends/pure/` in a folder of its own, graded exactly as a student's
submission is: the conformance suite in the `grade` profile, the submission in a
sandboxed worker process, reports written. The target (issue: the student stub and
grading) is under 20 s of CPU per submission on a 2-core machine.

CPU per submission is the CPU time of the grader's processes (its pytest and the
submission's worker) divided by the number of copies; the parent only waits.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]


def make_copies(folder: Path, count: int) -> list[Path]:
    source = REPO / "backends" / "pure"
    copies = []
    for i in range(1, count + 1):
        target = folder / f"pure-{i:02d}"
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(target)
    return copies


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None, help="submissions at once (default: cores)")
    parser.add_argument("--profile", default="grade")
    parser.add_argument("--area", action="append", default=[], help="grade only these areas")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from microgpt_spec.grading import RunOptions, grade
    from microgpt_spec.grading.rubric import Rubric

    jobs = args.jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as temp:
        folder = Path(temp)
        make_copies(folder / "submissions", args.copies)
        options = RunOptions(limits=Rubric().limits, areas=tuple(args.area), profile=args.profile)
        cpu_before, started = children_cpu(), time.perf_counter()
        reports = grade([folder / "submissions"], folder / "grades", options=options, jobs=jobs)
        wall = time.perf_counter() - started
        cpu = children_cpu() - cpu_before
    per_submission_wall = [r.timings["wall_seconds"] for r in reports]
    figures = {
        "copies": args.copies, "jobs": jobs, "profile": args.profile, "areas": args.area or "all",
        "wall_seconds": round(wall, 1), "cpu_seconds_per_submission": round(cpu / args.copies, 2),
        "wall_seconds_per_submission_median": round(statistics.median(per_submission_wall), 2),
        "wall_seconds_per_submission_max": round(max(per_submission_wall), 2),
        "scores": sorted({r.score for r in reports}), "max_score": reports[0].max_score,
        "problems": sum(len(r.problems) for r in reports), "cores": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2), "python": sys.version.split()[0],
    }
    table = Table(title=f"grading {args.copies} copies of the pure backend, {jobs} at a time "
                        f"({args.profile} profile)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    Console().print(table)
    for report in reports:  # a figure with failures in it measures something else: say what
        for problem in report.problems[:1]:
            print(f"{report.name}: {problem.splitlines()[0][:300]}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if figures["problems"] == 0 and figures["scores"] == [figures["max_score"]] else 1


if __name__ == "__main__":
    sys.exit(main())
