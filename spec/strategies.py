"""Hypothesis strategies shared by the spec's areas.

Small and composable: a test builds what it needs from these (a config, then parameters
for that config, then a token sequence that fits it). Big blocks of numbers (a model's
parameters) come from a drawn seed rather than from thousands of drawn floats, so
examples stay fast and the failing example is still reproducible from its seed.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from microgpt_spec.spec.contract import Config, Params, param_shapes

LOWERCASE = "abcdefghijklmnopqrstuvwxyz"


def reals(low: float = -10.0, high: float = 10.0) -> st.SearchStrategy[float]:
    """Finite floats in [low, high]."""
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def positive_reals(low: float = 1e-3, high: float = 100.0) -> st.SearchStrategy[float]:
    return reals(low, high)


def vectors(size: int | st.SearchStrategy[int], elements=None) -> st.SearchStrategy[list[float]]:
    """Lists of `size` floats (a fixed size, or one drawn from a strategy)."""
    elements = elements if elements is not None else reals()
    if isinstance(size, int):
        return st.lists(elements, min_size=size, max_size=size)
    return size.flatmap(lambda n: st.lists(elements, min_size=n, max_size=n))


def matrices(rows: int, cols: int, elements=None) -> st.SearchStrategy[list[list[float]]]:
    return st.lists(vectors(cols, elements), min_size=rows, max_size=rows)


@st.composite
def configs(
    draw,
    max_layers: int = 2,
    max_heads: int = 4,
    max_head_dim: int = 4,
    max_block: int = 8,
    max_vocab: int = 8,
) -> Config:
    """Small model shapes: every knob of the config moves, so no size is special-cased."""
    n_head = draw(st.integers(1, max_heads))
    head_dim = draw(st.integers(1, max_head_dim))
    return Config(
        vocab_size=draw(st.integers(2, max_vocab)),
        n_layer=draw(st.integers(1, max_layers)),
        n_embd=n_head * head_dim,
        n_head=n_head,
        block_size=draw(st.integers(1, max_block)),
    )


def random_params(config: Config, seed: int, scale: float = 0.3) -> Params:
    """Parameters drawn N(0, scale) from `seed`: reproducible, any size."""
    rng = random.Random(seed)
    return {
        name: [[rng.gauss(0.0, scale) for _ in range(cols)] for _ in range(rows)]
        for name, (rows, cols) in param_shapes(config).items()
    }


@st.composite
def params_for(draw, config: Config) -> Params:
    """Parameters for `config`, from a drawn seed and scale."""
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.08, 0.3, 1.0]))
    return random_params(config, seed, scale)


def token_sequences(config: Config, min_size: int = 2, max_size: int | None = None):
    """Token id lists for `config`: BOS first, as training sequences start."""
    max_size = max_size if max_size is not None else config.block_size + 3
    body = st.lists(st.integers(0, config.vocab_size - 1), min_size=min_size - 1, max_size=max_size - 1)
    return body.map(lambda ids: [config.bos] + ids)


def names(alphabet: str = LOWERCASE, min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


def documents(alphabet: str = LOWERCASE, min_docs: int = 1, max_docs: int = 8):
    """A small corpus: a list of non-empty documents."""
    return st.lists(names(alphabet), min_size=min_docs, max_size=max_docs)
