"""The glue every scalar-engine backend shares: the contract on top of a `Value` engine.

A *scalar* backend keeps one autograd node (`Value`) per number, like microgpt itself. Its
own modules hold everything that is microgpt:

    engine.py     `Value` (the operations and `backward`)
    model.py      linear, softmax, rmsnorm, attention, mlp, gpt; token_loss, mean, sequence_loss
    adam.py       `Adam`
    train.py      `init_params`, `train`
    sampling.py   `sample_next`, `generate`
    tokenizer.py  `CharTokenizer`

This module holds none of that. It has only the plumbing between the contract's plain
numbers and those modules:

* `ScalarBackend`, the contract's methods: wrap the numbers as `Value` leaves, call the
  backend's own function, hand plain floats back (`.data`, or `.grad` where a gradient is
  asked for). A backend names its modules as class attributes and inherits the rest.
* helpers the training loop uses to move between plain numbers and `Value`s
  (`to_weights`, `to_params`, `flatten`, `unflatten`) and to pause the cyclic garbage
  collector (`cyclic_gc_paused`). Which documents a step trains on is the contract's
  `batch_for_step`.

The pure backend and the student stub (and every learner's copy of it) are both thin
subclasses of `ScalarBackend`, so their glue cannot drift apart. This module is not a
reference backend: importing it gives a learner no microgpt code, and the grader does not
treat it as delegation.
"""

from __future__ import annotations

import gc
import random
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Callable, ClassVar, Iterator, Sequence

from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Params, Schedule, TrainResult
from microgpt_spec.spec.contract import batch_for_step, check_params, param_shapes

# `batch_for_step` stays importable from here for learners' copies made before it moved
# to the contract.
__all__ = ["ScalarBackend", "batch_for_step", "cyclic_gc_paused", "flatten", "floats", "to_params",
           "to_weights", "unflatten"]

#: Weights as `Value`s: reference name -> matrix of rows of nodes.
Weights = dict[str, list[list[Any]]]


# --------------------------------------------------------------------- plain numbers <-> Values
def floats(vector: Sequence[Any]) -> list[float]:
    """`Value`s -> their data as plain floats."""
    return [float(v.data) for v in vector]


def to_weights(params: Params, leaf: Callable[[float], Any]) -> Weights:
    """Plain numbers -> fresh leaves of the same shape, `leaf(w)` each (`leaf` is the
    engine's `Value` class)."""
    return {name: [[leaf(float(w)) for w in row] for row in rows] for name, rows in params.items()}


def to_params(weights: Weights, field: str = "data") -> Params:
    """`Value` matrices -> plain floats: their `data` (or `grad`, with field="grad")."""
    return {
        name: [[float(getattr(w, field)) for w in row] for row in rows]
        for name, rows in weights.items()
    }


def flatten(matrices: dict[str, list[list]], config: Config) -> list:
    """All entries in the reference order: matrix by matrix (`param_shapes`), row by row."""
    return [w for name in param_shapes(config) for row in matrices[name] for w in row]


def unflatten(flat: Sequence[float], config: Config) -> Params:
    """The inverse of `flatten`, for plain numbers."""
    params: Params = {}
    position = 0
    for name, (rows, cols) in param_shapes(config).items():
        params[name] = [
            [float(x) for x in flat[position + r * cols : position + (r + 1) * cols]]
            for r in range(rows)
        ]
        position += rows * cols
    return params


# --------------------------------------------------------------------- training plumbing
@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a graph is built and used.

    Speed only. A step allocates ~100k `Value`s, and each batch of allocations makes the
    collector scan every live node again: that alone more than doubles the time of the
    forward pass. The graph holds no reference cycles (children point only to inputs), so
    plain reference counting frees it all as soon as the step drops it; nothing is lost.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------- the adapter
