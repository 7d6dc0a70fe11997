"""The training pass: every position of a batch at once, and its exact hand-derived backward.

The reference feeds one token at a time and lets the key/value cache grow, so position t
only sees positions 0..t. Here all positions of B sequences go through each layer in one
go, and a causal mask (-inf where a key comes after the query) gives each position the
same view.

Layout. Every layer except attention works row by row, so the real positions of the
batch are *packed*: N rows, sequence after sequence, no padding. Attention needs each
sequence on its own, so q, k, v are scattered into a padded (B, H, T, d) layout (T = the
longest sequence), and the result gathered back. The padding sits after every real
position of its sequence, so the causal mask already hides it. (With one sequence, or
equal lengths, packed and padded are the same rows and nothing is moved.)

Attention scores are kept as (T_key, B, H, T_query): the softmax then reduces over the
first axis, which NumPy does as fast elementwise operations across whole rows, and sums
the keys in order 0, 1, 2, ... like the reference's `sum`. The logits are kept as
(V, N) for the same reason.

Shapes: C = n_embd, H = n_head, d = C / H, V = vocab size, N = real positions.

Each layer has a `*_forward` that returns its output and what its backward needs, and a
`*_backward` that turns the gradient of its output into the gradient of its input and
writes its weights' gradient into the flat gradient buffer (`out=`, no copies). The
derivations are in the docstrings. At this size Python's per-call overhead, not
arithmetic, is the cost, hence few and large NumPy calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Sequence

import numpy as np

from .layers import RMS_EPS
from .params import FlatParams


def _einsum_row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


#: Row-wise dot products, (N, C) x (N, C) -> (N,): one call (np.vecdot, NumPy >= 2.0).
row_dot = getattr(np, "vecdot", _einsum_row_dot)


@dataclass
class Batch:
    """B token sequences, each cut to n_b = min(block_size, len - 1) positions, packed.

    Row r of the batch is position `positions[r]` of sequence `seq_index[r]`: the model
    reads `inputs[r]` there and is scored on `targets[r]`, with weight
    `row_weights[r] = 1 / (B * n_b)`, so the loss is the mean over sequences of each
    sequence's mean loss.
    """

    inputs: np.ndarray  # (N,) int
    targets: np.ndarray  # (N,) int
    positions: np.ndarray  # (N,) int
    seq_index: np.ndarray  # (N,) int
    row_weights: np.ndarray  # (N,) float
    lengths: list[int]  # n_b
    width: int  # T = max n_b

    @property
    def num_sequences(self) -> int:
        return len(self.lengths)

    @property
    def num_tokens(self) -> int:
        return len(self.inputs)

    @property
    def is_rectangular(self) -> bool:
        """True when packed rows are already the padded layout (all n_b equal)."""
        return self.num_tokens == self.num_sequences * self.width


def make_batch(sequences: Sequence[Sequence[int]], block_size: int) -> Batch:
    """Pack sequences into a `Batch`."""
    lengths = [min(block_size, len(seq) - 1) for seq in sequences]
    if min(lengths) < 1:
        raise ValueError("a training sequence needs at least 2 tokens (BOS, ..., BOS)")
    if len(sequences) == 1:  # the reference's step: one sequence, nothing to pack
        n = lengths[0]
        tokens = np.array(sequences[0][: n + 1], dtype=np.intp)
        return Batch(tokens[:-1], tokens[1:], np.arange(n), np.zeros(n, np.intp), np.full(n, 1.0 / n), lengths, n)
    pairs = list(zip(sequences, lengths))
    inputs = np.fromiter(chain.from_iterable(seq[:n] for seq, n in pairs), dtype=np.intp)
    targets = np.fromiter(chain.from_iterable(seq[1 : n + 1] for seq, n in pairs), dtype=np.intp)
    positions = np.fromiter(chain.from_iterable(map(range, lengths)), dtype=np.intp)
    seq_index = np.repeat(np.arange(len(lengths)), lengths)
    share = 1.0 / len(lengths)
    row_weights = np.repeat([(1.0 / n) * share for n in lengths], lengths)
    return Batch(inputs, targets, positions, seq_index, row_weights, lengths, max(lengths))


class Model:
    """Forward and backward of the GPT over a `Batch`, on a `FlatParams`."""

    def __init__(self, params: FlatParams):
        self.params = params
        self.config = config = params.config
        # wte and wpe are neighbours in the flat buffer: one (V + block_size, C) table,
        # read with a one-hot matrix that has a 1 at the token and one at V + position.
        rows = config.vocab_size + config.block_size
        assert params.offset_of["wpe"] == config.vocab_size * config.n_embd, "wpe must follow wte"
        self.embedding = params.data[: rows * config.n_embd].reshape(rows, config.n_embd)
        self.embedding_grad = params.grad[: rows * config.n_embd].reshape(rows, config.n_embd)
        self.identity = np.eye(rows)
        # mask[key, query]: -inf where the key comes after the query.
        later = np.tril(np.ones((config.block_size, config.block_size), dtype=bool), -1)
        self.causal_mask = np.where(later, -np.inf, 0.0)

    def loss_and_grad(self, batch: Batch) -> float:
        """The batch loss; the gradient of every weight is written into `params.grad`."""
        logits_t, caches = self.forward(batch)
        loss, d_logits_t = cross_entropy_forward_backward(logits_t, batch)
        self.backward(d_logits_t, batch, caches)
        return loss

    # ------------------------------------------------------------------ forward
    def forward(self, batch: Batch) -> tuple[np.ndarray, list]:
        """The logits, transposed (V, N), and the caches for backward."""
        one_hot = self.identity[batch.inputs] + self.identity[self.config.vocab_size + batch.positions]
        x, embed_cache = rmsnorm_forward(one_hot @ self.embedding)
        layer_caches = []
        for layer in range(self.config.n_layer):
            x, cache = self.block_forward(x, layer, batch)
            layer_caches.append(cache)
        logits_t = self.params.weights["lm_head"] @ x.T
        return logits_t, [one_hot, embed_cache, layer_caches, x]

    def block_forward(self, x: np.ndarray, layer: int, batch: Batch) -> tuple[np.ndarray, tuple]:
        """x + attention(rmsnorm(x)), then that + mlp(rmsnorm(that))."""
        w, p = self.params.weights, f"layer{layer}."
        h1, norm1 = rmsnorm_forward(x)
        attn_out, attn_cache = attention_forward(
            h1, self.params.qkv(layer), w[p + "attn_wo"], self.causal_mask, batch, self.config.n_head
        )
        x = x + attn_out
        h2, norm2 = rmsnorm_forward(x)
        mlp_out, mlp_cache = mlp_forward(h2, w[p + "mlp_fc1"], w[p + "mlp_fc2"])
        return x + mlp_out, (norm1, attn_cache, norm2, mlp_cache)

    # ------------------------------------------------------------------ backward
    def backward(self, d_logits_t: np.ndarray, batch: Batch, caches: list) -> None:
        """Fill `params.grad` from the gradient of the loss with respect to the logits."""
        w, g = self.params.weights, self.params.grads
        one_hot, embed_cache, layer_caches, x_final = caches
        np.matmul(d_logits_t, x_final, out=g["lm_head"])
        dx = d_logits_t.T @ w["lm_head"]
        for layer in reversed(range(self.config.n_layer)):
            dx = self.block_backward(dx, layer, batch, layer_caches[layer])
        # x0 = one_hot @ [wte; wpe], so d[wte; wpe] = one_hot^T @ d x0: every row of the
        # table gets the gradient of the positions that read it, 0 if none did.
        np.matmul(one_hot.T, rmsnorm_backward(dx, embed_cache), out=self.embedding_grad)

    def block_backward(self, dx: np.ndarray, layer: int, batch: Batch, cache: tuple) -> np.ndarray:
        """Through the MLP half, then the attention half; each residual adds its own path."""
        w, g, p = self.params.weights, self.params.grads, f"layer{layer}."
        norm1, attn_cache, norm2, mlp_cache = cache
        dh2 = mlp_backward(dx, w[p + "mlp_fc1"], w[p + "mlp_fc2"], g[p + "mlp_fc1"], g[p + "mlp_fc2"], mlp_cache)
        dx = dx + rmsnorm_backward(dh2, norm2)
        qkv, grad_qkv = self.params.qkv(layer), self.params.qkv(layer, self.params.grad)
        dh1 = attention_backward(dx, qkv, w[p + "attn_wo"], grad_qkv, g[p + "attn_wo"], batch, attn_cache)
        return dx + rmsnorm_backward(dh1, norm1)


# ---------------------------------------------------------------------- rmsnorm
def rmsnorm_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x * s with s = (mean(x**2) + eps) ** -0.5 per row."""
    scale = ((row_dot(x, x) * (1.0 / x.shape[1]) + RMS_EPS) ** -0.5)[:, None]
    return x * scale, (x, scale)


