"""Backends that are programs, in any language.

A program backend speaks the grader's wire protocol (`docs/protocol.md`) on its standard
input and output: the spec sends it requests, it answers. Everything the spec does to a
Python backend's objects works on the program's through the same proxies, so every area
checks a C or JavaScript microgpt exactly as it checks a Python one.

Two ways to name one after `--backend`:

* a folder (or the file itself) holding a manifest, `microgpt-backend.toml`::

      command = ["{build}/microgpt"]          # how to start it ({here}: this folder)
      build = ["cc", "-O2", "-std=c11", "-o", "{build}/microgpt", "{here}/microgpt.c", "-lm"]
      sources = ["*.c", "*.h"]                # what the build reads: its cache key
      hint = "install a C compiler: apt install gcc"

  The build runs once per content of `sources` into a cache folder (`{build}`), and again
  only when a source changes;
* ``exec:COMMAND``, a program started as it is (``--backend='exec:node mine.js'``).

Random numbers: a program never holds a generator of its own. When it needs draws it asks
the host for them (a `draw` message naming the generator), and the host draws them from the
very `random.Random` the spec passed, so the sampling and init areas hold a program to the
same exact draws as a Python backend, in any language.
"""

from __future__ import annotations

import atexit
import fnmatch
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "microgpt-backend.toml"
#: The longest a build may take: compiling a one-file backend takes a second or two.
BUILD_SECONDS = 300
#: A learner's own run has no time limits of the link's (pytest-timeout's --spec-timeout
#: applies); this stands for "none" where a number is needed.
NO_LIMIT = 10 * 24 * 3600.0


class ProgramError(Exception):
    """The program backend could not be described, built or found; the message says why
    (the caller names the backend: `--backend=...: `)."""


@dataclass(frozen=True)
class Manifest:
    """What a program backend's manifest says, with its placeholders still in."""

    folder: Path
    command: tuple[str, ...]
    build: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    hint: str = ""
    display: str = ""  # how messages name the backend

    def expand(self, words: tuple[str, ...], build_folder: Path | None) -> list[str]:
        """The words with {here} and {build} filled in (other braces stay as they are)."""
        here, build = str(self.folder), str(build_folder or "")
        return [word.replace("{here}", here).replace("{build}", build) for word in words]


