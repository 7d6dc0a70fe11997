"""The worker: the one process in which a submission's code runs.

The grader starts it as `python -m microgpt_spec.grading.worker CONFIG_JSON`. It imports
what a submission may use of this project, raises the sandbox's walls on itself (see
`sandbox`), says which walls are up, imports the submission, says "ready", then serves the
grader's requests (`serve`) until the grader closes the pipe.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from microgpt_spec.grading import protocol, sandbox
from microgpt_spec.grading.serve import Worker, describe_error
from microgpt_spec.registry import BackendLoadError, load_path
from microgpt_spec.spec.contract import CONTRACT_METHODS

REFERENCE_MODULES = ("microgpt_spec.backends.pure", "microgpt_spec.backends.numpy", "microgpt_spec.backends.torch",
                     "microgpt_spec.spec.oracle", "microgpt_spec.spec.areas")


# --------------------------------------------------------------------------- loading
def load_submission(path: Path) -> Any:
    """The backend of the submission at `path`, by the registry's one rule (`load_path`): the
    grader loads exactly what `--backend=PATH` would. A path that holds no backend is an
    ImportError, reported as the submission's import failure."""
    try:
        return load_path(path, f"submission {path.name}")
    except BackendLoadError as error:
        raise ImportError(str(error)) from None


# --------------------------------------------------------------------------- start-up
class CappedStream:
    """sys.stdout / sys.stderr of the submission: written straight to the grader's log
    file, cut off (once, with a note) after `limit` bytes, so a flood of printing costs
    neither disk nor time."""

    def __init__(self, fd: int, shared: dict) -> None:
        self.fd = fd
        self.shared = shared  # stdout and stderr share one budget: they share one file
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text: str) -> int:
        if self.shared["left"] <= 0:
            return len(text)
        data = str(text).encode("utf-8", "replace")[: self.shared["left"]]
        self.shared["left"] -= len(data)
        try:
            os.write(self.fd, data)
            if self.shared["left"] <= 0:
                os.write(self.fd, b"\n[output cut here by the grader]\n")
        except OSError:
            self.shared["left"] = 0
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.fd

    def writable(self) -> bool:
        return True


#: Modules of this project a submission may use (the contract, the scalar adapter the
#: student skeleton builds on); imported before the walls go up, since afterwards the
#: worker cannot read this project's files at all.
PRELOADED = ("microgpt_spec.spec.contract", "microgpt_spec.backends.scalar", "microgpt_spec.registry",
             "microgpt_spec.script_backend")


def preload() -> None:
    for name in PRELOADED:
        importlib.import_module(name)
    loaded = [m for m in sys.modules if m.startswith(REFERENCE_MODULES)]
    assert not loaded, f"the worker imported {loaded} itself"


def reference_paths() -> list[str]:
    """The files and folders of the reference backends and the oracle (found without
    importing them): reading one is reaching for the reference."""
    paths = []
    for name in REFERENCE_MODULES:
        parent, _, leaf = name.rpartition(".")
        spec = importlib.util.find_spec(parent)
        for location in (spec.submodule_search_locations or ()) if spec else ():
            for candidate in (os.path.join(location, leaf), os.path.join(location, leaf + ".py")):
                if os.path.exists(candidate):
                    paths.append(os.path.realpath(candidate) + (os.sep if os.path.isdir(candidate) else ""))
    return sorted(set(paths))


def plan_from(config: dict) -> sandbox.Plan:
    return sandbox.Plan(
        workdir=config["workdir"], code=config["submission_root"], memory_mb=config["memory_mb"],
        cpu_seconds=config["cpu_seconds"], output_bytes=config["output_bytes"], grader_pid=config["parent"],
        pipe_fds=(config["rfd"], config["wfd"]), separate_uid=config.get("separate_uid", True),
        required=tuple(config.get("required", ())), mode=config.get("mode", "python"),
        build_dir=config.get("build_dir", ""), program=(config.get("program") or [""])[0])


