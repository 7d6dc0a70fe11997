"""Golden traces: the first training steps of the reference recipe, computed by the oracle.

A golden trace pins down, with numbers, what the whole pipeline must produce on the shipped
names file: the shuffled document order, the initial weights, the losses of the first steps
and the parameters after them. The spec's training area replays a trace's recipe on a
backend and compares. The numbers come from `microgpt_spec.spec.oracle` (mathematics
checked against complex-step derivatives), never from a backend.

The recipe (the reference program's, with the shipped data/names.txt):

    docs = stripped non-empty lines of names.txt
    rng = random.Random(42); rng.shuffle(docs)
    chars = sorted(set(''.join(docs))); config.vocab_size = len(chars) + 1
    params = init_params(config, rng)              # the same rng, right after the shuffle
    steps 0 .. K-1 of a 1000-step Adam schedule; step s trains on docs[s % len(docs)]

Files (in data/golden/, described in data/golden/README.md):

    train-default.json   default model, 4 steps: summaries and 32 chosen parameters
    train-small.json     a 2-layer 8-wide model, block 6, 3 steps: every parameter before and after

Commands:

    python -m microgpt_spec.spec.golden            # regenerate data/golden/*.json
    python -m microgpt_spec.spec.golden --check    # exit 1 unless regenerating gives the same bytes

Floats are written rounded to 12 significant digits and sums are exact (`math.fsum`), so
the bytes do not depend on the order in which a machine's BLAS adds numbers - except, very
rarely, when a value sits right at a rounding boundary of the 12th digit; `--check` then
reports the size of the difference, which is far inside the stated tolerances.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from microgpt_spec import data as data_package
from microgpt_spec.files import write_atomically
from microgpt_spec.recipe import shuffled_documents
from microgpt_spec.spec import oracle
from microgpt_spec.spec.contract import AdamHyper, Config, Params, Schedule, param_shapes

#: Bumped whenever the layout or meaning of the trace files changes.
GOLDEN_FORMAT = 1
GENERATOR = "microgpt_spec.spec.golden"
REGENERATE_COMMAND = "python -m microgpt_spec.spec.golden"
CHECK_COMMAND = "python -m microgpt_spec.spec.golden --check"
GOLDEN_DIR: Path = data_package.GOLDEN_DIR

SEED = 42
NUM_STEPS = 1000  # the schedule's length: lr_t = lr * (1 - s / 1000), as in the reference run
SIGNIFICANT_DIGITS = 12
LOSS_RTOL = 1e-10
PARAM_ATOL = 1e-9
NUM_CHOSEN_ENTRIES = 32

TOLERANCE_WHY = (
    "A correct float64 backend differs from the oracle only in summation order (the order it "
    "adds numbers): "
    "about 1e-15 relative per gradient. Adam's first steps are well conditioned: a step moves "
    "a parameter by lr_t * m_hat / (sqrt(v_hat) + eps), about lr = 0.01 times a ratio of "
    "gradients, and is most sensitive to the gradient where it is near 0, with slope at most "
    "lr / eps = 1e6. Measured: perturbing every gradient by 1e-15 relative (plus 1e-17 "
    "absolute) moves the parameters after these steps by at most 7e-11 and the losses by at "
    "most 3e-12 relative. So losses agree to 1e-10 relative and parameters to 1e-9 absolute "
    "(also used for the per-matrix sums); a real mistake (a wrong gradient, a wrong Adam "
    "constant, a step on the wrong document) moves parameters by about lr = 1e-2. The values "
    "are written to 12 significant digits, well inside both tolerances. These tolerances are "
    "for float64 backends."
)


@dataclass(frozen=True)
class TraceSpec:
    """What one trace file records: which model, how many steps, and in how much detail."""

    name: str
    config: dict[str, int]  # Config fields other than vocab_size (that comes from the data)
    steps: int
    full_params: bool  # every parameter (small models) or summaries and chosen entries
    about: str


TRACES: dict[str, TraceSpec] = {
    spec.name: spec
    for spec in (
        TraceSpec(
            "train-default",
            {"n_layer": 1, "n_embd": 16, "n_head": 4, "block_size": 16},
            steps=4,
            full_params=False,
            about="The reference model (4,192 parameters with 27 tokens), its first 4 training steps: "
            "document order, first weights and per-matrix sums before; losses; per-matrix sums, "
            "sums of squares and 32 chosen parameters after.",
        ),
        TraceSpec(
            "train-small",
            {"n_layer": 2, "n_embd": 8, "n_head": 2, "block_size": 6},
            steps=3,
            full_params=True,
            about="A small two-layer model, its first 3 training steps: every parameter before and "
            "after, and the losses. block_size is 6, so all three names (6 or 7 characters, 7 or 8 "
            "targets) are cut to their first 6 positions: n = min(block_size, len(tokens) - 1).",
        ),
    )
}


class GoldenError(RuntimeError):
    """A trace cannot be used or rebuilt; the message says why and what to run."""


# ============================================================================ the recipe


@dataclass
class RunStart:
    """The state of a recipe's run just before the weights are drawn."""

    docs: list[str]  # the documents, shuffled
    chars: list[str]  # the vocabulary (sorted distinct characters)
    config: Config
    rng: random.Random  # right after the shuffle: `init_params(config, rng)` draws the weights

    @property
    def sequences(self) -> list[list[int]]:
        """Every document as the token ids it trains on, in shuffled order."""
        return [oracle.training_sequence(doc, self.chars) for doc in self.docs]


