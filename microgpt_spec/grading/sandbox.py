"""What confines a submission inside its worker process.

The worker raises these walls on itself, in this order, before it reads a line of the
submission; each is reported as a `Wall` (active or not, and what it covers or why not):

1. *limits*: memory (address space), CPU seconds, the size of any file it writes (which
   also caps a flood of printing), no core dumps;
2. *user*: started as root with Python readable by other users, a uid of its own (one per
   worker, so workers cannot touch each other), owner of its folders only;
3. *namespaces*: its own user, PID, network, IPC and UTS namespaces; the worker forks and
   the submission runs as PID 1 of the new PID namespace, so nothing outlives it, and it
   has no network at all;
4. *capabilities*: none left, and none can come back (no_new_privs, locked securebits):
   this is what holds when the worker stays uid 0;
5. *landlock*: reads only Python, its packages (never this project's own source: not the
   reference backends, not the oracle, not the spec) and the submission's copy; writes
   only its own folder; no TCP/UDP; no signals beyond itself;
6. *seccomp*: no processes, programs, sockets, ptrace, pidfd, mknod, links, mounts,
   namespaces, raised limits or signals to others.

Walls 3-6 are the kernel's and need no root. The grader probes them once before grading
(`probe`) and requires every worker to raise the walls the probe raised.

Last, an audit hook (`AuditPolicy`) explains a refusal in plain words before the kernel
refuses it ("a submission may write only inside its own working folder"), and records
the attempt for the report. It is not a wall: code that gets around it meets the kernel.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import stat
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from microgpt_spec.grading import kernel

KERNEL_WALLS = ("namespaces", "capabilities", "landlock", "seccomp")
#: Where the shared libraries that Python's extension modules load live.
SYSTEM_LIBRARIES = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache")
READABLE_DEVICES = ("/dev/urandom", "/dev/random", "/dev/zero")
#: What a program backend's build may run and read: the compilers and their parts.
SYSTEM_PROGRAMS = ("/usr/bin", "/bin", "/usr/lib", "/usr/libexec", "/lib", "/lib64", "/usr/local/bin")
#: What a build or a program may read beyond the libraries: headers, shared data, and the
#: public configuration files runtimes read as they start (Node reads OpenSSL's; its
#: private keys, in /etc/ssl/private, stay unreadable).
SYSTEM_SHARED = ("/usr/include", "/usr/local/include", "/usr/share", "/etc/ssl/openssl.cnf", "/etc/localtime")
#: The dynamic loader, which the kernel opens to run a program (so it needs the right to run).
ELF_LOADERS = ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
WRITABLE_DEVICES = ("/dev/null",)
#: The packages of this project whose folders the worker may never read.
PROJECT_PACKAGES = ("microgpt_spec", "microgpt_spec.spec", "microgpt_spec.backends",
                    "microgpt_spec.conformance", "microgpt_spec.data")
SEPARATE_UID_BASE = 1_000_000  # + the worker's pid: distinct for every worker alive at once
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


@dataclass(frozen=True)
class Wall:
    """One layer of the sandbox, as the reports show it."""

    name: str
    active: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """What the worker confines itself to."""

    workdir: str  # its own folder: the one place it may write
    code: str  # the submission's copy: read only
    memory_mb: int
    cpu_seconds: int
    output_bytes: int
    grader_pid: int
    pipe_fds: tuple[int, int]
    separate_uid: bool = True
    required: tuple[str, ...] = ()  # walls that must come up, or the worker refuses to run
    disk_mb: int = 64  # all it may write, where its folder can be a tmpfs of its own
    # A backend that is a program (microgpt_spec.programs): "build" runs its build, which may
    # start the compiler's processes and writes only `build_dir`; "program" then replaces the
    # worker by `program`, which may run nothing else. "python": the usual worker.
    mode: str = "python"
    build_dir: str = ""
    program: str = ""

    def executables(self) -> list[str]:
        """What this worker may run: the build's tools, or the program and its loader."""
        if self.mode == "build":
            return [p for p in SYSTEM_PROGRAMS if os.path.exists(p)]
        if self.mode == "program":
            loaders = [os.path.realpath(p) for p in ELF_LOADERS if os.path.exists(p)]
            return sorted({os.path.realpath(self.program), *loaders})
        return []

    def syscall_allowances(self) -> tuple[str, ...]:
        return {"build": ("processes",), "program": ("exec",)}.get(self.mode, ())


