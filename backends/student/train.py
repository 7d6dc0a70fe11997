"""Training: weight init, Adam, one step, and the loop.

YOU WRITE: Adam (spec area `adam`), then `init_params`, `train_step` and `train` (spec area
`training`, the last one: it uses everything else).

The parameters live as `Value` leaves for the whole run; each step builds a fresh graph on
top of them, runs `backward()`, and lets Adam move every leaf's `data` and reset its grad.
The plumbing around that is written for you and imported from the shared module
`microgpt_spec.backends.scalar`: `to_weights(params, Value)` (plain numbers -> fresh
`Value` leaves), `to_params(weights)` (back to plain floats; `field="grad"` for the
gradients), `flatten`/`unflatten` (all matrices as one list in the reference order, and
back), `batch_for_step(sequences, step, batch_size)` (the documents step s trains on:
sequences[s % len(sequences)] when batch_size is 1) and `cyclic_gc_paused()`.

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=adam
    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=training
"""

from __future__ import annotations

# Imported for you: your code uses them.
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


# --------------------------------------------------------------------- Adam
class Adam:
    """Adam over a list of `Value`s; `m[i]`, `v[i]` are the moments of `params[i]`."""

    def __init__(
        self,
        params: Sequence[Value],
        hyper: AdamHyper = AdamHyper(),
        m: Sequence[float] | None = None,
        v: Sequence[float] | None = None,
    ) -> None:
        """Keep the parameters (as a list) and the settings, and the two moment lists:

            self.params = list(params);  self.hyper = hyper
            self.m = one 0.0 per parameter, or the floats of `m` if given
            self.v = the same for `v`
        (`m` and `v` let `train` continue a stopped run; raise ValueError if their lengths
        do not match the parameters.)

        Example: Adam([Value(1.0), Value(2.0)]) has m == [0.0, 0.0] and v == [0.0, 0.0].
        """
        raise NotImplementedError(
            "adam: Adam.__init__: keep list(params) and hyper; m and v start as one 0.0 per "
            "parameter (or the given lists)"
        )

    def step(self, step: int, num_steps: int) -> None:
        """Update every parameter once, then zero its grad. At 0-based step s of num_steps,
        for each parameter p (a Value) with gradient g = p.grad, and its m[i], v[i]:

            lr_t  = lr * (1 - s / num_steps)          the learning rate decays linearly to 0
            m     = beta1 * m + (1 - beta1) * g       running mean of g
            v     = beta2 * v + (1 - beta2) * g**2    running mean of g**2
            m_hat = m / (1 - beta1 ** (s + 1))        bias correction (s + 1: step s is the
            v_hat = v / (1 - beta2 ** (s + 1))          (s+1)-th update; m, v start at 0)
            p.data -= lr_t * m_hat / (v_hat ** 0.5 + eps)
            p.grad = 0

        (lr, beta1, beta2, eps come from self.hyper.) Work on `p.data` (plain numbers): the
        update is not part of any graph.

        Example, the very first step (s = 0): m_hat = g and v_hat = g**2 exactly, so p moves
        by lr * g / (|g| + eps): about 0.01 against the sign of its gradient, whatever the
        gradient's size. p = 1.0 with g = 5.0 becomes 0.99.
        """
        raise NotImplementedError(
            "adam: Adam.step: lr_t = lr*(1 - s/num_steps); m, v running means of g and g**2; "
            "bias-corrected with 1 - beta**(s+1); p.data -= lr_t*m_hat/(sqrt(v_hat)+eps); grad = 0"
        )


# --------------------------------------------------------------------- one step
def batch_loss(weights: Weights, config: Config, batch: Sequence[Sequence[int]]) -> Value:
    """The loss of one document (microgpt), or the mean of the documents' losses.
    Written for you (it uses your `sequence_loss` and `mean`)."""
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
    """Steps start_step .. stop_step-1 (stop_step None: num_steps) of a num_steps schedule.

        weights = to_weights(params, Value)           Value leaves (params is not changed)
        optimizer = Adam(flatten(weights, config), hyper,
                         m=None if m is None else flatten(m, config), v=... the same)
        for step in range(start_step, stop_step):
            loss = train_step(weights, config, optimizer,
                              batch_for_step(sequences, step, batch_size), step, num_steps)
            keep the loss; call on_step(step, loss) if it is given
        return TrainResult(params=to_params(weights), m=unflatten(optimizer.m, config),
                           v=unflatten(optimizer.v, config), losses=the losses,
                           next_step=stop_step)

    Raise ValueError for no sequences or batch_size < 1. Passing `m` and `v` back in with
    start_step = the previous next_step continues a stopped run exactly.

    Example: train(params, config, seqs, 1000, stop_step=500) then
    train(r.params, config, seqs, 1000, start_step=500, m=r.m, v=r.v) gives the same
    weights as one run of 1000 steps.
    """
    raise NotImplementedError(
        "training: train: Value weights, an Adam over them, train_step for each step of the "
        "range, losses collected, a TrainResult at the end"
    )
