"""What confines a submission inside its worker process.

The layers, from the strongest:

1. *A separate process.* The spec, the oracle, pytest and the grade run in the grader's
   process; the submission's code only ever runs in the worker. Whatever it patches, it
   patches its own copies.
2. *Operating-system limits* (`apply_limits`): address space (memory), CPU seconds, the
   size of any file it writes (which also caps a flood of printing), no core dumps.
3. *An unprivileged user.* Started as root (as on Gradescope), the worker drops to `nobody`
   before it imports the submission, and cannot then create processes at all.
4. *An audit hook* (`AuditPolicy`), installed before the submission is imported; Python
   offers no way to remove one. It refuses writes outside the worker's own folder, new
   processes, network connections, foreign-function calls (ctypes), changes to the limits
   and to the profiler; and it notices imports of the project's reference backends.

Layer 4 is a policy, not a wall: CPython's audit hooks are documented as a monitoring aid,
not a security boundary. Layers 1-3 are what hold when it is bypassed; graders who expect
determined attacks should also run the whole grade in a throw-away container.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import sys
from pathlib import Path
from typing import Any, Callable

NOBODY_UID = NOBODY_GID = 65534
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


# --------------------------------------------------------------------------- OS limits
def apply_limits(memory_mb: int, cpu_seconds: int, file_bytes: int) -> None:
    """Limits the kernel enforces on this process (inherited by nothing: it cannot fork)."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Past the file size limit a write fails with an OSError instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def readable_by_others(path: str) -> bool:
    """Whether a user who is neither the owner nor in the group can read `path` (every
    folder on the way must let others through)."""
    current = os.path.abspath(path)
    while True:
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return False
        needed = stat.S_IXOTH | (stat.S_IROTH if current == os.path.abspath(path) else 0)
        if mode & needed != needed:
            return False
        parent = os.path.dirname(current)
        if parent == current:
            return True
        current = parent


def drop_privileges(writable: Path, must_read: list[str]) -> bool:
    """As root: become `nobody`, owner of its own folder only, unable to fork. Not when
    not root, nor when `nobody` could not read Python itself or the submission (a Python
    installed under /root, say): then the other layers confine the worker alone."""
    if os.geteuid() != 0 or not all(readable_by_others(p) for p in must_read):
        return False
    os.chown(writable, NOBODY_UID, NOBODY_GID)
    os.setgroups([])
    os.setgid(NOBODY_GID)
    os.setuid(NOBODY_UID)
    # Processes *and threads* of `nobody`: none more. (Numerical libraries are told to use
    # one thread by the environment the grader gives the worker.)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    return True


def die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when the grader's process ends (Linux), so that
    a worker stuck in a loop never outlives its grader. Called after dropping privileges
    (a change of user clears the setting) and before the audit hook (it uses ctypes)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the grader ended before the request took effect
        os._exit(1)


# --------------------------------------------------------------------------- the audit hook
class AuditPolicy:
    """Refuses what a submission must not do, and records what the report should mention.

    `refused`: one line per refused action (the first 20). `reference_events`: how the
    submission reached the project's reference backends (imports, files read). When that
    happens `armed` turns on, and the worker starts watching which calls run their code.
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
            "ctypes.dlopen": self._on_dlopen,
        }
        for event, positions in {
            "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
            "os.chmod": (0,), "os.chown": (0,), "os.link": (1,), "os.symlink": (1,),
            "os.truncate": (0,), "os.utime": (0,), "os.chflags": (0,), "os.lchflags": (0,),
            "os.setxattr": (0,), "os.removexattr": (0,), "shutil.rmtree": (0,),
            "shutil.move": (0, 1), "shutil.copytree": (1,), "shutil.chown": (0,),
            "sqlite3.connect": (0,),
        }.items():
            handlers[event] = self._path_check(event, positions)
        for event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                      "subprocess.Popen", "socket.connect", "socket.bind", "socket.sendto",
                      "socket.sendmsg", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function",
                      "ctypes.cdata", "resource.setrlimit", "resource.prlimit"):
            handlers[event] = self._refuse(event)
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
        if full == self.writable or full.startswith(self.writable + os.sep):
            return
        self._deny(f"{action} {full}", "a submission may write only inside its own working folder")

    # -- processes, signals, network, foreign code, limits
    def _refuse(self, event: str) -> Callable[[tuple], None]:
        def refuse(args: tuple) -> None:
            self._deny(event, "not allowed while grading")
        return refuse

    def _on_kill(self, args: tuple) -> None:
        if args and args[0] != os.getpid():
            self._deny(f"signal to process {args[0]}", "a submission may signal only itself")

    def _on_dlopen(self, args: tuple) -> None:
        if args and args[0] is not None:  # `import ctypes` opens the program itself (None)
            self._deny(f"ctypes.dlopen {args[0]}", "foreign libraries are not allowed while grading")

    def _on_setprofile(self, args: tuple) -> None:
        if not self.profiler_change_allowed:
            self._deny("sys.setprofile", "the grader's profiler watches for delegated calls")

    def _deny(self, what: str, why: str) -> None:
        if len(self.refused) < self.MAX_NOTES:
            self.refused.append(what)
        raise PermissionError(f"refused by the grader's sandbox: {what} ({why})")

    # -- the reference backends
    def _on_import(self, args: tuple) -> None:
        name = args[0] if args else ""
        if isinstance(name, str) and any(name == m or name.startswith(m + ".") for m in self.reference_modules):
            self._note_reference(f"import {name}")

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
