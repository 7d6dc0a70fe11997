"""The grader: hostile submissions get clear results and cannot touch anything else;
reports are complete, stable and in Gradescope's format; the rubric; the wire format."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import script_bugs
from microgpt_spec.cli import main as cli_main
from microgpt_spec.grading import RunOptions, grade, protocol
from microgpt_spec.grading.link import Limits
from microgpt_spec.grading.proxies import RngMirror
from microgpt_spec.grading.reports import gradescope_results, score_run
from microgpt_spec.grading.rubric import DEFAULT_POINTS, Rubric, RubricError, parse_rubric
from microgpt_spec.grading.runner import RawRun
from microgpt_spec.grading.serve import rng_progress
from microgpt_spec.spec.contract import AREAS, AdamHyper, Config

HOSTILE = Path(__file__).parent / "hostile"
GRADED_AREAS = ("tokenizer", "adam")
LIMITS = Limits(test_seconds=1.5, submission_seconds=120, memory_mb=200, output_bytes=50_000, max_strikes=2)
OPTIONS = RunOptions(limits=LIMITS, areas=GRADED_AREAS, profile="quick")  # few examples: speed
PLANTED = [Path("/tmp/microgpt-hostile-planted.txt"), Path("/tmp/microgpt-hostile-planted-in-test.txt"),
           Path("~/microgpt-hostile-planted.txt").expanduser()]


def spec_tests_in(area: str) -> int:
    """How many tests the spec has in `area` (collected, as the grader will)."""
    conformance = Path(__file__).parents[1] / "conformance" / f"test_{area}.py"
    listed = subprocess.run([sys.executable, "-m", "pytest", str(conformance), "--backend=pure", "--collect-only",
                             "-q", "-p", "no:cacheprovider"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in listed.splitlines() if "::" in line)


TOKENIZER_TESTS, ADAM_TESTS = spec_tests_in("tokenizer"), spec_tests_in("adam")
DECODE_TESTS = {"test_decode_inverts_encode", "test_decode_leaves_bos_out"}


# --------------------------------------------------------------------------- the hostile run
def assemble(folder: Path) -> None:
    """One submission per hostile case: base.py followed by the case's code."""
    base = (HOSTILE / "base.py").read_text()
    for case in sorted(HOSTILE.glob("*.py")):
        if case.name != "base.py":
            (folder / case.name).write_text(base + "\n\n" + case.read_text())
    (folder / "good.py").write_text(base)
    shipped = folder / "shipped_config"
    (shipped / ".hypothesis" / "examples").mkdir(parents=True)
    (shipped / "backend.py").write_text(base + "\n\n" + (HOSTILE / "shipped_config" / "case.py").read_text())
    for extra in (HOSTILE / "shipped_config").glob("*.hostile"):
        name = extra.name.removesuffix(".hostile")
        target = shipped / ".hypothesis" / "examples" / "planted" if name == "hypothesis-database" else shipped / name
        target.write_text(extra.read_text())


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below `folder`, with a digest of each file's bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    submissions = root / "submissions"
    submissions.mkdir()
    assemble(submissions)
    for path in PLANTED:
        path.unlink(missing_ok=True)
    before, cwd = snapshot(submissions), os.getcwd()
    reports = grade([submissions], root / "grades", options=OPTIONS, jobs=2)
    return SimpleNamespace(root=root, submissions=submissions, out=root / "grades", before=before,
                           after=snapshot(submissions), cwd_before=cwd, cwd_after=os.getcwd(),
                           reports={r.name: r for r in reports})


def report_of(run, name: str) -> dict:
    return json.loads((run.out / name / "report.json").read_text())


def named_tests(report: dict) -> dict[str, dict]:
    return {t["nodeid"].split("::")[-1]: t for t in report["tests"]}


def area(report: dict, name: str) -> dict:
    return report["areas"][name]


def full(report: dict, name: str) -> bool:
    return area(report, name)["score"] == area(report, name)["max_score"] > 0


