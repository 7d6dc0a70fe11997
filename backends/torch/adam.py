"""Adam: torch's own optimizer, stepped on the spec's schedule.

`torch.optim.Adam` computes, for each tensor p with gradient g, at its k-th step:

    m = beta1 * m + (1 - beta1) * g          v = beta2 * v + (1 - beta2) * g**2
    p -= lr * (m / (1 - beta1**k)) / (sqrt(v / (1 - beta2**k)) + eps)

which is the spec's rule with k = s + 1 at 0-based step s. Two things differ from the
spec's way of driving it, and `ScheduledAdam` bridges them:

* torch counts steps itself (`state["step"]`, +1 before each update); the spec names the
  step, and may start anywhere in a schedule (a resumed run, or a test that starts at
  step 50). So before each update the count is set to s: torch adds 1 and uses s + 1.
* torch's learning rate is a setting of the parameter group; the spec's decays linearly,
  lr_t = lr * (1 - s / num_steps), so it is set on the group before each update.

Also, torch skips a tensor whose `.grad` is None (not reached by the loss). The spec moves
every parameter every step (its momentum keeps it moving), so a missing gradient is
given as zeros first.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from microgpt_spec.spec.contract import AdamHyper


def learning_rate(hyper: AdamHyper, step: int, num_steps: int) -> float:
    """lr_t = lr * (1 - step / num_steps): linear decay to 0 over the schedule."""
    return hyper.lr * (1 - step / num_steps)


class ScheduledAdam:
    """Adam over `tensors` (leaves with requires_grad), moments starting at `m`, `v` (or 0).

    `m` and `v` read back, per tensor, as a float (0-d tensor) or nested lists.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], hyper: AdamHyper = AdamHyper(),
                 m: Sequence[torch.Tensor] | None = None, v: Sequence[torch.Tensor] | None = None) -> None:
        self.tensors = list(tensors)
        self.hyper = hyper
        self.optimizer = torch.optim.Adam(self.tensors, lr=hyper.lr, betas=(hyper.beta1, hyper.beta2), eps=hyper.eps)
        # Filled in now rather than lazily at the first step, so the moments can be read
        # (zeros) before any step and a stopped run can hand its moments back in.
        for i, tensor in enumerate(self.tensors):
            state = self.optimizer.state[tensor]
            state["step"] = torch.tensor(0.0, dtype=torch.float64)
            state["exp_avg"] = _moment(tensor, None if m is None else m[i])
            state["exp_avg_sq"] = _moment(tensor, None if v is None else v[i])

    def step(self, step: int, num_steps: int) -> None:
        """Update every tensor at 0-based `step` of `num_steps`, then clear its gradient."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.hyper, step, num_steps)
        for tensor in self.tensors:
            if tensor.grad is None:
                tensor.grad = torch.zeros_like(tensor)
            self.optimizer.state[tensor]["step"].fill_(step)  # torch adds 1: bias uses step + 1
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)  # a None gradient reads as 0

    # ----------------------------------------------------------------- reading the moments
    def moment_tensors(self, key: str) -> list[torch.Tensor]:
        """`exp_avg` (m) or `exp_avg_sq` (v) of every tensor, in order."""
        return [self.optimizer.state[tensor][key] for tensor in self.tensors]

    @property
    def m(self) -> list[Any]:
        return [_plain(t) for t in self.moment_tensors("exp_avg")]

    @property
    def v(self) -> list[Any]:
        return [_plain(t) for t in self.moment_tensors("exp_avg_sq")]


def _moment(like: torch.Tensor, start: Any) -> torch.Tensor:
    """A moment buffer shaped like `like`: zeros, or a copy of `start`."""
    if start is None:
        return torch.zeros_like(like, memory_format=torch.preserve_format).detach()
    return torch.as_tensor(start, dtype=like.dtype, device=like.device).clone().reshape(like.shape)


def _plain(tensor: torch.Tensor) -> Any:
    """A float for a 0-d tensor, nested lists of floats otherwise."""
    return tensor.item() if tensor.ndim == 0 else tensor.detach().cpu().tolist()