class SandboxFailure(Exception):
    """A wall the grader requires could not be raised: the submission must not run."""


# --------------------------------------------------------------------------- the whole sequence
def confine(plan: Plan) -> list[Wall]:
    """Raise every wall this machine offers, in order; fail if a required one is missing."""
    kernel.load_libraries()
    walls = [apply_limits(plan.memory_mb, plan.cpu_seconds, plan.output_bytes)]
    walls.append(_attempt("user", lambda: switch_user(plan)))
    walls.append(_attempt("namespaces", lambda: enter_namespaces(plan)))
    die_with_parent(plan.grader_pid, in_new_pid_namespace=walls[-1].active)
    walls.append(_attempt("capabilities", kernel.drop_capabilities))
    walls.append(_attempt("landlock", lambda: kernel.restrict_files_and_network(
        *readable_paths(plan.code, program_paths(plan)), write=writable_paths(plan),
        devices=[d for d in WRITABLE_DEVICES if os.path.exists(d)], execute=plan.executables())))
    walls.append(_attempt("seccomp", lambda: kernel.install_syscall_filter(plan.syscall_allowances())))
    missing = [w for w in walls if w.name in plan.required and not w.active]
    if missing:
        raise SandboxFailure("; ".join(f"{w.name}: {w.detail}" for w in missing))
    return walls


def _attempt(name: str, raise_wall: Callable[[], str]) -> Wall:
    try:
        return Wall(name, True, raise_wall())
    except kernel.WallUnavailable as why:
        return Wall(name, False, str(why))
    except OSError as error:
        return Wall(name, False, f"failed: {error}")


def describe(walls: list[dict]) -> str:
    """One line per wall, for the terminal and the logs."""
    return "\n".join(f"  {'+' if w.get('active') else '-'} {w.get('name')}: {w.get('detail')}" for w in walls)


# --------------------------------------------------------------------------- limits
def apply_limits(memory_mb: int, cpu_seconds: int, file_bytes: int) -> Wall:
    """Limits the kernel enforces on this process and anything it could start."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Past the file size limit a write fails with an OSError instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return Wall("limits", True, f"memory {memory_mb} MB, CPU {cpu_seconds} s, files {file_bytes} bytes, no core dumps")


# --------------------------------------------------------------------------- a uid of its own
def switch_user(plan: Plan) -> str:
    """As root: become a uid no one else uses, owner of its own folder and copy only."""
    if os.geteuid() != 0:
        raise kernel.WallUnavailable(f"not root: runs as the grader's own user (uid {os.geteuid()})")
    if not plan.separate_uid:
        raise kernel.WallUnavailable("stays uid 0: the grader was asked to keep its user (--keep-privileges)")
    unreadable = [p for p in python_roots() if not readable_by_others(p)]
    if unreadable:
        raise kernel.WallUnavailable(f"stays uid 0: other users cannot read {unreadable[0]} (Python "
                                     "installed in a private folder); the kernel walls confine it")
    closed = [p for p in (plan.workdir, plan.code) if not reachable_by_others(os.path.dirname(p))]
    if closed:
        raise kernel.WallUnavailable(f"stays uid 0: other users cannot reach {os.path.dirname(closed[0])} "
                                     "(TMPDIR in a private folder); the kernel walls confine it")
    uid = SEPARATE_UID_BASE + os.getpid()
    _give_to(uid, plan.workdir, plan.code)
    if plan.build_dir:  # a program's build: written by the build's worker, run by the next ones
        _give_build_to(uid, plan.build_dir, writable=plan.mode == "build")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    return "a uid no other process has, owner of its own folder (0700) and copy only"


def _give_to(uid: int, workdir: str, code: str) -> None:
    os.chown(workdir, uid, uid)
    os.chmod(workdir, 0o700)
    for folder, _, files in os.walk(code):
        os.chown(folder, uid, uid)
        os.chmod(folder, 0o500)
        for name in files:
            os.chown(os.path.join(folder, name), uid, uid)
            os.chmod(os.path.join(folder, name), 0o400)


def _give_build_to(uid: int, build_dir: str, writable: bool) -> None:
    """Hand a program's build folder to `uid`: writable for the build, then read and run only
    (the programs it made keep the right to run)."""
    write = 0o200 if writable else 0
    for folder, _, files in os.walk(build_dir):
        os.chown(folder, uid, uid)
        os.chmod(folder, 0o500 | write)
        for name in files:
            path = os.path.join(folder, name)
            runs = os.stat(path).st_mode & stat.S_IXUSR
            os.chown(path, uid, uid)
            os.chmod(path, 0o400 | write | (0o100 if runs else 0))


def reachable_by_others(folder: str) -> bool:
    """Whether a user who is neither owner nor in the group can pass through `folder`."""
    current = os.path.abspath(folder)
    while True:
        try:
            if not os.stat(current).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        if os.path.dirname(current) == current:
            return True
        current = os.path.dirname(current)


def readable_by_others(path: str) -> bool:
    """Whether a user who is neither owner nor in the group can reach and read `path`: every
    folder on the way must let others through, the path itself let them read (and list)."""
    target = os.path.abspath(path)
    current = target
    while True:
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return False
        needed = stat.S_IXOTH if stat.S_ISDIR(mode) else 0
        if current == target:
            needed |= stat.S_IROTH
        if mode & needed != needed:
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


# --------------------------------------------------------------------------- namespaces
def enter_namespaces(plan: Plan) -> str:
    detail = kernel.unshare_namespaces()
    kernel.fork_into_pid_namespace(close_in_parent=plan.pipe_fds)
    return f"{detail}; {kernel.mount_private_folder(plan.workdir, plan.disk_mb)}"


def die_with_parent(grader_pid: int, in_new_pid_namespace: bool) -> None:
    """SIGKILL when the parent ends, so a worker stuck in a loop never outlives its grader.
    (In a new PID namespace the parent is the waiting half of the fork, outside it.)"""
    kernel.set_parent_death_signal()
    expected_parent = 0 if in_new_pid_namespace else grader_pid
    if os.getppid() != expected_parent:  # the parent ended before the request took effect
        os._exit(1)


# --------------------------------------------------------------------------- what it may read
def python_roots() -> list[str]:
    """Python itself: the standard library and every folder on the import path."""
    paths = sysconfig.get_paths()
    found = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    found.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(p for p in found if os.path.exists(p))


def project_folders() -> list[str]:
    """The folders of this project's own packages (found without importing them)."""
    folders = set()
    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or ()) if spec else ():
            folders.add(os.path.realpath(location))
    return sorted(folders)


