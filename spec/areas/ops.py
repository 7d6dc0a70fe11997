"""Spec area `ops`: the engine's numbers, and the value and derivative of every operation.

The rules (reference semantics):
* `backend.value(x)` makes a leaf node: `float(leaf.data) == x` and `float(leaf.grad) == 0`;
* the result of every operation is again a node, so operations chain;
* six operations are primitive, each with its local derivative:

      a + b    ->  d/da = 1,  d/db = 1          a * b  ->  d/da = b,  d/db = a
      a ** k   ->  d/da = k * a ** (k - 1)      (k a plain number)
      log(a)   ->  d/da = 1 / a                 exp(a) ->  d/da = exp(a)
      relu(a) = max(0, a)  ->  d/da = 1 if a > 0 else 0   (so relu(0) = 0 and relu'(0) = 0)

* the others are built from them, so their derivatives follow by the chain rule:
  `-a = a * -1`, `a - b = a + (-b)`, `a / b = a * b ** -1`;
* a plain int or float may stand on either side (`2 - a`, `2 * a`, `a / 2`, `2 / a` ...):
  it acts as a constant and takes no gradient;
* after `c = a / b; c.backward()`, `a.grad` holds dc/da and `b.grad` holds dc/db.

Every derivative is checked twice: against its closed form (tight tolerance) and against
central finite differences of the closed-form value, computed here in plain Python, never
with the backend. The expressions are trees over distinct leaves: how `backward()` adds up
the gradient of a node used more than once is the autograd area's business.
Inputs are float32-exact numbers, so a float32 backend sees exactly the inputs shown.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.spec.assertions import expect, expect_close, tol
from microgpt_spec.spec.profiles import examples
from microgpt_spec.spec.tolerances import Tolerance

pytestmark = pytest.mark.ops

Env = dict[str, Any]  # the inputs of one case: leaves "a", "b"; plain number "n"; exponent "k"


# --------------------------------------------------------------------------- input domains
def exact_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats in [low, high] that float32 represents exactly (the bounds rounded inwards)."""
    lo, hi = np.float32(low), np.float32(high)
    if lo < low:
        lo = np.nextafter(lo, np.float32(np.inf))
    if hi > high:
        hi = np.nextafter(hi, np.float32(-np.inf))
    return st.floats(min_value=float(lo), max_value=float(hi), width=32)


def away_from_zero(smallest: float = 1e-2, largest: float = 10.0) -> st.SearchStrategy[float]:
    """Floats with smallest <= |x| <= largest, either sign: safe to divide by."""
    magnitude = exact_floats(smallest, largest)
    return st.tuples(magnitude, st.sampled_from([1.0, -1.0])).map(lambda pair: pair[0] * pair[1])


ANY = exact_floats(-10.0, 10.0)
NONZERO = away_from_zero()
LOG_INPUT = exact_floats(1e-3, 100.0)  # log only where it is well away from its pole at 0
EXP_INPUT = exact_floats(-20.0, 20.0)  # exp(20) ~ 4.9e8: no overflow, even in float32
PLAIN_NUMBER = st.one_of(st.integers(-5, 5), ANY)
NONZERO_PLAIN_NUMBER = st.one_of(st.integers(1, 5), st.integers(-5, -1), NONZERO)


# --------------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class OpCase:
    """One operation in one layout, e.g. `a / b`, `a / n` or `n / a` (n a plain number).

    `build` runs the operation on whatever it is given: the backend's nodes or plain floats
    (for Python's operators both work; methods like `.log()` get a separate `forward`).
    """

    id: str
    code: str  # the operation as a user writes it; {n} and {k} are filled in
    leaves: tuple[str, ...]  # the names that are nodes; "n" and "k" stay plain numbers
    inputs: st.SearchStrategy[Env]
    build: Callable[[Env], Any]
    forward: Callable[[Env], float]  # the closed-form value, plain Python math
    partials: dict[str, Callable[[Env], float]]  # leaf name -> closed-form derivative
    meaning: str  # what the value is
    rule: str  # what the derivative is

    def __repr__(self) -> str:  # how hypothesis names the case in a failing example
        return f"OpCase({self.id!r})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))

    def render(self, env: Env) -> str:
        return self.code.format(**{name: repr(env[name]) for name in ("n", "k") if name in env})


@dataclass(frozen=True)
class Binary:
    """A binary operator: its Python function (works on nodes and floats alike), the
    derivative towards each operand, and the domain of its right operand."""

    symbol: str
    apply: Callable[[Any, Any], Any]
    d_left: Callable[[float, float], float]
    d_right: Callable[[float, float], float]
    meaning: str
    rule: str
    right_leaf: st.SearchStrategy[float] = ANY
    right_number: st.SearchStrategy[float | int] = PLAIN_NUMBER


