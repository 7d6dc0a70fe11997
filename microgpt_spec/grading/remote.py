"""The grader's side of the wire: a backend whose every call runs in the worker.

`connect()` (what `--backend=microgpt_spec.grading.remote:connect` calls) starts a worker
process for the submission and returns a `RemoteBackend`. To the spec it looks like any
backend: contract methods take and return plain data; nodes, tokenizers and optimizers
are `RemoteObject` proxies whose operators, attributes and methods are forwarded.

The `Link` does the bookkeeping that makes a hostile submission harmless to the grade:

* time: each test may wait on the worker for `test_seconds` in all; the whole submission
  for `submission_seconds`. Past that the worker is killed and the test fails
  "timed out after N s"; after `max_strikes` time-outs the rest of that area is not run;
* death: a worker that exits or crashes (a closed pipe) fails the current test with what
  happened ("exited with status 3", "used more than N MB", "crashed: segmentation fault");
  the next test gets a fresh worker;
* errors: the submission's exceptions come back as the nearest built-in exception type, so
  the spec's own handling (NotImplementedError -> not implemented, ValueError expected by a
  test ...) works unchanged; grader-side failures are `SubmissionFailure`s, which derive
  from BaseException so that neither the spec's `except Exception` nor hypothesis's
  shrinking catch them;
* delegation: every reply says whether reference-backend code ran; the test is marked.
"""

from __future__ import annotations

import builtins
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
from typing import Any, Callable

from microgpt_spec.grading import protocol
from microgpt_spec.spec.contract import Backend as ContractBackend

CONFIG_ENVIRONMENT = "MICROGPT_SPEC_GRADE_CONFIG"
CONTRACT_METHODS = frozenset(n for n in vars(ContractBackend) if not n.startswith("_"))
#: Methods whose result is a new node: sent without waiting for a reply.
ASYNC_METHODS = frozenset({"log", "exp", "relu"})
ASYNC_BATCH = 4000
GPT_CACHE_POSITIONS = {"keys": 4, "values": 5}  # gpt(params, config, token, pos, keys, values)
MESSAGE_LIMIT = 4000  # characters of a message from the worker the reports keep
BACKEND_HANDLE = 0
EXIT_MEMORY = 86
SIGNAL_NAMES = {signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted", signal.SIGBUS: "bus error",
                signal.SIGFPE: "floating-point exception", signal.SIGILL: "illegal instruction",
                signal.SIGXCPU: "CPU time limit", signal.SIGKILL: "killed", signal.SIGTERM: "terminated"}


# --------------------------------------------------------------------------- failures
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
    submission_root: str = ""  # the folder holding the copy: the worker may read it, nothing beside
    limits: Limits = field(default_factory=Limits)
    separate_uid: bool = True  # as root, run each worker under a uid of its own where possible
    required_walls: tuple[str, ...] = ()  # the walls the grader's probe raised: every worker must

    @classmethod
    def from_file(cls, path: str) -> "LinkConfig":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["limits"] = Limits(**data.get("limits", {}))
        data["required_walls"] = tuple(data.get("required_walls", ()))
        return cls(**data)


@dataclass
class TestRecord:
    """What the link saw during one test."""

    delegated: bool = False
    failure: str | None = None  # a SubmissionFailure's kind


# --------------------------------------------------------------------------- the worker process
class WorkerProcess:
    """One worker: the process and the two pipe ends the grader holds."""

    def __init__(self, config: LinkConfig, probe: bool = False) -> None:
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