def _data_path(file_name: str) -> Path:
    return Path(data_package.__file__).parent / file_name


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_of_run(recipe: dict[str, Any]) -> RunStart:
    """Replay a trace's recipe up to the weight draws: load, check, shuffle, tokenize.

    Raises GoldenError if the data file is not the one the trace was made from.
    """
    path = _data_path(recipe["data_file"])
    if not path.is_file():
        raise GoldenError(f"the golden traces need {path}, which is missing")
    if _sha256(path) != recipe["data_sha256"]:
        raise GoldenError(
            f"{path} is not the file the golden traces were made from (sha256 "
            f"{recipe['data_sha256']}); if the change is intended, run `{REGENERATE_COMMAND}`"
        )
    docs, rng = shuffled_documents(data_package.load_docs(path), recipe["seed"])
    chars = oracle.vocabulary(docs)
    config = Config(**recipe["config"])
    if config.vocab_size != len(chars) + 1:
        raise GoldenError(
            f"the recipe's vocab_size {config.vocab_size} does not fit the data's {len(chars)} characters"
        )
    return RunStart(docs, chars, config, rng)


def recipe_config(recipe: dict[str, Any]) -> Config:
    return Config(**recipe["config"])


def recipe_hyper(recipe: dict[str, Any]) -> AdamHyper:
    return AdamHyper(**recipe["hyper"])


def initial_params(recipe: dict[str, Any]) -> Params:
    """The weights the recipe starts training from (the oracle's draws)."""
    start = start_of_run(recipe)
    return oracle.init_params(start.config, start.rng)


def load_trace(name: str, directory: Path | None = None) -> dict[str, Any]:
    """A golden trace by name ("train-default", "train-small"), as parsed JSON."""
    path = (directory or GOLDEN_DIR) / f"{name}.json"
    if not path.is_file():
        raise GoldenError(f"no golden trace {path}; run `{REGENERATE_COMMAND}`")
    trace = json.loads(path.read_text(encoding="utf-8"))
    if trace.get("format") != GOLDEN_FORMAT:
        raise GoldenError(
            f"{path} has format {trace.get('format')!r}, this code reads format {GOLDEN_FORMAT}; "
            f"run `{REGENERATE_COMMAND}`"
        )
    return trace


