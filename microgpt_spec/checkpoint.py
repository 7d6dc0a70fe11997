"""Checkpoints: a whole training run's state in one backend-neutral JSON file.

A checkpoint holds everything needed to sample from a model, or to continue its training
run so that the result is bit for bit the result of a run that was never stopped:

    format, format_version   "microgpt-spec checkpoint", FORMAT_VERSION
    written_by               program and backend that wrote it (information only)
    config                   vocab_size, n_layer, n_embd, n_head, block_size
    chars                    the tokenizer's characters: id i is chars[i], BOS is len(chars)
    seed                     the run's seed (the shuffle and the initial weights come from it)
    num_steps, next_step     the schedule's length, and the 0-based step to run next
    batch_size               documents per step (1: the reference's step)
    adam                     lr, beta1, beta2, eps
    data                     the documents' file (absolute path and sha256), how many there
                             were, the --long-docs policy that was applied to them, and the
                             --holdout fraction with the number of documents it held out
    rng_state                the random generator's state after the weights were drawn:
                             training draws nothing, so this is where sampling continues
    backend                  the backend that trained it, as `--backend` finds it again (a
                             registered name, a module, or a file's absolute path); `train
                             --resume` continues on it unless told otherwise
    history                  the name of the history file (below)
    evals                    held-out evaluations so far: after how many steps, the mean
                             loss of the held-out documents and of as many training ones
    params, m, v             the weights and Adam's two moment estimates, by the reference
                             names and shapes (`param_shapes(config)`), rows of floats

Each step's loss and wall time (`losses`, `step_seconds`: the run's history) go to a
second file beside it, `checkpoint.history.csv` for `checkpoint.json`: a header
`step,loss,seconds`, then one line per step. A run saves every few steps; rewriting a
history of 20,000 steps at every save cost more than the training, so `CheckpointWriter`
appends only the steps since its last save. The history is written first and the JSON
after it, and only the first `next_step` lines count, so a run stopped between the two
(or during the append) still loads. Sampling needs only the JSON file.

JSON is plain text that every language reads, and Python writes a float's shortest repr,
which reads back as exactly the same float: nothing is rounded on the way through (the
history's CSV holds the same reprs).
Format version 1 had no batch_size, holdout or evals: such a checkpoint reads as batch 1,
nothing held out, no evaluations (which is what it was). Versions 1 and 2 held the history
in the JSON (`losses`, `step_seconds`) and no backend; they still load.
The JSON is written atomically (see `microgpt_spec.files`). `load` checks everything
above and raises one `CheckpointError` that names the problem.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from microgpt_spec import __version__, files
from microgpt_spec.artifacts import GrowingFile, interrupts_deferred
from microgpt_spec.spec.contract import AdamHyper, Config, Params, check_params

FORMAT = "microgpt-spec checkpoint"
FORMAT_VERSION = 3
#: The checkpoint's file name inside a run folder.
FILENAME = "checkpoint.json"
#: The history beside it (see `history_file`), and its first line.
HISTORY_FILENAME = "checkpoint.history.csv"
HISTORY_HEADER = "step,loss,seconds\n"

CONFIG_FIELDS = ("vocab_size", "n_layer", "n_embd", "n_head", "block_size")


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class DataSource:
    """Where a run's documents came from, so `--resume` can read the very same ones."""

    path: str
    sha256: str
    num_docs: int  # after the long-document policy, held-out documents included
    long_docs: str
    holdout: float = 0.0  # the --holdout fraction
    heldout_docs: int = 0  # how many documents it held out: round(holdout * num_docs)

    @property
    def training_docs(self) -> int:
        return self.num_docs - self.heldout_docs


@dataclass(frozen=True)
class Evaluation:
    """The model after `step` steps, scored on `docs` held-out documents and on as many
    training documents: each score is the mean over documents of each document's mean loss."""

    step: int
    heldout_loss: float
    train_loss: float
    docs: int


