"""The oracle checked against mathematics, never against itself.

* the hand-derived backward against complex-step differentiation of the same forward,
* the whole-sequence (masked) forward against an explicit one-position-at-a-time KV cache,
* softmax / cross-entropy / rmsnorm / attention identities,
* Adam against numbers worked out by hand,
* sampling against the inverse-CDF definition and, statistically, against its probabilities.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.spec import oracle
from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Schedule, num_params, param_shapes

SMALL = Config(vocab_size=5, n_layer=2, n_embd=4, n_head=2, block_size=4)
DEFAULT = Config()
FEW = settings(max_examples=25, deadline=None)


def random_arrays(config: Config, std: float, seed: int) -> dict[str, np.ndarray]:
    rng = random.Random(seed)
    return {
        name: np.array([[rng.gauss(0, std) for _ in range(cols)] for _ in range(rows)])
        for name, (rows, cols) in param_shapes(config).items()
    }


def random_tokens(config: Config, length: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [config.bos] + [rng.randrange(config.vocab_size - 1) for _ in range(length - 2)] + [config.bos]


# ============================================================================ complex step
#
# For an analytic f, f(p + ih) = f(p) + ih f'(p) - h^2 f''(p)/2 + ...: so f'(p) = Im f(p + ih) / h
# with an error of order h^2, and no subtraction (no cancellation), so h can be 1e-20 and the
# derivative is exact to rounding. The oracle's forward is dtype-generic; its only
# non-analytic spots (softmax's max shift, relu's branch) decide on the real part.

STEP = 1e-20


def complex_step_gradient(arrays, config, tokens, name, index) -> float:
    perturbed = {k: a.astype(np.complex128) for k, a in arrays.items()}
    perturbed[name][index] += 1j * STEP
    return float(oracle.loss(perturbed, config, tokens).imag / STEP)


def assert_gradients_agree(arrays, config, tokens, positions) -> None:
    _, grads = oracle.loss_and_grads(arrays, config, tokens)
    ours = np.array([grads[name][index] for name, index in positions])
    exact = np.array([complex_step_gradient(arrays, config, tokens, name, index) for name, index in positions])
    assert np.count_nonzero(exact) > len(positions) // 4, "the test model should have live gradients"
    # rtol 1e-12: two float64 evaluations of the same derivative; the tiny atol covers
    # entries that are small only because of cancellation.
    np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-14 * np.abs(exact).max())


def every_position(config):
    return [(name, (r, c)) for name, (rows, cols) in param_shapes(config).items()
            for r in range(rows) for c in range(cols)]


@pytest.mark.parametrize("tokens", [
    [4, 0, 1, 1, 0, 2, 4],  # longer than block_size: truncated to 4 positions; a repeated token
    [4, 3, 4],  # shorter than block_size: 2 positions, the later wpe rows get no gradient
])
def test_backward_equals_complex_step_on_every_parameter_of_a_small_model(tokens):
    arrays = random_arrays(SMALL, std=0.7, seed=3)  # large weights: relu and attention far from trivial
    positions = every_position(SMALL)
    assert len(positions) == num_params(SMALL)
    assert_gradients_agree(arrays, SMALL, tokens, positions)


def test_backward_equals_complex_step_on_200_parameters_of_the_default_model():
    arrays = random_arrays(DEFAULT, std=0.08, seed=5)
    tokens = random_tokens(DEFAULT, 20, seed=6)  # 19 targets, truncated to block_size 16
    positions = random.Random(7).sample(every_position(DEFAULT), 200)
    assert_gradients_agree(arrays, DEFAULT, tokens, positions)


def test_unused_rows_get_exactly_zero_gradient():
    arrays = random_arrays(SMALL, std=0.5, seed=1)
    _, grads = oracle.loss_and_grads(arrays, SMALL, [4, 3, 4])
    assert not grads["wte"][[0, 1, 2]].any()  # tokens never read
    assert not grads["wpe"][2:].any()  # positions never reached
    assert grads["wte"][4].any() and grads["wpe"][1].any()


@FEW
@given(st.lists(st.floats(-30, 30), min_size=2, max_size=6), st.data())
def test_cross_entropy_gradient_equals_complex_step(row, data):
    logits = np.array([row, row[::-1]])
    targets = [data.draw(st.integers(0, len(row) - 1)) for _ in range(2)]
    _, dlogits = oracle.cross_entropy(logits, targets)
    for index in itertools.product(range(2), range(len(row))):
        z = logits.astype(np.complex128)
        z[index] += 1j * STEP
        exact = oracle.mean_nll(z, targets).imag / STEP
        assert dlogits[index] == pytest.approx(exact, rel=1e-12, abs=1e-15)


# ============================================================================ forward


def forward_one_position_at_a_time(arrays, config, tokens):
    """The reference's way: one position per call, causality from a growing cache."""
    keys = [[] for _ in range(config.n_layer)]
    values = [[] for _ in range(config.n_layer)]
    rows = []
    for pos, token in enumerate(tokens):
        x = oracle.rmsnorm(arrays["wte"][token] + arrays["wpe"][pos])
        for i in range(config.n_layer):
            w = {name: arrays[f"layer{i}.{name}"] for name in
                 ("attn_wq", "attn_wk", "attn_wv", "attn_wo", "mlp_fc1", "mlp_fc2")}
            residual = x
            h = oracle.rmsnorm(x)
            q = oracle.linear(h, w["attn_wq"])
            keys[i].append(oracle.linear(h, w["attn_wk"]))
            values[i].append(oracle.linear(h, w["attn_wv"]))
            heads = oracle.attention(q, np.array(keys[i]), np.array(values[i]), config.n_head)
            x = oracle.linear(heads, w["attn_wo"]) + residual
            residual = x
            x = oracle.mlp(oracle.rmsnorm(x), w["mlp_fc1"], w["mlp_fc2"]) + residual
        rows.append(oracle.linear(x, arrays["lm_head"]))
    return np.array(rows), [np.array(k) for k in keys], [np.array(v) for v in values]


