"""Hypothesis profiles for the conformance run.

    dev       random inputs, the default while you develop (new examples each run)
    ci        derandomized, no example database: the same run every time, under xdist too;
              chosen automatically when the CI environment variable is set
    grade     like ci, with the example counts fixed: what graders use
    quick     like grade, with a tenth of the examples: quick feedback (`grade --profile quick`)
    thorough  ten times the examples, random: for hunting rare bugs

Pick one with `--hypothesis-profile=NAME`. Every test's example count is written as
`examples(n)`: n in dev, ci and grade; n/10 in quick; 10*n in thorough.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PROFILE_NAMES = ("dev", "ci", "grade", "quick", "thorough")
QUICK_PROFILE = "quick"
_BASE = settings(
    deadline=None,  # timings vary on a busy machine; speed is measured in benchmarks/
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=False,
    # One failure, explained, is what a learner needs, not an ExceptionGroup of several.
    report_multiple_bugs=False,
    # No "explain" phase: its coverage notes point into the spec's helpers, not at the bug.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


def register_profiles() -> None:
    settings.register_profile("dev", _BASE, max_examples=100)
    settings.register_profile("ci", _BASE, max_examples=100, derandomize=True, database=None)
    settings.register_profile("grade", _BASE, max_examples=100, derandomize=True, database=None)
    settings.register_profile(QUICK_PROFILE, _BASE, max_examples=10, derandomize=True, database=None)
    settings.register_profile("thorough", _BASE, max_examples=1000)


def examples(n: int) -> int:
    """`n` examples scaled by the active profile (x10 under `thorough`, /10 under `quick`)."""
    return max(1, n * settings.default.max_examples // 100)