@dataclass
class Checkpoint:
    """A training run's state between two steps (see the module doc for each field)."""

    config: Config
    chars: list[str]
    seed: int
    num_steps: int
    next_step: int
    hyper: AdamHyper
    data: DataSource
    rng_state: tuple
    params: Params
    m: Params
    v: Params
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    written_by: str = ""
    batch_size: int = 1
    evals: list[Evaluation] = field(default_factory=list)
    backend: str = ""  # how to load the backend that trained it ("": not recorded)

    @property
    def complete(self) -> bool:
        return self.next_step >= self.num_steps

    def rng(self) -> random.Random:
        """A generator in the state training left it: the reference's sampling draws."""
        rng = random.Random()
        rng.setstate(self.rng_state)
        return rng

    def advanced(
        self, params: Params, m: Params, v: Params, losses: list[float], seconds: list[float]
    ) -> "Checkpoint":
        """The state after `len(losses)` more steps."""
        return replace(
            self,
            params=params,
            m=m,
            v=v,
            next_step=self.next_step + len(losses),
            losses=self.losses + list(losses),
            step_seconds=self.step_seconds + list(seconds),
        )

    def evaluated(self, evaluation: Evaluation) -> "Checkpoint":
        """The same state with one more evaluation recorded."""
        return replace(self, evals=self.evals + [evaluation])

    @property
    def last_evaluation(self) -> Evaluation | None:
        return self.evals[-1] if self.evals else None


# --------------------------------------------------------------------- paths
def checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """A run folder means the checkpoint inside it; a file path means that file."""
    path = Path(path)
    return path / FILENAME if path.is_dir() or not path.suffix else path


def history_file(path: str | os.PathLike[str]) -> Path:
    """The history beside a checkpoint: checkpoint.json -> checkpoint.history.csv."""
    file = checkpoint_file(path)
    return file.with_name(f"{file.stem}.history.csv")


# --------------------------------------------------------------------- saving
def to_json(checkpoint: Checkpoint, history_name: str = HISTORY_FILENAME) -> dict[str, Any]:
    """The checkpoint as JSON-ready data, small fields first, the weights last (the
    history, `losses` and `step_seconds`, goes to the file `history_name`)."""
    version, internal, gauss_next = checkpoint.rng_state
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": checkpoint.written_by or f"microgpt-spec {__version__}",
        "config": {name: getattr(checkpoint.config, name) for name in CONFIG_FIELDS},
        "chars": list(checkpoint.chars),
        "seed": checkpoint.seed,
        "num_steps": checkpoint.num_steps,
        "next_step": checkpoint.next_step,
        "batch_size": checkpoint.batch_size,
        "adam": asdict(checkpoint.hyper),
        "data": asdict(checkpoint.data),
        "rng_state": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "backend": checkpoint.backend,
        "history": history_name,
        "evals": [asdict(evaluation) for evaluation in checkpoint.evals],
        "params": _plain(checkpoint.params),
        "m": _plain(checkpoint.m),
        "v": _plain(checkpoint.v),
    }


def _plain(params: Params) -> Params:
    return {name: [[float(x) for x in row] for row in rows] for name, rows in params.items()}


