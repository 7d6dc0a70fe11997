"""The options the training commands share (`train`, `sample`, `compare`): their types and
the model's shape. The run itself (`microgpt_spec.runs`) takes plain values."""

from __future__ import annotations

import argparse
from typing import Any

from microgpt_spec.recipe import SHAPE_FIELDS
from microgpt_spec.spec.contract import Config


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    """A fraction f with 0 <= f < 1 (the share of documents held out)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--n-layer --n-embd --n-head --block-size (None when not given)."""
    defaults = Config()
    for name in SHAPE_FIELDS:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=positive_int,
            metavar="N",
            help=f"model shape (default: {getattr(defaults, name)})",
        )


def config_overrides(args: Any) -> dict[str, int]:
    """The model options the user gave (--n-layer, --n-embd, --n-head, --block-size)."""
    return {name: getattr(args, name) for name in SHAPE_FIELDS if getattr(args, name, None) is not None}
