"""The hostile battery: submissions written by a student who wants a better grade.

One grade run of every attack in `tests/attacks/` beside honest submissions, through the
command line, under a process that adopts every orphan (so a process left behind is seen).
Each test checks one promise of docs/grading.md:

* nothing outside the submission changes (canary files, the installed source, a Gradescope
  bundle's scripts, the output folder), nothing secret leaks into the reports;
* no process is left, no connection reaches a listener on this machine;
* the grade ends with exit 0 and a gradebook whatever the submissions are named or send;
* honest neighbours get the score they get alone, and no attacker gets more than its honest
  part earns.

Run it as root and as an ordinary user: `pytest -m hostile tests/test_hostile.py` (CI does
both). It is deselected from the default run (about a minute).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import socket
import subprocess
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from microgpt_spec.grading.bundle import bundle_files
from microgpt_spec.grading.rubric import Rubric
from microgpt_spec.grading.sandbox import KERNEL_WALLS, project_folders

pytestmark = pytest.mark.hostile

HERE = Path(__file__).parent
ATTACKS = HERE / "attacks"
BASE = (HERE / "hostile" / "base.py").read_text()
HONEST_SCORE = 20.0  # tokenizer (10) + adam (10): what base.py earns on the graded areas
GRADE = ["--area", "tokenizer", "--area", "adam", "--profile", "quick", "--jobs", "2", "--test-timeout", "20",
         "--timeout", "150", "--memory", "1024"]
ATTACK_NAMES = sorted(p.stem for p in ATTACKS.glob("*.py") if p.stem not in ("preamble", "wrong_layers",
                                                                              "mutates_inputs"))

#: Runs a command as a child subreaper: every orphan of it becomes our child, so what is
#: still alive afterwards is what the grade left behind. Prints {"exit": N, "left": [...]}.
SUBREAPER = r"""
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
code = subprocess.call(sys.argv[1:])
time.sleep(1.5)
left = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        state, ppid = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[:2]
        if int(ppid) != os.getpid():
            continue
        if state == "Z":  # ended, adopted after its parent ended: not left behind
            os.waitpid(int(pid), 0)
            continue
        left.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode("utf-8", "replace"))
        os.kill(int(pid), 9)
    except (OSError, ValueError):
        pass
print(json.dumps({"exit": code, "left": left}))
"""


# --------------------------------------------------------------------------- the world around it
class Listener:
    """A TCP listener and an abstract UNIX socket on this machine, counting who reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.abstract_name = f"microgpt-hostile-{secrets.token_hex(6)}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract_name)
        self.unix.listen()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.reached: list[str] = []
        for sock in (self.tcp, self.unix):
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                connection, _ = sock.accept()
            except OSError:
                return
            self.reached.append(f"connection on {sock.family.name}")
            connection.close()

    def _receive(self) -> None:
        while True:
            try:
                self.udp.recvfrom(100)
            except OSError:
                return
            self.reached.append("a UDP datagram")

    def close(self) -> None:
        for sock in (self.tcp, self.unix, self.udp):
            sock.close()


def digest_tree(*roots: Path) -> dict[str, str]:
    """A digest of every file below `roots` (the installed source, the bundle)."""
    digests = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def make_world(root: Path) -> SimpleNamespace:
    outside = root / "outside"
    outside.mkdir()
    canary = outside / "canary.txt"
    canary.write_text("the canary, untouched\n")
    secret = outside / "secret.txt"
    token = secrets.token_hex(16)
    secret.write_text(f"SECRET-{token}\n")
    secret.chmod(0o600)
    bundle = root / "bundle"
    bundle.mkdir()
    for name, (data, mode) in bundle_files(Rubric(), "microgpt-spec", []).items():
        (bundle / name).write_bytes(data)
        (bundle / name).chmod(mode)
    # TMPDIR of the grade: the work folders of every submission are below it. Not below pytest's
    # own temporary folder, which only its user may enter (a worker under a uid of its own must).
    marker = Path(tempfile.mkdtemp(prefix="microgpt-battery-"))
    marker.chmod(0o755)
    decoy = subprocess.Popen(["sleep", "600"])
    return SimpleNamespace(outside=outside, canary=canary, secret=secret, token=token, bundle=bundle,
                           marker=marker, decoy=decoy, listener=Listener())