class ScalarBackend(contract.Backend):
    """The contract's methods over a scalar engine's modules, named by the subclass.

    A subclass sets `engine`, `model`, `optimizer` (its adam.py), `training` (its
    train.py), `sampling` and `tokenizer` to its own modules. Every call looks the
    function up in them when it runs, so a function written (or patched) later is the one
    that is called.
    """

    engine: ClassVar[ModuleType]
    model: ClassVar[ModuleType]
    optimizer: ClassVar[ModuleType]
    training: ClassVar[ModuleType]
    sampling: ClassVar[ModuleType]
    tokenizer: ClassVar[ModuleType]

    # ----------------------------------------------------------------- plain numbers -> leaves
    def _leaves(self, xs: Sequence[float]) -> list[Any]:
        """Plain numbers -> fresh `Value` leaves of this backend's engine."""
        return [self.engine.Value(float(x)) for x in xs]

    def _leaf_matrix(self, rows: Sequence[Sequence[float]]) -> list[list[Any]]:
        return [self._leaves(row) for row in rows]

    def _weights(self, params: Params, config: Config) -> Weights:
        """Checked plain parameters -> `Value` leaves of this backend's engine."""
        check_params(params, config)
        return to_weights(params, self.engine.Value)

    # ----------------------------------------------------------------- tokenizer
    def build_tokenizer(self, docs: Sequence[str]) -> contract.Tokenizer:
        return self.tokenizer.CharTokenizer(docs)

    # ----------------------------------------------------------------- ops / autograd
    def value(self, data: float) -> contract.Node:
        return self.engine.Value(data)

    # ----------------------------------------------------------------- layers
    def linear(self, x: Sequence[float], w: contract.Matrix) -> list[float]:
        return floats(self.model.linear(self._leaves(x), self._leaf_matrix(w)))

    def softmax(self, logits: Sequence[float]) -> list[float]:
        return floats(self.model.softmax(self._leaves(logits)))

    def rmsnorm(self, x: Sequence[float]) -> list[float]:
        return floats(self.model.rmsnorm(self._leaves(x)))

    def attention(self, q: Sequence[float], keys: Sequence[Sequence[float]],
                  values: Sequence[Sequence[float]], n_head: int) -> list[float]:
        heads = self.model.attention(
            self._leaves(q), self._leaf_matrix(keys), self._leaf_matrix(values), n_head
        )
        return floats(heads)

    def mlp(self, x: Sequence[float], fc1: contract.Matrix, fc2: contract.Matrix) -> list[float]:
        return floats(self.model.mlp(self._leaves(x), self._leaf_matrix(fc1), self._leaf_matrix(fc2)))

    def gpt(self, params: Params, config: Config, token: int, pos: int, keys: list[list[Any]],
            values: list[list[Any]]) -> list[float]:
        # The cache holds this backend's own key/value vectors (lists of Values).
        weights = self._weights(params, config)
        return floats(self.model.gpt(weights, config, token, pos, keys, values))

    # ----------------------------------------------------------------- loss
    def cross_entropy(
        self, logits: Sequence[Sequence[float]], targets: Sequence[int]
    ) -> tuple[float, list[list[float]]]:
        if len(logits) != len(targets) or not targets:
            raise ValueError(
                f"cross_entropy: need one target per row of logits (and at least one), "
                f"got {len(logits)} rows and {len(targets)} targets"
            )
        rows = self._leaf_matrix(logits)
        loss = self.model.mean([self.model.token_loss(row, target) for row, target in zip(rows, targets)])
        loss.backward()
        return float(loss.data), [[float(z.grad) for z in row] for row in rows]

    def loss_and_grads(
        self, params: Params, config: Config, tokens: Sequence[int]
    ) -> tuple[float, Params]:
        weights = self._weights(params, config)
        loss = self.model.sequence_loss(weights, config, tokens)
        loss.backward()
        return float(loss.data), to_params(weights, "grad")

    # ----------------------------------------------------------------- adam
    def adam(self, params: Sequence[Any], hyper: AdamHyper) -> contract.Optimizer:
        return self.optimizer.Adam(params, hyper)

    # ----------------------------------------------------------------- sampling
    def sample_next(self, logits: Sequence[float], temperature: float, rng: random.Random) -> int:
        return self.sampling.sample_next(self._leaves(logits), temperature, rng)

    def generate(
        self, params: Params, config: Config, temperature: float, rng: random.Random
    ) -> list[int]:
        return self.sampling.generate(self._weights(params, config), config, temperature, rng)

    # ----------------------------------------------------------------- training
    def init_params(self, config: Config, rng: random.Random) -> Params:
        return self.training.init_params(config, rng)

    def train(self, params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
              hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
              on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        check_params(params, config)
        # Through `call_train`: a learner's train.py written for contract 1.0 still runs.
        return contract.call_train(self.training, params, config, sequences, schedule, hyper=hyper,
                                   moments=moments, on_step=on_step)
