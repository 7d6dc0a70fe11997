"""Training: weight init, Adam, one step, and the loop.

The parameters live as `Value` leaves for the whole run; each step builds a fresh graph on
top of them, runs `backward()`, and lets Adam move every leaf's `data` and reset its grad.

The plumbing around that (plain numbers <-> `Value`s, which documents a step trains on,
pausing the garbage collector) is the same for every scalar engine and comes from
`microgpt_spec.backends.scalar`.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from microgpt_spec.backends.scalar import batch_for_step, cyclic_gc_paused, flatten
from microgpt_spec.backends.scalar import to_params, to_weights, unflatten
from microgpt_spec.spec.contract import AdamHyper, Config, Params, TrainResult, param_shapes

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


# --------------------------------------------------------------------- Adam
class Adam:
    """Adam over a list of `Value`s; `m[i]`, `v[i]` are the moments of `params[i]`.

    At 0-based step s of num_steps, for each parameter p with gradient g:
        lr_t  = lr * (1 - s / num_steps)          (linear decay to 0)
        m     = beta1 * m + (1 - beta1) * g       (running mean of g)
        v     = beta2 * v + (1 - beta2) * g**2    (running mean of g^2)
        m_hat = m / (1 - beta1 ** (s + 1))        (undo the bias towards the zero start)
        v_hat = v / (1 - beta2 ** (s + 1))
        p    -= lr_t * m_hat / (v_hat ** 0.5 + eps)
        g     = 0
    """

    def __init__(
        self,
        params: Sequence[Value],
        hyper: AdamHyper = AdamHyper(),
        m: Sequence[float] | None = None,
        v: Sequence[float] | None = None,
    ) -> None:
        self.params = list(params)
        self.hyper = hyper
        self.m = [0.0] * len(self.params) if m is None else [float(x) for x in m]
        self.v = [0.0] * len(self.params) if v is None else [float(x) for x in v]
        if len(self.m) != len(self.params) or len(self.v) != len(self.params):
            raise ValueError("Adam: m and v need one entry per parameter")

    def step(self, step: int, num_steps: int) -> None:
        """Update every parameter once (the rule in the class docstring), zero its grad."""
        lr, beta1, beta2, eps = self.hyper.lr, self.hyper.beta1, self.hyper.beta2, self.hyper.eps
        lr_t = lr * (1 - step / num_steps)
        # The same for every parameter: computed once (same floats as computing it inside).
        m_correction = 1 - beta1 ** (step + 1)
        v_correction = 1 - beta2 ** (step + 1)
        m, v = self.m, self.v
        for i, p in enumerate(self.params):
            g = p.grad
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g**2
            m_hat = m[i] / m_correction
            v_hat = v[i] / v_correction
            # `g**2` and `v_hat ** 0.5` as the reference writes them: libm's pow can differ
            # from g*g and math.sqrt in the last bit, and over 1000 steps that moves the
            # final loss in its 16th digit (2.6496944697407594 instead of ...585).
            p.data -= lr_t * m_hat / (v_hat**0.5 + eps)
            p.grad = 0


# --------------------------------------------------------------------- one step
def batch_loss(weights: Weights, config: Config, batch: Sequence[Sequence[int]]) -> Value:
    """The loss of one document (the reference), or the mean of the documents' losses."""
    losses = [sequence_loss(weights, config, tokens) for tokens in batch]
    return losses[0] if len(losses) == 1 else mean(losses)


def train_step(
    weights: Weights,
    config: Config,
    optimizer: Adam,
    batch: Sequence[Sequence[int]],
    step: int,
    num_steps: int,
) -> float:
    """Forward, backward, one Adam update. Returns the loss before the update."""
    with cyclic_gc_paused():
        loss = batch_loss(weights, config, batch)
        loss.backward()
        optimizer.step(step, num_steps)
        return loss.data


# --------------------------------------------------------------------- the loop
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
    """Steps start_step .. stop_step-1 of a num_steps-step schedule, from `params` (not
    modified). `m`/`v` (None: zeros) continue a stopped run exactly."""
    if not sequences:
        raise ValueError("train: no sequences to train on")
    if batch_size < 1:
        raise ValueError(f"train: batch_size must be at least 1, got {batch_size}")
    stop_step = num_steps if stop_step is None else stop_step
    weights = to_weights(params, Value)  # fresh leaves: `params` stays as it is
    optimizer = Adam(
        flatten(weights, config),
        hyper,
        m=None if m is None else flatten(m, config),
        v=None if v is None else flatten(v, config),
    )
    losses = []
    for step in range(start_step, stop_step):
        batch = batch_for_step(sequences, step, batch_size)
        loss = train_step(weights, config, optimizer, batch, step, num_steps)
        losses.append(loss)
        if on_step is not None:
            on_step(step, loss)
    return TrainResult(
        params=to_params(weights),
        m=unflatten(optimizer.m, config),
        v=unflatten(optimizer.v, config),
        losses=losses,
        next_step=stop_step,
    )
