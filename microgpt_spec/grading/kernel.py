"""Thin glue between the grading worker and the walls the Linux kernel offers.

Each wall is raised by a well-kept library or by one system call; this module only says
which rights to give. None of them needs root:

* Landlock (`landlockpy`): an allow-list of files the worker may read and the one folder
  it may write; no TCP or UDP at all; no signals and no abstract UNIX sockets outside its
  own Landlock domain.
* seccomp (`pyseccomp`, over the system's libseccomp): no new processes or programs, no
  sockets, no signals to any process but itself, no ptrace or pidfd_*, no mknod or hard
  links, no raising of limits, no mounting, no namespaces, no io_uring, bpf or keyrings.
* Capabilities (`pyprctl`): every capability dropped (bounding, ambient, effective,
  permitted, inheritable), the securebits that keep uid 0 from regaining them locked,
  and no_new_privs.
* Namespaces (`unshare(2)` through libc: Python 3.11 has no `os.unshare`): a user, PID,
  network, IPC and UTS namespace of its own. The worker then forks: the child is PID 1 of
  the new PID namespace, so every process in it dies with it, and it sees no network.

Every function here either raises the wall or raises `WallUnavailable` saying why not.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from typing import Iterable


class WallUnavailable(Exception):
    """The kernel (or the machine) does not offer this wall; the message says why."""


def load_libraries() -> None:
    """Import the libraries now, while the worker may still read what they need (pyseccomp
    looks for libseccomp with the C toolchain's help), and never after the walls are up."""
    for name in ("landlockpy", "pyseccomp", "pyprctl"):
        try:
            __import__(name)
        except (ImportError, OSError):
            pass  # that wall then reports itself unavailable, saying why


# --------------------------------------------------------------------------- Landlock
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when there is none."""
    try:
        import landlockpy
    except ImportError:
        return 0
    return landlockpy.abi_version()


def restrict_files_and_network(read: Iterable[str], list_only: Iterable[str], write: Iterable[str],
                               devices: Iterable[str], execute: Iterable[str] = ()) -> str:
    """Allow reading the trees `read`, listing (not reading) the folders `list_only`, reading
    and writing inside `write`, reading and writing the device files `devices` (/dev/null),
    and reading and running the programs in `execute` (files or trees: a program backend's
    own program and its loader); nothing else of the file system, no TCP/UDP, no signals or
    abstract sockets outside this process's domain. Returns what is handled."""
    import landlockpy
    from landlockpy import AccessFS, Ruleset

    abi = landlock_abi()
    if abi < 1:
        raise WallUnavailable("this kernel has no Landlock (Linux 5.13 or newer, with landlock in the "
                              "lsm= boot list)")
    reading = AccessFS.READ_FILE | AccessFS.READ_DIR
    writing = (reading | AccessFS.WRITE_FILE | AccessFS.TRUNCATE | AccessFS.REMOVE_FILE
               | AccessFS.REMOVE_DIR | AccessFS.MAKE_REG | AccessFS.MAKE_DIR)
    with Ruleset(handled_fs=landlockpy.fs_for_abi(abi), handled_net=landlockpy.net_for_abi(abi),
                 scoped=landlockpy.scope_for_abi(abi)) as ruleset:
        for path in read:
            ruleset.allow_path(path, reading if os.path.isdir(path) else AccessFS.READ_FILE)
        for path in list_only:
            ruleset.allow_path(path, AccessFS.READ_DIR)
        for path in write:
            ruleset.allow_path(path, writing)
        for path in devices:
            ruleset.allow_path(path, AccessFS.READ_FILE | AccessFS.WRITE_FILE)
        for path in execute:
            running = AccessFS.READ_FILE | AccessFS.EXECUTE
            ruleset.allow_path(path, running | AccessFS.READ_DIR if os.path.isdir(path) else running)
        ruleset.restrict()
        return _landlock_detail(abi, ruleset.handled_net, ruleset.scoped)


def _landlock_detail(abi: int, net, scoped) -> str:
    parts = ["files by allow-list"]
    if net:
        parts.append("no TCP" + (" or UDP" if abi >= 10 else ""))
    if scoped:
        parts.append("no signals or abstract sockets beyond itself")
    return f"ABI {abi}: " + ", ".join(parts)


# --------------------------------------------------------------------------- seccomp
#: System calls refused whatever their arguments, each with why.
REFUSED_SYSCALLS = {
    "new processes and programs": ("fork", "vfork", "execve", "execveat"),
    "sockets": ("socket", "socketpair"),
    "reaching other processes": ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open",
                                 "pidfd_getfd", "pidfd_send_signal", "kcmp", "process_madvise", "tkill"),
    "special files and links": ("mknod", "mknodat", "link", "linkat", "truncate",
                                "name_to_handle_at", "open_by_handle_at"),
    "limits and identity": ("setrlimit", "setuid", "setgid", "setreuid", "setregid", "setresuid",
                            "setresgid", "setfsuid", "setfsgid", "setgroups", "capset"),
    "mounts and namespaces": ("mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
                              "mount_setattr", "open_tree", "move_mount", "fsopen", "fsconfig",
                              "fsmount", "fspick"),
    "the kernel itself": ("bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
                          "io_uring_register", "keyctl", "add_key", "request_key", "init_module",
                          "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
                          "swapon", "swapoff", "acct", "quotactl", "syslog", "settimeofday",
                          "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
                          "setdomainname", "iopl", "ioperm", "fanotify_init", "uselib", "vhangup"),
}
CLONE_THREAD = 0x00010000
CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
TERMINAL_INJECTION = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX: typing into a terminal


