"""The wire between the grader and the worker that runs a submission, declared once.

Both sides import this module: the kinds of request the grader may send (`REQUESTS`), the
fields a reply may carry (`REPLY_FIELDS`), the worker's start-up messages (`STARTUP`), how
an error is described (`ERROR_FIELDS`), how values are tagged (`TAGS`), and the framing.
`docs/protocol.md` explains them for someone writing a worker in another language; a test
keeps it in step with the declarations here. `VERSION` changes whenever a message changes.

Messages are length-prefixed JSON: a 4-byte little-endian length, then UTF-8 JSON. JSON,
not pickle, because the grader reads what an untrusted process wrote: unpickling can run
arbitrary code, parsing JSON cannot. The grader refuses messages over `MAX_MESSAGE_BYTES`.

Floats keep every bit (Python's JSON writes the shortest repr, which reads back exactly;
NaN and Infinity too). NumPy arrays and scalars become lists and Python numbers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import select
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Schedule, TrainResult

VERSION = 3

HEADER = struct.Struct("<I")
#: The largest message the grader accepts from a worker. A whole TrainResult is ~0.3 MB;
#: the cap keeps the grader's memory bounded whatever a submission sends (parsed, 4 MB of
#: the most wasteful JSON takes a few hundred MB).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DATACLASSES: dict[str, type] = {"Config": Config, "AdamHyper": AdamHyper, "Schedule": Schedule, "Moments": Moments,
                                "TrainResult": TrainResult}
#: Ids the worker gives to objects it returns start here; the grader's own start at 1.
WORKER_IDS_START = 1 << 40


#: The backend object itself is always handle 0.
BACKEND_HANDLE = 0
#: The exit status of a worker that ran out of memory too far to even report a MemoryError.
EXIT_MEMORY = 86
#: `gpt(params, config, token, pos, keys, values)`: the positions of the key/value cache, the
#: only arguments whose change (an append) goes back to the grader.
GPT_CACHE_POSITIONS = {"keys": 4, "values": 5}


# --------------------------------------------------------------------------- the declarations
@dataclass(frozen=True)
class Request:
    """One kind of request: `[kind, *fields]`. Asynchronous requests get no reply."""

    kind: str
    fields: tuple[str, ...]
    asynchronous: bool
    meaning: str
    shown: str  # how a failure message names it ("during float()")


def _requests(*requests: Request) -> dict[str, Request]:
    return {r.kind: r for r in requests}


#: What the grader asks, in batches `{"a": [asynchronous requests], "s": request or null}`.
REQUESTS = _requests(
    Request("op", ("result", "operator", "left", "right"), True,
            "left OPERATOR right (add sub mul truediv pow); the result is stored under the handle `result`",
            "an operator on the submission's objects"),
    Request("un", ("result", "operator", "operand"), True,
            "OPERATOR operand (neg pos abs); the result is stored under `result`", "an operator"),
    Request("acall", ("result", "target", "method", "args"), True,
            "target.method(*args), whose result is a new object stored under `result` "
            "(node.log/exp/relu, backend.value)", "a method call"),
    Request("set", ("target", "name", "value"), True, "target.name = value", "setting an attribute"),
    Request("rel", ("handles",), True, "the grader holds these handles no more: forget them", "releasing objects"),
    Request("get", ("target", "name"), False, "the value of target.name", "reading an attribute"),
    Request("call", ("target", "method", "args", "kwargs"), False,
            "target.method(*args, **kwargs); kwargs is a list of [name, value]", "a call"),
    Request("callobj", ("target", "args", "kwargs"), False, "target(*args, **kwargs)", "a call"),
    Request("flush", (), False, "nothing: the reply carries any error of the asynchronous requests",
            "operations on the submission's objects"),
    Request("cmp", ("operator", "left", "right"), False, "left OPERATOR right (lt le gt ge)", "a comparison"),
    Request("float", ("target",), False, "float(target)", "float()"),
    Request("int", ("target",), False, "int(target)", "int()"),
    Request("index", ("target",), False, "operator.index(target)", "an index"),
    Request("bool", ("target",), False, "bool(target)", "bool()"),
    Request("len", ("target",), False, "len(target)", "len()"),
    Request("list", ("target",), False, "list(target)", "iterating"),
    Request("repr", ("target",), False, "repr(target), cut to 2,000 characters", "repr()"),
    Request("str", ("target",), False, "str(target), cut to 2,000 characters", "str()"),
    Request("getitem", ("target", "key"), False, "target[key]", "indexing"),
    Request("setitem", ("target", "key", "value"), False, "target[key] = value", "item assignment"),
    Request("contains", ("target", "item"), False, "item in target", "'in'"),
)

#: What a reply to a synchronous request may hold (a JSON object).
REPLY_FIELDS = {
    "r": "the result (a value)",
    "e": "instead of r: the error (an object with ERROR_FIELDS)",
    "cls": "descriptions of classes the grader has not seen: {id: {name, methods, seq, call}}",
    "hc": "the class id of each object an asynchronous request made: [[handle, class id], ...]",
    "pf": "read ahead: the same attribute of the next objects of the same class: [[handle, value], ...]",
    "meth": "get: the attribute is a plain method (the grader then calls it by name)",
    "np": "get: the read ran the submission's code (a property): values read ahead are stale",
    "kv": "call of gpt: what it appended to each layer of keys and values: {keys: [...], values: [...]}",
    "rng": "the random generators the call used, as they ended: [{k, p, g} or {k, s}, ...]",
    "ref": "the call ran code of the reference backends (only possible in the weaker sandbox)",
    "refev": "how the submission reached for the reference backends: [text, ...]",
    "refused": "actions the sandbox refused: [text, ...]",
}

#: Sent by the worker instead of a reply, while a call is under way; the grader answers
#: {"r": value} or {"e": text} and the worker carries on.
CALLBACK_FIELDS = {
    "cb": "the id of a callable of the grader's that was passed as an argument (train's on_step)",
    "args": "its arguments",
    "kwargs": "its keyword arguments: [[name, value], ...]",
}

#: Sent by a backend that is a program (microgpt_spec.programs) instead of a reply, while a
#: call is under way: `{"draw": {...}}` with these fields, for numbers of one of the grader's
#: random generators. The grader answers {"r": [numbers]}, drawn from the spec's own generator.
DRAW_FIELDS = {
    "k": "the generator: the key it arrived under ({rng: {k: key}})",
    "dist": "random (rng.random()) or gauss (rng.gauss(mu, sigma))",
    "n": "how many numbers (at most 2^20)",
    "mu": "gauss: the mean",
    "sigma": "gauss: the standard deviation",
}

#: The worker's first messages, in this order.
STARTUP = {
    "confined": "the sandbox's walls, raised before the submission was read: [{name, active, detail}, ...]; "
                "with `version` (this module's VERSION) and `seconds` (how long raising them took)",
    "sandbox_failed": "instead of confined: a wall the grader requires could not be raised (text); the worker ends",
    "ready": "the submission is imported: {name, version, precision, methods} of its backend; a program "
             "adds `protocol`, the VERSION it speaks",
    "import_failed": "instead of ready: importing the submission failed (an error); the worker ends",
}

#: How an error is described ("e" of a reply, import_failed).
ERROR_FIELDS = {
    "type": "the nearest built-in exception type (ValueError, NotImplementedError, ...)",
    "qualname": "the submission's own exception class",
    "args": "its arguments when they are plain (str, int, float, bool, None), else null",
    "message": "str(exception), cut to 2,000 characters",
    "kind": "exception, memory (MemoryError), exit (SystemExit) or base (another BaseException)",
    "trace": "the last frames of the traceback in the submission's own files",
    "during": "what the worker was doing",
    "code": "SystemExit's code",
}

#: Values are JSON, with these objects as tags (a JSON object is always a tag, never user data).
TAGS = {
    "t": "a tuple: {t: [items]}",
    "d": "a dict: {d: [[key, value], ...]}",
    "h": "a handle, an object that stays in the worker: {h: id} (the worker adds c: its class id)",
    "dc": "one of the contract's dataclasses: {dc: Config|AdamHyper|Schedule|Moments|TrainResult, f: {field: value}}",
    "rng": "a random.Random: {rng: {k: key, s: state}} the first time, {rng: {k: key}} while in step",
    "cb": "a callable of the grader's: {cb: id}",
    "range": "a range: {range: [start, stop, step]}",
}


def describe(request: list | None) -> str:
    """How a failure message names a request: "backend.gpt()", "reading .grad", "float()"."""
    if not request:
        return "a batch of operations"
    kind = request[0]
    if kind == "call" and len(request) > 2:
        return f"backend.{request[2]}()" if request[1] == BACKEND_HANDLE else f".{request[2]}()"
    if kind == "acall" and len(request) > 3:
        return f"{request[3]}()"
    if kind in ("get", "set") and len(request) > 2:
        return f"{'reading' if kind == 'get' else 'setting'} .{request[2]}"
    if kind in ("op", "un") and len(request) > 2:
        return f"an operator ({request[2]}) on the submission's objects"
    declared = REQUESTS.get(kind) if isinstance(kind, str) else None
    return declared.shown if declared else str(kind)[:40]


class ProtocolError(Exception):
    """The other side sent something that is not a message of this protocol."""


class PeerGone(Exception):
    """The other side closed its end (it exited or crashed)."""


class WaitTimedOut(Exception):
    """No message came before the deadline."""


# --------------------------------------------------------------------------- framing
def frame(document: Any) -> bytes:
    payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(len(payload)) + payload


class Reader:
    """Reads messages from one pipe, a large chunk at a time (one system call for most
    messages instead of two or three), keeping what belongs to the next message."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def message(self, deadline: float | None = None, limit: int = MAX_MESSAGE_BYTES) -> Any:
        """The next message, waiting at most until `deadline` (time.monotonic())."""
        self._fill(HEADER.size, deadline)
        (size,) = HEADER.unpack_from(self.buffer)
        if size > limit:
            raise ProtocolError(f"a message of {size} bytes, over the limit of {limit}")
        self._fill(HEADER.size + size, deadline)
        payload = bytes(self.buffer[HEADER.size: HEADER.size + size])
        del self.buffer[: HEADER.size + size]
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"a message that is not JSON ({error})") from None

    def _fill(self, count: int, deadline: float | None) -> None:
        while len(self.buffer) < count:
            if deadline is not None:
                _wait_readable(self.fd, deadline)
            chunk = os.read(self.fd, max(1 << 16, count - len(self.buffer)))
            if not chunk:
                raise PeerGone("the other end closed the pipe")
            self.buffer += chunk


