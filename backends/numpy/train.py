"""The training loop: batches of sequences, the model's exact gradient, one Adam step each."""

from __future__ import annotations

from typing import Callable, Sequence

from threadpoolctl import threadpool_limits

from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Params, Schedule, TrainResult, batch_for_step

from .adam import FlatAdam
from .memory import keep_freed_memory
from .model import Model, make_batch
from .params import FlatParams, flatten


def train(params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
          hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """The schedule's steps, start_step .. stop - 1 of num_steps (see the contract's `train`).

    `params` and the moments are copied into flat buffers, so the caller's are untouched.
    """
    if not sequences:
        raise ValueError("train needs at least one sequence")
    keep_freed_memory()  # a step's temporaries are then reused, not page-faulted in again
    flat = FlatParams.from_params(params, config)
    optimizer = FlatAdam(
        flat,
        hyper,
        None if moments is None else flatten(moments.m, config),
        None if moments is None else flatten(moments.v, config),
    )
    model = Model(flat)
    losses = []
    # These matrices are tiny: handing them to several BLAS threads costs far more in
    # synchronisation than it saves (measured: 10x slower for a 4-layer, 64-dim model on 2
    # cores). One thread, for the loop only; the caller's setting comes back afterwards.
    with threadpool_limits(limits=1, user_api="blas"):
        for step in schedule.steps:
            batch = make_batch(batch_for_step(sequences, step, schedule.batch_size), config.block_size)
            loss = model.loss_and_grad(batch)
            optimizer.step(step, schedule.num_steps)
            losses.append(loss)
            if on_step is not None:
                on_step(step, loss)
    return TrainResult(
        params=flat.to_params(),
        m=flat.to_params(optimizer.m),
        v=flat.to_params(optimizer.v),
        losses=losses,
        next_step=schedule.stop,
    )


def loss_and_grads(params: Params, config: Config, tokens: Sequence[int]) -> tuple[float, Params]:
    """The loss of one sequence and the gradient of every parameter, as nested lists."""
    flat = FlatParams.from_params(params, config)
    loss = Model(flat).loss_and_grad(make_batch([tokens], config.block_size))
    return loss, flat.to_params(flat.grad)


def init_params(config: Config, rng) -> Params:
    """rng.gauss(0, 0.08) for every weight, matrix by matrix in `param_shapes` order,
    row by row: the reference's order of draws."""
    flat = FlatParams(config)
    flat.data[:] = [rng.gauss(0, 0.08) for _ in range(flat.size)]
    return flat.to_params()


__all__ = ["train", "loss_and_grads", "init_params"]