@pytest.mark.parametrize("config,seed", [(SMALL, 0), (DEFAULT, 1), (DEFAULT.replace(n_layer=2), 2)])
def test_whole_sequence_forward_equals_the_kv_cache_computation(config, seed):
    arrays = random_arrays(config, std=0.3, seed=seed)
    tokens = random_tokens(config, config.block_size, seed)
    logits, keys, values = oracle.forward_with_cache(arrays, config, tokens)
    cached_logits, cached_keys, cached_values = forward_one_position_at_a_time(arrays, config, tokens)
    assert logits.shape == (config.block_size, config.vocab_size)
    np.testing.assert_allclose(logits, cached_logits, rtol=1e-12, atol=1e-13)
    for ours, theirs in zip(keys + values, cached_keys + cached_values):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)


@FEW
@given(st.lists(st.integers(0, 26), min_size=1, max_size=16), st.data())
def test_forward_is_causal(tokens, data):
    """A position's logits do not depend on later tokens: a prefix gives the same rows."""
    arrays = random_arrays(DEFAULT, std=0.2, seed=11)
    prefix = data.draw(st.integers(1, len(tokens)))
    full = oracle.forward(arrays, DEFAULT, tokens)
    np.testing.assert_allclose(oracle.forward(arrays, DEFAULT, tokens[:prefix]), full[:prefix],
                               rtol=1e-12, atol=1e-14)


def test_forward_accepts_lists_and_rejects_too_many_tokens():
    params = oracle.as_params(random_arrays(SMALL, std=0.2, seed=0))
    assert oracle.forward(params, SMALL, [4, 1]).shape == (2, 5)
    with pytest.raises(ValueError):
        oracle.forward(params, SMALL, [4, 1, 2, 3, 0])


# ============================================================================ layers


def test_linear_on_hand_numbers():
    w = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    np.testing.assert_array_equal(oracle.linear(np.array([1.0, 1.0, 2.0]), w), [9.0, 0.0])


@FEW
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=30))
def test_softmax_is_a_probability_distribution_invariant_to_shifts(z):
    z = np.array(z)
    p = oracle.softmax(z)
    assert (p >= 0).all() and math.isclose(p.sum(), 1.0, rel_tol=1e-14)
    np.testing.assert_allclose(oracle.softmax(z + 123.0), p, rtol=1e-12, atol=1e-300)