# ============================================================================ building a trace


def rounded(x: float) -> float:
    """x to SIGNIFICANT_DIGITS significant digits (what the files store)."""
    return float(f"{float(x):.{SIGNIFICANT_DIGITS}g}")


def chosen_entries(config: Config, count: int = NUM_CHOSEN_ENTRIES) -> list[tuple[str, int, int]]:
    """Fixed (name, row, col) positions spread over every matrix, rows and columns."""
    shapes = list(param_shapes(config).items())
    entries = []
    for k in range(count):
        name, (rows, cols) = shapes[k % len(shapes)]
        entries.append((name, (5 * k + 1) % rows, (3 * k + 2) % cols))
    return entries


def _matrix_sums(params: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: rounded(math.fsum(a.ravel().tolist())) for name, a in params.items()}


def _matrix_sums_of_squares(params: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: rounded(math.fsum((a.ravel() ** 2).tolist())) for name, a in params.items()}


def _full(params: dict[str, np.ndarray]) -> dict[str, list[list[float]]]:
    return {name: [[rounded(x) for x in row] for row in a.tolist()] for name, a in params.items()}


def _recipe(spec: TraceSpec, data_file: Path, vocab_size: int, num_docs: int) -> dict[str, Any]:
    return {
        "seed": SEED,
        "data_file": data_file.name,
        "data_sha256": _sha256(data_file),
        "num_docs": num_docs,
        "config": {"vocab_size": vocab_size, **spec.config},
        "num_steps": NUM_STEPS,
        "steps_run": spec.steps,
        "hyper": asdict(AdamHyper()),
        "how": "docs = stripped non-empty lines of data_file; rng = random.Random(seed); "
        "rng.shuffle(docs); vocab = sorted distinct characters (BOS = len(vocab)); "
        "params = init_params(config, rng) (same rng, gauss(0, 0.08) per weight, param_shapes "
        "order, row by row); then steps 0..steps_run-1 of a num_steps Adam schedule, "
        "step s on [BOS] + docs[s % num_docs] + [BOS], lr_t = lr * (1 - s / num_steps).",
    }


def build_trace(spec: TraceSpec, data_file: Path | None = None) -> dict[str, Any]:
    """Run the recipe with the oracle and collect what the trace file records."""
    data_file = data_file or _data_path("names.txt")
    docs = data_package.load_docs(data_file)
    recipe = _recipe(spec, data_file, len(oracle.vocabulary(docs)) + 1, len(docs))
    start = start_of_run(recipe)
    params = oracle.as_arrays(oracle.init_params(start.config, start.rng))
    sequences = start.sequences
    final, _, _, losses = oracle.train(
        params, start.config, sequences, Schedule(NUM_STEPS, stop_step=spec.steps), recipe_hyper(recipe)
    )
    trace: dict[str, Any] = {
        "format": GOLDEN_FORMAT,
        "generator": GENERATOR,
        "regenerate": REGENERATE_COMMAND,
        "check": CHECK_COMMAND,
        "about": spec.about,
        "tolerances": {"loss_rtol": LOSS_RTOL, "param_atol": PARAM_ATOL, "why": TOLERANCE_WHY},
        "recipe": recipe,
        "vocabulary": "".join(start.chars),
        "docs": start.docs[: spec.steps],
        "sequences": sequences[: spec.steps],
        "losses": [rounded(x) for x in losses],
    }
    if spec.full_params:
        trace["initial"] = {"params": _full(params)}
        trace["final"] = {"params": _full(final)}
    else:
        trace["initial"] = {
            "first_weights": [rounded(x) for x in params["wte"][0, :3]],
            "sums": _matrix_sums(params),
        }
        trace["final"] = {
            "sums": _matrix_sums(final),
            "sums_of_squares": _matrix_sums_of_squares(final),
            "entries_layout": ["name", "row", "col", "value"],
            "entries": [
                [name, row, col, rounded(final[name][row, col])] for name, row, col in chosen_entries(start.config)
            ],
        }
    return trace