BINARIES = (
    Binary("+", operator.add, lambda x, y: 1.0, lambda x, y: 1.0,
           "x + y is the sum", "d/dx (x + y) = 1 and d/dy (x + y) = 1"),
    Binary("-", operator.sub, lambda x, y: 1.0, lambda x, y: -1.0,
           "x - y is the difference, built as x + (-y) = x + (y * -1)",
           "d/dx (x - y) = 1 and d/dy (x - y) = -1 (chain rule through -y = y * -1)"),
    Binary("*", operator.mul, lambda x, y: y, lambda x, y: x,
           "x * y is the product",
           "d/dx (x * y) = y and d/dy (x * y) = x: each factor's derivative is the OTHER factor"),
    Binary("/", operator.truediv, lambda x, y: 1.0 / y, lambda x, y: -x / y**2,
           "x / y is the quotient, built as x * y ** -1",
           "d/dx (x / y) = 1 / y and d/dy (x / y) = -x / y**2 (chain rule through y ** -1)",
           right_leaf=NONZERO, right_number=NONZERO_PLAIN_NUMBER),
)


def binary_cases(op: Binary) -> list[OpCase]:
    """`a op b` (two leaves), `a op n` and the reflected `n op a` (n a plain int or float)."""
    s = op.symbol
    return [
        OpCase(f"a{s}b", f"a {s} b", ("a", "b"),
               st.fixed_dictionaries({"a": ANY, "b": op.right_leaf}),
               lambda e: op.apply(e["a"], e["b"]), lambda e: op.apply(e["a"], e["b"]),
               {"a": lambda e: op.d_left(e["a"], e["b"]), "b": lambda e: op.d_right(e["a"], e["b"])},
               op.meaning, op.rule),
        OpCase(f"a{s}n", f"a {s} {{n}}", ("a",),
               st.fixed_dictionaries({"a": ANY, "n": op.right_number}),
               lambda e: op.apply(e["a"], e["n"]), lambda e: op.apply(e["a"], e["n"]),
               {"a": lambda e: op.d_left(e["a"], e["n"])},
               op.meaning + "; a plain number on the right is a constant",
               op.rule + ", with x = a and the constant y = n"),
        OpCase(f"n{s}a", f"{{n}} {s} a", ("a",),
               st.fixed_dictionaries({"n": PLAIN_NUMBER, "a": op.right_leaf}),
               lambda e: op.apply(e["n"], e["a"]), lambda e: op.apply(e["n"], e["a"]),
               {"a": lambda e: op.d_right(e["n"], e["a"])},
               op.meaning + "; a plain number on the LEFT works too (Python calls a.__r" +
               {"+": "add", "-": "sub", "*": "mul", "/": "truediv"}[s] + "__(n))",
               op.rule + ", with the constant x = n and y = a"),
    ]


def pow_inputs(k: float) -> st.SearchStrategy[Env]:
    """A base that is safe for exponent k: any base for k = 0, 1, 2, ...; a base away
    from 0 for negative k; a positive base for a fractional k (a real power of a
    negative number is not a real number)."""
    if float(k).is_integer() and k >= 0:
        base = ANY
    elif float(k).is_integer():
        base = NONZERO
    else:
        base = exact_floats(1e-2, 10.0)
    return st.fixed_dictionaries({"a": base, "k": st.just(k)})


def unary(id_: str, code: str, inputs, on_node, on_float, derivative, meaning, rule) -> OpCase:
    return OpCase(id_, code, ("a",), inputs, lambda e: on_node(e["a"]), lambda e: on_float(e["a"]),
                  {"a": lambda e: derivative(e["a"])}, meaning, rule)


