"""Installed, the package's pytest plugin is loaded by every pytest run in the environment.
It must change nothing in another project's test run, and still set up the spec's own runs."""

from __future__ import annotations

import json
import textwrap

import pytest

# What an unrelated project's run sees, written down by a test of its own.
OBSERVER = """
import json
import pytest
from hypothesis import settings

def has_fixture(request, name):
    try:
        request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return False
    return True

def test_observe(request):
    seen = {"profile": settings.get_current_profile_name(), "settings": repr(settings.default),
            "tbstyle": request.config.option.tbstyle,
            "markers": sorted(line.split(":")[0] for line in request.config.getini("markers")),
            "backend fixture": has_fixture(request, "backend")}
    with open("seen.json", "w") as handle:
        json.dump(seen, handle)
"""

# Hypothesis tests whose outcome the spec's profiles would change.
BEHAVIOURS = """
import time
from hypothesis import given, strategies as st

@given(st.none())  # one value: nothing to shrink, so the run stays short
def test_slow_example(x):
    time.sleep(0.3)  # past hypothesis's default deadline of 200 ms

@given(st.integers().map(lambda x: (time.sleep(0.25), x)[1]))
def test_slow_generation(x):
    pass  # hypothesis's too_slow health check

@given(st.integers())
def test_two_bugs(x):
    if x < 0:
        raise ValueError("negative")
    if x > 0:
        raise TypeError("positive")
"""


def observe(pytester, *args) -> dict:
    pytester.makepyfile(test_observer=OBSERVER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    return json.loads((pytester.path / "seen.json").read_text())


@pytest.mark.parametrize("ci", ["", "1"], ids=["no CI", "CI=1"])
def test_another_project_sees_what_it_would_without_the_plugin(pytester, monkeypatch, ci):
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    with_plugin = observe(pytester)
    without_plugin = observe(pytester, "-p", "no:microgpt_spec")
    assert with_plugin == without_plugin
    assert with_plugin["tbstyle"] == "auto"
    assert "ops" not in with_plugin["markers"] and not with_plugin["backend fixture"]


def test_another_projects_hypothesis_tests_keep_their_deadline_health_checks_and_database(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_behaviours=BEHAVIOURS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=3)
    assert "DeadlineExceeded" in output
    assert "FailedHealthCheck" in output
    assert "2 distinct failures" in output  # report_multiple_bugs stays on
    assert ">       " in output  # the long traceback style: the failing line marked in its source
    assert (pytester.path / ".hypothesis" / "examples").is_dir()  # the example database is used


def test_a_run_without_a_backend_still_says_how_to_choose_one_with_a_spec_profile(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--hypothesis-profile=grade")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*No backend chosen*", "*--backend=pure*"])


def test_the_conformance_folder_given_as_a_path_is_a_spec_run(pytester):
    import microgpt_spec.conformance as conformance
    from pathlib import Path

    folder = Path(conformance.__file__).parent
    result = pytester.runpytest_subprocess(str(folder), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*No backend chosen*"])


@pytest.mark.parametrize("ci, profile", [("", "dev"), ("1", "ci")])
def test_the_spec_run_still_gets_its_profiles_and_short_tracebacks(pytester, monkeypatch, ci, profile):
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest(textwrap.dedent("""
        import json
        from hypothesis import settings

        def pytest_sessionfinish(session):
            with open("seen.json", "w") as handle:
                json.dump({"profile": settings.get_current_profile_name(),
                           "deadline": repr(settings.default.deadline),
                           "tbstyle": session.config.option.tbstyle}, handle)
    """))
    result = pytester.runpytest_subprocess("--pyargs", "microgpt_spec.conformance", "--backend=pure",
                                           "--area=tokenizer", "-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    seen = json.loads((pytester.path / "seen.json").read_text())
    assert seen == {"profile": profile, "deadline": "None", "tbstyle": "short"}
