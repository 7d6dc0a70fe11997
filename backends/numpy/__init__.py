"""The NumPy backend: the whole contract in float64 arrays, fast enough to train in seconds.

Where the time goes in the pure backend is one Python object per number. Here:

* training runs every position of a batch of sequences at once, with a causal mask in
  place of the growing key/value cache (`model.py`), and its backward is derived by hand,
  layer by layer, so no graph is built at all;
* all weights live in one flat buffer (`params.py`), so Adam is a dozen array calls per
  step for the whole model (`adam.py`);
* sampling and `gpt` run one position at a time with a key/value cache (`layers.py`,
  `sampling.py`);
* the ops and autograd areas get `Tensor` (`tensor.py`), a small elementwise autograd
  on arrays: micrograd's `Value` with arrays inside;
* `train` asks glibc to keep freed memory between steps (`memory.py`), which halves the
  time of a large-batch step.

Results are the reference's to rounding: the same order of operations where it is cheap
to keep, float64 throughout. Lists of floats in the contract come back as NumPy arrays,
except `Params` (nested lists, as the contract's type says).
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

import numpy as np

from microgpt_spec.spec.contract import AdamHyper, Backend as ContractBackend
from microgpt_spec.spec.contract import Config, Params, TrainResult

from . import layers, sampling, train as training
from .adam import NodeAdam
from .model import sequence_cross_entropy
from .tensor import Tensor
from .tokenizer import CharTokenizer

__all__ = ["Backend", "Tensor"]


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
