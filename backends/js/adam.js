'use strict';
// Adam: the optimizer that moves every weight after each step's backward pass.
//
// It works on the engine's Value leaves directly: it reads each one's grad, moves its data
// and resets the grad, so the next step's graph starts from zero gradients.
const pymath = require('./pymath');
const { DataClass, pyError } = require('./protocol');

/** The reference's settings (the contract's AdamHyper defaults). */
const DEFAULT_HYPER = new DataClass('AdamHyper', { lr: 0.01, beta1: 0.85, beta2: 0.99, eps: 1e-8 });

/**
 * Adam over an array of Values; m[i], v[i] are the moments of params[i].
 * At 0-based step s of numSteps, for each parameter p with gradient g:
 *     lr_t  = lr * (1 - s / numSteps)          (linear decay to 0)
 *     m     = beta1 * m + (1 - beta1) * g       (running mean of g)
 *     v     = beta2 * v + (1 - beta2) * g**2    (running mean of g^2)
 *     m_hat = m / (1 - beta1 ** (s + 1))        (undo the bias towards the zero start)
 *     v_hat = v / (1 - beta2 ** (s + 1))
 *     p    -= lr_t * m_hat / (v_hat ** 0.5 + eps)
 *     g     = 0
 */
class Adam {
  constructor(params, hyper = DEFAULT_HYPER, m = null, v = null) {
    this.params = [...params];
    this.hyper = hyper || DEFAULT_HYPER;
    this.m = m === null ? this.params.map(() => 0) : [...m];
    this.v = v === null ? this.params.map(() => 0) : [...v];
    if (this.m.length !== this.params.length || this.v.length !== this.params.length) {
      throw pyError('ValueError', 'Adam: m and v need one entry per parameter');
    }
  }

  /** Update every parameter once (the rule above), then zero its grad. */
  step(step, numSteps) {
    const { lr, beta1, beta2, eps } = this.hyper;
    const lrT = lr * (1 - pymath.div(step, numSteps));
    // The same for every parameter: computed once.
    const mCorrection = 1 - pymath.pow(beta1, step + 1);
    const vCorrection = 1 - pymath.pow(beta2, step + 1);
    const { m, v } = this;
    this.params.forEach((p, i) => {
      const g = p.grad;
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      // g**2 and v_hat**0.5 as the original writes them (pow, not g*g and sqrt): they can
      // differ in the last bit, and over 1000 steps that shows in the final loss.
      v[i] = beta2 * v[i] + (1 - beta2) * pymath.pow(g, 2);
      const mHat = pymath.div(m[i], mCorrection);
      const vHat = pymath.div(v[i], vCorrection);
      p.data -= pymath.div(lrT * mHat, pymath.pow(vHat, 0.5) + eps);
      p.grad = 0;
    });
  }

  repr() { return `Adam(${this.params.length} parameters)`; }
}
Adam.pythonMethods = ['step'];

module.exports = { Adam, DEFAULT_HYPER };
