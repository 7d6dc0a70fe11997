"""A scalar autograd engine: one `Value` per number, gradients by the chain rule.

YOU WRITE: the operations (spec area `ops`), then `backward` (spec area `autograd`).

The idea. Every arithmetic operation on `Value`s makes a new `Value` that remembers

* `data`: the result, a plain Python number;
* `_children`: the `Value`s it was computed from;
* `_local_grads`: d(result)/d(child) for each child, worked out right away, in the forward
  pass, while the inputs are at hand.

`backward()` later walks this graph from the output back to the inputs and applies the
chain rule: for a node `n` made from child `c`,

    dL/dc += dn/dc * dL/dn          (dn/dc is n's local gradient towards c)

Only six operations are *primitive* (they own a derivative rule): `+`, `*`, `** k` (k a
plain number), `log`, `exp` and `relu`. Everything else (`-a`, `a - b`, `a / b` and the
"reflected" forms such as `2 - a`) is written in terms of those six, in the order the
docstrings give: that order decides which nodes exist and in which order floats are added,
which is what makes your numbers agree with the reference to the last bit.

The ops area checks each operation's value and, through `backward()`, its derivatives:
until you write `backward` (the autograd area, next) the derivative tests of ops say
"not implemented: autograd: ...". That is expected; they pass once backward works.

Check your work one area at a time:

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=ops
    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=autograd
"""

from __future__ import annotations

# Imported for you: your code uses them (math.log, math.exp ...).
import math
from typing import Union

Number = Union[int, float]


