"""What `train`, `sample` and `compare` share: backend and data loading, the long-document
policy, training in chunks that can always be saved, and drawing samples.

A run follows the reference recipe (`microgpt_spec.recipe`) step by step, but keeps its
state in a `Checkpoint` between chunks of steps, so that at any moment there is a complete,
consistent state to save:

    rng = random.Random(seed); rng.shuffle(docs)       # same draws as the reference
    tokenizer = build_tokenizer(docs); params = init_params(config, rng)
    state = Checkpoint(next_step=0, rng_state=rng.getstate(), m=0, v=0, ...)
    while state.next_step < num_steps:
        result = backend.train(state.params, ..., Schedule(num_steps, state.next_step,
                               chunk_end), moments=Moments(state.m, state.v))
        state = state.advanced(result...)               # save it every --save-every steps

The contract promises that steps a..b then b..c give the same numbers as a..c, so the
chunking changes nothing in the result; it only bounds what an interruption can lose.

Two options go beyond the reference (each is the reference when left at its default):

* a batch (`batch_size` B > 1): step s trains on sequences s*B .. s*B+B-1 (mod their
  number) with the mean of their losses, through the contract's `Schedule(batch_size=B)`;
* a held-out set (`holdout` fraction f > 0): after the shuffle, the last round(f * n) of
  the n documents are held out; training sees only the first n - round(f * n). The seed
  fixes the shuffle, so it fixes the split. The tokenizer and the initial weights still
  come from all n documents exactly as in the reference, so a run with a holdout starts
  from the reference's weights. `evaluate` scores the model on the held-out documents and
  on as many training documents.
"""

from __future__ import annotations

import math
import random
import re
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from microgpt_spec.checkpoint import Checkpoint, CheckpointError, DataSource, Evaluation, load
from microgpt_spec.data import NAMES_PATH, DataError, load_docs, sha256_of
from microgpt_spec.recipe import make_config, plain_copy, shuffled_documents
from microgpt_spec.progress import SessionClock
from microgpt_spec.registry import BackendLoadError, LoadedBackend, find_backend, registered_backends
from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AREA_METHODS, AREAS, AdamHyper, Config, Moments, Params, Schedule
from microgpt_spec.spec.contract import TrainResult, zeros_like

LONG_DOCS_POLICIES = ("truncate", "skip", "refuse")


class RunError(Exception):
    """A run cannot start or go on (data that does not fit, a part not written, a backend
    that breaks the contract); the message says why, for a person. The command line shows
    it as it is; the run itself knows nothing of the command line."""

#: A chunk of training steps aims to last about this long: what Ctrl-C can lose at most.
CHUNK_SECONDS = 1.0


# --------------------------------------------------------------------- backends
def load_backend(spec: str) -> LoadedBackend:
    try:
        return find_backend(spec)
    except BackendLoadError as error:
        raise RunError(str(error)) from None


def backend_to_record(spec: str) -> str:
    """How a checkpoint names its backend so that `--resume` finds it again, maybe from
    another folder: a file or folder by its absolute path, a registered name or a module
    as given."""
    path_part, colon, attribute = spec.rpartition(":")
    if colon and path_part.endswith(".py") and Path(path_part).is_file():
        return f"{Path(path_part).resolve()}:{attribute}"
    if spec not in registered_backends() and Path(spec).exists():
        return str(Path(spec).resolve())
    return spec


# --------------------------------------------------------------------- parts not written yet
#: "AREA: PART..." at the start of a NotImplementedError's message, as the contract's base
#: class, the student stub and the new-backend scaffold write them.
PART_MESSAGE = re.compile(r"\s*(?P<area>\w+):\s*(?P<part>[A-Za-z_][\w.]*)")


