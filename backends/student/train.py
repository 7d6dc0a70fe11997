"""Training: weight init, one step, and the loop.

YOU WRITE: `init_params`, `train_step` and `train` (spec area `training`, the last one:
it uses everything else, Adam from `adam.py` included).

The parameters live as `Value` leaves for the whole run; each step builds a fresh graph on
top of them, runs `backward()`, and lets Adam move every leaf's `data` and reset its grad.
The plumbing around that is written for you and imported from the shared module
`microgpt_spec.backends.scalar`: `to_weights(params, Value)` (plain numbers -> fresh
`Value` leaves), `to_params(weights)` (back to plain floats; `field="grad"` for the
gradients), `flatten`/`unflatten` (all matrices as one list in the reference order, and
back) and `cyclic_gc_paused()`. From the contract come `Schedule` (which steps of which
run to perform), `Moments` (Adam's m and v, to continue a stopped run) and
`batch_for_step(sequences, step, batch_size)` (the documents step s trains on:
sequences[s % len(sequences)] when batch_size is 1).

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=training
"""

from __future__ import annotations

# Imported for you: your code uses them.
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
    """Fresh weights: every weight drawn from `rng.gauss(0, INIT_STD)`.

    For each (name, (rows, cols)) of `param_shapes(config)`, in that order, a matrix of
    `rows` lists of `cols` draws, row by row. The order of the draws decides which random
    number lands in which weight, so keep exactly this order. Return plain floats:
    {name: [[float, ...], ...]}.

    Example: with the default config that is 4,192 draws: wte 27x16, wpe 16x16,
    lm_head 27x16, then the layer's four 16x16 attention matrices, mlp_fc1 64x16 and
    mlp_fc2 16x64. Two rngs in the same state give exactly the same weights.
    """
    raise NotImplementedError(
        "training: init_params: rng.gauss(0, 0.08) per weight, matrix by matrix in "
        "param_shapes order, row by row"
    )


# --------------------------------------------------------------------- one step
def batch_loss(weights: Weights, config: Config, batch: Sequence[Sequence[int]]) -> Value:
    """The loss of one document (microgpt), or the mean of the documents' losses.
    Written for you (it uses your `sequence_loss` and `mean`)."""
    losses = [sequence_loss(weights, config, tokens) for tokens in batch]
    return losses[0] if len(losses) == 1 else mean(losses)


def train_step(weights: Weights, config: Config, optimizer: Adam, batch: Sequence[Sequence[int]], step: int,
               num_steps: int) -> float:
    """Forward, backward, one Adam update. Returns the loss before the update (a float).

        loss = batch_loss(weights, config, batch)     forward: builds the graph
        loss.backward()                               every weight's grad
        optimizer.step(step, num_steps)               move the weights, zero the grads
        return loss.data

    (Doing it inside `with cyclic_gc_paused():` makes it about twice as fast.)

    Example: the first step of the default model on a name returns about 3.3, near
    ln(27) = 3.296: fresh weights guess every token about equally.
    """
    raise NotImplementedError(
        "training: train_step: batch_loss, backward(), optimizer.step(step, num_steps); "
        "return the loss's data"
    )


# --------------------------------------------------------------------- the loop
def train(params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
          hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """The schedule's steps: start_step .. stop - 1 of a run of num_steps steps.

        weights = to_weights(params, Value)           Value leaves (params is not changed)
        optimizer = Adam(flatten(weights, config), hyper,
                         m=None if moments is None else flatten(moments.m, config),
                         v=... the same with moments.v)
        for step in schedule.steps:                   range(start_step, stop)
            loss = train_step(weights, config, optimizer,
                              batch_for_step(sequences, step, schedule.batch_size),
                              step, schedule.num_steps)
            keep the loss; call on_step(step, loss) if it is given
        return TrainResult(params=to_params(weights), m=unflatten(optimizer.m, config),
                           v=unflatten(optimizer.v, config), losses=the losses,
                           next_step=schedule.stop)

    Raise ValueError for no sequences. Passing a result's `moments` back in with a
    schedule starting at its `next_step` continues a stopped run exactly.

    Example: r = train(params, config, seqs, Schedule(1000, stop_step=500)) then
    train(r.params, config, seqs, Schedule(1000, start_step=500), moments=r.moments)
    gives the same weights as one run of 1000 steps.
    """
    raise NotImplementedError(
        "training: train: Value weights, an Adam over them, train_step for each step of the "
        "schedule, losses collected, a TrainResult at the end"
    )
