'use strict';
// Sampling: draw names from the model, one token at a time.
//
// The random numbers come from the host's generator (rng.random() sends a `draw` message),
// so the draws are Python's own, bit for bit.
const { emptyCache, gpt, softmax } = require('./model');
const { pyError } = require('./protocol');

/** The index where x would go in the sorted array a, after any equal entries (Python's
 *  bisect.bisect_right(a, x, lo, hi)). */
function bisectRight(a, x, lo, hi) {
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (x < a[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** rng.choices(range(n), weights)[0], exactly as Python computes it: cumulative weights
 *  left to right, one rng.random() scaled by their total, then bisect_right. */
function choice(weights, rng) {
  const cumulative = [];
  let running = 0;
  weights.forEach((w, i) => { running = i === 0 ? w : running + w; cumulative.push(running); });
  const total = cumulative[cumulative.length - 1];
  if (!(total > 0)) {
    if (!Number.isNaN(total)) throw pyError('ValueError', 'Total of weights must be greater than zero');
  }
  if (!Number.isFinite(total)) throw pyError('ValueError', 'Total of weights must be finite');
  return bisectRight(cumulative, rng.random() * total, 0, weights.length - 1);
}

/**
 * Draw one token id with probabilities softmax(logits / temperature). Below 1 the
 * temperature sharpens the distribution (safer, more common names), above 1 flattens it.
 */
function sampleNext(logits, temperature, rng) {
  const probs = softmax(logits.map((z) => z.div(temperature)));
  return choice(probs.map((p) => p.data), rng);
}

/** One sample: start from BOS with an empty cache, feed each drawn token back in, stop at
 *  BOS or after block_size positions. Returns the drawn ids, BOS left out. */
function generate(weights, config, temperature, rng) {
  const [keys, values] = emptyCache(config);
  const bos = config.vocab_size - 1;
  let token = bos;
  const drawn = [];
  for (let pos = 0; pos < config.block_size; pos += 1) {
    const logits = gpt(weights, config, token, pos, keys, values);
    token = sampleNext(logits, temperature, rng);
    if (token === bos) break;
    drawn.push(token);
  }
  return drawn;
}

module.exports = { sampleNext, generate, choice };
