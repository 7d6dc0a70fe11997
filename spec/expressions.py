"""Expression graphs for the autograd area: a tiny IR, random graphs, and an oracle.

An expression is a `Dag`: a list of nodes in the order they are made, each one of

    Leaf(value)               an input: `backend.value(value)`
    Const(value)              a plain Python number used as an operand (`c * 2.5`)
    Op(kind, args, exponent)  an operation on earlier nodes (args are their positions)

plus the position of the root. Because an Op may name the same earlier node twice, or a
node may feed several later Ops, the graph is a DAG with shared sub-expressions, not a
tree: exactly the case where `backward()` must add up gradients from several paths.

Three things work on a Dag:

* `dags()` - a hypothesis strategy that makes random, numerically safe graphs, biased to
  reuse recent nodes (so sharing is common) and shrinking to short chains;
* `build_on(backend, dag)` - makes the graph with the backend (`backend.value` for leaves,
  Python operators and `.log()/.exp()/.relu()` for ops) and returns the nodes;
* `forward_mode(dag)` - the oracle: plain-Python FORWARD-mode differentiation. Every node
  carries its value and a tangent vector `t` with `t[j] = d node / d node_j`; a node's
  tangent is its own unit vector plus its local derivatives times its operands' tangents.
  At the root, `t[j]` is d root / d node_j for every node j at once: the same number
  reverse mode (`backward()`) leaves in `node_j.grad`, reached by a different algorithm.

`Dag.code()` renders a graph as Python a learner can paste (`a = backend.value(0.5)` ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

from hypothesis import strategies as st

# --------------------------------------------------------------------------- the IR
BINARY_KINDS = ("add", "mul", "sub", "div")
UNARY_KINDS = ("neg", "pow", "exp", "log", "relu")
EXPONENTS = (2, 3, -1, -2, 0.5, -0.5, 1.5)


@dataclass(frozen=True)
class Leaf:
    value: float


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Op:
    kind: str
    args: tuple[int, ...]
    exponent: float | None = None  # only for kind "pow"


Node = Union[Leaf, Const, Op]


@dataclass(frozen=True)
class Dag:
    nodes: tuple[Node, ...]
    root: int

    def leaves(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if isinstance(node, Leaf)]

    def names(self) -> dict[int, str]:
        """A variable name for every node that is not a constant: a, b, ..., z, a1, b1 ..."""
        positions = [i for i, node in enumerate(self.nodes) if not isinstance(node, Const)]
        return {i: _variable(k) for k, i in enumerate(positions)}

    def code(self, separator: str = "\n") -> str:
        """The graph as Python: one assignment per node, in the order they are made."""
        names = self.names()
        lines = [f"{names[i]} = {self._expression(i, names)}" for i in names]
        return separator.join(lines)

    def _expression(self, i: int, names: dict[int, str]) -> str:
        node = self.nodes[i]
        if isinstance(node, Leaf):
            return f"backend.value({node.value!r})"
        operands = [names.get(j) or repr(self.nodes[j].value) for j in node.args]
        return TEMPLATES[node.kind].format(*operands, k=node.exponent)

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"Dag(root={self.names()[self.root]}: {self.code('; ')})"

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # hypothesis's printer asks for this
        printer.text(repr(self))


def _variable(k: int) -> str:
    letter = "abcdefghijklmnopqrstuvwxyz"[k % 26]
    return letter if k < 26 else f"{letter}{k // 26}"


TEMPLATES = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "neg": "-{0}", "pow": "{0} ** {k!r}", "exp": "{0}.exp()", "log": "{0}.log()", "relu": "{0}.relu()",
}


# --------------------------------------------------------------------------- the math
def local_rule(kind: str, operands: Sequence[float], exponent: float | None = None
               ) -> tuple[float, tuple[float, ...]]:
    """The value of one operation and its derivative towards each operand.

        x + y -> (1, 1)      x - y -> (1, -1)       x * y -> (y, x)
        x / y -> (1/y, -x/y**2)                     -x    -> (-1,)
        x ** k -> (k x**(k-1),)   exp x -> (exp x,)   log x -> (1/x,)
        relu x -> (1 if x > 0 else 0,)
    """
    x = operands[0]
    y = operands[1] if len(operands) > 1 else None
    if kind == "add":
        return x + y, (1.0, 1.0)
    if kind == "sub":
        return x - y, (1.0, -1.0)
    if kind == "mul":
        return x * y, (y, x)
    if kind == "div":
        return x / y, (1.0 / y, -x / y**2)
    if kind == "neg":
        return -x, (-1.0,)
    if kind == "pow":
        return x**exponent, (exponent * x ** (exponent - 1),)
    if kind == "exp":
        return math.exp(x), (math.exp(x),)
    if kind == "log":
        return math.log(x), (1.0 / x,)
    if kind == "relu":
        return max(0.0, x), (1.0 if x > 0 else 0.0,)
    raise ValueError(f"unknown operation {kind!r}")


@dataclass
class Derivatives:
    """What forward mode finds for a Dag.

    values[i]  the value of node i
    grads[i]   d root / d node i (0 for nodes the root does not depend on, and constants)
    scale[i]   the same sum over paths with every local derivative made positive: the
               size of the terms that were added, which bounds how far a correct
               backend's rounding (another order of summation) may move grads[i]
    """

    values: list[float]
    grads: list[float]
    scale: list[float]


def forward_mode(dag: Dag) -> Derivatives:
    """d root / d node for every node, by pushing tangent vectors forward (dual numbers).

    Node i's tangent t_i is a vector over all nodes: t_i = e_i + sum over operands j of
    (d node_i / d node_j) * t_j, with e_i the unit vector of node i (constants: 0).
    So t_i[j] adds up, over every path from node j up to node i, the product of the local
    derivatives along it: t_root[j] = d root / d node_j.
    """
    n = len(dag.nodes)
    values: list[float] = []
    tangents: list[list[float]] = []
    bounds: list[list[float]] = []
    for i, node in enumerate(dag.nodes):
        unit = [0.0] * n
        if isinstance(node, Const):
            values.append(float(node.value))
            tangents.append(unit)
            bounds.append(unit)
            continue
        unit[i] = 1.0
        if isinstance(node, Leaf):
            values.append(float(node.value))
            tangents.append(unit)
            bounds.append(list(unit))
            continue
        value, partials = local_rule(node.kind, [values[j] for j in node.args], node.exponent)
        values.append(value)
        tangents.append(_combine(unit, partials, [tangents[j] for j in node.args]))
        bounds.append(_combine(unit, [abs(p) for p in partials], [bounds[j] for j in node.args]))
    return Derivatives(values, tangents[dag.root], bounds[dag.root])


def _combine(seed: list[float], weights: Sequence[float], vectors: Sequence[list[float]]) -> list[float]:
    """seed + sum_k weights[k] * vectors[k], elementwise."""
    total = list(seed)
    for weight, vector in zip(weights, vectors):
        for j, component in enumerate(vector):
            total[j] += weight * component
    return total


def ancestors(dag: Dag) -> set[int]:
    """The nodes the root depends on (itself included)."""
    reached, stack = {dag.root}, [dag.root]
    while stack:
        node = dag.nodes[stack.pop()]
        for j in getattr(node, "args", ()):
            if j not in reached:
                reached.add(j)
                stack.append(j)
    return reached


# --------------------------------------------------------------------------- on a backend
PYTHON_OPS: dict[str, Callable[..., Any]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "neg": lambda x: -x,
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "relu": lambda x: x.relu(),
}


def build_on(backend, dag: Dag) -> list[Any]:
    """Make `dag` with the backend; element i is node i (a plain number for a Const)."""
    made: list[Any] = []
    for node in dag.nodes:
        made.append(make_node(backend, node, made))
    return made


def make_node(backend, node: Node, made: Sequence[Any]) -> Any:
    """One node of a Dag on the backend, given the ones `made` before it."""
    if isinstance(node, Leaf):
        return backend.value(node.value)
    if isinstance(node, Const):
        return node.value
    if node.kind == "pow":
        return made[node.args[0]] ** node.exponent
    return PYTHON_OPS[node.kind](*(made[j] for j in node.args))


# --------------------------------------------------------------------------- random graphs
#: Every value stays within [-BOUND, BOUND]; log, division, negative and fractional powers
#: and relu only see operands at least SAFE away from their trouble spot at 0. So every
#: value is well conditioned (rounding in one backend cannot flip a relu or blow up a 1/x),
#: and a correct float32 backend stays within its tolerance too.
BOUND = 10.0
SAFE = 0.5

#: Leaf values on a grid of 1/16: exact in float32 and short to read in a repro.
GRID = st.integers(-64, 64).map(lambda i: i / 16)
CONSTANTS = st.sampled_from([2, -1, 3, 0.5, -2.5, 1.5, -3])


def operand_ok(kind: str, operands: Sequence[float], exponent: float | None) -> bool:
    """Is the operation safe on these operand values (away from poles, kinks, overflow)?"""
    x = operands[0]
    if kind == "div" and abs(operands[1]) < SAFE:
        return False
    if kind == "log" and x < SAFE:
        return False
    if kind == "relu" and abs(x) < SAFE:  # not at the kink, where rounding could flip a side
        return False
    if kind == "pow" and not float(exponent).is_integer() and x < SAFE:
        return False
    if kind == "pow" and exponent < 0 and abs(x) < SAFE:
        return False
    if kind == "exp" and x > math.log(BOUND):
        return False
    value, _ = local_rule(kind, operands, exponent)
    return abs(value) <= BOUND


class _Growing:
    """A Dag under construction, with the value of every node so far."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.values: list[float] = []
        self.pickable: list[int] = []  # nodes an Op may use (not constants, not bystanders)

    def add(self, node: Node, value: float, pickable: bool = True) -> int:
        self.nodes.append(node)
        self.values.append(value)
        if pickable:
            self.pickable.append(len(self.nodes) - 1)
        return len(self.nodes) - 1


