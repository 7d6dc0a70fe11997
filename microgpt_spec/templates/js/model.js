'use strict';
// The GPT model on scalar Values: layers, the one-position forward pass, the loss.
//
// Weights are an object name -> matrix, a matrix being an array of rows of Values (names
// and shapes from paramShapes). Vectors are arrays of Values. The model reads ONE token
// at a time; earlier positions are seen only through the key/value cache.
const { notImplemented } = require('./protocol');
const { paramShapes } = require('./params');

/** y[o] = sum_i w[o][i] * x[i]: one output per row of w, no bias. */
function linear(x, w) { throw notImplemented('layers: linear(x, w): y[o] = sum_i w[o][i] * x[i]'); }

/** p[i] = exp(z[i] - max z) / sum_j exp(z[j] - max z), the max a plain number. */
function softmax(logits) { throw notImplemented('layers: softmax(logits): exp(z - max z) / sum exp(z - max z)'); }

/** y = x * (mean(x**2) + 1e-5) ** -0.5. */
function rmsnorm(x) { throw notImplemented('layers: rmsnorm(x): x * (mean(x**2) + 1e-5) ** -0.5'); }

/** Head h owns dims [h*d, (h+1)*d), d = q.length / nHead: score[t] = q_h . k_h[t] / sqrt(d),
 *  w = softmax(score), out_h[j] = sum_t w[t] * v_h[t][j]; the heads concatenated. */
function attention(q, keys, values, nHead) {
  throw notImplemented('layers: attention(q, keys, values, n_head): softmax(q.k / sqrt(d)) per head, weighted sum of v');
}

/** linear(relu(linear(x, fc1)), fc2). */
function mlp(x, fc1, fc2) { throw notImplemented('layers: mlp(x, fc1, fc2): linear(relu(linear(x, fc1)), fc2)'); }

/** A fresh key cache and value cache: one empty array per layer. */
function emptyCache(config) {
  const fresh = () => Array.from({ length: config.n_layer }, () => []);
  return [fresh(), fresh()];
}

/** The logits after `token` at position `pos`: x = rmsnorm(wte[token] + wpe[pos]); per layer
 *  x += attn_wo(attention(rmsnorm(x))) (append this position's k and v to the layer's cache
 *  first), x += mlp(rmsnorm(x)); logits = lm_head x. */
function gpt(weights, config, token, pos, keys, values) {
  throw notImplemented('layers: gpt(params, config, token, pos, keys, values): one position, through the cache');
}

/** -log softmax(logits)[target]. */
function tokenLoss(logits, target) { throw notImplemented('loss: tokenLoss(logits, target): -log(softmax(logits)[target])'); }

/** (1 / n) * sum(losses). */
function mean(losses) { throw notImplemented('loss: mean(losses): (1 / n) * sum(losses)'); }

/** The mean of tokenLoss over positions t < n = min(block_size, tokens.length - 1),
 *  predicting tokens[t + 1] from gpt at tokens[t]. */
function sequenceLoss(weights, config, tokens) {
  throw notImplemented('loss: loss_and_grads(params, config, tokens): the mean token loss over the sequence');
}

module.exports = {
  paramShapes, linear, softmax, rmsnorm, attention, mlp, gpt, emptyCache, tokenLoss, mean, sequenceLoss,
};
