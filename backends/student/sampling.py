"""Sampling: draw names from the trained model, one token at a time.

YOU WRITE: `sample_next` and `generate` (spec area `sampling`).

    pytest --pyargs microgpt_spec.conformance --backend=YOUR_FOLDER --area=sampling
"""

from __future__ import annotations

# Imported for you: your code uses them.
import random
from typing import Sequence

from microgpt_spec.backends.scalar import cyclic_gc_paused
from microgpt_spec.spec.contract import Config

from .engine import Value
from .model import Weights, empty_cache, gpt, softmax


def sample_next(logits: Sequence[Value], temperature: float, rng: random.Random) -> int:
    """Draw one token id with probabilities softmax(logits / temperature).

        probs = softmax([z / temperature for z in logits])
        return rng.choices(range(len(probs)), weights=[p.data for p in probs])[0]

    temperature < 1 sharpens the distribution (safer, more common names), > 1 flattens it.
    Use exactly `rng.choices(...)[0]` with the rng you were given: it turns one
    `rng.random()` into an id through the cumulative weights, and the spec replays the same
    draw from the same rng state. No other use of the rng, and never the global `random`.

    Example: logits = [0, ln 3] at temperature 1 gives probs [0.25, 0.75]; an rng whose
    next random() is 0.1 draws id 0, one whose next random() is 0.6 draws id 1.
    """
    raise NotImplementedError(
        "sampling: sample_next: rng.choices(range(V), weights=softmax(logits / temperature))[0]"
    )


def generate(weights: Weights, config: Config, temperature: float, rng: random.Random) -> list[int]:
    """One sample: the ids of one made-up name (BOS left out).

        keys, values = empty_cache(config)
        token = config.bos                        every name starts after BOS
        for pos in range(config.block_size):      at most block_size positions
            logits = gpt(weights, config, token, pos, keys, values)
            token = sample_next(logits, temperature, rng)
            if token is BOS: stop                 drawing BOS ends the name
            otherwise keep it and feed it back in at the next position

    Example: draws e, m, m, a, BOS give [4, 12, 12, 0] ("emma").
    (`with cyclic_gc_paused():` around the loop makes it faster; optional.)
    """
    raise NotImplementedError(
        "sampling: generate: from BOS with an empty cache, feed each drawn id back in, stop at "
        "BOS or after block_size positions; return the drawn ids without BOS"
    )
