"""The reference recipe: microgpt's whole run, on any backend, through the contract only.

    rng = random.Random(seed)            # one generator for everything, like random.seed(42)
    shuffle the documents with rng
    tokenizer, config (vocab from the tokenizer), init weights with rng
    train num_steps steps, one document per step
    draw n_samples names with the same rng

With the defaults and makemore's names.txt, a faithful backend reproduces the original
program's numbers (see shared/reference-semantics.md): step-1 loss 3.3659669475848504,
step-1000 loss 2.6496944697407585, samples "kamon", "ann", "karai", ...
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from microgpt_spec.spec.contract import Config, Params, Schedule, TrainResult, call_train

#: The Config fields a caller may override; vocab_size always comes from the tokenizer.
SHAPE_FIELDS = ("n_layer", "n_embd", "n_head", "block_size")


@dataclass
class RunResult:
    """Everything a reference run produced, in the order it produced it."""

    chars: list[str]  # the tokenizer's characters (id i is chars[i])
    config: Config
    docs: list[str]  # the documents in training order (after the shuffle)
    initial_params: Params
    train: TrainResult
    samples: list[str]


def make_config(vocab_size: int, overrides: Mapping[str, int] | None = None) -> Config:
    """The reference Config with `vocab_size` and any of SHAPE_FIELDS overridden."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(SHAPE_FIELDS))
    if unknown:
        raise ValueError(f"config overrides may only set {SHAPE_FIELDS}, got {unknown}")
    return Config(vocab_size=vocab_size, **overrides)


def shuffled_documents(docs: Iterable[str], seed: int) -> tuple[list[str], random.Random]:
    """The recipe's first step, which every run and every golden trace starts with: one
    `random.Random(seed)` shuffles the documents, and the same generator, right after,
    draws the initial weights (and later the samples). Returns both."""
    rng = random.Random(seed)
    docs = list(docs)
    rng.shuffle(docs)
    return docs, rng


def plain_copy(params: Params) -> Params:
    """A copy of `params` as nested lists of plain floats (from lists or arrays)."""
    return {name: [[float(x) for x in row] for row in rows] for name, rows in params.items()}


def reference_run(
    backend: Any,
    docs: Iterable[str],
    *,
    seed: int = 42,
    num_steps: int = 1000,
    n_samples: int = 20,
    temperature: float = 0.5,
    config: Mapping[str, int] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> RunResult:
    """Shuffle, tokenize, init, train and sample, drawing every random number from one
    `random.Random(seed)` in the reference's order."""
    docs, rng = shuffled_documents(docs, seed)
    tokenizer = backend.build_tokenizer(docs)
    run_config = make_config(tokenizer.vocab_size, config)
    params = backend.init_params(run_config, rng)
    initial_params = plain_copy(params)  # a snapshot, whatever train does to `params`
    sequences = [tokenizer.sequence(doc) for doc in docs]
    result = call_train(backend, params, run_config, sequences, Schedule(num_steps), on_step=on_step)
    samples = [
        tokenizer.decode(backend.generate(result.params, run_config, temperature, rng))
        for _ in range(n_samples)
    ]
    return RunResult(
        chars=list(tokenizer.chars),
        config=run_config,
        docs=docs,
        initial_params=initial_params,
        train=result,
        samples=samples,
    )
