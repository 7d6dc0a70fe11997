"""A runaway bug (an infinite loop, a graph that explodes) fails its test with a clear
message, within the limits of --spec-timeout and --spec-memory, and the run still ends
with its table: it never hangs the run, eats the machine's memory or ends in INTERNALERROR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mistaken_backends

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run_conformance(mistake: type, out: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", str(REPO / "conformance"),
               f"--backend={HERE / 'mistaken_backends.py'}:{mistake.__name__}", f"--spec-json={out}",
               "--hypothesis-profile=ci", "-p", "no:cacheprovider", *options]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def assert_ran_to_the_table(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:] + done.stderr[-3000:]
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert "microgpt-spec results by area" in done.stdout


def stopped_tests(out: Path) -> list[dict]:
    report = json.loads(out.read_text())
    return [t for t in report["tests"] if t["status"] == "failed" and "was stopped" in t["message"]]


def test_an_infinite_loop_fails_its_test_at_the_time_limit(tmp_path):
    out = tmp_path / "report.json"
    done = run_conformance(mistaken_backends.EncodeNeverAdvances, out, "--area=tokenizer",
                           "-k", "each_character_its_index", "--spec-timeout=1", "-p", "no:xdist")
    assert_ran_to_the_table(done)
    [stopped] = stopped_tests(out)
    message = stopped["message"]
    assert "passed its time limit" in message
    assert "more than 1 s, the limit per test (--spec-timeout)" in message
    assert "call:      got = list(tok.encode(text))" in message or "tok.encode" in message
    assert "mistaken_backends.py" in message and "in encode" in message  # the line that ran
    assert "an infinite loop" in message
    assert "Traceback" not in done.stdout  # the explanation, not a thousand frames


def test_an_exploding_graph_fails_its_test_at_the_memory_limit(tmp_path):
    out = tmp_path / "report.json"
    done = run_conformance(mistaken_backends.TopologicalSortWithoutVisited, out, "--area=loss",
                           "-k", "loss_and_grads_match_the_oracle_with_the_default_config and emma",
                           "--spec-memory=150MB", "--spec-timeout=120", "-p", "no:xdist")
    assert_ran_to_the_table(done)
    [stopped] = stopped_tests(out)
    message = stopped["message"]
    assert "passed its memory limit" in message
    assert "the limit of 150 MB per test (--spec-memory)" in message
    assert "backend.loss_and_grads(params, config, tokens)" in message
    assert "in visit" in message  # the learner's sort, where the memory went
    assert "without a visited set" in message


def test_the_limits_hold_under_xdist_and_every_test_gets_its_own_time(tmp_path):
    out = tmp_path / "report.json"
    done = run_conformance(mistaken_backends.EncodeNeverAdvances, out, "--area=tokenizer",
                           "--spec-timeout=1", "-n", "2")
    assert_ran_to_the_table(done)
    report = json.loads(out.read_text())
    assert report["areas"]["tokenizer"]["passed"] >= 1  # the tests that never call encode
    assert len(stopped_tests(out)) == report["areas"]["tokenizer"]["failed"] >= 3


def test_the_header_shows_the_limits_and_options_change_them(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--backend=pure",
                                           "--area=tokenizer", "--spec-timeout=5", "--spec-memory=1.5GB",
                                           "-p", "no:cacheprovider", "-p", "no:xdist")
    result.stdout.fnmatch_lines(["*limits per test: 5 s (--spec-timeout), 1.5 GB of memory (--spec-memory)*"])
    assert result.ret == pytest.ExitCode.OK


def test_a_malformed_memory_size_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--backend=pure",
                                           "--spec-memory=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'lots' is not a size; write it like 2GB, 500MB or 0 (no limit)*"])
