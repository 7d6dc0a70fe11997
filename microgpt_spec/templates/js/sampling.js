'use strict';
// Sampling: draw names from the model, one token at a time. Random numbers come from the
// host: rng.random() is Python's own rng.random() (a `draw` message, in protocol.js).
const { notImplemented } = require('./protocol');

/** One token id with probabilities softmax(logits / temperature), picked as Python's
 *  rng.choices does: cumulative weights left to right, x = rng.random() * total, the first
 *  id whose cumulative weight exceeds x (bisect_right over ids 0 .. V-1). One rng.random(). */
function sampleNext(logits, temperature, rng) {
  throw notImplemented('sampling: sample_next(logits, temperature, rng): softmax(logits / T), then choices');
}

/** From BOS with an empty cache, draw at positions 0, 1, ... < block_size, stop at BOS;
 *  the drawn ids without BOS. */
function generate(weights, config, temperature, rng) {
  throw notImplemented('sampling: generate(params, config, temperature, rng): draw until BOS or block_size');
}

module.exports = { sampleNext, generate };
