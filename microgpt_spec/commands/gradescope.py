"""Write a Gradescope autograder bundle (a zip to upload as the assignment's autograder).

    microgpt-spec gradescope autograder.zip
    microgpt-spec gradescope autograder.zip --rubric rubric.toml --test-timeout 120
    microgpt-spec gradescope autograder.zip --install "microgpt-spec==0.1.0"

The zip holds setup.sh (installs Python 3.11+ and microgpt-spec), run_autograder (runs
`microgpt-spec grade` on the student's files and writes Gradescope's results.json), the
rubric, and, unless --install says where else to get it, this project's source. Choose an
Ubuntu 22.04 or newer base image on Gradescope. See docs/grading.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microgpt_spec.cli import CommandError
from microgpt_spec.grading.bundle import BundleError, bundle_files, write_bundle
from microgpt_spec.grading.rubric import RubricError, load_rubric

NAME = "gradescope"
HELP = "write a Gradescope autograder bundle (setup.sh, run_autograder, the rubric)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("zip", type=Path, metavar="ZIP", help="the bundle to write (e.g. autograder.zip)")
    parser.add_argument("--rubric", type=Path, default=None, help="a rubric TOML file (default: 100 points)")
    parser.add_argument("--install", default=None, metavar="REQUIREMENT",
                        help="what setup.sh gives pip (default: this project's source, inside the bundle)")
    parser.add_argument("--test-timeout", type=float, default=None, metavar="S", help="passed on to grade")
    parser.add_argument("--timeout", type=float, default=None, metavar="S", help="passed on to grade")
    parser.add_argument("--memory", type=int, default=None, metavar="MB", help="passed on to grade")
    parser.add_argument("--force", action="store_true", help="overwrite ZIP if it exists")


def run(args: argparse.Namespace) -> int:
    if args.zip.exists() and not args.force:
        raise CommandError(f"{args.zip} exists already (add --force to overwrite it)")
    if args.zip.suffix != ".zip":
        raise CommandError(f"{args.zip}: the bundle must be a .zip file")
    try:
        rubric = load_rubric(args.rubric)
        files = bundle_files(rubric, args.install, grade_options(args))
    except (RubricError, BundleError) as error:
        raise CommandError(str(error)) from None
    write_bundle(args.zip, files)
    print(f"wrote {args.zip} ({len(files)} files; rubric: {rubric.max_score:g} points)")
    print("Upload it as the assignment's autograder on Gradescope (Ubuntu 22.04+ base image).")
    return 0


def grade_options(args: argparse.Namespace) -> list[str]:
    options = []
    for flag, value in (("--test-timeout", args.test_timeout), ("--timeout", args.timeout),
                        ("--memory", args.memory)):
        if value is not None:
            if value <= 0:
                raise CommandError(f"{flag} must be positive")
            options += [flag, f"{value:g}"]
    return options