def program_paths(plan: Plan) -> list[str]:
    """What a program backend's worker may read beyond a Python worker: the build, the
    system's programs, headers and shared data (a compiler's, Node's)."""
    if plan.mode == "python":
        return []
    extra = [plan.build_dir] if plan.build_dir else []
    return extra + [p for p in SYSTEM_PROGRAMS + SYSTEM_SHARED if os.path.exists(p)]


def writable_paths(plan: Plan) -> list[str]:
    return [plan.workdir, plan.build_dir] if plan.mode == "build" else [plan.workdir]


def readable_paths(code: str, extra: list[str] = ()) -> tuple[list[str], list[str]]:
    """(trees it may read, folders it may only list): Python, the system's libraries, the
    submission and `extra`, minus this project's folders. A root that holds one of them is
    opened up child by child around it."""
    holes = project_folders()
    trees: list[str] = [code, *(d for d in READABLE_DEVICES if os.path.exists(d))]
    listed: list[str] = []
    for root in python_roots() + [p for p in (*SYSTEM_LIBRARIES, *extra) if os.path.exists(p)]:
        _open_around(os.path.realpath(root), holes, trees, listed)
    return sorted(set(trees)), sorted(set(listed))


def _open_around(path: str, holes: list[str], trees: list[str], listed: list[str]) -> None:
    if any(_within(path, hole) for hole in holes):
        return
    if not any(_within(hole, path) for hole in holes):
        trees.append(path)
        return
    listed.append(path)
    with os.scandir(path) as entries:
        for entry in entries:
            _open_around(os.path.realpath(entry.path), holes, trees, listed)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# --------------------------------------------------------------------------- the audit hook