def retire(world: SimpleNamespace) -> None:
    world.decoy.kill()
    world.listener.close()
    shutil.rmtree(world.marker, ignore_errors=True)


def targets(world: SimpleNamespace, out: Path, name: str) -> dict:
    project_file = Path(project_folders()[0]) / "__init__.py"
    backends = next(p for p in project_folders() if Path(p, "pure").is_dir())
    return {
        "canary": str(world.canary), "secret": str(world.secret), "outside": str(world.outside),
        "project_file": str(project_file), "backends_dir": backends, "out": str(out), "name": name,
        "write_targets": [str(world.canary), str(project_file), str(world.bundle / "run_autograder"),
                          str(out / "gradebook.csv")],
        "tcp_port": world.listener.port, "abstract_socket": world.listener.abstract_name,
        "marker": str(world.marker), "victims": [world.decoy.pid],
    }


# --------------------------------------------------------------------------- the submissions
def attack_source(world: SimpleNamespace, out: Path, name: str, attack: str) -> str:
    preamble = (ATTACKS / "preamble.py").read_text().replace("TARGETS_JSON", json.dumps(targets(world, out, name)))
    return "\n\n".join([BASE, preamble, (ATTACKS / f"{attack}.py").read_text()])


def write_submissions(folder: Path, world: SimpleNamespace, out: Path) -> None:
    folder.mkdir()
    (folder / "honest.py").write_text(BASE)
    (folder / "honest_too.py").write_text(BASE)
    for attack in ATTACK_NAMES:
        (folder / f"{attack}.py").write_text(attack_source(world, out, attack, attack))
    if HAS_CC:
        write_program_attack(folder / "program_attack", world, out)
    write_awkward_entries(folder)


PROGRAM_ATTACK = ATTACKS / "program"
HAS_CC = shutil.which("cc") is not None


def write_program_attack(folder: Path, world: SimpleNamespace, out: Path) -> None:
    """A program submission (C) whose build and program try what the Python attacks try."""
    from microgpt_spec.grading.protocol import VERSION

    values = targets(world, out, "program_attack")
    fills = {"@SECRET@": values["secret"], "@CANARY@": values["canary"], "@OUTSIDE@": values["outside"],
             "@PROJECT_FILE@": values["project_file"], "@TCP_PORT@": str(values["tcp_port"]),
             "@VICTIM@": str(values["victims"][0]), "@PROTOCOL@": str(VERSION)}
    folder.mkdir()
    for source in PROGRAM_ATTACK.iterdir():
        text = source.read_text()
        for mark, value in fills.items():
            text = text.replace(mark, value)
        (folder / source.name).write_text(text)


def write_awkward_entries(folder: Path) -> None:
    """Entries that once aborted the whole batch, or were skipped without a word."""
    (Path(os.fsdecode(bytes(folder) + b"/caf\xe9.py"))).write_text(BASE)  # a name that is not UTF-8
    (folder / "SHOUTING.PY").write_text(BASE)
    (folder / "_private.py").write_text(BASE)
    (folder / ".hidden.py").write_text(BASE)
    (folder / "notes.txt").write_text("not a submission")
    (folder / "gradebook.csv").mkdir()  # a submission folder named like the gradebook
    (folder / "gradebook.csv" / "backend.py").write_text(BASE)
    huge = folder / "huge"
    huge.mkdir()
    (huge / "backend.py").write_text(BASE)
    (huge / "weights.bin").write_bytes(b"\0" * (21 * 2**20))
    write_deep_folder(folder / "deep")


