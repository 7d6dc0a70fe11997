"""What the command-line tests share: a tiny corpus, a tiny model, and a way to run the CLI."""

from __future__ import annotations

from microgpt_spec.cli import main

NAMES = (
    "emma ava mia liam noah zoe ivy max leo eli ada isla ruby finn owen luca nora jude cora ezra".split()
)
#: A model small enough that the pure backend trains it in milliseconds.
TINY = ["--n-embd", "4", "--n-head", "2", "--block-size", "6"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run `microgpt-spec ARGV` in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
