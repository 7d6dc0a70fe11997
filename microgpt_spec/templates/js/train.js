'use strict';
// Training: weight init, one step, and the loop.
const { Value } = require('./engine');
const { paramShapes, toWeights, toParams } = require('./params');
const { notImplemented } = require('./protocol');

// ---------------------------------------------- yours
/** For each matrix of paramShapes(config) in order, row by row, one rng.gauss(0, 0.08) per
 *  weight: rng.gauss(0, 0.08, n) brings n of them from the host in one message. */
function initParams(config, rng) {
  throw notImplemented('training: init_params(config, rng): gauss(0, 0.08) per weight, in paramShapes order');
}

/** Steps schedule.start_step .. stop - 1 (stop: schedule.stop_step, or num_steps when null):
 *  step s trains on sequences[s % sequences.length]: the loss, backward, one Adam step with
 *  (s, num_steps); onStep(s, loss) after each step when given. Returns
 *  new DataClass('TrainResult', {params, m, v, losses, next_step}). */
function train(params, config, sequences, schedule, hyper, moments, onStep) {
  throw notImplemented('training: train(params, config, sequences, schedule, ...): the loop of steps');
}

module.exports = { initParams, train, toWeights, toParams, paramShapes };