def _wait_readable(fd: int, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise WaitTimedOut()
    readable, _, _ = select.select([fd], [], [], remaining)
    if not readable:
        raise WaitTimedOut()


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write everything; with a deadline the fd must be non-blocking (a stuck reader
    must not block the grader forever). Tries the write first: a pipe with room (the
    usual case) costs one system call."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            _wait_writable(fd, deadline)
            continue
        except BrokenPipeError:
            raise PeerGone("the other end closed the pipe") from None
        view = view[written:]


def _wait_writable(fd: int, deadline: float | None) -> None:
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        raise WaitTimedOut()
    _, writable, _ = select.select([], [fd], [], remaining)
    if not writable:
        raise WaitTimedOut()


# --------------------------------------------------------------------------- values
class Codec:
    """Plain values <-> JSON-ready structures. Each side subclasses it for what it does
    with handles, random generators and callbacks."""

    def encode(self, value: Any) -> Any:
        kind = type(value)
        if kind is float or kind is int or kind is str or kind is bool or value is None:
            return value
        if kind is list:
            return [self.encode(item) for item in value]
        if kind is tuple:
            return {"t": [self.encode(item) for item in value]}
        if kind is dict:
            return {"d": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if kind is range:
            return {"range": [value.start, value.stop, value.step]}
        if isinstance(value, random.Random):
            return {"rng": self.encode_rng(value)}
        name = kind.__name__
        if dataclasses.is_dataclass(value) and DATACLASSES.get(name) is kind:
            return {"dc": name, "f": {f.name: self.encode(getattr(value, f.name))
                                      for f in dataclasses.fields(value)}}
        numpy_value = _from_numpy(value)
        if numpy_value is not _NOT_NUMPY:
            return self.encode(numpy_value)
        return self.encode_other(value)

    def encode_rng(self, rng: random.Random) -> Any:
        return self.encode(rng.getstate())

    def encode_other(self, value: Any) -> Any:
        raise TypeError(f"cannot send a {type(value).__name__} between the grader and the worker")

    def decode(self, data: Any) -> Any:
        kind = type(data)
        if kind is list:
            return [self.decode(item) for item in data]
        if kind is not dict:
            return data  # int, float, str, bool, None
        if "t" in data:
            return tuple(self.decode(item) for item in data["t"])
        if "d" in data:
            return {_hashable(self.decode(k)): self.decode(v) for k, v in data["d"]}
        if "h" in data:
            return self.decode_handle(data)
        if "dc" in data:
            return self.decode_dataclass(data)
        if "rng" in data:
            return self.decode_rng(data["rng"])
        if "cb" in data:
            return self.decode_callback(data["cb"])
        if "range" in data:
            start, stop, step = (int(x) for x in data["range"])
            return range(start, stop, step)
        raise ProtocolError(f"unknown tag in {str(data)[:80]}")

    def decode_dataclass(self, data: dict) -> Any:
        cls = DATACLASSES.get(data.get("dc"))
        if cls is None or not isinstance(data.get("f"), dict):
            raise ProtocolError(f"unknown dataclass {str(data.get('dc'))[:40]!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: self.decode(v) for k, v in data["f"].items() if k in fields}
        return cls(**values)

    def decode_rng(self, state: Any) -> Any:
        rng = random.Random()
        rng.setstate(rng_state(self.decode(state)))
        return rng

    def decode_handle(self, data: dict) -> Any:
        raise ProtocolError("handles are not expected here")

    def decode_callback(self, ident: Any) -> Callable:
        raise ProtocolError("callbacks are not expected here")


def rng_state(state: Any) -> tuple:
    """A random.Random state as `setstate` wants it (tuples all the way), checked."""
    if not (isinstance(state, (tuple, list)) and len(state) == 3):
        raise ProtocolError("a random generator state must have 3 parts")
    version, internal, gauss_next = state
    if not (isinstance(internal, (tuple, list)) and all(type(x) is int for x in internal)):
        raise ProtocolError("a random generator state holds ints")
    if gauss_next is not None and type(gauss_next) is not float:
        raise ProtocolError("a random generator's gauss_next is a float or None")
    return (int(version), tuple(internal), gauss_next)


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key


_NOT_NUMPY = object()


def _from_numpy(value: Any) -> Any:
    """A NumPy array or scalar as plain Python (lists, floats, ints), else _NOT_NUMPY."""
    module = type(value).__module__
    if not module.startswith("numpy"):
        return _NOT_NUMPY
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        return _NOT_NUMPY
    # Numbers become Python numbers; an object array becomes lists of the backend's own
    # objects, which the caller then encodes one by one.
    return tolist()
