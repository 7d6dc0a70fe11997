"""The conformance runner as a user meets it: options, not-implemented parts, the report."""

from __future__ import annotations

import json
import textwrap

import pytest

from microgpt_spec.spec.contract import CONTRACT_VERSION

TOKENIZER_ONLY = """
from microgpt_spec.spec.contract import Backend as Base


class Tok:
    def __init__(self, docs):
        self.chars = sorted(set("".join(docs)))
        self.bos = len(self.chars)
        self.vocab_size = self.bos + 1
        self._ids = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text):
        missing = [c for c in text if c not in self._ids]
        if missing:
            raise ValueError(f"unknown character {missing[0]!r}")
        return [self._ids[c] for c in text]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def sequence(self, doc):
        return [self.bos] + self.encode(doc) + [self.bos]


class Backend(Base):
    name = "tokenizer-only"
    version = "0.1"

    def build_tokenizer(self, docs):
        return Tok(docs)
"""

BOS_ZERO = TOKENIZER_ONLY + """

class Backend(Backend):
    def build_tokenizer(self, docs):
        tok = Tok(docs)
        tok.bos = 0
        return tok
"""


@pytest.fixture
def run(pytester):
    def run_conformance(source, *args):
        pytester.makepyfile(mine=textwrap.dedent(source))
        return pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--backend=mine.py",
                                             "-p", "no:cacheprovider", *args)

    return run_conformance


def test_no_backend_says_how_to_choose_one(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*No backend chosen*", "*--backend=pure*", "*--backend=path/to/mine.py*"])


def test_unknown_backend_is_one_clear_error(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--backend=nope_nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--backend=nope_nope: no registered backend*"])
    assert "Traceback" not in result.stderr.str()


def test_header_names_backend_file_version_and_contract(run):
    result = run(TOKENIZER_ONLY, "--area=tokenizer")
    result.stdout.fnmatch_lines([f"*backend under test: backend tokenizer-only 0.1 (float64) from *mine.py; contract {CONTRACT_VERSION}*"])


def test_missing_parts_are_not_implemented_never_passed(run, pytester):
    result = run(TOKENIZER_ONLY, "--area=tokenizer,ops", "--spec-json=out.json")
    report = json.loads((pytester.path / "out.json").read_text())
    assert report["areas"]["tokenizer"]["verdict"] == "PASS"
    assert report["areas"]["ops"]["verdict"] == "not implemented"
    assert report["areas"]["ops"]["passed"] == 0
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*microgpt-spec results by area*", "*tokenizer*PASS*", "*ops*not implemented*"])


def test_a_mistake_fails_its_area_with_an_explanation(run, pytester):
    result = run(BOS_ZERO, "--area=tokenizer", "--spec-json=out.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "out.json").read_text())
    assert report["areas"]["tokenizer"]["verdict"] == "FAIL"
    failed = [t for t in report["tests"] if t["status"] == "failed"]
    assert any("bos = len(chars)" in t["message"] for t in failed)
    result.stdout.fnmatch_lines(["*rule:*", "*reproduce:*", "*load_backend('mine.py')*"])


def test_area_option_selects_one_area(run):
    result = run(TOKENIZER_ONLY, "--area=tokenizer")
    result.stdout.fnmatch_lines(["*deselected*"])
    assert "ops" not in result.stdout.str().split("results by area")[1]


def test_unknown_area_is_a_usage_error(run):
    result = run(TOKENIZER_ONLY, "--area=tokeniser")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown area*tokeniser*"])


def test_marker_selects_an_area_too(run):
    result = run(TOKENIZER_ONLY, "-m", "tokenizer")
    result.stdout.fnmatch_lines(["*tokenizer*PASS*"])


def test_same_results_under_xdist(run, pytester):
    run(TOKENIZER_ONLY, "--area=tokenizer", "--spec-json=serial.json", "-p", "no:xdist")
    run(TOKENIZER_ONLY, "--area=tokenizer", "--spec-json=parallel.json", "-n", "2")
    serial = json.loads((pytester.path / "serial.json").read_text())
    parallel = json.loads((pytester.path / "parallel.json").read_text())
    assert serial == parallel


def test_ci_environment_selects_the_ci_profile(run, monkeypatch):
    monkeypatch.setenv("CI", "true")
    run(TOKENIZER_ONLY, "--area=tokenizer").stdout.fnmatch_lines(["*hypothesis profile: ci*"])
    monkeypatch.delenv("CI")
    result = run(TOKENIZER_ONLY, "--area=tokenizer", "--hypothesis-profile=grade")
    result.stdout.fnmatch_lines(["*hypothesis profile: grade*"])


def test_a_spec_test_without_an_area_marker_is_refused(pytester):
    pytester.makepyfile(test_unmarked="""
        def test_orphan(backend):
            pass
        test_orphan.__module__ = "microgpt_spec.spec.areas.orphan"
    """)
    result = pytester.runpytest_subprocess("--backend=pure", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*exactly one area marker*", "*test_orphan: area markers none*"])


def test_a_not_implemented_area_names_what_to_write_next_once(pytester):
    """One line per area naming the part to write, never one per test; -v lists the tests."""
    assert pytester.run("microgpt-spec", "new-student", "stub").ret == 0
    args = ("--pyargs", "microgpt_spec.conformance", "--backend=stub", "--area=ops", "--spec-json=out.json",
            "-p", "no:cacheprovider", "-p", "no:xdist")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.OK
    output = result.stdout.str()
    result.stdout.fnmatch_lines(["*ops*77*not implemented*write next:*", "*Value.__init__*",
                                 "write next for ops: ops: Value.__init__: store data*(77 tests wait*-v lists them)"])
    assert output.count("Value.__init__: store data") == 1
    assert "NOT IMPLEMENTED" not in output
    report = json.loads((pytester.path / "out.json").read_text())
    assert report["areas"]["ops"]["write_next"].startswith("ops: Value.__init__: store data")
    assert all(t["message"].startswith("not implemented: ops: Value.__init__") for t in report["tests"])
    verbose = pytester.runpytest_subprocess(*args, "-v").stdout.str()
    assert verbose.count("NOT IMPLEMENTED") == 77


def test_the_quick_profile_works_in_pytest_as_in_grade(run):
    result = run(TOKENIZER_ONLY, "--area=tokenizer", "--hypothesis-profile=quick")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*hypothesis profile: quick*", "*tokenizer*PASS*"])


def test_crosscheck_without_a_second_backend_says_why_nothing_ran(run):
    result = run(TOKENIZER_ONLY, "--area=crosscheck")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--area=crosscheck compares two backends*add the second with "
                                 "--compare-backend=NAME*"])
