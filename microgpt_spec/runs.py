"""What `train`, `sample` and `compare` share: backend and data loading, the long-document
policy, training in chunks that can always be saved, and drawing samples.

A run follows the reference recipe (`microgpt_spec.recipe`) step by step, but keeps its
state in a `Checkpoint` between chunks of steps, so that at any moment there is a complete,
consistent state to save:

    rng = random.Random(seed); rng.shuffle(docs)       # same draws as the reference
    tokenizer = build_tokenizer(docs); params = init_params(config, rng)
    state = Checkpoint(next_step=0, rng_state=rng.getstate(), m=0, v=0, ...)
    while state.next_step < num_steps:
        result = backend.train(state.params, ..., start_step=state.next_step,
                               stop_step=chunk_end, m=state.m, v=state.v)
        state = state.advanced(result...)               # save it every --save-every steps

The contract promises that steps a..b then b..c give the same numbers as a..c, so the
chunking changes nothing in the result; it only bounds what an interruption can lose.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from microgpt_spec.checkpoint import Checkpoint, CheckpointError, DataSource, load
from microgpt_spec.cli import CommandError
from microgpt_spec.data import NAMES_PATH, DataError, load_docs, sha256_of
from microgpt_spec.recipe import SHAPE_FIELDS, make_config, plain_copy
from microgpt_spec.registry import BackendLoadError, LoadedBackend, find_backend
from microgpt_spec.spec.contract import AdamHyper, Config, zeros_like

LONG_DOCS_POLICIES = ("truncate", "skip", "refuse")

#: A chunk of training steps aims to last about this long: what Ctrl-C can lose at most.
CHUNK_SECONDS = 1.0


# --------------------------------------------------------------------- option types
def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--n-layer --n-embd --n-head --block-size (None when not given)."""
    defaults = Config()
    for name in SHAPE_FIELDS:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=positive_int,
            metavar="N",
            help=f"model shape (default: {getattr(defaults, name)})",
        )


# --------------------------------------------------------------------- backends
def load_backend(spec: str) -> LoadedBackend:
    try:
        return find_backend(spec)
    except BackendLoadError as error:
        raise CommandError(str(error)) from None


# --------------------------------------------------------------------- documents
@dataclass
class Documents:
    """The documents of a run, in training order, and where they came from."""

    docs: list[str]
    source: DataSource
    notice: str  # what the long-document policy did ("" when every document fits)


def data_path(path: str | Path | None) -> Path:
    return (NAMES_PATH if path is None else Path(path)).resolve()


def read_docs(path: Path) -> list[str]:
    try:
        return load_docs(path)
    except DataError as error:
        raise CommandError(str(error)) from None


def fits(doc: str, block_size: int) -> bool:
    """Does [BOS] + doc + [BOS] fit the model's context?

    The model reads block_size positions and is scored on the token after each, so it sees
    at most block_size + 1 tokens: BOS, block_size - 1 characters, and the closing BOS.
    A longer document is cut: the model never learns where it ends.
    """
    return len(doc) + 1 <= block_size


def apply_long_docs(docs: list[str], block_size: int, policy: str, path: Path) -> tuple[list[str], str]:
    """The documents to train on under `policy`, and a one-line notice (or "")."""
    long_docs = [doc for doc in docs if not fits(doc, block_size)]
    if not long_docs:
        return docs, ""
    count = (
        f"{len(long_docs)} of {len(docs)} documents in {path} are longer than {block_size - 1} characters"
    )
    room = f"(block_size {block_size} holds BOS + {block_size - 1} characters + the closing BOS)"
    if policy == "refuse":
        longest = max(len(doc) for doc in long_docs)
        raise CommandError(
            f"{count} {room}, e.g. {long_docs[0][:40]!r}. Use --block-size {longest + 1} to fit them all, "
            "--long-docs truncate to train on their first block_size positions (what the reference "
            "does), or --long-docs skip to leave them out."
        )
    if policy == "skip":
        kept = [doc for doc in docs if fits(doc, block_size)]
        if not kept:
            raise CommandError(f"{count}: every one; --long-docs skip leaves nothing to train on")
        return kept, f"notice: {count} {room}; skipped them (--long-docs skip)."
    return docs, (
        f"notice: {count} {room}; training sees only their first {block_size} positions, as the "
        "reference does (--long-docs skip or refuse to change that)."
    )


