'use strict';
// Adam: the optimizer that moves every weight after each step's backward pass.
const { DataClass, notImplemented } = require('./protocol');

/** The reference's settings (the contract's AdamHyper defaults). */
const DEFAULT_HYPER = new DataClass('AdamHyper', { lr: 0.01, beta1: 0.85, beta2: 0.99, eps: 1e-8 });

class Adam {
  /** Adam over an array of Values (this.params), with this.hyper and the moments this.m,
   *  this.v (one number per parameter: the given m, v or zeros). */
  constructor(params, hyper = DEFAULT_HYPER, m = null, v = null) {
    throw notImplemented('adam: adam(params, hyper): keep params, hyper, and moments m, v at 0');
  }

  /** At 0-based step s of numSteps, for each parameter p with gradient g:
   *     lr_t = lr * (1 - s / numSteps);  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2
   *     m_hat = m / (1 - beta1 ** (s + 1));  v_hat = v / (1 - beta2 ** (s + 1))
   *     p -= lr_t * m_hat / (v_hat ** 0.5 + eps);  then g = 0 */
  step(step, numSteps) { throw notImplemented('adam: Adam.step(step, num_steps): one update of every parameter, then grad = 0'); }
}
// What the host may call on an optimizer; it reads m and v as fields.
Adam.pythonMethods = ['step'];

module.exports = { Adam, DEFAULT_HYPER };
