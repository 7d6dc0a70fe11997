"""The NumPy backend's contract methods: plain data in, the package's array code inside.

Lists of floats in the contract come back as NumPy arrays, except `Params` (nested lists,
as the contract's type says).
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

import numpy as np

from microgpt_spec.spec.contract import AdamHyper, Backend as ContractBackend
from microgpt_spec.spec.contract import Config, Moments, Params, Schedule, TrainResult

from . import layers, sampling, train as training
from .adam import NodeAdam
from .engine import Tensor
from .model import sequence_cross_entropy
from .tokenizer import CharTokenizer


class Backend(ContractBackend):
    """microgpt on NumPy (float64)."""

    name = "numpy"
    version = "1.0"
    precision = "float64"

    # ----------------------------------------------------------------- tokenizer
    def build_tokenizer(self, docs: Sequence[str]) -> CharTokenizer:
        return CharTokenizer.from_docs(docs)

    # ----------------------------------------------------------------- ops / autograd
    def value(self, data: float) -> Tensor:
        return Tensor(data)

    # ----------------------------------------------------------------- layers
    def linear(self, x: Sequence[float], w) -> np.ndarray:
        return layers.linear(x, w)

    def softmax(self, logits: Sequence[float]) -> np.ndarray:
        return layers.softmax(logits)

    def rmsnorm(self, x: Sequence[float]) -> np.ndarray:
        return layers.rmsnorm(x)

    def attention(self, q, keys, values, n_head: int) -> np.ndarray:
        return layers.attention(q, keys, values, n_head)

    def mlp(self, x: Sequence[float], fc1, fc2) -> np.ndarray:
        return layers.mlp(x, fc1, fc2)

    def gpt(
        self, params: Params, config: Config, token: int, pos: int, keys: list[list[Any]], values: list[list[Any]]
    ) -> np.ndarray:
        return layers.gpt_step(layers.as_arrays(params), config, token, pos, keys, values)

    # ----------------------------------------------------------------- loss
    def cross_entropy(self, logits, targets: Sequence[int]) -> tuple[float, np.ndarray]:
        return sequence_cross_entropy(logits, targets)

    def loss_and_grads(self, params: Params, config: Config, tokens: Sequence[int]) -> tuple[float, Params]:
        return training.loss_and_grads(params, config, tokens)

    # ----------------------------------------------------------------- adam
    def adam(self, params: Sequence[Tensor], hyper: AdamHyper) -> NodeAdam:
        return NodeAdam(params, hyper)

    # ----------------------------------------------------------------- sampling
    def sample_next(self, logits: Sequence[float], temperature: float, rng: random.Random) -> int:
        return sampling.sample_next(logits, temperature, rng)

    def generate(self, params: Params, config: Config, temperature: float, rng: random.Random) -> list[int]:
        return sampling.generate(layers.as_arrays(params), config, temperature, rng)

    # ----------------------------------------------------------------- training
    def init_params(self, config: Config, rng: random.Random) -> Params:
        return training.init_params(config, rng)

    def train(self, params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
              hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
              on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        return training.train(params, config, sequences, schedule, hyper=hyper, moments=moments, on_step=on_step)
