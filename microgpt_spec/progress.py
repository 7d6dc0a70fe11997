"""Showing training as it happens: a live bar on a terminal, plain lines anywhere else.

Both displays show the same things after each step: the step, its loss, the running mean
of the last `RUNNING_MEAN_WINDOW` losses, the speed (steps per second, measured over this
session's steps) and the time left at that speed. The plain lines look like

    step    1 / 1000 | loss 3.3660 | mean 3.3660 | 3.2 steps/s | 5m12s left

which is what the reference program prints (it shows `step 1 / 1000 | loss 3.3660`), with
the extra figures after it. On a terminal a `rich` progress bar replaces the lines; in a
pipe, a file or CI the lines stay, one per step (or per `--log-every` steps).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO

from microgpt_spec.artifacts import RUNNING_MEAN_WINDOW


def format_duration(seconds: float) -> str:
    """1.5 -> '1.5s', 75 -> '1m15s', 3725 -> '1h02m'."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class StepStats:
    """The figures shown after each step, kept up to date one step at a time."""

    def __init__(self, num_steps: int, earlier_losses: list[float] = ()) -> None:
        self.num_steps = num_steps
        self.window: deque[float] = deque(earlier_losses[-RUNNING_MEAN_WINDOW:], maxlen=RUNNING_MEAN_WINDOW)
        self.started = time.perf_counter()
        self.steps_this_session = 0
        self.step = len(earlier_losses) - 1  # 0-based index of the last step done
        self.loss = earlier_losses[-1] if earlier_losses else float("nan")

    def update(self, step: int, loss: float) -> None:
        self.step, self.loss = step, float(loss)
        self.window.append(self.loss)
        self.steps_this_session += 1

    @property
    def mean(self) -> float:
        return sum(self.window) / len(self.window) if self.window else float("nan")

    @property
    def steps_per_second(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.steps_this_session / elapsed if elapsed > 0 else float("nan")

    @property
    def seconds_left(self) -> float:
        rate = self.steps_per_second
        remaining = self.num_steps - (self.step + 1)
        return remaining / rate if rate > 0 else float("nan")


class PlainProgress:
    """One line per step (or per `every` steps, and always the last), for pipes and logs."""

    def __init__(
        self,
        num_steps: int,
        earlier_losses: list[float] = (),
        *,
        every: int = 1,
        label: str = "",
        out: TextIO | None = None,
    ) -> None:
        self.stats = StepStats(num_steps, list(earlier_losses))
        self.every = max(1, every)
        self.prefix = f"[{label}] " if label else ""
        self.out = out or sys.stdout

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.out.flush()

    def update(self, step: int, loss: float) -> None:
        self.stats.update(step, loss)
        if (step + 1) % self.every == 0 or step + 1 == self.stats.num_steps:
            print(self.prefix + describe_step(self.stats), file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def describe_step(stats: StepStats) -> str:
    n = stats.num_steps
    width = len(str(n))
    return (
        f"step {stats.step + 1:{width}d} / {n} | loss {stats.loss:.4f} | mean {stats.mean:.4f} | "
        f"{stats.steps_per_second:.1f} steps/s | {format_duration(stats.seconds_left)} left"
    )


class RichProgress:
    """A live progress bar (rich) for a terminal; `note` prints above the bar."""

    def __init__(
        self, num_steps: int, earlier_losses: list[float] = (), *, label: str = "train", console=None
    ) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.stats = StepStats(num_steps, list(earlier_losses))
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("step {task.completed:.0f}/{task.total:.0f}"),
            TextColumn("loss {task.fields[loss]} (mean {task.fields[mean]})"),
            TextColumn("{task.fields[speed]} steps/s"),
            TextColumn("{task.fields[left]} left"),
            console=console,  # None: rich's console on standard output
        )
        self.task = self.bar.add_task(
            label, total=num_steps, completed=len(earlier_losses), loss="-", mean="-", speed="-", left="?"
        )

    def __enter__(self) -> "RichProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def update(self, step: int, loss: float) -> None:
        stats = self.stats
        stats.update(step, loss)
        self.bar.update(
            self.task,
            completed=step + 1,
            loss=f"{stats.loss:.4f}",
            mean=f"{stats.mean:.4f}",
            speed=f"{stats.steps_per_second:.1f}",
            left=format_duration(stats.seconds_left),
        )

    def note(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False)


def progress_display(num_steps: int, earlier_losses: list[float] = (), *, every: int = 1, label: str = ""):
    """A live bar when standard output is a terminal, plain lines otherwise."""
    if sys.stdout.isatty():
        return RichProgress(num_steps, earlier_losses, label=label or "train")
    return PlainProgress(num_steps, earlier_losses, every=every, label=label)
