"""Spec area `crosscheck`: two backends, identical inputs, the same answers.

Run it with a second backend: `pytest conformance --backend=numpy --compare-backend=pure`.
Without `--compare-backend` these tests are skipped.

Both backends are first held to the spec on their own; this area adds that they agree with
each other to float64 rounding, on the same parameters and documents: the logits of every
position, the loss, every gradient, an Adam update, a few training steps, and the ids they
sample from the same random generator state. That is what lets a checkpoint trained by one
backend be sampled by another and give the same names.

Tolerance: the larger of the two backends' `crosscheck` tolerances (1e-10 relative for two
float64 backends).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.spec.assertions import expect, expect_close, to_array
from microgpt_spec.spec.contract import AdamHyper, Config, Schedule, call_train, param_shapes
from microgpt_spec.spec.profiles import examples
from microgpt_spec.spec.strategies import configs, params_for, random_params, reals, token_sequences, vectors
from microgpt_spec.spec.tolerances import tolerance

pytestmark = pytest.mark.crosscheck

SMALL = configs(max_layers=2, max_heads=2, max_head_dim=3, max_block=6, max_vocab=6)
RULE = ("two conforming float64 backends compute the same mathematics: given identical inputs "
        "they agree to rounding (summation order is the only legal difference)")


def _within(backend, compare_backend, area="crosscheck"):
    precisions = {getattr(backend, "precision", "float64"), getattr(compare_backend, "precision", "float64")}
    return tolerance(area, "float32" if "float32" in precisions else "float64")


def _logits_of(b, params, config, tokens):
    keys = [[] for _ in range(config.n_layer)]
    values = [[] for _ in range(config.n_layer)]
    return [to_array(b.gpt(params, config, t, pos, keys, values)) for pos, t in enumerate(tokens)]


@st.composite
def models(draw, config_strategy=SMALL):
    config = draw(config_strategy, label="config")
    params = draw(params_for(config), label="params")
    tokens = draw(token_sequences(config, min_size=2), label="tokens")
    return config, params, tokens


@given(model=models())
@settings(max_examples=examples(10))
def test_same_logits_at_every_position(backend, compare_backend, model):
    config, params, tokens = model
    tokens = tokens[: config.block_size]
    got = _logits_of(backend, params, config, tokens)
    other = _logits_of(compare_backend, params, config, tokens)
    expect_close(np.stack(got), np.stack(other), area="crosscheck", within=_within(backend, compare_backend),
                 call=f"gpt(...) at positions 0..{len(tokens) - 1}", inputs={"config": config, "tokens": tokens},
                 rule=RULE, what="logits that differ from the other backend's")


@given(model=models())
@settings(max_examples=examples(10))
def test_same_loss_and_gradients(backend, compare_backend, model):
    config, params, tokens = model
    loss, grads = backend.loss_and_grads(params, config, tokens)
    other_loss, other_grads = compare_backend.loss_and_grads(params, config, tokens)
    within = _within(backend, compare_backend)
    call = "loss_and_grads(params, config, tokens)"
    expect_close(loss, other_loss, area="crosscheck", within=within, call=call,
                 inputs={"config": config, "tokens": tokens}, rule=RULE, what="a loss unlike the other backend's")
    for name in params:
        expect_close(to_array(grads[name]), to_array(other_grads[name]), area="crosscheck", within=within,
                     call=call + f"[1][{name!r}]", inputs={"config": config, "tokens": tokens}, rule=RULE,
                     what=f"a gradient of {name} unlike the other backend's")


def test_same_loss_and_gradients_default_config(backend, compare_backend):
    config = Config()
    rng = random.Random(7)
    params = {name: [[rng.gauss(0, 0.08) for _ in range(c)] for _ in range(r)]
              for name, (r, c) in param_shapes(config).items()}
    tokens = [config.bos, 4, 12, 12, 0, config.bos]
    loss, grads = backend.loss_and_grads(params, config, tokens)
    other_loss, other_grads = compare_backend.loss_and_grads(params, config, tokens)
    within = _within(backend, compare_backend)
    expect_close(loss, other_loss, area="crosscheck", within=within, call="loss_and_grads(...)",
                 inputs={"tokens": tokens}, rule=RULE)
    for name in params:
        expect_close(to_array(grads[name]), to_array(other_grads[name]), area="crosscheck", within=within,
                     call=f"loss_and_grads(...)[1][{name!r}]", inputs={"tokens": tokens}, rule=RULE)


@given(logits=vectors(st.integers(2, 8), reals(-4, 4)), temperature=st.sampled_from([0.3, 0.5, 1.0, 2.0]),
       seed=st.integers(0, 2**32 - 1))
@settings(max_examples=examples(30))
def test_same_sampled_ids_from_the_same_generator(backend, compare_backend, logits, temperature, seed):
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    got = [backend.sample_next(logits, temperature, rng_a) for _ in range(20)]
    other = [compare_backend.sample_next(logits, temperature, rng_b) for _ in range(20)]
    expect(got == other, "crosscheck: the two backends drew different ids from the same generator state.",
           call=f"[sample_next({logits}, {temperature}, rng) for _ in range(20)]",
           inputs={"seed": seed}, got=got, expected=other,
           rule="sampling is rng.choices(range(V), weights=softmax(logits / T)): the same generator "
                "state must give the same ids on every backend")


@given(model=models(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=examples(10))
def test_same_generated_names(backend, compare_backend, model, seed):
    config, params, _ = model
    got = [int(i) for i in backend.generate(params, config, 0.7, random.Random(seed))]
    other = [int(i) for i in compare_backend.generate(params, config, 0.7, random.Random(seed))]
    expect(got == other, "crosscheck: the two backends generated different names.",
           call="generate(params, config, 0.7, random.Random(seed))", inputs={"config": config, "seed": seed},
           got=got, expected=other, rule="same parameters and same generator state: the same name")


@given(model=models(), seed=st.integers(0, 2**32 - 1), data=st.data())
@settings(max_examples=examples(5))
def test_same_training_steps(backend, compare_backend, model, seed, data):
    config, _, _ = model
    # Weights at the reference's init scale: with large random weights a tiny model can
    # reach a loss of ~1e-7, where float32 gradients are rounding noise and Adam (which
    # normalises every gradient to a step of ~lr) turns that noise into real drift.
    params = random_params(config, seed, 0.08)
    sequences = [data.draw(token_sequences(config, min_size=2), label=f"sequence {i}") for i in range(3)]
    hyper, schedule = AdamHyper(), Schedule(10, stop_step=4)
    run = call_train(backend, params, config, sequences, schedule, hyper=hyper)
    other = call_train(compare_backend, params, config, sequences, schedule, hyper=hyper)
    # Adam divides by sqrt(v): parameters whose gradient is ~0 amplify rounding, so the
    # parameters get the training area's absolute tolerance.
    within = _within(backend, compare_backend, "training")
    expect_close(list(run.losses), list(other.losses), area="crosscheck", within=within,
                 call="train(params, config, sequences, Schedule(10, stop_step=4)).losses",
                 inputs={"config": config}, rule=RULE)
    for name in params:
        expect_close(to_array(run.params[name]), to_array(other.params[name]), area="crosscheck",
                     within=within, call=f"train(...).params[{name!r}]", inputs={"config": config}, rule=RULE)
