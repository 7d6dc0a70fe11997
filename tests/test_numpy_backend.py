"""The NumPy backend: exact gradients, batch semantics, its array autograd, faithfulness.

Where the pure backend is importable, the NumPy backend is checked against it (same
weights, same tokens) on logits, loss and every gradient. Independently of it, the
gradient is checked against finite differences and the batched training pass against
the one-position `gpt`. The faithfulness tests need makemore's names.txt
(`microgpt_spec.data.reference_names_path()`) and skip without it.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec.backends.numpy import Backend, Tensor
from microgpt_spec.backends.numpy.model import Model, make_batch
from microgpt_spec.backends.numpy.params import FlatParams
from microgpt_spec.spec.contract import AdamHyper, Config, Schedule, num_params, param_shapes

try:
    from microgpt_spec.backends.pure import Backend as PureBackend
except ImportError:  # the pure backend is optional for these tests
    PureBackend = None

needs_pure = pytest.mark.skipif(PureBackend is None, reason="microgpt_spec.backends.pure is not importable")

CONFIGS = [
    Config(),
    Config(n_layer=2, n_embd=8, n_head=2, block_size=8),
    Config(vocab_size=11, n_layer=3, n_embd=12, n_head=3, block_size=5),
]
CONFIG_IDS = ["default", "2-layers-8-wide", "3-layers-12-wide-block-5"]
AGREE = 1e-10  # relative agreement between backends


@pytest.fixture(scope="module")
def backend() -> Backend:
    return Backend()


def random_sequence(config: Config, rng: random.Random, length: int) -> list[int]:
    """BOS, `length` random characters, BOS."""
    return [config.bos] + [rng.randrange(config.vocab_size - 1) for _ in range(length)] + [config.bos]


def assert_params_close(actual, expected, rtol: float = AGREE) -> None:
    """Every matrix agrees within rtol, relative to that matrix's largest entry."""
    assert set(actual) == set(expected)
    for name in expected:
        want = np.asarray(expected[name], dtype=float)
        scale = max(float(np.max(np.abs(want))), 1e-300)
        np.testing.assert_allclose(np.asarray(actual[name], dtype=float), want, rtol=rtol, atol=rtol * scale, err_msg=name)


# ---------------------------------------------------------------------- against pure
@needs_pure
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_loss_and_every_gradient_agree_with_pure(backend, config):
    rng = random.Random(7)
    params = backend.init_params(config, rng)
    tokens = random_sequence(config, rng, config.block_size + 2)  # longer than the block
    want_loss, want_grads = PureBackend().loss_and_grads(params, config, tokens)
    loss, grads = backend.loss_and_grads(params, config, tokens)
    assert loss == pytest.approx(want_loss, rel=AGREE)
    assert_params_close(grads, want_grads)


@needs_pure
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_gpt_logits_agree_with_pure_position_by_position(backend, config):
    rng = random.Random(8)
    params = backend.init_params(config, rng)
    tokens = random_sequence(config, rng, config.block_size)[: config.block_size]
    pure = PureBackend()
    caches = {name: ([[] for _ in range(config.n_layer)], [[] for _ in range(config.n_layer)]) for name in "np"}
    for pos, token in enumerate(tokens):
        want = pure.gpt(params, config, token, pos, *caches["p"])
        got = backend.gpt(params, config, token, pos, *caches["n"])
        np.testing.assert_allclose(np.asarray(got), np.asarray(want, dtype=float), rtol=AGREE, atol=AGREE)


# ---------------------------------------------------------------------- on its own
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_batched_forward_equals_one_position_at_a_time(backend, config):
    """The causal mask over whole sequences gives the logits of the growing KV cache."""
    rng = random.Random(9)
    params = backend.init_params(config, rng)
    sequences = [random_sequence(config, rng, n) for n in (1, config.block_size + 3, 4)]
    flat = FlatParams.from_params(params, config)
    logits_t, _ = Model(flat).forward(make_batch(sequences, config.block_size))
    expected = []
    for seq in sequences:
        keys, values = [[] for _ in range(config.n_layer)], [[] for _ in range(config.n_layer)]
        for pos, token in enumerate(seq[: min(config.block_size, len(seq) - 1)]):
            expected.append(backend.gpt(params, config, token, pos, keys, values))
    np.testing.assert_allclose(logits_t.T, np.array(expected), rtol=1e-12, atol=1e-12)