def read_manifest(path: Path) -> Manifest:
    """The manifest at `path`, checked: one clear message for any mistake in it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ProgramError(f"{path}: not a readable manifest ({error})") from None
    known = {"command", "build", "sources", "hint"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProgramError(f"{path}: unknown key {unknown[0]!r} (a manifest has {', '.join(sorted(known))})")
    command = _words(data.get("command"), "command", path)
    if not command:
        raise ProgramError(f'{path}: `command` is required, e.g. command = ["{{build}}/microgpt"]')
    hint = data.get("hint", "")
    if not isinstance(hint, str):
        raise ProgramError(f"{path}: `hint` is a string")
    return Manifest(folder=path.resolve().parent, command=command, build=_words(data.get("build"), "build", path),
                    sources=_words(data.get("sources"), "sources", path), hint=hint,
                    display=str(path.resolve().parent))


def _words(value, key: str, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not (isinstance(value, list) and all(isinstance(word, str) for word in value)):
        raise ProgramError(f"{path}: `{key}` is a list of strings, like [\"cc\", \"-O2\", ...]")
    return tuple(value)


def command_manifest(command: str) -> Manifest:
    """`exec:COMMAND`: a program run as it is, from the current folder."""
    try:
        words = tuple(shlex.split(command))
    except ValueError as error:
        raise ProgramError(f"cannot read the command ({error})") from None
    if not words:
        raise ProgramError("no command after exec:, e.g. --backend='exec:node mine.js'")
    return Manifest(folder=Path.cwd(), command=words, display=f"exec:{command}")


# --------------------------------------------------------------------------- building
def cache_root() -> Path:
    """Where builds are kept: $MICROGPT_SPEC_CACHE, else the user's cache folder."""
    if os.environ.get("MICROGPT_SPEC_CACHE"):
        return Path(os.environ["MICROGPT_SPEC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "microgpt-spec"


def source_files(manifest: Manifest) -> list[Path]:
    """The files the build reads, in a fixed order: `sources`' patterns, else the whole folder."""
    patterns = manifest.sources or ("*",)
    found = [p for p in sorted(manifest.folder.rglob("*")) if p.is_file()
             and any(fnmatch.fnmatch(p.relative_to(manifest.folder).as_posix(), pattern) for pattern in patterns)]
    return [p for p in found if "__pycache__" not in p.parts]


def build_key(manifest: Manifest) -> str:
    """What the build depends on: its command, every source file's name and content, and
    the processor (a build may be tuned to it, as the c backend's -march=native is: a cache
    shared between machines then keeps one build per kind of processor)."""
    digest = hashlib.sha256(repr(manifest.build).encode() + processor_identity().encode())
    for path in source_files(manifest):
        digest.update(path.relative_to(manifest.folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def processor_identity() -> str:
    """The machine's architecture and its processor's feature flags."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            flags = next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()} {flags.strip()}"


def built_folder(manifest: Manifest, root: Path | None = None) -> Path | None:
    """The folder holding the build of the program's current sources, building it first when
    there is none yet. Builds land atomically (made in a temporary folder, then renamed), so
    two test processes building at once never see half a build."""
    if not manifest.build:
        return None
    root = root or cache_root()
    target = root / f"{manifest.folder.name}-{build_key(manifest)}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        run_build(manifest, scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():  # another process won the race: use its build
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def run_build(manifest: Manifest, into: Path) -> None:
    argv = manifest.expand(manifest.build, into)
    require_tool(argv[0], manifest, "is built with")
    try:
        done = subprocess.run(argv, cwd=manifest.folder, capture_output=True, text=True,
                              errors="replace", timeout=BUILD_SECONDS)
    except subprocess.TimeoutExpired:
        raise ProgramError(f"the build took over {BUILD_SECONDS} s: {shlex.join(argv)}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()[-3000:]
        raise ProgramError(f"the build failed (exit status {done.returncode}):\n"
                           f"  {shlex.join(argv)}\n{said}")


def require_tool(program: str, manifest: Manifest, role: str) -> None:
    """A clear message when the compiler or interpreter a backend needs is not installed."""
    if os.sep in program or shutil.which(program):
        return
    hint = f": {manifest.hint}" if manifest.hint else ""
    raise ProgramError(f"this backend {role} `{program}`, and no `{program}` is on PATH{hint}")


def program_argv(manifest: Manifest, build_root: Path | None = None) -> list[str]:
    """The command that starts the program, built first when it needs building."""
    argv = manifest.expand(manifest.command, built_folder(manifest, build_root))
    require_tool(argv[0], manifest, "runs")
    return argv


# --------------------------------------------------------------------------- the backend object
#: The links to this process's program backends.
_RUNNING: list = []


@atexit.register
def close_running() -> None:
    """At exit: close every program's input (it then ends by itself) and remove its log."""
    for link in _RUNNING:
        link.close()
        Path(link.config.output_path).unlink(missing_ok=True)


def settle_running() -> None:
    """Wait for the operations sent to this process's program backends without a reply (the
    end of a test): an error among them is raised now, in the test that caused it."""
    for link in _RUNNING:
        link.flush()


def program_backend(manifest: Manifest):
    """The backend the spec checks: a proxy whose every call runs in the program. The program
    starts now, so a program that cannot start says so before any test runs."""
    from microgpt_spec.grading.failures import SubmissionFailure
    from microgpt_spec.grading.link import Limits, Link, LinkConfig
    from microgpt_spec.grading.proxies import RemoteBackend

    argv = program_argv(manifest)
    output = tempfile.NamedTemporaryFile(prefix="microgpt-program-", suffix=".log", delete=False)
    output.close()
    config = LinkConfig(submission=str(manifest.folder), display=manifest.display, workdir=str(manifest.folder),
                        output_path=output.name, results_path="", program=tuple(argv), sandboxed=False,
                        limits=Limits(test_seconds=NO_LIMIT, submission_seconds=NO_LIMIT, max_strikes=1 << 30))
    link = Link(config)
    _RUNNING.append(link)
    try:
        link.start()
    except SubmissionFailure as failure:
        raise ProgramError(f"{failure.msg}{link.output_tail()}") from None
    return RemoteBackend(link)
