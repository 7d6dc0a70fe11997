"""Wall time of the conformance run, per backend, measured in one run of this script.

    python benchmarks/bench_conformance.py                 # pure and numpy, -n 2, ci profile
    python benchmarks/bench_conformance.py --backends pure --workers 2 --repeat 3

The target (issue: the foundation) is under 60 s for `pytest conformance --backend=pure -n 2`
under the `ci` profile on a 2-core machine. The machine is noisy: compare backends by the
ratio printed here, measured in the same run, rather than by figures from different days.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]


def time_run(backend: str, workers: int) -> tuple[float, int]:
    """Seconds of wall time for one conformance run, and pytest's exit code."""
    command = [sys.executable, "-m", "pytest", str(REPO / "conformance"), f"--backend={backend}",
               "--hypothesis-profile=ci", "-q", "-p", "no:cacheprovider"]
    if workers > 1:
        command += ["-n", str(workers)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["pure", "numpy"])
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (-n)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per backend; the median is shown")
    args = parser.parse_args(argv)

    table = Table(title=f"pytest conformance -n {args.workers}, ci profile")
    for column in ("backend", "median wall s", "runs", "exit codes", "vs first"):
        table.add_column(column, justify="right" if column != "backend" else "left")
    first = None
    for backend in args.backends:
        runs = [time_run(backend, args.workers) for _ in range(args.repeat)]
        median = statistics.median(seconds for seconds, _ in runs)
        first = first or median
        table.add_row(backend, f"{median:.1f}", " ".join(f"{s:.1f}" for s, _ in runs),
                      " ".join(str(code) for _, code in runs), f"{median / first:.2f}x")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
