'use strict';
// A scalar autograd engine: one `Value` per number, gradients by the chain rule.
//
// Every operation on Values makes a new Value that remembers
//   data        the result (a plain number),
//   children    the Values it was computed from,
//   localGrads  d(result)/d(child) for each child, worked out now, in the forward pass.
//
// backward() walks the graph from the output back to the inputs and applies the chain
// rule: for a node n with a child c,   dL/dc += dn/dc * dL/dn.
//
// Six operations are primitive (they own a derivative): + * ** log exp relu. The others
// (-a, a - b, a / b and the reflected forms such as 2 - a) are built from them.
//
// The spec calls these methods by their Python names: a + b is a.add(b), 2 + a is
// a.radd(2), a - b is a.sub(b), 2 - a is a.rsub(2), a * b / 2 * a, a / b / 2 / a are
// mul / rmul / div / rdiv, a ** k is a.pow(k), -a is a.neg().
//
// Python raises where JavaScript returns Infinity or NaN (log(0), exp(1000), 0 ** -1); the
// spec expects Python's errors, so compute with pymath.log / exp / pow (written for you).
const pymath = require('./pymath'); // eslint-disable-line no-unused-vars
const { notImplemented } = require('./protocol');

class Value {
  /** Store data, grad = 0 (nothing differentiated yet), children and localGrads.
   *  A leaf (a number you typed, a weight) has no children: new Value(3). */
  constructor(data, children = [], localGrads = []) {
    throw notImplemented('ops: value(data): new Value(data) stores data, grad = 0, children and localGrads');
  }

  // ------------------------------------------------------------ primitive ops
  /** c = a + b;  dc/da = 1, dc/db = 1. `other` may be a plain number: make it a leaf. */
  add(other) { throw notImplemented('ops: Value.add: c = a + b, local gradients (1, 1)'); }

  /** c = a * b;  dc/da = b, dc/db = a. */
  mul(other) { throw notImplemented('ops: Value.mul: c = a * b, local gradients (b, a)'); }

  /** c = a ** k (k a plain number);  dc/da = k * a ** (k - 1). */
  pow(exponent) { throw notImplemented('ops: Value.pow: c = a ** k, local gradient k * a ** (k - 1)'); }

  /** c = ln a;  dc/da = 1 / a. */
  log() { throw notImplemented('ops: Value.log: c = ln(a), local gradient 1 / a'); }

  /** c = e ** a;  dc/da = e ** a (the result itself). */
  exp() { throw notImplemented('ops: Value.exp: c = e ** a, local gradient e ** a'); }

  /** c = max(0, a);  dc/da = 1 if a > 0 else 0 (0 at exactly 0). */
  relu() { throw notImplemented('ops: Value.relu: c = max(0, a), local gradient 1 if a > 0 else 0'); }

  // ------------------------------------------------------------ derived ops (from the primitives)
  /** -a = a * -1 */
  neg() { throw notImplemented('ops: Value.neg: -a = a * -1'); }

  /** b + a (b a plain number) = a + b */
  radd(other) { throw notImplemented('ops: Value.radd: b + a = a + b'); }

  /** b * a (b a plain number) = a * b */
  rmul(other) { throw notImplemented('ops: Value.rmul: b * a = a * b'); }

  /** a - b = a + (-b) */
  sub(other) { throw notImplemented('ops: Value.sub: a - b = a + (-b)'); }

  /** b - a (b a plain number) = b + (-a) */
  rsub(other) { throw notImplemented('ops: Value.rsub: b - a = b + (-a)'); }

  /** a / b = a * b ** -1 */
  div(other) { throw notImplemented('ops: Value.div: a / b = a * b ** -1'); }

  /** b / a (b a plain number) = b * a ** -1 */
  rdiv(other) { throw notImplemented('ops: Value.rdiv: b / a = b * a ** -1'); }

  // ------------------------------------------------------------ backward pass
  /** Fill grad of every node this one depends on: this.grad = 1, then, for each node of
   *  topologicalOrder(this) from last to first, child.grad += localGrad * node.grad. */
  backward() { throw notImplemented('autograd: Value.backward: grad = 1, then the chain rule in reverse topological order'); }

  // ------------------------------------------------------------ for the protocol (written for you)
  toFloat() { return this.data; }

  repr() { return `Value(data=${this.data}, grad=${this.grad})`; }
}
// What the host may call on a Value (docs/protocol.md: class descriptions).
Value.pythonMethods = ['backward', 'exp', 'log', 'relu'];

/** Every node `root` depends on (itself included), once each, every node after all of its
 *  children. Use an explicit stack, not recursion: the spec builds graphs thousands of
 *  levels deep. */
function topologicalOrder(root) {
  throw notImplemented('autograd: topologicalOrder(root): each node once, after all of its children');
}

module.exports = { Value, topologicalOrder };
