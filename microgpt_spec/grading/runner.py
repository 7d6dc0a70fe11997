"""Grade one submission: copy it aside, run the spec against it, score it.

For each submission the runner makes a private work folder (outside the submission and
outside the output folder) holding

    code/       a copy of the submission (plain files only: no symbolic links)
    sandbox/    the worker's working folder: the one place the submission may write
    grader/     the grader's pytest working folder, with an empty pytest.ini of its own
    config.json, results.json, output.txt (the submission's printing)

and runs `python -m pytest --pyargs microgpt_spec.conformance` in `grader/`, with the
backend `microgpt_spec.grading.remote:connect`. Nothing beside the submission (a
conftest.py, pytest.ini, pyproject.toml, .hypothesis/) is ever in pytest's way: pytest's
root, ini file and working folder are all the grader's own, and conftest files are
ignored. The work folder is removed at the end; what is kept goes to the output folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from microgpt_spec.grading.failures import printable
from microgpt_spec.grading.link import Limits, worker_environment
from microgpt_spec.programs import MANIFEST_NAME, ProgramError, read_manifest
from microgpt_spec.grading.remote import CONFIG_ENVIRONMENT
from microgpt_spec.grading.rubric import Rubric
from microgpt_spec.registry import names_a_backend

MAX_SUBMISSION_BYTES = 20 * 1024 * 1024
GRACE_SECONDS = 120  # beyond the submission's time limit, before the grader itself is stopped
LOG_TAIL = 4000
PYTEST_INI = "[pytest]\n# The grader's own, empty configuration: nothing of the submission's applies.\n"


@dataclass
class RunOptions:
    """How to run the spec: the areas, the limits, the hypothesis profile."""

    limits: Limits = Limits()
    areas: tuple[str, ...] = ()
    profile: str = "grade"
    separate_uid: bool = True  # as root: each worker under a uid of its own, where Python allows
    #: The walls every worker must raise (set from the probe by `prepare_sandbox`; None: probe first).
    required_walls: tuple[str, ...] | None = None
    accept_weaker_sandbox: bool = False  # grade even where no kernel wall can be raised


@dataclass
class RawRun:
    """What one run produced, before scoring."""

    tests: dict[str, dict] = field(default_factory=dict)
    session: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    log: str = ""
    output: bytes = b""


class SubmissionError(Exception):
    """The submission cannot be graded at all (not found, too big, not Python)."""


# --------------------------------------------------------------------------- finding submissions
#: Output names a submission's report folder may not take (the files beside them).
RESERVED_NAMES = ("gradebook.csv", "skipped.txt")
SKIPPED_PARTS = ("__pycache__", ".hypothesis", ".pytest_cache", ".git")


@dataclass
class Found:
    """What a grade run was pointed at."""

    submissions: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    folder_of_submissions: bool = False


def is_python_file(path: Path) -> bool:
    return path.suffix.lower() == ".py" and path.is_file() and not path.is_symlink()


def is_submission_folder(folder: Path) -> bool:
    """A folder that is itself one submission (rather than a folder of submissions)."""
    if names_a_backend(folder):
        return True
    entries = list(folder.iterdir())
    python_files = [p for p in entries if is_python_file(p) and not p.name.startswith(("test_", "conftest"))]
    has_subfolders = any(p.is_dir() and not p.name.startswith((".", "_")) for p in entries)
    return len(python_files) == 1 and not has_subfolders


def expand_submissions(paths: list[Path], out: Path | None = None) -> Found:
    """The submissions named by `paths`: files, submission folders, folders of submissions.
    Entries of a folder of submissions that are not graded are listed in `skipped`."""
    found = Found()
    out = out.resolve() if out is not None else None
    for path in paths:
        path = path.resolve()
        if path.is_file():
            if path.suffix.lower() != ".py":
                raise SubmissionError(f"{printable(path)}: a submission is a .py file or a folder holding one")
            found.submissions.append(path)
        elif path.is_dir():
            if is_submission_folder(path):
                found.submissions.append(path)
            else:
                _expand_folder(path, out, found)
        else:
            raise SubmissionError(f"{printable(path)}: no such file or folder")
    if not found.submissions:
        raise SubmissionError(f"{', '.join(printable(p) for p in paths)}: no .py file and no submission folder in it")
    return found


def _expand_folder(folder: Path, out: Path | None, found: Found) -> None:
    found.folder_of_submissions = True
    for child in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        why = _why_skipped(child, out)
        if why:
            found.skipped.append((printable(child.name), why))
        else:
            found.submissions.append(child)


def _why_skipped(child: Path, out: Path | None) -> str | None:
    if out is not None and (child == out or out in child.parents):
        return "the output folder"
    if child.is_symlink():
        return "a symbolic link (copy the submission in instead)"
    if child.name.startswith((".", "_")):
        return "a hidden or private name (starts with . or _)"
    if not child.is_dir() and child.suffix.lower() != ".py":
        return "neither a .py file nor a folder"
    return None


def output_names(submissions: list[Path]) -> list[str]:
    """One distinct, file-system-safe output folder name per submission, never one of the
    files written beside them (gradebook.csv)."""
    names, seen = [], set(RESERVED_NAMES)
    for path in submissions:
        stem = path.stem if path.is_file() else path.name
        base = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in stem)[:80]
        base = base.strip(".") or "submission"
        name, n = base, 2
        while name.lower() in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name.lower())
        names.append(name)
    return names


# --------------------------------------------------------------------------- one run
#: Called as a submission's run goes: (tests done, tests in all, the area of the last one).
ProgressCallback = Callable[[int, int, str], None]


def run_submission(submission: Path, options: RunOptions, exclude: tuple[Path, ...] = (),
                   on_progress: ProgressCallback | None = None) -> RawRun:
    """Run the conformance suite against `submission` in a private work folder."""
    work = Path(tempfile.mkdtemp(prefix="microgpt-grade-"))
    started = time.monotonic()
    try:
        code = copy_submission(submission, work / "code", exclude)
        paths = _prepare(work)
        config = {
            "submission": str(code), "display": printable(submission.name), "workdir": str(paths["sandbox"]),
            "output_path": str(paths["output"]), "results_path": str(paths["results"]),
            "progress_path": str(paths["progress"]),
            "submission_root": str(work / "code"), "limits": limits_as_dict(options.limits),
            "separate_uid": options.separate_uid, "required_walls": list(options.required_walls or ()),
            **program_settings(code, work / "build", paths["sandbox"]),
        }
        paths["config"].write_text(json.dumps(config), encoding="utf-8")
        run = _run_pytest(paths, options, on_progress)
        run.output = _read_capped(paths["output"], options.limits.output_bytes)
        _scrub_paths(run, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    run.wall_seconds = time.monotonic() - started
    return run


#: Inside the worker's folder: where a program's build writes before its outputs are kept.
BUILD_STAGE = "build"


def program_settings(code: Path, build_dir: Path, workdir: Path) -> dict:
    """For a submission that is a program (its folder holds microgpt-backend.toml): the command
    and build the worker runs, with {here} its copy and {build} a folder of its own. The
    manifest is read by the grader (TOML: parsing runs none of its code)."""
    if not (code.is_dir() and (code / MANIFEST_NAME).is_file()):
        return {}
    try:
        manifest = read_manifest(code / MANIFEST_NAME)
    except ProgramError as error:
        raise SubmissionError(f"{code.name}: {printable(str(error).replace(str(code), code.name))}") from None
    build_dir.mkdir(mode=0o700)
    # The build writes into a stage inside the worker's own folder (a bounded tmpfs where the
    # worker has namespaces), which the build's worker then copies, capped, into build_dir.
    stage = Path(workdir) / BUILD_STAGE
    return {"program": resolved(manifest.expand(manifest.command, build_dir), code),
            "build": resolved(manifest.expand(manifest.build, stage), code) if manifest.build else [],
            "build_dir": str(build_dir), "build_stage": str(stage)}


def resolved(argv: list[str], code: Path) -> list[str]:
    """The command with its program as a full path, found on the workers' PATH."""
    program = argv[0]
    if os.sep not in program:
        found = shutil.which(program, path=worker_environment("")["PATH"])
        if found is None:
            raise SubmissionError(f"{code.name}: needs `{printable(program)}`, which the grading machine "
                                  "does not have")
        program = os.path.realpath(found)
    return [program, *argv[1:]]


