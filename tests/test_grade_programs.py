"""`grade` on submissions in other languages: the repository's c and js backends, copied as
a student would hand them in (a folder with its microgpt-backend.toml), graded inside the
sandbox's walls (build in a worker of its own, then each worker becomes the program)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from microgpt_spec.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
TOOLS = {"c": "cc", "js": "node"}


def submission_copy(language: str, folder: Path) -> Path:
    shutil.copytree(REPO / "backends" / language, folder,
                    ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return folder


@pytest.mark.slow  # a whole grade of each, about half a minute of CPU
@pytest.mark.parametrize("language", sorted(TOOLS))
def test_a_complete_program_submission_gets_full_marks_inside_the_walls(tmp_path, language):
    if shutil.which(TOOLS[language]) is None:
        pytest.skip(f"no {TOOLS[language]} on this machine")
    submission = submission_copy(language, tmp_path / f"{language}_submission")
    out = tmp_path / "grades"
    # The quick profile (a tenth of the examples): the point is the walls, not the examples.
    assert cli_main(["grade", str(submission), "--out", str(out), "--quiet", "--profile", "quick"]) == 0
    report = json.loads((out / submission.name / "report.json").read_text())
    assert report["score"] == report["max_score"] == 100, json.dumps(report, indent=1)[:3000]
    seccomp = next(w for w in report["sandbox"]["walls"] if w["name"] == "seccomp")
    assert not seccomp["active"] or "exec of the submission's own program only" in seccomp["detail"]


def test_a_build_that_fails_is_the_submissions_import_failure_with_the_compilers_words(tmp_path):
    if shutil.which("cc") is None:
        pytest.skip("no cc on this machine")
    submission = tmp_path / "broken"
    submission.mkdir()
    (submission / "main.c").write_text("int main(void) { return undeclared_name; }\n")
    (submission / "microgpt-backend.toml").write_text(
        'command = ["{build}/prog"]\nbuild = ["cc", "-o", "{build}/prog", "{here}/main.c"]\n')
    out = tmp_path / "grades"
    cli_main(["grade", str(submission), "--out", str(out), "--quiet", "--area", "tokenizer"])
    report = json.loads((out / "broken" / "report.json").read_text())
    assert report["score"] == 0
    text = json.dumps(report)
    assert "the build failed" in text and "undeclared_name" in text, text[:3000]


def test_a_program_the_grading_machine_cannot_run_fails_its_own_row(tmp_path):
    submission = tmp_path / "needs_fortran"
    submission.mkdir()
    (submission / "microgpt-backend.toml").write_text('command = ["no-such-runtime-anywhere", "main.f90"]\n')
    out = tmp_path / "grades"
    cli_main(["grade", str(submission), "--out", str(out), "--quiet", "--area", "tokenizer"])
    text = (out / "needs_fortran" / "report.json").read_text()
    assert "no-such-runtime-anywhere" in text and "does not have" in text, text[:2000]
