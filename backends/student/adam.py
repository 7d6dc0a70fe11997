"""Adam: the optimizer that moves every weight after each step's backward pass.

YOU WRITE: `Adam.__init__` and `Adam.step` (spec area `adam`). `train.py` uses them.

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=adam
"""

from __future__ import annotations

# Imported for you: your code uses them.
from typing import Sequence

from microgpt_spec.spec.contract import AdamHyper

from .engine import Value


class Adam:
    """Adam over a list of `Value`s; `m[i]`, `v[i]` are the moments of `params[i]`."""

    def __init__(self, params: Sequence[Value], hyper: AdamHyper = AdamHyper(),
                 m: Sequence[float] | None = None, v: Sequence[float] | None = None) -> None:
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