# The strategies are made once, here: making new ones on every draw costs more than the
# drawing, and the graphs are drawn thousands of times while hypothesis shrinks a failure.
#: How far back from the newest node an operand is: often 0 (a spine grows up to the
#: root), else mostly 0..2 (so recent nodes get reused: shared sub-expressions), else any.
STEPS_BACK = st.one_of(st.just(0), st.integers(0, 2), st.integers(0, 31))
SHAPES = st.sampled_from(["node op node", "unary", "node op number", "number op node"])
#: Which of the operations that are safe here: index into that list (modulo its length).
CHOICE = st.integers(0, 15)


def _pick(draw, graph: _Growing, label: str) -> int:
    """An earlier node, counted back from the newest; shrinks towards the newest."""
    back = draw(STEPS_BACK, label=label)
    return graph.pickable[-1 - back % len(graph.pickable)]


def _choose(draw, options: Sequence[Any], label: str) -> Any:
    return options[draw(CHOICE, label=label) % len(options)]


def _draw_op(draw, graph: _Growing) -> None:
    """Append one operation whose operands come from the graph (or one constant)."""
    x = _pick(draw, graph, "operand")
    shape = draw(SHAPES, label="shape")
    if shape != "unary":
        if shape == "node op node":
            other = _pick(draw, graph, "second operand")
        else:
            const = draw(CONSTANTS, label="constant")
            other = graph.add(Const(const), float(const), pickable=False)
        args = [x, other] if shape != "number op node" else [other, x]
        operands = [graph.values[j] for j in args]
        allowed = [kind for kind in BINARY_KINDS if operand_ok(kind, operands, None)]
        if allowed:
            kind = _choose(draw, allowed, "operation")
            graph.add(Op(kind, tuple(args)), local_rule(kind, operands)[0])
            return
    # A unary operation (also the fallback when no binary one is safe: -x always is).
    operand = [graph.values[x]]
    safe_exponents = [k for k in EXPONENTS if operand_ok("pow", operand, k)]
    allowed = [kind for kind in UNARY_KINDS
               if (safe_exponents if kind == "pow" else operand_ok(kind, operand, None))]
    kind = _choose(draw, allowed, "operation")
    k = _choose(draw, safe_exponents, "exponent") if kind == "pow" else None
    graph.add(Op(kind, (x,), k), local_rule(kind, operand, k)[0])


@st.composite
def dags(draw, max_leaves: int = 4, max_ops: int = 10, bystanders: bool = True) -> Dag:
    """A random expression DAG whose root (the last operation) may share sub-expressions.

    Leaves are drawn first, then 1..max_ops operations. With `bystanders`, one or two more
    leaves are made that no operation uses: backward() must leave their grad at 0.
    """
    graph = _Growing()
    for _ in range(draw(st.integers(1, max_leaves), label="number of leaves")):
        value = draw(GRID, label="leaf value")
        graph.add(Leaf(value), value)
    for _ in range(draw(st.integers(1, max_ops), label="number of operations")):
        _draw_op(draw, graph)
    root = len(graph.nodes) - 1
    for _ in range(draw(st.integers(1, 2), label="unused leaves") if bystanders else 0):
        value = draw(GRID, label="unused leaf value")
        graph.add(Leaf(value), value, pickable=False)
    return Dag(tuple(graph.nodes), root)
