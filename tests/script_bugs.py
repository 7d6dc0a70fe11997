"""The bugged microgpt scripts of tests/scripts/bugs.toml, written out for a test.

Each entry is the correct `tests/scripts/microgpt.py` with a line or two replaced: the
bug stays visible in one place, and the scripts cannot drift from the correct one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"
CORRECT = SCRIPTS / "microgpt.py"


@dataclass(frozen=True)
class Bug:
    name: str
    area: str
    what: str
    replace: tuple[tuple[str, str], ...]

    def write(self, folder: Path) -> Path:
        """The bugged script, as `folder/NAME.py`, its first line naming the bug."""
        text = CORRECT.read_text(encoding="utf-8")
        for old, new in self.replace:
            assert text.count(old) == 1, f"{self.name}: {old!r} must stand exactly once in microgpt.py"
            text = text.replace(old, new)
        path = folder / f"{self.name}.py"
        path.write_text(f"# BUG for the {self.area} area: {self.what}\n{text}", encoding="utf-8")
        return path


def bugs() -> list[Bug]:
    table = tomllib.loads((SCRIPTS / "bugs.toml").read_text(encoding="utf-8"))
    return [Bug(name, entry["area"], entry["what"], tuple(map(tuple, entry["replace"])))
            for name, entry in sorted(table.items())]


def bug(name: str) -> Bug:
    return next(b for b in bugs() if b.name == name)
