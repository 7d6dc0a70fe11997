"""Assertion helpers that explain a failure to a beginner.

Every check in the spec goes through these. A failure message says, in this order:

    what went wrong (one line, naming the area)
    call        the exact backend call
    inputs      the values it was given
    got         what came back
    expected    what the spec expected, and within which tolerance
    rule        the mathematics behind the expectation
    reproduce   a snippet to paste into Python

The helpers hide their own frames (`__tracebackhide__`), so the traceback ends in the spec
test that made the check, not in here.
"""

from __future__ import annotations

import math
import textwrap
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from microgpt_spec.spec.tolerances import Tolerance, tolerance


class SpecFailure(AssertionError):
    """A backend broke a rule of the spec. The message is the explanation."""


@dataclass(frozen=True)
class RunContext:
    """What a conformance run checks: the backend as the user named it (the reproduction
    snippets load it so) and the precision it declares (the tolerances follow it).

    The pytest plugin keeps it on the run's config; a spec test that needs it asks for the
    `spec_run` fixture. The check helpers below, called from deep inside a test (and from
    each hypothesis example), read the one the plugin makes active while a spec test runs
    (`checking`), so a test need not hand it to every check.
    """

    backend_spec: str
    precision: str = "float64"

    def tol(self, area: str) -> Tolerance:
        """The tolerance of `area` for the backend's declared precision."""
        return tolerance(area, self.precision)


_active: ContextVar[RunContext] = ContextVar("microgpt_spec_run")


@contextmanager
def checking(run: RunContext) -> Iterator[None]:
    """Make `run` the one the checks read, for the duration of the block (one spec test)."""
    token = _active.set(run)
    try:
        yield
    finally:
        _active.reset(token)


def active_run() -> RunContext:
    """The run whose spec test is in progress."""
    try:
        return _active.get()
    except LookupError:
        raise RuntimeError("the spec's checks run inside a spec test, where the microgpt_spec "
                           "pytest plugin makes the run's context active") from None


def tol(area: str) -> Tolerance:
    """The tolerance of `area` in the run in progress (the backend's declared precision)."""
    return active_run().tol(area)


# --------------------------------------------------------------------------- reading results
def to_float(x: Any) -> float:
    """A backend's number (float, 0-d array, node with `.data`) as a Python float."""
    if hasattr(x, "data") and not isinstance(x, np.ndarray):
        x = x.data
    return float(np.asarray(x, dtype=np.float64))


def to_array(x: Any) -> np.ndarray:
    """A backend's vector or matrix (lists, arrays, lists of nodes) as a float64 array."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray(_map_nested(to_float, x), dtype=np.float64)


def _map_nested(fn, x):
    if isinstance(x, (list, tuple)):
        return [_map_nested(fn, item) for item in x]
    return fn(x)


# --------------------------------------------------------------------------- formatting
def show(value: Any, limit: int = 400) -> str:
    """A compact, exact rendering of a value (floats in full precision)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"


def repro_snippet(lines: str) -> str:
    """A runnable snippet: load the backend under test, then `lines`."""
    head = (
        "from microgpt_spec import load_backend\n"
        f"backend = load_backend({active_run().backend_spec!r})\n"
    )
    return head + textwrap.dedent(lines).strip() + "\n"


def explain(
    headline: str,
    *,
    call: str,
    inputs: dict[str, Any] | None = None,
    got: Any = None,
    expected: Any = None,
    within: Tolerance | None = None,
    detail: str | None = None,
    rule: str,
    repro: str | None = None,
) -> str:
    parts = [headline, f"  call:      {call}"]
    for name, value in (inputs or {}).items():
        parts.append(f"  input:     {name} = {show(value)}")
    parts.append(f"  got:       {show(got)}")
    expected_text = show(expected) + (f"   (within {within})" if within else "")
    parts.append(f"  expected:  {expected_text}")
    if detail:
        parts.append(f"  detail:    {detail}")
    parts.append("  rule:      " + textwrap.fill(rule, 88, subsequent_indent=" " * 13))
    snippet = repro_snippet(repro if repro is not None else f"print({call})")
    parts.append("  reproduce:\n" + textwrap.indent(snippet, " " * 6))
    return "\n".join(parts)


FLOAT32_UNIT = 2.0**-24  # float32's rounding, relative: half the gap between neighbouring floats near 1
#: Relative errors that a few hundred float32 roundings make; bigger ones need more evidence.
FLOAT32_TYPICAL_REL = 1e-5


