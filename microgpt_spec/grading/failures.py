"""What can go wrong with a submission while the grader talks to it, as exceptions.

A `SubmissionFailure` is the grader's verdict on a call (time, memory, a crash, an exit):
a BaseException, so that neither the spec's `except Exception` nor hypothesis's shrinking
catch it; pytest reports it as the test's failure. The submission's own exceptions come
back as the nearest built-in type (`rebuild_exception`), so the spec's handling of
NotImplementedError, ValueError ... works unchanged. Everything the worker says about an
error is taken only as far as it is well formed (`clean_error`).
"""

from __future__ import annotations

import builtins
import signal
from typing import Any

MESSAGE_LIMIT = 4000  # characters of a message from the worker the reports keep
SIGNAL_NAMES = {signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted", signal.SIGBUS: "bus error",
                signal.SIGFPE: "floating-point exception", signal.SIGILL: "illegal instruction",
                signal.SIGXCPU: "CPU time limit", signal.SIGKILL: "killed", signal.SIGTERM: "terminated"}


class SubmissionFailure(BaseException):
    """The submission could not be checked (time, memory, a crash). A BaseException, so
    that the spec's `except Exception` and hypothesis's shrinking let it through at once;
    pytest reports it as the test's failure. `msg` is what the report shows."""

    kind = "crashed"

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class SubmissionTimedOut(SubmissionFailure):
    kind = "timed out"


class SubmissionMemoryExceeded(SubmissionFailure):
    kind = "memory"


class SubmissionExited(SubmissionFailure):
    kind = "exited"


class SubmissionCrashed(SubmissionFailure):
    kind = "crashed"


class SubmissionImportFailed(SubmissionFailure):
    kind = "import failed"


class SubmissionNotRun(SubmissionFailure):
    kind = "not run"


class SandboxFailed(SubmissionFailure):
    """The grader could not raise a wall it requires: not the submission's fault."""

    kind = "sandbox"



# --------------------------------------------------------------------------- the worker's words
def rebuild_exception(error: dict) -> BaseException | None:
    """The submission's exception as the nearest built-in exception (an Exception)."""
    error = clean_error(error)
    cls = getattr(builtins, str(error.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    args = error.get("args")
    try:
        exception = cls(*args) if isinstance(args, list) else cls(error.get("message", ""))
    except Exception:  # noqa: BLE001 - some built-ins want particular arguments
        exception = cls(error.get("message", ""))
    if error.get("qualname") and error["qualname"] != cls.__name__:
        exception.add_note(f"(raised as {error['qualname']})")
    return exception



def clean_error(error: Any) -> dict:
    """An error the worker described, as text the reports can hold: strings capped, lone
    surrogates and other unencodable characters escaped, arguments plain."""
    if not isinstance(error, dict):
        return {"type": "RuntimeError", "message": "the worker sent a malformed error"}
    cleaned = {key: printable(value[:MESSAGE_LIMIT]) if isinstance(value, str) else value for key, value in error.items()}
    args = cleaned.get("args")
    if isinstance(args, list):
        cleaned["args"] = [printable(a[:MESSAGE_LIMIT]) if isinstance(a, str) else a for a in args[:8]
                           if a is None or type(a) in (str, int, float, bool)]
    return cleaned



def printable(text: object) -> str:
    """`text` as it can be shown and written anywhere: bytes that are not UTF-8 (file names
    can hold them) and lone surrogates become backslash escapes."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")



def describe_status(status: int | None) -> str:
    if status is None:
        return "unknown status"
    if status < 0:
        return f"signal {SIGNAL_NAMES.get(-status, -status)}"
    return f"exit status {status}"



def import_message(error: Any) -> str:
    error = clean_error(error)
    kind = error.get("kind")
    if kind == "exit":
        text = f"exited during import: the submission called sys.exit({error.get('code')!r})"
    elif kind == "memory":
        text = "used too much memory during import (MemoryError)"
    else:
        text = f"the submission could not be imported: {error.get('qualname')}: {error.get('message')}"
    if error.get("trace"):
        text += "\n" + error["trace"]
    return text
