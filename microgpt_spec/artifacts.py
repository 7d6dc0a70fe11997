"""The files a run leaves behind, written so that an interruption never corrupts them.

Every file is written *atomically* (`microgpt_spec.files.write_atomically`: a temporary
file in the same folder, flushed, then renamed over the old name), so whoever reads it (a
person, `--resume`, `sample`) sees either the old complete file or the new complete file,
never half of one, whenever the process is stopped (Ctrl-C, `kill`, a power cut after the
fsync); `interrupts_deferred` holds Ctrl-C back while a save that must not be split is
written. The exceptions are the files of
one line per step, which a long run would otherwise rewrite whole at every save: they
grow by appending (`GrowingFile`), and the checkpoint says how many of their lines count.

What a run writes, besides the checkpoint (`microgpt_spec.checkpoint`):

* `metrics.csv`, one row per training step:
      step        1-based, as the reference prints it ("step 1" is 0-based step s = 0)
      loss        that step's training loss (the mean over the document's positions;
                  with a batch, the mean over its documents of each one's mean)
      loss_mean   the running mean: the mean of the last `RUNNING_MEAN_WINDOW` losses
      lr          the learning rate used at that step: lr * (1 - s / num_steps)
      seconds     the wall time since the step before ended: the step, and the save
                  before it if there was one (held-out evaluations left out)
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
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from microgpt_spec import files

#: The running mean shown in the progress bar, the CSV and the plot: the last 50 steps.
#: Each step sees one document, so one step's loss is noisy; 50 of them show the trend.
RUNNING_MEAN_WINDOW = 50

METRICS_COLUMNS = ("step", "loss", "loss_mean", "lr", "seconds")
THROUGHPUT_COLUMNS = ("tokens", "tokens_per_s")
EVAL_COLUMNS = ("step", "heldout_loss", "train_loss", "docs")


# --------------------------------------------------------------------- writing
def append_text(path: str | os.PathLike[str], text: str) -> None:
    """Add `text` at the end of `path` and flush it to disk, Ctrl-C held back meanwhile.

    Not atomic as a rename is: a power cut can leave part of the text. `GrowingFile`
    makes that harmless (its owner records how many lines count, after they are on disk).
    """
    with interrupts_deferred(), open(path, "a", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


class GrowingFile:
    """A file of one line per training step, kept in step with a run that only grows,
    for the cost of the new lines alone (a long run saves often: rewriting every line at
    every save made saving cost more than training).

    The first `sync` of a session writes the whole file atomically (so lines left over
    from a run that stopped between two writes, or a part-written last line, go away);
    later ones append the lines added since. Whoever reads the file trusts only as many
    lines as the run's checkpoint, written after them, says it has done steps.
    """

    def __init__(self, path: str | os.PathLike[str], header: str) -> None:
        self.path, self.header = Path(path), header
        self.lines_on_disk: int | None = None  # None: this session has not written it yet

    def sync(self, line: Callable[[int], str], count: int) -> None:
        """Make the file the header, then line(0) .. line(count - 1) (each ending in a newline)."""
        whole = self.lines_on_disk is None or count < self.lines_on_disk
        first = 0 if whole else self.lines_on_disk
        text = "".join(line(i) for i in range(first, count))
        with interrupts_deferred():  # Ctrl-C must not fall between the write and its count
            if whole:
                files.write_atomically(self.path, self.header + text)
            elif text:
                append_text(self.path, text)
            self.lines_on_disk = count


_deferring = False  # inside an interrupts_deferred block already


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back inside the block; raise KeyboardInterrupt after it.

    A block inside another defers to the outer one, so that a write and the note that it
    was done (`GrowingFile`) are one block that Ctrl-C cannot split.
    Signal handlers can only be set from the main thread; elsewhere this does nothing.
    """
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in watched}
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
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


def metrics_header(throughput: bool) -> str:
    return ",".join(METRICS_COLUMNS + (THROUGHPUT_COLUMNS if throughput else ())) + "\n"


def metrics_row(
    s: int,
    losses: Sequence[float],
    seconds: Sequence[float],
    lr: float,
    num_steps: int,
    tokens: Sequence[int] | None = None,
) -> str:
    """Line s (0-based step) of metrics.csv; it reads only steps up to s, so the lines of
    a growing run can be appended as its steps come."""
    window = losses[max(0, s - RUNNING_MEAN_WINDOW + 1) : s + 1]
    took = seconds[s]
    row = [s + 1, repr(float(losses[s])), repr(sum(window) / len(window)),
           repr(learning_rate(lr, s, num_steps)), f"{took:.6f}"]  # fmt: skip
    if tokens is not None:
        row += [tokens[s], f"{tokens[s] / took:.1f}" if took > 0 else ""]
    return ",".join(str(cell) for cell in row) + "\n"


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
    rows = (metrics_row(s, losses, seconds, lr, num_steps, tokens) for s in range(len(losses)))
    return metrics_header(tokens is not None) + "".join(rows)


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


def _ticker():
    import matplotlib.ticker

    return matplotlib.ticker


def running_mean_label(num_steps: int) -> str:
    """What the thick curve is, for a run of `num_steps`: until the window fills, every
    point is the mean of all the steps before it."""
    if num_steps > RUNNING_MEAN_WINDOW:
        return f"mean of the last {RUNNING_MEAN_WINDOW} steps"
    return "mean of the steps so far"


def save_figure(figure, path: str | os.PathLike[str]) -> Path:
    """Render `figure` as PNG and write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    _pyplot().close(figure)
    return files.write_atomically(path, buffer.getvalue())


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
            label=f"{label}: {running_mean_label(len(losses))}",
        )
    for index, (label, series) in enumerate((points or {}).items(), start=len(curves)):
        if series:
            steps, values = zip(*series)
            axes.plot(steps, values, color=f"C{index}", marker="o", markersize=4, linewidth=1.5, label=label)
    axes.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True))  # steps are whole: no tick at 1.5
    axes.set_xlabel("step")
    axes.set_ylabel("loss (cross-entropy, nats)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return save_figure(figure, path)
