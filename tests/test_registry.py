"""Finding a backend from what the user typed after --backend."""

from __future__ import annotations

import textwrap

import pytest

from microgpt_spec import load_backend
from microgpt_spec.registry import BackendLoadError, find_backend, registered_backends

TINY = """
from microgpt_spec.spec.contract import Backend as Base

class Backend(Base):
    name = "tiny"
    version = "3.1"
"""


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_backends_are_registered_by_entry_point():
    assert {"pure", "numpy"} <= set(registered_backends())


def test_registered_name_loads_the_backend():
    loaded = find_backend("pure")
    assert loaded.name == "pure"
    assert loaded.origin.endswith(".py")


def test_file_path(tmp_path):
    loaded = find_backend(str(write(tmp_path / "mine.py", TINY)))
    assert (loaded.name, loaded.version) == ("tiny", "3.1")
    assert loaded.origin == str(tmp_path / "mine.py")


def test_file_path_and_attribute(tmp_path):
    path = write(tmp_path / "mine.py", TINY + "\nclass Other(Backend):\n    name = 'other'\n")
    assert find_backend(f"{path}:Other").name == "other"


def test_folder_with_one_file(tmp_path):
    write(tmp_path / "impl.py", TINY)
    assert find_backend(str(tmp_path)).name == "tiny"


def test_folder_with_several_files_needs_a_choice(tmp_path):
    write(tmp_path / "a.py", TINY)
    write(tmp_path / "b.py", TINY)
    with pytest.raises(BackendLoadError, match="several .py files"):
        find_backend(str(tmp_path))


def test_module_and_attribute(tmp_path, monkeypatch):
    write(tmp_path / "tinymod.py", TINY + "\nbackend_instance = Backend()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert find_backend("tinymod:backend_instance").name == "tiny"
    assert find_backend("tinymod").name == "tiny"


def test_load_backend_returns_the_object(tmp_path):
    backend = load_backend(str(write(tmp_path / "mine.py", TINY)))
    assert backend.name == "tiny"


@pytest.mark.parametrize(
    "source, message",
    [
        ("raise RuntimeError('boom')", "RuntimeError: boom"),
        ("import sys\nsys.exit(3)", "sys.exit"),
        ("x = 1", "defines none of backend, Backend, make_backend"),
        ("def make_backend():\n    raise ValueError('nope')", "ValueError: nope"),
    ],
)
def test_broken_files_give_one_clear_message(tmp_path, source, message):
    path = write(tmp_path / "broken.py", source)
    with pytest.raises(BackendLoadError, match=message):
        find_backend(str(path))


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(BackendLoadError) as error:
        find_backend("no_such_backend_here")
    assert "pure" in str(error.value) and "--backend" in str(error.value)


def test_missing_file():
    with pytest.raises(BackendLoadError, match="no such file"):
        find_backend("does/not/exist.py")


SCRIPT = """
import random

class Value:
    def __init__(self, data):
        self.data = data
        self.grad = 0

def gpt(token_id, pos_id, keys, values):
    return []

print("the script's top level ran")
"""


def test_a_script_without_backend_is_checked_as_a_script_not_imported(tmp_path, capsys):
    loaded = find_backend(str(write(tmp_path / "microgpt.py", SCRIPT)))
    assert (loaded.name, loaded.version) == ("microgpt.py", "script")
    assert loaded.origin == str((tmp_path / "microgpt.py").resolve())
    assert capsys.readouterr().out == ""  # never imported: its print did not run
    assert loaded.backend.value(2.0).data == 2.0


def test_a_file_that_is_neither_backend_nor_script_says_both_ways(tmp_path):
    with pytest.raises(BackendLoadError, match="microgpt script's shape"):
        find_backend(str(write(tmp_path / "other.py", "x = 1")))


def test_a_script_whose_definitions_exit_gives_one_clear_message(tmp_path):
    source = "import sys\n\nclass Value:\n    sys.exit(3)\n"
    with pytest.raises(BackendLoadError, match=r"line 3 .*raised SystemExit"):
        find_backend(str(write(tmp_path / "microgpt.py", source)))
