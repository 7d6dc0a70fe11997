"""The pure backend's scalar engine: each op's value and derivative, and backward()."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgpt_spec.backends.pure.engine import Value, topological_order


def grad_of(build, *inputs: float) -> tuple[float, list[float]]:
    """Run build(*leaves), backward from its result; return (value, grads of the leaves)."""
    leaves = [Value(x) for x in inputs]
    out = build(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


# --------------------------------------------------------------------- primitives
def test_add():
    assert grad_of(lambda a, b: a + b, 2.0, -3.5) == (-1.5, [1, 1])


def test_mul():
    assert grad_of(lambda a, b: a * b, 2.0, -3.5) == (-7.0, [-3.5, 2.0])


def test_pow():
    # d/da a**3 = 3 a**2
    assert grad_of(lambda a: a**3, 2.0) == (8.0, [12.0])
    # d/da a**-0.5 = -0.5 a**-1.5
    value, [grad] = grad_of(lambda a: a**-0.5, 4.0)
    assert value == 0.5 and grad == -0.5 * 4.0**-1.5 == -0.0625


def test_pow_rejects_a_value_exponent():
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)


def test_log():
    value, [grad] = grad_of(lambda a: a.log(), 4.0)
    assert value == math.log(4.0) and grad == 0.25


def test_exp():
    value, [grad] = grad_of(lambda a: a.exp(), 1.5)
    assert value == grad == math.exp(1.5)


@pytest.mark.parametrize("x, value, grad", [(2.5, 2.5, 1.0), (-2.5, 0.0, 0.0), (0.0, 0.0, 0.0)])
def test_relu(x, value, grad):
    assert grad_of(lambda a: a.relu(), x) == (value, [grad])


def test_relu_derivative_at_zero_is_zero():
    _, [grad] = grad_of(lambda a: a.relu(), 0.0)
    assert grad == 0


# --------------------------------------------------------------------- derived ops
def test_neg():
    assert grad_of(lambda a: -a, 3.0) == (-3.0, [-1])


def test_sub_both_sides():
    assert grad_of(lambda a, b: a - b, 5.0, 2.0) == (3.0, [1, -1])
    assert grad_of(lambda a: 10 - a, 4.0) == (6.0, [-1])
    assert grad_of(lambda a: a - 10, 4.0) == (-6.0, [1])


def test_div_both_sides():
    # a / b = a * b**-1: d/da = 1/b, d/db = -a / b**2
    assert grad_of(lambda a, b: a / b, 3.0, 2.0) == (1.5, [0.5, -0.75])
    # 1 / a: d/da = -1 / a**2
    assert grad_of(lambda a: 1 / a, 4.0) == (0.25, [-0.0625])
    assert grad_of(lambda a: a / 4, 3.0) == (0.75, [0.25])


def test_reflected_add_and_mul_with_plain_numbers():
    assert grad_of(lambda a: 2 + a, 1.0) == (3.0, [1])
    assert grad_of(lambda a: 2 * a, 1.5) == (3.0, [2])


def test_derived_ops_are_built_from_primitives_in_reference_order():
    """a - b is a + (b * -1): the graph holds the product node, then the constant -1."""
    a, b = Value(5.0), Value(2.0)
    diff = a - b
    assert diff._children[0] is a
    negated = diff._children[1]
    assert negated._children[0] is b and negated._children[1].data == -1
    # b / a with b plain is (a ** -1) * b: the power node first, the constant second.
    quotient = 3 / a
    assert quotient._children[0]._children == (a,) and quotient._children[1].data == 3


def test_plain_numbers_become_constant_leaves():
    a = Value(2.0)
    out = a * 3
    constant = out._children[1]
    assert isinstance(constant, Value) and constant.data == 3 and constant._children == ()


# --------------------------------------------------------------------- backward
def test_grad_starts_at_zero_and_root_grad_is_one():
    a = Value(1.0)
    assert a.grad == 0
    out = a * 2
    out.backward()
    assert out.grad == 1


def test_shared_subexpression_accumulates():
    # y = a*b + a: dy/da = b + 1, dy/db = a
    assert grad_of(lambda a, b: a * b + a, 3.0, 4.0) == (15.0, [5.0, 3.0])
    # a node used twice downstream: c = a + a; y = c * c = 4 a^2, dy/da = 8a
    assert grad_of(lambda a: (lambda c: c * c)(a + a), 3.0) == (36.0, [24.0])


def test_x_times_x():
    assert grad_of(lambda x: x * x, -3.0) == (9.0, [-6.0])


def test_deep_chain_backward_needs_no_recursion():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def recursive_postorder(root: Value) -> list[Value]:
    """The textbook recursive topological sort, to compare the iterative one with."""
    order, visited = [], set()

    def visit(node: Value) -> None:
        if node not in visited:
            visited.add(node)
            for child in node._children:
                visit(child)
            order.append(node)

    visit(root)
    return order


def test_topological_order_small_graph():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    assert topological_order(d) == [a, b, c, d]


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.booleans()), min_size=1, max_size=40))
def test_topological_order_is_the_recursive_postorder(recipe):
    """On random graphs (each new node combines two earlier ones), the iterative order is
    exactly the recursive one, so gradients are summed in the reference's order."""
    nodes = [Value(1.0), Value(2.0), Value(3.0)]
    for i, j, use_mul in recipe:
        left, right = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(left * right if use_mul else left + right)
    assert topological_order(nodes[-1]) == recursive_postorder(nodes[-1])


def test_float_and_repr():
    v = Value(2.5)
    assert float(v) == 2.5
    assert "2.5" in repr(v)


@given(
    st.floats(-10, 10, allow_nan=False),
    st.floats(0.1, 10, allow_nan=False),
)
def test_chain_rule_matches_finite_differences(x, y):
    """f(x, y) = exp(x / y) * log(y) - relu(x) ** 2, checked against central differences."""

    def f(a, b):
        return (a / b).exp() * b.log() - a.relu() ** 2

    _, (gx, gy) = grad_of(f, x, y)
    h = 1e-6

    def numeric(dx: float, dy: float) -> float:
        return (f(Value(x + dx), Value(y + dy)).data - f(Value(x - dx), Value(y - dy)).data) / (2 * h)

    scale = 1 + abs(gx) + abs(gy)
    if abs(x) > 1e-3:  # relu is not differentiable at 0
        assert gx == pytest.approx(numeric(h, 0), abs=1e-4 * scale)
    assert gy == pytest.approx(numeric(0, h), abs=1e-4 * scale)
