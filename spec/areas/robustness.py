"""Spec area `robustness`: beyond the reference. Reported, never counted.

The original microgpt orders its graph with a recursive depth-first search: one Python
stack frame per level. Every graph the reference model builds is far shallower than
Python's recursion limit (about 280 levels at the default config), so that is correct for
the program it is. The tests here ask for more: graphs thousands of levels deep, and a
model deep enough (8 layers) that the recursive sort breaks.

So this area is a separate tier. Its results appear in the end-of-run table and in the JSON
report (marked `"counted": false`), but no area's verdict, no exit status and no default
grade counts them: an implementation that follows the reference faithfully, recursion and
all, passes every counted area. An instructor may still give this tier points.

The rules:
* `backward()` works on a graph of any depth: no Python stack frame per level (sort with
  an explicit stack, a while loop over a list);
* so does `loss_and_grads` on a model of any number of layers.

Expected values: closed forms (the deep chain) and the oracle (the deep model).
"""

from __future__ import annotations

import pytest

from microgpt_spec.spec import oracle
from microgpt_spec.spec.areas.autograd import PATH_RULE, backward_or_explain
from microgpt_spec.spec.assertions import expect, expect_close, tol
from microgpt_spec.spec.contract import Config, param_shapes
from microgpt_spec.spec.strategies import random_params

pytestmark = pytest.mark.robustness

AREA = "robustness"
BEYOND = ("(beyond the reference: the original program's recursive sort fails this too, and this "
          "area counts in no verdict)")


# --------------------------------------------------------------------------- a deep chain
def deep_chain(backend, steps: int):
    """z = x; then `steps` times: z = z * q + y, with q = 2, 0.5, 2, 0.5, ...

    Two levels per step, so 2 * steps levels deep. In closed form:
        d z / d x = q_0 * q_1 * ... * q_(steps-1)  (= 1 for an even number of steps)
        d z / d y = sum_k q_(k+1) * ... * q_(steps-1)  (y enters at every step)
    """
    x, y = backend.value(0.75), backend.value(-0.5)
    z = x
    for k in range(steps):
        z = z * chain_factor(k) + y
    return x, y, z


def chain_factor(k: int) -> float:
    return 2.0 if k % 2 == 0 else 0.5


def deep_chain_gradients(steps: int) -> tuple[float, float]:
    """(dz/dx, dz/dy) of `deep_chain`, walking the steps from the last one back.

    All the numbers are powers of two or small sums of them: exact in any float.
    """
    dz_dy, after = 0.0, 1.0  # after = q_(k+1) * ... * q_(steps-1) for the step k at hand
    for k in reversed(range(steps)):
        dz_dy += after  # the y added at step k is scaled by every later q
        after *= chain_factor(k)
    return after, dz_dy  # after the loop, `after` is the product of all the q's


DEEP_STEPS = 3000  # 6000 levels: six times Python's default recursion limit


def test_backward_handles_graphs_deeper_than_the_recursion_limit(backend):
    x, y, z = deep_chain(backend, DEEP_STEPS)
    repro_head = ("from microgpt_spec.spec.areas.robustness import deep_chain\n"
                  f"x, y, z = deep_chain(backend, {DEEP_STEPS})\nz.backward()\n")
    backward_or_explain(z, what=f"a chain {2 * DEEP_STEPS} levels deep {BEYOND}",
                        call="z.backward()", repro=repro_head, area=AREA)
    dz_dx, dz_dy = deep_chain_gradients(DEEP_STEPS)
    got = {"x.grad": float(x.grad), "y.grad": float(y.grad)}
    expected = {"x.grad": dz_dx, "y.grad": dz_dy}
    t = tol(AREA)
    expect(all(abs(got[k] - expected[k]) <= t.abs + t.rel * abs(expected[k]) for k in got),
           f"{AREA}: wrong gradients on a chain {2 * DEEP_STEPS} levels deep.", call="z.backward()",
           got=got, expected=expected,
           rule="z = x; z = z * q + y repeated (q = 2, 0.5, ...): dz/dx is the product of all q, "
                "and dz/dy adds, for each step, the product of the q's after it. " + PATH_RULE,
           repro=repro_head + "print(float(x.grad), float(y.grad))")


# --------------------------------------------------------------------------- a deep model
DEEP_MODEL = Config(n_layer=8)  # the reference's widths, eight layers: ~1,500 levels deep
DEEP_TOKENS = [26, 4, 26]  # two positions keep it cheap; depth comes from the layers
DEEP_SEED, DEEP_SCALE = 11, 0.08


def test_loss_and_grads_of_an_eight_layer_model(backend):
    params = random_params(DEEP_MODEL, DEEP_SEED, DEEP_SCALE)
    repro = ("from microgpt_spec.spec.contract import Config\n"
             "from microgpt_spec.spec.strategies import random_params\n"
             f"config = {DEEP_MODEL!r}\nparams = random_params(config, {DEEP_SEED}, {DEEP_SCALE})\n"
             f"loss, grads = backend.loss_and_grads(params, config, {DEEP_TOKENS!r})\nprint(loss)")
    call = "backend.loss_and_grads(params, Config(n_layer=8), tokens)"
    try:
        got_loss, got_grads = backend.loss_and_grads(params, DEEP_MODEL, DEEP_TOKENS)
        failure = None
    except RecursionError as error:
        failure = f"RecursionError: {error}"
    # Reported outside the except block, so the thousand-frame traceback is not chained on.
    expect(failure is None, f"{AREA}: loss_and_grads hit Python's recursion limit on an 8-layer model {BEYOND}.",
           call=call, inputs={"config": DEEP_MODEL, "tokens": DEEP_TOKENS}, got=failure,
           expected="the loss and its gradients",
           rule="an 8-layer model builds a graph of ~1,500 levels, deeper than Python's recursion limit "
                "(about 1000): backward must order the graph with an explicit stack, not recursion",
           repro=repro)
    expected_loss, expected_grads = oracle.loss_and_grads(params, DEEP_MODEL, DEEP_TOKENS)
    rule = ("the loss and gradients of a deeper model follow the same rules as the reference's one layer: "
            "loss = mean over positions of -log softmax(logits)[next token]; grads = d loss / d weight")
    inputs = {"config": DEEP_MODEL, "tokens": DEEP_TOKENS}
    expect_close(float(got_loss), expected_loss, area=AREA, call=call + "[0]", rule=rule, inputs=inputs,
                 repro=repro)
    for name in param_shapes(DEEP_MODEL):
        expect_close(got_grads[name], expected_grads[name], area=AREA, call=call + f"[1][{name!r}]", rule=rule,
                     inputs=inputs, repro=repro + f"\nprint(grads[{name!r}])")