def prepare_documents(
    path: Path, block_size: int, policy: str, seed: int
) -> tuple[Documents, random.Random]:
    """Read, apply the long-document policy, shuffle with a fresh `Random(seed)`.

    Returns the generator too: the reference draws the initial weights from the same one,
    right after the shuffle.
    """
    docs, notice = apply_long_docs(read_docs(path), block_size, policy, path)
    rng = random.Random(seed)
    rng.shuffle(docs)
    source = DataSource(path=str(path), sha256=sha256_of(path), num_docs=len(docs), long_docs=policy)
    return Documents(docs, source, notice), rng


def encode_all(tokenizer: Any, docs: Sequence[str]) -> list[list[int]]:
    try:
        return [list(tokenizer.sequence(doc)) for doc in docs]
    except (KeyError, ValueError) as error:
        raise CommandError(f"a document cannot be encoded: {error}") from None


def check_same_chars(expected: Sequence[str], found: Sequence[str], what: str) -> None:
    """Refuse a vocabulary other than the checkpoint's, naming the differing characters."""
    if list(expected) == list(found):
        return
    extra = "".join(sorted(set(found) - set(expected)))
    missing = "".join(sorted(set(expected) - set(found)))
    parts = []
    if extra:
        parts.append(f"characters outside the checkpoint's vocabulary: {extra!r}")
    if missing:
        parts.append(f"the checkpoint's characters {missing!r} do not occur")
    raise CommandError(
        f"{what} does not have the checkpoint's vocabulary of {len(expected)} characters: "
        + "; ".join(parts or ["the characters are in another order"])
    )


# --------------------------------------------------------------------- a fresh run
def config_overrides(args: Any) -> dict[str, int]:
    """The model options the user gave (--n-layer, --n-embd, --n-head, --block-size)."""
    return {name: getattr(args, name) for name in SHAPE_FIELDS if getattr(args, name, None) is not None}


def build_config(vocab_size: int, overrides: dict[str, int]) -> Config:
    try:
        return make_config(vocab_size, overrides)
    except ValueError as error:
        raise CommandError(f"the model options do not make a valid model: {error}") from None


def fresh_state(
    backend: LoadedBackend,
    documents: Documents,
    rng: random.Random,
    overrides: dict[str, int],
    num_steps: int,
    seed: int,
) -> Checkpoint:
    """Step 0 of a new run: the tokenizer, the config and the initial weights, drawn as the
    reference draws them (from `rng`, right after the shuffle)."""
    tokenizer = backend.backend.build_tokenizer(documents.docs)
    config = build_config(tokenizer.vocab_size, overrides)
    params = plain_copy(backend.backend.init_params(config, rng))
    return Checkpoint(
        config=config,
        chars=list(tokenizer.chars),
        seed=seed,
        num_steps=num_steps,
        next_step=0,
        hyper=AdamHyper(),
        data=documents.source,
        rng_state=rng.getstate(),
        params=params,
        m=zeros_like(params),
        v=zeros_like(params),
        written_by=f"microgpt-spec, backend {backend.name} {backend.version}",
    )


# --------------------------------------------------------------------- training in chunks
class Interrupted(Exception):
    """Ctrl-C or kill arrived; `state` is the last complete state (to be saved)."""

    def __init__(self, state: Checkpoint) -> None:
        super().__init__(f"interrupted; last complete step {state.next_step}")
        self.state = state


