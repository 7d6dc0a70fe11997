"""The oracle: microgpt written out as array mathematics, for the spec's expected values.

This module is the specification's own model of microgpt. The spec compares a backend
against mathematics (exact identities, finite properties) and against this oracle; it never
compares a backend against another backend.

Why it is *independent* of the backends:

* It shares no code with any of them (it imports only the contract's plain data types).
* It is built differently. The reference computes one position at a time over a scalar
  autograd graph and gets causality from a growing key/value cache; the oracle computes a
  whole sequence at once with matrices and a causal mask, and its gradients are derived by
  hand (written out below, layer by layer) rather than by an autograd engine.
* Its own tests (tests/test_oracle.py) check it against mathematics, not against itself:
  the hand-derived backward against complex-step differentiation, the whole-sequence
  forward against an explicit one-position-at-a-time cache, the optimizer against
  hand-computed numbers.

So when a backend and the oracle agree, two unrelated derivations of the same
mathematics agree. Everything is NumPy float64; the layer functions are dtype-generic so
that the tests can run the very same forward in complex128 (complex-step derivatives).

Shapes used below: T positions, C = n_embd, H = n_head, d = head_dim = C / H, V = vocab.
A weight matrix W has shape (n_out, n_in) and `linear(x, W) = x @ W.T`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Params, Schedule, batch_for_step, param_shapes

#: Parameters as arrays: reference name -> (rows, cols) float64 array (complex128 in tests).
Arrays = dict[str, np.ndarray]

RMSNORM_EPS = 1e-5
INIT_STD = 0.08


# ============================================================================ data, tokenizer


def documents(text: str) -> list[str]:
    """The documents of a data file: its stripped, non-empty lines, in file order.

    Lines end at "\\n", "\\r\\n" or a lone "\\r", as when Python reads a file in text mode.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines if line.strip()]


def vocabulary(docs: Sequence[str]) -> list[str]:
    """The sorted distinct characters of `docs`; character `chars[i]` has id i, BOS = len(chars)."""
    return sorted(set("".join(docs)))


def encode(text: str, chars: Sequence[str]) -> list[int]:
    """The id of each character of `text` (KeyError naming the character if unknown)."""
    ids = {ch: i for i, ch in enumerate(chars)}
    return [ids[ch] for ch in text]


def training_sequence(doc: str, chars: Sequence[str]) -> list[int]:
    """What a document trains on: [BOS] + ids + [BOS], with BOS = len(chars)."""
    bos = len(chars)
    return [bos] + encode(doc, chars) + [bos]


# ============================================================================ layers


def linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y[..., o] = sum_i W[o, i] x[..., i]   (works on one vector or a stack of rows)."""
    return x @ w.T


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax along the last axis: exp(z - max z) / sum exp(z - max z).

    The shift is a constant (it cancels mathematically) that keeps exp from overflowing.
    It is taken from the real part so that a complex-step perturbation passes through
    untouched. Entries equal to -inf (masked positions) get probability 0.
    """
    shifted = z - np.max(z.real, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax along the last axis: (z - max z) - log sum exp(z - max z)."""
    shifted = z - np.max(z.real, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def rmsnorm(x: np.ndarray) -> np.ndarray:
    """x / sqrt(mean(x^2) + 1e-5) along the last axis (no learned scale)."""
    return x * (np.mean(x * x, axis=-1, keepdims=True) + RMSNORM_EPS) ** -0.5


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x), decided by the real part (so it is complex-step safe)."""
    return np.where(x.real > 0, x, 0)


def mlp(x: np.ndarray, fc1: np.ndarray, fc2: np.ndarray) -> np.ndarray:
    """linear(relu(linear(x, fc1)), fc2): C -> 4C -> C, no residual."""
    return linear(relu(linear(x, fc1)), fc2)


def split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """(..., C) -> (..., H, d): head h owns dims [h*d, (h+1)*d)."""
    return x.reshape(*x.shape[:-1], n_head, x.shape[-1] // n_head)


def attention(q: np.ndarray, keys: np.ndarray, values: np.ndarray, n_head: int) -> np.ndarray:
    """One query attending over T cached positions (the contract's `attention`).

    q: (C,), keys, values: (T, C). Per head h:
        score[h, t] = q_h . k_h[t] / sqrt(d),   w[h] = softmax_t(score[h]),
        out_h = sum_t w[h, t] v_h[t].
    Returns the heads concatenated, shape (C,).
    """
    q, keys, values = np.asarray(q), np.asarray(keys), np.asarray(values)
    head_dim = q.shape[-1] // n_head
    qh, kh, vh = split_heads(q, n_head), split_heads(keys, n_head), split_heads(values, n_head)
    scores = np.einsum("hd,thd->ht", qh, kh) / math.sqrt(head_dim)
    weights = softmax(scores)
    return np.einsum("ht,thd->hd", weights, vh).reshape(q.shape)


def causal_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, n_head: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every position attends to itself and the positions before it, all at once.

    q, k, v: (T, C). scores[h, t, s] = q_h[t] . k_h[s] / sqrt(d) for s <= t, -inf for s > t
    (the future: this mask is what the reference's growing cache does implicitly).
    Returns (out (T, C), weights (H, T, T)); row t of `out` equals
    `attention(q[t], k[:t+1], v[:t+1], n_head)`.
    """
    n_pos, n_embd = q.shape
    head_dim = n_embd // n_head
    qh, kh, vh = split_heads(q, n_head), split_heads(k, n_head), split_heads(v, n_head)
    scores = np.einsum("thd,shd->hts", qh, kh) / math.sqrt(head_dim)
    future = np.triu(np.ones((n_pos, n_pos), dtype=bool), k=1)
    weights = softmax(np.where(future, -np.inf, scores))
    out = np.einsum("hts,shd->thd", weights, vh).reshape(n_pos, n_embd)
    return out, weights


# ============================================================================ parameters


def as_arrays(params: Params | Mapping[str, np.ndarray]) -> Arrays:
    """Params of nested lists (or arrays) -> name -> float64 array (a fresh copy)."""
    return {name: np.array(rows, dtype=np.float64) for name, rows in params.items()}


def as_params(arrays: Mapping[str, np.ndarray]) -> Params:
    """name -> array back to the contract's nested lists of Python floats."""
    return {name: np.asarray(a, dtype=np.float64).tolist() for name, a in arrays.items()}


def _model_arrays(params: Params | Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """Arrays as given (any dtype: the tests pass complex ones), or lists made float64."""
    if all(isinstance(a, np.ndarray) for a in params.values()):
        return params  # type: ignore[return-value]
    return as_arrays(params)


def init_params(config: Config, rng: random.Random) -> Params:
    """Fresh weights: each matrix of `param_shapes` in order, row by row, gauss(0, 0.08)."""
    return {
        name: [[rng.gauss(0, INIT_STD) for _ in range(cols)] for _ in range(rows)]
        for name, (rows, cols) in param_shapes(config).items()
    }


# ============================================================================ forward


@dataclass
class LayerTape:
    """What one transformer block computed (kept for the backward pass)."""

    x_in: np.ndarray  # (T, C) the block's input (the attention residual)
    h_attn: np.ndarray  # (T, C) rmsnorm(x_in)
    q: np.ndarray  # (T, C)
    k: np.ndarray  # (T, C) this layer's keys: what the reference caches
    v: np.ndarray  # (T, C) this layer's values: what the reference caches
    weights: np.ndarray  # (H, T, T) attention probabilities
    heads: np.ndarray  # (T, C) attention output, heads concatenated
    x_mid: np.ndarray  # (T, C) after the attention residual (the MLP residual)
    h_mlp: np.ndarray  # (T, C) rmsnorm(x_mid)
    pre: np.ndarray  # (T, 4C) fc1 output, before relu
    act: np.ndarray  # (T, 4C) relu(pre)
    x_out: np.ndarray  # (T, C) after the MLP residual


@dataclass
class Tape:
    """Everything `forward` computed: the logits and the intermediates for the backward."""

    tokens: np.ndarray  # (T,) the input ids
    embed: np.ndarray  # (T, C) wte[tokens] + wpe[positions]
    x0: np.ndarray  # (T, C) rmsnorm(embed)
    layers: list[LayerTape]
    logits: np.ndarray  # (T, V)


def _block(p: Mapping[str, np.ndarray], i: int, x: np.ndarray, n_head: int) -> LayerTape:
    """One transformer block: x + attn(rmsnorm(x)), then x + mlp(rmsnorm(x))."""
    h_attn = rmsnorm(x)
    q = linear(h_attn, p[f"layer{i}.attn_wq"])
    k = linear(h_attn, p[f"layer{i}.attn_wk"])
    v = linear(h_attn, p[f"layer{i}.attn_wv"])
    heads, weights = causal_attention(q, k, v, n_head)
    x_mid = x + linear(heads, p[f"layer{i}.attn_wo"])
    h_mlp = rmsnorm(x_mid)
    pre = linear(h_mlp, p[f"layer{i}.mlp_fc1"])
    act = relu(pre)
    x_out = x_mid + linear(act, p[f"layer{i}.mlp_fc2"])
    return LayerTape(x, h_attn, q, k, v, weights, heads, x_mid, h_mlp, pre, act, x_out)


def forward_tape(params: Params | Mapping[str, np.ndarray], config: Config, tokens: Sequence[int]) -> Tape:
    """The whole forward pass over `tokens` (at most block_size of them), keeping intermediates.

        x = rmsnorm(wte[tokens] + wpe[0..T-1])
        per layer: x = x + attn_wo(causal_attention(q, k, v)),  q,k,v = W(rmsnorm(x))
                   x = x + fc2(relu(fc1(rmsnorm(x))))
        logits = lm_head(x)            (no final norm)
    """
    p = _model_arrays(params)
    tokens = np.asarray(tokens, dtype=np.int64)
    if not 1 <= len(tokens) <= config.block_size:
        raise ValueError(f"forward takes 1..{config.block_size} tokens, got {len(tokens)}")
    embed = p["wte"][tokens] + p["wpe"][: len(tokens)]
    x0 = rmsnorm(embed)
    layers: list[LayerTape] = []
    x = x0
    for i in range(config.n_layer):
        layers.append(_block(p, i, x, config.n_head))
        x = layers[-1].x_out
    return Tape(tokens, embed, x0, layers, linear(x, p["lm_head"]))


def forward(params: Params | Mapping[str, np.ndarray], config: Config, tokens: Sequence[int]) -> np.ndarray:
    """logits (T, V): row t is the reference's `gpt(tokens[t], t, ...)` after tokens[:t]."""
    return forward_tape(params, config, tokens).logits


def forward_with_cache(
    params: Params | Mapping[str, np.ndarray], config: Config, tokens: Sequence[int]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """(logits, keys, values): keys[layer][t] / values[layer][t] are what the reference's
    KV cache holds for position t after processing `tokens`."""
    tape = forward_tape(params, config, tokens)
    return tape.logits, [layer.k for layer in tape.layers], [layer.v for layer in tape.layers]


# ============================================================================ loss


def mean_nll(logits: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """mean_t -log softmax(logits[t])[targets[t]] (dtype-generic: a 0-d array)."""
    targets = np.asarray(targets, dtype=np.int64)
    picked = log_softmax(logits)[np.arange(len(targets)), targets]
    return -np.mean(picked)


def cross_entropy(logits: np.ndarray, targets: Sequence[int]) -> tuple[float, np.ndarray]:
    """(loss, dloss/dlogits) for n positions.

        loss = (1/n) sum_t -log p_t[y_t],   p_t = softmax(logits[t])
        dloss/dlogits[t] = (p_t - onehot(y_t)) / n
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(targets)
    dlogits = softmax(logits)
    dlogits[np.arange(n), targets] -= 1.0
    return float(mean_nll(logits, targets)), dlogits / n


def _inputs_and_targets(config: Config, tokens: Sequence[int]) -> tuple[list[int], list[int]]:
    """Position t reads tokens[t] and is scored on tokens[t+1], t < n = min(block, len - 1)."""
    n = min(config.block_size, len(tokens) - 1)
    if n < 1:
        raise ValueError("a training sequence needs at least 2 tokens")
    return list(tokens[:n]), list(tokens[1 : n + 1])


def loss(params: Params | Mapping[str, np.ndarray], config: Config, tokens: Sequence[int]) -> np.ndarray:
    """The training loss of one sequence (dtype-generic: complex parameters give a complex loss)."""
    inputs, targets = _inputs_and_targets(config, tokens)
    return mean_nll(forward(params, config, inputs), targets)


# ============================================================================ backward
#
# Each function takes the gradient of the loss with respect to a layer's output (`dy`) and
# returns the gradient with respect to its inputs, from the chain rule written out:
#
#   linear    y = x W^T              dx = dy W,        dW = dy^T x   (summed over positions)
#   rmsnorm   y = x s, s = (mean(x^2) + eps)^(-1/2)
#             ds/dx_j = -s^3 x_j / C  =>  dx = s dy - s^3 x (dy . x) / C
#   relu      dx = dy [x > 0]        (derivative 0 at exactly 0, like the reference)
#   softmax   p = softmax(z)         dz = p * (dp - sum(dp * p))
#   attention O_h = P_h V_h, P_h = softmax(S_h), S_h = Q_h K_h^T / sqrt(d) (masked)
#             dP = dO V^T,  dV = P^T dO,  dS = softmax-backward,
#             dQ = dS K / sqrt(d),  dK = dS^T Q / sqrt(d)
#   residual  x_out = x + f(x)       dx = dx_out + (gradient through f)


def rmsnorm_backward(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Gradient through y = rmsnorm(x) along the last axis."""
    n = x.shape[-1]
    s = (np.mean(x * x, axis=-1, keepdims=True) + RMSNORM_EPS) ** -0.5
    return s * dy - s**3 * x * np.sum(dy * x, axis=-1, keepdims=True) / n


def softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """Gradient through p = softmax(z) along the last axis: dz = p (dp - <dp, p>)."""
    return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))


def causal_attention_backward(
    dout: np.ndarray, layer: LayerTape, n_head: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dq, dk, dv), each (T, C), from dout = dloss/d(heads) (T, C)."""
    n_pos, n_embd = dout.shape
    scale = 1.0 / math.sqrt(n_embd // n_head)
    qh, kh, vh = (split_heads(a, n_head) for a in (layer.q, layer.k, layer.v))
    dout_h = split_heads(dout, n_head)
    dweights = np.einsum("thd,shd->hts", dout_h, vh)
    dvh = np.einsum("hts,thd->shd", layer.weights, dout_h)
    dscores = softmax_backward(layer.weights, dweights)  # 0 on the masked future
    dqh = np.einsum("hts,shd->thd", dscores, kh) * scale
    dkh = np.einsum("hts,thd->shd", dscores, qh) * scale
    return dqh.reshape(n_pos, n_embd), dkh.reshape(n_pos, n_embd), dvh.reshape(n_pos, n_embd)


def _block_backward(
    p: Mapping[str, np.ndarray], i: int, layer: LayerTape, dx_out: np.ndarray, n_head: int, grads: Arrays
) -> np.ndarray:
    """Backward through one block: fills grads of its six matrices, returns dloss/dx_in."""
    name = f"layer{i}."
    # x_out = x_mid + fc2(relu(fc1(rmsnorm(x_mid))))
    grads[name + "mlp_fc2"] += dx_out.T @ layer.act
    dact = dx_out @ p[name + "mlp_fc2"]
    dpre = dact * (layer.pre > 0)
    grads[name + "mlp_fc1"] += dpre.T @ layer.h_mlp
    dh_mlp = dpre @ p[name + "mlp_fc1"]
    dx_mid = dx_out + rmsnorm_backward(layer.x_mid, dh_mlp)
    # x_mid = x_in + wo(attention(wq h, wk h, wv h)),  h = rmsnorm(x_in)
    grads[name + "attn_wo"] += dx_mid.T @ layer.heads
    dheads = dx_mid @ p[name + "attn_wo"]
    dq, dk, dv = causal_attention_backward(dheads, layer, n_head)
    grads[name + "attn_wq"] += dq.T @ layer.h_attn
    grads[name + "attn_wk"] += dk.T @ layer.h_attn
    grads[name + "attn_wv"] += dv.T @ layer.h_attn
    dh_attn = dq @ p[name + "attn_wq"] + dk @ p[name + "attn_wk"] + dv @ p[name + "attn_wv"]
    return dx_mid + rmsnorm_backward(layer.x_in, dh_attn)


def backward(params: Mapping[str, np.ndarray], config: Config, tape: Tape, dlogits: np.ndarray) -> Arrays:
    """dloss/dW for every parameter, given the forward's tape and dloss/dlogits (T, V)."""
    grads = {name: np.zeros_like(w, dtype=np.float64) for name, w in params.items()}
    x_last = tape.layers[-1].x_out if tape.layers else tape.x0
    grads["lm_head"] += dlogits.T @ x_last
    dx = dlogits @ params["lm_head"]
    for i in reversed(range(config.n_layer)):
        dx = _block_backward(params, i, tape.layers[i], dx, config.n_head, grads)
    dembed = rmsnorm_backward(tape.embed, dx)
    np.add.at(grads["wte"], tape.tokens, dembed)  # a token used twice gets both rows
    grads["wpe"][: len(tape.tokens)] += dembed
    return grads


def loss_and_grads(
    params: Params | Mapping[str, np.ndarray], config: Config, tokens: Sequence[int]
) -> tuple[float, Arrays]:
    """(loss, grads) of one training sequence; grads are float64 arrays by reference name."""
    p = as_arrays(params)
    inputs, targets = _inputs_and_targets(config, tokens)
    tape = forward_tape(p, config, inputs)
    value, dlogits = cross_entropy(tape.logits, targets)
    return value, backward(p, config, tape, dlogits)


# ============================================================================ adam


def adam_update(p, g, m, v, step: int, num_steps: int, hyper: AdamHyper = AdamHyper()):
    """One Adam update at 0-based `step` of a `num_steps` schedule, elementwise.

        lr_t  = lr (1 - step / num_steps)
        m     = b1 m + (1 - b1) g          m_hat = m / (1 - b1^(step+1))
        v     = b2 v + (1 - b2) g^2        v_hat = v / (1 - b2^(step+1))
        p     = p - lr_t m_hat / (sqrt(v_hat) + eps)
    Returns (p, m, v); works on floats and on arrays alike.
    """
    lr_t = hyper.lr * (1 - step / num_steps)
    m = hyper.beta1 * m + (1 - hyper.beta1) * g
    v = hyper.beta2 * v + (1 - hyper.beta2) * g**2
    m_hat = m / (1 - hyper.beta1 ** (step + 1))
    v_hat = v / (1 - hyper.beta2 ** (step + 1))
    p = p - lr_t * m_hat / (np.sqrt(v_hat) + hyper.eps)
    return p, m, v


# ============================================================================ training


def train(params: Params | Mapping[str, np.ndarray], config: Config, sequences: Sequence[Sequence[int]],
          schedule: Schedule, hyper: AdamHyper = AdamHyper(),
          moments: Moments | None = None) -> tuple[Arrays, Arrays, Arrays, list[float]]:
    """The schedule's steps: start_step .. stop - 1 of a run of num_steps.

    Step s: (loss, g) = loss_and_grads(sequences[s % len(sequences)]), then `adam_update`
    on every matrix with lr_t = lr (1 - s / num_steps). `params` is not modified;
    `moments` continue a stopped run (None: zeros).
    With batch_size B > 1, step s takes `batch_for_step(sequences, s, B)`: sequences
    s*B .. s*B + B - 1 (indices mod the number of sequences); its loss is the mean of
    their losses, so g is the mean of their gradients.
    Returns (params, m, v, losses) with float64 arrays by name; losses[i] is step start_step + i.
    """
    p = as_arrays(params)
    m = as_arrays(moments.m) if moments is not None else {k: np.zeros_like(a) for k, a in p.items()}
    v = as_arrays(moments.v) if moments is not None else {k: np.zeros_like(a) for k, a in p.items()}
    losses: list[float] = []
    for step in schedule.steps:
        value, grads = batch_loss_and_grads(p, config, batch_for_step(sequences, step, schedule.batch_size))
        for name in p:
            p[name], m[name], v[name] = adam_update(p[name], grads[name], m[name], v[name], step,
                                                    schedule.num_steps, hyper)
        losses.append(value)
    return p, m, v, losses


def batch_loss_and_grads(params, config: Config, batch: Sequence[Sequence[int]]) -> tuple[float, Arrays]:
    """The mean of the sequences' losses, and its gradient (the mean of their gradients).
    One sequence (the reference's step) is its own loss and gradient, untouched."""
    if len(batch) == 1:
        return loss_and_grads(params, config, batch[0])
    results = [loss_and_grads(params, config, tokens) for tokens in batch]
    value = float(np.mean([loss for loss, _ in results]))
    grads = {name: np.mean([g[name] for _, g in results], axis=0) for name in results[0][1]}
    return value, grads


# ============================================================================ sampling


def next_token_probs(logits: Sequence[float], temperature: float) -> np.ndarray:
    """softmax(logits / temperature): low temperature sharpens, high flattens."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature)


def sample_next(logits: Sequence[float], temperature: float, rng: random.Random) -> int:
    """One draw, exactly `rng.choices(range(V), weights=probs)[0]` (one rng.random() call)."""
    probs = next_token_probs(logits, temperature)
    return rng.choices(range(len(probs)), weights=[float(x) for x in probs])[0]


def generate(
    params: Params | Mapping[str, np.ndarray], config: Config, temperature: float, rng: random.Random
) -> list[int]:
    """One sample: from BOS, draw at positions 0 .. block_size-1, stop at BOS; ids without BOS.

    Position t's logits are the last row of `forward` over the tokens so far (BOS + drawn).
    """
    p = _model_arrays(params)
    tokens = [config.bos]
    drawn: list[int] = []
    for _ in range(config.block_size):
        token = sample_next(forward(p, config, tokens)[-1], temperature, rng)
        if token == config.bos:
            break
        drawn.append(token)
        tokens.append(token)
    return drawn
