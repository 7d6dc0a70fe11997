"""Start a new backend: an installable package whose every part says "not implemented".

    microgpt-spec new-backend NAME DIR

writes into DIR (made if missing):

    pyproject.toml                registers NAME under the entry point group
                                  microgpt_spec.backends, so --backend=NAME finds it
    README.md                     the three commands: install, run the spec, run one area
    microgpt_NAME/__init__.py
    microgpt_NAME/backend.py      class Backend: every contract method, each raising
                                  NotImplementedError with the part's name

Then:

    pip install -e DIR
    pytest --pyargs microgpt_spec.conformance --backend=NAME

and every area is reported *not implemented* until you write it. NAME is lowercase
letters, digits and underscores, starting with a letter; the Python package is
microgpt_NAME (prefixed, so that a backend called `torch` cannot hide the real torch).
Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from microgpt_spec.cli import CommandError
from microgpt_spec.registry import registered_backends
from microgpt_spec.spec.contract import CONTRACT_VERSION

NAME = "new-backend"
HELP = "write a new backend package (every part not implemented yet) to fill in"

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Template file (under microgpt_spec/templates/backend/) -> the file it becomes in DIR.
TEMPLATES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "{package}/__init__.py",
    "package/backend.py.tmpl": "{package}/backend.py",
}


@dataclass(frozen=True)
class Scaffold:
    """What the templates are filled with."""

    name: str  # the registered backend name: --backend=NAME
    directory: Path

    @property
    def package(self) -> str:
        return f"microgpt_{self.name}"

    @property
    def dist(self) -> str:
        """The distribution name pip knows it by (pip install / pip uninstall)."""
        return "microgpt-" + self.name.replace("_", "-")

    def substitutions(self) -> dict[str, str]:
        return {
            "name": self.name,
            "package": self.package,
            "dist": self.dist,
            "contract_version": CONTRACT_VERSION,
        }

    def targets(self) -> dict[str, Path]:
        """Template name -> the path it is written to."""
        return {t: self.directory / out.format(package=self.package) for t, out in TEMPLATES.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME",
                        help="the backend's name, as in --backend=NAME (lowercase letters, digits, _)")
    parser.add_argument("directory", metavar="DIR", type=Path,
                        help="the folder to write the package into (made if missing)")


def run(args: argparse.Namespace) -> int:
    scaffold = Scaffold(check_name(args.name), args.directory)
    written = write(scaffold)
    print(f"wrote the backend {scaffold.name!r} (package {scaffold.package}) to {scaffold.directory}:")
    for path in written:
        print(f"  {path}")
    print("next:")
    print(f"  pip install -e {scaffold.directory}")
    print(f"  pytest --pyargs microgpt_spec.conformance --backend={scaffold.name}")
    return 0


def check_name(name: str) -> str:
    """`name` if it can be a backend name and a package suffix; else CommandError saying why."""
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise CommandError(
            f"{name!r} is not a usable backend name: use 1 to 40 lowercase letters, digits and "
            f"underscores, starting with a letter (for example: mine, my_numpy, cuda2)"
        )
    if name in registered_backends():
        raise CommandError(
            f"{name!r} is already a registered backend ({', '.join(sorted(registered_backends()))}); "
            f"choose another name"
        )
    return name


def write(scaffold: Scaffold) -> list[Path]:
    """Render every template into `scaffold.directory`; nothing is written if any target exists."""
    if scaffold.directory.exists() and not scaffold.directory.is_dir():
        raise CommandError(f"{scaffold.directory} exists and is not a folder")
    targets = scaffold.targets()
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing:
        raise CommandError("refusing to overwrite existing files: " + ", ".join(existing)
                           + " (choose an empty or new folder)")
    rendered = {path: render(template, scaffold) for template, path in targets.items()}
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as file:  # "x": fail rather than overwrite
            file.write(text)
    return list(rendered)


def render(template: str, scaffold: Scaffold) -> str:
    """One template file with $name, $package, $dist and $contract_version filled in."""
    source = resources.files("microgpt_spec").joinpath("templates", "backend", *template.split("/"))
    return Template(source.read_text(encoding="utf-8")).substitute(scaffold.substitutions())