def write_deep_folder(folder: Path) -> None:
    """A submission holding a path of over 4,000 characters (made one folder at a time)."""
    folder.mkdir()
    (folder / "backend.py").write_text(BASE)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(17):
            os.mkdir("d" * 240, dir_fd=fd)
            inner = os.open("d" * 240, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        handle = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, b"deep")
        os.close(handle)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- running the grade
def run_grade(args: list[str], env: dict, cwd: Path | None = None) -> dict:
    command = [sys.executable, "-c", SUBREAPER, sys.executable, "-m", "microgpt_spec", "grade", *args]
    finished = subprocess.run(command, env=env, cwd=cwd, capture_output=True, timeout=900)
    lines = finished.stdout.decode("utf-8", "replace").strip().splitlines()
    outcome = json.loads(lines[-1])
    outcome["stdout"] = "\n".join(lines[:-1])
    outcome["stderr"] = finished.stderr.decode("utf-8", "replace")
    return outcome


def grade_env(world: SimpleNamespace) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    env["TMPDIR"] = str(world.marker)
    return env


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    root = tmp_path_factory.mktemp("battery")
    world = make_world(root)
    out, alone_out = root / "grades", root / "alone"
    submissions = root / "submissions"
    write_submissions(submissions, world, out)
    before = digest_tree(*map(Path, project_folders()), world.bundle, world.outside)
    env = grade_env(world)
    try:
        alone = run_grade([str(submissions / "honest.py"), "--out", str(alone_out), *GRADE], env)
        outcome = run_grade([str(submissions), "--out", str(out), *GRADE], env)
        reports_then = digest_tree(out)
        time.sleep(5)  # what a process that got out would wait for before forging the reports
        yield SimpleNamespace(world=world, out=out, alone=alone, alone_out=alone_out, outcome=outcome,
                              before=before, reports_then=reports_then, submissions=submissions,
                              after=digest_tree(*map(Path, project_folders()), world.bundle, world.outside),
                              decoy_alive=world.decoy.poll() is None, reached=list(world.listener.reached))
    finally:
        retire(world)


def report(battery, name: str) -> dict:
    return json.loads((battery.out / name / "report.json").read_text())