class AuditPolicy:
    """Explains, in plain words, what the kernel would refuse anyway, and records it.

    `refused`: one line per refused action (the first 20). `reference_events`: how the
    submission reached for the project's reference backends or oracle. When the kernel walls
    are down (a grader who accepted the weaker sandbox) and the reference was reached, `armed`
    turns on and the worker watches which calls run its code.
    """

    MAX_NOTES = 20

    def __init__(self, writable: Path, reference_dirs: list[str], reference_modules: tuple[str, ...]) -> None:
        self.writable = os.path.realpath(writable)
        self.reference_dirs = tuple(reference_dirs)
        self.reference_modules = reference_modules
        self.refused: list[str] = []
        self.reference_events: list[str] = []
        self.armed = False
        self.profiler_change_allowed = False
        self._handlers: dict[str, Callable[[tuple], None]] = self._build_handlers()

    def install(self) -> None:
        sys.addaudithook(self._hook)

    # -- the hook itself: called for every audited event, so it stays small
    def _hook(self, event: str, args: tuple) -> None:
        handler = self._handlers.get(event)
        if handler is not None:
            handler(args)

    def _build_handlers(self) -> dict[str, Callable[[tuple], None]]:
        handlers: dict[str, Callable[[tuple], None]] = {
            "open": self._on_open,
            "import": self._on_import,
            "os.kill": self._on_kill,
            "os.killpg": self._on_kill,
            "sys.setprofile": self._on_setprofile,
        }
        for event, positions in {
            "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
            "os.chmod": (0,), "os.chown": (0,), "os.link": (0, 1), "os.symlink": (1,),
            "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
            "shutil.move": (0, 1), "shutil.copytree": (1,),
        }.items():
            handlers[event] = self._path_check(event, positions)
        for event, why in {
            "os.system": "no new processes while grading", "os.exec": "no new programs while grading",
            "os.posix_spawn": "no new processes while grading", "os.spawn": "no new processes while grading",
            "os.fork": "no new processes while grading", "os.forkpty": "no new processes while grading",
            "subprocess.Popen": "no new processes while grading", "socket.connect": "no network while grading",
            "socket.bind": "no network while grading", "socket.__new__": "no network while grading",
        }.items():
            handlers[event] = self._refuse(event, why)
        return handlers

    # -- files
    def _on_open(self, args: tuple) -> None:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if isinstance(path, int):
            return  # an already open descriptor: it was checked when it was opened
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            self._check_inside("open for writing", path)
        elif self.reference_dirs and self._is_reference_path(path):
            self._note_reference(f"read {os.fspath(path)!s}")
            raise PermissionError(f"refused by the grader's sandbox: reading {os.fspath(path)!s} (the "
                                  "project's own code is not readable while grading)")

    def _path_check(self, event: str, positions: tuple[int, ...]) -> Callable[[tuple], None]:
        def check(args: tuple) -> None:
            for position in positions:
                if position < len(args) and args[position] is not None and not isinstance(args[position], int):
                    self._check_inside(event, args[position])
        return check

    def _check_inside(self, action: str, path: Any) -> None:
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:
            return
        if text == os.devnull:
            return
        full = os.path.realpath(os.path.join(os.getcwd(), text))
        if _within(full, self.writable):
            return
        self._deny(f"{action} {full}", "a submission may write only inside its own working folder")

    # -- processes, signals, network
    def _refuse(self, event: str, why: str) -> Callable[[tuple], None]:
        def refuse(args: tuple) -> None:
            self._deny(event, why)
        return refuse

    def _on_kill(self, args: tuple) -> None:
        if args and args[0] != os.getpid():
            self._deny(f"signal to process {args[0]}", "a submission may signal only itself")

    def _on_setprofile(self, args: tuple) -> None:
        if not self.profiler_change_allowed:
            self._deny("sys.setprofile", "the grader's profiler watches for delegated calls")

    def _deny(self, what: str, why: str) -> None:
        if len(self.refused) < self.MAX_NOTES:
            self.refused.append(what)
        raise PermissionError(f"refused by the grader's sandbox: {what} ({why})")

    # -- the reference backends, the oracle and the spec
    def _on_import(self, args: tuple) -> None:
        name = args[0] if args else ""
        if not isinstance(name, str) or name in sys.modules:
            return
        if any(name == m or name.startswith(m + ".") for m in self.reference_modules):
            self._note_reference(f"import {name}")
            raise ImportError(f"refused by the grader's sandbox: import {name} (this project's reference "
                              "backends, oracle and spec are not available while grading: the submission "
                              "must compute everything itself)", name=name)

    def _is_reference_path(self, path: Any) -> bool:
        try:
            text = os.path.realpath(os.fsdecode(os.fspath(path)))
        except (TypeError, ValueError):
            return False
        return text.startswith(self.reference_dirs)

    def _note_reference(self, what: str) -> None:
        self.armed = True
        if what.startswith("read") and any(e.startswith("import") for e in self.reference_events):
            return  # the files an import reads say nothing more than the import
        if len(self.reference_events) < 5 and what not in self.reference_events:
            self.reference_events.append(what)