def is_float32_exact(values: np.ndarray) -> bool:
    """True if every value is a float32 number (what a float32 computation hands back)."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(np.all(finite.astype(np.float32).astype(np.float64) == finite))


def precision_hint(got: np.ndarray, expected: np.ndarray, area: str) -> str | None:
    """When a float64 backend misses by float32-sized errors, and only then, say so.

    Float32-sized from both sides:
    * not bigger than float32 arithmetic makes: within the float32 tolerance, and either
      every value returned is a float32 number or the worst relative error is at most
      FLOAT32_TYPICAL_REL (a real bug of 1e-3 relative, say a missing gradient reset, is
      neither);
    * not smaller than float32 arithmetic makes: the worst error is at least a float32
      rounding of the value, or a tenth of one when every value is a float32 number (a
      1e-10 relative error, say from an epsilon added inside a log, is far below that).
    """
    if active_run().precision != "float64" or got.shape != expected.shape:
        return None
    t32 = tolerance(area, "float32")
    if not (np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=t32.rel, atol=t32.abs)):
        return None
    error = np.abs(got - expected)
    size = np.maximum(np.abs(expected), np.abs(got))
    nonzero = size > 0
    if not nonzero.any():
        return None
    in_float32_units = float(np.max(error[nonzero] / (FLOAT32_UNIT * size[nonzero])))
    worst_relative = float(np.max(error[nonzero] / size[nonzero]))
    exact = is_float32_exact(got)
    big_enough = in_float32_units >= (0.1 if exact else 1.0)
    small_enough = exact or worst_relative <= FLOAT32_TYPICAL_REL
    if big_enough and small_enough:
        return (
            "the errors are the size float32 arithmetic makes: if your backend computes in "
            "float32, declare precision = 'float32' on it"
        )
    return None


# --------------------------------------------------------------------------- the checks
def expect_close(
    got: Any,
    expected: Any,
    *,
    area: str,
    call: str,
    rule: str,
    inputs: dict[str, Any] | None = None,
    repro: str | None = None,
    within: Tolerance | None = None,
    what: str = "a wrong value",
) -> None:
    """`got` equals `expected` (numbers, vectors or matrices) within the area's tolerance."""
    __tracebackhide__ = True
    within = within or tol(area)
    try:
        got_array = to_array(got)
    except (TypeError, ValueError) as error:
        raise SpecFailure(
            explain(f"{area}: {call} returned something that is not numbers ({error}).",
                    call=call, inputs=inputs, got=got, expected=expected, rule=rule, repro=repro)
        ) from None
    expected_array = np.asarray(expected, dtype=np.float64)
    if got_array.shape != expected_array.shape:
        raise SpecFailure(
            explain(f"{area}: {call} returned shape {got_array.shape}, expected {expected_array.shape}.",
                    call=call, inputs=inputs, got=got, expected=expected, rule=rule, repro=repro)
        )
    close = np.isclose(got_array, expected_array, rtol=within.rel, atol=within.abs)
    if close.all():
        return
    detail = _worst_detail(got_array, expected_array, close)
    hint = precision_hint(got_array, expected_array, area)
    if hint:
        detail += "; " + hint
    raise SpecFailure(
        explain(f"{area}: {call} returned {what}.", call=call, inputs=inputs, got=got,
                expected=expected, within=within, detail=detail, rule=rule, repro=repro)
    )


def _worst_detail(got: np.ndarray, expected: np.ndarray, close: np.ndarray) -> str:
    if got.ndim == 0:
        return f"off by {_gap(float(got), float(expected))}"
    error = np.where(close, 0.0, np.abs(np.nan_to_num(got - expected, nan=np.inf)))
    index = np.unravel_index(int(np.argmax(error)), got.shape)
    where = "[" + "][".join(str(int(i)) for i in index) + "]"
    count = int((~close).sum())
    return (f"{count} of {close.size} entries differ; worst at {where}: got {got[index]!r}, "
            f"expected {expected[index]!r} ({_gap(float(got[index]), float(expected[index]))})")


def _gap(got: float, expected: float) -> str:
    if not math.isfinite(got):
        return f"got a non-finite number ({got})"
    diff = abs(got - expected)
    relative = diff / abs(expected) if expected else math.inf
    return f"difference {diff:.3g}, relative {relative:.3g}"


def expect(
    condition: bool,
    headline: str,
    *,
    call: str,
    rule: str,
    got: Any = None,
    expected: Any = None,
    inputs: dict[str, Any] | None = None,
    repro: str | None = None,
) -> None:
    """A yes/no rule of the spec; `headline` says what broke it."""
    __tracebackhide__ = True
    if not condition:
        raise SpecFailure(
            explain(headline, call=call, inputs=inputs, got=got, expected=expected, rule=rule, repro=repro)
        )


def expect_raises(
    exceptions: type[BaseException] | tuple[type[BaseException], ...],
    fn,
    *,
    area: str,
    call: str,
    rule: str,
    inputs: dict[str, Any] | None = None,
    repro: str | None = None,
) -> BaseException:
    """`fn()` raises one of `exceptions`; returns the exception for further checks."""
    __tracebackhide__ = True
    wanted = exceptions if isinstance(exceptions, tuple) else (exceptions,)
    names = " or ".join(e.__name__ for e in wanted)
    try:
        result = fn()
    except wanted as error:
        return error
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - a wrong kind of error is the finding
        raise SpecFailure(
            explain(f"{area}: {call} raised {type(error).__name__}, expected {names}.", call=call,
                    inputs=inputs, got=f"{type(error).__name__}: {error}", expected=names,
                    rule=rule, repro=repro)
        ) from None
    raise SpecFailure(
        explain(f"{area}: {call} raised nothing, expected {names}.", call=call, inputs=inputs,
                got=result, expected=names, rule=rule, repro=repro)
    )


def floats_of(values: Iterable[Any]) -> list[float]:
    return [to_float(v) for v in values]


def as_lists(matrix: Sequence[Sequence[float]] | np.ndarray) -> list[list[float]]:
    """Plain nested lists of Python floats, the form the contract hands to backends."""
    return np.asarray(matrix, dtype=np.float64).tolist()