def test_a_correct_submission_gets_full_marks_for_the_graded_areas(run):
    report = report_of(run, "good")
    assert full(report, "tokenizer") and full(report, "adam")
    assert report["score"] == 20 and report["max_score"] == 20 and report["problems"] == []  # of the graded areas
    assert area(report, "tokenizer")["passed"] == TOKENIZER_TESTS and area(report, "adam")["passed"] == ADAM_TESTS
    assert set(report["areas"]) == set(GRADED_AREAS)  # --area: the others are not in the report at all


def test_an_endless_loop_times_out_and_everything_else_is_graded(run):
    report = report_of(run, "loop_forever")
    tests = named_tests(report)
    timed_out = [n for n, t in tests.items() if t["kind"] == "timed out"]
    assert set(timed_out) <= DECODE_TESTS and timed_out
    assert all("timed out after 1.5 s during .decode()" in tests[n]["message"] for n in timed_out)
    not_run = [t for t in tests.values() if t["kind"] == "not run"]
    assert all("earlier tests of the tokenizer area timed out" in t["message"] for t in not_run)
    assert len(timed_out) == LIMITS.max_strikes or not not_run
    assert tests["test_vocabulary_is_the_sorted_distinct_characters"]["status"] == "passed"
    assert full(report, "adam")


def test_unbounded_memory_is_stopped_at_the_limit(run):
    report = report_of(run, "memory_hog")
    tests = named_tests(report)
    hit = [t for t in tests.values() if t["kind"] == "memory"]
    assert hit and all("used more than 200 MB" in t["message"] for t in hit)
    assert tests["test_encode_gives_each_character_its_index"]["status"] == "passed"
    assert full(report, "adam")


@pytest.mark.parametrize("name, expected, where", [
    ("exit_at_import", "exited during import: the submission called sys.exit(3)", True),
    ("os_exit_at_import", "exited during import (exit status 4)", False),
    ("raise_at_import", "the submission could not be imported: KeyError: 'missing key'", True),
])
def test_a_failing_import_fails_every_area_loudly(run, name, expected, where):
    report = report_of(run, name)
    assert report["score"] == 0 and report["max_score"] == 20
    assert report["problems"] and report["problems"][0].startswith(expected)
    if where:  # the lines of the submission's own file it happened at
        assert f'File "{name}.py", line' in report["problems"][0]
    graded_tests = [t for t in report["tests"] if t["area"] in GRADED_AREAS]
    assert len(graded_tests) == TOKENIZER_TESTS + ADAM_TESTS
    assert all(t["status"] == "failed" and t["kind"] == "import failed" for t in graded_tests)
    results = json.loads((run.out / name / "results.json").read_text())
    assert expected in results["output"] and results["score"] == 0
    assert [t["name"] for t in results["tests"]] == list(GRADED_AREAS)
    assert all(t["status"] == "failed" and t["score"] == 0 for t in results["tests"])
    assert sum(t["max_score"] for t in results["tests"]) == 20


@pytest.mark.parametrize("name, expected", [
    ("os_exit_in_test", "exited with status 0 during .decode()"),
    ("sys_exit_in_test", "exited: the submission called sys.exit(1) during .decode()"),
])
def test_exiting_in_a_test_fails_that_test_only(run, name, expected):
    report = report_of(run, name)
    failed = {n: t for n, t in named_tests(report).items() if t["status"] == "failed"}
    assert set(failed) >= DECODE_TESTS  # every test that decodes, and only through decode():
    assert all(t["message"] == expected and t["kind"] == "exited" for t in failed.values())
    assert area(report, "tokenizer")["passed"] == TOKENIZER_TESTS - len(failed) > 0
    assert full(report, "adam")


def test_a_flood_of_printing_is_cut_and_grading_goes_on(run):
    report = report_of(run, "print_flood")
    assert full(report, "tokenizer") and full(report, "adam")
    printed = (run.out / "print_flood" / "submission-output.txt").read_bytes()
    assert LIMITS.output_bytes - 5000 < len(printed) <= LIMITS.output_bytes + 1000
    assert printed.rstrip().endswith(b"[output cut here by the grader]")


