"""The grader's connection to the worker that runs a submission.

The `Link` does the bookkeeping that makes a hostile submission harmless to the grade:

* time: each test may wait on the worker for `test_seconds` in all; the whole submission
  for `submission_seconds`. Past that the worker is killed and the test fails
  "timed out after N s"; after `max_strikes` time-outs the rest of that area is not run;
* death: a worker that exits or crashes (a closed pipe) fails the current test with what
  happened ("exited with status 3", "used more than N MB", "crashed: segmentation fault");
  the next test gets a fresh worker;
* trust: whatever the worker sends is checked before use (sizes, types, names), and the
  only change to the grader's own objects a reply may make is `gpt`'s key/value append;
* delegation: a reply that says reference-backend code ran marks the test.

The messages themselves are declared in `protocol`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microgpt_spec.grading import protocol
from microgpt_spec.grading.failures import (SandboxFailed, SubmissionCrashed, SubmissionExited,
                                            SubmissionFailure, SubmissionImportFailed, SubmissionMemoryExceeded,
                                            SubmissionNotRun, SubmissionTimedOut, clean_error, describe_status,
                                            import_message, printable, rebuild_exception)
from microgpt_spec.grading.proxies import (CONTRACT_METHODS, GraderCodec, RemoteMethod, RemoteObject,
                                           RemoteSequence, RngMirror)

#: Methods whose result is a new node: sent without waiting for a reply.
ASYNC_METHODS = frozenset({"log", "exp", "relu"})
ASYNC_BATCH = 4000
BACKEND_HANDLE = protocol.BACKEND_HANDLE
GPT_CACHE_POSITIONS = protocol.GPT_CACHE_POSITIONS
#: What a reply that does not fit the protocol raises while the grader reads it.
MALFORMED = (protocol.ProtocolError, TypeError, ValueError, KeyError, IndexError, AttributeError)
MAX_CLASSES = 1000  # class descriptions a worker may send in a whole run
MAX_METHODS = 500  # methods per class description


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Limits:
    test_seconds: float = 60.0
    submission_seconds: float = 900.0
    memory_mb: int = 2048
    output_bytes: int = 1_000_000
    max_strikes: int = 2


@dataclass
class LinkConfig:
    submission: str  # the copy of the submission the worker imports
    display: str  # how messages name it (no private paths)
    workdir: str  # the worker's own folder: its cwd, the only place it may write
    output_path: str  # the submission's stdout/stderr
    results_path: str  # where the grading plugin writes the per-test results
    progress_path: str = ""  # where it notes each test's end, for the progress display
    submission_root: str = ""  # the folder holding the copy: the worker may read it, nothing beside
    limits: Limits = field(default_factory=Limits)
    separate_uid: bool = True  # as root, run each worker under a uid of its own where possible
    required_walls: tuple[str, ...] = ()  # the walls the grader's probe raised: every worker must
    program: tuple[str, ...] = ()  # a backend that is a program (microgpt_spec.programs): its command
    build: tuple[str, ...] = ()  # ... and its build, run once in a worker of its own before it
    build_dir: str = ""  # what the build made, kept for the program's workers
    build_stage: str = ""  # where the build writes, inside its worker's own (bounded) folder
    sandboxed: bool = True  # False: a program started as it is, for a learner's own run (no walls)

    @classmethod
    def from_file(cls, path: str) -> "LinkConfig":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["limits"] = Limits(**data.get("limits", {}))
        data["required_walls"] = tuple(data.get("required_walls", ()))
        data["program"] = tuple(data.get("program", ()))
        data["build"] = tuple(data.get("build", ()))
        return cls(**data)


@dataclass
class TestRecord:
    """What the link saw during one test."""

    delegated: bool = False
    failure: str | None = None  # a SubmissionFailure's kind


# --------------------------------------------------------------------------- the worker process
class WorkerProcess:
    """One worker: the process and the two pipe ends the grader holds."""

    def __init__(self, config: LinkConfig, probe: bool = False, building: bool = False) -> None:
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        os.set_blocking(self.to_worker, False)
        limits = config.limits
        worker_config = {
            "rfd": to_worker_r, "wfd": from_worker_w, "submission": config.submission,
            "submission_root": config.submission_root or os.path.dirname(config.submission),
            "workdir": config.workdir, "memory_mb": limits.memory_mb,
            "cpu_seconds": int(limits.submission_seconds) + 1, "output_bytes": limits.output_bytes,
            "separate_uid": config.separate_uid, "required": list(config.required_walls),
            "parent": os.getpid(), "probe": probe,
            "mode": "build" if building else ("program" if config.program else "python"),
            "program": list(config.program), "build": list(config.build), "build_dir": config.build_dir,
            "build_stage": config.build_stage,
        }
        with open(config.output_path, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-s", "-B", "-P", "-m", "microgpt_spec.grading.worker", json.dumps(worker_config)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=output, cwd=config.workdir,
                env=worker_environment(config.workdir), pass_fds=(to_worker_r, from_worker_w),
                start_new_session=True,
            )
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.killed_by_grader = False

    def kill(self) -> None:
        self.killed_by_grader = True
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def ending(self, grace: float = 2.0) -> tuple[int, int]:
        """Wait for the process to end (killing it after `grace` s): (status, peak RSS kB)."""
        deadline = time.monotonic() + grace
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                self.close()
                return self.process.returncode, usage.ru_maxrss
            if time.monotonic() > deadline:
                self.kill()
                deadline = time.monotonic() + 10
            time.sleep(0.01)

    def close(self) -> None:
        for fd in (self.to_worker, self.from_worker):
            try:
                os.close(fd)
            except OSError:
                pass


class ProgramProcess(WorkerProcess):
    """A program backend started as it is, outside any sandbox (a learner's own run): the
    protocol on its standard input and output, what it prints on stderr to the log."""

    def __init__(self, config: LinkConfig) -> None:
        to_worker_r, self.to_worker = os.pipe()
        self.from_worker, from_worker_w = os.pipe()
        os.set_blocking(self.to_worker, False)
        try:
            with open(config.output_path, "ab") as output:
                self.process = subprocess.Popen(list(config.program), stdin=to_worker_r, stdout=from_worker_w,
                                                stderr=output, cwd=config.workdir, start_new_session=True)
        except OSError as error:
            self.close()
            raise SubmissionImportFailed(f"could not start {config.program[0]}: {error.strerror}") from None
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self.killed_by_grader = False


def worker_environment(workdir: str) -> dict[str, str]:
    """A small, fixed environment: nothing of the grader's leaks in, runs repeat exactly."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
    }


