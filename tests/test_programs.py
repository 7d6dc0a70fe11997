"""Program backends' host side (microgpt_spec.programs): the manifest, the build cache, the
messages a learner meets when something is missing, and the host's random draws."""

from __future__ import annotations

import random
import sys
import textwrap
from pathlib import Path

import pytest

from microgpt_spec import programs
from microgpt_spec.registry import BackendLoadError, find_backend

#: A program backend in a few lines of Python (any language would do): it says ready, then
#: answers init_params by asking the host for gauss draws and build_tokenizer with an error.
TINY_PROGRAM = textwrap.dedent('''
    import json, struct, sys
    PROTOCOL = int(sys.argv[1])
    def send(doc):
        data = json.dumps(doc).encode()
        sys.stdout.buffer.write(struct.pack("<I", len(data)) + data)
        sys.stdout.buffer.flush()
    def receive():
        head = sys.stdin.buffer.read(4)
        if len(head) < 4:
            sys.exit(0)
        return json.loads(sys.stdin.buffer.read(struct.unpack("<I", head)[0]))
    send({"ready": {"name": "tiny", "version": "0", "precision": "float64",
                    "methods": ["init_params", "build_tokenizer"], "protocol": PROTOCOL}})
    while True:
        request = receive()["s"]
        if request is None:
            continue
        if request[2] == "init_params":
            key = request[3][1]["rng"]["k"]
            send({"draw": {"k": key, "dist": "gauss", "n": 3, "mu": 0.0, "sigma": 0.08}})
            send({"r": {"d": [["wte", [receive()["r"]]]]}})
        elif request[2] == "build_tokenizer" and request[3][0] == ["bad draw"]:
            send({"draw": {"k": 99, "dist": "random", "n": 1}})
            receive()
        else:
            print("build_tokenizer is not written yet", file=sys.stderr)
            send({"e": {"type": "NotImplementedError", "message": "tokenizer: build_tokenizer(docs)"}})
''')


@pytest.fixture
def tiny(tmp_path) -> Path:
    from microgpt_spec.grading.protocol import VERSION

    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "tiny.py").write_text(TINY_PROGRAM)
    (folder / programs.MANIFEST_NAME).write_text(f'command = ["{sys.executable}", "{{here}}/tiny.py", "{VERSION}"]\n')
    return folder


def test_a_folder_with_a_manifest_is_a_program_backend_whose_draws_are_the_hosts(tiny):
    from microgpt_spec.spec.contract import Config

    backend = find_backend(str(tiny)).backend
    mine, theirs = random.Random(7), random.Random(7)
    params = backend.init_params(Config(), mine)
    assert params == {"wte": [[theirs.gauss(0.0, 0.08) for _ in range(3)]]}
    assert mine.getstate() == theirs.getstate()  # the spec's own generator moved, exactly as far
    with pytest.raises(NotImplementedError, match="build_tokenizer"):
        backend.build_tokenizer(["emma"])


def test_exec_runs_a_command_as_it_is(tiny):
    from microgpt_spec.grading.protocol import VERSION

    loaded = find_backend(f"exec:{sys.executable} {tiny / 'tiny.py'} {VERSION}")
    assert loaded.name == "tiny" and loaded.origin.startswith("exec:")


def test_a_program_that_speaks_another_protocol_version_is_told_what_to_write(tmp_path, tiny):
    with pytest.raises(BackendLoadError, match='"protocol": '):
        find_backend(f"exec:{sys.executable} {tiny / 'tiny.py'} 1")


def test_a_draw_for_a_generator_the_call_never_passed_is_the_programs_crash(tiny):
    from microgpt_spec.grading.failures import SubmissionFailure

    backend = find_backend(str(tiny)).backend
    with pytest.raises(SubmissionFailure, match="malformed"):
        backend.build_tokenizer(["bad draw"])


@pytest.mark.parametrize("manifest, complaint", [
    ('build = ["cc"]\n', "`command` is required"),
    ('command = "run me"\n', "`command` is a list of strings"),
    ('command = ["x"]\ncompiler = "cc"\n', "unknown key 'compiler'"),
    ('command = ["x"\n', "not a readable manifest"),
])
def test_a_wrong_manifest_is_one_clear_message(tmp_path, manifest, complaint):
    (tmp_path / programs.MANIFEST_NAME).write_text(manifest)
    with pytest.raises(BackendLoadError, match=complaint):
        find_backend(str(tmp_path))


def test_a_missing_compiler_is_named_with_the_manifests_hint(tmp_path):
    (tmp_path / programs.MANIFEST_NAME).write_text(
        'command = ["{build}/prog"]\nbuild = ["no-such-compiler-here", "main.c"]\nhint = "install it: apt install it"\n')
    with pytest.raises(BackendLoadError, match="no `no-such-compiler-here` is on PATH: install it: apt install it"):
        find_backend(str(tmp_path))


def test_a_failed_build_shows_what_the_build_said(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_SPEC_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "prog"
    folder.mkdir()
    (folder / programs.MANIFEST_NAME).write_text(
        f'command = ["{{build}}/prog"]\nbuild = ["{sys.executable}", "-c", "import sys; sys.exit(\'no main here\')"]\n')
    with pytest.raises(BackendLoadError, match="(?s)the build failed.*no main here"):
        find_backend(str(folder))
    assert not list((tmp_path / "cache").glob("prog-*")), "a failed build leaves no cache entry"


def test_the_build_cache_follows_the_sources_content(tmp_path):
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / programs.MANIFEST_NAME).write_text('command = ["{build}/p"]\nbuild = ["cc"]\nsources = ["*.c"]\n')
    manifest = programs.read_manifest(tmp_path / programs.MANIFEST_NAME)
    before = programs.build_key(manifest)
    (tmp_path / "notes.txt").write_text("not a source")
    assert programs.build_key(manifest) == before
    (tmp_path / "main.c").write_text("int main(void) { return 1; }\n")
    assert programs.build_key(manifest) != before


def test_only_here_and_build_are_placeholders(tmp_path):
    manifest = programs.Manifest(folder=tmp_path, command=("awk", "{print $1}", "{here}/x", "{build}/y"))
    assert manifest.expand(manifest.command, tmp_path / "b") == ["awk", "{print $1}", f"{tmp_path}/x", f"{tmp_path}/b/y"]