# ============================================================================ writing


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float, str))


def render(obj: Any, indent: int = 0) -> str:
    """JSON with sorted keys and indent 1; a list of scalars stays on one line (a matrix row)."""
    inner = " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(key)}: {render(obj[key], indent + 1)}" for key in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and obj and not all(_is_scalar(x) for x in obj):
        items = [inner + render(x, indent + 1) for x in obj]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(obj, allow_nan=False)


def trace_text(spec: TraceSpec, data_file: Path | None = None) -> str:
    return render(build_trace(spec, data_file)) + "\n"


def write_traces(directory: Path | None = None) -> list[Path]:
    """Regenerate every trace file into `directory` (default data/golden/)."""
    directory = Path(directory or GOLDEN_DIR)
    paths = []
    for spec in TRACES.values():
        path = directory / f"{spec.name}.json"
        write_atomically(path, trace_text(spec))
        paths.append(path)
    return paths


# ============================================================================ checking


def _numbers(obj: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) for every leaf of a parsed JSON value."""
    if isinstance(obj, dict):
        for key in sorted(obj):
            yield from _numbers(obj[key], f"{where}.{key}")
    elif isinstance(obj, list):
        for i, x in enumerate(obj):
            yield from _numbers(x, f"{where}[{i}]")
    else:
        yield where, obj


def describe_difference(committed: str, fresh: str) -> str:
    """Say how two renderings of a trace differ: structure, or numbers and by how much."""
    try:
        old, new = json.loads(committed), json.loads(fresh)
    except json.JSONDecodeError as error:
        return f"the committed file is not valid JSON ({error})"
    old_leaves, new_leaves = list(_numbers(old)), list(_numbers(new))
    if [p for p, _ in old_leaves] != [p for p, _ in new_leaves]:
        return "the structure differs (different keys or list lengths)"
    changed = [(p, a, b) for (p, a), (_, b) in zip(old_leaves, new_leaves) if a != b]
    if not changed:
        return "the values are equal but the formatting differs"
    numeric = [(p, a, b) for p, a, b in changed if isinstance(a, float) and isinstance(b, float)]
    if len(numeric) < len(changed):
        p, a, b = next(c for c in changed if c not in numeric)
        return f"{len(changed)} values differ, e.g. {p}: {a!r} -> {b!r}"
    worst = max(numeric, key=lambda c: abs(c[1] - c[2]))
    lines = [f"{len(numeric)} numbers differ; largest: {worst[0]}: {worst[1]!r} -> {worst[2]!r} "
             f"(abs {abs(worst[1] - worst[2]):.2e})"]
    if all(abs(a - b) <= 1e-11 * max(1.0, abs(a)) for _, a, b in numeric):
        lines.append("only in the last written digit: a float64 rounding difference on this machine "
                     "(far inside the tolerances), not a change of meaning")
    return "; ".join(lines)


def check(directory: Path | None = None) -> list[str]:
    """Problems found when regenerating the traces in memory and comparing to `directory`."""
    directory = Path(directory or GOLDEN_DIR)
    problems = []
    for spec in TRACES.values():
        path = directory / f"{spec.name}.json"
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        committed, fresh = path.read_text(encoding="utf-8"), trace_text(spec)
        if committed != fresh:
            problems.append(f"{path}: regenerating does not give the committed bytes: "
                            f"{describe_difference(committed, fresh)}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE_COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the files, write nothing; exit 1 on a difference"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="the golden folder (default: data/golden/ of the package)"
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"golden traces are out of date: inspect, then run `{REGENERATE_COMMAND}`", file=sys.stderr)
            return 1
        print(f"golden traces are up to date ({len(TRACES)} files)")
        return 0
    for path in write_traces(args.dir):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
