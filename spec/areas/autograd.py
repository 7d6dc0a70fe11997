"""Spec area `autograd`: `root.backward()` fills every node's `.grad` with d root / d node.

The rules (reference semantics):
* after `root.backward()`, `root.grad == 1` (d root / d root) and every node the root
  depends on holds `grad = d root / d node`;
* d root / d x adds up, over EVERY path from the root down to x, the product of the local
  derivatives along that path. So a node used twice (`x * x`, or feeding two later nodes)
  collects both contributions: gradients accumulate with `+=`, never `=`;
* to pass on a correct gradient, a node must have received all of its own first: backward
  visits nodes in reverse topological order (a node only after every node that uses it);
* nodes the root does not depend on keep grad 0, and a backward on one graph leaves the
  nodes of another graph alone (one backward per graph, as in the reference);
* graphs are as large as a training step (~140k nodes, a few hundred levels deep).
  (Graphs deeper than Python's recursion limit are asked for only by the `robustness`
  area, which no verdict counts: the original program sorts recursively.)

The expected gradients come from `spec/expressions.py`: random expression DAGs with shared
sub-expressions, differentiated by FORWARD mode in plain Python (a different algorithm
from backward's reverse mode), and from closed forms for the large graphs.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from microgpt_spec.spec.assertions import expect, tol
from microgpt_spec.spec.expressions import (
    BOUND, Dag, Op, ancestors, dags, forward_mode, make_node)
from microgpt_spec.spec.profiles import examples

pytestmark = pytest.mark.autograd

#: "Start here" order for the report: the most specific rules first (tiny fixed graphs),
#: then the rest in the order below (random graphs, then big ones).
READ_FIRST = (
    "test_root_grad_is_one_after_backward",
    "test_node_used_twice_in_one_op_collects_both_contributions",
    "test_shared_node_passes_on_its_gradient_only_when_complete",
)

PATH_RULE = (
    "d(root)/d(x) adds up, over every path from the root down to x, the product of the local "
    "derivatives along the path. backward() sets root.grad = 1, then visits the nodes in "
    "reverse topological order (a node only after ALL the nodes that use it) and ADDS "
    "local_grad * node.grad into each child (+=, never =). Usual causes of a wrong grad on a "
    "shared node: '=' instead of '+=', or a visiting order that is not topological (e.g. a "
    "node listed before its children and the list not reversed)"
)


# --------------------------------------------------------------------------- helpers
def backward_or_explain(root: Any, *, what: str, call: str, repro: str, area: str = "autograd") -> None:
    """`root.backward()`, turning Python's RecursionError into a spec failure that says why."""
    __tracebackhide__ = True
    try:
        root.backward()
        return
    except RecursionError as error:
        # Report outside the except block, so the thousand-frame traceback is not chained on.
        problem = f"RecursionError: {error}"
    expect(False, f"{area}: backward() hit Python's recursion limit on {what}.", call=call,
           got=problem, expected="backward() to finish",
           rule="backward must work on graphs of any depth. A recursive topological sort "
                "uses one Python stack frame per level of the graph, and Python stops at "
                "about 1000 (sys.getrecursionlimit()); bigger models build deeper graphs. "
                "Sort with an explicit stack (a while loop over a list) instead of recursion",
           repro=repro)


def dag_repro(dag: Dag, printed: list[int]) -> str:
    names = dag.names()
    grads = ", ".join(f"float({names[i]}.grad)" for i in printed)
    return f"{dag.code()}\n{names[dag.root]}.backward()\nprint({grads})"


def grads_of(made: list[Any], positions: list[int]) -> list[float]:
    return [float(made[i].grad) for i in positions]


def check_grads(dag: Dag, made: list[Any], positions: list[int]) -> None:
    """Node i's grad must be d root / d node i, within tol('autograd') of the sum of the
    path terms' sizes (a correct backend may add the same terms in another order)."""
    __tracebackhide__ = True
    oracle = forward_mode(dag)
    t = tol("autograd")
    names = dag.names()
    got = grads_of(made, positions)
    for i, value in zip(positions, got):
        expected = oracle.grads[i]
        if abs(value - expected) <= t.abs + t.rel * oracle.scale[i]:
            continue
        root = names[dag.root]
        expect(False, f"autograd: after {root}.backward(), {names[i]}.grad is {value!r}, expected "
                      f"d{root}/d{names[i]} = {expected!r} (within {t}).",
               call=f"{root}.backward(); then read " + ", ".join(f"{names[j]}.grad" for j in positions),
               inputs={"graph": dag.code("; ")},
               got={names[j]: g for j, g in zip(positions, got)},
               expected={names[j]: oracle.grads[j] for j in positions},
               rule=PATH_RULE, repro=dag_repro(dag, positions))


