"""Spec area `adam`: the optimizer that turns gradients into parameter updates.

The rules (reference semantics; `AdamHyper` defaults: lr 0.01, beta1 0.85, beta2 0.99,
eps 1e-8). At 0-based step `s` of a `num_steps` schedule, for every parameter p with
gradient g:

    lr_t  = lr * (1 - s / num_steps)          the learning rate decays linearly to 0
    m     = beta1 * m + (1 - beta1) * g       running mean of the gradient
    v     = beta2 * v + (1 - beta2) * g**2    running mean of its square
    m_hat = m / (1 - beta1 ** (s + 1))        bias correction: m and v start at 0, so early
    v_hat = v / (1 - beta2 ** (s + 1))        on they are too small; step s is the (s+1)-th
    p    -= lr_t * m_hat / (sqrt(v_hat) + eps)
    g     = 0                                 ready for the next backward pass

* a fresh optimizer has m = v = 0 for every parameter;
* so the very first step moves each parameter by lr * g / (|g| + eps), about lr against
  the sign of its gradient, whatever the gradient's size;
* a parameter whose gradient is 0 still moves while its momentum m is not 0.

How the area talks to the backend: it makes nodes with `backend.value(x)`, builds
`opt = backend.adam(nodes, AdamHyper(...))`, sets `node.grad = g` before each step, calls
`opt.step(step, num_steps)` and reads `float(node.data)`, `float(node.grad)`, `opt.m[i]`,
`opt.v[i]`. Expected values come from `oracle.adam_update` (the closed form above, in
NumPy) or from the closed form written out in the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.spec import oracle
from microgpt_spec.spec.assertions import SpecFailure, expect, expect_close, explain, to_float, tol
from microgpt_spec.spec.contract import AdamHyper
from microgpt_spec.spec.profiles import examples
from microgpt_spec.spec.strategies import reals, vectors

pytestmark = pytest.mark.adam

#: "Start here" order for the report: one rule at a time first, the general runs last.
READ_FIRST = (
    "test_a_fresh_optimizer_has_zero_moments",
    "test_first_step_moves_each_parameter_by_lr_against_its_gradient",
    "test_gradients_are_zero_after_a_step",
    "test_bias_correction_counts_the_step_from_one",
    "test_learning_rate_decays_linearly",
    "test_zero_gradient_parameter_still_moves_on_momentum",
)

# The profiles set report_multiple_bugs=False (spec/profiles.py): when one mistake fails in
# two ways (a ZeroDivisionError at step 0, wrong numbers later) the learner sees one
# explained failure rather than a group of them.

ADAM_RULE = (
    "at 0-based step s of num_steps: lr_t = lr*(1 - s/num_steps); m = beta1*m + (1-beta1)*g; "
    "v = beta2*v + (1-beta2)*g**2; m_hat = m/(1 - beta1**(s+1)); v_hat = v/(1 - beta2**(s+1)); "
    "p -= lr_t * m_hat/(sqrt(v_hat) + eps); then g = 0"
)
BIAS_RULE = (
    "bias correction divides by 1 - beta**(s+1): step s is the (s+1)-th update, so at step 0 "
    "m_hat = m/(1-beta1) = g exactly. Counting from 0 (beta**s) divides by 1 - beta**0 = 0 at "
    "step 0; leaving the correction out makes the first steps too small (m = 0.15 g, v = 0.01 g**2)"
)
M_RULE = (
    "m = beta1 * m + (1 - beta1) * g: a running mean of the gradient g exactly as backward left it "
    "(no clipping, no rescaling); m itself is stored WITHOUT the bias correction, which only enters "
    "the step"
)
V_RULE = (
    "v = beta2 * v + (1 - beta2) * g**2: a running mean of the squared gradient g exactly as backward "
    "left it (no clipping, no rescaling); v itself is stored WITHOUT the bias correction"
)
STEP_RULE = (
    "p -= lr_t * m_hat / (sqrt(v_hat) + eps) with lr_t = lr * (1 - s/num_steps), m_hat = m/(1 - beta1**(s+1)), "
    "v_hat = v/(1 - beta2**(s+1)), and nothing else moves p (the reference has no weight decay and "
    "no clipping)"
)
DECAY_RULE = (
    "the learning rate decays linearly over the schedule: lr_t = lr * (1 - s/num_steps), "
    "so step 0 uses lr and the last step (num_steps - 1) uses lr/num_steps"
)


# --------------------------------------------------------------------------- a scripted run
@dataclass
class AdamRun:
    """Nodes starting at `params`; steps `first_step`, `first_step + 1`, ... of `num_steps`,
    with `grads[k]` set on the nodes before the k-th of them."""

    params: list[float]
    grads: list[list[float]]
    first_step: int
    num_steps: int
    hyper: AdamHyper = AdamHyper()

    @property
    def steps(self) -> list[int]:
        return [self.first_step + k for k in range(len(self.grads))]

    def hyper_code(self) -> str:
        h = self.hyper
        return f"AdamHyper(lr={h.lr!r}, beta1={h.beta1!r}, beta2={h.beta2!r}, eps={h.eps!r})"

    def repro(self, upto: int | None = None) -> str:
        """Lines that replay the run (its first `upto` steps) and print the state."""
        upto = len(self.grads) if upto is None else upto
        schedule = list(zip(self.steps, self.grads))[:upto]
        return (
            "from microgpt_spec.spec.contract import AdamHyper\n"
            f"nodes = [backend.value(x) for x in {self.params!r}]\n"
            f"opt = backend.adam(nodes, {self.hyper_code()})\n"
            f"for step, grads in {schedule!r}:\n"
            "    for node, g in zip(nodes, grads):\n"
            "        node.grad = g\n"
            f"    opt.step(step, {self.num_steps})\n"
            "print([float(n.data) for n in nodes], [float(x) for x in opt.m], [float(x) for x in opt.v])"
        )

    def inputs(self) -> dict[str, Any]:
        return {"params": self.params, "grads per step": self.grads, "steps": self.steps,
                "num_steps": self.num_steps, "hyper": self.hyper_code()}


@dataclass
class AdamState:
    """Parameters, moments and gradients as plain floats."""

    params: list[float]
    m: list[float]
    v: list[float]
    grads: list[float]


def expected_states(run: AdamRun) -> list[AdamState]:
    """The oracle's state after each step of `run` (moments start at 0)."""
    p = np.array(run.params, dtype=np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    states = []
    for step, grads in zip(run.steps, run.grads):
        p, m, v = oracle.adam_update(p, np.array(grads, dtype=np.float64), m, v, step, run.num_steps, run.hyper)
        states.append(AdamState(p.tolist(), m.tolist(), v.tolist(), [0.0] * len(p)))
    return states


def backend_states(backend, run: AdamRun) -> list[AdamState]:
    """Run the scripted steps on the backend; the state read back after each step."""
    nodes = [backend.value(x) for x in run.params]
    opt = backend.adam(nodes, run.hyper)
    states = []
    for k, (step, grads) in enumerate(zip(run.steps, run.grads)):
        for node, g in zip(nodes, grads):
            node.grad = g
        take_step(opt, step, run, upto=k + 1)
        states.append(read_state(nodes, opt))
    return states


def take_step(opt, step: int, run: AdamRun, upto: int) -> None:
    """`opt.step(step, num_steps)`, with an arithmetic error turned into an explanation.

    The classic way to get here is bias correction counted from 0: 1 - beta**0 = 0.
    """
    __tracebackhide__ = True
    try:
        opt.step(step, run.num_steps)
    except ArithmeticError as error:  # ZeroDivisionError, OverflowError, FloatingPointError
        raise SpecFailure(explain(
            f"adam: opt.step({step}, {run.num_steps}) raised {type(error).__name__}.",
            call=f"opt.step({step}, {run.num_steps})", inputs=run.inputs(),
            got=f"{type(error).__name__}: {error}", expected="a finite update",
            detail="a division by zero at step 0 usually means the bias correction uses "
                   "beta**step instead of beta**(step + 1)",
            rule=BIAS_RULE, repro=run.repro(upto))) from None


def read_state(nodes: Sequence[Any], opt) -> AdamState:
    return AdamState(
        params=[to_float(n.data) for n in nodes],
        m=[to_float(x) for x in opt.m],
        v=[to_float(x) for x in opt.v],
        grads=[to_float(n.grad) for n in nodes],
    )


def check_states(got: list[AdamState], expected: list[AdamState], run: AdamRun, note: str = "") -> None:
    """Every step's m, v and parameters equal the expected ones (finite first, then close).

    Each quantity is checked on its own and a wrong one cites its own rule: m and v have
    theirs, and a wrong move of the parameters (m and v being right) is diagnosed by
    `step_diagnosis`, so a clipped gradient, a weight decay or another schedule is never
    reported as a bias-correction mistake. `note` adds what the calling test is about.
    """
    __tracebackhide__ = True
    extra = f". This test: {note}" if note else ""
    before = run.params
    for k, (g, e) in enumerate(zip(got, expected)):
        step = run.steps[k]
        call = f"opt.step({step}, {run.num_steps})  (update {k + 1} of this run)"
        numbers = g.params + g.m + g.v
        expect(all(math.isfinite(x) for x in numbers),
               f"adam: after opt.step({step}, {run.num_steps}) a parameter or moment is not finite.",
               call=call, inputs=run.inputs(), got={"params": g.params, "m": g.m, "v": g.v},
               expected={"params": e.params, "m": e.m, "v": e.v},
               rule=ADAM_RULE + ". A nan or inf at step 0 usually means the bias correction divides by "
                                "1 - beta**0 = 0 (use beta**(step + 1))" + extra,
               repro=run.repro(k + 1))
        expect_close(g.m, e.m, area="adam", call=call + ".m", what="a wrong m (first moment) after the step",
                     inputs=run.inputs(), rule=M_RULE + extra, repro=run.repro(k + 1))
        expect_close(g.v, e.v, area="adam", call=call + ".v", what="a wrong v (second moment) after the step",
                     inputs=run.inputs(), rule=V_RULE + extra, repro=run.repro(k + 1))
        rule, detail = step_diagnosis(before, g.params, e.m, e.v, step, run)
        expect_close(g.params, e.params, area="adam", call=call,
                     what=f"parameters that moved wrongly ({detail})" if detail else "wrong parameters after the step",
                     inputs=run.inputs(), rule=rule + extra, repro=run.repro(k + 1))
        before = e.params


def step_diagnosis(before: Sequence[float], after: Sequence[float], m: Sequence[float], v: Sequence[float],
                   step: int, run: AdamRun) -> tuple[str, str]:
    """(rule, what went wrong) for a parameter move that is not the Adam step, m and v being
    right: the bias correction left out or counted from 0, a learning rate that is the same
    for every parameter but not lr * (1 - s/num_steps) (the schedule), or something else
    (an extra term such as weight decay)."""
    h = run.hyper
    moved = np.array(before, dtype=np.float64) - np.array(after, dtype=np.float64)
    m, v = np.array(m, dtype=np.float64), np.array(v, dtype=np.float64)
    lr_t = h.lr * (1 - step / run.num_steps)
    direction = (m / (1 - h.beta1 ** (step + 1))) / (np.sqrt(v / (1 - h.beta2 ** (step + 1))) + h.eps)
    t = tol("adam")

    def moved_by(candidate: np.ndarray) -> bool:
        with np.errstate(all="ignore"):
            return bool(np.all(np.isclose(moved, candidate, rtol=max(t.rel, 1e-9), atol=max(t.abs, 1e-15))))

    if np.allclose(moved, lr_t * direction, rtol=t.rel, atol=t.abs):
        return ADAM_RULE, ""
    if moved_by(lr_t * m / (np.sqrt(v) + h.eps)):
        return BIAS_RULE, "the move is that of m and v used WITHOUT the bias correction"
    if step > 0 and moved_by(lr_t * (m / (1 - h.beta1**step)) / (np.sqrt(v / (1 - h.beta2**step)) + h.eps)):
        return BIAS_RULE, "the move is that of a bias correction with beta**step instead of beta**(step + 1)"
    usable = np.abs(direction) > 1e-12
    implied = moved[usable] / direction[usable]
    if usable.sum() >= 2 and np.allclose(implied, implied[0], rtol=1e-6, atol=0.0):
        which = " (the lr itself, not decayed)" if math.isclose(implied[0], h.lr, rel_tol=1e-6) else ""
        return (DECAY_RULE, f"every parameter moved by {float(implied[0])!r}{which} times m_hat/(sqrt(v_hat) + eps): "
                            f"that learning rate is wrong at step {step} of {run.num_steps}, where lr_t = "
                            f"lr * (1 - s/num_steps) = {lr_t!r}")
    return (STEP_RULE, "m and v are right, and no single learning rate explains the move: look for an extra "
                       "term in the update (weight decay, a clipped or rescaled step, a term in p itself)")


# --------------------------------------------------------------------------- strategies
def gradients() -> st.SearchStrategy[float]:
    """Gradients: exactly 0 now and then (a parameter the loss did not use), else any size."""
    return st.one_of(st.just(0.0), reals(-10.0, 10.0))


def hypers() -> st.SearchStrategy[AdamHyper]:
    """Non-default settings: every field moves, so none can be hard-coded."""
    return st.builds(
        AdamHyper,
        lr=st.floats(1e-4, 1.0),
        beta1=st.floats(0.0, 0.99),
        beta2=st.floats(0.5, 0.9999),
        eps=st.floats(1e-10, 1e-3),
    )


@st.composite
def adam_runs(draw, hyper: st.SearchStrategy[AdamHyper] = st.just(AdamHyper()), max_steps: int = 4) -> AdamRun:
    """A few parameters, a schedule, and a stretch of consecutive steps somewhere in it."""
    size = draw(st.integers(1, 4), label="number of parameters")
    num_steps = draw(st.integers(1, 1000), label="num_steps")
    count = draw(st.integers(1, min(max_steps, num_steps)), label="steps taken")
    first = draw(st.integers(0, num_steps - count), label="first step")
    return AdamRun(
        params=draw(vectors(size), label="params"),
        grads=draw(st.lists(vectors(size, gradients()), min_size=count, max_size=count), label="grads"),
        first_step=first,
        num_steps=num_steps,
        hyper=draw(hyper, label="hyper"),
    )


# --------------------------------------------------------------------------- the tests
@given(size=st.integers(1, 5))
@settings(max_examples=examples(5))
def test_a_fresh_optimizer_has_zero_moments(backend, size):
    params = [0.5 * i - 1.0 for i in range(size)]
    opt = backend.adam([backend.value(x) for x in params], AdamHyper())
    got = {"m": [to_float(x) for x in opt.m], "v": [to_float(x) for x in opt.v]}
    expected = {"m": [0.0] * size, "v": [0.0] * size}
    expect(got == expected, "adam: a new optimizer's moments are not all 0.",
           call="backend.adam(nodes, AdamHyper())", inputs={"params": params}, got=got, expected=expected,
           rule="Adam starts with m = v = 0, one of each per parameter (that is why it needs the "
                "bias correction)",
           repro="from microgpt_spec.spec.contract import AdamHyper\n"
                 f"nodes = [backend.value(x) for x in {params!r}]\n"
                 "opt = backend.adam(nodes, AdamHyper())\nprint(list(opt.m), list(opt.v))")


@given(data=st.data())
@settings(max_examples=examples(30))
def test_first_step_moves_each_parameter_by_lr_against_its_gradient(backend, data):
    size = data.draw(st.integers(1, 4), label="number of parameters")
    params = data.draw(vectors(size), label="params")
    grads = data.draw(vectors(size, st.one_of(reals(-10, -1e-3), reals(1e-3, 10))), label="grads")
    num_steps = data.draw(st.integers(1, 1000), label="num_steps")
    run = AdamRun(params, [grads], first_step=0, num_steps=num_steps)
    got = backend_states(backend, run)[0]
    lr, eps = AdamHyper().lr, AdamHyper().eps
    # At step 0: m_hat = g and v_hat = g**2 (up to rounding), so the move is lr * g / (|g| + eps).
    expected = [p - lr * g / (abs(g) + eps) for p, g in zip(params, grads)]
    reference = expected_states(run)[0]
    rule, detail = step_diagnosis(params, got.params, reference.m, reference.v, 0, run)
    expect_close(got.params, expected, area="adam", call=f"opt.step(0, {num_steps})",
                 what=f"parameters that moved wrongly ({detail})" if detail else "wrong parameters after the first step",
                 inputs=run.inputs(),
                 rule="at step 0 the bias-corrected moments are m_hat = g and v_hat = g**2, so each "
                      "parameter moves by lr * g/(|g| + eps): about 0.01 against the sign of its "
                      "gradient. " + rule,
                 repro=run.repro())


@given(run=adam_runs())
@settings(max_examples=examples(60))
def test_steps_follow_the_adam_rule(backend, run):
    check_states(backend_states(backend, run), expected_states(run), run)


@given(run=adam_runs(hyper=hypers()))
@settings(max_examples=examples(40))
def test_steps_use_the_given_hyperparameters(backend, run):
    check_states(backend_states(backend, run), expected_states(run), run,
                 "the optimizer must use the AdamHyper it was given (lr, beta1, beta2, eps), not the defaults")


@pytest.mark.parametrize("step", [1, 3, 20])
def test_bias_correction_counts_the_step_from_one(backend, step):
    # A fresh optimizer at a later step: m = (1-b1) g, so m_hat = (1-b1) g / (1 - b1**(step+1)).
    run = AdamRun(params=[0.5, -0.25, 2.0], grads=[[0.3, -2.0, 1e-3]], first_step=step, num_steps=100)
    check_states(backend_states(backend, run), expected_states(run), run)


@pytest.mark.parametrize("step, num_steps", [(50, 100), (9, 10), (250, 1000)])
def test_learning_rate_decays_linearly(backend, step, num_steps):
    run = AdamRun(params=[0.5, -0.25], grads=[[0.3, -2.0], [0.1, 0.4]], first_step=step - 1, num_steps=num_steps)
    check_states(backend_states(backend, run), expected_states(run), run)


@given(run=adam_runs())
@settings(max_examples=examples(20))
def test_gradients_are_zero_after_a_step(backend, run):
    for k, state in enumerate(backend_states(backend, run)):
        expect(state.grads == [0.0] * len(state.grads),
               "adam: a gradient is not 0 after opt.step().",
               call=f"float(node.grad) after opt.step({run.steps[k]}, {run.num_steps})",
               inputs=run.inputs(), got=state.grads, expected=[0.0] * len(state.grads),
               rule="after updating a parameter the optimizer sets its grad to 0; backward() "
                    "adds to grads (+=), so a grad left over would be added to the next step's",
               repro=run.repro(k + 1) + "\nprint([float(n.grad) for n in nodes])")


@given(data=st.data())
@settings(max_examples=examples(20))
def test_zero_gradient_parameter_still_moves_on_momentum(backend, data):
    size = data.draw(st.integers(1, 3), label="number of parameters")
    params = data.draw(vectors(size), label="params")
    first = data.draw(vectors(size, st.one_of(reals(-10, -1e-3), reals(1e-3, 10))), label="first grads")
    run = AdamRun(params, [first, [0.0] * size], first_step=0, num_steps=1000)
    got = backend_states(backend, run)
    moved = [a != b for a, b in zip(got[0].params, got[1].params)]
    expect(all(moved), "adam: a parameter with gradient 0 did not move.",
           call="opt.step(1, 1000) with every grad 0, after opt.step(0, 1000) with grads != 0",
           inputs=run.inputs(), got={"after step 0": got[0].params, "after step 1": got[1].params},
           expected="every parameter moves again at step 1",
           rule="m = beta1*m + (1-beta1)*0 is still not 0, so m_hat/(sqrt(v_hat)+eps) is not 0: "
                "every parameter is updated every step, even with a zero gradient",
           repro=run.repro())
    check_states(got, expected_states(run), run)
