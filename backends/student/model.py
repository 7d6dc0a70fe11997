"""The GPT model on scalar `Value`s: layers, the one-position forward pass, the loss.

YOU WRITE: the layers (spec area `layers`), then the loss (spec area `loss`).

Weights are a dict `name -> matrix`, a matrix being a list of rows of `Value`s (the names
and shapes are in `microgpt_spec.spec.contract.param_shapes`: "wte", "wpe", "lm_head",
"layer0.attn_wq", ...). A vector is a list of `Value`s.

The model reads ONE token at a time. Earlier positions are seen only through the
key/value cache (one list per layer, grown by one entry per call), so attention is causal
without any mask.

Add things up with Python's `sum(...)`: it starts from the int 0 and adds left to right,
exactly like the reference, so your floats can agree with it to the last bit. Likewise keep
the operand order the docstrings give (`w * x`, not `x * w`).

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=layers
    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=loss
"""

from __future__ import annotations

from typing import Sequence

from microgpt_spec.spec.contract import Config

from .engine import Value

Vector = list[Value]
Matrix = list[list[Value]]
Weights = dict[str, Matrix]
#: One list per layer; each holds one vector per position seen so far.
Cache = list[list[Vector]]


# --------------------------------------------------------------------- layers
def linear(x: Sequence[Value], w: Matrix) -> Vector:
    """y[o] = sum_i w[o][i] * x[i]: one output per row of `w`, no bias.

    Each row of `w` is dotted with `x` (multiply entry by entry, add up).

    Example: x = [1, 2], w = [[1, 0], [3, 4], [0, -1]] gives
    y = [1*1 + 0*2, 3*1 + 4*2, 0*1 + -1*2] = [1, 11, -2].
    """
    raise NotImplementedError(
        "layers: linear(x, w): y[o] = sum_i w[o][i] * x[i], one output per row of w"
    )


def softmax(logits: Sequence[Value]) -> Vector:
    """p[i] = exp(z[i] - m) / sum_j exp(z[j] - m), with m = max z (a plain number).

    Turns any scores into probabilities: all positive, summing to 1, bigger score ->
    bigger probability. Subtracting the max first keeps `exp` from overflowing (exp(1000)
    is inf) and changes nothing else: the factor exp(-m) cancels. Take m from the `.data`
    of the logits, as a plain number, so it is a constant in the graph.

    Example: z = [1, 2, 3]: m = 3, exps = [e**-2, e**-1, 1] = [0.135, 0.368, 1],
    sum = 1.503, p = [0.090, 0.245, 0.665].
    """
    raise NotImplementedError(
        "layers: softmax(logits): exp(z - max z) / sum exp(z - max z), max as a plain number"
    )


def rmsnorm(x: Sequence[Value]) -> Vector:
    """y = x * (mean(x**2) + 1e-5) ** -0.5: rescale x to a root mean square of about 1.

    mean(x**2) = sum of xi * xi, divided by len(x); then one `scale` Value, and every
    entry times it. The 1e-5 keeps it finite for x = 0.

    Example: x = [3, 4]: mean(x**2) = (9 + 16) / 2 = 12.5, scale = 12.50001 ** -0.5 =
    0.28284..., y = [0.8485, 1.1314] (whose squares average 1).
    """
    raise NotImplementedError(
        "layers: rmsnorm(x): x * (mean(x**2) + 1e-5) ** -0.5"
    )


def attention(
    q: Sequence[Value], keys: Sequence[Vector], values: Sequence[Vector], n_head: int
) -> Vector:
    """Multi-head attention of one query over every cached position t.

    Split the dims into n_head heads of d = len(q) // n_head dims; head h owns dims
    [h*d, (h+1)*d). For each head, with q_h, k_h[t], v_h[t] the head's slices:

        score[t] = sum_j q_h[j] * k_h[t][j] / d ** 0.5     (how well t matches the query)
        w        = softmax(score)                           (how much to take from each t)
        out_h[j] = sum_t w[t] * v_h[t][j]                   (a weighted average of values)

    Return out_0 + out_1 + ... (the heads' outputs one after the other, len(q) in all).

    Example, one head of 1 dim: q = [1], keys = [[0], [2]], values = [[10], [20]]:
    scores = [0, 2], w = softmax = [0.119, 0.881], out = [0.119*10 + 0.881*20] = [18.81].
    """
    raise NotImplementedError(
        "layers: attention(q, keys, values, n_head): per head, scores q.k/sqrt(d), softmax "
        "over the cached positions, weighted sum of the values; heads concatenated"
    )


def mlp(x: Sequence[Value], fc1: Matrix, fc2: Matrix) -> Vector:
    """linear(relu(linear(x, fc1)), fc2): widen (fc1 has 4x the rows), keep the positive
    part, narrow back.

    Example: x = [1, -1], fc1 = [[1, 0], [0, 1]], fc2 = [[2, 3]]:
    linear -> [1, -1], relu -> [1, 0], linear -> [2*1 + 3*0] = [2].
    """
    raise NotImplementedError("layers: mlp(x, fc1, fc2): linear(relu(linear(x, fc1)), fc2)")


