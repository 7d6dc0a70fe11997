"""`microgpt-spec`: the command line.

    microgpt-spec --help
    microgpt-spec COMMAND --help

Every subcommand lives in its own module of `microgpt_spec.commands`. Bad input (a missing
file, a wrong option, a broken checkpoint) ends with one readable message on stderr and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from microgpt_spec import __version__, commands
from microgpt_spec.runs import RunError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """Bad input: the message is shown to the user as it is."""


class Parser(argparse.ArgumentParser):
    """argparse, but an option error is told first, in one line, with where to read more
    (argparse's own starts with the usage, many lines for `train`, and the error last)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n(see: {self.prog} --help)\n")


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="microgpt-spec",
        description="Train, sample, check and grade microgpt implementations.",
    )
    parser.add_argument("--version", action="version", version=f"microgpt-spec {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.run(args) or 0)
    except (CommandError, RunError) as error:
        print(f"microgpt-spec {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"microgpt-spec {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    # `python -m microgpt_spec.cli` runs this file as __main__, a second copy of the module:
    # use the real one, so its CommandError is the one the commands raise.
    from microgpt_spec.cli import main as real_main

    sys.exit(real_main())
