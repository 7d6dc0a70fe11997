'use strict';
// The contract's methods (spec/contract.py) on top of the scalar engine.
//
// Plain numbers come in, become Value leaves, go through the very code training uses
// (model, adam, train, sampling), and come back out as plain numbers (.data, or .grad
// where a gradient is asked for). Nodes, tokenizers and optimizers stay here: the host
// holds them as handles.
const { Value } = require('./engine');
const model = require('./model');
const { Adam } = require('./adam');
const sampling = require('./sampling');
const training = require('./train');
const { CharTokenizer } = require('./tokenizer');
const { pyError, tuple } = require('./protocol');

// ------------------------------------------------------------------ plain numbers <-> Values
const leaves = (xs) => xs.map((x) => new Value(x));
const leafMatrix = (rows) => rows.map(leaves);
const floats = (vector) => vector.map((v) => (v instanceof Value ? v.data : v));

/** ValueError naming the first problem, unless `params` fits `config` (contract.check_params). */
function checkParams(params, config) {
  const shapes = model.paramShapes(config);
  const missing = Object.keys(shapes).filter((n) => !(n in params));
  const extra = Object.keys(params).filter((n) => !(n in shapes));
  if (missing.length || extra.length) {
    throw pyError('ValueError', `parameter names do not fit the config: missing ${JSON.stringify(missing)}, `
      + `unexpected ${JSON.stringify(extra)}`);
  }
  for (const [name, [rows, cols]] of Object.entries(shapes)) {
    const matrix = params[name];
    const widths = [...new Set(matrix.map((r) => r.length))].sort((a, b) => a - b);
    if (matrix.length !== rows || widths.length !== 1 || widths[0] !== cols) {
      throw pyError('ValueError', `parameter '${name}' should be ${rows}x${cols}, `
        + `got ${matrix.length} rows of [${widths.join(', ')}]`);
    }
    for (const r of matrix) {
      if (!r.every((x) => Number.isFinite(x))) throw pyError('ValueError', `parameter '${name}' holds a value that is not finite`);
    }
  }
}

function weightsFor(params, config) {
  checkParams(params, config);
  return training.toWeights(params);
}

class Backend {
  // ---------------------------------------------------------------- tokenizer
  build_tokenizer(docs) { return new CharTokenizer(docs); }

  // ---------------------------------------------------------------- ops / autograd
  value(data) { return new Value(data); }

  // ---------------------------------------------------------------- layers
  linear(x, w) { return floats(model.linear(leaves(x), leafMatrix(w))); }

  softmax(logits) { return floats(model.softmax(leaves(logits))); }

  rmsnorm(x) { return floats(model.rmsnorm(leaves(x))); }

  attention(q, keys, values, nHead) {
    return floats(model.attention(leaves(q), leafMatrix(keys), leafMatrix(values), nHead));
  }

  mlp(x, fc1, fc2) { return floats(model.mlp(leaves(x), leafMatrix(fc1), leafMatrix(fc2))); }

  /** The cache crosses the wire as plain numbers: each entry becomes leaves for this call,
   *  and the entry gpt appends to each layer goes back (as numbers) to the host. */
  gpt(params, config, token, pos, keys, values) {
    const weights = weightsFor(params, config);
    const cacheKeys = keys.map(leafMatrix);
    const cacheValues = values.map(leafMatrix);
    const logits = model.gpt(weights, config, token, pos, cacheKeys, cacheValues);
    keys.forEach((layer, l) => layer.push(...cacheKeys[l].slice(layer.length).map(floats)));
    values.forEach((layer, l) => layer.push(...cacheValues[l].slice(layer.length).map(floats)));
    return floats(logits);
  }

  // ---------------------------------------------------------------- loss
  cross_entropy(logits, targets) {
    if (logits.length !== targets.length || !targets.length) {
      throw pyError('ValueError', 'cross_entropy: need one target per row of logits (and at least one), '
        + `got ${logits.length} rows and ${targets.length} targets`);
    }
    const rows = leafMatrix(logits);
    const loss = model.mean(rows.map((r, t) => model.tokenLoss(r, targets[t])));
    loss.backward();
    return tuple(loss.data, rows.map((r) => r.map((z) => z.grad)));
  }

  loss_and_grads(params, config, tokens) {
    const weights = weightsFor(params, config);
    const loss = model.sequenceLoss(weights, config, tokens);
    loss.backward();
    return tuple(loss.data, training.toParams(weights, 'grad'));
  }

  // ---------------------------------------------------------------- adam
  adam(params, hyper) { return new Adam(params, hyper); }

  // ---------------------------------------------------------------- sampling
  sample_next(logits, temperature, rng) { return sampling.sampleNext(leaves(logits), temperature, rng); }

  generate(params, config, temperature, rng) {
    return sampling.generate(weightsFor(params, config), config, temperature, rng);
  }

  // ---------------------------------------------------------------- training
  init_params(config, rng) { return training.initParams(config, rng); }

  train(params, config, sequences, schedule, hyper, moments, onStep) {
    checkParams(params, config);
    return training.train(params, config, sequences, schedule, hyper, moments, onStep);
  }
}

// The contract methods this backend offers: the host may call these (and only these).
Backend.pythonMethods = [
  'build_tokenizer', 'value', 'linear', 'softmax', 'rmsnorm', 'attention', 'mlp', 'gpt',
  'cross_entropy', 'loss_and_grads', 'adam', 'sample_next', 'generate', 'init_params', 'train',
];
// Parameter names, for calls with keyword arguments (train's hyper, moments, on_step).
Backend.parameters = {
  build_tokenizer: ['docs'], value: ['data'], linear: ['x', 'w'], softmax: ['logits'], rmsnorm: ['x'],
  attention: ['q', 'keys', 'values', 'n_head'], mlp: ['x', 'fc1', 'fc2'],
  gpt: ['params', 'config', 'token', 'pos', 'keys', 'values'],
  cross_entropy: ['logits', 'targets'], loss_and_grads: ['params', 'config', 'tokens'],
  adam: ['params', 'hyper'], sample_next: ['logits', 'temperature', 'rng'],
  generate: ['params', 'config', 'temperature', 'rng'], init_params: ['config', 'rng'],
  train: ['params', 'config', 'sequences', 'schedule', 'hyper', 'moments', 'on_step'],
};

module.exports = { Backend };
