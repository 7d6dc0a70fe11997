"""The model's layers on one position at a time: the `layers` area and sampling.

Each function takes and returns float64 arrays (anything `np.asarray` reads goes in).
Training does not use these: `model.py` runs whole batches of sequences at once. These
are the one-vector forms, used by `gpt` (one position with a key/value cache), by
`generate`, and by the spec's layer tests.

Where the reference divides, it multiplies by the reciprocal (its `a / b` is
`a * b ** -1`); the functions below do the same so the last bits agree more often.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from microgpt_spec.spec.contract import Config

#: rmsnorm's epsilon, added to the mean square inside the root.
RMS_EPS = 1e-5


def linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`y[o] = sum_i w[o, i] * x[i]` (a matrix of `rows` outputs of `cols` inputs)."""
    return np.asarray(w, dtype=np.float64) @ np.asarray(x, dtype=np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    """`exp(z - max z) / sum exp(z - max z)` along the last axis.

    Subtracting the maximum leaves the result unchanged and keeps `exp` from
    overflowing: every exponent is <= 0, and the largest is exactly 0, so the sum is >= 1.
    """
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e * (1.0 / e.sum(axis=-1, keepdims=True))


def rmsnorm(x: np.ndarray) -> np.ndarray:
    """`x * (mean(x**2) + 1e-5) ** -0.5` along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    mean_square = (x * x).sum(axis=-1, keepdims=True) * (1.0 / x.shape[-1])
    return x * (mean_square + RMS_EPS) ** -0.5


def attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, n_head: int) -> np.ndarray:
    """One query over T cached positions, every head at once.

    With d = len(q) / n_head, head h owns dims [h*d, (h+1)*d):
        w[h, t]   = softmax_t(q_h . k_h[t] / sqrt(d))
        out_h     = sum_t w[h, t] * v_h[t]
    and the heads' outputs are concatenated back into one vector of len(q).
    """
    q = np.asarray(q, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64).reshape(-1, q.shape[0])
    values = np.asarray(values, dtype=np.float64).reshape(-1, q.shape[0])
    head_dim = q.shape[0] // n_head
    q_heads = q.reshape(n_head, 1, head_dim)  # (H, 1, d)
    k_heads = keys.reshape(-1, n_head, head_dim).transpose(1, 2, 0)  # (H, d, T)
    v_heads = values.reshape(-1, n_head, head_dim).transpose(1, 0, 2)  # (H, T, d)
    scores = (q_heads @ k_heads) * (1.0 / head_dim**0.5)  # (H, 1, T)
    return (softmax(scores) @ v_heads).reshape(-1)


def mlp(x: np.ndarray, fc1: np.ndarray, fc2: np.ndarray) -> np.ndarray:
    """`linear(relu(linear(x, fc1)), fc2)`."""
    return linear(np.maximum(linear(x, fc1), 0.0), fc2)


def gpt_step(weights: dict[str, np.ndarray], config: Config, token: int, pos: int, keys: list[list[Any]],
             values: list[list[Any]]) -> np.ndarray:
    """The logits after `token` at position `pos`, appending this position's key and
    value (one array each) to every layer's cache.

        x = rmsnorm(wte[token] + wpe[pos])
        per layer:  x = x + attn_wo @ attention(wq @ rmsnorm(x), cached k, cached v)
                    x = x + mlp(rmsnorm(x))
        logits = lm_head @ x                      (no final norm)
    """
    x = rmsnorm(weights["wte"][token] + weights["wpe"][pos])
    for layer in range(config.n_layer):
        p = f"layer{layer}."
        h = rmsnorm(x)
        keys[layer].append(linear(h, weights[p + "attn_wk"]))
        values[layer].append(linear(h, weights[p + "attn_wv"]))
        heads = attention(
            linear(h, weights[p + "attn_wq"]),
            np.stack(keys[layer]),
            np.stack(values[layer]),
            config.n_head,
        )
        x = x + linear(heads, weights[p + "attn_wo"])
        x = x + mlp(rmsnorm(x), weights[p + "mlp_fc1"], weights[p + "mlp_fc2"])
    return linear(x, weights["lm_head"])


def as_arrays(params: dict[str, Sequence[Sequence[float]]]) -> dict[str, np.ndarray]:
    """Each parameter matrix as a float64 array (arrays pass through without a copy)."""
    return {name: np.asarray(rows, dtype=np.float64) for name, rows in params.items()}