def test_gpt_appends_one_key_and_value_per_layer_per_call(backend):
    config = CONFIGS[1]
    params = backend.init_params(config, random.Random(1))
    keys, values = [[], []], [[], []]
    for pos in range(3):
        backend.gpt(params, config, config.bos, pos, keys, values)
        assert [len(k) for k in keys] == [pos + 1, pos + 1]
        assert [len(v) for v in values] == [pos + 1, pos + 1]


@pytest.mark.parametrize("config", CONFIGS[1:], ids=CONFIG_IDS[1:])
def test_gradient_matches_finite_differences(backend, config):
    """Central differences on a sample of weights of every matrix agree to 1e-6."""
    rng = random.Random(11)
    params = backend.init_params(config, rng)
    tokens = random_sequence(config, rng, 6)
    _, grads = backend.loss_and_grads(params, config, tokens)
    step = 1e-6
    for name, (rows, cols) in param_shapes(config).items():
        for _ in range(3):
            i, j = rng.randrange(rows), rng.randrange(cols)
            original = params[name][i][j]
            params[name][i][j] = original + step
            up, _ = backend.loss_and_grads(params, config, tokens)
            params[name][i][j] = original - step
            down, _ = backend.loss_and_grads(params, config, tokens)
            params[name][i][j] = original
            assert grads[name][i][j] == pytest.approx((up - down) / (2 * step), rel=1e-5, abs=1e-8), (name, i, j)


def test_cross_entropy_is_the_mean_negative_log_probability(backend):
    logits = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]
    targets = [2, 0]
    loss, grad = backend.cross_entropy(logits, targets)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(probs[[0, 1], targets])), rel=1e-14)
    np.testing.assert_allclose(grad, (probs - np.eye(3)[targets]) / 2, rtol=1e-13, atol=1e-15)


def test_init_params_draws_gauss_row_by_row_in_parameter_order(backend):
    config = CONFIGS[2]
    params = backend.init_params(config, random.Random(5))
    rng = random.Random(5)
    expected = [rng.gauss(0, 0.08) for _ in range(num_params(config))]
    drawn = [x for name in param_shapes(config) for row in params[name] for x in row]
    assert drawn == expected


# ---------------------------------------------------------------------- batches
def per_sequence_mean(backend, params, config, sequences):
    """The mean of each sequence's own loss and gradients, computed one by one."""
    results = [backend.loss_and_grads(params, config, seq) for seq in sequences]
    loss = sum(loss for loss, _ in results) / len(results)
    grads = {name: np.mean([np.asarray(g[name]) for _, g in results], axis=0) for name in params}
    return loss, grads


@pytest.mark.parametrize("lengths", [(3, 9, 1, 20), (5, 5, 5)], ids=["ragged", "equal"])
def test_batch_loss_and_gradient_are_the_means_over_its_sequences(backend, lengths):
    config = CONFIGS[1]
    rng = random.Random(13)
    params = backend.init_params(config, rng)
    sequences = [random_sequence(config, rng, n) for n in lengths]
    want_loss, want_grads = per_sequence_mean(backend, params, config, sequences)
    flat = FlatParams.from_params(params, config)
    loss = Model(flat).loss_and_grad(make_batch(sequences, config.block_size))
    assert loss == pytest.approx(want_loss, rel=1e-13)
    assert_params_close(flat.to_params(flat.grad), want_grads, rtol=1e-12)


def test_train_with_a_batch_reports_the_mean_of_its_sequences_losses(backend):
    config = CONFIGS[1]
    rng = random.Random(17)
    params = backend.init_params(config, rng)
    sequences = [random_sequence(config, rng, rng.randint(1, 12)) for _ in range(5)]
    result = backend.train(params, config, sequences, Schedule(4, stop_step=1, batch_size=3))
    want_loss, _ = per_sequence_mean(backend, params, config, sequences[:3])
    assert result.losses == [pytest.approx(want_loss, rel=1e-13)]


