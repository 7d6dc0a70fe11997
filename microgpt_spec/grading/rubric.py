"""The rubric: points per area, the scoring policy, and the default limits.

A rubric is a small TOML file (`microgpt-spec grade --rubric rubric.toml`):

    [points]             # points per spec area; areas left out are not graded
    tokenizer = 10
    ops = 15
    ...

    [policy]
    partial_credit = true        # an area earns points * passed / tests; false: all or nothing
    delegation = "no-credit"     # areas whose calls ran the project's reference backends get 0;
                                 # "allow": they are only flagged in the report

    [visibility]                 # Gradescope's, per area: visible (default), hidden,
    training = "after_due_date"  # after_due_date or after_published

    [limits]                     # defaults for the command-line options of the same meaning
    test_seconds = 60            # per test: time the submission may take in all
    submission_seconds = 900     # per submission: wall time of the whole run
    memory_mb = 2048             # address space of the submission's process
    output_kb = 1000             # what it may print (the rest is cut)

The maximum is the sum of the points, whatever the submission does: every area of the
rubric is in every report, with 0 when it could not be checked.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from microgpt_spec.grading.link import Limits
from microgpt_spec.spec.contract import AREA_TABLE

#: Areas a rubric may give points to, and their points in the default rubric (the areas'
#: records, `contract.AREA_TABLE`: robustness may be graded but has no points by default;
#: crosscheck needs a second backend).
GRADABLE_AREAS = tuple(area.name for area in AREA_TABLE if area.gradable)
DEFAULT_POINTS: dict[str, float] = {area.name: area.points for area in AREA_TABLE if area.points}
DELEGATION_POLICIES = ("no-credit", "allow")
#: Gradescope's visibility settings, for an area's entry in results.json.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class RubricError(ValueError):
    """The rubric file is not valid; the message says which entry and why."""


@dataclass(frozen=True)
class Rubric:
    points: dict[str, float] = field(default_factory=lambda: {a: float(p) for a, p in DEFAULT_POINTS.items()})
    partial_credit: bool = True
    delegation: str = "no-credit"
    limits: Limits = Limits()
    source: str = "default"
    visibility: dict[str, str] = field(default_factory=dict)  # area -> one of VISIBILITIES (default visible)

    def visibility_of(self, area: str) -> str:
        return self.visibility.get(area, "visible")

    @property
    def max_score(self) -> float:
        return round(sum(self.points.values()), 2)

    def area_score(self, area: str, passed: int, counted: int, delegated: bool) -> float:
        """Points earned in `area`: the share of its tests passed (skipped tests do not
        count), or all-or-nothing without partial credit; 0 when delegated under
        "no-credit"."""
        points = self.points[area]
        if counted == 0 or (delegated and self.delegation == "no-credit"):
            return 0.0
        if not self.partial_credit:
            return float(points) if passed == counted else 0.0
        return round(points * passed / counted, 2)

    def to_toml(self) -> str:
        lines = ["# microgpt-spec grading rubric (see docs/grading.md)", "", "[points]"]
        lines += [f"{area} = {_number(points)}" for area, points in self.points.items()]
        lines += ["", "[policy]", f"partial_credit = {'true' if self.partial_credit else 'false'}",
                  f'delegation = "{self.delegation}"', "", "[limits]",
                  f"test_seconds = {_number(self.limits.test_seconds)}",
                  f"submission_seconds = {_number(self.limits.submission_seconds)}",
                  f"memory_mb = {self.limits.memory_mb}",
                  f"output_kb = {self.limits.output_bytes // 1000}"]
        if self.visibility:
            lines += ["", "[visibility]"] + [f'{area} = "{value}"' for area, value in self.visibility.items()]
        return "\n".join(lines) + "\n"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def load_rubric(path: Path | None) -> Rubric:
    """The rubric in `path`, or the default one (100 points) for None."""
    if path is None:
        return Rubric()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise RubricError(f"cannot read the rubric {path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RubricError(f"the rubric {path} is not valid TOML: {error}") from None
    return parse_rubric(data, source=str(path))


def parse_rubric(data: dict, source: str = "rubric") -> Rubric:
    unknown = set(data) - {"points", "policy", "limits", "visibility"}
    if unknown:
        raise RubricError(f"{source}: unknown section(s) {sorted(unknown)}; the sections are "
                          "[points], [policy], [limits] and [visibility]")
    points = _points(data.get("points", DEFAULT_POINTS), source)
    policy = data.get("policy", {})
    _only(policy, {"partial_credit", "delegation"}, f"{source} [policy]")
    partial = policy.get("partial_credit", True)
    if not isinstance(partial, bool):
        raise RubricError(f"{source} [policy] partial_credit must be true or false")
    delegation = policy.get("delegation", "no-credit")
    if delegation not in DELEGATION_POLICIES:
        raise RubricError(f"{source} [policy] delegation must be one of {', '.join(DELEGATION_POLICIES)}, "
                          f"got {delegation!r}")
    return Rubric(points=points, partial_credit=partial, delegation=delegation,
                  limits=_limits(data.get("limits", {}), source), source=source,
                  visibility=_visibility(data.get("visibility", {}), points, source))


def _visibility(table: dict, points: dict[str, float], source: str) -> dict[str, str]:
    """Gradescope's visibility of each area's entry; an area left out is visible."""
    _only(table, set(points), f"{source} [visibility]")
    for area, value in table.items():
        if value not in VISIBILITIES:
            raise RubricError(f"{source} [visibility] {area} must be one of {', '.join(VISIBILITIES)}, "
                              f"got {value!r}")
    return dict(table)


def _points(table: dict, source: str) -> dict[str, float]:
    if not isinstance(table, dict) or not table:
        raise RubricError(f"{source} [points] must give points to at least one area")
    unknown = [a for a in table if a not in GRADABLE_AREAS]
    if unknown:
        raise RubricError(f"{source} [points]: unknown area(s) {unknown}; the areas are {', '.join(GRADABLE_AREAS)}")
    for area, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise RubricError(f"{source} [points] {area} must be a number >= 0, got {value!r}")
    return {area: float(table[area]) for area in GRADABLE_AREAS if area in table}  # the spec's order


def _limits(table: dict, source: str) -> Limits:
    _only(table, {"test_seconds", "submission_seconds", "memory_mb", "output_kb"}, f"{source} [limits]")
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise RubricError(f"{source} [limits] {key} must be a positive number, got {value!r}")
    limits = Limits()
    changes = {k: table[k] for k in ("test_seconds", "submission_seconds") if k in table}
    if "memory_mb" in table:
        changes["memory_mb"] = int(table["memory_mb"])
    if "output_kb" in table:
        changes["output_bytes"] = int(table["output_kb"] * 1000)
    return replace(limits, **changes)


def _only(table: dict, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise RubricError(f"{where} must be a table")
    unknown = set(table) - allowed
    if unknown:
        raise RubricError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