def build_checked(backend, dag: Dag) -> list[Any]:
    """Make `dag` with the backend, node by node, checking each value as it is made.

    A wrong value is an ops mistake, not an autograd one: it is reported as such, before
    the wrong number can reach a log or a division and crash somewhere confusing.
    """
    __tracebackhide__ = True
    values = forward_mode(dag).values
    names = dag.names()
    t = tol("autograd")
    made: list[Any] = []
    for i, node in enumerate(dag.nodes):
        made.append(make_node(backend, node, made))
        if not isinstance(node, Op):
            continue
        got = float(made[i].data)
        if abs(got - values[i]) <= t.abs + t.rel * BOUND:
            continue
        shown = Dag(dag.nodes[: i + 1], i)
        expect(False, f"autograd: the graph's value {names[i]} is wrong ({got!r}, expected "
                      f"{values[i]!r}): an ops mistake; fix the ops area first.",
               call=f"{names[i]} = {shown.code().splitlines()[-1].split(' = ', 1)[1]}",
               inputs={"graph": shown.code("; ")}, got=got, expected=values[i],
               rule="autograd differentiates the values that the operations compute; those must "
                    "follow the ops rules (see the ops area's failures for the operation at fault)",
               repro=f"{shown.code()}\nprint(float({names[i]}.data))")
    return made


def build_and_backward(backend, dag: Dag) -> list[Any]:
    made = build_checked(backend, dag)
    made[dag.root].backward()
    return made


# --------------------------------------------------------------------------- random DAGs
@given(dag=dags())
@settings(max_examples=examples(100))
def test_every_leaf_gets_d_root_d_leaf(backend, dag):
    made = build_and_backward(backend, dag)
    check_grads(dag, made, dag.leaves())


@given(dag=dags())
@settings(max_examples=examples(40))
def test_every_intermediate_node_gets_d_root_d_node(backend, dag):
    made = build_and_backward(backend, dag)
    middle = [i for i, node in enumerate(dag.nodes) if isinstance(node, Op) and i != dag.root]
    check_grads(dag, made, middle)


@given(dag=dags(bystanders=False))
@settings(max_examples=examples(20))
def test_root_grad_is_one_after_backward(backend, dag):
    made = build_and_backward(backend, dag)
    root = dag.names()[dag.root]
    got = float(made[dag.root].grad)
    expect(abs(got - 1.0) <= tol("autograd").abs, f"autograd: after {root}.backward(), {root}.grad "
           f"should be 1.", call=f"{root}.backward(); {root}.grad", inputs={"graph": dag.code("; ")},
           got=got, expected=1.0,
           rule="backward() starts the chain rule by setting root.grad = d root/d root = 1; every "
                "other gradient is a multiple of it (without it all grads stay 0)",
           repro=dag_repro(dag, [dag.root]))


@given(dag=dags())
@settings(max_examples=examples(30))
def test_nodes_the_root_does_not_use_keep_grad_zero(backend, dag):
    made = build_and_backward(backend, dag)
    used = ancestors(dag)
    names = dag.names()
    unused = [i for i in names if i not in used]
    got = {names[i]: float(made[i].grad) for i in unused}
    root = names[dag.root]
    expect(all(g == 0.0 for g in got.values()),
           f"autograd: {root}.backward() changed the grad of nodes {root} does not depend on.",
           call=f"{root}.backward()", inputs={"graph": dag.code("; ")}, got=got,
           expected={name: 0.0 for name in got},
           rule=f"only the nodes reachable from the root through its children are part of its "
                f"graph; the others (here {', '.join(got)}) are not, and keep grad 0",
           repro=dag_repro(dag, unused))


