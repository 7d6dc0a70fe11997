"""A Gradescope autograder bundle: the zip an instructor uploads.

    setup.sh          installs Python 3.11+ and microgpt-spec (once, when Gradescope builds the image)
    run_autograder    grades /autograder/submission into /autograder/results/results.json
    rubric.toml       points per area, policies and limits
    microgpt-spec/    this project's source, unless the bundle installs it from elsewhere

Gradescope then grades each submission in a container of its own: the grader's sandbox
applies inside it (a uid per worker, no capabilities, seccomp, and Landlock where the
host's kernel has it; see docs/grading.md).
The zip is byte-for-byte reproducible: fixed timestamps, sorted entries.
"""

from __future__ import annotations

import shlex
import zipfile
from importlib import resources
from pathlib import Path

import microgpt_spec
from microgpt_spec.grading.rubric import Rubric

#: The project's own folders (see pyproject.toml's package-dir), copied into a vendored bundle.
PROJECT_FOLDERS = ("microgpt_spec", "spec", "backends", "conformance", "data")
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")
SKIPPED_PARTS = ("__pycache__", ".egg-info", ".pytest_cache", ".hypothesis")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class BundleError(Exception):
    """The bundle cannot be made as asked; the message says why."""


def project_root() -> Path | None:
    """The source checkout this installation runs from (an editable install), if any."""
    root = Path(microgpt_spec.__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "microgpt-spec"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def bundle_files(rubric: Rubric, install: str | None, grade_options: list[str]) -> dict[str, tuple[bytes, int]]:
    """Every entry of the bundle: name -> (content, permission bits)."""
    files: dict[str, tuple[bytes, int]] = {}
    if install is None:
        root = project_root()
        if root is None:
            raise BundleError("this installation is not a source checkout: give --install with a pip "
                              "requirement (a version, a URL, a wheel's path on Gradescope)")
        files.update(_project_files(root))
        install = "/autograder/source/microgpt-spec"
    templates = resources.files("microgpt_spec.grading") / "templates"
    setup = templates.joinpath("setup.sh").read_text(encoding="utf-8").replace("{install}", shlex.quote(install))
    run = templates.joinpath("run_autograder").read_text(encoding="utf-8").replace(
        "{options}", " ".join(shlex.quote(o) for o in grade_options))
    files["setup.sh"] = (setup.encode(), 0o755)
    files["run_autograder"] = (run.encode(), 0o755)
    files["rubric.toml"] = (rubric.to_toml().encode(), 0o644)
    return files


def _project_files(root: Path) -> dict[str, tuple[bytes, int]]:
    files = {}
    for name in PROJECT_FILES:
        if (root / name).is_file():
            files[f"microgpt-spec/{name}"] = ((root / name).read_bytes(), 0o644)
    for folder in PROJECT_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or path.is_symlink() or path.suffix == ".pyc":
                continue
            if any(part.endswith(SKIPPED_PARTS) for part in relative.parts):
                continue
            files[f"microgpt-spec/{relative.as_posix()}"] = (path.read_bytes(), 0o644)
    return files


def write_bundle(path: Path, files: dict[str, tuple[bytes, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            content, mode = files[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
