"""The grader's stand-ins for the submission's objects.

To the spec, a `RemoteBackend` looks like any backend: contract methods take and return
plain data; nodes, tokenizers and optimizers are `RemoteObject` proxies whose operators,
attributes and methods are forwarded to the worker through the `Link`. `RngMirror` keeps
the worker's copies of the grader's random generators in step.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Callable

from microgpt_spec.grading import protocol
from microgpt_spec.spec.contract import CONTRACT_METHODS

if TYPE_CHECKING:
    from microgpt_spec.grading.link import Link


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

    @property
    def origin(self) -> str:
        """What the report's header names as the backend's source: the submission."""
        return self._link.config.display

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
        if self.link.draws_on_host:
            return {"k": len(self.rngs) - 1}  # the program asks the host for draws under this key
        return self.link.rngs.reference(rng, state)

    def decode_handle(self, data: dict) -> Any:
        return self.link.proxy(data["h"], data.get("c"))


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
