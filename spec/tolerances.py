"""How close is close enough, stated once per area and per precision.

A backend declares `precision = "float64"` (the default) or `"float32"`. Every numeric
comparison in the spec takes its tolerance from here, so the rules are in one place:

* float64: results may differ from the exact value by summation order only. Sums of a few
  hundred terms lose a few ulps, so 1e-10 relative is generous; gradients through the whole
  model and a few Adam steps get a little more room.
* float32: 24 bits of mantissa, ~6e-8 per rounding; a model forward accumulates a few
  hundred roundings, so 1e-4 relative (and 1e-5 absolute for values near zero).

A float32 backend that declares float64 fails, and the message says its errors are of
float32 size (see `assertions.precision_hint`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rel: float
    abs: float

    def __str__(self) -> str:
        return f"relative {self.rel:g}, absolute {self.abs:g}"


PRECISIONS = ("float64", "float32")


def tolerance(area: str, precision: str) -> Tolerance:
    """The tolerance of `area` for a backend of `precision` (the numbers stand in the area's
    record, `contract.AREA_TABLE`)."""
    from microgpt_spec.spec.contract import AREA_BY_NAME  # the contract imports Tolerance from here

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: a backend declares one of {PRECISIONS}")
    return getattr(AREA_BY_NAME[area], precision)