def gradebook(battery) -> dict[str, dict]:
    with open(battery.out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


# --------------------------------------------------------------------------- the promises
def test_the_grade_ends_normally_with_a_gradebook(battery):
    assert battery.outcome["exit"] == 0, battery.outcome["stderr"][-3000:]
    rows = gradebook(battery)
    expected = {"honest", "honest_too", "SHOUTING", "caf_", "gradebook.csv-2", "huge", "deep", *ATTACK_NAMES}
    assert set(rows) == expected | ({"program_attack"} if HAS_CC else set())


def test_every_kernel_wall_was_up_for_every_submission(battery):
    walls = report(battery, "honest")["sandbox"]["walls"]
    active = {w["name"] for w in walls if w["active"]}
    assert set(KERNEL_WALLS) - {"namespaces"} <= active, walls  # namespaces: where the kernel allows
    for name in ATTACK_NAMES:
        assert report(battery, name)["sandbox"]["walls"] == walls, name
    assert "sandbox of every submission" in battery.outcome["stdout"]


@pytest.mark.skipif(not HAS_CC, reason="no C compiler (cc) on this machine: the program attack cannot be built")
def test_a_program_submission_and_its_build_are_walled_in_too(battery):
    walls = report(battery, "program_attack")["sandbox"]["walls"]
    honest = report(battery, "honest")["sandbox"]["walls"]
    assert [(w["name"], w["active"]) for w in walls] == [(w["name"], w["active"]) for w in honest]
    printed = (battery.out / "program_attack" / "submission-output.txt").read_text(errors="replace")
    assert "refused: read the root-only secret" in printed, printed[:2000]  # the program did run
    assert "refused: run another program" in printed
    assert "ESCAPED" not in printed, printed[:2000]
    assert battery.world.token not in printed


def test_no_attack_escaped(battery):
    for name in ATTACK_NAMES:
        printed = (battery.out / name / "submission-output.txt").read_text(errors="replace")
        assert "ESCAPED" not in printed, (name, printed[:2000])


def test_nothing_outside_the_submission_changed(battery):
    changed = {path for path in battery.before.keys() | battery.after.keys()
               if battery.before.get(path) != battery.after.get(path)}
    assert changed == set()
    assert sorted(p.name for p in battery.world.outside.iterdir()) == ["canary.txt", "secret.txt"]
    planted = [folder for folder, _, files in os.walk(battery.submissions) if "planted-by-attack.txt" in files]
    assert planted == []


def test_no_process_is_left_behind(battery):
    assert battery.outcome["left"] == [] and battery.alone["left"] == []
    assert battery.decoy_alive  # the process it tried to kill


def test_the_reports_do_not_change_after_the_grade(battery):
    assert digest_tree(battery.out) == battery.reports_then
    assert "forged" not in (battery.out / "processes" / "report.json").read_text()


def test_nothing_reaches_the_network(battery):
    assert battery.reached == []


def test_no_secret_leaks_into_the_reports(battery):
    for path in battery.out.rglob("*"):
        if path.is_file():
            assert battery.world.token.encode() not in path.read_bytes(), path
            assert b"the canary, untouched" not in path.read_bytes(), path


def test_honest_neighbours_get_the_score_they_get_alone(battery):
    alone = json.loads((battery.alone_out / "honest" / "report.json").read_text())
    assert alone["score"] == HONEST_SCORE
    rows = gradebook(battery)
    for name in ("honest", "honest_too", "SHOUTING", "caf_", "gradebook.csv-2"):
        assert float(rows[name]["score"]) == alone["score"], name


def test_no_attacker_scores_more_than_its_honest_part(battery):
    rows = gradebook(battery)
    for name in ATTACK_NAMES:
        assert float(rows[name]["score"]) <= HONEST_SCORE, name
    for name in ("oracle_wrapper", "reference_by_fd"):  # their tokenizer was not their own
        assert report(battery, name)["areas"]["tokenizer"]["score"] == 0, name


def test_forged_replies_crash_the_worker_not_the_grader(battery):
    tests = report(battery, "forged_replies")["tests"]
    failed = [t["message"] for t in tests if t["status"] == "failed"]
    assert failed and any("malformed" in m for m in failed)
    assert not any("INTERNALERROR" in m or "Traceback" in m for m in failed)
    assert report(battery, "forged_replies")["areas"]["adam"]["score"] <= 10


def test_what_a_submission_writes_is_bounded_in_all(battery):
    printed = (battery.out / "disk_flood" / "submission-output.txt").read_text(errors="replace")
    walls = {w["name"]: w for w in report(battery, "disk_flood")["sandbox"]["walls"]}
    if walls["namespaces"]["active"]:
        assert "No space left on device" in printed
    assert report(battery, "disk_flood")["score"] == HONEST_SCORE


def test_reaching_for_the_reference_is_reported(battery):
    events = report(battery, "oracle_wrapper")["delegation"]["events"]
    assert "import microgpt_spec.spec.oracle" in events and "import microgpt_spec.backends.pure" in events


def test_a_submission_that_cannot_be_graded_is_its_own_failed_row(battery):
    rows = gradebook(battery)
    assert "larger than 20 MB" in rows["huge"]["problems"]
    assert "could not be copied" in rows["deep"]["problems"]
    assert float(rows["long_name"]["score"]) == 0 and "over the limit" in rows["long_name"]["problems"]
    big = report(battery, "big_reply")
    assert big["areas"]["adam"]["score"] == 10  # the oversized reply failed its tests, nothing more
    assert any("over the limit" in t["message"] for t in big["tests"] if t["status"] == "failed")


def test_skipped_entries_are_listed_with_the_reason(battery):
    skipped = (battery.out / "skipped.txt").read_text()
    assert "_private.py\ta hidden or private name" in skipped
    assert ".hidden.py\ta hidden or private name" in skipped
    assert "notes.txt\tneither a .py file nor a folder" in skipped
    assert "skipped notes.txt" in battery.outcome["stdout"]


def test_messages_that_are_not_utf8_are_written_escaped(battery):
    tests = report(battery, "surrogate_message")["tests"]
    failed = [t["message"] for t in tests if t["status"] == "failed"]
    assert failed and all("\\udcff" in m for m in failed if "bad" in m)
    assert (battery.out / "surrogate_message" / "table.txt").read_text(encoding="utf-8")


def test_a_name_cannot_forge_a_line_of_the_gradescope_report(battery):
    output = json.loads((battery.out / "backticks" / "results.json").read_text())["output"]
    lines = output.splitlines()
    assert lines[0].startswith("**microgpt-spec: 20 / 20 points**")
    assert not any("100 / 100" in line and not line.startswith("Backend") for line in lines[1:])


def test_mutating_the_graders_inputs_gains_nothing(tmp_path):
    world = make_world(tmp_path)
    try:
        folder, out = tmp_path / "pair", tmp_path / "grades"
        folder.mkdir()
        for name in ("wrong_layers", "mutates_inputs"):
            (folder / f"{name}.py").write_text(attack_source(world, out, name, name))
        outcome = run_grade([str(folder), "--out", str(out), "--area", "layers", "--profile", "quick",
                             "--jobs", "2"], grade_env(world))
    finally:
        retire(world)
    assert outcome["exit"] == 0, outcome["stderr"][-2000:]
    rows = {row["submission"]: row for row in csv.DictReader(open(out / "gradebook.csv", encoding="utf-8"))}
    assert rows["mutates_inputs"]["layers"] == rows["wrong_layers"]["layers"]
    passed = [json.loads((out / n / "report.json").read_text())["areas"]["layers"]["passed"]
              for n in ("wrong_layers", "mutates_inputs")]
    assert passed[0] == passed[1]


def test_grading_a_submission_from_inside_its_own_folder(tmp_path):
    world = make_world(tmp_path)
    try:
        folder = tmp_path / "mine"
        folder.mkdir()
        (folder / "backend.py").write_text(BASE)
        first = run_grade([".", "--area", "tokenizer", "--profile", "quick"], grade_env(world), cwd=folder)
        second = run_grade([".", "--area", "tokenizer", "--profile", "quick"], grade_env(world), cwd=folder)
    finally:
        retire(world)
    for outcome in (first, second):  # the second run finds the first one's grades/ inside the folder
        assert outcome["exit"] == 0, outcome["stderr"][-2000:]
    assert json.loads((folder / "grades" / "mine" / "report.json").read_text())["areas"]["tokenizer"]["score"] == 10


def python_is_shared() -> bool:
    from microgpt_spec.grading.sandbox import python_roots, readable_by_others

    return all(readable_by_others(p) for p in python_roots())


@pytest.mark.skipif(os.geteuid() != 0 or not python_is_shared(),
                    reason="needs root and a Python other users can read (CI runs it with Debian's python3.11)")
def test_as_root_each_worker_gets_a_uid_of_its_own(tmp_path):
    world = make_world(tmp_path)
    try:
        folder, out = tmp_path / "pair", tmp_path / "grades"
        folder.mkdir()
        (folder / "honest.py").write_text(BASE)
        (folder / "read_secrets.py").write_text(attack_source(world, out, "read_secrets", "read_secrets"))
        outcome = run_grade([str(folder), "--out", str(out), *GRADE], grade_env(world))
    finally:
        retire(world)
    assert outcome["exit"] == 0 and outcome["left"] == [], outcome["stderr"][-2000:]
    walls = {w["name"]: w for w in json.loads((out / "honest" / "report.json").read_text())["sandbox"]["walls"]}
    assert walls["user"]["active"], walls["user"]
    assert json.loads((out / "honest" / "report.json").read_text())["score"] == HONEST_SCORE
    printed = (out / "read_secrets" / "submission-output.txt").read_text(errors="replace")
    assert "ESCAPED" not in printed and world.token not in printed