def dumps(checkpoint: Checkpoint, **to_json_options: Any) -> str:
    """JSON text with one top-level field per line (so `head` shows the small ones)."""
    compact = dict(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    fields = to_json(checkpoint, **to_json_options)
    lines = [f"{json.dumps(key)}: {json.dumps(value, **compact)}" for key, value in fields.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def history_line(checkpoint: Checkpoint, s: int) -> str:
    """Line s (0-based step) of the history file."""
    return f"{s + 1},{float(checkpoint.losses[s])!r},{float(checkpoint.step_seconds[s])!r}\n"


class CheckpointWriter:
    """Saves one run's checkpoint again and again: the history file grows by the steps
    since the last save (the first save writes it whole), then the JSON is replaced
    atomically. Nothing is written if the state holds a value that is not finite."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.file = checkpoint_file(path)
        self.history = GrowingFile(history_file(self.file), HISTORY_HEADER)

    def save(self, checkpoint: Checkpoint) -> Path:
        new = slice(self.history.lines_on_disk or 0, checkpoint.next_step)  # the steps not on disk yet
        if not all(map(math.isfinite, (*checkpoint.losses[new], *checkpoint.step_seconds[new]))):
            raise CheckpointError("cannot save a checkpoint whose history holds a value that is not finite")
        try:
            text = dumps(checkpoint, history_name=self.history.path.name)
        except ValueError as error:  # allow_nan=False: a weight is inf or nan
            raise CheckpointError(
                f"cannot save a checkpoint holding a value that is not finite ({error})"
            ) from None
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.history.sync(lambda s: history_line(checkpoint, s), checkpoint.next_step)
        with interrupts_deferred():  # Ctrl-C during a save: the save ends first, then the run
            return files.write_atomically(self.file, text)


def save(checkpoint: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write the checkpoint to `path` (a run folder or a file) and its whole history
    beside it. To save a growing run again and again, use one `CheckpointWriter`."""
    return CheckpointWriter(path).save(checkpoint)


# --------------------------------------------------------------------- loading
def load(path: str | os.PathLike[str], *, with_history: bool = True) -> Checkpoint:
    """Read and check a checkpoint; any problem raises one CheckpointError.

    with_history=False reads the JSON file alone (enough to sample): `losses` and
    `step_seconds` are then empty whatever `next_step` says."""
    file = checkpoint_file(path)
    data = _read_json(file)
    try:
        state = from_json(data)
        if not with_history:
            return replace(state, losses=[], step_seconds=[])
        if data["format_version"] < 3:  # the history is in the JSON
            return state
        losses, seconds = read_history(file.with_name(data["history"]), state.next_step)
        return replace(state, losses=losses, step_seconds=seconds)
    except CheckpointError as error:
        raise CheckpointError(f"{file}: {error}") from None


def read_history(path: Path, steps: int) -> tuple[list[float], list[float]]:
    """The first `steps` lines of a history file (lines after them are a save that did
    not finish, and do not count): each step's loss and seconds."""
    losses, seconds = [], []
    try:
        with path.open(encoding="utf-8") as lines:
            if steps and next(lines, "") != HISTORY_HEADER:
                raise CheckpointError(f"its history {path} does not start with {HISTORY_HEADER.strip()!r}")
            for s, line in zip(range(steps), lines):
                loss, took = _history_line(line, s, path)
                losses.append(loss)
                seconds.append(took)
    except FileNotFoundError:
        if steps:
            raise CheckpointError(
                f"its history {path} (each step's loss) is missing; sampling needs only the "
                "checkpoint, but resuming needs both"
            ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"its history {path} cannot be read: {error}") from None
    if len(losses) < steps:
        raise CheckpointError(f"its history {path} has {len(losses)} steps of the {steps} done")
    return losses, seconds


def _history_line(line: str, s: int, path: Path) -> tuple[float, float]:
    cells = line.rstrip("\n").split(",")
    try:
        step, loss, took = int(cells[0]), float(cells[1]), float(cells[2])
    except (ValueError, IndexError):
        step = None
    if step != s + 1 or len(cells) != 3 or not (math.isfinite(loss) and math.isfinite(took)):
        raise CheckpointError(f"line {s + 2} of its history {path} is not step {s + 1}'s: {line.strip()!r}")
    return loss, took


def _read_json(file: Path) -> dict[str, Any]:
    if not file.exists():
        raise CheckpointError(f"no checkpoint at {file}")
    if file.is_dir():
        raise CheckpointError(f"{file} is a folder, not a checkpoint file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(f"{file} is not a microgpt-spec checkpoint (it is not UTF-8 text)") from None
    except OSError as error:
        raise CheckpointError(f"{file} cannot be read: {error.strerror}") from None
    if not text.strip():
        raise CheckpointError(f"{file} is empty: not a checkpoint")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{file} is truncated or corrupted (it stops being valid JSON at line {error.lineno}, "
            f"column {error.colno}, of {len(text)} characters); it cannot be used"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f'{file} is not a microgpt-spec checkpoint (no "format": "{FORMAT}")')
    return data


def from_json(data: dict[str, Any]) -> Checkpoint:
    """The inverse of `to_json`, checking every field. From version 3 on, the history
    (`losses`, `step_seconds`) is in its own file: `load` reads it; here it is empty."""
    version = _check_version(data)
    missing = [key for key in to_json_keys(version) if key not in data]
    if missing:
        raise CheckpointError(f"fields missing: {', '.join(missing)}")
    config = _config(data["config"])
    chars = _chars(data["chars"], config)
    params, m, v = (_matrices(data, key, config) for key in ("params", "m", "v"))
    next_step, num_steps = _int(data, "next_step", 0), _int(data, "num_steps", 1)
    if next_step > num_steps:
        raise CheckpointError(f"next_step {next_step} is past num_steps {num_steps}")
    losses, seconds = _inline_history(data, version, next_step)
    backend = data.get("backend", "")
    history = data.get("history", "")
    if not isinstance(backend, str):
        raise CheckpointError(f"backend must be text, got {backend!r}")
    if version >= 3 and not (isinstance(history, str) and history and Path(history).name == history):
        raise CheckpointError(f"history must name a file beside the checkpoint, got {history!r}")
    batch_size = _int(data, "batch_size", 1) if "batch_size" in data else 1
    return Checkpoint(
        config=config,
        chars=chars,
        seed=_int(data, "seed", None),
        num_steps=num_steps,
        next_step=next_step,
        hyper=_hyper(data["adam"]),
        data=_data_source(data["data"]),
        rng_state=_rng_state(data["rng_state"]),
        params=params,
        m=m,
        v=v,
        losses=losses,
        step_seconds=seconds,
        written_by=str(data.get("written_by", "")),
        batch_size=batch_size,
        evals=_evals(data.get("evals", []), next_step),
        backend=backend,
    )


def _inline_history(data: dict[str, Any], version: int, next_step: int) -> tuple[list[float], list[float]]:
    """Versions 1 and 2: (losses, step_seconds) from the JSON. Later: two empty lists."""
    if version >= 3:
        return [], []
    losses, seconds = _floats(data, "losses"), _floats(data, "step_seconds")
    if len(losses) != next_step or len(seconds) != next_step:
        raise CheckpointError(
            f"it records {len(losses)} losses and {len(seconds)} step times for {next_step} steps done"
        )
    return losses, seconds


def to_json_keys(version: int = FORMAT_VERSION) -> tuple[str, ...]:
    """The fields a checkpoint of format `version` must have."""
    keys = (
        "config", "chars", "seed", "num_steps", "next_step", "adam", "data", "rng_state", "params", "m", "v",
    )  # fmt: skip
    history = ("history", "backend") if version >= 3 else ("losses", "step_seconds")
    return keys + history + (("batch_size", "evals") if version >= 2 else ())


def _check_version(data: dict[str, Any]) -> int:
    version = data.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError("format_version is missing")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"format version {version} is newer than this program reads ({FORMAT_VERSION}); "
            "upgrade microgpt-spec"
        )
    if version < 1:
        raise CheckpointError(f"format version {version} is not a valid version")
    return version


def _config(raw: Any) -> Config:
    if not isinstance(raw, dict) or set(raw) != set(CONFIG_FIELDS):
        raise CheckpointError(
            f"config must have exactly the fields {', '.join(CONFIG_FIELDS)}, got {raw!r}"
        )
    try:
        return Config(**raw)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"its config is not valid: {error}") from None


def _chars(raw: Any, config: Config) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(c, str) and len(c) == 1 for c in raw):
        raise CheckpointError("chars must be a list of single characters")
    if raw != sorted(set(raw)):
        raise CheckpointError("chars must be sorted and distinct (the tokenizer's order)")
    if len(raw) + 1 != config.vocab_size:
        raise CheckpointError(
            f"its {len(raw)} characters make a vocabulary of {len(raw) + 1} (with BOS), "
            f"but its config says vocab_size {config.vocab_size}"
        )
    return list(raw)


