'use strict';
// Training: weight init, one step, and the loop.
//
// The parameters live as Value leaves for the whole run; each step builds a fresh graph on
// top of them, runs backward(), and lets Adam move every leaf's data and reset its grad.
const { Adam } = require('./adam');
const { mean, sequenceLoss } = require('./model');
const { paramShapes, toWeights, toParams } = require('./params');
const { DataClass, pyError } = require('./protocol');

const INIT_STD = 0.08;

// --------------------------------------------------------------------- plain numbers <-> Values
/** Every entry in the reference order: matrix by matrix (paramShapes), row by row. */
function flatten(matrices, config) {
  const flat = [];
  for (const name of Object.keys(paramShapes(config))) for (const r of matrices[name]) flat.push(...r);
  return flat;
}

/** The inverse of flatten, for plain numbers. */
function unflatten(flat, config) {
  const params = {};
  let position = 0;
  for (const [name, [rows, cols]] of Object.entries(paramShapes(config))) {
    params[name] = [];
    for (let r = 0; r < rows; r += 1) params[name].push(flat.slice(position + r * cols, position + (r + 1) * cols));
    position += rows * cols;
  }
  return params;
}

// --------------------------------------------------------------------- parameters
/** Every weight ~ N(0, 0.08^2), drawn matrix by matrix in paramShapes order, row by row
 *  (the draw order decides which random number lands where). One message to the host
 *  brings all the draws. */
function initParams(config, rng) {
  const shapes = Object.entries(paramShapes(config));
  const count = shapes.reduce((n, [, [rows, cols]]) => n + rows * cols, 0);
  const draws = rng.gauss(0, INIT_STD, count);
  const params = {};
  let next = 0;
  for (const [name, [rows, cols]] of shapes) {
    params[name] = [];
    for (let r = 0; r < rows; r += 1) {
      params[name].push(draws.slice(next, next + cols));
      next += cols;
    }
  }
  return params;
}

// --------------------------------------------------------------------- one step
/** The sequences step `step` trains on: numbers s*B .. s*B+B-1, wrapping around the list
 *  (the contract's batch_for_step). */
function batchForStep(sequences, step, batchSize) {
  const first = step * batchSize;
  return Array.from({ length: batchSize }, (_, b) => sequences[(first + b) % sequences.length]);
}

/** The loss of one document (the reference), or the mean of the documents' losses. */
function batchLoss(weights, config, batch) {
  const losses = batch.map((tokens) => sequenceLoss(weights, config, tokens));
  return losses.length === 1 ? losses[0] : mean(losses);
}

/** Forward, backward, one Adam update. Returns the loss before the update. */
function trainStep(weights, config, optimizer, batch, step, numSteps) {
  const loss = batchLoss(weights, config, batch);
  loss.backward();
  optimizer.step(step, numSteps);
  return loss.data;
}

// --------------------------------------------------------------------- the loop
/**
 * The schedule's steps (start_step .. stop - 1 of num_steps), from `params` (not modified).
 * `moments` (null: zeros) continue a stopped run exactly; onStep(step, loss) after each step.
 */
function train(params, config, sequences, schedule, hyper, moments, onStep) {
  if (!sequences.length) throw pyError('ValueError', 'train: no sequences to train on');
  const weights = toWeights(params);
  const optimizer = new Adam(flatten(weights, config), hyper,
    moments ? flatten(moments.m, config) : null, moments ? flatten(moments.v, config) : null);
  const stop = schedule.stop_step === null || schedule.stop_step === undefined ? schedule.num_steps : schedule.stop_step;
  const batchSize = schedule.batch_size || 1;
  const losses = [];
  for (let step = schedule.start_step || 0; step < stop; step += 1) {
    const batch = batchForStep(sequences, step, batchSize);
    const loss = trainStep(weights, config, optimizer, batch, step, schedule.num_steps);
    losses.push(loss);
    if (onStep) onStep(step, loss);
  }
  return new DataClass('TrainResult', {
    params: toParams(weights),
    m: unflatten(optimizer.m, config),
    v: unflatten(optimizer.v, config),
    losses,
    next_step: stop,
  });
}

module.exports = { initParams, train, toWeights, toParams };