def copy_submission(submission: Path, destination: Path, exclude: tuple[Path, ...] = ()) -> Path:
    """Copy the submission's regular files (size-limited, no links, none of `exclude`) into
    folders only the grader's user can read. Its file name becomes a plain one."""
    destination.mkdir(mode=0o700, parents=True)
    budget = {"left": MAX_SUBMISSION_BYTES}
    target = destination / copy_name(submission)
    try:
        if submission.is_file():
            _copy_file(submission, target, budget, submission)
        else:
            target.mkdir(mode=0o700)
            _copy_tree(submission, target, budget, exclude)
    except OSError as error:
        raise SubmissionError(f"{printable(submission)}: could not be copied for grading: "
                              f"{printable(error.strerror or error)} ({printable(error.filename or '')[-200:]})") from None
    return target


def copy_name(submission: Path) -> str:
    """The copy's name: the submission's own where it is a plain one (messages then name the
    student's file), else `submission`; a file always ends in `.py`."""
    stem = submission.stem if submission.is_file() else submission.name
    plain = stem.isascii() and stem.isprintable() and 0 < len(stem) <= 100 and not stem.startswith(".")
    stem = stem if plain and all(c.isalnum() or c in "-_." for c in stem) else "submission"
    return f"{stem}.py" if submission.is_file() else stem