def call_part(backend: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """backend.method(*args, **kwargs), where a part not written yet (NotImplementedError,
    or no such method at all) ends the command with one message naming it."""
    part = contract_method(backend, method)
    with parts_written(method):
        return part(*args, **kwargs)


def contract_method(backend: Any, method: str) -> Callable[..., Any]:
    """backend.method; a backend without it has not written that part (a plain object
    need not subclass the contract's base class)."""
    try:
        return getattr(backend, method)
    except AttributeError:
        raise RunError(not_written(method, "")) from None


@contextmanager
def parts_written(method: str) -> Iterator[None]:
    """Inside the block, NotImplementedError becomes a RunError that says which part
    is missing and which area of the spec to finish first (`method` is the contract
    method the block calls)."""
    try:
        yield
    except NotImplementedError as error:
        raise RunError(not_written(method, str(error))) from None


def not_written(method: str, message: str) -> str:
    """'training: init_params is not implemented yet; finish the training area first', or,
    when the part that raised is one that `method` uses, both names and the area of the
    missing one."""
    area = next((a for a, methods in AREA_METHODS.items() if method in methods), "training")
    named = PART_MESSAGE.match(message)
    if named is None or named["area"] not in AREAS or named["part"] == method:
        return f"{area}: {method} is not implemented yet; finish the {area} area first"
    return (
        f"{area}: {method} uses {named['part']}, which is not implemented yet; "
        f"finish the {named['area']} area first"
    )


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
        raise RunError(str(error)) from None


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
        raise RunError(
            f"{count} {room}, e.g. {long_docs[0][:40]!r}. Use --block-size {longest + 1} to fit them all, "
            "--long-docs truncate to train on their first block_size positions (what the reference "
            "does), or --long-docs skip to leave them out."
        )
    if policy == "skip":
        kept = [doc for doc in docs if fits(doc, block_size)]
        if not kept:
            raise RunError(f"{count}: every one; --long-docs skip leaves nothing to train on")
        return kept, f"notice: {count} {room}; skipped them (--long-docs skip)."
    return docs, (
        f"notice: {count} {room}; training sees only their first {block_size} positions, as the "
        "reference does (--long-docs skip or refuse to change that)."
    )


def prepare_documents(
    path: Path, block_size: int, policy: str, seed: int, holdout: float = 0.0
) -> tuple[Documents, random.Random]:
    """Read, apply the long-document policy, shuffle with a fresh `Random(seed)`, and
    mark the last round(holdout * n) documents as held out (see `split`).

    Returns the generator too: the reference draws the initial weights from the same one,
    right after the shuffle.
    """
    docs, notice = apply_long_docs(read_docs(path), block_size, policy, path)
    docs, rng = shuffled_documents(docs, seed)
    source = DataSource(
        path=str(path),
        sha256=sha256_of(path),
        num_docs=len(docs),
        long_docs=policy,
        holdout=holdout,
        heldout_docs=heldout_count(len(docs), holdout),
    )
    return Documents(docs, source, notice), rng


def heldout_count(num_docs: int, holdout: float) -> int:
    """round(holdout * num_docs): how many documents a --holdout fraction keeps back.

    Refuses a fraction that holds out nothing (but is not 0) or leaves nothing to train on.
    """
    count = round(holdout * num_docs)
    if holdout > 0 and count == 0:
        raise RunError(
            f"--holdout {holdout} of {num_docs} documents holds out none: give a larger fraction or 0"
        )
    if count >= num_docs:
        raise RunError(f"--holdout {holdout} of {num_docs} documents leaves none to train on")
    return count


def split(items: Sequence[Any], source: DataSource) -> tuple[list[Any], list[Any]]:
    """(training, held out): the held-out items are the last `source.heldout_docs`.

    `items` are the documents in shuffled order (or their token sequences)."""
    cut = source.training_docs
    return list(items[:cut]), list(items[cut:])


def encode_all(tokenizer: Any, docs: Sequence[str]) -> list[list[int]]:
    try:
        with parts_written("build_tokenizer"):  # the tokenizer's own methods are that part's
            return [list(tokenizer.sequence(doc)) for doc in docs]
    except (KeyError, ValueError) as error:
        raise RunError(f"a document cannot be encoded: {error}") from None


def build_tokenizer(backend: Any, docs: Sequence[str]) -> Any:
    """The backend's tokenizer of `docs`, with its characters at hand (`.chars`)."""
    with parts_written("build_tokenizer"):
        tokenizer = call_part(backend, "build_tokenizer", docs)
        list(tokenizer.chars)
    return tokenizer


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
    raise RunError(
        f"{what} does not have the checkpoint's vocabulary of {len(expected)} characters: "
        + "; ".join(parts or ["the characters are in another order"])
    )


# --------------------------------------------------------------------- a fresh run
def build_config(vocab_size: int, overrides: dict[str, int]) -> Config:
    try:
        return make_config(vocab_size, overrides)
    except ValueError as error:
        raise RunError(f"the model options do not make a valid model: {error}") from None


def fresh_state(backend: LoadedBackend, documents: Documents, rng: random.Random, overrides: dict[str, int],
                num_steps: int, seed: int, batch_size: int = 1) -> Checkpoint:
    """Step 0 of a new run: the tokenizer, the config and the initial weights, drawn as the
    reference draws them (from `rng`, right after the shuffle).

    The tokenizer sees every document, held-out ones included: the vocabulary, hence the
    model's shape and its initial weights, do not depend on the split."""
    tokenizer = build_tokenizer(backend.backend, documents.docs)
    config = build_config(tokenizer.vocab_size, overrides)
    params = plain_copy(call_part(backend.backend, "init_params", config, rng))
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
        batch_size=batch_size,
        backend=backend_to_record(backend.spec),
    )


