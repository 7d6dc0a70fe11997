"""The files a run leaves behind, written so that an interruption never corrupts them.

Every file is written *atomically*: the new content goes to a temporary file in the same
folder, is flushed to disk, and only then renamed over the old name. A rename within one
folder is atomic, so whoever reads the file (a person, `--resume`, `sample`) sees either
the old complete file or the new complete file, never half of one, whenever the process
is stopped (Ctrl-C, `kill`, a power cut after the fsync).

What a run writes, besides the checkpoint (`microgpt_spec.checkpoint`):

* `metrics.csv`, one row per training step:
      step        1-based, as the reference prints it ("step 1" is 0-based step s = 0)
      loss        that step's training loss (the mean over the document's positions;
                  with a batch, the mean over its documents of each one's mean)
      loss_mean   the running mean: the mean of the last `RUNNING_MEAN_WINDOW` losses
      lr          the learning rate used at that step: lr * (1 - s / num_steps)
      seconds     the wall time that step took
      tokens      the positions the step was scored on: sum over its documents of
                  min(block_size, len(tokens) - 1)  (`train` writes these two columns)
      tokens_per_s  tokens / seconds
* `eval.csv`, one row per held-out evaluation (runs with --holdout):
      step, heldout_loss, train_loss, docs  (see `microgpt_spec.checkpoint.Evaluation`)
* `loss.png`, the loss curve: every step's loss (thin), the running mean (thick), and
  the evaluations as points, when there are any.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

#: The running mean shown in the progress bar, the CSV and the plot: the last 50 steps.
#: Each step sees one document, so one step's loss is noisy; 50 of them show the trend.
RUNNING_MEAN_WINDOW = 50

METRICS_COLUMNS = ("step", "loss", "loss_mean", "lr", "seconds")
THROUGHPUT_COLUMNS = ("tokens", "tokens_per_s")
EVAL_COLUMNS = ("step", "heldout_loss", "train_loss", "docs")


# --------------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename (see the module doc).

    Interrupt signals that arrive meanwhile are held back until the file is in place, so
    Ctrl-C cannot leave a stray temporary file behind either.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with interrupts_deferred():
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; give the usual mode
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it, so put it straight back
    os.umask(mask)
    return mask


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back inside the block; raise KeyboardInterrupt after it.

    Signal handlers can only be set from the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, `kill` (SIGTERM) stops the program the way Ctrl-C does, so the
    training loop can save its last good state either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------- metrics
def running_means(losses: Sequence[float], window: int = RUNNING_MEAN_WINDOW) -> list[float]:
    """means[i] = mean(losses[max(0, i - window + 1) : i + 1]): the trailing window mean."""
    means, total = [], 0.0
    for i, loss in enumerate(losses):
        total += loss
        if i >= window:
            total -= losses[i - window]
        means.append(total / min(i + 1, window))
    return means


def learning_rate(lr: float, step: int, num_steps: int) -> float:
    """The reference schedule: lr_t = lr * (1 - s / num_steps) at 0-based step s."""
    return lr * (1 - step / num_steps)


def metrics_csv(
    losses: Sequence[float],
    seconds: Sequence[float],
    lr: float,
    num_steps: int,
    tokens: Sequence[int] | None = None,
) -> str:
    """The text of metrics.csv (columns in the module doc). Losses keep every digit.

    With `tokens` (each step's token count) the throughput columns are added.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS + (THROUGHPUT_COLUMNS if tokens is not None else ()))
    for s, (loss, mean, took) in enumerate(zip(losses, running_means(losses), seconds)):
        row = [s + 1, repr(float(loss)), repr(mean), repr(learning_rate(lr, s, num_steps)), f"{took:.6f}"]
        if tokens is not None:
            row += [tokens[s], f"{tokens[s] / took:.1f}" if took > 0 else ""]
        writer.writerow(row)
    return out.getvalue()


def eval_csv(evaluations: Iterable[Any]) -> str:
    """The text of eval.csv: one row per evaluation (objects with the EVAL_COLUMNS fields)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EVAL_COLUMNS)
    for e in evaluations:
        writer.writerow([e.step, repr(float(e.heldout_loss)), repr(float(e.train_loss)), e.docs])
    return out.getvalue()


def read_metrics_csv(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The rows of a metrics.csv, numbers as floats (step as an int)."""
    with open(path, newline="", encoding="utf-8") as file:
        return [
            {key: (int(value) if key in ("step", "tokens", "docs") else float(value or "nan"))
             for key, value in row.items()}
            for row in csv.DictReader(file)
        ]  # fmt: skip


# --------------------------------------------------------------------- plots
def _pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no window, no display needed).

    Imported on first use: it takes a while, and commands that draw nothing skip it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | os.PathLike[str]) -> Path:
    """Render `figure` as PNG and write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    _pyplot().close(figure)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_losses(
    curves: dict[str, Sequence[float]],
    path: str | os.PathLike[str],
    title: str,
    points: dict[str, Sequence[tuple[int, float]]] | None = None,
) -> Path:
    """One PNG: for each labelled curve, every step's loss (thin) and its running mean
    (thick, same colour). Steps are numbered from 1 as in the CSV. Curves after the first
    are dashed or dotted, so that identical curves (two faithful backends) both show.
    `points` adds labelled series of (step, loss) markers joined by a line (evaluations)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    styles = ("-", "--", ":", "-.")
    for index, (label, losses) in enumerate(curves.items()):
        colour, style = f"C{index}", styles[index % len(styles)]
        steps = range(1, len(losses) + 1)
        axes.plot(
            steps, losses, color=colour, linestyle=style, alpha=0.3, linewidth=0.8, label=f"{label}: loss"
        )
        axes.plot(
            steps,
            running_means(losses),
            color=colour,
            linestyle=style,
            linewidth=2,
            label=f"{label}: mean of last {RUNNING_MEAN_WINDOW}",
        )
    for index, (label, series) in enumerate((points or {}).items(), start=len(curves)):
        if series:
            steps, values = zip(*series)
            axes.plot(steps, values, color=f"C{index}", marker="o", markersize=4, linewidth=1.5, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (cross-entropy, nats)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return save_figure(figure, path)