POW_RULE = "d/da a**k = k * a**(k - 1) for a plain number k (the exponent drops by ONE)"
UNARY_CASES = [
    unary("-a", "-a", st.fixed_dictionaries({"a": ANY}), operator.neg, operator.neg,
          lambda a: -1.0, "-a is the negation, built as a * -1", "d/da (-a) = -1"),
    unary("log(a)", "a.log()", st.fixed_dictionaries({"a": LOG_INPUT}), lambda a: a.log(), math.log,
          lambda a: 1.0 / a, "a.log() is the natural logarithm ln(a)", "d/da log(a) = 1/a"),
    unary("exp(a)", "a.exp()", st.fixed_dictionaries({"a": EXP_INPUT}), lambda a: a.exp(), math.exp,
          math.exp, "a.exp() is e**a", "d/da exp(a) = exp(a): exp is its own derivative"),
    unary("relu(a)", "a.relu()", st.fixed_dictionaries({"a": ANY}), lambda a: a.relu(),
          lambda a: max(0.0, a), lambda a: 1.0 if a > 0 else 0.0,
          "a.relu() = max(0, a)", "d/da relu(a) = 1 if a > 0 else 0 (0 for a <= 0, including a = 0)"),
    OpCase("a**k", "a ** {k}", ("a",),
           st.sampled_from([2, 3, -1, -2, 0.5, -0.5, 1.5]).flatmap(pow_inputs),
           lambda e: e["a"] ** e["k"], lambda e: e["a"] ** e["k"],
           {"a": lambda e: e["k"] * e["a"] ** (e["k"] - 1)},
           "a ** k raises a to the plain-number power k", POW_RULE),
    OpCase("a**x", "a ** {k}", ("a",),
           st.fixed_dictionaries({"a": exact_floats(1e-2, 10.0), "k": exact_floats(-3.0, 3.0)}),
           lambda e: e["a"] ** e["k"], lambda e: e["a"] ** e["k"],
           {"a": lambda e: e["k"] * e["a"] ** (e["k"] - 1)},
           "a ** k for any real k (positive base a)", POW_RULE),
]

CASES = [case for op in BINARIES for case in binary_cases(op)] + UNARY_CASES


# --------------------------------------------------------------------------- running a case
def run(backend, case: OpCase, env: Env) -> tuple[Any, dict[str, Any]]:
    """Make the leaves on the backend, apply the operation; return (result, leaves)."""
    leaves = {name: backend.value(env[name]) for name in case.leaves}
    return case.build({**env, **leaves}), leaves


def leaf_lines(case: OpCase, env: Env) -> str:
    return "\n".join(f"{name} = backend.value({env[name]!r})" for name in case.leaves)


def value_repro(case: OpCase, env: Env) -> str:
    return f"{leaf_lines(case, env)}\nc = {case.render(env)}\nprint(float(c.data))"


def grad_repro(case: OpCase, env: Env) -> str:
    grads = ", ".join(f"float({name}.grad)" for name in case.leaves)
    return f"{leaf_lines(case, env)}\nc = {case.render(env)}\nc.backward()\nprint({grads})"


def central_difference(case: OpCase, env: Env, name: str) -> float:
    """(f(x + h) - f(x - h)) / 2h for leaf `name`, on the closed-form forward value.

    h = 1e-7 * max(|x|, 1): small enough that the truncation error (~h**2 f''' / 6) stays
    far below 1e-6 relative on these domains, large enough that rounding (~1e-16 |f| / h)
    does too.
    """
    x = env[name]
    h = 1e-7 * max(abs(x), 1.0)
    above = case.forward({**env, name: x + h})
    below = case.forward({**env, name: x - h})
    return (above - below) / (2 * h)


# --------------------------------------------------------------------------- the tests
@given(x=st.one_of(ANY, st.integers(-100, 100)))
@settings(max_examples=examples(30))
def test_value_is_a_leaf_holding_the_number_with_grad_zero(backend, x):
    leaf = backend.value(x)
    expect_close(float(leaf.data), float(x), area="ops", call=f"float(backend.value({x!r}).data)",
                 rule="backend.value(x) makes a leaf node that holds the number x",
                 repro=f"print(float(backend.value({x!r}).data))")
    got = float(leaf.grad)
    expect(got == 0.0, "ops: a fresh leaf must start with grad 0.",
           call=f"float(backend.value({x!r}).grad)", got=got, expected=0.0,
           rule="grad holds d(output)/d(this node); before any backward() nothing has been "
                "differentiated, so it starts at 0 (backward() then adds to it)",
           repro=f"print(float(backend.value({x!r}).grad))")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@given(data=st.data())
@settings(max_examples=examples(25))
def test_forward_value_is_the_closed_form(backend, case, data):
    env = data.draw(case.inputs, label="inputs")
    out, _ = run(backend, case, env)
    expect_close(float(out.data), case.forward(env), area="ops",
                 call=f"float(({case.render(env)}).data)", inputs=env,
                 rule=case.meaning, repro=value_repro(case, env))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@given(data=st.data())
