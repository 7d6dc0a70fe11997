"""The `microgpt-spec` subcommands, one module each.

A module here defines `NAME` (the subcommand), `HELP` (one line), `add_arguments(parser)`
and `run(args) -> int`. `microgpt_spec.cli` finds them all; no list to keep in step.
Raise `microgpt_spec.cli.CommandError` for bad input: the user sees its message, no
traceback, and the exit status is 2.
"""
