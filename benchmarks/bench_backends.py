"""Training speed and memory of backends, measured side by side in one run.

    python benchmarks/bench_backends.py                          # pure, numpy and (if installed) torch
    python benchmarks/bench_backends.py --backends numpy --batch 1 8 32 --steps 500
    python benchmarks/bench_backends.py --pure-steps 5           # a quicker pure baseline

Every (backend, batch size) pair trains in its own Python process, so the peak memory
(resource.getrusage's ru_maxrss) of one never includes another's, and each starts cold.
A run is the reference recipe on the shipped names (seed 42: shuffle, tokenizer, default
config, init), then `train` through the contract for the given number of steps, timing
each step from one `on_step` call to the next. The first step is left out as warm-up.
Then the same steps again in one call without `on_step`, less a one-step call ("ms/step,
one call"): for a backend that is a program (c, js), every `on_step` is a round trip to the
host, which the median includes, and every call sends the sequences and the weights; this
column has neither: it is the backend's own speed. For a program, "program CPU ms/step"
is the CPU time its own process used in those calls, per step: steady on a busy machine.

Columns: ms/step is the median step; peak RSS adds a program backend's own process; tokens/s is the positions trained per step (on
average, over the steps run) divided by that median; "x pure" is tokens/s over the pure
backend's tokens/s at the same batch size, or at batch 1 if pure did not run that one.
BLAS is held to one thread in the workers (the model's matrices are far too small for
threads to help, and the machine is shared).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = 42
SINGLE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass
class Measurement:
    backend: str
    batch: int
    steps: int
    seconds_per_step: float  # median
    tokens_per_step: float  # mean
    peak_rss_mb: float
    seconds_per_step_one_call: float = 0.0  # the whole call without on_step, over its steps
    program_cpu_per_step: float = 0.0  # a program backend's own CPU time in that call, per step

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_per_step / self.seconds_per_step


# ---------------------------------------------------------------------- worker side
def names_path() -> Path:
    """The shipped names file."""
    try:
        from microgpt_spec.data import NAMES_PATH

        return Path(NAMES_PATH)
    except ImportError:
        return REPO / "data" / "names.txt"


def read_docs(path: Path) -> list[str]:
    """The stripped, non-empty lines of `path` (the reference's reading rule)."""
    try:
        from microgpt_spec.data import load_docs

        return load_docs(path)
    except ImportError:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tokens_trained(sequences, step: int, batch: int, block_size: int) -> int:
    """Positions trained at `step`: each sequence of the batch gives min(block, len - 1)."""
    from microgpt_spec.spec.contract import batch_for_step

    return sum(min(block_size, len(seq) - 1) for seq in batch_for_step(sequences, step, batch))


def measure(backend_name: str, batch: int, steps: int, data: Path) -> Measurement:
    """Train `steps` steps of `batch` names on `backend_name`; time every step."""
    from microgpt_spec.registry import find_backend
    from microgpt_spec.spec.contract import Config, Schedule, call_train

    backend = find_backend(backend_name).backend
    rng = random.Random(SEED)
    docs = read_docs(data)
    rng.shuffle(docs)
    tokenizer = backend.build_tokenizer(docs)
    config = Config(vocab_size=tokenizer.vocab_size)
    params = backend.init_params(config, rng)
    sequences = [tokenizer.sequence(doc) for doc in docs]

    stamps: list[float] = []
    start = time.perf_counter()
    call_train(backend, params, config, sequences, Schedule(steps, batch_size=batch),
               on_step=lambda s, l: stamps.append(time.perf_counter()))
    durations = [b - a for a, b in zip([start, *stamps], stamps)]
    timed = range(1, steps) if steps > 1 else range(steps)  # step 0 is warm-up
    one_call, program_cpu = seconds_per_step_in_one_call(backend, params, config, sequences, steps, batch)
    return Measurement(
        backend=backend_name,
        batch=batch,
        steps=len(timed),
        seconds_per_step=statistics.median(durations[i] for i in timed),
        tokens_per_step=statistics.mean(tokens_trained(sequences, i, batch, config.block_size) for i in timed),
        peak_rss_mb=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + program_peak_kb(backend)) / 1024,
        seconds_per_step_one_call=one_call,
        program_cpu_per_step=program_cpu,
    )