def rmsnorm_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dx = s * dy - x * (s**3 / C) * (dy . x)

    because y_j = x_j * s and ds/dx_i = -0.5 * (ms + eps) ** -1.5 * 2 x_i / C = -s**3 x_i / C.
    """
    x, scale = cache
    dot = row_dot(dy, x)[:, None]
    return scale * dy - x * (scale**3 * ((1.0 / x.shape[1]) * dot))


# ---------------------------------------------------------------------- attention
def to_padded(rows: np.ndarray, batch: Batch) -> np.ndarray:
    """Packed (N, F) rows -> (B, T, F), zeros in the padding."""
    if batch.is_rectangular:
        return rows.reshape(batch.num_sequences, batch.width, -1)
    padded = np.zeros((batch.num_sequences, batch.width, rows.shape[1]))
    padded[batch.seq_index, batch.positions] = rows
    return padded


def to_packed(padded: np.ndarray, batch: Batch) -> np.ndarray:
    """(B, T, F) -> the packed (N, F) rows (the padding is dropped)."""
    if batch.is_rectangular:
        return padded.reshape(batch.num_tokens, -1)
    return padded[batch.seq_index, batch.positions]


def split_heads(rows: np.ndarray, batch: Batch, parts: int, n_head: int) -> np.ndarray:
    """Packed (N, parts*C) rows -> (parts, B, H, T, d) views of a padded array."""
    padded = to_padded(rows, batch)
    head_dim = rows.shape[1] // (parts * n_head)
    return padded.reshape(batch.num_sequences, batch.width, parts, n_head, head_dim).transpose(2, 0, 3, 1, 4)


def merge_heads(heads: np.ndarray, batch: Batch) -> np.ndarray:
    """(B, H, T, d) -> packed (N, H*d) rows."""
    per_position = heads.transpose(0, 2, 1, 3)  # (B, T, H, d)
    return to_packed(per_position.reshape(*per_position.shape[:2], -1), batch)


def attention_forward(
    h: np.ndarray, qkv_weight: np.ndarray, wo: np.ndarray, causal_mask: np.ndarray, batch: Batch, n_head: int
) -> tuple[np.ndarray, tuple]:
    """Causal multi-head self-attention over each sequence's rows, then attn_wo.

        q, k, v = h @ Wq^T, h @ Wk^T, h @ Wv^T         (one product with the stacked (3C, C))
        A[b,h]  = softmax over keys of (q k^T / sqrt(d) + mask)
        out     = concat_heads(A @ v) @ Wo^T
    A is stored as (T_key, B, H, T_query); `attn` below is its (B, H, T_query, T_key) view.
    """
    q, k, v = split_heads(h @ qkv_weight.T, batch, 3, n_head)
    width, head_dim = batch.width, q.shape[-1]
    scores = np.empty((width, batch.num_sequences, n_head, width))
    attn = scores.transpose(1, 2, 3, 0)
    np.matmul(q, k.swapaxes(-1, -2), out=attn)
    scores *= 1.0 / head_dim**0.5
    scores += causal_mask[:width, None, None, :width]
    scores -= scores.max(axis=0)
    np.exp(scores, out=scores)
    scores *= 1.0 / scores.sum(axis=0)
    heads = merge_heads(attn @ v, batch)
    return heads @ wo.T, (h, (q, k, v), scores, heads)


def attention_backward(dy: np.ndarray, qkv_weight: np.ndarray, wo: np.ndarray, grad_qkv: np.ndarray,
                       grad_wo: np.ndarray, batch: Batch, cache: tuple) -> np.ndarray:
    """Gradient through attention; writes d Wqkv and d Wo, returns d h.

        d heads = dy @ Wo                     d Wo = dy^T @ heads
        dA      = d out @ v^T                 dv   = A^T @ d out
        dS      = A * (dA - sum_keys(dA * A)) / sqrt(d)      (softmax backward; 0 where masked)
        dq      = dS @ k                      dk   = dS^T @ q
        d h     = [dq dk dv] @ Wqkv           d Wqkv = [dq dk dv]^T @ h
    """
    h, (q, k, v), attn_kq, heads = cache
    n_head, head_dim = q.shape[1], q.shape[3]
    attn = attn_kq.transpose(1, 2, 3, 0)
    np.matmul(dy.T, heads, out=grad_wo)
    (d_out,) = split_heads(dy @ wo, batch, 1, n_head)
    # dq, dk, dv go straight into their places in one padded (B, T, 3C) array.
    d_qkv_padded = np.empty((batch.num_sequences, batch.width, 3, n_head, head_dim))
    d_q, d_k, d_v = d_qkv_padded.transpose(2, 0, 3, 1, 4)
    np.matmul(attn.swapaxes(-1, -2), d_out, out=d_v)
    d_scores_kq = np.empty_like(attn_kq)
    d_scores = d_scores_kq.transpose(1, 2, 3, 0)
    np.matmul(d_out, v.swapaxes(-1, -2), out=d_scores)
    d_scores_kq -= (d_scores_kq * attn_kq).sum(axis=0)
    d_scores_kq *= attn_kq
    d_scores_kq *= 1.0 / head_dim**0.5
    np.matmul(d_scores, k, out=d_q)
    np.matmul(d_scores.swapaxes(-1, -2), q, out=d_k)
    d_qkv = to_packed(d_qkv_padded.reshape(batch.num_sequences, batch.width, -1), batch)
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
def cross_entropy_forward_backward(logits_t: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
    """Loss = sum over rows of weight * -log softmax(logits)[target], and d loss / d logits.

    `logits_t` is (V, N): one column per position. With p = softmax(z):
    d(-log p_y)/dz = p - onehot(y), so d logits = weight * (p - onehot); it is computed in
    place of `logits_t` and returned.
    """
    probs = logits_t
    probs -= probs.max(axis=0)
    np.exp(probs, out=probs)
    probs *= 1.0 / probs.sum(axis=0)
    rows = np.arange(batch.num_tokens)
    losses = -np.log(probs[batch.targets, rows])
    probs[batch.targets, rows] -= 1.0
    probs *= batch.row_weights
    return mean_of_means(losses.tolist(), batch.lengths), probs


def mean_of_means(losses: list[float], lengths: list[int]) -> float:
    """The mean over sequences of (1/n_b) * (its n_b losses summed left to right), the
    way the reference adds up one sequence's loss."""
    ends = list(accumulate(lengths))
    means = [(1.0 / n) * sum(losses[end - n : end]) for n, end in zip(lengths, ends)]
    return means[0] if len(means) == 1 else sum(means) / len(means)


def sequence_cross_entropy(logits: np.ndarray, targets: Sequence[int]) -> tuple[float, np.ndarray]:
    """The contract's `cross_entropy`: mean over the n rows of `logits` (n, V) of
    -log softmax(row)[target], and its (n, V) gradient."""
    logits_t = np.array(logits, dtype=np.float64).T.copy()
    targets = np.asarray(targets, dtype=np.intp)
    n = len(targets)
    if logits_t.shape[1] != n or n == 0:
        raise ValueError(f"need one target per row of logits, got {logits_t.shape[1]} rows and {n} targets")
    zeros = np.zeros(n, dtype=np.intp)
    batch = Batch(zeros, targets, np.arange(n), zeros, np.full(n, 1.0 / n), [n], n)
    loss, d_logits_t = cross_entropy_forward_backward(logits_t, batch)
    return loss, d_logits_t.T
