"""The training pass: forward over whole sequences at once, and its exact hand-derived backward.

The reference feeds one token at a time and lets the key/value cache grow, so position t
only sees positions 0..t. Here all T positions of B sequences go through every layer in
one go (arrays of N = B*T rows), and a causal mask (-inf above the diagonal of the T x T
attention scores) gives each position the same view. Shorter sequences of a batch are
padded at the end; the padding sits after every real position, so the mask hides it from
them, and its loss weight is 0, so it sends back no gradient.

Shapes: C = n_embd, H = n_head, d = C / H, V = vocab size.

Every layer below has a `*_forward` that returns its output and what its backward needs,
and a `*_backward` that turns the gradient of its output into the gradient of its input
(and writes the gradient of its weights into the flat gradient buffer). The derivations
are in the docstrings. At this size Python's per-call overhead, not arithmetic, is the
cost, so each layer is written with as few NumPy calls as possible: one matrix product
for q, k and v together, all heads in one batched product, `out=` into the gradient
buffer instead of copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .layers import RMS_EPS
from .params import FlatParams


@dataclass
class Batch:
    """B token sequences cut to at most block_size positions and padded to a common T.

    `inputs[b, t]` is read at position t and scored on `targets[b, t]`; `weights[b, t]`
    is that position's share of the loss: 1 / (B * n_b) for its n_b real positions,
    0 for padding. So the loss is the mean over sequences of each sequence's mean loss.
    """

    inputs: np.ndarray  # (B, T) int
    targets: np.ndarray  # (B, T) int
    weights: np.ndarray  # (B*T, 1) float, or a float when every row has the same weight
    lengths: list[int]  # n_b, the real positions of each sequence

    @property
    def num_tokens(self) -> int:
        return sum(self.lengths)


def make_batch(sequences: Sequence[Sequence[int]], block_size: int) -> Batch:
    """Pack sequences into a `Batch` (n_b = min(block_size, len - 1) positions each)."""
    lengths = [min(block_size, len(seq) - 1) for seq in sequences]
    if min(lengths) < 1:
        raise ValueError("a training sequence needs at least 2 tokens (BOS, ..., BOS)")
    if len(sequences) == 1:
        tokens = np.asarray(sequences[0][: lengths[0] + 1], dtype=np.intp)[None, :]
        return Batch(tokens[:, :-1], tokens[:, 1:], 1.0 / lengths[0], lengths)
    width = max(lengths)
    tokens = np.zeros((len(sequences), width + 1), dtype=np.intp)
    row_weights = np.zeros((len(sequences), width))
    share = 1.0 / len(sequences)
    for b, (seq, n) in enumerate(zip(sequences, lengths)):
        tokens[b, : n + 1] = seq[: n + 1]
        row_weights[b, :n] = (1.0 / n) * share
    return Batch(tokens[:, :-1], tokens[:, 1:], row_weights.reshape(-1, 1), lengths)


class Model:
    """Forward and backward of the GPT over a `Batch`, on a `FlatParams`."""

    def __init__(self, params: FlatParams):
        self.params = params
        config = params.config
        self.config = config
        self.identity = np.eye(config.vocab_size)  # rows are one-hot tokens
        above_diagonal = np.triu(np.ones((config.block_size, config.block_size), dtype=bool), 1)
        self.causal_mask = np.where(above_diagonal, -np.inf, 0.0)

    def loss_and_grad(self, batch: Batch) -> float:
        """The batch loss; the gradient of every weight is written into `params.grad`."""
        logits, caches = self.forward(batch)
        loss, d_logits = cross_entropy_forward_backward(logits, batch)
        self.backward(d_logits, batch, caches)
        return loss

    # ------------------------------------------------------------------ forward
    def forward(self, batch: Batch) -> tuple[np.ndarray, list]:
        """logits (N, V) for every position of the batch, and the caches for backward."""
        w = self.params.weights
        num_rows = batch.inputs.size
        x0 = (w["wte"][batch.inputs] + w["wpe"][: batch.inputs.shape[1]]).reshape(num_rows, -1)
        x, embed_cache = rmsnorm_forward(x0)
        layer_caches = []
        for layer in range(self.config.n_layer):
            x, cache = self.block_forward(x, layer, batch.inputs.shape)
            layer_caches.append(cache)
        logits = x @ w["lm_head"].T
        return logits, [embed_cache, layer_caches, x]

    def block_forward(self, x: np.ndarray, layer: int, shape: tuple[int, int]) -> tuple[np.ndarray, tuple]:
        """x + attention(rmsnorm(x)), then that + mlp(rmsnorm(that))."""
        w, p = self.params.weights, f"layer{layer}."
        h1, norm1 = rmsnorm_forward(x)
        attn_out, attn_cache = attention_forward(
            h1, self.params.qkv(layer), w[p + "attn_wo"], self.causal_mask, shape, self.config.n_head
        )
        x = x + attn_out
        h2, norm2 = rmsnorm_forward(x)
        mlp_out, mlp_cache = mlp_forward(h2, w[p + "mlp_fc1"], w[p + "mlp_fc2"])
        return x + mlp_out, (norm1, attn_cache, norm2, mlp_cache)

    # ------------------------------------------------------------------ backward
    def backward(self, d_logits: np.ndarray, batch: Batch, caches: list) -> None:
        """Fill `params.grad` from the gradient of the loss with respect to the logits."""
        w, g = self.params.weights, self.params.grads
        embed_cache, layer_caches, x_final = caches
        np.matmul(d_logits.T, x_final, out=g["lm_head"])
        dx = d_logits @ w["lm_head"]
        for layer in reversed(range(self.config.n_layer)):
            dx = self.block_backward(dx, layer, batch.inputs.shape, layer_caches[layer])
        dx0 = rmsnorm_backward(dx, embed_cache)
        self.embedding_backward(dx0, batch)

    def block_backward(self, dx: np.ndarray, layer: int, shape: tuple[int, int], cache: tuple) -> np.ndarray:
        """Through the MLP half, then the attention half; each residual adds its own path."""
        w, g, p = self.params.weights, self.params.grads, f"layer{layer}."
        norm1, attn_cache, norm2, mlp_cache = cache
        dh2 = mlp_backward(dx, w[p + "mlp_fc1"], w[p + "mlp_fc2"], g[p + "mlp_fc1"], g[p + "mlp_fc2"], mlp_cache)
        dx = dx + rmsnorm_backward(dh2, norm2)
        qkv, grad_qkv = self.params.qkv(layer), self.params.qkv(layer, self.params.grad)
        dh1 = attention_backward(dx, qkv, w[p + "attn_wo"], grad_qkv, g[p + "attn_wo"], shape, attn_cache)
        return dx + rmsnorm_backward(dh1, norm1)

    def embedding_backward(self, dx0: np.ndarray, batch: Batch) -> None:
        """x0[b, t] = wte[token] + wpe[t]: each row's gradient goes to its token's row of
        wte and to its position's row of wpe (summed over the batch); rows that no
        position used get 0.

        The wte part is one product with the one-hot matrix of the input tokens:
        d wte = onehot(inputs)^T @ dx0.
        """
        g = self.params.grads
        one_hot = self.identity[batch.inputs.ravel()]
        np.matmul(one_hot.T, dx0, out=g["wte"])
        batch_size, width = batch.inputs.shape
        per_position = dx0 if batch_size == 1 else dx0.reshape(batch_size, width, -1).sum(axis=0)
        g["wpe"][:width] = per_position
        g["wpe"][width:] = 0.0


# ---------------------------------------------------------------------- rmsnorm
def rmsnorm_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x * s with s = (mean(x**2) + eps) ** -0.5 per row."""
    scale = ((np.vecdot(x, x) * (1.0 / x.shape[1]) + RMS_EPS) ** -0.5)[:, None]
    return x * scale, (x, scale)


