'use strict';
// The GPT model on scalar Values: layers, the one-position forward pass, the loss.
//
// Weights are an object name -> matrix, a matrix being an array of rows of Values (names
// and shapes from paramShapes). Vectors are arrays of Values.
//
// The model reads ONE token at a time. Earlier positions are seen only through the
// key/value cache (one array per layer, grown by one entry per call), so attention is
// causal without any mask.
//
// Every sum below starts from the plain number 0 and adds left to right, as Python's
// sum() does (0 + v makes a constant leaf 0), and every product keeps the original's
// operand order: the floats come out bit-identical to the original program's.
const { Value } = require('./engine');
const pymath = require('./pymath');
const { pyError } = require('./protocol');
const { paramShapes } = require('./params');

// --------------------------------------------------------------------- Python's + and sum
/** x + y where either may be a plain number (Python calls y.__radd__ when x is a number). */
function plus(x, y) {
  return x instanceof Value ? x.add(y) : y.radd(x);
}

/** sum(values): 0 + values[0] + values[1] + ..., left to right. */
function sum(values) {
  let total = 0;
  for (const v of values) total = plus(total, v);
  return total;
}

/** matrix[i] with Python's indexing (negative counts from the end; IndexError past it). */
function row(matrix, i) {
  const j = i < 0 ? i + matrix.length : i;
  if (!Number.isInteger(j) || j < 0 || j >= matrix.length) throw pyError('IndexError', 'list index out of range');
  return matrix[j];
}

// --------------------------------------------------------------------- layers
/** y[o] = sum_i w[o][i] * x[i]: one output per row of w, no bias. */
function linear(x, w) {
  return w.map((wRow) => sum(wRow.map((wOI, i) => wOI.mul(x[i]))));
}

/**
 * p[i] = exp(z[i] - max z) / sum_j exp(z[j] - max z).
 * Subtracting the max keeps exp from overflowing and does not change the result. The max
 * is a plain number (a constant): no gradient flows through it, none is needed.
 */
function softmax(logits) {
  if (logits.length === 0) throw pyError('ValueError', 'max() arg is an empty sequence');
  let maxVal = logits[0].data;
  for (const z of logits) if (z.data > maxVal) maxVal = z.data;
  const exps = logits.map((z) => z.sub(maxVal).exp());
  const total = sum(exps);
  return exps.map((e) => e.div(total));
}

/** y = x / sqrt(mean(x**2) + 1e-5): rescale x to a root mean square of about 1. */
function rmsnorm(x) {
  const meanSquare = sum(x.map((xi) => xi.mul(xi))).div(x.length);
  const scale = meanSquare.add(1e-5).pow(-0.5);
  return x.map((xi) => xi.mul(scale));
}

/**
 * Multi-head attention of one query over every cached position t. Head h owns dims
 * [h*d, (h+1)*d), d = q.length / nHead:
 *     score[t] = q_h . k_h[t] / sqrt(d);   w = softmax(score);   out_h[j] = sum_t w[t] * v_h[t][j]
 * Returns out_0 ... out_{nHead-1} concatenated.
 */
function attention(q, keys, values, nHead) {
  const headDim = Math.floor(q.length / nHead);
  const sqrtD = pymath.pow(headDim, 0.5);
  const out = [];
  for (let h = 0; h < nHead; h += 1) {
    const lo = h * headDim;
    const hi = lo + headDim;
    const qH = q.slice(lo, hi);
    const kH = keys.map((k) => k.slice(lo, hi));
    const vH = values.map((v) => v.slice(lo, hi));
    const scores = kH.map((kT) => sum(qH.map((qJ, j) => qJ.mul(kT[j]))).div(sqrtD));
    const weights = softmax(scores);
    for (let j = 0; j < headDim; j += 1) out.push(sum(vH.map((vT, t) => weights[t].mul(vT[j]))));
  }
  return out;
}

/** linear(relu(linear(x, fc1)), fc2): widen 4x, keep the positive part, narrow back. */
function mlp(x, fc1, fc2) {
  const hidden = linear(x, fc1).map((h) => h.relu());
  return linear(hidden, fc2);
}

// --------------------------------------------------------------------- blocks
/** Element-wise x + y (the residual connection). */
function add(x, y) {
  return x.map((a, i) => a.add(y[i]));
}

/** x + attn_wo(attention(q, keys, values)), with q, k, v from rmsnorm(x). This position's
 *  key and value join the layer's cache first, so a position attends to itself too. */
function attentionBlock(weights, layer, nHead, x, keys, values) {
  const prefix = `layer${layer}.`;
  const residual = x;
  x = rmsnorm(x);
  const q = linear(x, weights[prefix + 'attn_wq']);
  const k = linear(x, weights[prefix + 'attn_wk']);
  const v = linear(x, weights[prefix + 'attn_wv']);
  keys.push(k);
  values.push(v);
  const heads = attention(q, keys, values, nHead);
  return add(linear(heads, weights[prefix + 'attn_wo']), residual);
}

/** x + mlp(rmsnorm(x)). */
function mlpBlock(weights, layer, x) {
  const prefix = `layer${layer}.`;
  const residual = x;
  x = mlp(rmsnorm(x), weights[prefix + 'mlp_fc1'], weights[prefix + 'mlp_fc2']);
  return add(x, residual);
}

/** A fresh key cache and value cache: one empty array per layer. */
function emptyCache(config) {
  const fresh = () => Array.from({ length: config.n_layer }, () => []);
  return [fresh(), fresh()];
}

/**
 * The logits for the token after `token`, which sits at position `pos`:
 * x = rmsnorm(wte[token] + wpe[pos]); per layer an attention block and an MLP block;
 * logits = lm_head x (no final norm).
 */
function gpt(weights, config, token, pos, keys, values) {
  let x = add(row(weights.wte, token), row(weights.wpe, pos));
  x = rmsnorm(x);
  for (let layer = 0; layer < config.n_layer; layer += 1) {
    x = attentionBlock(weights, layer, config.n_head, x, keys[layer], values[layer]);
    x = mlpBlock(weights, layer, x);
  }
  return linear(x, weights.lm_head);
}

// --------------------------------------------------------------------- loss
/** -log p[target], p = softmax(logits): the cross-entropy at one position. */
function tokenLoss(logits, target) {
  return row(softmax(logits), target).log().neg();
}

/** (1/n) * sum(losses), the original's way of averaging. */
function mean(losses) {
  return sum(losses).rmul(1 / losses.length);
}

/** Mean cross-entropy of predicting tokens[t+1] from tokens[..t], t < n,
 *  n = min(block_size, tokens.length - 1): the model has only block_size positions. */
function sequenceLoss(weights, config, tokens) {
  const n = Math.min(config.block_size, tokens.length - 1);
  if (n < 1) throw pyError('ValueError', `a training sequence needs at least 2 tokens, got ${tokens.length}`);
  const [keys, values] = emptyCache(config);
  const losses = [];
  for (let pos = 0; pos < n; pos += 1) {
    const logits = gpt(weights, config, tokens[pos], pos, keys, values);
    losses.push(tokenLoss(logits, tokens[pos + 1]));
  }
  return mean(losses);
}

module.exports = {
  paramShapes, sum, linear, softmax, rmsnorm, attention, mlp, gpt, emptyCache, tokenLoss, mean, sequenceLoss,
};
