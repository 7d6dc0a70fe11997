"""Grading a batch of submissions: probe the sandbox, find the submissions, grade each in
parallel (one never hurting another), write the reports and the gradebook.

`microgpt_spec.grading` re-exports what is public here (`grade`, `prepare_sandbox` ...).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

from microgpt_spec.grading.reports import (SubmissionReport, score_run, write_gradebook, write_reports,
                                           write_skipped)
from microgpt_spec.grading.link import probe_walls
from microgpt_spec.grading.rubric import Rubric
from microgpt_spec.grading.sandbox import KERNEL_WALLS
from microgpt_spec.grading.sandbox import describe as describe_walls
from microgpt_spec.grading.runner import (RawRun, RunOptions, SubmissionError, expand_submissions, output_names,
                                          ProgressCallback, run_submission)
from microgpt_spec.grading.failures import printable


class SandboxUnavailable(Exception):
    """None of the kernel's walls can be raised here, and the weaker sandbox was not accepted."""


def prepare_sandbox(options: RunOptions) -> tuple[RunOptions, list[dict]]:
    """Probe the walls this machine offers; every worker will be required to raise them.
    Refuses (SandboxUnavailable) when no kernel wall comes up, unless the grader accepted
    the weaker sandbox."""
    walls = probe_walls(options.separate_uid)
    kernel_walls = tuple(w["name"] for w in walls if w["active"] and w["name"] in KERNEL_WALLS)
    if not kernel_walls and not options.accept_weaker_sandbox:
        raise SandboxUnavailable(
            "none of the kernel's walls (Landlock, seccomp, namespaces, dropped capabilities) can be "
            "raised on this machine, so a submission could reach the grader, the reference backends and "
            "other submissions:\n" + describe_walls(walls) + "\nUse Linux 5.13 or newer with Landlock "
            "enabled and the libseccomp2 package, or grade inside a throw-away container and pass "
            "--accept-weaker-sandbox. See docs/grading.md.")
    return replace(options, required_walls=kernel_walls), walls


def grade_one(submission: Path, name: str, out: Path, rubric: Rubric, options: RunOptions,
              exclude: tuple[Path, ...] = (), on_progress: ProgressCallback | None = None) -> SubmissionReport:
    """Run, score and write the reports of one submission (in `out / name`). Whatever goes
    wrong becomes this submission's failed report, never an error of the whole grade."""
    try:
        run = run_submission(submission, options, exclude, on_progress)
    except SubmissionError as error:
        run = RawRun(problems=[str(error)])
    except Exception as error:  # noqa: BLE001 - one submission must never stop the others
        run = RawRun(problems=[f"the grader failed on this submission: {type(error).__name__}: {error}"])
    report = score_run(name, printable(submission), run, rubric, options)
    write_reports(report, out / name)
    return report


def grade(
    paths: list[Path],
    out: Path,
    rubric: Rubric | None = None,
    options: RunOptions | None = None,
    jobs: int | None = None,
    on_done: Callable[[SubmissionReport], None] | None = None,
    on_skipped: Callable[[list[tuple[str, str]]], None] | None = None,
    on_progress: Callable[[str, int, int, str], None] | None = None,
) -> list[SubmissionReport]:
    """Grade every submission named by `paths` (files, folders, folders of submissions),
    `jobs` at a time (default: one per core). Returns the reports in submission order.
    Without `options.required_walls` set (see `prepare_sandbox`), probes the sandbox first.
    Entries of a folder that are not submissions are listed in OUT/skipped.txt."""
    rubric = rubric or Rubric()
    options = options or RunOptions(limits=rubric.limits)
    if options.required_walls is None:
        options, _ = prepare_sandbox(options)
    if not options.areas:  # run only what the rubric scores (robustness, say, only when it has points)
        options = replace(options, areas=tuple(rubric.points))
    found = expand_submissions(paths, out)
    names = output_names(found.submissions)
    out.mkdir(parents=True, exist_ok=True)
    write_skipped(found.skipped, out / "skipped.txt")
    if found.skipped and on_skipped is not None:
        on_skipped(found.skipped)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(found.submissions)))
    exclude = (out.resolve(),)

    def one(index: int) -> SubmissionReport:
        progress = None if on_progress is None else functools.partial(on_progress, names[index])
        report = grade_one(found.submissions[index], names[index], out, rubric, options, exclude, progress)
        if on_done is not None:
            on_done(report)
        return report

    with ThreadPoolExecutor(max_workers=workers) as pool:
        reports = list(pool.map(one, range(len(found.submissions))))
    if found.folder_of_submissions or len(reports) > 1:
        write_gradebook(reports, out / "gradebook.csv")
    return reports
