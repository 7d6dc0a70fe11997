"""Spec area `loss`: how wrong the model's guesses are, and which way to move every weight.

The rules (reference semantics):
* the loss at one position is the cross-entropy `-log softmax(logits)[target]`: minus the
  log of the probability the model gave to the token that really came next;
* the loss of several positions is their MEAN (not their sum), so a long name and a short
  name count the same in training; for uniform logits it is log(vocab_size);
* its gradient with respect to the logits has a closed form:
  `d loss / d logits[t] = (softmax(logits[t]) - onehot(targets[t])) / n`;
* `loss_and_grads(params, config, tokens)` runs the model over positions
  t = 0 .. n-1 with n = min(block_size, len(tokens) - 1): position t reads tokens[t] and is
  scored on tokens[t+1]; tokens past position block_size are ignored (the model has no
  position embedding for them). It returns that mean loss and d loss / d w for every weight
  w of every matrix, under the reference names and shapes.

Expected values come from the oracle (a whole-sequence NumPy forward with a hand-derived
backward) and, for the gradients alone, from central finite differences of the backend's
OWN loss: the gradient must be the slope of whatever loss the backend computes, so a
backend whose model differs is told its forward differs, not that its backward is wrong.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.spec import oracle
from microgpt_spec.spec.assertions import RunContext, expect, expect_close, to_array, to_float
from microgpt_spec.spec.contract import Config, param_shapes
from microgpt_spec.spec.profiles import examples
from microgpt_spec.spec.strategies import configs, random_params, reals, token_sequences, vectors
from microgpt_spec.spec.tolerances import Tolerance

pytestmark = pytest.mark.loss

AREA = "loss"

CROSS_ENTROPY_RULE = ("loss = (1/n) * sum_t -log softmax(logits[t])[targets[t]]: the cross-entropy of each "
                      "position, averaged (not summed) over the n positions")
GRADIENT_RULE = ("d loss / d logits[t][i] = (softmax(logits[t])[i] - [i == targets[t]]) / n: the predicted "
                 "probability minus 1 for the true token, divided by the number of positions (the mean)")
LOSS_AND_GRADS_RULE = ("n = min(block_size, len(tokens) - 1) positions; position t reads tokens[t] (with the cache "
                       "of positions < t) and is scored on tokens[t+1]; loss = mean over t of "
                       "-log softmax(logits_t)[tokens[t+1]]; grads[name][r][c] = d loss / d params[name][r][c]")

# Central differences (f(w + h) - f(w - h)) / 2h are off by about h^2 * f''' / 6 (~1e-9 here)
# plus rounding eps * |f| / h (~1e-10); about 1e-11 is typical here. The tolerance is loose
# on purpose (100x the worst seen): it anchors the gradients to the slope of the loss
# without depending on any backward pass.
FINITE_DIFFERENCE_STEP = 1e-5
FINITE_DIFFERENCE_TOLERANCE = Tolerance(rel=1e-6, abs=1e-8)


# =========================================================================== cross_entropy
@st.composite
def logits_and_targets(draw, max_positions: int = 6, max_vocab: int = 8):
    """(logits, targets): n = 1..max_positions rows of V = 2..max_vocab moderate logits (|z| <= 10).

    Moderate, because the reference takes the log of a softmax probability, which underflows
    to log(0) for spreads in the hundreds: that is not part of the rule.
    """
    n = draw(st.integers(1, max_positions), label="n")
    vocab = draw(st.integers(2, max_vocab), label="vocab_size")
    logits = draw(st.lists(vectors(vocab, reals(-10.0, 10.0)), min_size=n, max_size=n), label="logits")
    targets = draw(st.lists(st.integers(0, vocab - 1), min_size=n, max_size=n), label="targets")
    return logits, targets


def _cross_entropy(backend, logits, targets) -> tuple[float, np.ndarray]:
    value, grad = backend.cross_entropy(logits, targets)
    return to_float(value), to_array(grad)


def _ce_repro(logits, targets) -> str:
    return f"loss, grad = backend.cross_entropy({logits!r}, {targets!r})\nprint(loss, grad)"


def _expect_mean_loss(got: float, expected: float, n: int, *, call: str, rule: str, inputs, repro) -> None:
    """The loss equals `expected`; a loss n times too big is named for what it is: a sum."""
    __tracebackhide__ = True
    looks_summed = n > 1 and math.isclose(got, n * expected, rel_tol=1e-6) and not math.isclose(got, expected)
    expect(not looks_summed, f"{AREA}: {call} summed the {n} position losses instead of averaging them.",
           call=call, inputs=inputs, got=got, expected=f"{expected!r} (the sum would be {n * expected!r})",
           rule=rule, repro=repro)
    expect_close(got, expected, area=AREA, call=call, rule=rule, inputs=inputs, repro=repro)


@given(case=logits_and_targets())
@settings(max_examples=examples(30))
def test_cross_entropy_is_the_mean_negative_log_probability(backend, case):
    logits, targets = case
    got, _ = _cross_entropy(backend, logits, targets)
    expected = float(oracle.mean_nll(np.array(logits), targets))
    _expect_mean_loss(got, expected, len(targets), call="backend.cross_entropy(logits, targets)[0]",
                      rule=CROSS_ENTROPY_RULE, inputs={"logits": logits, "targets": targets},
                      repro=_ce_repro(logits, targets))


@given(case=logits_and_targets())
@settings(max_examples=examples(30))
def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n(backend, case):
    logits, targets = case
    _, got = _cross_entropy(backend, logits, targets)
    n, vocab = len(targets), len(logits[0])
    expected = (oracle.softmax(np.array(logits)) - np.eye(vocab)[targets]) / n
    expect_close(got, expected, area=AREA, call="backend.cross_entropy(logits, targets)[1]",
                 rule=GRADIENT_RULE, inputs={"logits": logits, "targets": targets},
                 repro=_ce_repro(logits, targets))


@given(n=st.integers(1, 6), vocab=st.integers(2, 30), level=reals(-10.0, 10.0), data=st.data())
@settings(max_examples=examples(15))
def test_cross_entropy_of_uniform_logits_is_log_vocab_size(backend, n, vocab, level, data):
    targets = data.draw(st.lists(st.integers(0, vocab - 1), min_size=n, max_size=n), label="targets")
    logits = [[level] * vocab for _ in range(n)]
    got_loss, got_grad = _cross_entropy(backend, logits, targets)
    inputs = {"logits": f"{n} rows of {vocab} times {level!r}", "targets": targets}
    repro = _ce_repro(logits, targets)
    _expect_mean_loss(got_loss, math.log(vocab), n, call="backend.cross_entropy(logits, targets)[0]",
                      rule="equal logits give every token probability 1/V, so each position's loss is "
                           "-log(1/V) = log(V), and so is their mean. " + CROSS_ENTROPY_RULE,
                      inputs=inputs, repro=repro)
    expect_close(got_grad, (np.full((n, vocab), 1.0 / vocab) - np.eye(vocab)[targets]) / n, area=AREA,
                 call="backend.cross_entropy(logits, targets)[1]",
                 rule="with every probability 1/V the gradient is (1/V - [i == target]) / n. " + GRADIENT_RULE,
                 inputs=inputs, repro=repro)


@given(row=vectors(st.integers(2, 8), reals(-10.0, 10.0)), n=st.integers(2, 6), data=st.data())
@settings(max_examples=examples(15))
def test_cross_entropy_of_repeated_positions_is_that_of_one(backend, row, n, data):
    target = data.draw(st.integers(0, len(row) - 1), label="target")
    logits, targets = [list(row) for _ in range(n)], [target] * n
    got, _ = _cross_entropy(backend, logits, targets)
    one = float(oracle.mean_nll(np.array([row]), [target]))
    _expect_mean_loss(got, one, n, call="backend.cross_entropy(logits, targets)[0]",
                      rule="the mean of n equal numbers is that number: n copies of one position have the "
                           "loss of that position alone. " + CROSS_ENTROPY_RULE,
                      inputs={"row": row, "n copies": n, "target": target}, repro=_ce_repro(logits, targets))


# =========================================================================== loss_and_grads
def _lg_repro(config: Config, seed: int, scale: float, tokens) -> str:
    return (
        "from microgpt_spec.spec.contract import Config\n"
        "from microgpt_spec.spec.strategies import random_params\n"
        f"config = {config!r}\n"
        f"params = random_params(config, {seed}, {scale})\n"
        f"loss, grads = backend.loss_and_grads(params, config, {list(tokens)!r})\n"
        "print(loss)"
    )


def _loss_and_grads(backend, config: Config, seed: int, scale: float, tokens):
    """Call the backend; an IndexError on a long sequence means n was not capped at block_size."""
    __tracebackhide__ = True
    params = random_params(config, seed, scale)
    try:
        return backend.loss_and_grads(params, config, tokens)
    except IndexError as error:
        if len(tokens) - 1 <= config.block_size:
            raise
        failure = f"IndexError: {error}"
    # Outside the except block, so the report is not chained to the backend's traceback.
    expect(False, f"{AREA}: loss_and_grads raised IndexError on a sequence longer than block_size + 1.",
           call="backend.loss_and_grads(params, config, tokens)",
           inputs={"config": config, "tokens": list(tokens)}, got=failure,
           expected=f"the loss of the first n = min(block_size, len(tokens) - 1) = {config.block_size} positions",
           rule=LOSS_AND_GRADS_RULE + ". Positions past block_size have no position embedding: the reference "
                                      "stops there",
           repro=_lg_repro(config, seed, scale, tokens))


def _check_against_oracle(backend, config: Config, seed: int, scale: float, tokens) -> None:
    __tracebackhide__ = True
    got_loss, got_grads = _loss_and_grads(backend, config, seed, scale, tokens)
    expected_loss, expected_grads = oracle.loss_and_grads(random_params(config, seed, scale), config, tokens)
    n = min(config.block_size, len(tokens) - 1)
    inputs = {"config": config, "params": f"random_params(config, {seed}, {scale})", "tokens": list(tokens),
              "n": n}
    repro = _lg_repro(config, seed, scale, tokens)
    _expect_mean_loss(to_float(got_loss), expected_loss, n, call="backend.loss_and_grads(params, config, tokens)[0]",
                      rule=LOSS_AND_GRADS_RULE, inputs=inputs, repro=repro)
    names = sorted(param_shapes(config))
    expect(sorted(got_grads) == names, f"{AREA}: loss_and_grads returned gradients under the wrong names.",
           call="backend.loss_and_grads(params, config, tokens)[1].keys()", inputs=inputs,
           got=sorted(got_grads), expected=names,
           rule="one gradient matrix per parameter matrix, under the same name and with the same shape",
           repro=repro + "\nprint(sorted(grads))")
    for name in param_shapes(config):
        expect_close(got_grads[name], expected_grads[name], area=AREA,
                     call=f"backend.loss_and_grads(params, config, tokens)[1][{name!r}]",
                     rule=LOSS_AND_GRADS_RULE, inputs=inputs, repro=repro + f"\nprint(grads[{name!r}])")


@st.composite
def model_case(draw, config_strategy=None, scales=(0.08, 0.3), longer_than_block: bool = False):
    """(config, seed, scale, tokens): 2 to block_size + 4 tokens (only longer than
    block_size + 1, so that some are cut off, if `longer_than_block`).

    Weights of scale <= 0.3 keep the loss below ~15 on these small models. Larger weights
    give logit spreads in the hundreds, where the probability of the target underflows
    (below ~1e-38 in float32, ~1e-308 in float64) and log(p) is -inf: the reference itself
    breaks down there, so that is not part of the rule.
    """
    config = draw(config_strategy if config_strategy is not None else configs(max_block=6), label="config")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    scale = draw(st.sampled_from(scales), label="scale")
    shortest = config.block_size + 2 if longer_than_block else 2
    tokens = draw(token_sequences(config, min_size=shortest, max_size=config.block_size + 4), label="tokens")
    return config, seed, scale, tokens


@given(case=model_case())
@settings(max_examples=examples(15))
def test_loss_and_grads_match_the_oracle_on_small_models(backend, case):
    _check_against_oracle(backend, *case)


NAMES = {"emma": [26, 4, 12, 12, 0, 26],
         # 20 letters: 22 tokens, more than block_size + 1 = 17, so the last 5 are ignored.
         "longer than the block": [26, 12, 0, 17, 24, 4, 11, 8, 25, 0, 1, 4, 19, 7, 0, 13, 13, 4, 11, 8, 18, 26]}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_loss_and_grads_match_the_oracle_with_the_default_config(backend, name):
    _check_against_oracle(backend, Config(), 42, 0.08, NAMES[name])


@given(case=model_case(configs(max_block=4), longer_than_block=True))
@settings(max_examples=examples(8))
def test_loss_ignores_tokens_past_block_size(backend, case):
    config, seed, scale, tokens = case
    kept = tokens[: config.block_size + 1]
    got_loss, _ = _loss_and_grads(backend, config, seed, scale, tokens)
    expected = float(oracle.loss(random_params(config, seed, scale), config, kept))
    expect_close(to_float(got_loss), expected, area=AREA, call="backend.loss_and_grads(params, config, tokens)[0]",
                 rule=f"n = min(block_size, len(tokens) - 1) = {config.block_size}: only tokens[:block_size + 1] = "
                      f"{kept} take part (the model has block_size positions), so the loss is that of the "
                      "first block_size predictions. " + LOSS_AND_GRADS_RULE,
                 inputs={"config": config, "tokens": tokens}, repro=_lg_repro(config, seed, scale, tokens))


# A small model, a few weights from every kind of matrix.
FD_CONFIG = Config(vocab_size=6, n_layer=2, n_embd=8, n_head=2, block_size=5)
FD_SEED, FD_SCALE = 7, 0.3
FD_TOKENS = [5, 0, 3, 3, 1, 4, 5]  # 7 tokens: n = 5, the last one is cut off
FD_WEIGHTS = [("wte", 3, 2), ("wte", 5, 0), ("wpe", 1, 7), ("lm_head", 4, 5), ("layer0.attn_wq", 2, 6),
              ("layer0.attn_wk", 5, 1), ("layer1.attn_wv", 0, 3), ("layer1.attn_wo", 7, 4),
              ("layer0.mlp_fc1", 20, 5), ("layer1.mlp_fc2", 6, 30)]


def _finite_difference_setup(run: RunContext) -> tuple[float, Tolerance]:
    """(step h, tolerance) for the backend's precision.

    float64: h = 1e-5; truncation (about h**2 times the third derivative) and rounding
    (about 1e-16 |L| / h) stay near 1e-10.
    float32: a loss rounded to ~1e-7 divided by 2h = 2e-5 would be noise, so h = 3e-3, and the
    truncation error (up to ~1e-3 on the largest gradients) sets a loose tolerance: an
    anchor, not a precision test.
    """
    if run.precision == "float32":
        return 3e-3, Tolerance(rel=2e-2, abs=2e-3)
    return FINITE_DIFFERENCE_STEP, Tolerance(max(FINITE_DIFFERENCE_TOLERANCE.rel, run.tol(AREA).rel),
                                             max(FINITE_DIFFERENCE_TOLERANCE.abs, run.tol(AREA).abs))


def _own_central_difference(backend, name: str, row: int, col: int, h: float) -> float:
    """(L(w + h) - L(w - h)) / 2h for one weight, L being the BACKEND'S OWN loss.

    The backend's gradient must be the slope of the loss it computes itself, whatever that
    loss is: whether its loss is the reference's is for the oracle tests above to say.
    """
    params = random_params(FD_CONFIG, FD_SEED, FD_SCALE)
    original = params[name][row][col]
    params[name][row][col] = original + h
    up = to_float(backend.loss_and_grads(params, FD_CONFIG, FD_TOKENS)[0])
    params[name][row][col] = original - h
    down = to_float(backend.loss_and_grads(params, FD_CONFIG, FD_TOKENS)[0])
    return (up - down) / (2 * h)


FD_REPRO_TAIL = """
h = {h!r}
for name, r, c in {weights!r}:
    up = random_params(config, {seed}, {scale}); up[name][r][c] += h
    down = random_params(config, {seed}, {scale}); down[name][r][c] -= h
    slope = (backend.loss_and_grads(up, config, {tokens!r})[0]
             - backend.loss_and_grads(down, config, {tokens!r})[0]) / (2 * h)
    print(name, r, c, grads[name][r][c], slope)"""


def test_gradients_agree_with_central_finite_differences(backend, spec_run):
    _, grads = _loss_and_grads(backend, FD_CONFIG, FD_SEED, FD_SCALE, FD_TOKENS)
    h, within = _finite_difference_setup(spec_run)
    got = [to_float(to_array(grads[name])[row, col]) for name, row, col in FD_WEIGHTS]
    expected = [_own_central_difference(backend, name, row, col, h) for name, row, col in FD_WEIGHTS]
    expect_close(got, expected, area=AREA, within=within,
                 what="gradients unlike the slope of its own loss",
                 call="[backend.loss_and_grads(params, config, tokens)[1][name][r][c] for the weights below]",
                 rule=f"a gradient is the slope of the loss: d L / d w ~ (L(w + h) - L(w - h)) / 2h with "
                      f"h = {h:g}, where L is YOUR backend's own loss_and_grads(...)[0]. Whatever your forward "
                      "pass computes, backward must differentiate exactly that: a mismatch here is a "
                      "backward (gradient) mistake, not a forward one. " + LOSS_AND_GRADS_RULE,
                 inputs={"config": FD_CONFIG, "tokens": FD_TOKENS, "weights (name, r, c)": FD_WEIGHTS},
                 repro=_lg_repro(FD_CONFIG, FD_SEED, FD_SCALE, FD_TOKENS)
                 + FD_REPRO_TAIL.format(h=h, weights=FD_WEIGHTS, seed=FD_SEED, scale=FD_SCALE, tokens=FD_TOKENS))
