"""The GPT model on scalar `Value`s: layers, the one-position forward pass, the loss.

Weights are a dict `name -> matrix`, a matrix being a list of rows of `Value`s (names and
shapes from `microgpt_spec.spec.contract.param_shapes`). Vectors are lists of `Value`s.

The model reads ONE token at a time. Earlier positions are seen only through the
key/value cache (one list per layer, grown by one entry per call), so attention is causal
without any mask.

Every sum below is Python's `sum`, which starts from the int 0 and adds left to right:
`0 + v` goes through `Value.__radd__`. That, and the operand order of each product,
follows the reference, so the floats come out bit-identical to it.
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
    """y[o] = sum_i w[o][i] * x[i]: one output per row of `w`, no bias."""
    return [sum(w_oi * x_i for w_oi, x_i in zip(row, x)) for row in w]


def softmax(logits: Sequence[Value]) -> Vector:
    """p[i] = exp(z[i] - max z) / sum_j exp(z[j] - max z).

    Subtracting the max keeps exp from overflowing and does not change the result. The max
    is taken as a plain number (a constant), so no gradient flows through it, which is fine:
    the result does not depend on it.
    """
    max_val = max(z.data for z in logits)
    exps = [(z - max_val).exp() for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x: Sequence[Value]) -> Vector:
    """y = x / sqrt(mean(x**2) + 1e-5): rescale x to a root mean square of about 1."""
    mean_square = sum(xi * xi for xi in x) / len(x)
    scale = (mean_square + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def attention(
    q: Sequence[Value], keys: Sequence[Vector], values: Sequence[Vector], n_head: int
) -> Vector:
    """Multi-head attention of one query over every cached position t.

    Head h owns dims [h*d, (h+1)*d), d = len(q) // n_head:
        score[t] = q_h . k_h[t] / sqrt(d)
        w        = softmax(score)
        out_h[j] = sum_t w[t] * v_h[t][j]
    Returns out_0 ... out_{n_head-1} concatenated.
    """
    head_dim = len(q) // n_head
    out: Vector = []
    for h in range(n_head):
        lo, hi = h * head_dim, (h + 1) * head_dim
        q_h = q[lo:hi]
        k_h = [k[lo:hi] for k in keys]
        v_h = [v[lo:hi] for v in values]
        scores = [sum(q_h[j] * k_t[j] for j in range(head_dim)) / head_dim**0.5 for k_t in k_h]
        weights = softmax(scores)
        out.extend(sum(weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(head_dim))
    return out


def mlp(x: Sequence[Value], fc1: Matrix, fc2: Matrix) -> Vector:
    """linear(relu(linear(x, fc1)), fc2): widen 4x, keep the positive part, narrow back."""
    hidden = [h.relu() for h in linear(x, fc1)]
    return linear(hidden, fc2)


# --------------------------------------------------------------------- blocks
def add(x: Sequence[Value], y: Sequence[Value]) -> Vector:
    """Element-wise x + y (the residual connection)."""
    return [a + b for a, b in zip(x, y)]


def attention_block(
    weights: Weights, layer: int, n_head: int, x: Vector, keys: list[Vector], values: list[Vector]
) -> Vector:
    """x + attn_wo(attention(q, cached keys, cached values)), with q, k, v from rmsnorm(x).

    Appends this position's key and value to the layer's cache before attending, so a
    position attends to itself and everything before it.
    """
    prefix = f"layer{layer}."
    residual = x
    x = rmsnorm(x)
    q = linear(x, weights[prefix + "attn_wq"])
    k = linear(x, weights[prefix + "attn_wk"])
    v = linear(x, weights[prefix + "attn_wv"])
    keys.append(k)
    values.append(v)
    heads = attention(q, keys, values, n_head)
    return add(linear(heads, weights[prefix + "attn_wo"]), residual)


def mlp_block(weights: Weights, layer: int, x: Vector) -> Vector:
    """x + mlp(rmsnorm(x))."""
    prefix = f"layer{layer}."
    residual = x
    x = mlp(rmsnorm(x), weights[prefix + "mlp_fc1"], weights[prefix + "mlp_fc2"])
    return add(x, residual)


def empty_cache(config: Config) -> tuple[Cache, Cache]:
    """A fresh key cache and value cache: one empty list per layer."""
    return [[] for _ in range(config.n_layer)], [[] for _ in range(config.n_layer)]


def gpt(weights: Weights, config: Config, token: int, pos: int, keys: Cache, values: Cache) -> Vector:
    """The logits for the token after `token`, which sits at position `pos`.

    x = rmsnorm(wte[token] + wpe[pos]); then per layer an attention block and an MLP
    block; logits = lm_head x (no final norm).
    """
    x = add(weights["wte"][token], weights["wpe"][pos])
    x = rmsnorm(x)
    for layer in range(config.n_layer):
        x = attention_block(weights, layer, config.n_head, x, keys[layer], values[layer])
        x = mlp_block(weights, layer, x)
    return linear(x, weights["lm_head"])


# --------------------------------------------------------------------- loss
def token_loss(logits: Sequence[Value], target: int) -> Value:
    """-log p[target] with p = softmax(logits): the cross-entropy at one position."""
    return -softmax(logits)[target].log()


def mean(losses: Sequence[Value]) -> Value:
    """(1/n) * sum(losses), the reference's way of averaging."""
    return (1 / len(losses)) * sum(losses)


def sequence_loss(weights: Weights, config: Config, tokens: Sequence[int]) -> Value:
    """Mean cross-entropy of predicting tokens[t+1] from tokens[..t], t < n.

    n = min(block_size, len(tokens) - 1): the model has only block_size positions.
    """
    n = min(config.block_size, len(tokens) - 1)
    if n < 1:
        raise ValueError(f"a training sequence needs at least 2 tokens, got {len(tokens)}")
    keys, values = empty_cache(config)
    losses = []
    for pos in range(n):
        logits = gpt(weights, config, tokens[pos], pos, keys, values)
        losses.append(token_loss(logits, tokens[pos + 1]))
    return mean(losses)
