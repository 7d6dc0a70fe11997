"""Spec area `layers`: the model's building blocks, on plain numbers.

The rules (reference semantics):
* `linear(x, W)[o] = sum_i W[o][i] * x[i]`: W has one row per output (nout x nin), no bias;
* `softmax(z) = exp(z - max z) / sum exp(z - max z)`: positive, sums to 1, keeps the order
  of the logits, ignores a constant added to every logit, and stays finite for logits
  like +-1000 (subtracting the max is what keeps `exp` from overflowing);
* `rmsnorm(x) = x * (mean(x**2) + 1e-5) ** -0.5`: the 1e-5 is INSIDE the root, so zeros
  stay zeros (no 0/0) and tiny vectors are damped, not blown up to unit size;
* `attention(q, keys, values, n_head)`: head h owns dims [h*d, (h+1)*d), d = len(q) // n_head;
  its scores are `q_h . k_h[t] / sqrt(d)`, its weights the softmax of the scores over the
  cached positions t, its output `sum_t w[t] * v_h[t]` (a convex combination of the
  values); the heads are concatenated;
* `mlp(x, fc1, fc2) = linear(relu(linear(x, fc1)), fc2)`, with no residual;
* `gpt(params, config, token, pos, keys, values)` runs ONE position: it appends exactly one
  key and one value per layer to the cache and attends over everything cached, so calling
  it for positions 0, 1, 2, ... gives, at each position, the logits of the whole-sequence
  causal forward pass: x = rmsnorm(wte[token] + wpe[pos]); per layer
  x = x + attn_wo(attention(...)(rmsnorm(x))), x = x + mlp(rmsnorm(x)); logits = lm_head x.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from microgpt_spec.spec import oracle
from microgpt_spec.spec.assertions import expect, expect_close, to_array, tol
from microgpt_spec.spec.contract import Config
from microgpt_spec.spec.profiles import examples
from microgpt_spec.spec.strategies import configs, random_params, reals, token_sequences, vectors

pytestmark = pytest.mark.layers

AREA = "layers"
RMSNORM_EPS = 1e-5


# =========================================================================== helpers
def _backend_call(fn, *, call: str, rule: str, repro: str, inputs=None):
    """Run `fn()`; an arithmetic error (overflow, division by zero) is a spec failure.

    In plain Python, exp(1000) and 0.0 ** -0.5 raise instead of returning inf or nan;
    either way the rule was broken, and the message should say which rule.
    """
    __tracebackhide__ = True
    try:
        return fn()
    except ArithmeticError as error:
        kind, failure = type(error).__name__, f"{type(error).__name__}: {error}"
    # Outside the except block, so the report is not chained to the backend's traceback.
    expect(False, f"{AREA}: {call} raised {kind} instead of returning finite numbers.",
           call=call, inputs=inputs, got=failure, expected="finite numbers", rule=rule, repro=repro)


def _expect_finite(got, *, call: str, rule: str, repro: str, inputs=None) -> None:
    __tracebackhide__ = True
    array = to_array(got)
    expect(bool(np.all(np.isfinite(array))), f"{AREA}: {call} returned a number that is not finite.",
           call=call, inputs=inputs, got=got, expected="finite numbers", rule=rule, repro=repro)


def _small_integers(low: int = -4, high: int = 4):
    """Integer-valued floats: sums and products of these are exact in any order."""
    return st.integers(low, high).map(float)


@st.composite
def matrix_and_vector(draw, elements=None):
    """(W, x): W nout x nin (each 1..6, not necessarily square), x of length nin."""
    elements = elements if elements is not None else reals()
    nout = draw(st.integers(1, 6), label="nout")
    nin = draw(st.integers(1, 6), label="nin")
    w = draw(st.lists(vectors(nin, elements), min_size=nout, max_size=nout), label="W")
    x = draw(vectors(nin, elements), label="x")
    return w, x


@st.composite
def attention_inputs(draw, max_positions: int = 6):
    """(q, keys, values, n_head): 1..4 heads of 1..4 dims, 1..max_positions cached positions."""
    n_head = draw(st.integers(1, 4), label="n_head")
    head_dim = draw(st.integers(1, 4), label="head_dim")
    n_embd = n_head * head_dim
    n_pos = draw(st.integers(1, max_positions), label="positions")
    element = reals(-3.0, 3.0)
    q = draw(vectors(n_embd, element), label="q")
    keys = draw(st.lists(vectors(n_embd, element), min_size=n_pos, max_size=n_pos), label="keys")
    values = draw(st.lists(vectors(n_embd, element), min_size=n_pos, max_size=n_pos), label="values")
    return q, keys, values, n_head


# =========================================================================== linear
LINEAR_RULE = "linear(x, W)[o] = sum_i W[o][i] * x[i]: W has one row per output, each row is dotted with x"


@given(wx=matrix_and_vector())
@settings(max_examples=examples(30))
def test_linear_is_one_dot_product_per_row(backend, wx):
    w, x = wx
    call = "backend.linear(x, W)"
    got = backend.linear(x, w)
    expect_close(got, np.array(w) @ np.array(x), area=AREA, call=call, rule=LINEAR_RULE,
                 inputs={"W": w, "x": x}, repro=f"print(backend.linear({x!r}, {w!r}))")


@given(nout=st.integers(1, 5), nin=st.integers(1, 5), data=st.data())
@settings(max_examples=examples(20))
def test_linear_with_a_selection_matrix_picks_coordinates(backend, nout, nin, data):
    # W = the first nout rows of the identity (zero-padded when nout > nin): y[o] = x[o].
    # Not square on purpose: a backend that dots x with COLUMNS of W returns the wrong length.
    x = data.draw(vectors(nin), label="x")
    w = np.eye(nout, nin).tolist()
    expected = [x[o] if o < nin else 0.0 for o in range(nout)]
    expect_close(backend.linear(x, w), expected, area=AREA, call="backend.linear(x, W)",
                 rule=LINEAR_RULE + "; row o of this W is the unit vector e_o, so y[o] = x[o] "
                      "(and 0 for rows of zeros); the output has one entry per ROW of W",
                 inputs={"W": w, "x": x}, repro=f"print(backend.linear({x!r}, {w!r}))")


@given(wx=matrix_and_vector())
@settings(max_examples=examples(10))
def test_linear_with_a_zero_matrix_is_zero(backend, wx):
    w, x = wx
    zeros = np.zeros((len(w), len(x))).tolist()
    expect_close(backend.linear(x, zeros), np.zeros(len(w)), area=AREA, call="backend.linear(x, zeros)",
                 rule=LINEAR_RULE + "; with every weight 0 every output is 0 (there is no bias)",
                 inputs={"W": zeros, "x": x}, repro=f"print(backend.linear({x!r}, {zeros!r}))")


@given(wx=matrix_and_vector(_small_integers()), data=st.data())
@settings(max_examples=examples(20))
def test_linear_is_linear_in_x(backend, wx, data):
    # Small integers keep every sum exact, so the identity holds to the last bit.
    w, x = wx
    y = data.draw(vectors(len(x), _small_integers()), label="y")
    a = data.draw(_small_integers(-3, 3), label="a")
    combo = [a * xi + yi for xi, yi in zip(x, y)]
    W = np.array(w)
    expected = a * (W @ np.array(x)) + W @ np.array(y)
    expect_close(backend.linear(combo, w), expected, area=AREA, call="backend.linear(a*x + y, W)",
                 rule="linear(a*x + y, W) = a*linear(x, W) + linear(y, W): each output is a weighted "
                      "sum of the inputs, nothing else (no bias, no nonlinearity)",
                 inputs={"W": w, "x": x, "y": y, "a": a, "a*x + y": combo},
                 repro=f"print(backend.linear({combo!r}, {w!r}))")


# =========================================================================== softmax
SOFTMAX_RULE = ("softmax(z)[i] = exp(z[i] - max z) / sum_j exp(z[j] - max z); subtracting max z "
                "changes nothing mathematically but keeps exp from overflowing")


def _softmax(backend, z):
    __tracebackhide__ = True
    return _backend_call(lambda: backend.softmax(z), call="backend.softmax(z)", inputs={"z": z},
                         rule=SOFTMAX_RULE, repro=f"print(backend.softmax({z!r}))")


def _exp_over_sum(z) -> np.ndarray:
    """The textbook formula, safe here because the tests that use it keep |z| small."""
    e = np.exp(np.asarray(z, dtype=np.float64))
    return e / e.sum()


@given(z=vectors(st.integers(1, 10)))
@settings(max_examples=examples(30))
def test_softmax_is_exp_over_sum(backend, z):
    expect_close(_softmax(backend, z), _exp_over_sum(z), area=AREA, call="backend.softmax(z)",
                 rule=SOFTMAX_RULE, inputs={"z": z}, repro=f"print(backend.softmax({z!r}))")


@given(z=vectors(st.integers(1, 10), reals(-20.0, 20.0)))
@settings(max_examples=examples(30))
def test_softmax_is_a_probability_distribution(backend, z):
    got = to_array(_softmax(backend, z))
    rule = "softmax gives probabilities: every entry is > 0 (exp is positive) and they sum to 1"
    repro = f"p = backend.softmax({z!r})\nprint(p, sum(p))"
    expect(got.shape == (len(z),) and bool(np.all(got > 0)),
           f"{AREA}: softmax returned an entry that is not positive (or the wrong number of entries).",
           call="backend.softmax(z)", inputs={"z": z}, got=got.tolist(),
           expected=f"{len(z)} positive numbers", rule=rule, repro=repro)
    expect_close(got.sum(), 1.0, area=AREA, call="sum(backend.softmax(z))", rule=rule,
                 inputs={"z": z}, repro=repro, what="a sum that is not 1")


@given(z=vectors(st.integers(1, 8)), shift=reals(-1000.0, 1000.0))
@settings(max_examples=examples(30))
def test_softmax_ignores_a_constant_added_to_every_logit(backend, z, shift):
    shifted = [zi + shift for zi in z]
    expect_close(_softmax(backend, shifted), _exp_over_sum(z), area=AREA,
                 call="backend.softmax([z_i + c for z_i in z])",
                 rule="softmax(z + c) = softmax(z) for any constant c: exp(z_i + c) = exp(c) exp(z_i), "
                      "and exp(c) cancels between numerator and sum. " + SOFTMAX_RULE,
                 inputs={"z": z, "c": shift, "z + c": shifted},
                 repro=f"print(backend.softmax({shifted!r}))")


@given(z=vectors(st.integers(2, 10), reals(-20.0, 20.0)))
@settings(max_examples=examples(30))
def test_softmax_keeps_the_order_of_the_logits(backend, z):
    got = to_array(_softmax(backend, z))
    # Pairs whose logits differ clearly: their probabilities must be strictly ordered the
    # same way (exp is increasing). Nearly equal logits are left out: rounding (float32 above
    # all) may tie them.
    broken = [(i, j) for i in range(len(z)) for j in range(len(z))
              if z[j] - z[i] > 1e-3 and not got[i] < got[j]]
    expect(not broken, f"{AREA}: softmax does not keep the order of the logits.",
           call="backend.softmax(z)", inputs={"z": z}, got=got.tolist(),
           expected=f"p[i] < p[j] whenever z[i] < z[j]; broken for (i, j) = {broken[:3]}",
           rule="exp is increasing and every entry is divided by the same sum, so a larger logit "
                "always gets a larger probability",
           repro=f"print(backend.softmax({z!r}))")


def test_softmax_is_finite_for_logits_of_plus_minus_1000(backend):
    z = [1000.0, -1000.0, 999.0]
    got = _softmax(backend, z)
    repro = f"print(backend.softmax({z!r}))"
    _expect_finite(got, call="backend.softmax(z)", inputs={"z": z}, rule=SOFTMAX_RULE, repro=repro)
    # After subtracting the max (1000): exp([0, -2000, -1]) = [1, 0, e^-1].
    e1 = math.exp(-1.0)
    expected = [1.0 / (1.0 + e1), 0.0, e1 / (1.0 + e1)]
    expect_close(got, expected, area=AREA, call="backend.softmax(z)", inputs={"z": z},
                 rule=SOFTMAX_RULE + ". Here z - max z = [0, -2000, -1], so p = [1, 0, e^-1] / (1 + e^-1); "
                      "exp(1000) itself overflows to inf, and inf/inf is nan",
                 repro=repro)


@given(z=vectors(st.integers(1, 8), reals(-1000.0, 1000.0)))
@settings(max_examples=examples(30))
def test_softmax_matches_the_oracle_for_huge_logits(backend, z):
    repro = f"print(backend.softmax({z!r}))"
    got = _softmax(backend, z)
    _expect_finite(got, call="backend.softmax(z)", inputs={"z": z}, rule=SOFTMAX_RULE, repro=repro)
    expect_close(got, oracle.softmax(np.array(z)), area=AREA, call="backend.softmax(z)",
                 rule=SOFTMAX_RULE, inputs={"z": z}, repro=repro)


# =========================================================================== rmsnorm
RMSNORM_RULE = ("rmsnorm(x) = x * (mean(x**2) + 1e-5) ** -0.5: divide by the root mean square, with "
                "eps = 1e-5 added INSIDE the square root")


def _rmsnorm(backend, x):
    __tracebackhide__ = True
    return _backend_call(lambda: backend.rmsnorm(x), call="backend.rmsnorm(x)", inputs={"x": x},
                         rule=RMSNORM_RULE + " (so even x = 0 gives a finite result: 0 * 1e-5 ** -0.5 = 0)",
                         repro=f"print(backend.rmsnorm({x!r}))")


def _rmsnorm_expected(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x * (np.mean(x * x) + RMSNORM_EPS) ** -0.5


@given(x=vectors(st.integers(1, 16)))
@settings(max_examples=examples(30))
def test_rmsnorm_divides_by_the_root_mean_square_plus_eps(backend, x):
    expect_close(_rmsnorm(backend, x), _rmsnorm_expected(x), area=AREA, call="backend.rmsnorm(x)",
                 rule=RMSNORM_RULE, inputs={"x": x}, repro=f"print(backend.rmsnorm({x!r}))")


@pytest.mark.parametrize("size", [1, 4, 16])
def test_rmsnorm_of_zeros_is_zeros(backend, size):
    x = [0.0] * size
    repro = f"print(backend.rmsnorm({x!r}))"
    got = _rmsnorm(backend, x)
    rule = (RMSNORM_RULE + ": mean(0**2) + 1e-5 = 1e-5, so the zeros are multiplied by a finite 316.2 "
            "and stay zeros; without eps it is 0/0 = nan")
    _expect_finite(got, call="backend.rmsnorm(x)", inputs={"x": x}, rule=rule, repro=repro)
    expect_close(got, x, area=AREA, call="backend.rmsnorm(x)", inputs={"x": x}, rule=rule, repro=repro)


def test_rmsnorm_eps_goes_inside_the_square_root(backend):
    # For tiny x the three candidate formulas differ by orders of magnitude:
    #   inside the root   x / sqrt(mean(x^2) + eps)   (the reference)
    #   outside the root  x / (sqrt(mean(x^2)) + eps)
    #   no eps at all     x / sqrt(mean(x^2))          (unit root mean square)
    x = [1e-4, -2e-4, 3e-4, 0.0]
    x_arr = np.array(x)
    rms = math.sqrt(float(np.mean(x_arr**2)))
    outside = (x_arr / (rms + RMSNORM_EPS)).tolist()
    no_eps = (x_arr / rms).tolist()
    expect_close(_rmsnorm(backend, x), _rmsnorm_expected(x), area=AREA, call="backend.rmsnorm(x)",
                 inputs={"x": x},
                 rule=RMSNORM_RULE + f". For this tiny x, mean(x**2) = {rms**2:.3g} is small next to eps, so "
                      f"where eps goes matters: eps outside the root gives {[round(v, 4) for v in outside]}, "
                      f"no eps gives {[round(v, 4) for v in no_eps]}",
                 repro=f"print(backend.rmsnorm({x!r}))")


@given(x=vectors(st.integers(1, 16)))
@settings(max_examples=examples(20))
def test_rmsnorm_output_mean_square_is_m_over_m_plus_eps(backend, x):
    # mean(y^2) = mean(x^2) / (mean(x^2) + eps) follows from the formula: just under 1.
    m = float(np.mean(np.square(x)))
    y = to_array(_rmsnorm(backend, x))
    expect_close(np.mean(y * y), m / (m + RMSNORM_EPS), area=AREA, call="mean(backend.rmsnorm(x) ** 2)",
                 rule="with m = mean(x**2), y = x / sqrt(m + eps) has mean(y**2) = m / (m + eps): "
                      "the output's root mean square is (just under) 1",
                 inputs={"x": x, "m": m}, repro=f"y = backend.rmsnorm({x!r})\nprint(sum(v*v for v in y) / len(y))")


@given(x=vectors(st.integers(1, 16), reals(-10.0, 10.0)).filter(lambda v: np.mean(np.square(v)) >= 1.0),
       scale=st.sampled_from([1e4, -3e5, 1e8, 7.5e12]))
@settings(max_examples=examples(20))
def test_rmsnorm_ignores_the_scale_of_large_inputs(backend, x, scale):
    # mean((s x)^2) >= 1e8 here, so eps changes the result by at most 5e-14 relative:
    # rmsnorm(s x) = sign(s) x / rms(x) up to rounding.
    scaled = [scale * xi for xi in x]
    x_arr = np.array(x)
    expected = np.sign(scale) * x_arr / math.sqrt(float(np.mean(x_arr**2)))
    expect_close(_rmsnorm(backend, scaled), expected, area=AREA, call="backend.rmsnorm(s * x)",
                 rule="rmsnorm(s*x) = sign(s) * x / rms(x) when mean((s*x)**2) is huge next to eps = 1e-5: "
                      "multiplying x by s multiplies its root mean square by |s| too. " + RMSNORM_RULE,
                 inputs={"x": x, "s": scale}, repro=f"print(backend.rmsnorm({scaled!r}))")


# =========================================================================== attention
ATTENTION_RULE = ("head h uses dims [h*d, (h+1)*d), d = len(q) // n_head: score[t] = q_h . k_h[t] / sqrt(d), "
                  "w = softmax(score) over the cached positions t, out_h = sum_t w[t] * v_h[t]; "
                  "the heads are concatenated")


def _attention_repro(q, keys, values, n_head) -> str:
    return f"print(backend.attention({q!r}, {keys!r}, {values!r}, {n_head}))"


def _attention_inputs(q, keys, values, n_head) -> dict:
    return {"q": q, "keys": keys, "values": values, "n_head": n_head}


@given(args=attention_inputs())
@settings(max_examples=examples(30))
def test_attention_matches_the_oracle(backend, args):
    q, keys, values, n_head = args
    expect_close(backend.attention(q, keys, values, n_head), oracle.attention(q, keys, values, n_head),
                 area=AREA, call="backend.attention(q, keys, values, n_head)", rule=ATTENTION_RULE,
                 inputs=_attention_inputs(*args), repro=_attention_repro(*args))


@given(args=attention_inputs(max_positions=1))
@settings(max_examples=examples(15))
def test_attention_over_one_position_returns_its_value(backend, args):
    q, keys, values, n_head = args
    expect_close(backend.attention(q, keys, values, n_head), values[0], area=AREA,
                 call="backend.attention(q, keys, values, n_head)",
                 rule="with a single cached position, softmax of one score is [1.0], so every head "
                      "returns that position's value exactly. " + ATTENTION_RULE,
                 inputs=_attention_inputs(*args), repro=_attention_repro(*args))


@given(args=attention_inputs())
@settings(max_examples=examples(20))
def test_attention_of_equal_values_is_that_value(backend, args):
    q, keys, values, n_head = args
    same = [list(values[0]) for _ in keys]  # every position holds the same value vector
    expect_close(backend.attention(q, keys, same, n_head), values[0], area=AREA,
                 call="backend.attention(q, keys, values, n_head)",
                 rule="the attention weights of each head sum to 1, so when every position holds the same "
                      "value v the output is v, whatever the scores. " + ATTENTION_RULE,
                 inputs=_attention_inputs(q, keys, same, n_head), repro=_attention_repro(q, keys, same, n_head))


@given(args=attention_inputs())
@settings(max_examples=examples(20))
def test_attention_output_lies_between_the_values(backend, args):
    q, keys, values, n_head = args
    got = to_array(backend.attention(q, keys, values, n_head))
    v = np.array(values)
    slack = tol(AREA).abs + tol(AREA).rel * float(np.max(np.abs(v)))
    low, high = v.min(axis=0) - slack, v.max(axis=0) + slack
    outside = [j for j in range(len(q)) if not low[j] <= got[j] <= high[j]] if got.shape == (len(q),) else ["shape"]
    expect(not outside, f"{AREA}: attention output is not a weighted average of the values.",
           call="backend.attention(q, keys, values, n_head)", inputs=_attention_inputs(*args),
           got=got.tolist(), expected=f"each entry j between min_t and max_t of values[t][j]; broken at {outside[:4]}",
           rule="the weights of each head are a softmax: positive and summing to 1, so each output entry "
                "is a convex combination of the same entry of the value vectors. " + ATTENTION_RULE,
           repro=_attention_repro(*args))


def test_attention_scales_scores_by_one_over_sqrt_head_dim_per_head(backend):
    # Two heads of d = 4 dims (n_embd = 8). The keys and queries make head 0 score [2, 0]
    # and head 1 score [0, 2] after the 1/sqrt(4) = 1/2 scale; the one-hot values let the
    # output show each head's weights directly: out_h = [w_h[0], w_h[1], 0, 0].
    q = [1.0] * 8
    keys = [[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]]
    values = [[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
              [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
    big, small = 1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(2.0))  # softmax([2, 0])
    expected = [big, small, 0.0, 0.0, small, big, 0.0, 0.0]
    args = (q, keys, values, 2)
    expect_close(backend.attention(*args), expected, area=AREA, call="backend.attention(q, keys, values, 2)",
                 rule="scores are divided by sqrt(head_dim) = sqrt(4) = 2 (not by head_dim = 4, not by "
                      "sqrt(n_embd)): head 0 (dims 0..3) scores [4, 0] / 2 = [2, 0], head 1 (dims 4..7) "
                      "scores [0, 4] / 2 = [0, 2]; softmax([2, 0]) = [0.8808, 0.1192]. Dividing by 4 "
                      "would give [0.7311, 0.2689]. " + ATTENTION_RULE,
                 inputs=_attention_inputs(*args), repro=_attention_repro(*args))


# =========================================================================== mlp
MLP_RULE = "mlp(x, fc1, fc2) = linear(relu(linear(x, fc1)), fc2), relu(a) = max(0, a); no residual (gpt adds it)"


@st.composite
def mlp_inputs(draw):
    """(x, fc1, fc2): x of n_embd 1..6, a hidden layer of 1..12 units."""
    n_embd = draw(st.integers(1, 6), label="n_embd")
    hidden = draw(st.integers(1, 12), label="hidden")
    element = reals(-3.0, 3.0)
    x = draw(vectors(n_embd, element), label="x")
    fc1 = draw(st.lists(vectors(n_embd, element), min_size=hidden, max_size=hidden), label="fc1")
    fc2 = draw(st.lists(vectors(hidden, element), min_size=n_embd, max_size=n_embd), label="fc2")
    return x, fc1, fc2


def _mlp_repro(x, fc1, fc2) -> str:
    return f"print(backend.mlp({x!r}, {fc1!r}, {fc2!r}))"


@given(args=mlp_inputs())
@settings(max_examples=examples(30))
def test_mlp_matches_the_oracle(backend, args):
    x, fc1, fc2 = args
    expect_close(backend.mlp(x, fc1, fc2), oracle.mlp(np.array(x), np.array(fc1), np.array(fc2)),
                 area=AREA, call="backend.mlp(x, fc1, fc2)", rule=MLP_RULE,
                 inputs={"x": x, "fc1": fc1, "fc2": fc2}, repro=_mlp_repro(*args))


@given(x=vectors(st.integers(1, 6)))
@settings(max_examples=examples(15))
def test_mlp_relu_keeps_only_the_positive_part(backend, x):
    # fc1 = [I; -I] makes hidden = [x, -x]; relu keeps [max(x, 0), max(-x, 0)];
    # fc2 = [I, I] adds the halves: max(x, 0) + max(-x, 0) = |x|.
    n = len(x)
    eye = np.eye(n)
    fc1 = np.vstack([eye, -eye]).tolist()
    fc2 = np.hstack([eye, eye]).tolist()
    expect_close(backend.mlp(x, fc1, fc2), np.abs(x), area=AREA, call="backend.mlp(x, [I; -I], [I, I])",
                 rule=MLP_RULE + ". With these weights the hidden units are x and -x, relu keeps the positive "
                      "one of each pair and fc2 adds them: the output is |x| (without relu it would be 0, "
                      "with a residual |x| + x)",
                 inputs={"x": x, "fc1": fc1, "fc2": fc2}, repro=_mlp_repro(x, fc1, fc2))


@given(args=mlp_inputs())
@settings(max_examples=examples(10))
def test_mlp_has_no_residual(backend, args):
    x, fc1, fc2 = args
    zeros = np.zeros((len(fc2), len(fc2[0]))).tolist()
    expect_close(backend.mlp(x, fc1, zeros), np.zeros(len(x)), area=AREA, call="backend.mlp(x, fc1, zeros)",
                 rule=MLP_RULE + ". With fc2 all zeros the output is zeros: the residual x + mlp(x) belongs "
                      "to gpt, not to mlp",
                 inputs={"x": x, "fc1": fc1, "fc2": zeros}, repro=_mlp_repro(x, fc1, zeros))


# =========================================================================== gpt
GPT_RULE = ("gpt runs one position: x = rmsnorm(wte[token] + wpe[pos]); per layer x = x + attn_wo(attention of "
            "q over ALL cached k, v), q, k, v = linear(rmsnorm(x)); x = x + fc2(relu(fc1(rmsnorm(x)))); "
            "logits = lm_head x. Called for pos = 0, 1, 2, ... with the same cache, position t's logits equal "
            "row t of the whole-sequence causal forward pass")


def _fresh_cache(config: Config) -> tuple[list[list], list[list]]:
    return [[] for _ in range(config.n_layer)], [[] for _ in range(config.n_layer)]


def _gpt_repro(config: Config, seed: int, scale: float, tokens: list[int]) -> str:
    return (
        "from microgpt_spec.spec.contract import Config\n"
        "from microgpt_spec.spec.strategies import random_params\n"
        f"config = {config!r}\n"
        f"params = random_params(config, {seed}, {scale})\n"
        "keys, values = [[] for _ in range(config.n_layer)], [[] for _ in range(config.n_layer)]\n"
        f"for pos, token in enumerate({tokens!r}):\n"
        "    print(pos, list(backend.gpt(params, config, token, pos, keys, values)))"
    )


@st.composite
def gpt_case(draw, config_strategy=None, scales=(0.08, 0.3, 1.0)):
    """(config, seed, scale, tokens): a model and 1..block_size tokens to run through it."""
    config = draw(config_strategy if config_strategy is not None else configs(), label="config")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    scale = draw(st.sampled_from(scales), label="scale")
    tokens = draw(token_sequences(config, min_size=1, max_size=config.block_size), label="tokens")
    return config, seed, scale, tokens


def _check_gpt_against_oracle(backend, config: Config, seed: int, scale: float, tokens: list[int]) -> None:
    __tracebackhide__ = True
    params = random_params(config, seed, scale)
    expected = oracle.forward(params, config, tokens)
    keys, values = _fresh_cache(config)
    for pos, token in enumerate(tokens):
        got = backend.gpt(params, config, token, pos, keys, values)
        expect_close(got, expected[pos], area=AREA, call=f"backend.gpt(params, config, {token}, {pos}, keys, values)",
                     rule=GPT_RULE,
                     inputs={"config": config, "params": f"random_params(config, {seed}, {scale})",
                             "tokens so far": tokens[: pos + 1]},
                     repro=_gpt_repro(config, seed, scale, tokens[: pos + 1]))


@given(case=gpt_case())
@settings(max_examples=examples(15))
def test_gpt_matches_the_oracle_position_by_position(backend, case):
    _check_gpt_against_oracle(backend, *case)


@given(case=gpt_case(st.just(Config()), scales=(0.08, 0.3)))
@example(case=(Config(), 42, 0.08, [26, 9, 4, 13, 13, 8, 5, 4, 17, 26, 0, 1, 2, 3, 24, 25]))  # a full block
@settings(max_examples=examples(3))
def test_gpt_matches_the_oracle_with_the_default_config(backend, case):
    _check_gpt_against_oracle(backend, *case)


@given(case=gpt_case())
@settings(max_examples=examples(10))
def test_gpt_appends_one_key_and_one_value_per_layer(backend, case):
    config, seed, scale, tokens = case
    params = random_params(config, seed, scale)
    keys, values = _fresh_cache(config)
    for pos, token in enumerate(tokens):
        backend.gpt(params, config, token, pos, keys, values)
        got = {"len(keys[l])": [len(k) for k in keys], "len(values[l])": [len(v) for v in values]}
        want = {"len(keys[l])": [pos + 1] * config.n_layer, "len(values[l])": [pos + 1] * config.n_layer}
        expect(got == want, f"{AREA}: gpt did not append exactly one key and one value per layer to the cache.",
               call=f"backend.gpt(params, config, {token}, {pos}, keys, values)",
               inputs={"config": config, "tokens so far": tokens[: pos + 1]}, got=got, expected=want,
               rule="each gpt call appends this position's key and value to every layer's cache, then "
                    "attends over the whole cache: after position pos every layer holds pos + 1 entries. "
                    "Without the append a position only sees itself, and the model forgets the name so far",
               repro=_gpt_repro(config, seed, scale, tokens[: pos + 1]) + "\nprint([len(k) for k in keys])")


@given(case=gpt_case(configs(max_block=6)))
@settings(max_examples=examples(10))
def test_gpt_leaves_earlier_logits_unchanged(backend, case):
    config, seed, scale, tokens = case
    params = random_params(config, seed, scale)
    keys, values = _fresh_cache(config)
    returned, snapshots = [], []
    for pos, token in enumerate(tokens):
        logits = backend.gpt(params, config, token, pos, keys, values)
        returned.append(logits)
        snapshots.append(to_array(logits).copy())
    for pos, (logits, snapshot) in enumerate(zip(returned, snapshots)):
        expect_close(logits, snapshot, area=AREA, call=f"backend.gpt(params, config, {tokens[pos]}, {pos}, keys, values)",
                     rule="the logits returned for a position are final: later calls (which only append to "
                          "the cache) must not change them. A backend that returns a view of a buffer it "
                          "reuses breaks this",
                     inputs={"config": config, "tokens": tokens}, what="logits that changed after later calls",
                     repro=_gpt_repro(config, seed, scale, tokens))
