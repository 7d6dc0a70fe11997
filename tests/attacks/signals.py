# Signals: stopping or killing the grader and the neighbours' workers, by pid and by pidfd.
import signal as _signal


def _pidfd_signal(pid, number):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(434, pid, 0)  # pidfd_open
    if fd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open")
    if libc.syscall(424, fd, number, None, 0) != 0:  # pidfd_send_signal
        raise OSError(ctypes.get_errno(), "pidfd_send_signal")


def _workers_of_the_battery():
    found = []
    for pid in _os.listdir("/proc"):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if T["marker"].encode() in cmdline and int(pid) != _os.getpid():
            found.append(int(pid))
    return found


for _pid in T["victims"] + ([_os.getppid()] if _os.getppid() > 1 else []):
    attempt(f"SIGSTOP {_pid} through a pidfd", lambda: _pidfd_signal(_pid, _signal.SIGSTOP))
    attempt(f"SIGKILL {_pid}", lambda: _os.kill(_pid, _signal.SIGKILL))
attempt("list the other processes", lambda: _workers_of_the_battery() or (_ for _ in ()).throw(OSError()))


class Backend(GoodBackend):
    def build_tokenizer(self, docs):
        try:
            for pid in _workers_of_the_battery():
                attempt(f"SIGKILL a neighbour ({pid})", lambda: _os.kill(pid, _signal.SIGKILL))
        except OSError:
            pass
        return super().build_tokenizer(docs)