def seccomp_available() -> str | None:
    """None when a filter can be built here, else why not."""
    try:
        import pyseccomp  # noqa: F401 - loads the system's libseccomp
    except (ImportError, OSError) as error:
        return f"libseccomp could not be loaded ({error}); install the system package libseccomp2"
    return None


#: The system calls a program backend needs beyond a Python worker: `exec` replaces the
#: worker by the submission's program (Landlock says which files may be run); `processes`
#: lets a build run a compiler's stages (inside the PID namespace: they die with it).
ALLOWANCES = {"exec": ("execve", "execveat"), "processes": ("fork", "vfork", "execve", "execveat")}


def install_syscall_filter(allow: tuple[str, ...] = ()) -> str:
    """Refuse (EPERM) what REFUSED_SYSCALLS lists, threads aside every clone, clone3
    (ENOSYS: the C library then falls back to clone, whose flags a filter can read), signals
    to any process but this one, raising limits and typing into a terminal. `allow` names
    ALLOWANCES to leave out of the refusals."""
    reason = seccomp_available()
    if reason:
        raise WallUnavailable(reason)
    import pyseccomp as sc

    me = os.getpid()
    refuse = sc.ERRNO(errno.EPERM)
    rules = sc.SyscallFilter(sc.ALLOW)
    allowed = {name for allowance in allow for name in ALLOWANCES[allowance]}
    refused = [n for names in REFUSED_SYSCALLS.values() for n in names if n not in allowed]
    known = [n for n in refused if _known(sc, n)]
    skipped = [n for n in refused if n not in known]
    try:
        for name in known:
            rules.add_rule(refuse, name)
        if _known(sc, "clone3"):
            rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        if "processes" not in allow:
            rules.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        for flag in CLONE_NAMESPACES:
            rules.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
            rules.add_rule(refuse, name, sc.Arg(0, sc.NE, me))
        rules.add_rule(refuse, "prlimit64", sc.Arg(2, sc.NE, 0))
        for request in TERMINAL_INJECTION:
            rules.add_rule(refuse, "ioctl", sc.Arg(1, sc.EQ, request))
        rules.load()
    except (OSError, ValueError, RuntimeError) as error:  # a rule that must hold could not be made
        raise WallUnavailable(f"libseccomp could not build the filter ({error})") from None
    note = f" (not known to this libseccomp: {', '.join(skipped)})" if skipped else ""
    if "processes" in allow:
        refusing = "no sockets"
    elif "exec" in allow:
        refusing = "no processes (exec of the submission's own program only), sockets"
    else:
        refusing = "no processes, programs, sockets"
    return refusing + ", ptrace, pidfd, mknod, links, mounts, namespaces, raised limits, or signals to others" + note


def _known(sc, name: str) -> bool:
    """Whether this libseccomp knows the system call on this architecture (an older one may
    not know the newest calls, which then do not exist on the kernel it was built for)."""
    return sc.resolve_syscall(sc.system_arch(), name) >= 0