def test_batch_of_one_is_exactly_the_single_sequence_step(backend):
    config = CONFIGS[0]
    rng = random.Random(19)
    params = backend.init_params(config, rng)
    sequences = [random_sequence(config, rng, rng.randint(1, 12)) for _ in range(6)]
    default = backend.train(params, config, sequences, Schedule(6))
    batched = backend.train(params, config, sequences, Schedule(6, batch_size=1))
    assert default.losses == batched.losses and default.params == batched.params


@needs_pure
def test_a_few_training_steps_agree_with_pure(backend):
    config = CONFIGS[0]
    rng = random.Random(23)
    params = backend.init_params(config, rng)
    sequences = [random_sequence(config, rng, rng.randint(1, 10)) for _ in range(3)]
    want = PureBackend().train(params, config, sequences, Schedule(3))
    got = backend.train(params, config, sequences, Schedule(3))
    np.testing.assert_allclose(got.losses, want.losses, rtol=AGREE)
    assert_params_close(got.params, want.params)
    assert_params_close(got.m, want.m)
    assert_params_close(got.v, want.v)


def test_a_stopped_run_continues_exactly_and_params_are_not_modified(backend):
    config = CONFIGS[1]
    rng = random.Random(29)
    params = backend.init_params(config, rng)
    before = {name: [row[:] for row in rows] for name, rows in params.items()}
    sequences = [random_sequence(config, rng, rng.randint(1, 9)) for _ in range(4)]
    whole = backend.train(params, config, sequences, Schedule(10, batch_size=2))
    first = backend.train(params, config, sequences, Schedule(10, stop_step=4, batch_size=2))
    second = backend.train(first.params, config, sequences, Schedule(10, start_step=4, batch_size=2),
                           moments=first.moments)
    assert params == before
    assert first.next_step == 4 and second.next_step == 10
    assert first.losses + second.losses == whole.losses
    assert second.params == whole.params


def test_on_step_sees_every_step_and_its_loss(backend):
    config = CONFIGS[1]
    rng = random.Random(31)
    params = backend.init_params(config, rng)
    sequences = [random_sequence(config, rng, 4) for _ in range(3)]
    seen = []
    result = backend.train(params, config, sequences, Schedule(8, 2, 5), on_step=lambda s, l: seen.append((s, l)))
    assert seen == list(zip([2, 3, 4], result.losses))


# ---------------------------------------------------------------------- sampling
def test_sample_next_draws_what_random_choices_draws(backend):
    logits = [0.3, -1.2, 2.0, 0.0, 1.1]
    for seed in range(200):
        probs = backend.softmax(np.asarray(logits) * 0.7**-1)
        want = random.Random(seed).choices(range(5), weights=list(probs))[0]
        assert backend.sample_next(logits, 0.7, random.Random(seed)) == want


def test_generate_stops_at_bos_and_at_block_size(backend):
    config = Config(vocab_size=4, n_embd=4, n_head=2, block_size=6)
    params = backend.init_params(config, random.Random(2))
    lengths = set()
    rng = random.Random(3)
    for _ in range(50):
        ids = backend.generate(params, config, 1.0, rng)
        assert config.bos not in ids and len(ids) <= config.block_size
        lengths.add(len(ids))
    assert len(lengths) > 1  # some names end early, some later


