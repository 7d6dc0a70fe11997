"""Train the same run on several backends and put the results side by side.

    microgpt-spec compare --backends pure numpy --steps 200

Every backend starts from the same initial weights (drawn once, by the first backend, as
the reference draws them), the same shuffled documents and the same token ids, and
trains --steps steps of the reference schedule (the learning rate falls linearly to 0
over --steps). Then the command prints, one column per backend:

  total time         wall time of the whole `train` call
  time per step      the median step, the first one left out (it carries whatever
                     set-up the backend does inside `train`, such as torch's start-up);
                     for a program backend (c, js) each step includes the round trip
                     of its on_step to this process (benchmarks/bench_backends.py's
                     "one call" column leaves it out)
  steps per second   1 / time per step
  speed vs FIRST     how many times faster a step is than the first backend's (FIRST's
                     time per step divided by this one's)
  final loss         the loss of the last step
  max |loss diff|    the largest difference from the first backend's loss at the same
                     step, over all steps, and the step where it happens: 0 or ~1e-15
                     for two faithful float64 backends, growing along the run for a
                     float32 one or a backend with a bug
  max |param diff|   the largest difference of a weight after training

and a few steps' losses side by side. Files in --out (default runs/compare):
compare.csv (per step: each backend's loss and wall time) and compare.png (every
backend's loss curve and running mean on one plot).
"""

from __future__ import annotations

import argparse
import statistics
import csv
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from microgpt_spec import files
from microgpt_spec.artifacts import plot_losses
from microgpt_spec.checkpoint import Checkpoint
from microgpt_spec.cli import CommandError
from microgpt_spec.progress import progress_display
from microgpt_spec.recipe import plain_copy
from microgpt_spec.registry import LoadedBackend
from microgpt_spec.commands._options import add_model_arguments, config_overrides, positive_int
from microgpt_spec.runs import (
    LONG_DOCS_POLICIES,
    build_tokenizer,
    call_train,
    check_same_chars,
    data_path,
    encode_all,
    fresh_state,
    load_backend,
    prepare_documents,
)
from microgpt_spec.spec.contract import Config, Schedule, num_params

NAME = "compare"
HELP = "train several backends from the same start and compare losses and speed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backends",
        nargs="+",
        required=True,
        metavar="BACKEND",
        help="two or more backends; the first is the one the others are compared with",
    )
    parser.add_argument(
        "--steps", type=positive_int, metavar="N", default=200, help="training steps (default: 200)"
    )
    parser.add_argument(
        "--data", metavar="PATH", help="one document per line, UTF-8 (default: the shipped data/names.txt)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        default=42,
        help="seed of the shuffle and the initial weights (default: 42)",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--long-docs",
        choices=LONG_DOCS_POLICIES,
        default="truncate",
        help="documents longer than block_size - 1 characters (default: truncate)",
    )
    parser.add_argument("--out", default="runs/compare", help="folder for compare.csv and compare.png")
    parser.add_argument(
        "--log-every",
        type=positive_int,
        metavar="N",
        help="without a terminal, print one progress line every N steps (default: steps/10)",
    )


@dataclass
class Timed:
    """One backend's training: its losses, each step's wall time and the final weights."""

    label: str
    losses: list[float]
    seconds: list[float]
    total: float
    params: dict[str, list[list[float]]]