def test_writing_files_outside_its_folder_is_refused(run):
    report = report_of(run, "writes_files")
    assert full(report, "tokenizer") and full(report, "adam")
    refused = report["sandbox"]["refused"]
    assert "open for writing <work>/results.json" in refused  # the grader's own results file
    assert any(r.endswith("/microgpt-hostile-planted.txt") for r in refused)
    results = json.loads((run.out / "writes_files" / "results.json").read_text())
    assert results["score"] == 20  # the grader's, not the planted {"score": 1000}
    assert not any(path.exists() for path in PLANTED)


def test_changing_the_working_directory_changes_nothing(run):
    report = report_of(run, "changes_directory")
    assert full(report, "tokenizer") and full(report, "adam")
    assert run.cwd_after == run.cwd_before


def test_configuration_shipped_beside_the_submission_is_ignored(run):
    report = report_of(run, "shipped_config")
    tests = named_tests(report)
    assert len([t for t in report["tests"] if t["area"] == "tokenizer"]) == TOKENIZER_TESTS  # no -x
    assert tests["test_bos_follows_the_characters"]["status"] == "failed"  # no conftest passing it
    assert "BOS or vocab_size is wrong" in tests["test_bos_follows_the_characters"]["message"]
    assert full(report, "adam")  # not only --area=adam either


def test_the_spec_cannot_even_be_imported_to_monkeypatch_it(run):
    report = report_of(run, "monkeypatches")
    assert len(report["problems"]) == 1
    assert "refused by the grader's sandbox: import microgpt_spec.spec.assertions" in report["problems"][0]
    assert report["score"] == 0  # its wrong tokenizer never got a chance to fool anything
    assert "import microgpt_spec.spec.assertions" in report["delegation"]["events"]


def test_the_reference_backend_cannot_be_imported_to_delegate_to_it(run):
    report = report_of(run, "delegates")
    assert "import microgpt_spec.backends.pure" in report["delegation"]["events"]
    assert "refused by the grader's sandbox: import microgpt_spec.backends.pure" in report["problems"][0]
    assert report["score"] == 0 and area(report, "tokenizer")["passed"] == 0
    results = json.loads((run.out / "delegates" / "results.json").read_text())
    assert "reference backends" in results["output"]


def test_nothing_outside_the_output_folder_changes(run):
    assert run.after == run.before  # not the submissions, not their folder
    assert run.cwd_after == run.cwd_before
    assert not any(path.exists() for path in PLANTED)
    expected = {"report.json", "results.json", "table.txt", "submission-output.txt", "grader.log"}
    for folder in run.out.iterdir():
        if folder.is_dir():
            assert {p.name for p in folder.iterdir()} == expected, folder