def test_softmax_survives_huge_logits_and_works_along_the_last_axis():
    p = oracle.softmax(np.array([[1000.0, -1000.0, 1000.0], [0.0, 0.0, math.log(2.0)]]))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, [[0.5, 0.0, 0.5], [0.25, 0.25, 0.5]], rtol=1e-15)


def test_cross_entropy_of_uniform_logits_is_log_vocab():
    loss, dlogits = oracle.cross_entropy(np.full((3, 27), 4.2), [0, 5, 26])
    assert loss == pytest.approx(math.log(27), rel=1e-15)
    expected = np.full((3, 27), 1 / 27)
    expected[[0, 1, 2], [0, 5, 26]] -= 1
    np.testing.assert_allclose(dlogits, expected / 3, rtol=1e-14)


def test_cross_entropy_is_finite_for_a_hopeless_prediction():
    loss, _ = oracle.cross_entropy(np.array([[1000.0, -1000.0]]), [1])
    assert loss == pytest.approx(2000.0)


@FEW
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=20))
def test_rmsnorm_output_has_mean_square_ms_over_ms_plus_eps(x):
    """y = x / sqrt(ms + eps)  =>  mean(y^2) = ms / (ms + eps) exactly, in exact arithmetic."""
    x = np.array(x)
    ms = np.mean(x * x)
    assert np.mean(oracle.rmsnorm(x) ** 2) == pytest.approx(ms / (ms + 1e-5), rel=1e-13, abs=1e-300)


def test_attention_on_hand_cases():
    rng = np.random.default_rng(0)
    q, values = rng.normal(size=8), rng.normal(size=(3, 8))
    # one cached position: every head gives it weight 1
    np.testing.assert_allclose(oracle.attention(q, values[:1] * 2, values[:1], 2), values[0], rtol=1e-15)
    # identical keys: equal weights, the output is the mean of the values
    keys = np.tile(rng.normal(size=8), (3, 1))
    np.testing.assert_allclose(oracle.attention(q, keys, values, 4), values.mean(axis=0), rtol=1e-13)


def test_attention_heads_are_independent_and_scaled_by_sqrt_head_dim():
    q = np.array([1.0, 0.0, 0.0, 2.0])
    keys = np.array([[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 1.0]])
    values = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    # head 0 scores: 0, 2/sqrt(2); head 1 scores: 0, 2/sqrt(2); d = 2
    w1 = 1 / (1 + math.exp(-2 / math.sqrt(2)))
    expected = (1 - w1) * values[0] + w1 * values[1]
    np.testing.assert_allclose(oracle.attention(q, keys, values, 2), expected, rtol=1e-14)


def test_causal_attention_rows_equal_single_query_attention():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 5, 8))
    out, weights = oracle.causal_attention(q, k, v, 4)
    assert not np.triu(weights[0], k=1).any()
    for t in range(5):
        np.testing.assert_allclose(out[t], oracle.attention(q[t], k[: t + 1], v[: t + 1], 4), rtol=1e-13)


def test_mlp_is_fc2_of_relu_of_fc1():
    fc1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    fc2 = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0]])
    # x = (2, -3): fc1 -> (2, -3, -1, -2), relu -> (2, 0, 0, 0), fc2 -> (2, 0)
    np.testing.assert_array_equal(oracle.mlp(np.array([2.0, -3.0]), fc1, fc2), [2.0, 0.0])


# ============================================================================ tokenizer, params


def test_tokenizer_facts():
    chars = oracle.vocabulary(["emma", "ava", "zoe"])
    assert chars == ["a", "e", "m", "o", "v", "z"]
    assert oracle.encode("zoe", chars) == [5, 3, 1]
    assert oracle.training_sequence("ava", chars) == [6, 0, 4, 0, 6]
    with pytest.raises(KeyError, match="q"):
        oracle.encode("quinn", chars)
    assert oracle.documents("  emma \n\n ava\n") == ["emma", "ava"]
    assert oracle.documents("emma\r\nava\rzoe") == ["emma", "ava", "zoe"]