def seconds_per_step_in_one_call(backend, params, config, sequences, steps: int,
                                 batch: int) -> tuple[float, float]:
    """A call of `steps` steps without on_step, less a call of one step: what a step costs
    inside the backend, without what every call costs (the arguments crossing to a program:
    all the sequences, the weights and back). Wall time, and a program's own CPU time."""
    from microgpt_spec.spec.contract import Schedule, call_train

    def timed(count: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), program_cpu_seconds(backend)
        call_train(backend, params, config, sequences, Schedule(count, batch_size=batch))
        return time.perf_counter() - start, program_cpu_seconds(backend) - cpu

    if steps < 2:
        return timed(steps)
    (wall, cpu), (wall_1, cpu_1) = timed(steps), timed(1)
    return max(wall - wall_1, 0.0) / (steps - 1), max(cpu - cpu_1, 0.0) / (steps - 1)


def program_process(backend):
    """The process of a program backend (c, js), None for a Python backend."""
    worker = getattr(getattr(backend, "_link", None), "worker", None)
    return worker.process if worker is not None else None


def program_cpu_seconds(backend) -> float:
    """User and system CPU time a program backend's process has used so far (0 for Python)."""
    process = program_process(backend)
    if process is None:
        return 0.0
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def program_peak_kb(backend) -> int:
    """A program backend's own peak memory (VmHWM of its process), 0 for a Python backend."""
    process = program_process(backend)
    if process is None:
        return 0
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return 0
    line = next((l for l in status.splitlines() if l.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])


# ---------------------------------------------------------------------- driver side
def run_worker(backend: str, batch: int, steps: int, data: Path) -> Measurement:
    """`measure` in a fresh process with single-threaded BLAS."""
    command = [sys.executable, __file__, "--worker", backend, str(batch), str(steps), str(data)]
    env = {**os.environ, **SINGLE_THREAD}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} (batch {batch}) failed:\n{done.stderr}")
    return Measurement(**json.loads(done.stdout.strip().splitlines()[-1]))


def speedup(row: Measurement, rows: list[Measurement]) -> str:
    """tokens/s of `row` over pure's, at the same batch size if measured, else batch 1."""
    pure = {m.batch: m for m in rows if m.backend == "pure"}
    baseline = pure.get(row.batch) or pure.get(1)
    if baseline is None:
        return "-"
    note = "" if baseline.batch == row.batch else "*"
    return f"{row.tokens_per_second / baseline.tokens_per_second:,.0f}x{note}"


def print_table(rows: list[Measurement], data: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"train steps on {data.name}, default config (1 BLAS thread)",
        caption="x pure: tokens/s over pure's at the same batch (* at batch 1)",
    )
    for column in ("backend", "batch", "steps timed", "ms/step (median)", "ms/step, one call",
                   "program CPU ms/step", "tokens/s", "peak RSS MB", "x pure"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for row in rows:
        table.add_row(
            row.backend,
            str(row.batch),
            str(row.steps),
            f"{row.seconds_per_step * 1e3:.3g}",
            f"{row.seconds_per_step_one_call * 1e3:.3g}",
            f"{row.program_cpu_per_step * 1e3:.3g}" if row.program_cpu_per_step else "-",
            f"{row.tokens_per_second:,.0f}",
            f"{row.peak_rss_mb:.0f}",
            speedup(row, rows),
        )
    Console().print(table)


def default_backends() -> list[str]:
    """pure and numpy, torch when its optional extra is installed, and the programs whose
    compiler or interpreter is here (c, js)."""
    names = ["pure", "numpy"]
    if importlib.util.find_spec("torch") is not None:
        names.append("torch")
    names += [name for name, tool in (("c", "cc"), ("js", "node")) if shutil.which(tool)]
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=default_backends(), help="registered names or paths")
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 32], help="names per step (non-pure backends)")
    parser.add_argument("--pure-batch", nargs="+", type=int, default=[1], help="names per step for pure (slow!)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (non-pure backends)")
    parser.add_argument("--pure-steps", type=int, default=10, help="training steps per run for pure")
    parser.add_argument("--data", type=Path, default=None, help="names file (default: the shipped names.txt)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        backend, batch, steps, data = argv[1:5]
        print(json.dumps(measure(backend, int(batch), int(steps), Path(data)).__dict__))
        return 0
    args = parse_args(argv)
    data = args.data or names_path()
    if not data.is_file():
        sys.exit(f"names file not found: {data} (give one with --data)")
    rows = []
    for backend in args.backends:
        is_pure = backend == "pure"
        for batch in args.pure_batch if is_pure else args.batch:
            rows.append(run_worker(backend, batch, args.pure_steps if is_pure else args.steps, data))
    print_table(rows, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
