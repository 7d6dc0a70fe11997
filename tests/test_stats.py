"""The spec's goodness-of-fit helper: its doctests and its closed forms."""

from __future__ import annotations

import doctest
import math

import pytest

from microgpt_spec.spec import stats


def test_doctests():
    failures, tried = doctest.testmod(stats)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.0, 10.0, 40.0])
def test_two_degrees_of_freedom_has_a_closed_form(x):
    # For k = 2 the chi-square survival function is exp(-x / 2).
    assert stats.chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-12)