def test_init_params_draws_gauss_008_in_param_shapes_order_row_by_row():
    params = oracle.init_params(SMALL, random.Random(9))
    draws = random.Random(9)
    expected = [draws.gauss(0, 0.08) for _ in range(num_params(SMALL))]
    flat = [x for rows in params.values() for row in rows for x in row]
    assert list(params) == list(param_shapes(SMALL)) and flat == expected
    assert {n: (len(r), len(r[0])) for n, r in params.items()} == param_shapes(SMALL)


def test_as_arrays_and_as_params_round_trip():
    params = oracle.init_params(SMALL, random.Random(1))
    arrays = oracle.as_arrays(params)
    assert all(a.dtype == np.float64 for a in arrays.values())
    assert oracle.as_params(arrays) == params


# ============================================================================ adam


def test_adam_step_0_and_step_1_on_hand_numbers():
    hyper = AdamHyper()  # lr 0.01, b1 0.85, b2 0.99, eps 1e-8
    # step 0 of 10, g = 0.5: lr_t = 0.01, m = 0.15*0.5 = 0.075, v = 0.01*0.25 = 0.0025,
    # m_hat = 0.075/0.15 = 0.5, v_hat = 0.0025/0.01 = 0.25, p = 1 - 0.01*0.5/(0.5 + 1e-8)
    p, m, v = oracle.adam_update(1.0, 0.5, 0.0, 0.0, 0, 10, hyper)
    assert m == pytest.approx(0.075, rel=1e-15) and v == pytest.approx(0.0025, rel=1e-15)
    assert p == pytest.approx(1 - 0.005 / 0.50000001, rel=1e-15)
    # step 1 of 10, g = -0.25: lr_t = 0.009, m = 0.85*0.075 - 0.15*0.25 = 0.02625,
    # v = 0.99*0.0025 + 0.01*0.0625 = 0.0031, m_hat = 0.02625/(1 - 0.85^2) = 7/74,
    # v_hat = 0.0031/(1 - 0.99^2) = 31/199
    p1 = p
    p, m, v = oracle.adam_update(p1, -0.25, m, v, 1, 10, hyper)
    assert m == pytest.approx(0.02625, rel=1e-14) and v == pytest.approx(0.0031, rel=1e-14)
    assert p == pytest.approx(p1 - 0.009 * (7 / 74) / (math.sqrt(31 / 199) + 1e-8), rel=1e-15)


def test_adam_is_elementwise_and_moves_parameters_with_zero_gradient_by_momentum():
    g = np.array([0.5, -0.5, 0.0])
    p, m, v = oracle.adam_update(np.zeros(3), g, np.zeros(3), np.zeros(3), 0, 2, AdamHyper())
    np.testing.assert_allclose(p, [-0.01, 0.01, 0.0], rtol=1e-7)
    p, m, v = oracle.adam_update(p, np.zeros(3), m, v, 1, 2, AdamHyper())
    assert p[0] < -0.01 and p[1] > 0.01 and p[2] == 0.0  # lr_t = 0.005, momentum keeps going


# ============================================================================ training


def test_train_uses_sequence_s_mod_len_and_continues_exactly():
    params = oracle.init_params(SMALL, random.Random(2))
    seqs = [[4, 0, 1, 4], [4, 2, 3, 2, 1, 4]]
    frozen = AdamHyper(lr=0.0)
    _, _, _, losses = oracle.train(params, SMALL, seqs, Schedule(3), hyper=frozen)
    assert losses == [oracle.loss_and_grads(params, SMALL, seqs[s % 2])[0] for s in range(3)]
    whole = oracle.train(params, SMALL, seqs, Schedule(6))
    first = oracle.train(params, SMALL, seqs, Schedule(6, stop_step=2))
    rest = oracle.train(first[0], SMALL, seqs, Schedule(6, start_step=2), moments=Moments(first[1], first[2]))
    assert first[3] + rest[3] == whole[3]
    for name in params:
        np.testing.assert_array_equal(rest[0][name], whole[0][name])
    assert oracle.as_arrays(params)["wte"][0, 0] == params["wte"][0][0]  # input untouched


def test_training_lowers_the_loss_on_one_repeated_sequence():
    params = oracle.init_params(SMALL, random.Random(4))
    _, _, _, losses = oracle.train(params, SMALL, [[4, 0, 1, 2, 4]], Schedule(30), hyper=AdamHyper(lr=0.05))
    assert losses[-1] < 0.5 * losses[0]