# --------------------------------------------------------------------------- capabilities
def drop_capabilities() -> str:
    """Drop every capability for good and set no_new_privs. For uid 0 the securebits that
    would give capabilities back (on exec, on a change of uid) are set and locked first."""
    try:
        import pyprctl
    except ImportError as error:
        raise WallUnavailable(f"pyprctl is missing ({error})") from None
    state = pyprctl.CapState.get_current()
    if pyprctl.Cap.SETPCAP in state.effective:
        pyprctl.set_securebits(pyprctl.Secbits.NOROOT | pyprctl.Secbits.NOROOT_LOCKED
                               | pyprctl.Secbits.NO_SETUID_FIXUP | pyprctl.Secbits.NO_SETUID_FIXUP_LOCKED
                               | pyprctl.Secbits.KEEP_CAPS_LOCKED)
        for cap in pyprctl.capbset_probe():
            pyprctl.capbset_drop(cap)
    if pyprctl.cap_ambient_supported():
        pyprctl.cap_ambient_clear_all()
    pyprctl.CapState(effective=set(), permitted=set(), inheritable=set()).set_current()
    pyprctl.set_no_new_privs()
    left = pyprctl.CapState.get_current()
    if left.effective or left.permitted or left.inheritable:
        raise WallUnavailable("capabilities could not all be dropped")
    if pyprctl.capbset_probe():  # an ordinary user may not empty it: no_new_privs makes it unusable
        return "none left, none can come back (no_new_privs)"
    return "none left, none can come back (no_new_privs, securebits locked, bounding set empty)"


def set_parent_death_signal() -> None:
    """SIGKILL this process when its parent ends."""
    import pyprctl

    pyprctl.set_pdeathsig(signal.SIGKILL)


# --------------------------------------------------------------------------- namespaces
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNS = 0x08000000, 0x04000000, 0x00020000
NAMESPACES = {"user": CLONE_NEWUSER, "pid": CLONE_NEWPID, "network": CLONE_NEWNET, "ipc": CLONE_NEWIPC,
              "uts": CLONE_NEWUTS, "mount": CLONE_NEWNS}
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000


def unshare_namespaces() -> str:
    """New user, PID, network, IPC and UTS namespaces, with this process's own uid and gid
    mapped to themselves (root stays root inside, with no power outside). The PID namespace
    applies to the children: call `fork_into_pid_namespace` next."""
    import pyprctl

    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(sum(NAMESPACES.values())) != 0:
        code = ctypes.get_errno()
        raise WallUnavailable(f"unshare refused ({os.strerror(code)}): this kernel or container does "
                              "not let unprivileged processes make user namespaces")
    # A process whose uid just changed is not "dumpable", and its /proc/self files belong to
    # root: dumpable for the three writes, then not again.
    pyprctl.set_dumpable(True)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    pyprctl.set_dumpable(False)
    return "own " + ", ".join(NAMESPACES) + " namespaces (no network; every process dies with the worker)"


def mount_private_folder(folder: str, megabytes: int) -> str:
    """In the new mount namespace: a fresh tmpfs of `megabytes` over `folder`, so that what
    the worker writes is bounded in all (not only file by file) and vanishes with it. Seen
    by this namespace only: the grader's view of the folder is untouched."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:  # nothing leaks back out
        raise WallUnavailable(f"mounts could not be made private ({os.strerror(ctypes.get_errno())})")
    options = f"size={megabytes}m,mode=0700".encode()
    if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0:
        raise WallUnavailable(f"tmpfs could not be mounted ({os.strerror(ctypes.get_errno())})")
    return f"its folder a {megabytes} MB tmpfs of its own"


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def fork_into_pid_namespace(close_in_parent: Iterable[int]) -> None:
    """Fork after unshare: the child returns, as PID 1 of the new namespace; the parent
    stays outside, waits, and ends the way the child ended (its status or its signal), so
    the grader sees one process. If the parent is killed, the child is killed with it."""
    child = os.fork()
    if child == 0:
        set_parent_death_signal()
        return
    for fd in close_in_parent:
        os.close(fd)  # the grader must see end-of-file when the child ends
    _wait_and_mirror(child)


def _wait_and_mirror(child: int) -> None:
    set_parent_death_signal()
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
