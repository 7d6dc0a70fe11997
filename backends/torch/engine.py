"""`Scalar`: the contract's node, a 0-d torch tensor that records its history.

The reference builds its own graph of `Value`s and walks it backwards. Torch already
does both: every operation on a tensor that `requires_grad` records a `grad_fn`, and
`torch.autograd.backward` applies the chain rule through them. So a node here is a thin
handle on one 0-d tensor, and each operator is the torch operator:

    a + b   -> torch.add        a * b  -> torch.mul       a ** k -> torch.pow (k a number)
    a - b   -> torch.sub        a / b  -> torch.div       -a     -> torch.neg
    log a   -> torch.log        exp a  -> torch.exp       relu a -> torch.relu

Three details make torch's tensors behave like the spec's nodes:

* torch keeps `.grad` only on leaves; the spec reads the gradient of every node, so each
  node made by an operation asks for it with `retain_grad()`;
* torch frees a graph after one backward pass; the spec may call `backward()` again (the
  gradients then add up, as in the reference), so the graph is kept (`retain_graph=True`);
* torch leaves `.grad` as `None` until a gradient arrives; the spec expects 0 for a fresh
  node and for a leaf the output does not depend on, so `None` reads as 0.
"""

from __future__ import annotations

from typing import Union

import torch

Number = Union[int, float]


class Scalar:
    """One differentiable number: `data` and `grad` read as Python floats, `grad` starts
    at 0 and may be assigned (the optimizer does)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor) -> None:
        if tensor.requires_grad and not tensor.is_leaf:
            tensor.retain_grad()  # an intermediate node: keep its gradient for the reader
        self.tensor = tensor

    @classmethod
    def leaf(cls, data: Number, dtype: torch.dtype, device: torch.device) -> "Scalar":
        """A new leaf holding `data`, grad 0."""
        return cls(torch.tensor(float(data), dtype=dtype, device=device, requires_grad=True))

    # ----------------------------------------------------------------- reading and writing
    @property
    def data(self) -> float:
        return self.tensor.item()

    @data.setter
    def data(self, value: Number) -> None:
        with torch.no_grad():  # an assignment, not an operation to differentiate
            self.tensor.fill_(float(value))

    @property
    def grad(self) -> float:
        grad = self.tensor.grad
        return 0.0 if grad is None else grad.item()

    @grad.setter
    def grad(self, value: Number) -> None:
        self.tensor.grad = torch.full_like(self.tensor, float(value)).detach()

    def __float__(self) -> float:
        return self.data

    def __repr__(self) -> str:
        return f"Scalar(data={self.data!r}, grad={self.grad!r}, dtype={self.tensor.dtype})"

    # ----------------------------------------------------------------- operators
    def _other(self, other: "Scalar | Number") -> torch.Tensor:
        """The tensor of the other operand: a node's own, or a constant for a plain number."""
        if isinstance(other, Scalar):
            return other.tensor
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            try:
                other = float(other)  # NumPy scalars and the like
            except (TypeError, ValueError):
                raise TypeError(f"a Scalar combines with a Scalar or a number, not {type(other).__name__}") from None
        return torch.tensor(float(other), dtype=self.tensor.dtype, device=self.tensor.device)

    def __add__(self, other: "Scalar | Number") -> "Scalar":
        return Scalar(torch.add(self.tensor, self._other(other)))

    def __radd__(self, other: Number) -> "Scalar":
        return Scalar(torch.add(self._other(other), self.tensor))

    def __mul__(self, other: "Scalar | Number") -> "Scalar":
        return Scalar(torch.mul(self.tensor, self._other(other)))

    def __rmul__(self, other: Number) -> "Scalar":
        return Scalar(torch.mul(self._other(other), self.tensor))

    def __sub__(self, other: "Scalar | Number") -> "Scalar":
        return Scalar(torch.sub(self.tensor, self._other(other)))

    def __rsub__(self, other: Number) -> "Scalar":
        return Scalar(torch.sub(self._other(other), self.tensor))

    def __truediv__(self, other: "Scalar | Number") -> "Scalar":
        return Scalar(torch.div(self.tensor, self._other(other)))

    def __rtruediv__(self, other: Number) -> "Scalar":
        return Scalar(torch.div(self._other(other), self.tensor))

    def __neg__(self) -> "Scalar":
        return Scalar(torch.neg(self.tensor))

    def __pow__(self, exponent: Number) -> "Scalar":
        """a ** k with k a plain number; d/da = k * a ** (k - 1) (torch's rule for pow)."""
        if isinstance(exponent, Scalar) or isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
            raise TypeError(f"Scalar ** takes a plain int or float exponent, not {type(exponent).__name__}")
        return Scalar(torch.pow(self.tensor, exponent))

    def log(self) -> "Scalar":
        return Scalar(torch.log(self.tensor))

    def exp(self) -> "Scalar":
        return Scalar(torch.exp(self.tensor))

    def relu(self) -> "Scalar":
        """max(0, a); torch's derivative is 1 where a > 0 and 0 elsewhere (0 at exactly 0)."""
        return Scalar(torch.relu(self.tensor))

    # ----------------------------------------------------------------- autograd
    def backward(self) -> None:
        """Fill `.grad` of every node this one depends on with d(self)/d(node).

        torch seeds the root with 1 and adds `local gradient * upstream gradient` into
        every input, in reverse topological order: the reference's algorithm, run by
        torch's autograd engine (in C++, without recursion, so deep graphs are fine).
        """
        torch.autograd.backward(self.tensor, retain_graph=True)
