"""The training data: a list of first names, one per line, and how to read it.

microgpt learns from *documents*. Here a document is one name, and the documents are

    docs = [line.strip() for every line of the file, if line.strip() is not empty]

in file order (the shuffle with seed 42 happens later, in training). That is exactly the
reference program's reading rule; `load_docs` implements it and turns every way a file
can be unusable (missing, a folder, not UTF-8, no names at all) into one `DataError`
with a message a beginner can act on.

Two name lists matter to the project:

* `NAMES_PATH`, the file shipped here: the 32,257 first names the US Social Security
  Administration (SSA) counted for 2018 (five births or more), girls then boys, each by
  rank. `build_names.py` beside this file rebuilds it byte for byte from a public source;
  `README.md` tells the story.
* makemore's `names.txt` (32,033 lines), the file the original microgpt trains on. It is
  an earlier SSA release of the same year, so every one of its lines is in ours and ours
  has 224 more. It may not be shipped with the project; `reference_names_path` finds a copy
  if one is on this machine, so the numbers of the original run can be checked.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "NAMES_PATH",
    "NAMES_SHA256",
    "NAMES_LINE_COUNT",
    "GOLDEN_DIR",
    "REFERENCE_NAMES_ENV",
    "REFERENCE_NAMES_SHA256",
    "DataError",
    "load_docs",
    "reference_names_candidate",
    "reference_names_path",
    "sha256_of",
]

_DATA_DIR = Path(__file__).parent

#: The shipped list of names (one per line, lowercase a-z, final newline).
NAMES_PATH: Path = _DATA_DIR / "names.txt"

#: sha256 of the shipped names.txt; `build_names.py` reproduces exactly these bytes.
NAMES_SHA256 = "bd02dfd33179e23ec2dd093cbd4de619834f75d660ef1ae04d3127e7a0110053"

#: Lines (= names) in the shipped names.txt: 18,148 girls' names then 14,109 boys' names.
NAMES_LINE_COUNT = 32_257

#: Golden traces of reference runs (filled and documented in golden/README.md).
GOLDEN_DIR: Path = _DATA_DIR / "golden"

#: Environment variable that points at a copy of makemore's names.txt.
REFERENCE_NAMES_ENV = "MICROGPT_SPEC_REFERENCE_NAMES"

#: sha256 of makemore's names.txt, the file the original microgpt run used.
REFERENCE_NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"


class DataError(ValueError):
    """A names file cannot be used; the message says which file and why."""


def load_docs(path: str | os.PathLike[str] | None = None) -> list[str]:
    """Read a names file into documents: its stripped, non-empty lines, in order.

    `path` defaults to the shipped `NAMES_PATH`. The file must be UTF-8 text. Line ends
    may be "\\n", "\\r\\n" or "\\r" (read like Python's text mode does). Raises `DataError`
    if the file is missing, is a folder, is not UTF-8, or holds no names at all.
    """
    path = NAMES_PATH if path is None else Path(path)
    text = _decode_utf8(_read_bytes(path), path)
    docs = [line.strip() for line in _split_lines(text) if line.strip()]
    if not docs:
        raise DataError(
            f"The names file {path} contains no names: it is empty or has only blank "
            "lines. Put one name per line."
        )
    return docs


def _read_bytes(path: Path) -> bytes:
    """The whole file as bytes, or a `DataError` saying why it cannot be read."""
    if not path.exists():
        raise DataError(f"The names file {path} does not exist. Check the path.")
    if path.is_dir():
        raise DataError(
            f"The names file {path} is a folder, not a file. "
            "Give the path of a text file with one name per line."
        )
    try:
        return path.read_bytes()
    except OSError as error:  # e.g. no permission to read it
        raise DataError(f"The names file {path} cannot be read: {error.strerror}.") from None


def _decode_utf8(raw: bytes, path: Path) -> str:
    """`raw` decoded as UTF-8; on failure, say where the first bad byte is.

    Line numbers count from 1; the byte offset counts from 0 at the start of the file,
    so `head -c OFFSET` shows everything before the bad byte.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
        line = raw.count(b"\n", 0, offset) + 1
        raise DataError(
            f"The names file {path} is not UTF-8 text: the first bad byte "
            f"(0x{raw[offset]:02x}) is on line {line}, at byte offset {offset} "
            "of the file. Save the file as UTF-8."
        ) from None


def _split_lines(text: str) -> list[str]:
    """Split like reading in text mode and splitting on "\\n".

    Text mode turns "\\r\\n" and a lone "\\r" into "\\n" and nothing else; `str.splitlines`
    would also split on form feeds and other rare separators, which the reference does not.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def reference_names_candidate() -> Path:
    """Where `reference_names_path` looks for makemore's names.txt.

    The environment variable MICROGPT_SPEC_REFERENCE_NAMES wins when set (and not empty);
    otherwise `<repo>/../shared/data/makemore-names.txt`, with <repo> the folder that holds
    data/ (CI checks the repository out with a `shared/` folder beside it).
    """
    from_env = os.environ.get(REFERENCE_NAMES_ENV, "")
    if from_env:
        return Path(from_env)
    repo = _DATA_DIR.resolve().parent
    return repo.parent / "shared" / "data" / "makemore-names.txt"


def reference_names_path() -> Path | None:
    """makemore's names.txt if a copy is on this machine, else None.

    Only presence is checked here; compare `sha256_of(path)` with
    `REFERENCE_NAMES_SHA256` to know it is the right file.
    """
    candidate = reference_names_candidate()
    return candidate if candidate.is_file() else None


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, as 64 lowercase hex digits."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
