"""The cost of the grading sandbox: how long a worker takes to raise its walls.

    python benchmarks/bench_sandbox.py              # 20 probes
    python benchmarks/bench_sandbox.py --probes 50

Each probe starts a worker with nothing to import, which raises every wall this machine
offers (limits, user, namespaces, capabilities, Landlock, seccomp) and reports how long
that took, from its own clock: the set-up every graded worker pays once (again after each
restart). Printed: the walls, and the median and worst set-up, with the whole probe's
wall time (Python's start-up and imports included) beside it for scale. The target is
under 100 ms of set-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from microgpt_spec.grading.link import probe_walls
from microgpt_spec.grading.sandbox import describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args(argv)
    setups: list[float] = []
    whole: list[float] = []
    walls: list[dict] = []
    for _ in range(args.probes):
        started = time.perf_counter()
        walls = probe_walls(timings=setups)
        whole.append(time.perf_counter() - started)
    print("walls:\n" + describe(walls))
    print(f"set-up of the walls, in the worker: median {1000 * statistics.median(setups):.1f} ms, "
          f"worst {1000 * max(setups):.1f} ms ({len(setups)} probes)")
    print(f"whole probe (process start, imports, walls, exit): median {1000 * statistics.median(whole):.0f} ms; "
          f"set-up is {statistics.median(setups) / statistics.median(whole):.0%} of it")
    return 0 if statistics.median(setups) < 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