# --------------------------------------------------------------------- training in chunks
class Interrupted(Exception):
    """Ctrl-C or kill arrived; `state` is the last complete state (to be saved)."""

    def __init__(self, state: Checkpoint) -> None:
        super().__init__(f"interrupted; last complete step {state.next_step}")
        self.state = state


def next_multiple(step: int, every: int | None) -> float:
    """The first multiple of `every` after `step` (infinity when `every` is None)."""
    return math.inf if every is None else (step // every + 1) * every


def next_chunk_end(
    step: int, until: int, save_every: int, steps_per_second: float, eval_every: int | None = None
) -> int:
    """Where the chunk starting at `step` stops: at the next save or evaluation, at
    `until`, or after about CHUNK_SECONDS of work, whichever comes first (at least one step)."""
    by_time = step + max(1, int(steps_per_second * CHUNK_SECONDS))
    return int(min(until, next_multiple(step, save_every), next_multiple(step, eval_every), by_time))


def train_in_chunks(backend: Any, state: Checkpoint, sequences: Sequence[Sequence[int]], *, until: int,
                    save_every: int, on_step: Callable[[int, float], None],
                    on_save: Callable[[Checkpoint], None], eval_every: int | None = None,
                    on_eval: Callable[[Checkpoint], Checkpoint] | None = None,
                    clock: SessionClock | None = None) -> Checkpoint:
    """Advance `state` to step `until`, saving at every multiple of `save_every`, and
    replacing the state by `on_eval(state)` (which records an evaluation) at every
    multiple of `eval_every`, before that step's save.

    Each step's recorded time is a lap of `clock`: a save counts in the step after it, an
    evaluation (run with the clock paused) in none.

    Ctrl-C (KeyboardInterrupt) anywhere raises `Interrupted` with the last complete state;
    a loss that is not finite raises `Diverged` (a RunError) with the state before it.
    The caller saves either state.
    """
    clock = clock or SessionClock()
    steps_per_second = 0.0  # unknown yet: the first chunk is a single step
    try:
        while state.next_step < until:
            first = state.next_step
            stop = next_chunk_end(first, until, save_every, steps_per_second, eval_every)
            # `state` is replaced only once a chunk is complete: it is always consistent.
            state = run_chunk(backend, state, sequences, stop, on_step, clock)
            steps_per_second = (stop - first) / max(sum(state.step_seconds[first:]), 1e-9)
            if on_eval is not None and eval_every and state.next_step % eval_every == 0:
                with clock.paused():
                    state = on_eval(state)
            if state.next_step % save_every == 0 or state.next_step == until:
                on_save(state)
    except KeyboardInterrupt:
        raise Interrupted(state) from None
    return state


def run_chunk(backend: Any, state: Checkpoint, sequences: Sequence[Sequence[int]], stop: int,
              on_step: Callable[[int, float], None], clock: SessionClock) -> Checkpoint:
    """Steps state.next_step .. stop-1 through the contract's `train`; the new state."""
    seconds: list[float] = []

    def step_done(step: int, loss: float) -> None:
        seconds.append(clock.lap())
        on_step(step, loss)

    schedule = Schedule(state.num_steps, state.next_step, stop, state.batch_size)
    result = call_train(backend, state.params, state.config, sequences, schedule, hyper=state.hyper,
                        moments=Moments(state.m, state.v), on_step=step_done)
    losses = [float(x) for x in result.losses]
    expected = stop - state.next_step
    if len(losses) != expected:
        raise RunError(f"the backend returned {len(losses)} losses for {expected} steps")
    if len(seconds) != expected:  # a backend that does not call on_step: share the time out
        seconds = [(sum(seconds) + clock.lap()) / expected] * expected
    check_finite(losses, state)
    return state.advanced(
        plain_copy(result.params), plain_copy(result.m), plain_copy(result.v), losses, seconds
    )


def call_train(backend: Any, params: Params, config: Config, sequences: Sequence[Sequence[int]],
               schedule: Schedule, *, hyper: AdamHyper, moments: Moments | None = None,
               on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """The contract's `train` (any contract version: `contract.call_train`), for a command.

    A part not written yet ends the command with one message naming it; so does a backend
    that has no batches when the schedule asks for them, whichever contract it speaks."""
    contract_method(backend, "train")  # a backend without train: the missing-part message
    try:
        return contract.call_train(backend, params, config, sequences, schedule, hyper=hyper, moments=moments,
                                   on_step=on_step)
    except NotImplementedError as error:
        if schedule.batch_size > 1:
            raise RunError(no_batches(backend, f"its train raised NotImplementedError: {error}")) from None
        raise RunError(not_written("train", str(error))) from None


def no_batches(backend: Any, why: str) -> str:
    name = getattr(backend, "name", type(backend).__name__)
    return (
        f"backend {name} cannot train batches ({why}). Use --batch-size 1 (the reference step) "
        "or a backend with batches, e.g. --backend numpy."
    )


class Diverged(RunError):
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


# --------------------------------------------------------------------- throughput
def scored_positions(sequence: Sequence[int], block_size: int) -> int:
    """How many positions a sequence is scored on: min(block_size, len(sequence) - 1)."""
    return min(block_size, len(sequence) - 1)


class StepTokens:
    """The tokens (scored positions) of each step: step s trains on sequences
    s*B .. s*B+B-1, mod their number (the contract's batch rule; B = 1 is the reference),
    so it has sum_j min(block_size, len(sequences[(s*B + j) % n]) - 1) tokens.

    Counts are computed once and kept: a run's files are rewritten at every save."""

    def __init__(self, sequences: Sequence[Sequence[int]], block_size: int, batch_size: int) -> None:
        self.positions = [scored_positions(seq, block_size) for seq in sequences]
        self.batch_size = batch_size
        self.counts: list[int] = []

    def of_step(self, step: int) -> int:
        n, first = len(self.positions), step * self.batch_size
        return sum(self.positions[(first + j) % n] for j in range(self.batch_size))

    def first(self, steps: int) -> list[int]:
        """The counts of steps 0 .. steps - 1."""
        self.counts.extend(self.of_step(s) for s in range(len(self.counts), steps))
        return self.counts[:steps]

    def per_second(self, seconds: Sequence[float]) -> float:
        """Tokens per second over the first len(seconds) steps, given each step's time."""
        return sum(self.first(len(seconds))) / max(sum(seconds), 1e-12)


# --------------------------------------------------------------------- held-out evaluation
def mean_document_loss(backend: Any, params: Params, config: Config, sequences: Sequence[Sequence[int]],
                       hyper: AdamHyper, batch_size: int = 1) -> float:
    """(1/n) * sum over the n sequences of each sequence's mean loss, weights unchanged.

    The contract's only loss of a whole model is `loss_and_grads`, one sequence per call,
    which also builds every gradient. `train` with a learning rate of 0 computes the same
    losses and can do it B sequences at a time: its update `p -= 0 * m_hat / (...)` leaves
    every weight exactly as it was, so each step scores the same model, and the step loss
    of a batch is the mean of its sequences' mean losses. The sequences are cut into
    n // B full batches (one step each) and, if n is not a multiple of B, one last step
    whose batch is the r = n mod B left over:

        mean = (B * sum(full batch losses) + r * last loss) / n
    """
    frozen = replace(hyper, lr=0.0)
    full = len(sequences) // batch_size * batch_size
    total = 0.0
    if full:
        steps = full // batch_size
        result = call_train(backend, params, config, sequences[:full], Schedule(steps, batch_size=batch_size),
                            hyper=frozen)
        total += batch_size * sum(float(x) for x in result.losses)
    rest = len(sequences) - full
    if rest:
        result = call_train(backend, params, config, sequences[full:], Schedule(1, batch_size=rest), hyper=frozen)
        total += rest * float(result.losses[0])
    return total / len(sequences)


def training_sample(training: Sequence[Any], size: int) -> list[Any]:
    """`size` training items spread evenly over the (shuffled) list: item i * n // size.

    The list is already in random order, so an even spread is a random sample, and it
    takes every part of the training order (early and late steps) alike."""
    n = len(training)
    size = min(size, n)
    return [training[i * n // size] for i in range(size)]


def evaluate(
    backend: Any, state: Checkpoint, training: Sequence[Sequence[int]], heldout: Sequence[Sequence[int]]
) -> Evaluation:
    """The model of `state` scored on every held-out sequence and on as many training ones."""
    sample = training_sample(training, len(heldout))
    heldout_loss, train_loss = (
        mean_document_loss(backend, state.params, state.config, seqs, state.hyper, state.batch_size)
        for seqs in (heldout, sample)
    )
    return Evaluation(
        step=state.next_step, heldout_loss=heldout_loss, train_loss=train_loss, docs=len(heldout)
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
        ids = list(call_part(backend, "generate", state.params, state.config, temperature, rng))
        names.append(decode(ids, state.chars))
    return names


def decode(ids: Sequence[int], chars: Sequence[str]) -> str:
    bos = len(chars)
    bad = [i for i in ids if not (isinstance(i, int) or hasattr(i, "__index__")) or not 0 <= int(i) <= bos]
    if bad:
        raise RunError(f"the backend's generate returned token ids outside 0..{bos}: {bad[:5]}")
    return "".join(chars[int(i)] for i in ids if int(i) != bos)


def check_temperature(temperature: float) -> None:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise RunError(f"--temperature must be a positive number, got {temperature}")


def load_checkpoint(path: str | Path, *, with_history: bool = True) -> Checkpoint:
    try:
        return load(path, with_history=with_history)
    except CheckpointError as error:
        raise RunError(str(error)) from None