def main() -> None:
    config = json.loads(sys.argv[1])
    rfd, wfd = config["rfd"], config["wfd"]
    workdir = Path(config["workdir"])
    preload()
    started = time.perf_counter()
    try:
        walls = [w.as_dict() for w in sandbox.confine(plan_from(config))]
    except sandbox.SandboxFailure as failure:
        protocol.write_all(wfd, protocol.frame({"sandbox_failed": str(failure)}))
        return
    seconds = round(time.perf_counter() - started, 4)
    protocol.write_all(wfd, protocol.frame({"confined": walls, "version": protocol.VERSION, "seconds": seconds}))
    if config.get("probe"):
        return
    mode = config.get("mode", "python")
    if mode == "build":
        build_program(config)
        return
    if mode == "program":
        become_program(config)  # does not return
    os.chdir(workdir)
    sys.dont_write_bytecode = True
    budget = {"left": config["output_bytes"] - 4096}
    sys.stdout, sys.stderr = CappedStream(1, budget), CappedStream(2, budget)
    policy = sandbox.AuditPolicy(workdir, reference_paths(), ("microgpt_spec",))
    policy.install()
    code = Path(config["submission"])
    code_root = str(code if code.is_dir() else code.parent)
    try:
        backend = load_submission(code)
        info = describe_backend(backend)
    except BaseException as error:  # noqa: BLE001 - whatever the import did is the finding
        protocol.write_all(wfd, protocol.frame({"import_failed": describe_error(error, code_root, "import"),
                                                "refev": policy.reference_events, "refused": policy.refused}))
        return
    info["refev"] = policy.reference_events
    protocol.write_all(wfd, protocol.frame({"ready": info}))
    Worker(backend, rfd, wfd, policy, code_root).serve()


#: The most a program's build may keep (its program and any files beside it).
MAX_BUILD_BYTES = 64 * 2**20


def build_program(config: dict) -> None:
    """A program backend's build, inside the walls: its compiler may start processes (they die
    with the worker's PID namespace). It writes into a stage in the worker's own folder (a
    bounded tmpfs where there are namespaces); what it made is then copied, capped, into the
    build folder the program's workers run from. Says how it ended."""
    stage = config["build_stage"]
    os.makedirs(stage, exist_ok=True)
    try:
        done = subprocess.run(config["build"], cwd=config["submission"], stdin=subprocess.DEVNULL,
                              stdout=1, stderr=2, env=dict(os.environ))
        status = done.returncode
        detail = "" if status == 0 else f"exit status {status}"
    except OSError as error:
        status, detail = 127, f"could not start {config['build'][0]}: {error.strerror}"
    if status == 0:
        try:
            keep_build(stage, config["build_dir"])
        except OSError as error:
            status, detail = 1, f"its output could not be kept: {error}"
    protocol.write_all(config["wfd"], protocol.frame({"built": {"status": status, "detail": detail}}))


def keep_build(stage: str, build_dir: str) -> None:
    """Copy the build's regular files (no links) into build_dir, at most MAX_BUILD_BYTES in all,
    keeping the right to run what could run."""
    left = MAX_BUILD_BYTES
    for folder, subfolders, files in os.walk(stage):
        relative = os.path.relpath(folder, stage)
        target = os.path.normpath(os.path.join(build_dir, relative))
        os.makedirs(target, exist_ok=True)
        for name in files:
            source = os.path.join(folder, name)
            if os.path.islink(source) or not os.path.isfile(source):
                continue
            left -= os.path.getsize(source)
            if left < 0:
                raise OSError(f"the build made more than {MAX_BUILD_BYTES // 2**20} MB")
            shutil.copyfile(source, os.path.join(target, name))
            runs = os.stat(source).st_mode & 0o111  # its mode, not access(): the stage is mounted noexec
            os.chmod(os.path.join(target, name), 0o700 if runs else 0o600)


def become_program(config: dict) -> None:
    """Replace this worker by the submission's program, which inherits every wall: the
    protocol's pipes become its standard input and output; standard error stays the log."""
    os.chdir(config["submission"])
    os.dup2(config["rfd"], 0)
    os.dup2(config["wfd"], 1)
    argv = config["program"]
    try:
        os.execv(argv[0], argv)
    except OSError as error:
        message = {"import_failed": {"type": "OSError", "message": f"could not start {argv[0]}: {error.strerror}",
                                     "kind": "exception"}}
        protocol.write_all(1, protocol.frame(message))
        os._exit(1)


def describe_backend(backend: Any) -> dict:
    def text(name: str, default: str) -> str:
        value = getattr(backend, name, default)
        return value if isinstance(value, str) else default

    methods = [name for name in CONTRACT_METHODS if callable(getattr(backend, name, None))]
    return {"name": text("name", type(backend).__name__), "version": text("version", "unknown"),
            "precision": text("precision", "float64"), "methods": methods}


if __name__ == "__main__":
    try:
        main()
    except MemoryError:
        os._exit(protocol.EXIT_MEMORY)