def test_the_gradebook_lists_every_submission(run):
    with open(run.out / "gradebook.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["submission"] for r in rows] == sorted(run.reports)
    assert {r["max_score"] for r in rows} == {"20.0"}
    good = next(r for r in rows if r["submission"] == "good")
    assert float(good["score"]) == 20 and float(good["tokenizer"]) == 10
    assert "refused by the grader's sandbox" in next(r for r in rows if r["submission"] == "delegates")["problems"]


def test_the_same_submission_graded_twice_gets_the_same_reports(run, tmp_path):
    names = ["sys_exit_in_test", "delegates"]
    again = grade([run.submissions / f"{n}.py" for n in names], tmp_path, options=OPTIONS, jobs=2)
    assert [r.name for r in again] == names
    for name in names:
        first, second = report_of(run, name), json.loads((tmp_path / name / "report.json").read_text())
        first.pop("timings"), second.pop("timings")
        first.pop("submission"), second.pop("submission")  # the path given differs, nothing else
        assert first == second, name
        first = json.loads((run.out / name / "results.json").read_text())
        second = json.loads((tmp_path / name / "results.json").read_text())
        first.pop("execution_time"), second.pop("execution_time")
        assert first == second, name
        assert (run.out / name / "table.txt").read_text() == (tmp_path / name / "table.txt").read_text()


# --------------------------------------------------------------------------- Gradescope's format
def test_gradescope_results_have_one_entry_per_area(run):
    results = json.loads((run.out / "loop_forever" / "results.json").read_text())
    assert set(results) >= {"score", "output", "tests", "execution_time", "visibility", "stdout_visibility"}
    assert [t["number"] for t in results["tests"]] == [str(i) for i in range(1, len(GRADED_AREAS) + 1)]
    for entry in results["tests"]:
        assert set(entry) >= {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert entry["status"] in ("passed", "failed") and entry["output_format"] == "md"
    tokenizer = results["tests"][0]
    assert tokenizer["status"] == "failed" and "timed out after 1.5 s" in tokenizer["output"]
    assert math.isclose(results["score"], sum(t["score"] for t in results["tests"]))


def test_a_run_without_results_is_a_failed_report_not_a_missing_one():
    run = RawRun(problems=["the grader's test run ended without results (exit status 3)"])
    report = score_run("broken", "broken.py", run, Rubric(), RunOptions())
    results = gradescope_results(report)
    assert results["score"] == 0 and "ended without results" in results["output"]
    assert [t["name"] for t in results["tests"]] == list(AREAS)
    assert all(t["status"] == "failed" and t["max_score"] > 0 for t in results["tests"])
    assert sum(t["max_score"] for t in results["tests"]) == 100


# --------------------------------------------------------------------------- the rubric
def test_the_default_rubric_gives_100_points_over_every_area():
    rubric = Rubric()
    assert rubric.max_score == 100 and tuple(rubric.points) == AREAS == tuple(DEFAULT_POINTS)


def test_a_rubric_round_trips_through_toml():
    import tomllib

    rubric = parse_rubric({"points": {"ops": 30, "tokenizer": 20.5}, "policy": {"partial_credit": False,
                           "delegation": "allow"}, "limits": {"test_seconds": 5, "memory_mb": 512},
                           "visibility": {"ops": "hidden"}})
    again = parse_rubric(tomllib.loads(rubric.to_toml()), source=rubric.source)
    assert again == rubric and list(again.points) == ["tokenizer", "ops"] and again.max_score == 50.5


@pytest.mark.parametrize("data, complaint", [
    ({"points": {"attention": 10}}, "unknown area"),
    ({"points": {"ops": -1}}, "must be a number >= 0"),
    ({"points": {}}, "at least one area"),
    ({"policy": {"delegation": "sometimes"}}, "delegation must be one of"),
    ({"limits": {"memory_mb": 0}}, "positive number"),
    ({"grading": {}}, "unknown section"),
])
def test_a_wrong_rubric_is_a_clear_error(data, complaint):
    with pytest.raises(RubricError, match=complaint):
        parse_rubric(data)


def test_scores_follow_the_policies():
    partial = Rubric()
    strict = parse_rubric({"policy": {"partial_credit": False}})
    allowing = parse_rubric({"policy": {"delegation": "allow"}})
    assert partial.area_score("ops", 3, 4, delegated=False) == 11.25
    assert strict.area_score("ops", 3, 4, delegated=False) == 0 and strict.area_score("ops", 4, 4, False) == 15
    assert partial.area_score("ops", 4, 4, delegated=True) == 0
    assert allowing.area_score("ops", 4, 4, delegated=True) == 15
    assert partial.area_score("ops", 0, 0, delegated=False) == 0


# --------------------------------------------------------------------------- the command line
def test_grade_rejects_bad_input(tmp_path, capsys):
    assert cli_main(["grade", str(tmp_path / "missing.py"), "--out", str(tmp_path / "g")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "mine.py").write_text("Backend = None\n")
    assert cli_main(["grade", str(tmp_path / "mine.py"), "--area", "attention"]) == 2
    assert "unknown area" in capsys.readouterr().err
    (tmp_path / "rubric.toml").write_text("[points]\nops = 'many'\n")
    assert cli_main(["grade", str(tmp_path / "mine.py"), "--rubric", str(tmp_path / "rubric.toml")]) == 2
    assert "must be a number" in capsys.readouterr().err


def test_the_gradescope_bundle_is_complete_and_reproducible(tmp_path, capsys):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert cli_main(["gradescope", str(first), "--test-timeout", "120"]) == 0
    assert cli_main(["gradescope", str(second), "--test-timeout", "120"]) == 0
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as bundle:
        names = set(bundle.namelist())
        assert {"setup.sh", "run_autograder", "rubric.toml", "microgpt-spec/pyproject.toml"} <= names
        assert "microgpt-spec/microgpt_spec/grading/worker.py" in names
        assert not any("__pycache__" in n or n.startswith("microgpt-spec/tests/") for n in names)
        assert bundle.getinfo("run_autograder").external_attr >> 16 & 0o777 == 0o755
        run_script = bundle.read("run_autograder").decode()
        assert "--gradescope-results" in run_script and "--test-timeout 120" in run_script
        assert "pip install -q /autograder/source/microgpt-spec" in bundle.read("setup.sh").decode()
    assert cli_main(["gradescope", str(first)]) == 2  # no overwriting without --force
    assert "exists already" in capsys.readouterr().err


# --------------------------------------------------------------------------- the wire
@pytest.mark.parametrize("value", [
    [0.1, -0.0, 1e-310, math.inf, -math.inf, 2**70, True, None, "é漢"],
    {"wte": [[0.5, -1.25]], 3: (1, 2)},
    (Config(vocab_size=5, n_embd=8, n_head=2), AdamHyper(lr=0.5), range(2, 9, 3)),
])
def test_values_cross_the_wire_unchanged(value):
    codec = protocol.Codec()
    document = json.loads(protocol.frame(codec.encode(value))[protocol.HEADER.size:])
    assert codec.decode(document) == value


def test_nan_crosses_the_wire():
    codec = protocol.Codec()
    document = json.loads(protocol.frame(codec.encode([math.nan]))[protocol.HEADER.size:])
    assert math.isnan(codec.decode(document)[0])


def test_an_oversized_message_is_refused():
    read, write = os.pipe()
    try:
        os.write(write, protocol.frame({"r": "x" * 2000}))
        with pytest.raises(protocol.ProtocolError, match="over the limit"):
            protocol.Reader(read).message(limit=1000)
    finally:
        os.close(read)
        os.close(write)


@pytest.mark.parametrize("draws", [1, 5, 400])  # 400: the generator refills its block on the way
def test_a_random_generator_ends_in_the_state_the_worker_left_it(draws):
    mirror, grader_rng = RngMirror(), random.Random(7)
    before = grader_rng.getstate()
    sent = mirror.reference(grader_rng, before)
    worker_rng = random.Random()
    worker_rng.setstate(protocol.rng_state(sent["s"]))
    for _ in range(draws):
        worker_rng.choices(range(5), weights=[1, 2, 3, 4, 5])
    mirror.update(grader_rng, before, json.loads(json.dumps(rng_progress(sent["k"], worker_rng, before))))
    assert grader_rng.getstate() == worker_rng.getstate()
    assert mirror.reference(grader_rng, grader_rng.getstate()) == {"k": sent["k"]}  # no resend



# --------------------------------------------------------------------------- the sandbox, said and required
ONLY_LIMITS = [{"name": "limits", "active": True, "detail": "memory"},
               {"name": "landlock", "active": False, "detail": "this kernel has no Landlock"},
               {"name": "seccomp", "active": False, "detail": "libseccomp could not be loaded"}]


def test_grading_refuses_to_start_without_any_kernel_wall(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("microgpt_spec.grading.batch.probe_walls", lambda separate_uid: ONLY_LIMITS)
    (tmp_path / "mine.py").write_text((HOSTILE / "base.py").read_text())
    assert cli_main(["grade", str(tmp_path / "mine.py"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "grading refused" in err and "this kernel has no Landlock" in err and "--accept-weaker-sandbox" in err
    assert not (tmp_path / "out").exists()


def test_the_weaker_sandbox_must_be_accepted_explicitly(monkeypatch):
    from microgpt_spec.grading import SandboxUnavailable, prepare_sandbox

    monkeypatch.setattr("microgpt_spec.grading.batch.probe_walls", lambda separate_uid: ONLY_LIMITS)
    with pytest.raises(SandboxUnavailable):
        prepare_sandbox(RunOptions())
    options, walls = prepare_sandbox(RunOptions(accept_weaker_sandbox=True))
    assert options.required_walls == () and walls == ONLY_LIMITS


def test_the_probe_says_which_walls_hold_and_why_not():
    from microgpt_spec.grading.link import probe_walls

    walls = {w["name"]: w for w in probe_walls()}
    assert set(walls) == {"limits", "user", "namespaces", "capabilities", "landlock", "seccomp"}
    assert all(w["detail"] for w in walls.values())  # active: what it covers; not: why not


def test_a_worker_that_cannot_raise_a_required_wall_grades_nothing(tmp_path):
    from microgpt_spec.grading.link import probe_walls

    missing = [w["name"] for w in probe_walls() if not w["active"]]
    if not missing:
        pytest.skip("every wall holds on this machine: none to miss")
    (tmp_path / "mine.py").write_text((HOSTILE / "base.py").read_text())
    options = RunOptions(limits=LIMITS, areas=("tokenizer",), profile="quick", required_walls=(missing[0],))
    [report] = grade([tmp_path / "mine.py"], tmp_path / "out", options=options)
    assert report.score == 0
    assert "the grader's sandbox could not be raised" in report.problems[0]
    assert "not of the submission" in report.problems[0]



# --------------------------------------------------------------------------- microgpt scripts as they are
SCRIPTS = Path(__file__).parent / "scripts"


def test_a_microgpt_script_is_graded_as_it_is_and_its_training_never_runs(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "alice.py").write_text((SCRIPTS / "microgpt.py").read_text())
    script_bugs.bug("adam_no_bias_correction").write(submissions).rename(submissions / "bob.py")
    reports = {r.name: r for r in grade([submissions], tmp_path / "out", options=OPTIONS, jobs=2)}
    alice = json.loads((tmp_path / "out" / "alice" / "report.json").read_text())
    assert reports["alice"].score == 20 and alice["problems"] == []
    assert alice["backend"]["name"] != "submission"  # the script adapter, not an import of the file
    assert b"step" not in reports["alice"].output  # its top-level training printed nothing: it never ran
    bob = json.loads((tmp_path / "out" / "bob" / "report.json").read_text())
    assert bob["areas"]["tokenizer"]["score"] == 10 and bob["areas"]["adam"]["verdict"] == "FAIL"



def test_a_package_submission_keeps_its_relative_imports(tmp_path):
    package = tmp_path / "mypackage"
    shutil.copytree(Path(__file__).parents[1] / "backends" / "pure", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    [report] = grade([package], tmp_path / "out", options=replace(OPTIONS, areas=("tokenizer",)))
    assert report.problems == [] and report.score == 10


def test_results_json_stands_on_its_own_and_follows_the_rubrics_visibility():
    tests = {f"test_{area}.py::test_{i}": {"area": area, "status": "failed", "message": f"wrong {i}"}
             for area in ("tokenizer", "training") for i in range(20)}
    rubric = parse_rubric({"points": {"tokenizer": 10, "training": 10},
                           "visibility": {"training": "after_due_date"}})
    report = score_run("x", "x.py", RawRun(tests=tests, session={"backend": {}}), rubric, RunOptions())
    results = gradescope_results(report)
    assert [t["visibility"] for t in results["tests"]] == ["visible", "after_due_date"]
    assert "report.json" not in json.dumps(results)  # students on Gradescope never see it
    assert all("test_19" in t["output"] for t in results["tests"])  # every failing test is named


def test_a_rubric_visibility_must_be_one_of_gradescopes():
    with pytest.raises(RubricError, match="after_due_date"):
        parse_rubric({"points": {"tokenizer": 1}, "visibility": {"tokenizer": "secret"}})
    with pytest.raises(RubricError, match="unknown key"):
        parse_rubric({"points": {"tokenizer": 1}, "visibility": {"ops": "hidden"}})


def test_grading_reports_its_progress_test_by_test(tmp_path):
    (tmp_path / "mine.py").write_text((HOSTILE / "base.py").read_text())
    seen = []
    grade([tmp_path / "mine.py"], tmp_path / "out", options=OPTIONS,
          on_progress=lambda name, done, total, area: seen.append((name, done, total, area)))
    assert seen and all(name == "mine" for name, *_ in seen)
    assert seen[-1][1:] == (TOKENIZER_TESTS + ADAM_TESTS, TOKENIZER_TESTS + ADAM_TESTS, "adam")
    assert [done for _, done, _, _ in seen] == sorted(done for _, done, _, _ in seen)
