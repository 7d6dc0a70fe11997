"""Grading untrusted microgpt implementations against the spec.

    from microgpt_spec.grading import grade
    reports = grade([Path("submissions")], out=Path("grades"))

How it fits together (one submission):

    runner.py        a private work folder; `pytest --pyargs microgpt_spec.conformance` in it
      pytest_plugin.py   in that pytest: test boundaries, the results file
      remote.py          the backend the spec sees: every call forwarded to ...
        worker.py        ... a separate process that imported the submission,
        sandbox.py       confined by OS limits, an unprivileged user and an audit hook
        protocol.py      (the wire between them: length-prefixed JSON, never pickle)
    rubric.py        points per area, policies, default limits
    reports.py       scores, report.json, Gradescope's results.json, the table, the gradebook
    bundle.py        a Gradescope autograder zip

The spec, the oracle and pytest never run in the submission's process, so nothing the
submission does to its own interpreter changes how it is graded.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from microgpt_spec.grading.reports import SubmissionReport, score_run, write_gradebook, write_reports
from microgpt_spec.grading.rubric import Rubric
from microgpt_spec.grading.runner import (RunOptions, SubmissionError, expand_submissions, output_names,
                                          run_submission)

__all__ = ["RunOptions", "Rubric", "SubmissionError", "SubmissionReport", "grade", "grade_one"]


def grade_one(submission: Path, name: str, out: Path, rubric: Rubric, options: RunOptions) -> SubmissionReport:
    """Run, score and write the reports of one submission (in `out / name`)."""
    run = run_submission(submission, options)
    report = score_run(name, str(submission), run, rubric, options)
    write_reports(report, out / name)
    return report


def grade(
    paths: list[Path],
    out: Path,
    rubric: Rubric | None = None,
    options: RunOptions | None = None,
    jobs: int | None = None,
    on_done: Callable[[SubmissionReport], None] | None = None,
) -> list[SubmissionReport]:
    """Grade every submission named by `paths` (files, folders, folders of submissions),
    `jobs` at a time (default: one per core). Returns the reports in submission order."""
    rubric = rubric or Rubric()
    options = options or RunOptions(limits=rubric.limits)
    submissions, had_folder = expand_submissions(paths)
    names = output_names(submissions)
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(submissions)))

    def one(index: int) -> SubmissionReport:
        report = grade_one(submissions[index], names[index], out, rubric, options)
        if on_done is not None:
            on_done(report)
        return report

    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(one, range(len(submissions))))
    if had_folder or len(reports) > 1:
        write_gradebook(reports, out / "gradebook.csv")
    return reports
