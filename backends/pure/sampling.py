"""Sampling: draw names from the trained model, one token at a time."""

from __future__ import annotations

import random
from typing import Sequence

from microgpt_spec.backends.scalar import cyclic_gc_paused
from microgpt_spec.spec.contract import Config

from .engine import Value
from .model import Weights, empty_cache, gpt, softmax


def sample_next(logits: Sequence[Value], temperature: float, rng: random.Random) -> int:
    """Draw one token id with probabilities softmax(logits / temperature).

    temperature < 1 sharpens the distribution (safer, more common names), > 1 flattens it.
    `rng.choices` turns one `rng.random()` into an id via the cumulative weights.
    """
    probs = softmax([z / temperature for z in logits])
    return rng.choices(range(len(probs)), weights=[p.data for p in probs])[0]


def generate(weights: Weights, config: Config, temperature: float, rng: random.Random) -> list[int]:
    """One sample: start from BOS with an empty cache, feed each drawn token back in,
    stop at BOS or after block_size positions. Returns the drawn ids, BOS left out."""
    keys, values = empty_cache(config)
    token = config.bos
    drawn: list[int] = []
    with cyclic_gc_paused():  # speed only: see scalar.cyclic_gc_paused
        for pos in range(config.block_size):
            logits = gpt(weights, config, token, pos, keys, values)
            token = sample_next(logits, temperature, rng)
            if token == config.bos:
                break
            drawn.append(token)
    return drawn
