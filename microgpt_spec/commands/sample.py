"""Draw names from a trained checkpoint, on any backend.

    microgpt-spec sample --checkpoint runs/numpy
    microgpt-spec sample --checkpoint runs/numpy --n 20 --temperature 0.5 --seed 42 --backend pure

Prints one name per line. A checkpoint is backend-neutral: one trained with numpy samples
on pure and the other way round, and with the same checkpoint and the same --seed every
faithful backend prints the same names (each draw is `rng.choices` over the same
probabilities).

What --seed means
-----------------
* Without --seed, sampling continues the training run's own random generator from where
  training left it (the state saved in the checkpoint after the initial weights were
  drawn; training itself draws nothing). Those are exactly the draws the reference program
  makes after training, so `train` then `sample` prints the same names `train` printed:
  on the reference run, kamon, ann, karai, ...
* With --seed S, a fresh `random.Random(S)` makes the draws: the names depend only on the
  checkpoint, S, --n and --temperature. (So `--seed 42` is *not* the reference's samples:
  the reference's generator had already shuffled the data and drawn the weights.)

Sampling a checkpoint whose training was stopped early works too (a notice says so).
"""

from __future__ import annotations

import argparse
import random
import sys

from microgpt_spec.commands._options import non_negative_int
from microgpt_spec.runs import (
    check_temperature,
    draw_samples,
    load_backend,
    load_checkpoint,
)

NAME = "sample"
HELP = "draw names from a checkpoint (any backend samples any backend's checkpoint)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a run folder or a checkpoint file")
    parser.add_argument(
        "--n", type=non_negative_int, metavar="N", default=20, help="how many names (default: 20)"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.5, metavar="T", help="sampling temperature (default: 0.5)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of a fresh generator (default: continue the training run's generator)",
    )
    parser.add_argument(
        "--backend",
        default="pure",
        metavar="BACKEND",
        help="registered name, file or module:attribute (default: pure)",
    )


def run(args: argparse.Namespace) -> int:
    check_temperature(args.temperature)
    state = load_checkpoint(args.checkpoint, with_history=False)  # the losses are not needed
    loaded = load_backend(args.backend)
    if not state.complete:
        print(
            f"notice: this checkpoint stopped at step {state.next_step} of {state.num_steps}; "
            "sampling from it as it is",
            file=sys.stderr,
        )
    rng = state.rng() if args.seed is None else random.Random(args.seed)
    for name in draw_samples(loaded.backend, state, args.n, args.temperature, rng):
        print(name)
    return 0