def run(args: argparse.Namespace) -> int:
    if len(args.backends) < 2:
        raise CommandError("--backends needs at least two backends to compare")
    loaded = [load_backend(spec) for spec in args.backends]
    block_size = args.block_size or Config().block_size
    documents, rng = prepare_documents(data_path(args.data), block_size, args.long_docs, args.seed)
    if documents.notice:
        print(documents.notice, file=sys.stderr)
    start = fresh_state(loaded[0], documents, rng, config_overrides(args), args.steps, args.seed)
    sequences = encode_all(build_tokenizer(loaded[0].backend, documents.docs), documents.docs)
    for other in loaded[1:]:
        check_same_chars(
            start.chars,
            build_tokenizer(other.backend, documents.docs).chars,
            f"backend {other.name}'s tokenizer",
        )
    print(
        f"compare: {args.steps} steps from the same initial weights (seed {args.seed}, "
        f"{num_params(start.config)} params), data {Path(documents.source.path).name}"
    )
    every = args.log_every or max(1, args.steps // 10)
    runs = [
        time_training(backend, label, start, sequences, every)
        for backend, label in zip(loaded, labels(loaded))
    ]
    print()
    print(summary_table(runs))
    print()
    print(loss_table(runs))
    written = write_files(Path(args.out), runs, start)
    print(f"\nwrote {', '.join(str(p) for p in written)}")
    return 0


def labels(loaded: Sequence[LoadedBackend]) -> list[str]:
    """Backend names, numbered where the same name appears twice."""
    names = [b.name for b in loaded]
    return [f"{name}#{i + 1}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def time_training(loaded: LoadedBackend, label: str, start: Checkpoint, sequences, every: int) -> Timed:
    """Train from `start` in one `train` call, timing every step through on_step."""
    seconds: list[float] = []
    with progress_display(start.num_steps, every=every, label=label) as progress:
        last = began = time.perf_counter()

        def step_done(step: int, loss: float) -> None:
            nonlocal last
            now = time.perf_counter()
            seconds.append(now - last)
            last = now
            progress.update(step, loss)

        result = call_train(loaded.backend, start.params, start.config, sequences, Schedule(start.num_steps),
                            hyper=start.hyper, on_step=step_done)
        total = time.perf_counter() - began
    losses = [float(x) for x in result.losses]
    if len(losses) != start.num_steps:
        raise CommandError(f"backend {label} returned {len(losses)} losses for {start.num_steps} steps")
    if len(seconds) != len(losses):
        seconds = [total / len(losses)] * len(losses)
    return Timed(label, losses, seconds, total, plain_copy(result.params))


# --------------------------------------------------------------------- the figures
def largest_loss_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, int]:
    """max over steps of |a[s] - b[s]|, and the 1-based step where it is reached."""
    differences = [abs(x - y) for x, y in zip(a, b)]
    worst = max(range(len(differences)), key=differences.__getitem__)
    return differences[worst], worst + 1


def largest_param_difference(a: dict[str, list[list[float]]], b: dict[str, list[list[float]]]) -> float:
    return max(
        abs(x - y) for name in a for row_a, row_b in zip(a[name], b[name]) for x, y in zip(row_a, row_b)
    )


def step_time(run: Timed) -> float:
    """The median step, leaving out the first (it carries the backend's set-up)."""
    return statistics.median(run.seconds[1:] or run.seconds)


def summary_table(runs: Sequence[Timed]) -> str:
    first = runs[0]
    rows: list[tuple[str, list[str]]] = [
        ("total time", [format_seconds(r.total) for r in runs]),
        ("time per step", [format_seconds(step_time(r)) for r in runs]),
        ("steps per second", [f"{1 / step_time(r):.1f}" for r in runs]),
        (f"speed vs {first.label}", [f"{step_time(first) / step_time(r):.3g}x" for r in runs]),
        ("final loss", [f"{r.losses[-1]:.6f}" for r in runs]),
        ("max |loss diff|", ["-"] + [describe_loss_difference(first, r) for r in runs[1:]]),
        (
            "max |param diff|",
            ["-"] + [f"{largest_param_difference(first.params, r.params):.2e}" for r in runs[1:]],
        ),
    ]
    return table(["", *[r.label for r in runs]], [[name, *cells] for name, cells in rows])


def describe_loss_difference(first: Timed, other: Timed) -> str:
    difference, step = largest_loss_difference(first.losses, other.losses)
    return f"{difference:.2e} (step {step})"


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def loss_table(runs: Sequence[Timed], rows: int = 10) -> str:
    """The losses of about `rows` steps, side by side, with the difference from the first."""
    steps = len(runs[0].losses)
    shown = sorted({1, steps, *range(max(1, steps // rows), steps, max(1, steps // rows))})
    header = ["step", *[r.label for r in runs], *[f"|{r.label} - {runs[0].label}|" for r in runs[1:]]]
    body = [
        [str(s), *[f"{r.losses[s - 1]:.6f}" for r in runs],
         *[f"{abs(r.losses[s - 1] - runs[0].losses[s - 1]):.1e}" for r in runs[1:]]]
        for s in shown
    ]  # fmt: skip
    return table(header, body)


def table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Plain text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *(line(row) for row in body)])


# --------------------------------------------------------------------- files
def write_files(out: Path, runs: Sequence[Timed], start: Checkpoint) -> list[Path]:
    csv_path = files.write_atomically(out / "compare.csv", compare_csv(runs))
    title = f"{len(runs[0].losses)} steps from the same start: " + " vs ".join(r.label for r in runs)
    png_path = plot_losses({r.label: r.losses for r in runs}, out / "compare.png", title)
    return [csv_path, png_path]


def compare_csv(runs: Sequence[Timed]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *[f"loss_{r.label}" for r in runs], *[f"seconds_{r.label}" for r in runs]])
    for s in range(len(runs[0].losses)):
        writer.writerow([s + 1, *[repr(r.losses[s]) for r in runs], *[f"{r.seconds[s]:.6f}" for r in runs]])
    return out.getvalue()
