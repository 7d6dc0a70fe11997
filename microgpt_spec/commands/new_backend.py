"""Start a new backend whose every part says "not implemented".

    microgpt-spec new-backend NAME DIR                  a Python package (the default)
    microgpt-spec new-backend --language c NAME DIR     a C program
    microgpt-spec new-backend --language js NAME DIR    a JavaScript program on Node

For a program (c, js), DIR gets the program's files from microgpt_spec/templates/LANGUAGE/:
the protocol loop done, every microgpt part a stub that reports *not implemented*, and its
manifest (microgpt-backend.toml); `pytest --pyargs microgpt_spec.conformance --backend=DIR`
builds and checks it (docs/adding-a-backend.md). For Python,

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
#: The languages a scaffold can be written in; python is an installable package, the others
#: are programs speaking the protocol (microgpt_spec.programs).
LANGUAGES = ("python", "c", "js")
#: Files of a program scaffold in which {{name}} stands for the backend's name.
PROGRAM_NAME_MARK = "{{name}}"
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
    parser.add_argument("--language", choices=LANGUAGES, default="python",
                        help="python: an installable package (default); c, js: a program speaking the protocol")
    parser.add_argument("name", metavar="NAME",
                        help="the backend's name, as in --backend=NAME (lowercase letters, digits, _)")
    parser.add_argument("directory", metavar="DIR", type=Path,
                        help="the folder to write the package into (made if missing)")


def run(args: argparse.Namespace) -> int:
    if args.language != "python":
        return run_program_scaffold(args.language, check_name(args.name, registered=False), args.directory)
    scaffold = Scaffold(check_name(args.name), args.directory)
    written = write(scaffold)
    print(f"wrote the backend {scaffold.name!r} (package {scaffold.package}) to {scaffold.directory}:")
    for path in written:
        print(f"  {path}")
    print("next:")
    print(f"  pip install -e {scaffold.directory}")
    print(f"  pytest --pyargs microgpt_spec.conformance --backend={scaffold.name}")
    return 0


def check_name(name: str, registered: bool = True) -> str:
    """`name` if it can be a backend name and a package suffix; else CommandError saying why.
    A program is named by its folder, never registered: then only the spelling counts."""
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise CommandError(
            f"{name!r} is not a usable backend name: use 1 to 40 lowercase letters, digits and "
            f"underscores, starting with a letter (for example: mine, my_numpy, cuda2)"
        )
    if registered and name in registered_backends():
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


# --------------------------------------------------------------------------- programs
def run_program_scaffold(language: str, name: str, directory: Path) -> int:
    written = write_program(language, name, directory)
    print(f"wrote the {language} backend {name!r} to {directory}:")
    for path in written:
        print(f"  {path}")
    print("next (README.md there says where to start):")
    print(f"  pytest --pyargs microgpt_spec.conformance --backend={directory}")
    return 0


#: In templates/LANGUAGE, the list of files the scaffold takes as they are from the
#: language's complete backend (backends/LANGUAGE): the protocol layer, written once.
SHARED_LIST = "shared.txt"


def program_templates(language: str) -> dict[str, bytes]:
    """Relative path -> content of the scaffold's files: the template's own (the stubs, the
    manifest, the README) and the files it shares with the complete backend."""
    root = resources.files(f"microgpt_spec.templates.{language}")
    found: dict[str, bytes] = {}

    def walk(folder, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.name in ("__init__.py", "__pycache__", SHARED_LIST):
                continue
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                found[prefix + entry.name] = entry.read_bytes()

    walk(root, "")
    for name in shared_files(language):
        found[name] = resources.files(f"microgpt_spec.backends.{language}").joinpath(name).read_bytes()
    return found


def shared_files(language: str) -> list[str]:
    listing = resources.files(f"microgpt_spec.templates.{language}").joinpath(SHARED_LIST)
    if not listing.is_file():
        return []
    return [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def write_program(language: str, name: str, directory: Path) -> list[Path]:
    """Copy the language's scaffold into `directory`, {{name}} filled in; nothing is written
    if any target exists."""
    if directory.exists() and not directory.is_dir():
        raise CommandError(f"{directory} exists and is not a folder")
    files = {directory / relative: content.replace(PROGRAM_NAME_MARK.encode(), name.encode())
             for relative, content in sorted(program_templates(language).items())}
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise CommandError("refusing to overwrite existing files: " + ", ".join(existing)
                           + " (choose an empty or new folder)")
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as file:  # "x": fail rather than overwrite
            file.write(content)
    return list(files)
