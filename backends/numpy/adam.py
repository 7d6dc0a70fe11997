"""Adam with bias correction and linear learning-rate decay, on arrays.

At 0-based step s of num_steps, for every weight p with gradient g (AdamHyper's rule):

    lr_t  = lr * (1 - s / num_steps)
    m     = beta1 * m + (1 - beta1) * g
    v     = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1 ** (s + 1))
    v_hat = v / (1 - beta2 ** (s + 1))
    p    -= lr_t * m_hat / (sqrt(v_hat) + eps)
    g     = 0

`adam_update` applies it to whole arrays, in the reference's order of operations (so
each weight gets the bits the scalar loop would give it). `FlatAdam` runs it on the one
flat buffer of `FlatParams` (a dozen calls per step for every weight of the model);
`NodeAdam` runs it on a list of `Tensor` nodes for the contract's `adam(nodes, hyper)`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from microgpt_spec.spec.contract import AdamHyper

from .params import FlatParams
from .engine import Tensor


def learning_rate(hyper: AdamHyper, step: int, num_steps: int) -> float:
    """lr_t = lr * (1 - step / num_steps): linear decay to 0 at the end of the schedule."""
    return hyper.lr * (1 - step / num_steps)


def adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, hyper: AdamHyper, step: int,
                num_steps: int, buffers: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """One Adam step on float64 arrays, in place on p, m and v (g is only read).

    `buffers`: two scratch arrays shaped like p (made here if not given).
    """
    b1, b2 = hyper.beta1, hyper.beta2
    # Explicit out= buffers: they keep 0-d arrays arrays (a bare ufunc would hand back a
    # NumPy scalar) and spare allocations in the training loop.
    scratch, m_hat = buffers if buffers is not None else (np.empty_like(m), np.empty_like(m))
    np.multiply(g, 1 - b1, out=scratch)
    m *= b1
    m += scratch
    np.multiply(g, g, out=scratch)
    scratch *= 1 - b2
    v *= b2
    v += scratch
    np.divide(m, 1 - b1 ** (step + 1), out=m_hat)
    v_hat = np.divide(v, 1 - b2 ** (step + 1), out=scratch)
    denominator = np.sqrt(v_hat, out=v_hat)
    denominator += hyper.eps
    m_hat *= learning_rate(hyper, step, num_steps)
    m_hat /= denominator
    p -= m_hat


class FlatAdam:
    """Adam over every weight of a `FlatParams`, moments in two buffers of the same layout."""

    def __init__(self, params: FlatParams, hyper: AdamHyper, m: np.ndarray | None = None, v: np.ndarray | None = None):
        self.params = params
        self.hyper = hyper
        self.m = np.zeros(params.size) if m is None else np.array(m, dtype=np.float64)
        self.v = np.zeros(params.size) if v is None else np.array(v, dtype=np.float64)
        self.buffers = (np.empty(params.size), np.empty(params.size))

    def step(self, step: int, num_steps: int) -> None:
        """Update every weight from its gradient, then zero the gradients."""
        p = self.params
        adam_update(p.data, p.grad, self.m, self.v, self.hyper, step, num_steps, self.buffers)
        self.params.grad.fill(0.0)


class NodeAdam:
    """The contract's optimizer: Adam over a list of `Tensor` nodes (any shapes).

    `m[i]` and `v[i]` are arrays shaped like node i's data (0-d for a number).
    A node's `grad` may have been assigned a plain number; it is read as an array.
    """

    def __init__(self, nodes: Sequence[Tensor], hyper: AdamHyper):
        self.nodes = list(nodes)
        self.hyper = hyper
        self.m = [np.zeros_like(np.asarray(node.data, dtype=np.float64)) for node in self.nodes]
        self.v = [np.zeros_like(np.asarray(node.data, dtype=np.float64)) for node in self.nodes]

    def step(self, step: int, num_steps: int) -> None:
        for node, m, v in zip(self.nodes, self.m, self.v):
            data = np.array(node.data, dtype=np.float64)
            grad = np.broadcast_to(np.asarray(node.grad, dtype=np.float64), data.shape)
            adam_update(data, grad, m, v, self.hyper, step, num_steps)
            node.data = data
            node.grad = np.zeros_like(data)
