"""The c backend (backends/c) beyond what the spec checks: its build and its cache, how it
fails on a broken message, its scaffold (microgpt_spec/templates/c), and, marked slow, the
reference run through the command line.

The whole spec on it is `pytest --pyargs microgpt_spec.conformance --backend=c`.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from cli_helpers import cli
from spec_runs import spec_run

from microgpt_spec import checkpoint
from microgpt_spec.commands.new_backend import write_program
from microgpt_spec.programs import MANIFEST_NAME, built_folder, read_manifest

C_FOLDER = Path(__file__).resolve().parents[1] / "backends" / "c"
SCAFFOLD = Path(__file__).resolve().parents[1] / "microgpt_spec" / "templates" / "c"
#: The files the scaffold shares with the backend, byte for byte: the protocol layer, the glue
#: and the parts' headers (only the parts' .c files and main.c's name differ).
SHARED = ("json.c", "json.h", "protocol.c", "protocol.h", "backend.c", "engine.h", "tokenizer.h", "model.h",
          "loss.h", "adam.h", "sampling.h", "train.h", "storage.c")
REFERENCE_SAMPLES = ("kamon ann karai jaire vialan karia yeran anna areli kaina "
                     "konna keylen liole alerin earan lenne kana lara alela anton").split()

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    """The c backend, built into a fresh cache folder."""
    folder = built_folder(read_manifest(C_FOLDER / MANIFEST_NAME), tmp_path_factory.mktemp("cache"))
    return folder / "microgpt-c"


def frame(body: bytes) -> bytes:
    return struct.pack("<I", len(body)) + body


def test_the_build_is_cached_by_the_sources_content(tmp_path):
    manifest = read_manifest(C_FOLDER / MANIFEST_NAME)
    first = built_folder(manifest, tmp_path)
    stamp = (first / "microgpt-c").stat().st_mtime_ns
    again = built_folder(manifest, tmp_path)
    assert again == first and (again / "microgpt-c").stat().st_mtime_ns == stamp  # not rebuilt
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [first.name]


def test_it_says_ready_then_ends_when_its_input_closes(program):
    done = subprocess.run([str(program)], input=b"", capture_output=True, timeout=10)
    assert done.returncode == 0
    size = struct.unpack("<I", done.stdout[:4])[0]
    assert b'"ready"' in done.stdout[4:4 + size] and b'"protocol":3' in done.stdout[4:4 + size]


@pytest.mark.parametrize("message", [b"not json", b'{"a": [], "s": ["call", 0, "value", [1.0], [], 7]', b"[1, 2]"],
                         ids=["not JSON", "unterminated", "not a batch"])
def test_a_malformed_message_ends_it_with_a_reason_instead_of_hanging(program, message):
    done = subprocess.run([str(program)], input=frame(message), capture_output=True, timeout=10)
    assert done.returncode != 0
    assert done.stderr.startswith(b"microgpt-c: ") and len(done.stderr) > 20


def test_a_message_cut_short_ends_it_too(program):
    done = subprocess.run([str(program)], input=struct.pack("<I", 100) + b"{}", capture_output=True, timeout=10)
    assert done.returncode != 0 and b"closed in the middle of a message" in done.stderr


def test_the_scaffold_takes_the_protocol_layer_from_the_backend():
    from microgpt_spec.commands.new_backend import program_templates, shared_files

    assert set(shared_files("c")) == set(SHARED)
    written = program_templates("c")
    for name in SHARED:
        assert not (SCAFFOLD / name).exists(), f"templates/c/{name}: taken from backends/c, not kept twice"
        assert written[name] == (C_FOLDER / name).read_bytes()


def conformance(backend: Path, *options: str) -> str:
    """What a conformance run of `backend` printed (tests/spec_runs.py runs it)."""
    return spec_run(str(backend), backend.parent / f"{backend.name}-report.json", (), *options)["stdout"]


def summary(out: str) -> str:
    """pytest's last line: "10 passed in 2.6s", "177 not implemented in 9s" ..."""
    return [line for line in out.splitlines() if line.strip()][-1]


@pytest.mark.slow  # a whole conformance run; the quick sibling is in test_new_backend.py
def test_the_scaffold_builds_and_every_area_is_not_implemented(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_SPEC_CACHE", str(tmp_path / "cache"))
    write_program("c", "mine", tmp_path / "mine")
    out = conformance(tmp_path / "mine")
    assert "backend mine 0.1" in out, out[-3000:]
    assert "not implemented" in summary(out), out[-3000:]
    assert "passed" not in summary(out) and "failed" not in summary(out), out[-3000:]
    for area in ("tokenizer", "ops", "autograd", "layers", "loss", "adam", "sampling", "training"):
        assert f"write next for {area}:" in out, out[-3000:]


@pytest.mark.slow  # a whole conformance run; the quick sibling is in test_new_backend.py
def test_filling_in_one_part_of_the_scaffold_turns_its_area_green(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_SPEC_CACHE", str(tmp_path / "cache"))
    write_program("c", "mine", tmp_path / "mine")
    shutil.copy(C_FOLDER / "tokenizer.c", tmp_path / "mine" / "tokenizer.c")  # the learner writes tokenizer.c
    out = conformance(tmp_path / "mine", "-k", "tokenizer")
    assert summary(out).startswith("10 passed") and "failed" not in summary(out), out[-3000:]


# --------------------------------------------------------------------- the reference run
@pytest.mark.slow
def test_c_prints_the_whole_reference_run(capsys, reference_names, tmp_path):
    """All 1000 steps and the 20 samples on the c backend through the command line: the
    original program's numbers (a few seconds)."""
    code, out, err = cli(capsys, "train", "--backend", "c", "--data", reference_names, "--out", tmp_path / "c")
    assert code == 0, err
    assert "step 1000 / 1000 | loss 2.6497 |" in out
    printed = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("sample ")]
    assert printed == REFERENCE_SAMPLES
    losses = checkpoint.load(tmp_path / "c").losses
    assert losses[0] == pytest.approx(3.3659669475848504, rel=1e-12)  # the original's step 1, to 12 digits
    assert losses[-1] == pytest.approx(2.6496944697407585, rel=1e-12)  # and step 1000
    code, sampled, _ = cli(capsys, "sample", "--checkpoint", tmp_path / "c", "--backend", "c")
    assert sampled.split() == REFERENCE_SAMPLES
