"""Adam: the optimizer that moves every weight after each step's backward pass.

It works on the engine's `Value` leaves directly: it reads each one's `grad`, moves its
`data` and resets the grad, so the next step's graph starts from zero gradients.
"""

from __future__ import annotations

from typing import Sequence

from microgpt_spec.spec.contract import AdamHyper

from .engine import Value


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

    def __init__(self, params: Sequence[Value], hyper: AdamHyper = AdamHyper(),
                 m: Sequence[float] | None = None, v: Sequence[float] | None = None) -> None:
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