def _matrices(data: dict[str, Any], key: str, config: Config) -> Params:
    raw = data[key]
    if not isinstance(raw, dict) or not all(
        isinstance(rows, list) and all(isinstance(row, list) for row in rows) for rows in raw.values()
    ):
        raise CheckpointError(f"{key} must map each parameter name to a list of rows")
    if not all(
        isinstance(x, (int, float)) and not isinstance(x, bool)
        for rows in raw.values()
        for row in rows
        for x in row
    ):
        raise CheckpointError(f"{key} holds something that is not a number")
    try:
        check_params(raw, config)
    except ValueError as error:
        raise CheckpointError(f"{key} does not match its config: {error}") from None
    return {name: [[float(x) for x in row] for row in rows] for name, rows in raw.items()}


def _int(data: dict[str, Any], key: str, minimum: int | None) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise CheckpointError(f"{key} must be an integer{bound}, got {value!r}")
    return value


def _floats(data: dict[str, Any], key: str) -> list[float]:
    values = data[key]
    if not isinstance(values, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in values
    ):
        raise CheckpointError(f"{key} must be a list of numbers")
    return [float(x) for x in values]


def _hyper(raw: Any) -> AdamHyper:
    names = ("lr", "beta1", "beta2", "eps")
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise CheckpointError(f"adam must have exactly the fields {', '.join(names)}")
    if not all(isinstance(raw[n], (int, float)) and math.isfinite(raw[n]) for n in names):
        raise CheckpointError("adam's settings must be finite numbers")
    return AdamHyper(**{n: float(raw[n]) for n in names})


