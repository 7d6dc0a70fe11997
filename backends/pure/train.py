"""Training: weight init, one step, and the loop.

The parameters live as `Value` leaves for the whole run; each step builds a fresh graph on
top of them, runs `backward()`, and lets Adam (`adam.py`) move every leaf's `data` and
reset its grad.

The plumbing around that (plain numbers <-> `Value`s, pausing the garbage collector) is
the same for every scalar engine and comes from `microgpt_spec.backends.scalar`; which
documents a step trains on is the contract's own rule, `batch_for_step`.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from microgpt_spec.backends.scalar import cyclic_gc_paused, flatten, to_params, to_weights, unflatten
from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Params, Schedule, TrainResult
from microgpt_spec.spec.contract import batch_for_step, param_shapes

from .adam import Adam
from .engine import Value
from .model import Weights, mean, sequence_loss

INIT_STD = 0.08


# --------------------------------------------------------------------- parameters
def init_params(config: Config, rng: random.Random) -> Params:
    """Every weight ~ N(0, 0.08^2), drawn matrix by matrix in `param_shapes` order, row by
    row (the draw order fixes which random number lands where)."""
    return {
        name: [[rng.gauss(0, INIT_STD) for _ in range(cols)] for _ in range(rows)]
        for name, (rows, cols) in param_shapes(config).items()
    }


# --------------------------------------------------------------------- one step
def batch_loss(weights: Weights, config: Config, batch: Sequence[Sequence[int]]) -> Value:
    """The loss of one document (the reference), or the mean of the documents' losses."""
    losses = [sequence_loss(weights, config, tokens) for tokens in batch]
    return losses[0] if len(losses) == 1 else mean(losses)


def train_step(weights: Weights, config: Config, optimizer: Adam, batch: Sequence[Sequence[int]], step: int,
               num_steps: int) -> float:
    """Forward, backward, one Adam update. Returns the loss before the update."""
    with cyclic_gc_paused():
        loss = batch_loss(weights, config, batch)
        loss.backward()
        optimizer.step(step, num_steps)
        return loss.data


# --------------------------------------------------------------------- the loop
def train(params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
          hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """The schedule's steps (start_step .. stop - 1 of num_steps), from `params` (not
    modified). `moments` (None: zeros) continue a stopped run exactly."""
    if not sequences:
        raise ValueError("train: no sequences to train on")
    weights = to_weights(params, Value)  # fresh leaves: `params` stays as it is
    optimizer = Adam(
        flatten(weights, config),
        hyper,
        m=None if moments is None else flatten(moments.m, config),
        v=None if moments is None else flatten(moments.v, config),
    )
    losses = []
    for step in schedule.steps:
        batch = batch_for_step(sequences, step, schedule.batch_size)
        loss = train_step(weights, config, optimizer, batch, step, schedule.num_steps)
        losses.append(loss)
        if on_step is not None:
            on_step(step, loss)
    return TrainResult(
        params=to_params(weights),
        m=unflatten(optimizer.m, config),
        v=unflatten(optimizer.v, config),
        losses=losses,
        next_step=schedule.stop,
    )