def worker_environment(workdir: str) -> dict[str, str]:
    """A small, fixed environment: nothing of the grader's leaks in, runs repeat exactly."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
    }


# --------------------------------------------------------------------------- proxies
class RemoteObject:
    """An object that lives in the worker. Its class (`type(proxy).__name__`) carries the
    remote class's name once known; attribute reads, method calls and operators go over
    the wire."""

    __slots__ = ("_link", "_hid", "_gen", "__weakref__")
    _methods: frozenset = frozenset()
    _remote_class = ""

    def __init__(self, link: "Link", hid: int) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_gen", link.generation)

    def __del__(self) -> None:
        try:
            self._link.forget(self._hid, self._gen)
        except Exception:  # noqa: BLE001 - at interpreter exit the link may be half gone
            pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # numpy's __array__ probes and the like: not forwarded
        if name in type(self)._methods:
            return RemoteMethod(self, name)
        return self._link.get_attribute(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._link.set_attribute(self, name, value)

    def __repr__(self) -> str:
        return self._link.sync(["repr", self._link.target(self)])

    def __str__(self) -> str:
        return self._link.sync(["str", self._link.target(self)])

    def __float__(self) -> float:
        return self._link.sync(["float", self._link.target(self)])

    def __int__(self) -> int:
        return self._link.sync(["int", self._link.target(self)])

    def __index__(self) -> int:
        return self._link.sync(["index", self._link.target(self)])

    def __bool__(self) -> bool:
        return self._link.sync(["bool", self._link.target(self)])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call_object(self, args, kwargs)

    def __add__(self, other): return self._link.binary("add", self, other)
    def __radd__(self, other): return self._link.binary("add", other, self)
    def __sub__(self, other): return self._link.binary("sub", self, other)
    def __rsub__(self, other): return self._link.binary("sub", other, self)
    def __mul__(self, other): return self._link.binary("mul", self, other)
    def __rmul__(self, other): return self._link.binary("mul", other, self)
    def __truediv__(self, other): return self._link.binary("truediv", self, other)
    def __rtruediv__(self, other): return self._link.binary("truediv", other, self)
    def __pow__(self, other): return self._link.binary("pow", self, other)
    def __rpow__(self, other): return self._link.binary("pow", other, self)
    def __neg__(self): return self._link.unary("neg", self)
    def __pos__(self): return self._link.unary("pos", self)
    def __abs__(self): return self._link.unary("abs", self)
    def __lt__(self, other): return self._link.compare("lt", self, other)
    def __le__(self, other): return self._link.compare("le", self, other)
    def __gt__(self, other): return self._link.compare("gt", self, other)
    def __ge__(self, other): return self._link.compare("ge", self, other)
    # == and hash stay identity-based, so proxies can be dict keys and set members.
    __eq__ = object.__eq__
    __hash__ = object.__hash__


class RemoteSequence(RemoteObject):
    """A proxy for a remote object that can be indexed or iterated (a user's sequence)."""

    __slots__ = ()

    def __len__(self) -> int:
        return self._link.sync(["len", self._link.target(self)])

    def __iter__(self):
        return iter(self._link.sync(["list", self._link.target(self)]))

    def __getitem__(self, key: Any) -> Any:
        return self._link.sync(["getitem", self._link.target(self), self._link.codec.encode(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        link = self._link
        link.sync(["setitem", link.target(self), link.codec.encode(key), link.codec.encode(value)])

    def __contains__(self, item: Any) -> bool:
        return self._link.sync(["contains", self._link.target(self), self._link.codec.encode(item)])


class RemoteMethod:
    """`proxy.name`, ready to be called."""

    __slots__ = ("owner", "name")

    def __init__(self, owner: RemoteObject, name: str) -> None:
        self.owner = owner
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.owner._link.call_method(self.owner, self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"<method {self.name} of {type(self.owner).__name__}>"


class RemoteBackend:
    """The submission's backend, as the spec sees it."""

    def __init__(self, link: "Link") -> None:
        self._link = link

    @property
    def name(self) -> str:
        return self._link.info.get("name", "submission")

    @property
    def version(self) -> str:
        return self._link.info.get("version", "unknown")

    @property
    def precision(self) -> str:
        return self._link.info.get("precision", "float64")

    def __getattr__(self, name: str) -> Any:
        link = self._link
        if name.startswith("_"):
            raise AttributeError(name)
        if name in CONTRACT_METHODS and link.import_failure is None and name not in link.info.get("methods", ()):
            raise AttributeError(f"the submission's backend has no method {name}()")
        return lambda *args, **kwargs: link.call_backend(name, args, kwargs)

    def __repr__(self) -> str:
        return f"<backend {self.name} {self.version} from {self._link.config.display}>"


# --------------------------------------------------------------------------- encoding, grader side
class GraderCodec(protocol.Codec):
    def __init__(self, link: "Link") -> None:
        self.link = link
        self.rngs: list = []
        self.callbacks: dict[int, Callable] = {}

    def encode_other(self, value: Any) -> Any:
        if isinstance(value, RemoteObject):
            return {"h": self.link.target(value)}
        if callable(value):
            ident = len(self.callbacks) + 1
            self.callbacks[ident] = value
            return {"cb": ident}
        return super().encode_other(value)

    def encode_rng(self, rng) -> Any:
        """By reference when the worker's copy is in the same state (the usual case: the
        spec draws again from the rng the last call left behind), else by full state."""
        state = rng.getstate()
        self.rngs.append((rng, state))
        return self.link.rngs.reference(rng, state)

    def decode_handle(self, data: dict) -> Any:
        return self.link.proxy(data["h"], data.get("c"))


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
        self.worker = WorkerProcess(self.config)
        self.reader = protocol.Reader(self.worker.from_worker)
        self.confined_walls = self.first_message("confined")
        message = self.first_message("ready")
        self.note_events(message)
        if "import_failed" in message:
            self.drop_worker()
            self.import_failure = SubmissionImportFailed(import_message(message["import_failed"]))
            raise self.import_failure
        if "ready" not in message:
            raise self.crash(SubmissionCrashed("the worker did not start properly"))
        self.info = checked_info(message["ready"])

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
            if "confined" not in message:
                raise self.crash(SubmissionCrashed("the worker did not start properly"))
            return checked_walls(message["confined"])
        return message

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

    def learn_classes(self, classes: dict) -> None:
        for cid, description in classes.items():
            base = RemoteSequence if description.get("seq") else RemoteObject
            name = str(description.get("name", "Remote"))[:80] or "Remote"
            self.classes[int(cid)] = type(name, (base,), {
                "__slots__": (), "_methods": frozenset(map(str, description.get("methods", ()))),
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
        return self.codec.decode(reply.get("r"))

    # ------------------------------------------------------------- the exchange
    def exchange(self, request: list) -> dict:
        self.ensure_ready()
        self.send(request)
        started = time.monotonic()
        try:
            while True:
                reply = self.receive(self.remaining(), during=self.during(request))
                if "cb" not in reply:
                    break
                self.answer_callback(reply)
        finally:
            self.test_used += time.monotonic() - started
        if request[0] != "get" or reply.get("np"):
            self.reads.clear()
        self.absorb(reply, request[2] if request[0] == "get" else "")
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
            raise self.timed_out(describe(request or ["a batch of operations"])) from None
        except protocol.PeerGone:
            raise self.died(describe(request or ["a batch of operations"])) from None

    def during(self, request: list) -> str:
        """What the worker was doing: the request, or an operation sent before it."""
        what = describe(request)
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
        if status == EXIT_MEMORY or (status == -signal.SIGKILL and peak_kb * 1024 > 0.9 * self.limits.memory_mb * 2**20):
            return self.strike(SubmissionMemoryExceeded(f"used more than {self.limits.memory_mb} MB during {during}"))
        if status == -signal.SIGXCPU:
            self.expired = True
            return self.fail(SubmissionTimedOut(f"timed out: used more than {self.limits.submission_seconds:g} s "
                                                f"of CPU during {during}"))
        if status is not None and status >= 0:
            return self.fail(SubmissionExited(f"exited with status {status} during {during}"))
        return self.fail(SubmissionCrashed(f"crashed ({describe_status(status)}) during {during}"))

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


# --------------------------------------------------------------------------- random generators
class RngMirror:
    """Which of the grader's random generators the worker holds a copy of, and in which
    state. A generator crosses by value (its 625-number state) the first time, then by
    key while the two copies agree; the worker sends back only how far it advanced
    unless the generator regenerated its block of numbers."""

    WINDOW = 200  # the worker keeps the last 256 keys

    def __init__(self) -> None:
        self.known: dict[int, tuple[weakref.ref, int, tuple]] = {}
        self.latest = 0

    def reference(self, rng: Any, state: tuple) -> dict:
        entry = self.known.get(id(rng))
        if entry is not None and entry[0]() is rng and self.latest - entry[1] < self.WINDOW and entry[2] == state:
            return {"k": entry[1]}
        self.latest += 1
        version, internal, gauss_next = state
        return {"k": self.latest, "s": [version, list(internal), gauss_next]}

    def update(self, rng: Any, before: tuple, after: dict) -> None:
        """Set `rng` to the state the worker's copy ended in."""
        version, internal, gauss_next = before
        if "s" in after:
            state = protocol.rng_state(after["s"])
        else:
            position, gauss_next = after.get("p"), after.get("g")
            if type(position) is not int or not (gauss_next is None or type(gauss_next) is float):
                raise protocol.ProtocolError("a random generator's position is an int")
            state = (version, internal[:-1] + (position,), gauss_next)
        rng.setstate(state)
        key = after.get("k")
        if type(key) is not int:
            raise protocol.ProtocolError("a random generator's key is an int")
        self.known[id(rng)] = (weakref.ref(rng), key, state)


# --------------------------------------------------------------------------- helpers
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


def printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


def describe(request: list) -> str:
    kind = request[0]
    if kind in ("call",):
        return f"backend.{request[2]}()" if request[1] == BACKEND_HANDLE else f".{request[2]}()"
    if kind == "get":
        return f"reading .{request[2]}"
    if kind == "callobj":
        return "a call"
    if kind == "flush":
        return "operations on the submission's objects"
    return {"float": "float()", "int": "int()", "index": "an index", "bool": "bool()", "len": "len()",
            "list": "iterating", "repr": "repr()", "str": "str()", "getitem": "indexing",
            "setitem": "item assignment", "contains": "'in'", "cmp": "a comparison"}.get(kind, str(kind))


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


# --------------------------------------------------------------------------- the probe
def probe_walls(separate_uid: bool = True, seconds: float = 30.0) -> list[dict]:
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
    return checked_walls(message.get("confined"))


# --------------------------------------------------------------------------- the entry point
_LINK: Link | None = None


def current_link() -> Link | None:
    return _LINK


def connect() -> RemoteBackend:
    """The backend for `--backend=microgpt_spec.grading.remote:connect`: reads the grading
    configuration named by $MICROGPT_SPEC_GRADE_CONFIG and starts the worker."""
    global _LINK
    path = os.environ.get(CONFIG_ENVIRONMENT)
    if not path:
        raise RuntimeError(f"{CONFIG_ENVIRONMENT} is not set: this backend is started by `microgpt-spec grade`")
    if _LINK is None:
        _LINK = Link(LinkConfig.from_file(path))
        try:
            _LINK.start()
        except SubmissionFailure:
            pass  # every test then reports the import failure
    return RemoteBackend(_LINK)