def next_chunk_end(step: int, until: int, save_every: int, steps_per_second: float) -> int:
    """Where the chunk starting at `step` stops: at the next save, at `until`, or after
    about CHUNK_SECONDS of work, whichever comes first (at least one step)."""
    next_save = (step // save_every + 1) * save_every
    by_time = step + max(1, int(steps_per_second * CHUNK_SECONDS))
    return min(until, next_save, by_time)


def train_in_chunks(
    backend: Any,
    state: Checkpoint,
    sequences: Sequence[Sequence[int]],
    *,
    until: int,
    save_every: int,
    on_step: Callable[[int, float], None],
    on_save: Callable[[Checkpoint], None],
) -> Checkpoint:
    """Advance `state` to step `until`, saving at every multiple of `save_every`.

    Ctrl-C (KeyboardInterrupt) anywhere raises `Interrupted` with the last complete state;
    a loss that is not finite raises `Diverged` (a CommandError) with the state before it.
    The caller saves either state.
    """
    steps_per_second = 0.0  # unknown yet: the first chunk is a single step
    try:
        while state.next_step < until:
            first = state.next_step
            stop = next_chunk_end(first, until, save_every, steps_per_second)
            started = time.perf_counter()
            # `state` is replaced only once a chunk is complete: it is always consistent.
            state = run_chunk(backend, state, sequences, stop, on_step)
            steps_per_second = (stop - first) / max(time.perf_counter() - started, 1e-9)
            if state.next_step % save_every == 0 or state.next_step == until:
                on_save(state)
    except KeyboardInterrupt:
        raise Interrupted(state) from None
    return state


def run_chunk(
    backend: Any,
    state: Checkpoint,
    sequences: Sequence[Sequence[int]],
    stop: int,
    on_step: Callable[[int, float], None],
) -> Checkpoint:
    """Steps state.next_step .. stop-1 through the contract's `train`; the new state."""
    seconds: list[float] = []
    last = time.perf_counter()

    def step_done(step: int, loss: float) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds.append(now - last)
        last = now
        on_step(step, loss)

    result = backend.train(
        state.params, state.config, sequences, state.num_steps,
        hyper=state.hyper, start_step=state.next_step, stop_step=stop,
        m=state.m, v=state.v, on_step=step_done,
    )  # fmt: skip
    losses = [float(x) for x in result.losses]
    expected = stop - state.next_step
    if len(losses) != expected:
        raise CommandError(f"the backend returned {len(losses)} losses for {expected} steps")
    if len(seconds) != expected:  # a backend that does not call on_step: share the time out
        seconds = [(time.perf_counter() - last) / expected] * expected
    check_finite(losses, state)
    return state.advanced(
        plain_copy(result.params), plain_copy(result.m), plain_copy(result.v), losses, seconds
    )


class Diverged(CommandError):
    """A loss is not finite; `state` is the last state before it."""

    def __init__(self, message: str, state: Checkpoint) -> None:
        super().__init__(message)
        self.state = state


def check_finite(losses: Sequence[float], state: Checkpoint) -> None:
    for offset, loss in enumerate(losses):
        if not math.isfinite(loss):
            raise Diverged(
                f"training diverged: the loss of step {state.next_step + offset + 1} is {loss}; "
                f"the last state before that chunk (step {state.next_step}) is saved",
                state,
            )


# --------------------------------------------------------------------- sampling
def draw_samples(
    backend: Any, state: Checkpoint, n: int, temperature: float, rng: random.Random
) -> list[str]:
    """n names from the checkpoint's weights, each drawn with the backend's `generate`.

    The ids are turned into characters with the checkpoint's own `chars`, so any backend
    can sample any checkpoint.
    """
    names = []
    for _ in range(n):
        ids = list(backend.generate(state.params, state.config, temperature, rng))
        names.append(decode(ids, state.chars))
    return names


def decode(ids: Sequence[int], chars: Sequence[str]) -> str:
    bos = len(chars)
    bad = [i for i in ids if not (isinstance(i, int) or hasattr(i, "__index__")) or not 0 <= int(i) <= bos]
    if bad:
        raise CommandError(f"the backend's generate returned token ids outside 0..{bos}: {bad[:5]}")
    return "".join(chars[int(i)] for i in ids if int(i) != bos)


def check_temperature(temperature: float) -> None:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise CommandError(f"--temperature must be a positive number, got {temperature}")


def load_checkpoint(path: str | Path) -> Checkpoint:
    try:
        return load(path)
    except CheckpointError as error:
        raise CommandError(str(error)) from None
