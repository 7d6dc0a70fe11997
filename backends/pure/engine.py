"""A scalar autograd engine: one `Value` per number, gradients by the chain rule.

Every arithmetic operation on `Value`s builds a new `Value` that remembers

* `data`: the result of the operation (a plain Python number),
* its children: the `Value`s it was computed from,
* its local gradients: d(result)/d(child) for each child, worked out right away, in the
  forward pass, while the inputs are at hand.

`backward()` then walks this graph from the output back to the inputs and applies the
chain rule: for a node `n` with child `c`,

    dL/dc += dn/dc * dL/dn

Only six operations are *primitive* (they own a derivative rule): `+`, `*`, `** k` (k a
plain number), `log`, `exp` and `relu`. Everything else (`-a`, `a - b`, `a / b` and the
reflected forms such as `2 - a`) is composed from them exactly as the reference does,
because the composition decides which nodes exist and in which order floats are combined,
and this engine aims to reproduce the reference bit for bit.
"""

from __future__ import annotations

import math
from typing import Union

Number = Union[int, float]


class Value:
    """One scalar in the computation graph: `data`, `grad` (dL/d self, starts at 0),
    and how it was made (children and the local gradient towards each)."""

    # __slots__: no per-instance __dict__; a training step makes ~100k Values, so this
    # saves memory and makes attribute access faster.
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data: Number, children: tuple[Value, ...] = (),
                 local_grads: tuple[Number, ...] = ()) -> None:
        self.data = data
        self.grad: Number = 0
        self._children = children
        self._local_grads = local_grads

    # ----------------------------------------------------------------- primitive ops
    def __add__(self, other: Value | Number) -> Value:
        """c = a + b;   dc/da = 1,  dc/db = 1."""
        if not isinstance(other, Value):
            other = Value(other)  # a plain number becomes a constant leaf
        return Value(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other: Value | Number) -> Value:
        """c = a * b;   dc/da = b,  dc/db = a."""
        if not isinstance(other, Value):
            other = Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, exponent: Number) -> Value:
        """c = a ** k  (k a plain number);   dc/da = k * a ** (k - 1)."""
        if isinstance(exponent, Value):
            raise TypeError("Value ** exponent: the exponent must be a plain int or float")
        a = self.data
        return Value(a**exponent, (self,), (exponent * a ** (exponent - 1),))

    def log(self) -> Value:
        """c = ln a;   dc/da = 1 / a."""
        a = self.data
        return Value(math.log(a), (self,), (1 / a,))

    def exp(self) -> Value:
        """c = e ** a;   dc/da = e ** a  (the result itself)."""
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def relu(self) -> Value:
        """c = max(0, a);   dc/da = 1 if a > 0 else 0  (0 at exactly a = 0)."""
        a = self.data
        positive = a > 0
        return Value(a if positive else 0.0, (self,), (1.0 if positive else 0.0,))

    # ----------------------------------------------------------------- derived ops
    # Each is written in terms of the primitives above, in the reference's order.

    def __neg__(self) -> Value:
        """-a = a * -1."""
        return self * -1

    def __radd__(self, other: Number) -> Value:
        """b + a (b a plain number) = a + b."""
        return self + other

    def __rmul__(self, other: Number) -> Value:
        """b * a (b a plain number) = a * b."""
        return self * other

    def __sub__(self, other: Value | Number) -> Value:
        """a - b = a + (-b)."""
        return self + (-other)

    def __rsub__(self, other: Number) -> Value:
        """b - a (b a plain number) = b + (-a)."""
        return other + (-self)

    def __truediv__(self, other: Value | Number) -> Value:
        """a / b = a * b ** -1."""
        return self * other**-1

    def __rtruediv__(self, other: Number) -> Value:
        """b / a (b a plain number) = b * a ** -1."""
        return other * self**-1

    # ----------------------------------------------------------------- backward pass
    def backward(self) -> None:
        """Fill `grad` of every node this one depends on with d(self)/d(node).

        Visit nodes in reverse topological order (every node before its children), so
        that when a node passes gradient down, it has already received all of its own.
        Gradients accumulate with `+=`: a node used twice gets both contributions.
        """
        order = topological_order(self)
        self.grad = 1
        for node in reversed(order):
            node_grad = node.grad
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node_grad

    # ----------------------------------------------------------------- conveniences
    def __float__(self) -> float:
        return float(self.data)

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"


def topological_order(root: Value) -> list[Value]:
    """All nodes `root` depends on (itself included), each once, every node after all of
    its children.

    This is the order a recursive depth-first search produces (visit the children left to
    right, then append the node), computed with an explicit stack instead of recursion, so
    that graphs deeper than Python's recursion limit work. Keeping *exactly* the recursive
    order matters: it fixes the order in which gradients are summed.
    """
    order: list[Value] = []
    visited = {root}
    # Each stack entry: a node and an iterator over the children not yet looked at.
    stack = [(root, iter(root._children))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child in visited:
                continue
            visited.add(child)
            if child._children:
                stack.append((child, iter(child._children)))
                break  # descend first; come back to the remaining children later
            order.append(child)  # a leaf: nothing below it, it goes straight in
        else:  # every child is done: the node itself is next
            stack.pop()
            order.append(node)
    return order
