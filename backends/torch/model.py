"""The GPT as a torch `nn.Module`, and the contract's matrices in and out of it.

Each matrix of the contract is the weight of a standard torch layer of the same shape:
`nn.Linear(nin, nout, bias=False).weight` is nout x nin and computes
`y[o] = sum_i W[o][i] x[i]`, the spec's `linear`; `nn.Embedding(rows, n_embd).weight` is a
table whose row `token` is `wte[token]`. The modules are named so that a parameter's torch
name is the contract's name plus ".weight" (`layer0.attn_wq` -> `layer0.attn_wq.weight`).

Two forward passes, the same mathematics:

* `forward(tokens)`: every position of a batch of sequences at once. Causality comes from
  the causal mask of `scaled_dot_product_attention` (position t sees positions <= t).
  Used by the loss and training.
* `step(token, pos, keys, values)`: ONE position, with a key/value cache that grows by
  one entry per layer and call: the contract's `gpt`, and sampling. Causality comes
  from the cache holding only the positions seen so far.

Both follow the reference: x = rmsnorm(wte[token] + wpe[pos]); per layer
x = x + attn_wo(attention(rmsnorm(x))), x = x + mlp_fc2(relu(mlp_fc1(rmsnorm(x))));
logits = lm_head(x), with no final norm.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from microgpt_spec.spec.contract import Config, Params, check_params, param_shapes

#: rmsnorm's epsilon: x * (mean(x**2) + 1e-5) ** -0.5.
RMS_EPS = 1e-5


# --------------------------------------------------------------------- the layers
def rmsnorm(x: torch.Tensor) -> torch.Tensor:
    """x * (mean(x**2) + 1e-5) ** -0.5 over the last axis (torch's `rms_norm`, no weight)."""
    return F.rms_norm(x, (x.shape[-1],), eps=RMS_EPS)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n_head: int, causal: bool) -> torch.Tensor:
    """Multi-head attention over the last two axes (..., T, C) of q, k, v.

    Head h owns dims [h*d, (h+1)*d), d = C / n_head:
        w[t, s] = softmax_s(q_h[t] . k_h[s] / sqrt(d))    (s <= t only, when causal)
        out_h[t] = sum_s w[t, s] v_h[s]
    and the heads are concatenated. `scaled_dot_product_attention` computes exactly this,
    1/sqrt(d) being its default scale.
    """
    *lead, t_q, c = q.shape
    d = c // n_head

    def split(x: torch.Tensor) -> torch.Tensor:  # (..., T, C) -> (..., H, T, d)
        return x.unflatten(-1, (n_head, d)).transpose(-3, -2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    return out.transpose(-3, -2).reshape(*lead, t_q, c)


class Block(nn.Module):
    """One transformer layer: an attention block, then an MLP block, each with a residual."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.attn_wq = nn.Linear(n_embd, n_embd, bias=False)
        self.attn_wk = nn.Linear(n_embd, n_embd, bias=False)
        self.attn_wv = nn.Linear(n_embd, n_embd, bias=False)
        self.attn_wo = nn.Linear(n_embd, n_embd, bias=False)
        self.mlp_fc1 = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.mlp_fc2 = nn.Linear(4 * n_embd, n_embd, bias=False)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """mlp_fc2(relu(mlp_fc1(x))): widen 4x, keep the positive part, narrow back."""
        return self.mlp_fc2(F.relu(self.mlp_fc1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All positions of (B, T, C) at once, causally."""
        h = rmsnorm(x)
        heads = attention(self.attn_wq(h), self.attn_wk(h), self.attn_wv(h), self.n_head, causal=True)
        x = x + self.attn_wo(heads)
        return x + self.mlp(rmsnorm(x))

    def step(self, x: torch.Tensor, keys: list[Any], values: list[Any]) -> torch.Tensor:
        """One position (C,): append its key and value to the cache, attend over the cache."""
        h = rmsnorm(x)
        keys.append(self.attn_wk(h))
        values.append(self.attn_wv(h))
        q = self.attn_wq(h).unsqueeze(0)  # (1, C): one query
        heads = attention(q, torch.stack(keys), torch.stack(values), self.n_head, causal=False)
        x = x + self.attn_wo(heads.squeeze(0))
        return x + self.mlp(rmsnorm(x))


class MicroGPT(nn.Module):
    """The reference model: token and position embeddings, `n_layer` blocks, an output head."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        for i in range(config.n_layer):
            self.add_module(f"layer{i}", Block(config.n_embd, config.n_head))

    @property
    def blocks(self) -> list[Block]:
        return [getattr(self, f"layer{i}") for i in range(self.config.n_layer)]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, V) for token ids (B, T): position t predicts token t + 1."""
        positions = torch.arange(tokens.shape[-1], device=tokens.device)
        x = rmsnorm(self.wte(tokens) + self.wpe(positions))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(x)

    def step(self, token: int, pos: int, keys: list[list[Any]], values: list[list[Any]]) -> torch.Tensor:
        """Logits (V,) after `token` at position `pos`; grows each layer's cache by one."""
        x = rmsnorm(self.wte.weight[token] + self.wpe.weight[pos])
        for block, layer_keys, layer_values in zip(self.blocks, keys, values):
            x = block.step(x, layer_keys, layer_values)
        return self.lm_head(x)


# --------------------------------------------------------------------- contract <-> module
def torch_name(name: str) -> str:
    """The torch parameter name of a contract matrix: `layer0.attn_wq` -> `layer0.attn_wq.weight`."""
    return name + ".weight"


def build(params: Params, config: Config, dtype: torch.dtype, device: torch.device) -> MicroGPT:
    """A `MicroGPT` holding `params` (nested lists or arrays), in `dtype` on `device`.

    The module is made on the "meta" device (shapes only, no memory, no random init) and
    then given tensors made from `params`: the contract's weights, not torch's init.
    """
    check_params(params, config)
    with torch.device("meta"):
        model = MicroGPT(config)
    weights = {torch_name(name): as_tensor(params[name], dtype, device) for name in param_shapes(config)}
    model.load_state_dict(weights, assign=True)
    return model


def as_tensor(matrix: Sequence[Sequence[float]] | Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A matrix (nested lists, NumPy array or tensor) as a fresh tensor of `dtype`."""
    if isinstance(matrix, torch.Tensor):
        return matrix.detach().to(dtype=dtype, device=device, copy=True)
    return torch.tensor(matrix, dtype=dtype, device=device)


def to_params(model: MicroGPT, which: str = "data") -> Params:
    """The module's weights (or, with which="grad", their gradients) as the contract's lists."""
    out: Params = {}
    for name, (rows, cols) in param_shapes(model.config).items():
        parameter = model.get_parameter(torch_name(name))
        tensor = parameter if which == "data" else parameter.grad
        out[name] = [[0.0] * cols for _ in range(rows)] if tensor is None else to_lists(tensor)
    return out


def to_lists(tensor: torch.Tensor) -> list:
    """A tensor as nested lists of Python floats (the contract's plain data)."""
    return tensor.detach().to("cpu", torch.float64).tolist()
