"""Showing training as it happens: a live bar on a terminal, plain lines anywhere else.

Both displays show the same things after each step: the step, its loss, the running mean
of the last `RUNNING_MEAN_WINDOW` losses, the speed (steps per second over this session,
on its `SessionClock`: saving counts, held-out evaluation does not) and the time left at
that speed. The plain lines look like

    step    1 / 1000 | loss 3.3660 | mean 3.3660 | 3.2 steps/s | 5m12s left

which is what the reference program prints (it shows `step 1 / 1000 | loss 3.3660`), with
the extra figures after it. On a terminal a `rich` progress bar replaces the lines; in a
pipe, a file or CI the lines stay: the session's first step, every `every`-th step (about
a tenth of the run unless `--log-every` says otherwise), and the step where it stops.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from contextlib import contextmanager
from typing import Iterator, TextIO

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


class SessionClock:
    """The time a training session has taken, for its steps.

    `lap()` is the time since the previous lap (the first: since the clock started), so
    consecutive laps add up to the session's time: a save between two steps counts in the
    next step's lap. Time spent inside `paused()` (a held-out evaluation, which is not
    training) counts nowhere. The progress display reads the same clock, so the speed it
    shows and the speed of the recorded step times are one figure.
    """

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.paused_seconds = 0.0

    def lap(self) -> float:
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        return seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.started - self.paused_seconds

    @contextmanager
    def paused(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - began
            self.paused_seconds += seconds
            self.last += seconds


class StepStats:
    """The figures shown after each step, kept up to date one step at a time."""

    def __init__(
        self, num_steps: int, earlier_losses: list[float] = (), clock: SessionClock | None = None
    ) -> None:
        self.num_steps = num_steps
        self.window: deque[float] = deque(earlier_losses[-RUNNING_MEAN_WINDOW:], maxlen=RUNNING_MEAN_WINDOW)
        self.clock = clock or SessionClock()
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
        elapsed = self.clock.elapsed()
        return self.steps_this_session / elapsed if elapsed > 0 else float("nan")

    @property
    def seconds_left(self) -> float:
        rate = self.steps_per_second
        remaining = self.num_steps - (self.step + 1)
        return remaining / rate if rate > 0 else float("nan")


class PlainProgress:
    """Lines for pipes and logs: the session's first step, every `every`-th step, the
    last step of the run and the step `until` where this session stops."""

    def __init__(
        self,
        num_steps: int,
        earlier_losses: list[float] = (),
        *,
        every: int = 1,
        label: str = "",
        out: TextIO | None = None,
        clock: SessionClock | None = None,
        until: int | None = None,
    ) -> None:
        self.stats = StepStats(num_steps, list(earlier_losses), clock)
        self.every = max(1, every)
        self.prefix = f"[{label}] " if label else ""
        self.out = out or sys.stdout
        self.last_shown = {num_steps, until or num_steps}  # 1-based

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.out.flush()

    def update(self, step: int, loss: float) -> None:
        self.stats.update(step, loss)
        first = self.stats.steps_this_session == 1
        if first or (step + 1) % self.every == 0 or step + 1 in self.last_shown:
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
        self,
        num_steps: int,
        earlier_losses: list[float] = (),
        *,
        label: str = "train",
        console=None,
        clock: SessionClock | None = None,
    ) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.stats = StepStats(num_steps, list(earlier_losses), clock)
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


def progress_display(
    num_steps: int,
    earlier_losses: list[float] = (),
    *,
    every: int | None = None,
    label: str = "",
    clock: SessionClock | None = None,
    until: int | None = None,
):
    """A live bar when standard output is a terminal, plain lines otherwise: every
    `every` steps, by default about ten lines over the steps left (a line per step of a
    long run floods a log)."""
    if sys.stdout.isatty():
        return RichProgress(num_steps, earlier_losses, label=label or "train", clock=clock)
    every = every or default_log_every((until or num_steps) - len(earlier_losses))
    return PlainProgress(num_steps, earlier_losses, every=every, label=label, clock=clock, until=until)


def default_log_every(steps: int) -> int:
    """About a tenth of the steps: ten lines, whatever the length."""
    return max(1, steps // 10)
