"""The js backend (backends/js) and its scaffold (templates/js), beyond what the spec checks.

The spec itself checks the backend's microgpt (`pytest --pyargs microgpt_spec.conformance
--backend=js`). Here: how the program behaves on the wire when things go wrong, and that
the scaffold `new-backend --language js` writes starts with every area *not implemented*
and turns an area green once its part is written.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from spec_runs import spec_run

from microgpt_spec.commands.new_backend import write_program
from microgpt_spec.spec.contract import AREAS, CONTRACT_METHODS

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="no `node` on PATH: the js backend needs Node.js 18 or later")

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backends" / "js"
TEMPLATE = ROOT / "microgpt_spec" / "templates" / "js"
#: Files the scaffold shares with the backend, byte for byte: the wire, JSON, Python's
#: arithmetic, the contract's methods and the start-up. Only the microgpt parts differ.
SHARED = ("protocol.js", "json.js", "pymath.js", "backend.js", "main.js", "params.js")
SECONDS = 20


# --------------------------------------------------------------------------- talking to the program
def start(folder: Path = BACKEND) -> subprocess.Popen:
    return subprocess.Popen([NODE, str(folder / "main.js")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def frame(document) -> bytes:
    payload = json.dumps(document).encode()
    return struct.pack("<I", len(payload)) + payload


def read_message(stream) -> dict:
    (size,) = struct.unpack("<I", stream.read(4))
    return json.loads(stream.read(size))


def ask(program: subprocess.Popen, request: list, asynchronous: list | None = None) -> dict:
    program.stdin.write(frame({"a": asynchronous or [], "s": request}))
    program.stdin.flush()
    return read_message(program.stdout)


@pytest.fixture
def program():
    running = start()
    ready = read_message(running.stdout)["ready"]
    assert ready["protocol"] == 3 and set(ready["methods"]) == set(CONTRACT_METHODS)
    yield running
    if running.poll() is None:
        running.kill()
    running.wait()
    for stream in (running.stdin, running.stdout, running.stderr):
        stream.close()


def finish(program: subprocess.Popen, then: bytes = b"") -> tuple[int, str]:
    """Send `then`, close the program's input; its exit status and what it said on stderr."""
    program.stdin.write(then)
    program.stdin.close()
    status = program.wait(timeout=SECONDS)
    return status, program.stderr.read().decode("utf-8", "replace")


# --------------------------------------------------------------------------- the wire
def test_closing_the_input_ends_the_program_cleanly(program):
    assert finish(program) == (0, "")


@pytest.mark.parametrize("garbage", [
    pytest.param(struct.pack("<I", 5) + b"nope!", id="not JSON"),
    pytest.param(struct.pack("<I", 0xFFFFFFF0), id="a length no message has"),
    pytest.param(struct.pack("<I", 100) + b"{}", id="input ends inside a message"),
    pytest.param(frame({"a": [], "s": ["teleport", 0]}), id="an unknown request"),
    pytest.param(frame({"a": [["op", 7, "add", {"h": 123456}, 1.0]], "s": ["flush"]}), id="a handle never made"),
])
def test_a_malformed_message_ends_the_program_with_a_reason(program, garbage):
    status, said = finish(program, garbage)
    assert status != 0
    assert "protocol error" in said


def test_errors_arrive_as_python_exceptions(program):
    reply = ask(program, ["flush"], [["acall", 1, 0, "value", [0.0]], ["acall", 2, 1, "log", []]])
    assert reply["e"]["type"] == "ValueError" and reply["e"]["message"] == "math domain error"
    assert [1, 1] in [[h, c] for h, c in reply["hc"]]  # the leaf was made; the log was not
    reply = ask(program, ["float", 2])  # the failed handle fails again when used
    assert reply["e"]["type"] == "ValueError"
    reply = ask(program, ["call", 0, "no_such_method", [], []])
    assert reply["e"]["type"] == "AttributeError"


def test_floats_keep_every_bit_and_python_s_special_values(program):
    values = [0.1, -0.0, 1e-310, 1.7976931348623157e308, 2.0 / 3.0, float("inf"), -float("inf"), float("nan")]
    made = [["acall", i + 1, 0, "value", [x]] for i, x in enumerate(values)]  # json writes NaN, Infinity bare
    got = [ask(program, ["get", i + 1, "data"], made if i == 0 else None)["r"] for i in range(len(values))]
    assert [repr(x) for x in got[:-1]] == [repr(x) for x in values[:-1]]
    assert got[-1] != got[-1]  # nan


# --------------------------------------------------------------------------- the scaffold
def test_the_scaffold_shares_the_backend_s_protocol_files(scaffold):
    for name in SHARED:
        assert not (TEMPLATE / name).exists(), f"templates/js/{name}: taken from backends/js, not kept twice"
        assert (scaffold / name).read_bytes() == (BACKEND / name).read_bytes(), f"the scaffold's {name} differs"


def conformance(folder: Path, *areas: str) -> dict:
    """The areas of a conformance run's report (tests/spec_runs.py runs it)."""
    return spec_run(str(folder), folder.parent / f"{folder.name}-report.json", areas)["areas"]


@pytest.fixture
def scaffold(tmp_path) -> Path:
    folder = tmp_path / "mine"
    write_program("js", "mine", folder)
    return folder


@pytest.mark.slow  # a whole conformance run; the quick sibling is in test_new_backend.py
def test_the_scaffold_reports_every_area_not_implemented(scaffold):
    areas = conformance(scaffold)
    for area in AREAS:
        assert areas[area]["verdict"] == "not implemented", (area, areas[area])
        assert areas[area]["passed"] == areas[area]["failed"] == 0
        assert areas[area]["write_next"]


@pytest.mark.slow  # a whole conformance run; the quick sibling is in test_new_backend.py
def test_writing_the_tokenizer_turns_its_area_green(scaffold):
    shutil.copyfile(BACKEND / "tokenizer.js", scaffold / "tokenizer.js")
    areas = conformance(scaffold, "tokenizer", "ops")
    assert areas["tokenizer"]["verdict"] == "PASS" and areas["tokenizer"]["failed"] == 0
    assert areas["ops"]["verdict"] == "not implemented"


def test_the_scaffold_names_itself_in_the_manifest_and_readme(scaffold):
    assert "mine" in (scaffold / "microgpt-backend.toml").read_text()
    assert "{{name}}" not in (scaffold / "README.md").read_text() and "mine" in (scaffold / "README.md").read_text()


# --------------------------------------------------------------------------- the commands
def test_the_commands_train_and_sample_on_js_as_on_pure(capsys, names_file, tmp_path):
    """train, then sample: the js backend through the command line, from the same start and
    with the same draws as pure (its samples are pure's, name for name)."""
    from cli_helpers import TINY, cli

    for backend in ("js", "pure"):
        out = tmp_path / backend
        code, _, err = cli(capsys, "train", "--backend", backend, "--data", names_file, "--out", out, *TINY,
                           "--steps", "3", "--samples", "0")
        assert code == 0, err
    samples = {}
    for backend in ("js", "pure"):
        code, printed, err = cli(capsys, "sample", "--backend", backend, "--checkpoint", tmp_path / backend,
                                 "--n", "5")
        assert code == 0, err
        samples[backend] = printed
    assert samples["js"] == samples["pure"] and samples["js"].strip()
