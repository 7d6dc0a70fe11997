"""The spec must reject classic mistakes, in the area where each one lives.

For every mistaken backend in `mistaken_backends.py` (the pure backend with one bug), a
conformance run of its own, in a separate process, must show:

* the bug's area fails (in the default run), and
* every area that does not run the buggy code passes: the areas that neither are the bug's
  area nor depend on it (`contract.AREA_DEPENDS_ON`). The areas that do depend on it may
  fail too (a wrong log derivative also makes the model's gradients wrong), so they are
  not run here. This sweep is minutes of CPU: it is marked slow (CI runs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mistaken_backends
from spec_runs import spec_run
from microgpt_spec.spec.contract import AREA_DEPENDS_ON, AREAS

HERE = Path(__file__).resolve().parent


def depends_on(area: str, other: str) -> bool:
    """Does `area` run code of `other`, directly or through another area?"""
    direct = AREA_DEPENDS_ON[area]
    return other in direct or any(depends_on(a, other) for a in direct)


def areas_that_must_pass(bug_area: str) -> list[str]:
    return [a for a in AREAS if a != bug_area and not depends_on(a, bug_area)]


def run_conformance(mistake: type, areas: list[str], out: Path, *extra: str, profile: str = "ci") -> dict:
    return spec_run(f"{HERE / 'mistaken_backends.py'}:{mistake.__name__}", out, areas, *extra, profile=profile)


@pytest.mark.parametrize("mistake", mistaken_backends.ALL, ids=lambda m: m.__name__)
def test_mistake_is_rejected_by_its_area(mistake, tmp_path):
    # -x: the first failing test settles the verdict; the rest of the area need not run.
    report = run_conformance(mistake, [mistake.area], tmp_path / "report.json", "-x")
    verdicts = {area: result["verdict"] for area, result in report["areas"].items()}
    assert verdicts.get(mistake.area) == "FAIL", (
        f"{mistake.__name__} ({mistake.description}) was not rejected by the {mistake.area} area: {verdicts}"
    )


@pytest.mark.slow  # every area but the bug's, for every mistake: minutes of CPU (CI's -m slow step)
@pytest.mark.parametrize("mistake", mistaken_backends.ALL, ids=lambda m: m.__name__)
def test_mistake_leaves_the_areas_that_do_not_use_it_passing(mistake, tmp_path):
    must_pass = areas_that_must_pass(mistake.area)
    # The quick profile (a tenth of the examples): this sweep asks whether a correct part
    # passes, for 31 mistakes; the full profile would add minutes and no new question.
    report = run_conformance(mistake, must_pass, tmp_path / "report.json", profile="quick")
    verdicts = {area: result["verdict"] for area, result in report["areas"].items()}
    wrongly_failed = {a: verdicts.get(a) for a in must_pass if verdicts.get(a) != "PASS"}
    assert not wrongly_failed, (
        f"{mistake.__name__} ({mistake.description}) also failed areas that do not use the buggy code: "
        f"{wrongly_failed}; their messages:\n"
        + "\n".join(t["message"][:600] for t in report["tests"] if t["area"] in wrongly_failed and t["status"] == "failed")
    )


def test_every_mistake_has_a_known_area():
    for mistake in mistaken_backends.ALL:
        assert mistake.area in AREAS, mistake


#: The areas whose graphs a recursive sort could choke on: the quick run's.
DEEP_GRAPH_AREAS = ["autograd", "loss", "robustness"]


@pytest.mark.parametrize("areas", [
    pytest.param(DEEP_GRAPH_AREAS, id="deep-graph-areas"),
    pytest.param([], id="every-area", marks=pytest.mark.slow),
])
def test_a_recursive_topological_sort_like_the_original_passes_every_counted_area(tmp_path, areas):
    """The original program sorts its graph recursively. That is fine for every graph the
    reference model builds, so a backend that does the same must pass every counted area;
    only the robustness tier (beyond the reference, counted in no verdict) may fail, and the
    run as a whole still passes. (The default run checks the areas with deep graphs; the
    slow step, every area.)"""
    report = run_conformance(mistaken_backends.RecursiveTopologicalSort, areas, tmp_path / "report.json")
    verdicts = {area: result["verdict"] for area, result in report["areas"].items()}
    counted = [a for a in AREAS if not areas or a in areas]
    assert {a: verdicts.get(a) for a in counted} == {a: "PASS" for a in counted}, report["stdout"][-4000:]
    robustness = report["areas"]["robustness"]
    assert robustness["verdict"] == "FAIL" and robustness["counted"] is False
    assert all(report["areas"][a]["counted"] for a in counted)
    assert report["exit"] == 0, "only the uncounted robustness tier failed, so the run must pass"
    assert "recursion limit" in robustness["start_here"]["headline"]
