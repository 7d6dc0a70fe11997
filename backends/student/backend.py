"""Your backend: the contract's methods on top of your scalar engine. Written for you.

This file is glue, not the learning content: the spec calls these methods with plain
numbers; they wrap the numbers as `Value` leaves, call YOUR functions in `engine`, `model`,
`train`, `sample` and `tokenizer`, and hand plain floats back (`.data`, or `.grad` where a
gradient is asked for). Until you write a function it raises NotImplementedError, which
the spec reports as *not implemented* for its area (score 0), never as a crash.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AdamHyper, Config, Params, TrainResult, check_params

from . import model, sample
from . import train as training
from .engine import Value
from .tokenizer import CharTokenizer


def leaves(xs: Sequence[float]) -> list[Value]:
    """Plain numbers -> fresh `Value` leaves."""
    return [Value(float(x)) for x in xs]


def leaf_matrix(rows: Sequence[Sequence[float]]) -> list[list[Value]]:
    return [leaves(row) for row in rows]


def floats(vector: Sequence[Value]) -> list[float]:
    """`Value`s -> their data as plain floats."""
    return [float(v.data) for v in vector]


class StudentBackend(contract.Backend):
    """Your microgpt: one `Value` per number, float64, like the reference."""

    name = "student"
    version = "0.1"
    precision = "float64"

    # ----------------------------------------------------------------- tokenizer
    def build_tokenizer(self, docs: Sequence[str]) -> CharTokenizer:
        return CharTokenizer(docs)

    # ----------------------------------------------------------------- ops / autograd
    def value(self, data: float) -> Value:
        return Value(data)

    # ----------------------------------------------------------------- layers
    def linear(self, x: Sequence[float], w: contract.Matrix) -> list[float]:
        return floats(model.linear(leaves(x), leaf_matrix(w)))

    def softmax(self, logits: Sequence[float]) -> list[float]:
        return floats(model.softmax(leaves(logits)))

    def rmsnorm(self, x: Sequence[float]) -> list[float]:
        return floats(model.rmsnorm(leaves(x)))

    def attention(
        self,
        q: Sequence[float],
        keys: Sequence[Sequence[float]],
        values: Sequence[Sequence[float]],
        n_head: int,
    ) -> list[float]:
        return floats(model.attention(leaves(q), leaf_matrix(keys), leaf_matrix(values), n_head))

    def mlp(self, x: Sequence[float], fc1: contract.Matrix, fc2: contract.Matrix) -> list[float]:
        return floats(model.mlp(leaves(x), leaf_matrix(fc1), leaf_matrix(fc2)))

    def gpt(
        self,
        params: Params,
        config: Config,
        token: int,
        pos: int,
        keys: list[list[Any]],
        values: list[list[Any]],
    ) -> list[float]:
        # The cache holds this backend's own key/value vectors (lists of Values).
        check_params(params, config)
        weights = training.to_weights(params)
        return floats(model.gpt(weights, config, token, pos, keys, values))

    # ----------------------------------------------------------------- loss
    def cross_entropy(
        self, logits: Sequence[Sequence[float]], targets: Sequence[int]
    ) -> tuple[float, list[list[float]]]:
        if len(logits) != len(targets) or not targets:
            raise ValueError(
                f"cross_entropy: need one target per row of logits (and at least one), "
                f"got {len(logits)} rows and {len(targets)} targets"
            )
        rows = leaf_matrix(logits)
        loss = model.mean([model.token_loss(row, target) for row, target in zip(rows, targets)])
        loss.backward()
        return float(loss.data), [[float(z.grad) for z in row] for row in rows]

    def loss_and_grads(
        self, params: Params, config: Config, tokens: Sequence[int]
    ) -> tuple[float, Params]:
        check_params(params, config)
        weights = training.to_weights(params)
        loss = model.sequence_loss(weights, config, tokens)
        loss.backward()
        return float(loss.data), training.to_params(weights, "grad")

    # ----------------------------------------------------------------- adam
    def adam(self, params: Sequence[Value], hyper: AdamHyper) -> training.Adam:
        return training.Adam(params, hyper)

    # ----------------------------------------------------------------- sampling
    def sample_next(self, logits: Sequence[float], temperature: float, rng: random.Random) -> int:
        return sample.sample_next(leaves(logits), temperature, rng)

    def generate(
        self, params: Params, config: Config, temperature: float, rng: random.Random
    ) -> list[int]:
        check_params(params, config)
        return sample.generate(training.to_weights(params), config, temperature, rng)

    # ----------------------------------------------------------------- training
    def init_params(self, config: Config, rng: random.Random) -> Params:
        return training.init_params(config, rng)

    def train(
        self,
        params: Params,
        config: Config,
        sequences: Sequence[Sequence[int]],
        num_steps: int,
        *,
        hyper: AdamHyper = AdamHyper(),
        start_step: int = 0,
        stop_step: int | None = None,
        m: Params | None = None,
        v: Params | None = None,
        batch_size: int = 1,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainResult:
        check_params(params, config)
        return training.train(
            params,
            config,
            sequences,
            num_steps,
            hyper=hyper,
            start_step=start_step,
            stop_step=stop_step,
            m=m,
            v=v,
            batch_size=batch_size,
            on_step=on_step,
        )