def _copy_tree(submission: Path, target: Path, budget: dict, exclude: tuple[Path, ...]) -> None:
    for folder, subfolders, files in os.walk(submission, onerror=_raise):
        here = Path(folder)
        relative = here.relative_to(submission)
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_PARTS and not (here / d).is_symlink()
                               and (here / d).resolve() not in exclude)
        for name in subfolders:
            (target / relative / name).mkdir(mode=0o700)
        for name in sorted(files):
            _copy_file(here / name, target / relative / name, budget, submission)


def _raise(error: OSError) -> None:
    raise error  # a folder that cannot be read is a copy that cannot be made, not a silent gap


def _copy_file(source: Path, target: Path, budget: dict, submission: Path) -> None:
    if source.is_symlink() or not source.is_file():
        return  # a link could point at a file the submission may not read
    budget["left"] -= source.stat().st_size
    if budget["left"] < 0:
        raise SubmissionError(f"{printable(submission)}: larger than {MAX_SUBMISSION_BYTES // 2**20} MB")
    shutil.copyfile(source, target)
    target.chmod(0o600)


def _prepare(work: Path) -> dict[str, Path]:
    # The worker (possibly another user) may pass through `work` but not list it.
    work.chmod(stat.S_IRWXU | stat.S_IXGRP | stat.S_IXOTH)
    paths = {"sandbox": work / "sandbox", "grader": work / "grader", "output": work / "output.txt",
             "results": work / "results.json", "config": work / "config.json", "log": work / "grader.log",
             "progress": work / "progress.txt"}
    paths["sandbox"].mkdir(mode=0o700)
    paths["grader"].mkdir(mode=0o700)
    (paths["grader"] / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    paths["output"].touch(mode=0o600)
    return paths


def _run_pytest(paths: dict[str, Path], options: RunOptions, on_progress: ProgressCallback | None) -> RawRun:
    # Only the chosen areas' modules are collected (a one-area run starts faster); test ids
    # are relative to the conformance folder: "test_tokenizer.py::test_...".
    conformance = Path(importlib.util.find_spec("microgpt_spec.conformance").submodule_search_locations[0])
    modules = [str(conformance / f"test_{a}.py") for a in options.areas] or [str(conformance)]
    command = [
        sys.executable, "-P", "-m", "pytest", *modules,
        "-p", "microgpt_spec.grading.pytest_plugin", "--backend=microgpt_spec.grading.remote:connect",
        f"--hypothesis-profile={options.profile}", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-p", "no:xdist", "--noconftest", "-c", str(paths["grader"] / "pytest.ini"),
        f"--rootdir={conformance}", "-q", "--tb=line", "-o", "console_output_style=classic",
    ]
    for area in options.areas:
        command.append(f"--area={area}")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    environment.pop("CI", None)
    environment.update({CONFIG_ENVIRONMENT: str(paths["config"]), "PYTHONHASHSEED": "0",
                        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8:backslashreplace"})
    limit = options.limits.submission_seconds + GRACE_SECONDS
    run = RawRun()
    with open(paths["log"], "wb") as log:
        process = subprocess.Popen(command, cwd=paths["grader"], env=environment, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_reporting(process, limit, paths["progress"], on_progress)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            run.problems.append(f"the grader stopped this run after {limit:g} s (the submission's time "
                                "limit plus a grace period)")
    run.log = paths["log"].read_text(encoding="utf-8", errors="replace")
    if paths["results"].is_file():
        session = json.loads(paths["results"].read_text(encoding="utf-8"))
        run.tests = session.pop("tests", {})
        run.session = session
    elif not run.problems:
        run.problems.append("the grader's test run ended without results (exit status "
                            f"{process.returncode}):\n{run.log[-LOG_TAIL:]}")
    return run


def _wait_reporting(process: subprocess.Popen, limit: float, progress: Path,
                    on_progress: ProgressCallback | None) -> None:
    """Wait for the grader's pytest, passing on what its progress file says as it grows."""
    deadline = time.monotonic() + limit
    seen = (0, 0, "")
    finished = False
    while not finished:
        try:
            process.wait(timeout=min(0.5, max(deadline - time.monotonic(), 0.001)))
            finished = True
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
        if on_progress is not None:
            now = read_progress(progress)
            if now != seen:
                seen = now
                on_progress(*now)


def read_progress(path: Path) -> tuple[int, int, str]:
    """(tests done, tests in all, area of the last one) from the grading plugin's file:
    a line `total N`, then a line `done AREA` per test."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return (0, 0, "")
    total = next((int(line.split()[1]) for line in lines if line.startswith("total ")), 0)
    done = [line.split(maxsplit=1)[1] for line in lines if line.startswith("done ")]
    return (len(done), total, done[-1] if done else "")


def _scrub_paths(run: RawRun, work: Path) -> None:
    """Replace the private work folder's name (new on every run) in messages by <work>."""
    names = sorted({str(work), os.path.realpath(work)}, key=len, reverse=True)

    def scrub(value):
        if isinstance(value, str):
            for name in names:
                value = value.replace(name, "<work>")
            return value
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        return value

    run.tests = scrub(run.tests)
    run.session = scrub(run.session)
    run.problems = scrub(run.problems)


def _read_capped(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit + 1000)


# --------------------------------------------------------------------------- what the run means
def problems_of(run: RawRun) -> list[str]:
    """Failures that stop everything, for the top of the report."""
    problems = list(run.problems)
    session = run.session
    if session.get("import_failure"):
        problems.append(session["import_failure"])
    for error in session.get("collection_errors", ()):
        problems.append(f"the spec could not be collected: {error}")
    if session and not run.tests and not problems:
        problems.append("no spec test ran")
    return problems


def limits_as_dict(limits: Limits) -> dict:
    return {k: getattr(limits, k) for k in limits.__dataclass_fields__}


def rubric_summary(rubric: Rubric) -> dict:
    return {"source": rubric.source, "points": rubric.points, "partial_credit": rubric.partial_credit,
            "delegation": rubric.delegation, "max_score": rubric.max_score}
