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
// (-a, a - b, a / b and the reflected forms such as 2 - a) are built from them in the
// original's way, because that decides which nodes exist and in which order floats are
// added, and this engine reproduces the original bit for bit.
const pymath = require('./pymath');
const { pyError } = require('./protocol');

class Value {
  constructor(data, children = [], localGrads = []) {
    this.data = data;
    this.grad = 0;
    this.children = children;
    this.localGrads = localGrads;
  }

  // ------------------------------------------------------------ primitive ops
  /** c = a + b;  dc/da = 1, dc/db = 1. */
  add(other) {
    other = asValue(other); // a plain number becomes a constant leaf
    return new Value(this.data + other.data, [this, other], [1, 1]);
  }

  /** c = a * b;  dc/da = b, dc/db = a. */
  mul(other) {
    other = asValue(other);
    return new Value(this.data * other.data, [this, other], [other.data, this.data]);
  }

  /** c = a ** k (k a plain number);  dc/da = k * a ** (k - 1). */
  pow(exponent) {
    if (typeof exponent !== 'number') {
      throw pyError('TypeError', 'Value ** exponent: the exponent must be a plain int or float');
    }
    const a = this.data;
    return new Value(pymath.pow(a, exponent), [this], [exponent * pymath.pow(a, exponent - 1)]);
  }

  /** c = ln a;  dc/da = 1 / a. */
  log() {
    const a = this.data;
    return new Value(pymath.log(a), [this], [1 / a]);
  }

  /** c = e ** a;  dc/da = e ** a (the result itself). */
  exp() {
    const e = pymath.exp(this.data);
    return new Value(e, [this], [e]);
  }

  /** c = max(0, a);  dc/da = 1 if a > 0 else 0 (0 at exactly 0). */
  relu() {
    const positive = this.data > 0;
    return new Value(positive ? this.data : 0, [this], [positive ? 1 : 0]);
  }

  // ------------------------------------------------------------ derived ops
  /** -a = a * -1 */
  neg() { return this.mul(-1); }

  /** b + a (b a plain number) = a + b */
  radd(other) { return this.add(other); }

  /** b * a (b a plain number) = a * b */
  rmul(other) { return this.mul(other); }

  /** a - b = a + (-b) */
  sub(other) { return this.add(negate(other)); }

  /** b - a (b a plain number) = b + (-a), i.e. (-a).radd(b) */
  rsub(other) { return this.neg().radd(other); }

  /** a / b = a * b ** -1 */
  div(other) { return this.mul(power(other, -1)); }

  /** b / a (b a plain number) = b * a ** -1, i.e. (a ** -1).rmul(b) */
  rdiv(other) { return this.pow(-1).rmul(other); }

  // ------------------------------------------------------------ backward pass
  /**
   * Fill `grad` of every node this one depends on with d(this)/d(node). Visit nodes in
   * reverse topological order (every node before its children), so that a node passes
   * gradient down only once it has received all of its own. `+=`: a node used twice gets
   * both contributions.
   */
  backward() {
    const order = topologicalOrder(this);
    this.grad = 1;
    for (let i = order.length - 1; i >= 0; i -= 1) {
      const node = order[i];
      const { children, localGrads } = node;
      for (let j = 0; j < children.length; j += 1) {
        children[j].grad += localGrads[j] * node.grad;
      }
    }
  }

  // ------------------------------------------------------------ for the protocol
  toFloat() { return this.data; }

  repr() { return `Value(data=${pyRepr(this.data)}, grad=${pyRepr(this.grad)})`; }
}
// What the host may call on a Value (docs/protocol.md: class descriptions).
Value.pythonMethods = ['backward', 'exp', 'log', 'relu'];

function asValue(x) {
  return x instanceof Value ? x : new Value(x);
}

/** -x for a Value or a plain number. */
function negate(x) {
  return x instanceof Value ? x.neg() : -x;
}

/** x ** k for a Value or a plain number (Python's rules for plain numbers). */
function power(x, k) {
  return x instanceof Value ? x.pow(k) : pymath.pow(x, k);
}

/**
 * Every node `root` depends on (itself included), once each, every node after all of its
 * children: the order a recursive depth-first search gives (children left to right, then
 * the node), computed with an explicit stack so that graphs of any depth work. Keeping
 * exactly that order fixes the order in which gradients are summed.
 */
function topologicalOrder(root) {
  const order = [];
  const visited = new Set([root]);
  // Each entry: a node and the index of its next child to look at.
  const nodes = [root];
  const next = [0];
  while (nodes.length) {
    const top = nodes.length - 1;
    const node = nodes[top];
    const children = node.children;
    let descended = false;
    while (next[top] < children.length) {
      const child = children[next[top]];
      next[top] += 1;
      if (visited.has(child)) continue;
      visited.add(child);
      if (child.children.length) { // descend first; come back to the other children later
        nodes.push(child);
        next.push(0);
        descended = true;
        break;
      }
      order.push(child); // a leaf: nothing below it
    }
    if (!descended) { // every child is done: the node itself is next
      nodes.pop();
      next.pop();
      order.push(node);
    }
  }
  return order;
}

/** A number as Python's repr writes it (ints without ".0": the engine cannot tell them apart). */
function pyRepr(x) {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return String(x);
}

module.exports = { Value, topologicalOrder };
