"""Make your own copy of the student backend: microgpt with the learning parts to write.

    microgpt-spec new-student mygpt

writes

    mygpt/backend.py                  what --backend=mygpt loads (one line: your package)
    mygpt/microgpt_student/*.py       the files you fill in: tokenizer, engine, model, ...
    mygpt/README.md                   the path, area by area

and never overwrites a file that is already there. Then check one area at a time, in
this order (each uses only the ones before it), and watch your score rise:

    pytest --pyargs microgpt_spec.conformance --backend=mygpt --area=tokenizer
    ... ops, autograd, layers, loss, adam, sampling, training
    microgpt-spec grade mygpt
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from microgpt_spec.cli import CommandError
from microgpt_spec.spec.contract import AREAS

NAME = "new-student"
HELP = "copy the fill-in-the-blanks student backend into a new folder"
PACKAGE = "microgpt_student"
STUB_PACKAGE = "microgpt_spec.backends.student"

LAUNCHER = '''"""What `--backend=THIS_FOLDER` loads: your microgpt, in the package beside this file.

You write the package's functions; nothing to change here.
"""

from microgpt_student import Backend

__all__ = ["Backend"]
'''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="where to put your copy (new or empty of these files)")


def run(args: argparse.Namespace) -> int:
    written = write_student_copy(args.folder)
    print(f"wrote {len(written)} files in {args.folder}/")
    print(next_steps(args.folder))
    return 0


def planned_files(folder: Path) -> dict[Path, str]:
    """Every file of the copy and its text."""
    stub = resources.files(STUB_PACKAGE)
    files = {folder / "backend.py": LAUNCHER, folder / "README.md": readme(folder)}
    for entry in sorted(stub.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            files[folder / PACKAGE / entry.name] = entry.read_text(encoding="utf-8")
    return files


def write_student_copy(folder: Path) -> list[Path]:
    """Write the copy; refuse (writing nothing) if any of its files exists already."""
    files = planned_files(folder)
    existing = [path for path in files if path.exists() or path.is_symlink()]
    if existing:
        listed = "\n  ".join(str(p) for p in existing)
        raise CommandError(f"these files exist already; nothing was written:\n  {listed}\n"
                           "choose a new folder, or move them away first")
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{folder} exists and is not a folder")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as handle:  # "x": never overwrite, even in a race
            handle.write(text)
    return list(files)


def next_steps(folder: Path) -> str:
    lines = ["", "Work through the areas in this order; each uses only the ones before it:", ""]
    lines += [f"  pytest --pyargs microgpt_spec.conformance --backend={folder} --area={area}" for area in AREAS]
    lines += ["", "and see your score, area by area:", "", f"  microgpt-spec grade {folder}", ""]
    return "\n".join(lines)


def readme(folder: Path) -> str:
    steps = "\n".join(
        f"{i}. `{area}`: `pytest --pyargs microgpt_spec.conformance --backend={folder.name} --area={area}`"
        for i, area in enumerate(AREAS, start=1))
    return f"""# Your microgpt

`{PACKAGE}/` is microgpt with the learning parts left for you: every function that raises
`NotImplementedError` is yours to write. Its docstring says what to compute, with the math
and a tiny worked example; its error message names its spec area. The rest is written
for you: a few helpers, and the glue between the spec and your code (`backend.py` names
your modules; the adapter it uses, `microgpt_spec.backends.scalar`, is the one the pure
reference backend uses too, and holds plumbing only, no microgpt).

Run the commands from the folder that holds `{folder.name}/`. Work through the areas in
this order: each area uses only the ones before it.

{steps}

A test that reports *not implemented* is one whose function you have not written yet; a
*failed* one explains what it called, what came back, what was expected and the rule
behind it, with a snippet to reproduce it.

Your score, area by area (the same grader an instructor uses):

    microgpt-spec grade {folder.name}

Which file holds which area:

| file | what you write | area |
| --- | --- | --- |
| `tokenizer.py` | characters <-> ids | tokenizer |
| `engine.py` | the `Value` operations, then `backward` | ops, autograd |
| `model.py` | `linear` ... `gpt`, then the loss | layers, loss |
| `adam.py` | the optimizer | adam |
| `sampling.py` | drawing names | sampling |
| `train.py` | init and the training loop | training |
"""