@given(first=dags(max_ops=6), second=dags(max_ops=6))
@settings(max_examples=examples(20))
def test_backward_on_one_graph_leaves_another_graph_alone(backend, first, second):
    made_first = build_and_backward(backend, first)
    positions = list(first.names())
    before = grads_of(made_first, positions)
    made_second = build_and_backward(backend, second)
    after = grads_of(made_first, positions)
    names = first.names()
    root1, root2 = names[first.root], second.names()[second.root]
    grads = ", ".join(f"float({names[i]}.grad)" for i in positions)
    second_body = "\n".join("    " + line for line in second.code().splitlines())
    expect(after == before, "autograd: backward() on a second graph changed the grads of the first.",
           call=f"graph 1: {root1}.backward(); then graph 2: {root2}.backward()",
           inputs={"graph 1": first.code("; "), "graph 2": second.code("; ")},
           got={names[i]: g for i, g in zip(positions, after)},
           expected={names[i]: g for i, g in zip(positions, before)},
           rule="backward() works on the graph below its root only: the nodes of an unrelated graph "
                "keep their grads (so no global list of every node ever made, and no zeroing of it)",
           repro=f"{first.code()}\n{root1}.backward()\nprint({grads})\n\n"
                 f"def second_graph():\n{second_body}\n    {root2}.backward()\n\n"
                 f"second_graph()\nprint({grads})")
    check_grads(second, made_second, second.leaves())


# --------------------------------------------------------------------------- fixed shapes
TWICE = [
    ("x * x", lambda x: x * x, lambda x: 2 * x, "d/dx (x * x) = x + x = 2x: one term per use"),
    ("x + x", lambda x: x + x, lambda x: 2.0, "d/dx (x + x) = 1 + 1 = 2"),
    ("x - x", lambda x: x - x, lambda x: 0.0, "d/dx (x - x) = 1 - 1 = 0"),
    ("x / x", lambda x: x / x, lambda x: 0.0, "d/dx (x / x) = 1/x - x/x**2 = 0"),
    ("x * x * x", lambda x: x * x * x, lambda x: 3 * x**2,
     "d/dx (x * x * x) = 3x**2: x is used three times (twice in x * x, once more in (x * x) * x)"),
]


@pytest.mark.parametrize("code, apply, derivative, rule", TWICE, ids=[case[0] for case in TWICE])
def test_node_used_twice_in_one_op_collects_both_contributions(backend, code, apply, derivative, rule):
    x_value = 1.5
    x = backend.value(x_value)
    out = apply(x)
    out.backward()
    got, expected = float(x.grad), derivative(x_value)
    t = tol("autograd")
    expect(abs(got - expected) <= t.abs + t.rel * abs(expected),
           f"autograd: x.grad after ({code}).backward() is {got!r}, expected {expected!r}.",
           call=f"x = backend.value({x_value}); y = {code}; y.backward(); x.grad", got=got,
           expected=expected,
           rule=f"{rule}. The node x gets one contribution per use, and backward must ADD them "
                "(x.grad += ...), not overwrite (x.grad = ...)",
           repro=f"x = backend.value({x_value})\ny = {code}\ny.backward()\nprint(float(x.grad))")


@pytest.mark.parametrize("root_code", ["c + d", "d + c"])
def test_shared_node_passes_on_its_gradient_only_when_complete(backend, root_code):
    """c is used by e directly (a short path) and through d = c * 3 (a longer one).

    A depth-first order that lists a node BEFORE its children (e, c, a, b, d) and is
    processed in that order lets c pass its gradient on to a and b while it holds only the
    short path's 1, before d adds its 3. (Both operand orders: such a search may take the
    children left to right or right to left.)
    """
    a, b = backend.value(1.5), backend.value(-2.0)
    c = a * b
    d = c * 3
    e = c + d if root_code == "c + d" else d + c
    e.backward()
    got = {"c": float(c.grad), "a": float(a.grad), "b": float(b.grad)}
    expected = {"c": 4.0, "a": 4.0 * -2.0, "b": 4.0 * 1.5}
    t = tol("autograd")
    code = f"a = backend.value(1.5); b = backend.value(-2.0); c = a * b; d = c * 3; e = {root_code}"
    expect(all(abs(got[k] - expected[k]) <= t.abs + t.rel * abs(expected[k]) for k in got),
           "autograd: a node shared by a short and a long path passed on an incomplete gradient.",
           call=f"{code}; e.backward()", got=got, expected=expected,
           rule="de/dc = 1 (e adds c) + 3 (through d = c * 3) = 4, so a.grad = 4 * b and b.grad "
                "= 4 * a. c may pass its gradient on only after every node that uses c (e AND d) "
                "has added to it: visit nodes in REVERSE topological order (children after ALL "
                "their parents), e.g. reverse a post-order depth-first list",
           repro=code.replace("; ", "\n") + "\ne.backward()\nprint(float(c.grad), float(a.grad), float(b.grad))")


