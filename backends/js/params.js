'use strict';
// The parameters' layout, apart from the mathematics: the names and shapes of the weight
// matrices in the reference order, and the conversions between plain numbers (what crosses
// the wire) and Values (what the model computes with). Shared as it is with the scaffold.
const { Value } = require('./engine');

/** Parameter names and [rows, cols], in the reference order (the order weights are drawn). */
function paramShapes(config) {
  const { vocab_size: vocab, n_embd: d, block_size: block } = config;
  const shapes = { wte: [vocab, d], wpe: [block, d], lm_head: [vocab, d] };
  for (let i = 0; i < config.n_layer; i += 1) {
    shapes[`layer${i}.attn_wq`] = [d, d];
    shapes[`layer${i}.attn_wk`] = [d, d];
    shapes[`layer${i}.attn_wv`] = [d, d];
    shapes[`layer${i}.attn_wo`] = [d, d];
    shapes[`layer${i}.mlp_fc1`] = [4 * d, d];
    shapes[`layer${i}.mlp_fc2`] = [d, 4 * d];
  }
  return shapes;
}

/** Plain matrices -> fresh Value leaves of the same shape. */
function toWeights(params) {
  const weights = {};
  for (const [name, rows] of Object.entries(params)) weights[name] = rows.map((r) => r.map((w) => new Value(w)));
  return weights;
}

/** Value matrices -> plain numbers: their data (or their grad, with field = 'grad'). */
function toParams(weights, field = 'data') {
  const params = {};
  for (const [name, rows] of Object.entries(weights)) params[name] = rows.map((r) => r.map((w) => w[field]));
  return params;
}

module.exports = { paramShapes, toWeights, toParams };
