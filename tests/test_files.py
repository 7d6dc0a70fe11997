"""The one atomic writer (microgpt_spec/files.py): every file written whole goes through it."""

from __future__ import annotations

import os

import pytest

from microgpt_spec import files


def only_file_in(folder):
    return [p.name for p in folder.iterdir()]


def test_it_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "names.txt"
    target.write_bytes(b"old\n")
    assert files.write_atomically(target, b"new\n") == target
    assert target.read_bytes() == b"new\n"
    assert only_file_in(tmp_path) == ["names.txt"]


def test_text_is_written_as_utf8_and_missing_folders_are_made(tmp_path):
    target = files.write_atomically(tmp_path / "run" / "a.txt", "é\n")
    assert target.read_bytes() == "é\n".encode("utf-8")


@pytest.mark.parametrize("failing", ["write", "replace"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "metrics.csv"
    files.write_atomically(target, "old\n")

    def disk_full(*args):
        raise OSError("disk full")

    if failing == "write":
        monkeypatch.setattr(os, "fsync", disk_full)
    else:
        monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomically(target, "new\n")
    assert target.read_text() == "old\n"
    assert only_file_in(tmp_path) == ["metrics.csv"]


def test_ctrl_c_during_a_write_leaves_no_temporary(tmp_path, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(tmp_path / "a.txt", "x")
    assert only_file_in(tmp_path) == []


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    path = files.write_atomically(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0o600


def test_a_replaced_file_keeps_its_own_permissions(tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes(b"old\n")
    path.chmod(0o640)
    files.write_atomically(path, b"new\n")
    assert path.stat().st_mode & 0o777 == 0o640
