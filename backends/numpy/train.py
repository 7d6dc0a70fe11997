"""The training loop: batches of sequences, the model's exact gradient, one Adam step each."""

from __future__ import annotations

from typing import Callable, Sequence

from threadpoolctl import threadpool_limits

from microgpt_spec.spec.contract import AdamHyper, Config, Params, TrainResult

from .adam import FlatAdam
from .memory import keep_freed_memory
from .model import Model, make_batch
from .params import FlatParams, flatten


def batch_for_step(sequences: Sequence[Sequence[int]], step: int, batch_size: int) -> list[Sequence[int]]:
    """Step s trains on sequences s*B .. s*B+B-1, wrapping around the list."""
    count = len(sequences)
    return [sequences[(step * batch_size + j) % count] for j in range(batch_size)]


def train(
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
    """Steps start_step .. stop_step - 1 of a num_steps schedule (see `Backend.train`).

    `params`, `m` and `v` are copied into flat buffers, so the caller's are untouched.
    """
    if not sequences:
        raise ValueError("train needs at least one sequence")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    stop_step = num_steps if stop_step is None else stop_step
    keep_freed_memory()  # a step's temporaries are then reused, not page-faulted in again
    flat = FlatParams.from_params(params, config)
    optimizer = FlatAdam(
        flat,
        hyper,
        None if m is None else flatten(m, config),
        None if v is None else flatten(v, config),
    )
    model = Model(flat)
    losses = []
    # These matrices are tiny: handing them to several BLAS threads costs far more in
    # synchronisation than it saves (measured: 10x slower for a 4-layer, 64-dim model on 2
    # cores). One thread, for the loop only; the caller's setting comes back afterwards.
    with threadpool_limits(limits=1, user_api="blas"):
        for step in range(start_step, stop_step):
            batch = make_batch(batch_for_step(sequences, step, batch_size), config.block_size)
            loss = model.loss_and_grad(batch)
            optimizer.step(step, num_steps)
            losses.append(loss)
            if on_step is not None:
                on_step(step, loss)
    return TrainResult(
        params=flat.to_params(),
        m=flat.to_params(optimizer.m),
        v=flat.to_params(optimizer.v),
        losses=losses,
        next_step=stop_step,
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


__all__ = ["train", "loss_and_grads", "init_params", "batch_for_step"]