# --------------------------------------------------------------------------- big graphs
WIDE_OUT, WIDE_IN = 192, 240  # 192 x 240 weights: ~139k nodes, ~430 levels deep


def grid_leaves(backend, rng: random.Random, count: int) -> list[Any]:
    """`count` leaves with values k/64, k in -64..64. Every product of two of them is a
    multiple of 1/4096 below 1, and every sum below stays under 2**24 / 4096: all exact,
    even in float32, so any order of summation gives exactly the same gradient."""
    return [backend.value(rng.randint(-64, 64) / 64) for _ in range(count)]


def wide_graph(backend, seed: int = 0):
    """total = sum_j v[j] * (sum_i w[j][i] * x[i]), summed one term at a time.

    The shape of a training step: a fan-in of 240 products per row (each x[i] feeds all
    192 rows, so its gradient collects 192 contributions), 192 rows, ~139k nodes and
    ~430 levels (the running sums are chains). Gradients, in closed form:
        d total / d w[j][i] = v[j] * x[i]
        d total / d x[i]    = sum_j v[j] * w[j][i]
        d total / d v[j]    = sum_i w[j][i] * x[i]
    """
    rng = random.Random(seed)
    x = grid_leaves(backend, rng, WIDE_IN)
    v = grid_leaves(backend, rng, WIDE_OUT)
    w = [grid_leaves(backend, rng, WIDE_IN) for _ in range(WIDE_OUT)]
    total = 0
    for j in range(WIDE_OUT):
        row = 0
        for i in range(WIDE_IN):
            row = row + w[j][i] * x[i]
        total = total + row * v[j]
    return x, v, w, total


def test_backward_handles_a_graph_the_size_of_a_training_step(backend):
    x, v, w, total = wide_graph(backend)
    repro_head = ("from microgpt_spec.spec.areas.autograd import wide_graph\n"
                  "x, v, w, total = wide_graph(backend)\ntotal.backward()\n")
    backward_or_explain(total, what=f"a graph of ~139k nodes, ~{WIDE_IN + WIDE_OUT} levels deep",
                        call="total.backward()", repro=repro_head)
    xs, vs = np.array([float(n.data) for n in x]), np.array([float(n.data) for n in v])
    ws = np.array([[float(n.data) for n in row] for row in w])
    checks = [  # (name, got, expected, size of the terms summed)
        ("x[i].grad", [float(n.grad) for n in x], vs @ ws, np.abs(vs) @ np.abs(ws)),
        ("v[j].grad", [float(n.grad) for n in v], ws @ xs, np.abs(ws) @ np.abs(xs)),
        ("w[j][i].grad", [[float(n.grad) for n in row] for row in w], np.outer(vs, xs),
         np.abs(np.outer(vs, xs))),
    ]
    formulas = {"x[i].grad": "sum_j v[j] * w[j][i]", "v[j].grad": "sum_i w[j][i] * x[i]",
                "w[j][i].grad": "v[j] * x[i]"}
    t = tol("autograd")
    for name, got, expected, scale in checks:
        got = np.asarray(got, dtype=np.float64)
        wrong = ~(np.abs(got - expected) <= t.abs + t.rel * scale)
        if not wrong.any():
            continue
        where = tuple(int(k) for k in np.argwhere(wrong)[0])
        label = name.split("[")[0] + "".join(f"[{k}]" for k in where) + ".grad"
        expect(False, f"autograd: {int(wrong.sum())} of {wrong.size} values of {name} are wrong on "
                      f"a graph the size of a training step (first: {label}).",
               call="total.backward()", got={label: float(got[where])},
               expected={label: float(expected[where])},
               rule=f"total = sum_j v[j] * (sum_i w[j][i] * x[i]), so {name} = {formulas[name]}. "
                    + PATH_RULE,
               repro=repro_head + f"print(float({label}))")