# ============================================================================ sampling


def test_sample_next_is_the_inverse_cdf_of_one_rng_random_draw():
    logits = [0.3, -1.0, 2.0, 0.0, 1.1]
    probs = [float(p) for p in oracle.next_token_probs(logits, 0.5)]
    cumulative = list(itertools.accumulate(probs))
    for seed in range(50):
        u = random.Random(seed).random()
        expected = bisect.bisect(cumulative, u * cumulative[-1])
        rng = random.Random(seed)
        assert oracle.sample_next(logits, 0.5, rng) == expected
        assert rng.getstate() == _after_draws(seed, 1).getstate()


def test_temperature_divides_the_logits():
    logits = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(oracle.next_token_probs(logits, 0.5), oracle.softmax(2 * logits), rtol=1e-15)


def test_sample_next_frequencies_match_the_probabilities():
    """Pearson chi-square with 4 degrees of freedom over 20,000 draws.

    The bound 33.4 is the 1 - 1e-6 quantile of chi-square(4): a correct sampler would exceed
    it for one seed in a million (the seed is fixed, so the test is deterministic).
    """
    logits = [0.3, -1.0, 2.0, 0.0, 1.1]
    probs = oracle.next_token_probs(logits, 1.0)
    rng, n = random.Random(1234), 20_000
    counts = np.bincount([oracle.sample_next(logits, 1.0, rng) for _ in range(n)], minlength=5)
    chi2 = float(np.sum((counts - n * probs) ** 2 / (n * probs)))
    assert chi2 < 33.4, f"chi-square {chi2:.1f}: counts {counts} vs expected {n * probs}"


def _after_draws(seed: int, k: int) -> random.Random:
    rng = random.Random(seed)
    for _ in range(k):
        rng.random()
    return rng


@pytest.mark.parametrize("seed", range(8))
def test_generate_draws_once_per_token_and_stops_at_bos_or_block_size(seed):
    config = SMALL.replace(block_size=3)
    arrays = random_arrays(config, std=0.5, seed=seed)
    rng = random.Random(seed)
    ids = oracle.generate(arrays, config, 1.0, rng)
    assert len(ids) <= config.block_size and config.bos not in ids
    draws = len(ids) if len(ids) == config.block_size else len(ids) + 1  # + the BOS that ended it
    assert rng.getstate() == _after_draws(seed, draws).getstate()


# ============================================================================ the original run


def test_oracle_reproduces_the_original_run_on_makemore_names():
    """The numbers measured on the original program (see the reference semantics), whenever a
    copy of makemore's names.txt is on this machine (it may not be shipped)."""
    from microgpt_spec import data

    path = data.reference_names_path()
    if path is None or data.sha256_of(path) != data.REFERENCE_NAMES_SHA256:
        pytest.skip("makemore's names.txt is not on this machine")
    docs = oracle.documents(path.read_text(encoding="utf-8"))
    rng = random.Random(42)
    rng.shuffle(docs)
    assert len(docs) == 32033 and docs[:5] == ["yuheng", "diondre", "xavien", "jori", "juanluis"]
    chars = oracle.vocabulary(docs)
    config = Config(vocab_size=len(chars) + 1)
    assert config.vocab_size == 27 and num_params(config) == 4192
    params = oracle.init_params(config, rng)
    assert params["wte"][0][:3] == [-0.04273180935726127, 0.07696138795865093, 0.10844210106107166]
    sequences = [oracle.training_sequence(doc, chars) for doc in docs]
    trained, _, _, losses = oracle.train(params, config, sequences, Schedule(1000))
    assert losses[0] == pytest.approx(3.3659669475848504, rel=1e-14)
    assert round(losses[1], 4) == 3.4243
    assert losses[-1] == pytest.approx(2.6496944697407585, rel=1e-10)
    samples = ["".join(chars[i] for i in oracle.generate(trained, config, 0.5, rng)) for _ in range(20)]
    assert samples == ["kamon", "ann", "karai", "jaire", "vialan", "karia", "yeran", "anna", "areli", "kaina",
                       "konna", "keylen", "liole", "alerin", "earan", "lenne", "kana", "lara", "alela", "anton"]