def rmsnorm_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dx = s * dy - x * (s**3 / C) * (dy . x)

    because y_j = x_j * s and ds/dx_i = -0.5 * (ms + eps) ** -1.5 * 2 x_i / C = -s**3 x_i / C.
    """
    x, scale = cache
    dot = np.vecdot(dy, x)[:, None]
    return scale * dy - x * (scale**3 * ((1.0 / x.shape[1]) * dot))


# ---------------------------------------------------------------------- attention
def attention_forward(
    h: np.ndarray,
    qkv_weight: np.ndarray,
    wo: np.ndarray,
    causal_mask: np.ndarray,
    shape: tuple[int, int],
    n_head: int,
) -> tuple[np.ndarray, tuple]:
    """Causal multi-head self-attention over the rows of h, then attn_wo.

        q, k, v = h @ Wq^T, h @ Wk^T, h @ Wv^T        (one product with the stacked (3C, C))
        A[b,h]  = softmax(q k^T / sqrt(d) + mask)      (B, H, T, T)
        out     = concat_heads(A @ v) @ Wo^T
    """
    batch_size, width = shape
    num_rows, channels = h.shape
    head_dim = channels // n_head
    qkv = (h @ qkv_weight.T).reshape(batch_size, width, 3, n_head, head_dim).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv  # each (B, H, T, d)
    scores = q @ k.swapaxes(-1, -2)
    scores *= 1.0 / head_dim**0.5
    scores += causal_mask[:width, :width]
    scores -= scores.max(axis=-1, keepdims=True)
    attn = np.exp(scores, out=scores)
    attn *= 1.0 / attn.sum(axis=-1, keepdims=True)
    heads = (attn @ v).transpose(0, 2, 1, 3).reshape(num_rows, channels)
    return heads @ wo.T, (h, qkv, attn, heads)


def attention_backward(
    dy: np.ndarray,
    qkv_weight: np.ndarray,
    wo: np.ndarray,
    grad_qkv: np.ndarray,
    grad_wo: np.ndarray,
    shape: tuple[int, int],
    cache: tuple,
) -> np.ndarray:
    """Gradient through attention; writes d Wqkv and d Wo, returns d h.

        d heads = dy @ Wo                     d Wo = dy^T @ heads
        dA      = d out @ v^T                 dv   = A^T @ d out
        dS      = A * (dA - rowsum(dA * A)) / sqrt(d)      (softmax backward; 0 where masked)
        dq      = dS @ k                      dk   = dS^T @ q
        d h     = [dq dk dv] @ Wqkv           d Wqkv = [dq dk dv]^T @ h
    """
    h, (q, k, v), attn, heads = cache
    batch_size, width = shape
    num_rows, channels = h.shape
    n_head, head_dim = q.shape[1], q.shape[3]
    np.matmul(dy.T, heads, out=grad_wo)
    d_out = (dy @ wo).reshape(batch_size, width, n_head, head_dim).transpose(0, 2, 1, 3)
    # dq, dk, dv are written straight into their places in one (N, 3C) array.
    d_qkv_rows = np.empty((batch_size, width, 3, n_head, head_dim))
    d_q, d_k, d_v = d_qkv_rows.transpose(2, 0, 3, 1, 4)
    np.matmul(attn.swapaxes(-1, -2), d_out, out=d_v)
    d_scores = d_out @ v.swapaxes(-1, -2)
    d_scores -= (d_scores * attn).sum(axis=-1, keepdims=True)
    d_scores *= attn
    d_scores *= 1.0 / head_dim**0.5
    np.matmul(d_scores, k, out=d_q)
    np.matmul(d_scores.swapaxes(-1, -2), q, out=d_k)
    d_qkv = d_qkv_rows.reshape(num_rows, 3 * channels)
    np.matmul(d_qkv.T, h, out=grad_qkv)
    return d_qkv @ qkv_weight


# ---------------------------------------------------------------------- mlp
def mlp_forward(h: np.ndarray, fc1: np.ndarray, fc2: np.ndarray) -> tuple[np.ndarray, tuple]:
    """relu(h @ fc1^T) @ fc2^T."""
    pre = h @ fc1.T
    hidden = np.maximum(pre, 0.0)
    return hidden @ fc2.T, (h, pre, hidden)


def mlp_backward(
    dy: np.ndarray, fc1: np.ndarray, fc2: np.ndarray, grad_fc1: np.ndarray, grad_fc2: np.ndarray, cache: tuple
) -> np.ndarray:
    """d fc2 = dy^T @ hidden;  d pre = (dy @ fc2) * [pre > 0];  d fc1 = d pre^T @ h;
    d h = d pre @ fc1. relu's slope is 0 at exactly 0, like the reference's."""
    h, pre, hidden = cache
    np.matmul(dy.T, hidden, out=grad_fc2)
    d_pre = dy @ fc2
    d_pre *= pre > 0
    np.matmul(d_pre.T, h, out=grad_fc1)
    return d_pre @ fc1


# ---------------------------------------------------------------------- loss
def cross_entropy_forward_backward(logits: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
    """Loss = sum over rows of weight * -log softmax(logits)[target], and d loss / d logits.

    With p = softmax(z): d(-log p_y)/dz = p - onehot(y), so d logits = weight * (p - onehot).
    The loss is summed like the reference: each sequence's losses in order, times 1/n,
    then the mean over the batch.
    """
    probs = logits - logits.max(axis=1, keepdims=True)
    np.exp(probs, out=probs)
    probs *= 1.0 / probs.sum(axis=1, keepdims=True)
    rows = np.arange(probs.shape[0])
    targets = batch.targets.ravel()
    losses = -np.log(probs[rows, targets])
    probs[rows, targets] -= 1.0
    probs *= batch.weights
    return _mean_of_means(losses, batch), probs


def _mean_of_means(losses: np.ndarray, batch: Batch) -> float:
    """mean over sequences of (1/n_b) * (sum of its n_b position losses, left to right)."""
    per_row = losses.reshape(batch.inputs.shape).tolist()
    means = [(1.0 / n) * sum(row[:n]) for row, n in zip(per_row, batch.lengths)]
    return means[0] if len(means) == 1 else sum(means) / len(means)