# --------------------------------------------------------------------------- the link
class Link:
    """The grader's connection to the submission's worker, restarted when needed."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.codec = GraderCodec(self)
        self.generation = 0
        self.worker: WorkerProcess | None = None
        self.info: dict = {}
        self.import_failure: SubmissionFailure | None = None
        self.pending: list = []
        self.released: set[int] = set()
        self.proxies: dict[int, weakref.ref] = {}
        self.classes: dict[int, type] = {}
        self.reads: dict[tuple[int, str], Any] = {}
        self.next_id = 1
        self.started = time.monotonic()
        self.test = TestRecord()
        self.test_used = 0.0
        self.test_failure: SubmissionFailure | None = None
        self.area: str | None = None
        self.strikes: dict[str, int] = {}
        self.expired = False
        self.restarts = 0
        self.reference_events: list[str] = []
        self.refused: list[str] = []
        self.callback_error: BaseException | None = None
        self.rngs = RngMirror()
        self.last_async = 0
        self.built = False

    # ------------------------------------------------------------- tests
    def begin_test(self, area: str | None) -> None:
        self.test = TestRecord()
        self.test_used = 0.0
        self.test_failure = None
        self.area = area

    def end_test(self) -> TestRecord:
        record = self.test
        self.test = TestRecord()
        self.area = None
        return record

    # ------------------------------------------------------------- the worker's life
    def start(self) -> None:
        """Start the worker (again) and wait for it to import the submission."""
        if self.worker is not None:
            return
        self.generation += 1
        self.proxies.clear()
        self.released.clear()
        self.pending.clear()
        self.reads.clear()
        self.rngs = RngMirror()
        if self.config.sandboxed and self.config.build and not self.built:
            self.run_build()
        if self.config.sandboxed:
            self.worker = WorkerProcess(self.config)
            self.reader = protocol.Reader(self.worker.from_worker)
            self.confined_walls = self.first_message("confined")
        else:
            self.worker = ProgramProcess(self.config)
            self.reader = protocol.Reader(self.worker.from_worker)
            self.confined_walls = []
        message = self.first_message("ready")
        self.note_events(message)
        if "import_failed" in message:
            self.drop_worker()
            self.import_failure = SubmissionImportFailed(import_message(message["import_failed"]))
            raise self.import_failure
        if "ready" not in message:
            raise self.crash(SubmissionCrashed("the worker did not start properly"))
        self.info = checked_info(message["ready"])
        spoken = message["ready"].get("protocol") if isinstance(message["ready"], dict) else None
        if self.config.program and spoken != protocol.VERSION:
            self.drop_worker()
            self.import_failure = SubmissionImportFailed(
                f"the program speaks protocol version {short_text(repr(spoken), '?', 20)}, this microgpt-spec "
                f"{protocol.VERSION}: its `ready` message must say \"protocol\": {protocol.VERSION} (docs/protocol.md)")
            raise self.import_failure

    def run_build(self) -> None:
        """A program backend's build, in a worker of its own inside the walls, once per
        submission; a failed build is the submission's import failure, with what it printed."""
        self.worker = WorkerProcess(self.config, building=True)
        self.reader = protocol.Reader(self.worker.from_worker)
        self.confined_walls = self.first_message("confined")
        outcome = self.first_message("built").get("built")
        self.drop_worker()
        if not isinstance(outcome, dict) or outcome.get("status") != 0:
            detail = short_text(outcome.get("detail") if isinstance(outcome, dict) else None, "it did not finish", 200)
            self.import_failure = SubmissionImportFailed(
                f"the build failed ({detail}): {printable(' '.join(self.config.build))[:300]}\n"
                f"{self.log_tail()}")
            raise self.import_failure
        self.built = True

    def log_tail(self, size: int = 2000) -> str:
        try:
            with open(self.config.output_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - size))
                return printable(log.read().decode("utf-8", "replace").strip())
        except OSError:
            return ""

    def first_message(self, expected: str) -> Any:
        """The worker's start-up messages: first the walls it raised (sent before it read a
        line of the submission, so the submission cannot have touched them), then "ready"."""
        try:
            message = self.receive(self.limits.test_seconds, during="import")
        except SubmissionImportFailed as failure:
            self.import_failure = failure
            raise
        except SubmissionFailure as failure:
            self.import_failure = SubmissionImportFailed(f"import failed: {failure.msg}")
            raise self.import_failure from None
        if "sandbox_failed" in message:
            self.drop_worker()
            self.import_failure = SandboxFailed(
                f"not graded: the grader's sandbox could not be raised ({str(message['sandbox_failed'])[:500]}); "
                "this is a problem of the grading machine, not of the submission")
            raise self.import_failure
        if expected == "confined":
            if "confined" not in message or message.get("version") != protocol.VERSION:
                raise self.crash(SubmissionCrashed(
                    f"the worker did not start properly (it speaks protocol version {message.get('version')!r}, "
                    f"the grader {protocol.VERSION})"))
            return checked_walls(message["confined"])
        return message

    def output_tail(self, size: int = 1500) -> str:
        """The end of what a program backend printed on stderr, for a message about its death
        (a learner's own run: the grader reports the output on its own)."""
        if self.config.sandboxed or not self.config.output_path:
            return ""
        text = self.log_tail(size)
        return f"\nwhat it printed last on stderr:\n{text}" if text else ""

    @property
    def draws_on_host(self) -> bool:
        """A program backend asks the host for its random draws (`draw` messages)."""
        return bool(self.config.program)

    def walls(self) -> list[dict]:
        return list(getattr(self, "confined_walls", ()) or ())

    def backend_identity(self) -> dict:
        return {k: self.info.get(k) for k in ("name", "version", "precision")}

    def drop_worker(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker.ending()
            self.worker = None

    def close(self) -> None:
        """End of the run: close the pipe (the worker then exits by itself)."""
        if self.worker is not None:
            self.worker.close()
            try:
                self.worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.process.wait()
            self.worker = None

    def ensure_ready(self) -> None:
        if self.import_failure is not None:
            raise SubmissionImportFailed(self.import_failure.msg)  # a fresh one: no traceback pile-up
        if self.test_failure is not None:
            raise type(self.test_failure)(self.test_failure.msg)
        if self.expired:
            raise SubmissionNotRun(f"not run: the submission's total time limit "
                                   f"({self.limits.submission_seconds:g} s) ran out before this test")
        strikes = self.strikes.get(self.area or "", 0)
        if self.area and strikes >= self.limits.max_strikes:
            raise SubmissionNotRun(f"not run: {strikes} earlier tests of the {self.area} area timed out "
                                   "or ran out of memory")
        if self.worker is None:
            if self.generation:
                self.restarts += 1
            self.start()

    # ------------------------------------------------------------- proxies
    def proxy(self, hid: int, cid: int | None) -> RemoteObject:
        ref = self.proxies.get(hid)
        existing = ref() if ref is not None else None
        if existing is not None:
            return existing
        if hid in self.released:
            self.released.discard(hid)  # its proxy died while the worker was still sending it
        made = (self.classes.get(cid) or RemoteObject)(self, hid)
        self.proxies[hid] = weakref.ref(made)
        return made

    def forget(self, hid: int, generation: int) -> None:
        """A proxy was garbage collected: release its object in the worker (batched)."""
        if generation == self.generation:
            self.proxies.pop(hid, None)
            self.released.add(hid)

    def target(self, proxy: RemoteObject) -> int:
        if proxy._link is not self or proxy._gen != self.generation:
            raise SubmissionCrashed("this object belonged to a worker that has since been restarted")
        return proxy._hid

    def learn_classes(self, classes: Any) -> None:
        """A proxy class per class of the worker's, from its description (checked and capped:
        however many the worker sends, the grader keeps at most MAX_CLASSES)."""
        if not isinstance(classes, dict) or len(self.classes) + len(classes) > MAX_CLASSES:
            raise self.crash(SubmissionCrashed(f"crashed: the worker described more than {MAX_CLASSES} classes"))
        for cid, description in classes.items():
            if not isinstance(description, dict) or not str(cid).isdigit():
                raise self.crash(SubmissionCrashed("crashed: the worker sent a malformed class description"))
            base = RemoteSequence if description.get("seq") else RemoteObject
            name = short_text(description.get("name"), "Remote", 80).replace(".", "_")
            methods = description.get("methods") if isinstance(description.get("methods"), list) else []
            self.classes[int(cid)] = type(name, (base,), {
                "__slots__": (), "_methods": frozenset(str(m)[:100] for m in methods[:MAX_METHODS]),
                "_remote_class": name})

    def set_class(self, hid: int, cid: int) -> None:
        ref = self.proxies.get(hid)
        proxy = ref() if ref is not None else None
        cls = self.classes.get(cid)
        if proxy is not None and cls is not None and type(proxy) is not cls:
            object.__setattr__(proxy, "__class__", cls)

    # ------------------------------------------------------------- requests
    def new_proxy(self) -> RemoteObject:
        hid = self.next_id
        self.next_id += 1
        made = RemoteObject(self, hid)
        self.proxies[hid] = weakref.ref(made)
        return made

    def enqueue(self, request: list) -> None:
        self.reads.clear()  # the submission's code runs: what was read ahead may change
        self.pending.append(request)
        if len(self.pending) >= ASYNC_BATCH:
            self.send(None)

    def binary(self, op: str, left: Any, right: Any) -> Any:
        self.ensure_ready()
        a, b = self.operand(left), self.operand(right)
        result = self.new_proxy()
        self.enqueue(["op", result._hid, op, a, b])
        return result

    def unary(self, op: str, operand: RemoteObject) -> Any:
        self.ensure_ready()
        a = self.operand(operand)
        result = self.new_proxy()
        self.enqueue(["un", result._hid, op, a])
        return result

    def operand(self, value: Any) -> Any:
        """An operator's operand on the wire (fast path for numbers and proxies)."""
        kind = type(value)
        if kind is float or kind is int:
            return value
        if isinstance(value, RemoteObject):
            return {"h": self.target(value)}
        return self.codec.encode(value)

    def compare(self, op: str, left: Any, right: Any) -> Any:
        return self.sync(["cmp", op, self.codec.encode(left), self.codec.encode(right)])

    def set_attribute(self, proxy: RemoteObject, name: str, value: Any) -> None:
        self.ensure_ready()
        self.enqueue(["set", self.target(proxy), name, self.codec.encode(value)])

    def get_attribute(self, proxy: RemoteObject, name: str) -> Any:
        hid = self.target(proxy)
        cached = self.reads.get((hid, name), self)
        if cached is not self:
            return cached
        reply = self.exchange(["get", hid, name])
        if reply.get("meth"):
            return RemoteMethod(proxy, name)
        return self.result_of(reply)

    def call_method(self, proxy: RemoteObject, name: str, args: tuple, kwargs: dict) -> Any:
        if name in ASYNC_METHODS and not args and not kwargs:
            self.ensure_ready()
            result = self.new_proxy()
            self.enqueue(["acall", result._hid, self.target(proxy), name, []])
            return result
        return self.call(["call", self.target(proxy), name], args, kwargs)

    def call_object(self, proxy: RemoteObject, args: tuple, kwargs: dict) -> Any:
        return self.call(["callobj", self.target(proxy)], args, kwargs)

    def call_backend(self, name: str, args: tuple, kwargs: dict) -> Any:
        if name == "value" and len(args) == 1 and not kwargs and type(args[0]) in (int, float):
            self.ensure_ready()
            result = self.new_proxy()
            self.enqueue(["acall", result._hid, BACKEND_HANDLE, "value", [args[0]]])
            return result
        return self.call(["call", BACKEND_HANDLE, name], args, kwargs)

    def call(self, head: list, args: tuple, kwargs: dict) -> Any:
        """A synchronous call; lists and dicts the submission changed are changed here too,
        and random generators end in the state the submission left them in."""
        self.codec.rngs, self.codec.callbacks = [], {}
        encoded = [self.codec.encode(a) for a in args]
        encoded_kw = [[k, self.codec.encode(v)] for k, v in kwargs.items()]
        rngs = self.codec.rngs
        self.callback_error = None
        reply = self.exchange(head + [encoded, encoded_kw])
        if head[:3] == ["call", BACKEND_HANDLE, "gpt"] and "kv" in reply:
            self.append_to_cache(reply["kv"], args, kwargs)
        for (rng, before), after in zip(rngs, reply.get("rng", ())):
            self.rngs.update(rng, before, after)
        return self.result_of(reply)

    def append_to_cache(self, appended: Any, args: tuple, kwargs: dict) -> None:
        """Append what the worker's `gpt` appended to each layer of `keys` and `values`: the
        one change to an argument the grader takes over. Anything else the submission did to
        its copies of the grader's arguments stays in the worker."""
        if not isinstance(appended, dict):
            raise self.crash(SubmissionCrashed("crashed: the worker sent a malformed key/value cache"))
        for name, position in GPT_CACHE_POSITIONS.items():
            cache = args[position] if position < len(args) else kwargs.get(name)
            tails = appended.get(name)
            if not isinstance(cache, list) or not isinstance(tails, list) or len(tails) != len(cache):
                raise self.crash(SubmissionCrashed("crashed: the worker sent a malformed key/value cache"))
            for layer, tail in zip(cache, tails):
                if isinstance(layer, list) and isinstance(tail, list):
                    layer.extend(self.codec.decode(tail))

    def sync(self, request: list) -> Any:
        return self.result_of(self.exchange(request))

    def flush(self) -> None:
        """Surface any error of operations sent without waiting (end of a test example)."""
        if self.pending and self.worker is not None and self.test_failure is None:
            self.sync(["flush"])

    def result_of(self, reply: dict) -> Any:
        if "e" in reply:
            raise self.exception_from(reply["e"])
        try:
            return self.codec.decode(reply.get("r"))
        except MALFORMED as error:
            raise self.malformed(error) from None

    # ------------------------------------------------------------- the exchange
    def exchange(self, request: list) -> dict:
        self.ensure_ready()
        self.send(request)
        started = time.monotonic()
        try:
            while True:
                reply = self.receive(self.remaining(), during=self.during(request))
                if "cb" in reply:
                    self.answer_callback(reply)
                elif "draw" in reply and self.draws_on_host:
                    self.answer_draw(reply["draw"])
                else:
                    break
        finally:
            self.test_used += time.monotonic() - started
        if request[0] != "get" or reply.get("np"):
            self.reads.clear()
        try:
            self.absorb(reply, request[2] if request[0] == "get" else "")
        except MALFORMED as error:
            raise self.malformed(error) from None
        return reply

    def send(self, request: list | None) -> None:
        if self.worker is None:
            return
        self.last_async = len(self.pending)
        batch = {"a": self.pending, "s": request}
        if self.released:
            # Last: the operations before it may still use these objects.
            batch["a"].append(["rel", sorted(self.released)])
            self.released = set()
        self.pending = []
        deadline = time.monotonic() + max(self.remaining(), 0.001)
        try:
            protocol.write_all(self.worker.to_worker, protocol.frame(batch), deadline)
        except protocol.WaitTimedOut:
            raise self.timed_out(protocol.describe(request)) from None
        except protocol.PeerGone:
            raise self.died(protocol.describe(request)) from None

    def during(self, request: list) -> str:
        """What the worker was doing: the request, or an operation sent before it."""
        what = protocol.describe(request)
        if self.last_async:
            what += f" (or one of the {self.last_async} operations on its objects sent just before)"
        return what

    def receive(self, budget: float, during: str) -> dict:
        deadline = time.monotonic() + max(budget, 0.001)
        try:
            message = self.reader.message(deadline)
        except protocol.WaitTimedOut:
            raise self.timed_out(during) from None
        except protocol.PeerGone:
            raise self.died(during) from None
        except protocol.ProtocolError as error:
            raise self.crash(SubmissionCrashed(f"crashed: the worker sent something unreadable ({error})")) from None
        if not isinstance(message, dict):
            raise self.crash(SubmissionCrashed("crashed: the worker sent something unreadable"))
        return message

    def remaining(self) -> float:
        test_left = self.limits.test_seconds - self.test_used
        session_left = self.limits.submission_seconds - (time.monotonic() - self.started)
        return min(test_left, session_left)

    def absorb(self, reply: dict, read_name: str) -> None:
        """Class descriptions, class ids of new nodes, read-ahead values, delegation."""
        if reply.get("cls"):
            self.learn_classes(reply["cls"])
        for hid, cid in reply.get("hc", ()):
            self.set_class(hid, cid)
        for hid, value in reply.get("pf", ()):
            self.reads[(hid, read_name)] = value
        self.note_events(reply)

    def note_events(self, message: dict) -> None:
        if message.get("ref") and self.area:
            self.test.delegated = True
        remember(self.reference_events, message.get("refev"), 5)
        remember(self.refused, message.get("refused"), 20)

    def answer_callback(self, message: dict) -> None:
        function = self.codec.callbacks.get(message.get("cb"))
        started = time.monotonic()
        try:
            if function is None:
                raise RuntimeError("no such callback")
            args = [self.codec.decode(a) for a in message.get("args", ())]
            kwargs = {k: self.codec.decode(v) for k, v in message.get("kwargs", ())}
            answer = {"r": self.codec.encode(function(*args, **kwargs))}
        except Exception as error:  # noqa: BLE001 - re-raised once the call returns
            self.callback_error = error
            answer = {"e": f"{type(error).__name__}: {error}"[:500]}
        finally:
            self.test_used -= time.monotonic() - started  # the grader's time, not the submission's
        protocol.write_all(self.worker.to_worker, protocol.frame(answer), time.monotonic() + self.remaining())

    def answer_draw(self, draw: Any) -> None:
        """Draw numbers for a program backend from the spec's own generator: `{k, dist, n}`,
        with `mu` and `sigma` for gauss. The program's draws are then Python's, bit for bit."""
        try:
            key = draw["k"]
            if type(key) is not int or key < 0:
                raise ValueError("a draw's k is the key of a generator passed in this call")
            rng, _ = self.codec.rngs[key]
            answer = {"r": draw_numbers(rng, draw)}
        except (LookupError, TypeError, ValueError) as error:
            raise self.malformed(error) from None
        protocol.write_all(self.worker.to_worker, protocol.frame(answer), time.monotonic() + self.remaining())

    # ------------------------------------------------------------- what went wrong
    def exception_from(self, error: Any) -> BaseException:
        if self.callback_error is not None:
            failure, self.callback_error = self.callback_error, None
            return failure
        error = clean_error(error)
        kind = error.get("kind")
        during = error.get("during") or "a call"
        if kind == "memory":
            self.drop_worker()
            return self.strike(SubmissionMemoryExceeded(
                f"used more than {self.limits.memory_mb} MB (MemoryError during {during})"))
        if kind == "exit":
            return self.fail(SubmissionExited(f"exited: the submission called sys.exit({error.get('code')!r}) "
                                              f"during {during}"))
        exception = rebuild_exception(error)
        if exception is None:
            return self.fail(SubmissionCrashed(f"crashed: the submission raised {error.get('qualname')}: "
                                               f"{error.get('message')} during {during}"))
        if error.get("trace"):
            exception.add_note("in the submission:\n" + error["trace"])
        return exception

    def timed_out(self, during: str) -> SubmissionFailure:
        self.drop_worker()
        if time.monotonic() - self.started >= self.limits.submission_seconds:
            self.expired = True
            return self.fail(SubmissionTimedOut(
                f"timed out: the submission's total time limit ({self.limits.submission_seconds:g} s) "
                f"ran out during {during}"))
        return self.strike(SubmissionTimedOut(f"timed out after {self.limits.test_seconds:g} s during {during}"))

    def died(self, during: str) -> SubmissionFailure:
        worker, self.worker = self.worker, None
        status, peak_kb = worker.ending()
        if during == "import":
            return SubmissionImportFailed(f"exited during import ({describe_status(status)})")
        if status == protocol.EXIT_MEMORY or (status == -signal.SIGKILL and peak_kb * 1024 > 0.9 * self.limits.memory_mb * 2**20):
            return self.strike(SubmissionMemoryExceeded(f"used more than {self.limits.memory_mb} MB during {during}"))
        if status == -signal.SIGXCPU:
            self.expired = True
            return self.fail(SubmissionTimedOut(f"timed out: used more than {self.limits.submission_seconds:g} s "
                                                f"of CPU during {during}"))
        if status is not None and status >= 0:
            return self.fail(SubmissionExited(f"exited with status {status} during {during}{self.output_tail()}"))
        return self.fail(SubmissionCrashed(f"crashed ({describe_status(status)}) during {during}{self.output_tail()}"))

    def malformed(self, error: Exception) -> SubmissionFailure:
        """A reply that does not fit the protocol: the worker's crash, never the grader's error."""
        return self.crash(SubmissionCrashed(f"crashed: the worker sent a malformed reply "
                                            f"({type(error).__name__}: {printable(str(error))[:200]})"))

    def crash(self, failure: SubmissionFailure) -> SubmissionFailure:
        self.drop_worker()
        return self.fail(failure)

    def strike(self, failure: SubmissionFailure) -> SubmissionFailure:
        if self.area:
            self.strikes[self.area] = self.strikes.get(self.area, 0) + 1
        return self.fail(failure)

    def fail(self, failure: SubmissionFailure) -> SubmissionFailure:
        """Record the failure on the current test; later calls in it fail the same way."""
        self.test_failure = failure
        self.test.failure = failure.kind
        return failure


MAX_DRAWS = 1 << 20  # numbers one draw message may ask for


def draw_numbers(rng: Any, draw: dict) -> list[float]:
    """`n` numbers of `rng.random()` or `rng.gauss(mu, sigma)`, as a program asked."""
    count, dist = draw["n"], draw["dist"]
    if type(count) is not int or not 0 <= count <= MAX_DRAWS:
        raise ValueError(f"a draw asks for 0 to {MAX_DRAWS} numbers, not {str(count)[:20]}")
    if dist == "random":
        return [rng.random() for _ in range(count)]
    if dist == "gauss":
        mu, sigma = float(draw["mu"]), float(draw["sigma"])
        return [rng.gauss(mu, sigma) for _ in range(count)]
    raise ValueError(f"a draw's dist is random or gauss, not {str(dist)[:20]!r}")


# --------------------------------------------------------------------------- checking what the worker says
def remember(notes: list[str], events: Any, most: int) -> None:
    """Add the worker's new notes, as short strings, keeping at most `most`."""
    for event in events if isinstance(events, list) else ():
        text = short_text(event, "?", 300)
        if len(notes) < most and text not in notes:
            notes.append(text)



def short_text(value: Any, default: str, limit: int = 100) -> str:
    """A name the worker sent, as the reports may show it: a string, not too long."""
    if not isinstance(value, str) or not value:
        return default
    return printable(value[:limit]) + ("..." if len(value) > limit else "")



def checked_info(ready: Any) -> dict:
    """What the worker says about the backend, taken only as far as it is well formed."""
    if not isinstance(ready, dict):
        ready = {}
    methods = ready.get("methods") if isinstance(ready.get("methods"), list) else []
    precision = ready.get("precision")
    return {"name": short_text(ready.get("name"), "submission"),
            "version": short_text(ready.get("version"), "unknown"),
            "precision": precision if precision in ("float32", "float64") else "float64",
            "methods": [m for m in methods if isinstance(m, str) and m in CONTRACT_METHODS]}



def checked_walls(walls: Any) -> list[dict]:
    if not isinstance(walls, list):
        return []
    return [{"name": short_text(w.get("name"), "?", 40), "active": w.get("active") is True,
             "detail": short_text(w.get("detail"), "", 300)} for w in walls[:12] if isinstance(w, dict)]



# --------------------------------------------------------------------------- the probe
def probe_walls(separate_uid: bool = True, seconds: float = 30.0, timings: list | None = None) -> list[dict]:
    """Raise the sandbox once, in a throw-away worker with nothing to import: the walls
    this machine offers. Every worker of the grade must then raise the same walls."""
    with tempfile.TemporaryDirectory(prefix="microgpt-probe-") as folder:
        work = Path(folder)
        work.chmod(0o711)  # as a grade's work folder: others may pass through, not list it
        for name in ("sandbox", "code"):
            (work / name).mkdir(mode=0o700)
        config = LinkConfig(submission=str(work / "code" / "none.py"), display="probe",
                            workdir=str(work / "sandbox"), output_path=str(work / "output.txt"),
                            results_path="", submission_root=str(work / "code"), separate_uid=separate_uid)
        worker = WorkerProcess(config, probe=True)
        try:
            message = protocol.Reader(worker.from_worker).message(time.monotonic() + seconds)
        except (protocol.ProtocolError, protocol.PeerGone, protocol.WaitTimedOut) as error:
            output = (work / "output.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the sandbox probe failed ({type(error).__name__}): {output}") from None
        finally:
            worker.ending()
    if "sandbox_failed" in message:
        raise RuntimeError(f"the sandbox probe failed: {message['sandbox_failed']}")
    walls = checked_walls(message.get("confined"))
    if timings is not None and isinstance(message.get("seconds"), float):
        timings.append(message["seconds"])
    return walls
