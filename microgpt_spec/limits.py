"""Limits on one spec test's time and memory, so that a runaway bug fails its test with a
clear message instead of hanging the run or eating the machine's memory.

* Time: pytest-timeout times each spec test's call; this module only replaces what happens
  when time is up (`pytest_timeout_set_timer`): instead of pytest-timeout's stack dump and
  `pytest.fail`, the test is interrupted with `SpecLimitExceeded`.
* Memory: a watch thread reads the process's resident memory every few hundredths of a
  second while a spec test runs, and interrupts the test when it has grown by more than the
  limit since the test began. Each pytest-xdist worker watches itself.

`SpecLimitExceeded` is a BaseException on purpose: hypothesis catches `Exception` (and
`pytest.fail`) to shrink a failing example, which would run the runaway code again, without
a timer; and a learner's `except Exception:` must not swallow it either.
"""

from __future__ import annotations

import _thread
import re
import resource
import signal
import sys
import threading
import time
from pathlib import Path

DEFAULT_SECONDS = 60.0
DEFAULT_MEMORY = "2GB"
MEMORY_SIGNAL = getattr(signal, "SIGUSR1", None)
POLL_SECONDS = 0.02
# After a first interruption, interrupt again this often until the test ends (a bare
# `except:` in the learner's loop may have swallowed the first).
REPEAT_SECONDS = 1.0

TIME_CAUSE = ("an infinite loop (a `while` whose condition never changes), or a graph that explodes: "
              "a topological sort without a visited set visits a shared node once per path to it, "
              "so backward() does twice the work for each layer")
MEMORY_CAUSE = ("a graph that explodes: a topological sort without a visited set puts a shared node in "
                "its list once per path to it, so the list doubles with each layer; or every step's graph "
                "kept alive (a list of loss Values where floats would do)")


class SpecLimitExceeded(BaseException):
    """A spec test ran past its time or memory limit (see the module's docstring)."""

    def __init__(self, msg: str, kind: str, explained: bool = False) -> None:
        super().__init__(msg)
        self.msg = msg
        self.kind = kind  # "time" or "memory"
        self.explained = explained  # msg is the whole explanation (the spec's plugin wrote it)


def parse_size(text: str) -> int:
    """'2GB', '500MB', '1.5G', '0' (no limit) -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?\s*", text.upper())
    if not match:
        raise ValueError(f"{text!r} is not a size; write it like 2GB, 500MB or 0 (no limit)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGT".index(unit or " "))


def describe_size(size: int) -> str:
    return f"{size / 1024 ** 3:.1f} GB" if size >= 1024 ** 3 else f"{size / 1024 ** 2:.0f} MB"


# --------------------------------------------------------------------------- memory
def resident_bytes() -> int:
    """This process's resident memory now (Linux), or at its peak where /proc is missing
    (the peak only rises, so a test's growth is then counted late, never falsely)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize()
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class MemoryWatch:
    """Interrupts the main thread when the memory grows past `limit` bytes during a test."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._armed: str | None = None  # what is being watched: a test's id
        self._start = 0
        self.peak_growth = 0
        self._last_interrupt = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @staticmethod
    def available() -> bool:
        return MEMORY_SIGNAL is not None

    def arm(self, what: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="microgpt-spec memory watch", daemon=True)
            self._thread.start()
        with self._lock:
            self._start = resident_bytes()
            self.peak_growth = 0
            self._last_interrupt = 0.0
            self._armed = what

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def exceeded(self) -> bool:
        return self.peak_growth > self.limit

    def _watch(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            with self._lock:
                if self._armed is None:
                    continue
                self.peak_growth = max(self.peak_growth, resident_bytes() - self._start)
                due = time.monotonic() - self._last_interrupt > REPEAT_SECONDS
                if self.exceeded() and due:
                    self._last_interrupt = time.monotonic()
                    # Runs the handler in the main thread at its next Python instruction.
                    _thread.interrupt_main(MEMORY_SIGNAL)


# --------------------------------------------------------------------------- interrupting a test
class Interrupter:
    """Installs, for one spec test's call, the handlers that raise SpecLimitExceeded."""

    def __init__(self, memory: MemoryWatch | None) -> None:
        self.memory = memory
        self._previous_memory_handler = None

    def begin_call(self, nodeid: str) -> None:
        if self.memory is not None:
            self._previous_memory_handler = signal.signal(MEMORY_SIGNAL, self._on_memory)
            self.memory.arm(nodeid)

    def end_call(self) -> None:
        if self.memory is not None:
            self.memory.disarm()
            signal.signal(MEMORY_SIGNAL, self._previous_memory_handler or signal.SIG_DFL)

    def _on_memory(self, signum, frame) -> None:
        memory = self.memory
        if memory is None or memory._armed is None:
            return  # the test ended between the watch's reading and this handler
        raise SpecLimitExceeded(
            f"memory: grew by {describe_size(memory.peak_growth)}, past the limit of "
            f"{describe_size(memory.limit)} per test (--spec-memory)", "memory")


def start_timer(item, seconds: float, is_debugging) -> None:
    """pytest-timeout's timer for one spec test, ending it with SpecLimitExceeded."""

    def on_alarm(signum, frame):
        if is_debugging():
            return  # a learner in pdb is not a runaway
        raise SpecLimitExceeded(f"time: ran for more than {seconds:g} s, the limit per test (--spec-timeout)",
                                "time")

    def cancel():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # pytest-timeout's own cancel hook calls this
    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)


def timer_available() -> bool:
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
