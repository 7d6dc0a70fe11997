"""Drawing tokens from the model: temperature, softmax, and Python's `random.choices`."""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np

from microgpt_spec.spec.contract import Config

from .layers import gpt_step, softmax


def sample_next(logits: Sequence[float], temperature: float, rng: random.Random) -> int:
    """One id drawn with probabilities softmax(logits / temperature).

    The draw is `rng.choices(range(V), weights=probs)[0]` itself, so for the same rng
    state it picks exactly the id the reference picks from the same probabilities
    (cumulative weights, one `rng.random()`, bisect). The reference divides a logit by
    the temperature as `logit * temperature ** -1`; so does this.
    """
    logits = np.asarray(logits, dtype=np.float64)
    probs = softmax(logits * temperature**-1)
    return rng.choices(range(len(probs)), weights=probs.tolist())[0]


def generate(weights: dict[str, np.ndarray], config: Config, temperature: float, rng: random.Random) -> list[int]:
    """One sample: from BOS with an empty key/value cache, draw at positions
    0, 1, ... < block_size; drawing BOS ends it. The drawn ids, without BOS."""
    keys: list[list[np.ndarray]] = [[] for _ in range(config.n_layer)]
    values: list[list[np.ndarray]] = [[] for _ in range(config.n_layer)]
    token, drawn = config.bos, []
    for pos in range(config.block_size):
        logits = gpt_step(weights, config, token, pos, keys, values)
        token = sample_next(logits, temperature, rng)
        if token == config.bos:
            break
        drawn.append(token)
    return drawn
