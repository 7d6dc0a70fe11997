"""The wire between the grader and the worker that runs a submission.

Messages are length-prefixed JSON: a 4-byte little-endian length, then UTF-8 JSON. JSON,
not pickle, because the grader reads what an untrusted process wrote: unpickling can run
arbitrary code, parsing JSON cannot. The grader also refuses messages over a size limit.

Values cross as JSON with a few tags (a JSON object is always a tag, never user data):

    {"t": [...]}            a tuple
    {"d": [[k, v], ...]}    a dict (any keys the codec can carry)
    {"h": id}               a handle: an object that stays in the worker (a node, a tokenizer)
    {"dc": name, "f": {}}   one of the contract's dataclasses (Config, AdamHyper, TrainResult)
    {"rng": state}          a random.Random, by state (its final state is sent back)
    {"cb": id}              a callable of the grader's (train's on_step), called back over the wire
    {"range": [a, b, c]}    a range

Plain numbers, strings, None, booleans and lists are themselves. Floats keep every bit
(Python's JSON writes the shortest repr, which reads back exactly; NaN and Infinity too).
NumPy arrays and scalars become lists and Python numbers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import select
import struct
import time
from typing import Any, Callable

from microgpt_spec.spec.contract import AdamHyper, Config, TrainResult

HEADER = struct.Struct("<I")
#: The largest message the grader accepts from a worker. A whole TrainResult is ~0.3 MB;
#: the cap keeps the grader's memory bounded whatever a submission sends (parsed, 4 MB of
#: the most wasteful JSON takes a few hundred MB).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DATACLASSES: dict[str, type] = {"Config": Config, "AdamHyper": AdamHyper, "TrainResult": TrainResult}
#: Ids the worker gives to objects it returns start here; the grader's own start at 1.
WORKER_IDS_START = 1 << 40


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
