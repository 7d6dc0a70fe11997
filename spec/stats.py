"""A chi-square goodness-of-fit test, written out (NumPy has no chi-square distribution).

The sampling area asks: do a sampler's draws follow the probabilities it was given? Count
how often each id came out of N draws, compare with the expected counts N * p_i:

    statistic = sum_i (observed_i - N p_i)^2 / (N p_i)

For a correct sampler and expected counts of a few dozen or more, the statistic follows the
chi-square distribution with k - 1 degrees of freedom (k = number of ids). The p-value is
the chance that a correct sampler scores at least this badly:

    p = P(chi2_{k-1} >= statistic) = Q((k - 1) / 2, statistic / 2)

where Q(a, x) = Gamma(a, x) / Gamma(a) is the regularized upper incomplete gamma function.
`upper_gamma_q` computes it the classic way: a power series when x < a + 1, a continued
fraction (modified Lentz) otherwise. Both converge fast there; the result is accurate to
about 1e-14 relative, checked against the closed forms

    df = 2:  p = exp(-x/2)
    df = 1:  p = erfc(sqrt(x/2))
    df = 3:  p = erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2)

>>> import math
>>> abs(chi2_sf(7.3, 2) - math.exp(-7.3 / 2)) < 1e-14
True
>>> abs(chi2_sf(4.0, 1) - math.erfc(math.sqrt(2.0))) < 1e-14
True
>>> x = 11.0; abs(chi2_sf(x, 3) - (math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2))) < 1e-14
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

_MAX_TERMS = 10_000
_RELATIVE_ACCURACY = 1e-16
_TINY = 1e-300  # keeps Lentz's continued fraction away from dividing by zero


def _lower_series(a: float, x: float) -> float:
    """P(a, x) = x^a e^-x / Gamma(a+1) * sum_n x^n / ((a+1)(a+2)...(a+n)); for x < a + 1."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_MAX_TERMS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _RELATIVE_ACCURACY:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_continued_fraction(a: float, x: float) -> float:
    """Q(a, x) = e^-x x^a / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))); x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for n in range(1, _MAX_TERMS):
        an = -n * (n - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if abs(delta - 1.0) < _RELATIVE_ACCURACY:
            break
    return fraction * math.exp(-x + a * math.log(x) - math.lgamma(a))


def upper_gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x), for a > 0 and x >= 0."""
    if a <= 0 or x < 0:
        raise ValueError(f"upper_gamma_q needs a > 0 and x >= 0, got a={a}, x={x}")
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _lower_series(a, x)
    return _upper_continued_fraction(a, x)


def chi2_sf(statistic: float, df: int) -> float:
    """P(chi-square with `df` degrees of freedom >= statistic): the test's p-value."""
    return upper_gamma_q(df / 2.0, statistic / 2.0)


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    df: int
    p_value: float
    observed: list[int]
    expected: list[float]


def chi_square_goodness_of_fit(observed: Sequence[int], probs: Sequence[float]) -> ChiSquareResult:
    """Pearson's test of counts `observed` against probabilities `probs` (summing to 1).

    Ids with probability 0 must never be observed (that is a failure by itself, reported as
    an infinite statistic) and are left out of the degrees of freedom.
    """
    total = sum(observed)
    expected = [total * float(p) for p in probs]
    statistic, cells = 0.0, 0
    for count, wanted in zip(observed, expected):
        if wanted == 0.0:
            statistic += math.inf if count else 0.0
            continue
        statistic += (count - wanted) ** 2 / wanted
        cells += 1
    df = max(cells - 1, 1)
    p_value = 0.0 if math.isinf(statistic) else chi2_sf(statistic, df)
    return ChiSquareResult(statistic, df, p_value, list(observed), expected)