def _data_source(raw: Any) -> DataSource:
    try:
        source = DataSource(**raw)
    except TypeError:
        raise CheckpointError(
            "data must have the fields path, sha256, num_docs, long_docs (and holdout, heldout_docs)"
        ) from None
    if not (
        isinstance(source.path, str) and isinstance(source.sha256, str) and isinstance(source.num_docs, int)
    ):
        raise CheckpointError("data.path and data.sha256 must be text, data.num_docs an integer")
    if not (
        isinstance(source.holdout, (int, float))
        and 0 <= source.holdout < 1
        and isinstance(source.heldout_docs, int)
        and 0 <= source.heldout_docs < source.num_docs
    ):
        raise CheckpointError(
            "data.holdout must be a fraction in [0, 1) and data.heldout_docs a count below num_docs"
        )
    return replace(source, holdout=float(source.holdout))


def _evals(raw: Any, next_step: int) -> list[Evaluation]:
    """Each evaluation: a step in 0..next_step, two finite losses, a positive count."""
    if not isinstance(raw, list):
        raise CheckpointError("evals must be a list")
    evaluations = []
    for entry in raw:
        try:
            evaluation = Evaluation(**entry)
        except TypeError:
            raise CheckpointError(
                "each of evals must have the fields step, heldout_loss, train_loss, docs"
            ) from None
        numbers_ok = all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            for x in (evaluation.heldout_loss, evaluation.train_loss)
        )
        counts_ok = all(isinstance(x, int) for x in (evaluation.step, evaluation.docs))
        if not (numbers_ok and counts_ok and 0 <= evaluation.step <= next_step and evaluation.docs > 0):
            raise CheckpointError(f"evals holds an entry that does not fit a run at step {next_step}: {entry!r}")
        evaluations.append(
            replace(evaluation, heldout_loss=float(evaluation.heldout_loss), train_loss=float(evaluation.train_loss))
        )
    return evaluations


def _rng_state(raw: Any) -> tuple:
    """A `random.Random` state: (version, 625 ints, gauss_next), tried on a generator."""
    try:
        state = (raw["version"], tuple(raw["internal"]), raw["gauss_next"])
        random.Random().setstate(state)
    except (TypeError, KeyError, ValueError, OverflowError):
        raise CheckpointError("rng_state is not a state of Python's random generator") from None
    return state