@settings(max_examples=examples(25))
def test_derivative_is_the_closed_form(backend, case, data):
    env = data.draw(case.inputs, label="inputs")
    out, leaves = run(backend, case, env)
    out.backward()
    for name, leaf in leaves.items():
        expect_close(float(leaf.grad), case.partials[name](env), area="ops",
                     call=f"c = {case.render(env)}; c.backward(); float({name}.grad)",
                     inputs=env, rule=case.rule, repro=grad_repro(case, env),
                     what=f"a wrong derivative dc/d{name}")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@given(data=st.data())
@settings(max_examples=examples(10))
def test_derivative_agrees_with_finite_differences(backend, case, data):
    """The backend's gradient matches (f(x+h) - f(x-h)) / 2h of the plain-math value.

    A second, rule-free witness: finite differences know nothing of derivative formulas.
    Loose tolerance (rel 1e-6, abs 1e-9): the difference quotient is only approximate.
    """
    env = data.draw(case.inputs, label="inputs")
    if case.id == "relu(a)" and abs(env["a"]) < 1e-3:
        env = {**env, "a": 1.0 if env["a"] >= 0 else -1.0}  # not across the kink at 0
    out, leaves = run(backend, case, env)
    out.backward()
    loose = Tolerance(rel=max(1e-6, tol("ops").rel), abs=max(1e-9, tol("ops").abs))
    for name, leaf in leaves.items():
        expect_close(float(leaf.grad), central_difference(case, env, name), area="ops",
                     call=f"c = {case.render(env)}; c.backward(); float({name}.grad)",
                     inputs=env, within=loose,
                     rule=f"{case.rule}; the slope (f({name} + h) - f({name} - h)) / 2h of the value "
                          f"must agree with the gradient",
                     repro=grad_repro(case, env), what=f"a derivative dc/d{name} unlike the slope")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@given(data=st.data())
@settings(max_examples=examples(5))
def test_result_is_a_node_that_supports_further_ops(backend, case, data):
    env = data.draw(case.inputs, label="inputs")
    out, _ = run(backend, case, env)
    code = case.render(env)
    for attribute in ("data", "grad", "backward"):
        expect(hasattr(out, attribute), f"ops: the result of {code} has no .{attribute}.",
               call=f"c = {code}", inputs=env, got=type(out).__name__,
               expected=f"a node with .{attribute}",
               rule="every operation returns a new node (data, grad, backward()), so that "
                    "expressions can be chained and differentiated",
               repro=f"{leaf_lines(case, env)}\nc = {code}\nprint(type(c), c.{attribute})")
    chained = out * 2 + 1
    expect_close(float(chained.data), 2 * case.forward(env) + 1, area="ops",
                 call=f"c = {code}; float((c * 2 + 1).data)", inputs=env,
                 rule=f"{case.meaning}; its result is a node that takes further operations "
                      "(here c * 2 + 1)",
                 repro=f"{leaf_lines(case, env)}\nc = {code}\nprint(float((c * 2 + 1).data))")


def _expect_relu_is_flat_at(backend, a, headline: str, rule: str) -> None:
    """relu(a) == 0 and d/da relu(a) == 0, checked through one backward()."""
    __tracebackhide__ = True
    leaf = backend.value(a)
    out = leaf.relu()
    out.backward()
    got = {"relu(a)": float(out.data), "a.grad": float(leaf.grad)}
    expect(got == {"relu(a)": 0.0, "a.grad": 0.0}, headline,
           call=f"a = backend.value({a!r}); c = a.relu(); c.backward()", got=got,
           expected={"relu(a)": 0.0, "a.grad": 0.0}, rule=rule,
           repro=f"a = backend.value({a!r})\nc = a.relu()\nc.backward()\nprint(float(c.data), float(a.grad))")


@pytest.mark.parametrize("zero", [0.0, -0.0, 0], ids=["0.0", "-0.0", "int 0"])
def test_relu_at_zero_is_zero_with_zero_derivative(backend, zero):
    _expect_relu_is_flat_at(
        backend, zero, "ops: relu at exactly 0 must give 0, with derivative 0.",
        rule="relu(a) = max(0, a) and d/da relu(a) = 1 if a > 0 else 0: at a = 0 the "
             "condition a > 0 is false, so the derivative is 0 (the reference's choice)")


@given(a=exact_floats(-10.0, -1e-30))
@settings(max_examples=examples(10))
def test_relu_of_a_negative_number_is_zero_with_zero_derivative(backend, a):
    _expect_relu_is_flat_at(
        backend, a, "ops: relu of a negative number must be 0, with derivative 0.",
        rule="relu(a) = max(0, a): for a < 0 the value is 0 and does not change when a moves "
             "a little, so d/da relu(a) = 0")