class Value:
    """One scalar in the computation graph: `data`, `grad` (dL/d self, starts at 0),
    and how it was made (children and the local gradient towards each).

    A leaf (a number you typed, a weight) has no children: `Value(3.0)`. An operation
    passes its inputs and local gradients: `Value(5.0, (a, b), (1, 1))` is "5.0, made from
    a and b; d/da = 1, d/db = 1".
    """

    # __slots__: no per-instance __dict__; a training step makes ~100k Values, so this
    # saves memory and makes attribute access faster.
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data: Number, children: tuple[Value, ...] = (),
                 local_grads: tuple[Number, ...] = ()) -> None:
        """Store the four fields: `data`, `grad` (0: nothing differentiated yet),
        `_children` and `_local_grads`.

        Example: Value(3.0) has data 3.0, grad 0, no children, no local gradients.
        """
        raise NotImplementedError(
            "ops: Value.__init__: store data, grad = 0, _children and _local_grads"
        )

    # ----------------------------------------------------------------- primitive ops
    def __add__(self, other: Value | Number) -> Value:
        """c = a + b, with local gradients dc/da = 1 and dc/db = 1.

        `other` may be a plain number (`a + 1`): wrap it as a leaf, `Value(other)`, first,
        so that both inputs are Values with a `.data`.

        Example: a = Value(2.0), b = Value(3.0); c = a + b gives
        c.data == 5.0, c._children == (a, b), c._local_grads == (1, 1).
        """
        raise NotImplementedError(
            "ops: Value.__add__: c = a + b, a new Value with children (a, b) and local "
            "gradients (1, 1); wrap a plain number as Value(other) first"
        )

    def __mul__(self, other: Value | Number) -> Value:
        """c = a * b, with local gradients dc/da = b and dc/db = a.

        Each factor's derivative is the *other* factor (their values, `.data`, as plain
        numbers). Wrap a plain number as `Value(other)` first, as in `__add__`.

        Example: a = Value(2.0), b = Value(3.0); c = a * b gives
        c.data == 6.0, c._children == (a, b), c._local_grads == (3.0, 2.0).
        """
        raise NotImplementedError(
            "ops: Value.__mul__: c = a * b, children (a, b), local gradients (b.data, a.data)"
        )

    def __pow__(self, exponent: Number) -> Value:
        """c = a ** k for a plain number k, with local gradient dc/da = k * a ** (k - 1).

        Only plain-number exponents: raise TypeError if `exponent` is a Value.

        Example: a = Value(3.0); c = a ** 2 gives c.data == 9.0 and
        c._local_grads == (6.0,)  (2 * 3.0 ** 1). With k = -1: Value(4.0) ** -1 has data
        0.25 and local gradient -1 * 4.0 ** -2 = -0.0625.
        """
        raise NotImplementedError(
            "ops: Value.__pow__: c = a ** k (k a plain number), one child a, local gradient "
            "k * a ** (k - 1)"
        )

    def log(self) -> Value:
        """c = ln(a) (natural logarithm), with local gradient dc/da = 1 / a.

        Use `math.log` on the plain number `self.data`.

        Example: Value(math.e).log() has data 1.0 and local gradient 1 / e = 0.3679...
        """
        raise NotImplementedError("ops: Value.log: c = ln(a), one child a, local gradient 1 / a")

    def exp(self) -> Value:
        """c = e ** a, with local gradient dc/da = e ** a: exp is its own derivative.

        Compute `math.exp(self.data)` once and use it twice (value and local gradient).

        Example: Value(0.0).exp() has data 1.0 and local gradient 1.0.
        """
        raise NotImplementedError("ops: Value.exp: c = e ** a, one child a, local gradient e ** a")

    def relu(self) -> Value:
        """c = max(0, a), with local gradient 1 if a > 0 else 0.

        At exactly a = 0 the derivative is 0 (the test is `a > 0`, false at 0): that is the
        reference's choice, and the spec checks it. Return data 0.0 (a float) when a <= 0.

        Example: Value(2.5).relu() has data 2.5, local gradient 1.0;
        Value(-1.0).relu() has data 0.0, local gradient 0.0.
        """
        raise NotImplementedError(
            "ops: Value.relu: c = max(0, a), local gradient 1.0 if a > 0 else 0.0 (0 at a == 0)"
        )

    # ----------------------------------------------------------------- derived ops
    # Each is one line in terms of the primitives above. No new derivative rules: the
    # chain rule through the primitives gives the right gradients by itself.

    def __neg__(self) -> Value:
        """-a, built as a * -1.

        Example: -Value(2.0) has data -2.0; its gradient flows through a `*` node.
        """
        raise NotImplementedError("ops: Value.__neg__: -a = a * -1")

    def __radd__(self, other: Number) -> Value:
        """b + a where b is a plain number (Python calls this for `1 + a`): the same as a + b.

        This is also what makes `sum(values)` work: `sum` starts from the int 0, and
        `0 + a` lands here.

        Example: 1 + Value(2.0) has data 3.0 (Python first tries int.__add__, which gives
        up on a Value, then calls Value(2.0).__radd__(1)).
        """
        raise NotImplementedError("ops: Value.__radd__: b + a (b a plain number) = a + b")

    def __rmul__(self, other: Number) -> Value:
        """b * a where b is a plain number (`2 * a`): the same as a * b.

        Example: 2 * Value(3.0) has data 6.0 and, through `*`, local gradients (2, 3.0)
        towards Value(3.0) and the constant leaf 2.
        """
        raise NotImplementedError("ops: Value.__rmul__: b * a (b a plain number) = a * b")

    def __sub__(self, other: Value | Number) -> Value:
        """a - b, built as a + (-b).

        Example: Value(5.0) - 2 has data 3.0.
        """
        raise NotImplementedError("ops: Value.__sub__: a - b = a + (-b)")

    def __rsub__(self, other: Number) -> Value:
        """b - a where b is a plain number (`1 - a`), built as b + (-a).

        Example: 1 - Value(3.0) has data -2.0, not 2.0: mind the order.
        """
        raise NotImplementedError("ops: Value.__rsub__: b - a (b a plain number) = b + (-a)")

    def __truediv__(self, other: Value | Number) -> Value:
        """a / b, built as a * b ** -1.

        Example: Value(6.0) / Value(3.0) has data 2.0; d/da = 1/b = 0.333...,
        d/db = -a/b**2 = -0.666... (the chain rule through `**` and `*` gives both).
        """
        raise NotImplementedError("ops: Value.__truediv__: a / b = a * b ** -1")

    def __rtruediv__(self, other: Number) -> Value:
        """b / a where b is a plain number (`1 / a`), built as b * a ** -1.

        Example: 1 / Value(4.0) has data 0.25; its gradient towards the Value is -1/16.
        """
        raise NotImplementedError("ops: Value.__rtruediv__: b / a (b a plain number) = b * a ** -1")

    # ----------------------------------------------------------------- backward pass
    def backward(self) -> None:
        """Fill `grad` of every node this one depends on with d(self)/d(node).

        1. order = topological_order(self): every node after all of its children.
        2. self.grad = 1  (d self / d self).
        3. Walk the order *backwards* (from self down to the leaves). For each node and each
           (child, local_grad) pair of it: child.grad += local_grad * node.grad.

        Going backwards guarantees a node has received all of its gradient before it passes
        it on. Use `+=`: a node used twice (x in x * x) gets both contributions.

        Example: a = Value(2.0); b = Value(3.0); c = a * b; d = c + a; d.backward()
        gives d.grad = 1, c.grad = 1, a.grad = 3 + 1 = 4 (through c and directly), b.grad = 2.
        """
        raise NotImplementedError(
            "autograd: Value.backward: topological order, self.grad = 1, then in reverse order "
            "child.grad += local_grad * node.grad for every child of every node"
        )

    # ----------------------------------------------------------------- conveniences
    def __float__(self) -> float:
        return float(self.data)

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"


def topological_order(root: Value) -> list[Value]:
    """All nodes `root` depends on (itself included), each once, every node after all of
    its children.

    The simple way is a depth-first search: visit(node) = if not seen yet, mark it seen,
    visit each child (left to right), then append the node. The order that gives is the
    reference's, and it fixes the order in which gradients are added up.

    The catch: a recursive `visit` fails with RecursionError on deep graphs (a training
    step is ~280 levels deep; the spec also tries 6000). Either raise the recursion limit
    around it or, better, do the same search with an explicit stack of
    (node, iterator over its children) pairs.

    Example: for d = (a * b) + a the order is [a, b, a*b, d]: a comes once, before a*b.
    """
    raise NotImplementedError(
        "autograd: topological_order: every node the root depends on, once each, each after "
        "all of its children (a depth-first search; mind the recursion limit on deep graphs)"
    )