# --------------------------------------------------------------------- blocks
def add(x: Sequence[Value], y: Sequence[Value]) -> Vector:
    """Element-wise x + y (the residual connection). Written for you."""
    return [a + b for a, b in zip(x, y)]


def attention_block(
    weights: Weights, layer: int, n_head: int, x: Vector, keys: list[Vector], values: list[Vector]
) -> Vector:
    """x + attn_wo(attention(q, cached keys, cached values)), with q, k, v from rmsnorm(x).

    With p = f"layer{layer}." the weight names' prefix:
        residual = x
        x = rmsnorm(x)
        q, k, v = linear(x, weights[p + "attn_wq"]), ... "attn_wk", ... "attn_wv"
        append k to `keys` and v to `values` (this layer's cache) BEFORE attending,
            so the position attends to itself and to everything before it
        out = linear(attention(q, keys, values, n_head), weights[p + "attn_wo"])
        return add(out, residual)

    Example: at position 0 the cache holds only this position's own key and value, so
    every head's softmax is [1.0] and attention returns v itself; at position 3 it
    attends over 4 cached positions.
    """
    raise NotImplementedError(
        "layers: attention_block: rmsnorm, q/k/v projections, cache k and v, attention, "
        "attn_wo, plus the residual"
    )


def mlp_block(weights: Weights, layer: int, x: Vector) -> Vector:
    """x + mlp(rmsnorm(x)), with the layer's "mlp_fc1" and "mlp_fc2" weights.

        residual = x
        x = mlp(rmsnorm(x), weights[p + "mlp_fc1"], weights[p + "mlp_fc2"])
        return add(x, residual)

    Example: with all mlp weights 0 the block returns x unchanged: the residual path
    carries the input through, the MLP only adds to it.
    """
    raise NotImplementedError("layers: mlp_block: x + mlp(rmsnorm(x), mlp_fc1, mlp_fc2)")


def empty_cache(config: Config) -> tuple[Cache, Cache]:
    """A fresh key cache and value cache: one empty list per layer. Written for you."""
    return [[] for _ in range(config.n_layer)], [[] for _ in range(config.n_layer)]


def gpt(weights: Weights, config: Config, token: int, pos: int, keys: Cache, values: Cache) -> Vector:
    """The logits (one score per vocabulary id) for the token after `token` at `pos`.

        x = add(weights["wte"][token], weights["wpe"][pos])   token embedding + position
        x = rmsnorm(x)
        for each layer i:
            x = attention_block(weights, i, config.n_head, x, keys[i], values[i])
            x = mlp_block(weights, i, x)
        return linear(x, weights["lm_head"])                   no final norm

    Example of the shapes with the defaults: wte[token] and wpe[pos] are 16 numbers each;
    x stays 16 numbers through the layers; lm_head has 27 rows, so 27 logits come out.
    """
    raise NotImplementedError(
        "layers: gpt: rmsnorm(wte[token] + wpe[pos]), then per layer attention_block and "
        "mlp_block, then linear(x, lm_head)"
    )


# --------------------------------------------------------------------- loss
def token_loss(logits: Sequence[Value], target: int) -> Value:
    """-log p[target] with p = softmax(logits): the cross-entropy at one position.

    It is small when the model gave the right token a high probability: p = 1 -> 0,
    p = 0.5 -> 0.693, p = 1/27 (a uniform guess over 27 tokens) -> 3.296.

    Example: logits = [0, 0], target = 1: p = [0.5, 0.5], loss = -ln 0.5 = 0.6931.
    """
    raise NotImplementedError("loss: token_loss(logits, target): -log(softmax(logits)[target])")


def mean(losses: Sequence[Value]) -> Value:
    """(1 / n) * sum(losses): the reference's way of averaging (a plain-number factor
    times the sum, in that order).

    Example: mean of [Value(1.0), Value(2.0), Value(6.0)] has data 3.0.
    """
    raise NotImplementedError("loss: mean(losses): (1 / len(losses)) * sum(losses)")


def sequence_loss(weights: Weights, config: Config, tokens: Sequence[int]) -> Value:
    """Mean cross-entropy of predicting tokens[t+1] from tokens[..t], for t < n.

    n = min(config.block_size, len(tokens) - 1): the model only has block_size positions
    (raise ValueError when n < 1: there is nothing to predict). Start from an empty cache
    (`empty_cache(config)`), then for pos = 0 .. n-1:
        logits = gpt(weights, config, tokens[pos], pos, keys, values)
        loss at pos = token_loss(logits, tokens[pos + 1])
    and return mean(those n losses).

    Example: tokens = [BOS, e, m, BOS] ("em"): three predictions, e after BOS, m after e,
    BOS after m; the loss is their mean.
    """
    raise NotImplementedError(
        "loss: sequence_loss: mean over t < min(block_size, len(tokens) - 1) of "
        "token_loss(gpt(tokens[t] at position t), tokens[t + 1])"
    )
