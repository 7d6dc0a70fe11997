"""A small array autograd: `Tensor`, the NumPy backend's node for the ops and autograd areas.

It is micrograd's scalar `Value` with every number replaced by a NumPy array. A node
holds `data` (an array; 0-d for a single number), `grad` (same shape, starts at 0), its
children and the local derivative with respect to each child, recorded in the forward
pass. All operations are elementwise, so the chain rule stays the scalar one, applied to
every element at once:

    child.grad += local_grad * node.grad        (elementwise product)

Primitive operations and their local derivatives (as in the reference engine):

    a + b      ->  1, 1
    a * b      ->  b, a
    a ** k     ->  k * a ** (k - 1)          (k a plain number)
    log(a)     ->  1 / a
    exp(a)     ->  exp(a)
    relu(a)    ->  1 where a > 0, else 0     (so 0 at exactly 0)

Everything else is built from those, exactly like the reference does it:
`-a = a * -1`, `a - b = a + (-b)`, `a / b = a * b ** -1`; a plain number on either side
is wrapped in a constant leaf.

The model itself does not run on this engine (its backward is derived by hand, layer by
layer, in `model.py`); `Tensor` exists so the spec can check the engine on its own.
"""

from __future__ import annotations

from typing import Iterator, Union

import numpy as np

Operand = Union["Tensor", int, float, np.ndarray]


class Tensor:
    """An array that remembers how it was computed, so `backward()` can differentiate it."""

    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children: tuple["Tensor", ...] = (), local_grads: tuple = ()):
        # Own a float64 copy: a leaf must never alias an array its caller still holds.
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros(self.data.shape)
        self._children = children
        self._local_grads = local_grads

    # ------------------------------------------------------------------ primitives
    def __add__(self, other: Operand) -> "Tensor":
        other = _as_tensor(other)
        return Tensor(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other: Operand) -> "Tensor":
        other = _as_tensor(other)
        return Tensor(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, exponent: float) -> "Tensor":
        if isinstance(exponent, Tensor) or not isinstance(exponent, (int, float, np.number)):
            raise TypeError(
                f"Tensor ** takes a plain number exponent, not {type(exponent).__name__}"
            )
        local = exponent * self.data ** (exponent - 1)
        return Tensor(self.data**exponent, (self,), (local,))

    def log(self) -> "Tensor":
        return Tensor(np.log(self.data), (self,), (1.0 / self.data,))

    def exp(self) -> "Tensor":
        out = np.exp(self.data)
        return Tensor(out, (self,), (out,))

    def relu(self) -> "Tensor":
        return Tensor(np.maximum(self.data, 0.0), (self,), ((self.data > 0).astype(np.float64),))

    # ------------------------------------------------------------------ derived
    def __neg__(self) -> "Tensor":
        return self * -1

    def __sub__(self, other: Operand) -> "Tensor":
        return self + (-_as_tensor(other))

    def __truediv__(self, other: Operand) -> "Tensor":
        return self * _as_tensor(other) ** -1

    def __radd__(self, other: Operand) -> "Tensor":
        return _as_tensor(other) + self

    def __rmul__(self, other: Operand) -> "Tensor":
        return _as_tensor(other) * self

    def __rsub__(self, other: Operand) -> "Tensor":
        return _as_tensor(other) + (-self)

    def __rtruediv__(self, other: Operand) -> "Tensor":
        return _as_tensor(other) * self**-1

    # ------------------------------------------------------------------ autograd
    def backward(self) -> None:
        """Fill `.grad` of every node this one depends on (d self / d node, summed over
        the elements of self, whose own gradient is set to 1).

        Nodes are visited in reverse topological order, so a node's gradient is complete
        before it is passed on; gradients accumulate with `+=`, so a node used twice gets
        both contributions.
        """
        self.grad = np.ones_like(self.data)
        for node in reversed(list(_topological_order(self))):
            for child, local in zip(node._children, node._local_grads):
                child.grad = child.grad + _unbroadcast(local * node.grad, child.data.shape)

    def __float__(self) -> float:
        return float(self.data)

    def __repr__(self) -> str:
        return f"Tensor(data={self.data!r}, grad={self.grad!r})"


def _as_tensor(x: Operand) -> Tensor:
    """`x` itself if it is a node, else a constant leaf holding it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`: an operand that NumPy broadcast was used once per copy."""
    grad = np.asarray(grad)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True).reshape(shape) if stretched else grad


def _topological_order(root: Tensor) -> Iterator[Tensor]:
    """Every node `root` depends on, each once, each after all of its children.

    Iterative depth-first search with an explicit stack, so a chain 100,000 nodes deep
    needs no recursion. A node is pushed once to open it and emitted when it comes back
    to the top of the stack with all its children done.
    """
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            yield node
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for child in node._children:
            if id(child) not in seen:
                stack.append((child, False))
