"""Drawing tokens from the model: temperature, softmax, and Python's `random.choices`."""

from __future__ import annotations

import random
from typing import Any, Sequence

import torch

from microgpt_spec.spec.contract import Config

from .model import MicroGPT


def sample_next(logits: Sequence[float] | torch.Tensor, temperature: float, rng: random.Random) -> int:
    """`rng.choices(range(V), weights=softmax(logits / temperature))[0]`.

    The weights are worked out in float64 whatever the backend's precision: the draw
    is a yes/no decision at each cumulative weight, and doing it at full precision is
    what lets the same logits give the same id on every backend.
    """
    if isinstance(logits, torch.Tensor):
        z = logits.detach().to("cpu", torch.float64)
    else:
        z = torch.tensor(logits, dtype=torch.float64)
    probs = torch.softmax(z * temperature**-1, dim=-1)  # the reference's z / T is z * T**-1
    return rng.choices(range(len(probs)), weights=probs.tolist())[0]


def generate(model: MicroGPT, config: Config, temperature: float, rng: random.Random) -> list[int]:
    """From BOS with an empty key/value cache, draw at positions 0, 1, ... < block_size;
    drawing BOS ends it. The drawn ids, without BOS."""
    keys: list[list[Any]] = [[] for _ in range(config.n_layer)]
    values: list[list[Any]] = [[] for _ in range(config.n_layer)]
    token, drawn = config.bos, []
    for pos in range(config.block_size):
        token = sample_next(model.step(token, pos, keys, values), temperature, rng)
        if token == config.bos:
            break
        drawn.append(token)
    return drawn