# ---------------------------------------------------------------------- array autograd
def test_tensor_ops_are_elementwise_with_the_reference_derivatives():
    a_data, b_data = np.array([0.5, 2.0, 3.0]), np.array([1.5, -0.5, 4.0])
    a, b = Tensor(a_data), Tensor(b_data)
    out = (a * b + 2 - a / b + (a**3).log() + (-b).exp() + (b - 1).relu() + 1 / a - 3 * b)
    total = out.data
    np.testing.assert_allclose(
        total,
        a_data * b_data + 2 - a_data / b_data + np.log(a_data**3) + np.exp(-b_data)
        + np.maximum(b_data - 1, 0) + 1 / a_data - 3 * b_data,
        rtol=1e-15,
    )
    out.backward()
    np.testing.assert_allclose(a.grad, b_data - 1 / b_data + 3 / a_data - 1 / a_data**2, rtol=1e-14)
    np.testing.assert_allclose(
        b.grad, a_data + a_data / b_data**2 - np.exp(-b_data) + (b_data > 1) - 3, rtol=1e-14
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6), st.floats(-3, 3))
def test_tensor_gradient_of_a_product_of_sums(xs, c):
    """d/dx of sum((x + c) * x) is 2x + c, elementwise, with c a plain number."""
    x = Tensor(np.array(xs))
    ((x + c) * x).backward()
    np.testing.assert_allclose(x.grad, 2 * np.array(xs) + c, rtol=1e-12, atol=1e-12)


def test_tensor_of_a_float_is_0d_and_float_readable():
    x = Tensor(2.0)
    y = x * x + x
    y.backward()
    assert np.asarray(y.data).shape == () and float(y.data) == 6.0
    assert float(x.grad) == 5.0  # x*x sends back x twice (2 + 2), "+ x" adds 1


def test_relu_has_zero_slope_at_zero_and_grads_accumulate():
    x = Tensor(np.array([-1.0, 0.0, 2.0]))
    (x.relu() + x.relu()).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 2.0])


def test_a_100000_deep_chain_backpropagates():
    x = Tensor(np.array([1.0, 2.0]))
    y = x
    for _ in range(100_000):
        y = y + 1
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    np.testing.assert_array_equal(y.data, [100_001.0, 100_002.0])


def test_adam_on_nodes_follows_the_rule_then_zeroes_grads(backend):
    node = backend.value(np.array([1.0, -2.0]))
    node.grad = np.array([0.5, -0.25])
    optimizer = backend.adam([node], AdamHyper())
    optimizer.step(0, 10)
    # step 0: m_hat = g, v_hat = g**2, so each weight moves by lr * g / (|g| + eps).
    np.testing.assert_allclose(node.data, [1.0 - 0.01 * 0.5 / (0.5 + 1e-8), -2.0 + 0.01 * 0.25 / (0.25 + 1e-8)], rtol=1e-15)
    np.testing.assert_array_equal(node.grad, [0.0, 0.0])


# ---------------------------------------------------------------------- faithfulness
EXPECTED_SAMPLES = (
    "kamon ann karai jaire vialan karia yeran anna areli kaina "
    "konna keylen liole alerin earan lenne kana lara alela anton"
).split()


@pytest.fixture(scope="module")
def reference_docs() -> list[str]:
    from microgpt_spec import data

    path = data.reference_names_path() if hasattr(data, "reference_names_path") else None
    if path is None:
        path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "makemore-names.txt"
    if not path.is_file():
        pytest.skip(f"makemore's names.txt not found ({path}); set MICROGPT_SPEC_REFERENCE_NAMES to a copy")
    return data.load_docs(path)


def test_first_training_steps_match_the_reference(backend, reference_docs):
    from microgpt_spec.recipe import reference_run

    losses: list[float] = []
    run = reference_run(backend, reference_docs, num_steps=2, n_samples=0, on_step=lambda s, l: losses.append(l))
    assert run.docs[:3] == ["yuheng", "diondre", "xavien"]
    assert run.initial_params["wte"][0][:3] == [-0.04273180935726127, 0.07696138795865093, 0.10844210106107166]
    assert losses[0] == pytest.approx(3.3659669475848504, rel=1e-13)
    assert [f"{loss:.4f}" for loss in losses] == ["3.3660", "3.4243"]


def test_the_whole_reference_run(backend, reference_docs):
    from microgpt_spec.recipe import reference_run

    run = reference_run(backend, reference_docs)
    losses = run.train.losses
    assert [f"{losses[i]:.4f}" for i in (0, 1, 999)] == ["3.3660", "3.4243", "2.6497"]
    assert math.isclose(losses[-1], 2.6496944697407585, rel_tol=1e-10)
    assert run.samples == EXPECTED_SAMPLES
