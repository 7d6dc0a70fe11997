"""The worker: the one process in which a submission's code runs.

The grader starts it as `python -m microgpt_spec.grading.worker CONFIG_JSON`. It confines
itself (limits, unprivileged user, audit hook: see `sandbox`), imports the submission,
says "ready", then serves the grader's requests until the grader closes the pipe.

Requests come in batches: `{"a": [asynchronous requests], "s": one synchronous request or
null}`. Asynchronous requests (an operator on nodes, `node.log()`, `backend.value(x)`,
setting `node.grad`, releasing handles) get no reply: the grader named their result's
handle itself and carries on, which saves a round trip per operation. If one of them
fails, the error is kept and returned in place of the reply to the next synchronous
request, so it surfaces in the same test, a few operations later.

Objects that are not plain data stay here, in `objects`, under a handle id; the grader
holds a proxy per handle and releases it when the proxy is garbage.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import operator
import os
import random
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from microgpt_spec.grading import protocol, sandbox
from microgpt_spec.registry import CANDIDATE_ATTRIBUTES, BackendLoadError, entry_file
from microgpt_spec.spec.contract import Backend as ContractBackend

REFERENCE_MODULES = ("microgpt_spec.backends.pure", "microgpt_spec.backends.numpy", "microgpt_spec.backends.torch",
                     "microgpt_spec.spec.oracle", "microgpt_spec.spec.areas")
CONTRACT_METHODS = tuple(sorted(n for n in vars(ContractBackend) if not n.startswith("_")))
EXIT_MEMORY = 86  # the status a worker ends with when it cannot even report a MemoryError
PREFETCH_WINDOW = 512
MESSAGE_LIMIT = 2000
TRACE_FRAMES = 6

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
          "truediv": operator.truediv, "pow": operator.pow,
          "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}
UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs}
PLAIN_NUMBERS = (float, int, bool)
BACKEND_HANDLE = 0
_MISSING = object()


class FailedHandle(Exception):
    """A handle whose asynchronous operation failed: using it fails the same way."""

    def __init__(self, error: dict) -> None:
        super().__init__(error.get("message", ""))
        self.error = error


# --------------------------------------------------------------------------- loading
def load_submission(path: Path) -> Any:
    """Import the submission at `path` (a .py file or a folder) and make its backend."""
    module = _import_package(path) if (path / "__init__.py").is_file() else _import_file(_entry_file(path))
    for name in CANDIDATE_ATTRIBUTES:
        target = getattr(module, name, None)
        if target is None or isinstance(target, types.ModuleType):
            continue  # a package's submodule `backend` is not the backend object
        return target() if inspect.isclass(target) or inspect.isfunction(target) else target
    raise ImportError(f"{Path(module.__file__).name} defines none of {', '.join(CANDIDATE_ATTRIBUTES)}: "
                      "define a class `Backend` (subclass microgpt_spec.spec.contract.Backend)")


def _entry_file(path: Path) -> Path:
    if path.is_file():
        return path
    try:
        # The registry's rule, so grading picks the file `--backend=FOLDER` would pick.
        return entry_file(path, f"submission {path.name}")
    except BackendLoadError as error:
        raise ImportError(str(error)) from None


def _module_name(stem: str) -> str:
    taken = stem in sys.modules or stem in sys.stdlib_module_names
    return stem if stem.isidentifier() and not taken else "submission"


def _import_file(file: Path):
    sys.path.insert(0, str(file.parent))  # the file may import its neighbours, as a script would
    return _exec_module(importlib.util.spec_from_file_location(_module_name(file.stem), file))


def _import_package(folder: Path):
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(
        _module_name(folder.name), folder / "__init__.py", submodule_search_locations=[str(folder)])
    return _exec_module(spec)


def _exec_module(spec):
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- errors
def describe_error(error: BaseException, code_root: str, during: str = "") -> dict:
    """An exception as plain data: the nearest built-in type, its args, message and where
    in the submission it happened."""
    if isinstance(error, FailedHandle):
        return error.error
    builtin = next((c for c in type(error).__mro__ if c.__module__ == "builtins"), BaseException)
    kind = "exception"
    if isinstance(error, MemoryError):
        kind = "memory"
    elif isinstance(error, SystemExit):
        kind = "exit"
    elif not isinstance(error, Exception):
        kind = "base"
    args = list(error.args) if all(type(a) in (str, int, float, bool) or a is None for a in error.args) else None
    return {"type": builtin.__name__, "qualname": _qualname(type(error)), "args": args,
            "message": _safe_str(error)[:MESSAGE_LIMIT], "kind": kind,
            "trace": submission_trace(error, code_root), "during": during,
            "code": error.code if isinstance(error, SystemExit) and type(error.code) in (int, str) else None}


def _qualname(cls: type) -> str:
    module = getattr(cls, "__module__", "") or ""
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except BaseException:  # noqa: BLE001 - a broken __str__ is the submission's
        return f"<{type(error).__name__} whose message could not be shown>"


def submission_trace(error: BaseException, code_root: str) -> str:
    """The last frames of the traceback that are in the submission's own files."""
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith(code_root)]
    except BaseException:  # noqa: BLE001
        return ""
    lines = []
    for frame in frames[-TRACE_FRAMES:]:
        name = os.path.relpath(frame.filename, code_root)
        lines.append(f'  File "{name}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- values
class WorkerCodec(protocol.Codec):
    def __init__(self, worker: "Worker") -> None:
        self.worker = worker

    def encode_other(self, value: Any) -> Any:
        return self.worker.handle_of(value)

    def decode_handle(self, data: dict) -> Any:
        return self.worker.object_of(data["h"])

    def decode_rng(self, data: Any) -> Any:
        return self.worker.rng_for(data)

    def decode_callback(self, ident: Any):
        worker = self.worker

        def call_the_grader(*args, **kwargs):
            return worker.call_back(ident, args, kwargs)

        return call_the_grader


class Worker:
    """Serves one grader. `objects[0]` is the backend."""

    def __init__(self, backend: Any, rfd: int, wfd: int, policy: sandbox.AuditPolicy, code_root: str) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.reader = protocol.Reader(rfd)
        self.policy = policy
        self.code_root = code_root
        self.codec = WorkerCodec(self)
        self.objects: dict[int, Any] = {0: backend}
        self.id_by_object: dict[int, int] = {id(backend): 0}
        self.failed: dict[int, dict] = {}
        self.next_id = protocol.WORKER_IDS_START
        self.class_ids: dict[type, int] = {}
        self.class_methods: dict[type, frozenset] = {}
        self.new_classes: dict[str, dict] = {}
        self.new_async: list[int] = []
        self.call_rngs: list[tuple[int, Any, tuple]] = []
        self.rngs: dict[int, Any] = {}
        self.deferred: dict | None = None
        self.reference_code_ran = False
        self._read_kinds: dict[tuple[type, str], str | None] = {}
        self._profiling = False

    # -- handles
    def handle_of(self, value: Any) -> dict:
        hid = self.id_by_object.get(id(value))
        if hid is None or self.objects.get(hid) is not value:
            hid = self.next_id
            self.next_id += 1
            self.objects[hid] = value
            self.id_by_object[id(value)] = hid
        return {"h": hid, "c": self.class_id(type(value))}

    def object_of(self, hid: Any) -> Any:
        if hid in self.failed:
            raise FailedHandle(self.failed[hid])
        try:
            return self.objects[hid]
        except (KeyError, TypeError):
            raise protocol.ProtocolError(f"no object under handle {hid!r}") from None

    def store(self, hid: int, value: Any) -> None:
        self.objects[hid] = value
        self.id_by_object.setdefault(id(value), hid)
        self.new_async.append(hid)

    def release(self, hids: list) -> None:
        for hid in hids:
            self.failed.pop(hid, None)
            value = self.objects.pop(hid, _MISSING)
            if value is not _MISSING and self.id_by_object.get(id(value)) == hid:
                del self.id_by_object[id(value)]

    def class_id(self, cls: type) -> int:
        cid = self.class_ids.get(cls)
        if cid is None:
            cid = self.class_ids[cls] = len(self.class_ids) + 1
            description = describe_class(cls)
            self.class_methods[cls] = frozenset(description["methods"])
            self.new_classes[str(cid)] = description
        return cid

    def methods_of(self, cls: type) -> frozenset:
        if cls not in self.class_methods:
            self.class_id(cls)
        return self.class_methods[cls]

    # -- the loop
    def serve(self) -> None:
        while True:
            try:
                batch = self.reader.message()
            except protocol.PeerGone:
                return
            self.run_batch(batch)

    def run_batch(self, batch: dict) -> None:
        self.deferred = None
        self.reference_code_ran = False
        self._watch_reference_code()
        for request in batch.get("a") or ():
            self.run_async(request)
        if batch.get("s") is not None:
            self.reply(self.run_sync(batch["s"]))

    def reply(self, document: dict) -> None:
        document["cls"], self.new_classes = self.new_classes, {}
        if self.reference_code_ran or (self.policy.armed and not self._profiling):
            document["ref"] = True
        if self.policy.reference_events:
            document["refev"] = self.policy.reference_events
        if self.policy.refused:
            document["refused"] = self.policy.refused
        try:
            message = protocol.frame(document)
        except (TypeError, ValueError) as error:  # e.g. a string that cannot be UTF-8
            message = protocol.frame({"e": describe_error(error, self.code_root, "sending the reply")})
        protocol.write_all(self.wfd, message)

    # -- asynchronous requests: no reply; a failure is kept for the next reply
    def run_async(self, request: list) -> None:
        kind = request[0]
        if kind == "rel":
            self.release(request[1])
            return
        rid = request[1] if kind in ("op", "un", "acall") else None
        try:
            if kind == "op":
                value = BINARY[request[2]](self.operand(request[3]), self.operand(request[4]))
            elif kind == "un":
                value = UNARY[request[2]](self.operand(request[3]))
            elif kind == "acall":
                target = self.object_of(request[2])
                value = getattr(target, request[3])(*self.decode(request[4]))
            elif kind == "set":
                setattr(self.object_of(request[1]), request[2], self.decode(request[3]))
                return
            else:
                raise protocol.ProtocolError(f"unknown request {kind!r}")
        except protocol.ProtocolError:
            raise
        except BaseException as error:  # noqa: BLE001 - the submission's failure, kept for later
            info = describe_error(error, self.code_root, describe_request(request))
            if rid is not None:
                self.failed[rid] = info
            if self.deferred is None:
                self.deferred = info
            if info["kind"] == "memory":
                self.objects_after_memory_error()
            return
        if rid is not None:
            self.store(rid, value)

    def objects_after_memory_error(self) -> None:
        """Nothing to free here: the grader restarts the worker after a MemoryError."""

    # -- synchronous requests: one reply each
    def run_sync(self, request: list) -> dict:
        if self.deferred is not None:
            return self.with_async_classes({"e": self.deferred})
        self.call_rngs = []
        extras: dict[str, Any] = {}
        try:
            value = self.execute(request, extras)
            document = {"r": self.codec.encode(value)}
        except protocol.ProtocolError:
            raise
        except BaseException as error:  # noqa: BLE001
            document = {"e": describe_error(error, self.code_root, describe_request(request))}
        document.update(extras)
        if self.call_rngs:
            document["rng"] = [rng_progress(key, rng, before) for key, rng, before in self.call_rngs]
        return self.with_async_classes(document)

    def with_async_classes(self, document: dict) -> dict:
        if self.new_async:
            document["hc"] = [[hid, self.class_id(type(self.objects[hid]))]
                              for hid in self.new_async if hid in self.objects]
            self.new_async = []
        return document

    def decode(self, data: Any) -> Any:
        return self.codec.decode(data)

    def operand(self, data: Any) -> Any:
        """An operator's operand: a plain number or a handle, mostly (fast path)."""
        if type(data) is dict and "h" in data:
            return self.object_of(data["h"])
        return data if type(data) in (float, int) else self.codec.decode(data)

    def rng_for(self, data: dict) -> Any:
        """The worker's copy of one of the grader's random generators (see RngMirror)."""
        key = data["k"]
        if "s" in data:
            rng = random.Random()
            rng.setstate(protocol.rng_state(data["s"]))
            self.rngs[key] = rng
            for old in [k for k in self.rngs if k <= key - 256]:
                del self.rngs[old]
        rng = self.rngs[key]
        self.call_rngs.append((key, rng, rng.getstate()))
        return rng

    def execute(self, request: list, extras: dict) -> Any:
        kind = request[0]
        if kind == "get":
            return self.get_attribute(request[1], request[2], extras)
        if kind == "call":
            target = self.object_of(request[1])
            is_gpt = request[1] == BACKEND_HANDLE and request[2] == "gpt"
            return self.call(getattr(target, request[2]), request[3], request[4], extras, is_gpt)
        if kind == "callobj":
            return self.call(self.object_of(request[1]), request[2], request[3], extras)
        if kind == "flush":
            return None
        if kind == "cmp":
            return BINARY[request[1]](self.decode(request[2]), self.decode(request[3]))
        target = self.object_of(request[1])
        if kind == "float":
            return float(target)
        if kind == "int":
            return int(target)
        if kind == "index":
            return operator.index(target)
        if kind == "bool":
            return bool(target)
        if kind == "len":
            return len(target)
        if kind == "list":
            return list(target)
        if kind == "repr":
            return repr(target)[:MESSAGE_LIMIT]
        if kind == "str":
            return str(target)[:MESSAGE_LIMIT]
        if kind == "getitem":
            return target[self.decode(request[2])]
        if kind == "setitem":
            target[self.decode(request[2])] = self.decode(request[3])
            return None
        if kind == "contains":
            return self.decode(request[2]) in target
        raise protocol.ProtocolError(f"unknown request {kind!r}")

    def call(self, function: Any, args_data: list, kwargs_data: list, extras: dict, is_gpt: bool = False) -> Any:
        """Call with decoded arguments. Nothing the call does to its arguments goes back to
        the grader, except what `gpt` appends to its key/value cache (the contract's one
        documented change of an argument)."""
        args = [self.decode(a) for a in args_data]
        kwargs = {k: self.decode(v) for k, v in kwargs_data}
        sizes = cache_sizes(args, kwargs) if is_gpt else None
        result = function(*args, **kwargs)
        if sizes is not None:
            extras["kv"] = self.appended(sizes, args, kwargs)
        return result

    def appended(self, sizes: dict, args: list, kwargs: dict) -> dict:
        """What `gpt` appended to each layer's list of its `keys` and `values` arguments."""
        caches = bound_caches(args, kwargs)
        return {name: [self.codec.encode(layer[size:]) if isinstance(layer, list) else []
                       for layer, size in zip(caches[name], sizes[name])] for name in sizes}

    def call_back(self, ident: Any, args: tuple, kwargs: dict) -> Any:
        """Call a function of the grader's (train's on_step) and wait for its answer."""
        message = {"cb": ident, "args": [self.codec.encode(a) for a in args],
                   "kwargs": [[k, self.codec.encode(v)] for k, v in kwargs.items()]}
        protocol.write_all(self.wfd, protocol.frame(message))
        answer = self.reader.message()
        if "e" in answer:
            raise RuntimeError(f"the grader's callback failed: {answer['e']}")
        return self.decode(answer.get("r"))

    # -- attribute reads, and reading ahead
    def get_attribute(self, hid: int, name: str, extras: dict) -> Any:
        target = self.object_of(hid)
        if name in self.methods_of(type(target)) and name not in _instance_dict(target):
            extras["meth"] = True  # a plain method: the grader calls it by name, no bound object
            return None
        how = self.read_kind(type(target), name)
        value = _read(target, name, how) if how else _MISSING
        if value is _MISSING:
            extras["np"] = True  # not a plain read: the submission's code may have run
            return getattr(target, name)
        if type(value) in PLAIN_NUMBERS:
            extras["pf"] = self.read_ahead(hid, type(target), name, how)
        return value

    def read_ahead(self, hid: int, cls: type, name: str, how: str) -> list:
        """The same plain attribute of the next handles of the same class: the spec reads
        `float(n.data) for n in nodes` in creation order, so this saves a round trip each."""
        found = []
        for other in range(hid + 1, hid + 1 + PREFETCH_WINDOW):
            obj = self.objects.get(other)
            if obj is None or type(obj) is not cls or other in self.failed:
                continue
            value = _read(obj, name, how)
            if type(value) in PLAIN_NUMBERS:
                found.append([other, value])
        return found

    def read_kind(self, cls: type, name: str) -> str | None:
        key = (cls, name)
        if key not in self._read_kinds:
            self._read_kinds[key] = _classify_attribute(cls, name)
        return self._read_kinds[key]

    # -- watching for the reference backends' code
    def _watch_reference_code(self) -> None:
        if self.policy.armed and not self._profiling:
            self.policy.profiler_change_allowed = True
            try:
                sys.setprofile(self._profile)
            finally:
                self.policy.profiler_change_allowed = False
            self._profiling = True

    def _profile(self, frame, event, arg) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(self.policy.reference_dirs):
            self.reference_code_ran = True


GPT_CACHE_POSITIONS = {"keys": 4, "values": 5}  # gpt(params, config, token, pos, keys, values)


def bound_caches(args: list, kwargs: dict) -> dict:
    """gpt's `keys` and `values` arguments, however they were passed."""
    found = {}
    for name, position in GPT_CACHE_POSITIONS.items():
        value = args[position] if position < len(args) else kwargs.get(name)
        found[name] = value if type(value) is list else []
    return found


def cache_sizes(args: list, kwargs: dict) -> dict:
    """Before a call of the backend's `gpt`: the length of each layer's cache."""
    return {name: [len(layer) if type(layer) is list else 0 for layer in cache]
            for name, cache in bound_caches(args, kwargs).items()}


def rng_progress(key: int, rng: Any, before: tuple) -> dict:
    """How a generator moved during a call: its position in the same block of numbers,
    or (after it regenerated the block) its whole state."""
    try:
        after = rng.getstate()
    except BaseException:  # noqa: BLE001 - the submission broke its rng object
        return {"k": key, "s": [before[0], list(before[1]), before[2]]}
    if after[1][:-1] == before[1][:-1]:
        return {"k": key, "p": after[1][-1], "g": after[2]}
    return {"k": key, "s": [after[0], list(after[1]), after[2]]}


def _instance_dict(obj: Any) -> dict:
    try:
        return object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return {}


def _classify_attribute(cls: type, name: str) -> str | None:
    """How to read `name` without running the submission's code: from a slot, from the
    instance dict, or None when only a normal getattr (properties, __getattr__) will do."""
    if cls.__getattribute__ is not object.__getattribute__:
        return None
    attribute = inspect.getattr_static(cls, name, _MISSING)
    if type(attribute) is types.MemberDescriptorType:
        return "slot"
    kind = type(attribute)
    is_data_descriptor = attribute is not _MISSING and (hasattr(kind, "__set__") or hasattr(kind, "__delete__"))
    if not is_data_descriptor and getattr(cls, "__dictoffset__", 0):
        return "dict"
    return None


def _read(obj: Any, name: str, how: str) -> Any:
    if how == "slot":
        try:
            return inspect.getattr_static(type(obj), name).__get__(obj, type(obj))
        except AttributeError:
            return _MISSING
    return object.__getattribute__(obj, "__dict__").get(name, _MISSING)


def describe_class(cls: type) -> dict:
    """What the grader's proxy needs to know about a class: its methods (so that calling
    one costs no extra round trip) and whether it behaves as a sequence."""
    methods = []
    for name in dir(cls):
        if name.startswith("__"):
            continue
        attribute = inspect.getattr_static(cls, name, None)
        if isinstance(attribute, (types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
                                  staticmethod, classmethod)):
            methods.append(name)
    return {"name": cls.__qualname__, "methods": methods,
            "seq": hasattr(cls, "__getitem__") or hasattr(cls, "__iter__"),
            "call": callable(getattr(cls, "__call__", None)) and cls.__call__ is not type.__call__}


def describe_request(request: list) -> str:
    kind = request[0]
    if kind == "op":
        return f"an operator ({request[2]}) on the submission's objects"
    if kind == "un":
        return f"an operator ({request[2]}) on a submission's object"
    if kind == "acall":
        return f"{request[3]}()"
    if kind == "set":
        return f"setting .{request[2]}"
    if kind == "call":
        return f"{request[2]}()"
    if kind == "get":
        return f"reading .{request[2]}"
    return kind


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
PRELOADED = ("microgpt_spec.spec.contract", "microgpt_spec.backends.scalar", "microgpt_spec.registry")


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
        required=tuple(config.get("required", ())))


def main() -> None:
    config = json.loads(sys.argv[1])
    rfd, wfd = config["rfd"], config["wfd"]
    workdir = Path(config["workdir"])
    preload()
    try:
        walls = [w.as_dict() for w in sandbox.confine(plan_from(config))]
    except sandbox.SandboxFailure as failure:
        protocol.write_all(wfd, protocol.frame({"sandbox_failed": str(failure)}))
        return
    protocol.write_all(wfd, protocol.frame({"confined": walls}))
    if config.get("probe"):
        return
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
        os._exit(EXIT_MEMORY)
