"""Find a backend from what a user types after `--backend`.

Accepted forms, tried in this order:

* a path to a `.py` file, or to a folder holding one (``--backend=mine.py``), optionally
  with an attribute (``--backend=mine.py:Backend``);
* ``package.module:attribute`` (``--backend=my_pkg.impl:Backend``);
* a name registered in the ``microgpt_spec.backends`` entry point group (``pure``, ``numpy``);
  it wins over a folder of the same name in the current directory (write ``./pure`` for that);
* an importable module name (``--backend=my_pkg.impl``).

Inside a module, the backend is the attribute named after the colon or, without one, the
first of ``backend``, ``Backend``, ``make_backend`` that exists. A class or a function is
called with no arguments to make the backend object.

A file (or a folder's file) that defines none of those names but has a microgpt script's
shape (a top-level ``class Value``, ``def gpt``, ``uchars = ...`` ...) is not imported at all: it is checked as
it is, through `microgpt_spec.script_backend`, which runs only its definitions.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from microgpt_spec.script_backend import ScriptLoadError, load_script_backend, looks_like_a_script
from microgpt_spec.spec.contract import CONTRACT_VERSION

ENTRY_POINT_GROUP = "microgpt_spec.backends"
CANDIDATE_ATTRIBUTES = ("backend", "Backend", "make_backend")
#: In a folder with several .py files, these names are taken as the backend, in this order.
PREFERRED_FILES = ("backend.py", "microgpt.py", "submission.py", "__init__.py")


class BackendLoadError(Exception):
    """The backend could not be found or made; the message says why and what to try."""


@dataclass(frozen=True)
class LoadedBackend:
    """A backend object and where it came from (for the report header)."""

    backend: Any
    spec: str
    origin: str

    @property
    def name(self) -> str:
        return str(getattr(self.backend, "name", type(self.backend).__name__))

    @property
    def version(self) -> str:
        return str(getattr(self.backend, "version", "unknown"))

    @property
    def precision(self) -> str:
        return str(getattr(self.backend, "precision", "float64"))

    def describe(self) -> str:
        return (
            f"backend {self.name} {self.version} ({self.precision}) from {self.origin}; "
            f"contract {CONTRACT_VERSION}"
        )


def registered_backends() -> dict[str, str]:
    """Names registered through the entry point group, mapped to their targets."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def find_backend(spec: str) -> LoadedBackend:
    """Load the backend `spec` names; raise BackendLoadError with advice if it can't."""
    spec = spec.strip()
    if not spec:
        raise BackendLoadError(no_backend_message())
    path_part, colon, path_attribute = spec.rpartition(":")
    if colon and path_part.endswith(".py"):  # path/to/file.py:Attribute
        return _from_module(_import_file(_backend_file(Path(path_part))), path_attribute, spec)
    if _looks_like_path(spec):
        return _from_file(_backend_file(Path(spec)), spec)
    module_name, _, attribute = spec.partition(":")
    registered = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if not attribute and spec in registered:
        target = _load_entry_point(registered[spec])
        return LoadedBackend(_instantiate(target, spec), spec, _origin_of(target))
    if not attribute and Path(spec).is_dir():  # a bare folder name, after the registered names
        return _from_file(_backend_file(Path(spec)), spec)
    module = _import_module(module_name, spec)
    return _from_module(module, attribute or None, spec)


def no_backend_message() -> str:
    names = ", ".join(sorted(registered_backends())) or "none registered"
    return (
        "Choose the implementation with --backend, one of:\n"
        f"  --backend=pure                   a registered name ({names})\n"
        "  --backend=path/to/mine.py        a file defining Backend (or a folder holding one)\n"
        "  --backend=my_pkg.impl:Backend    a module and attribute"
    )


def _looks_like_path(spec: str) -> bool:
    """Unmistakably a path: a registered name never has a slash or ends in .py."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _backend_file(path: Path) -> Path:
    if not path.exists():
        raise BackendLoadError(f"--backend={path}: no such file or folder")
    if path.is_file():
        if path.suffix != ".py":
            raise BackendLoadError(f"--backend={path}: a backend file must be a .py file")
        return path
    return entry_file(path, f"--backend={path}")


def entry_file(folder: Path, label: str, preferred: tuple[str, ...] = PREFERRED_FILES) -> Path:
    """The .py file of `folder` that holds the backend: the first of `preferred` there, else
    the only .py file (tests and conftest files aside). `label` starts the error messages."""
    for name in preferred:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.glob("*.py") if not p.name.startswith(("test_", "conftest")))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BackendLoadError(f"{label}: the folder holds no .py file")
    listed = ", ".join(p.name for p in candidates)
    raise BackendLoadError(
        f"{label}: the folder holds several .py files ({listed}); "
        f"name one of them, or call it backend.py"
    )


def _from_file(path: Path, spec: str) -> LoadedBackend:
    """The backend a file defines or, for a microgpt script, the script itself, never imported
    (importing it would train, download and print)."""
    if looks_like_a_script(path):
        try:
            backend = load_script_backend(path)
        except (ScriptLoadError, SyntaxError) as error:
            raise BackendLoadError(f"--backend={spec}: {error}") from error
        return LoadedBackend(backend, spec, str(path.resolve()))
    return _from_module(_import_file(path), None, spec)


def _import_file(path: Path):
    path = path.resolve()
    module_name = f"microgpt_spec_user_{abs(hash(str(path))):x}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BackendLoadError(f"--backend={path}: Python cannot load this file")
    module = importlib.util.module_from_spec(spec)
    # The file may import its neighbours (helpers of its own), as a script would.
    sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: BLE001 - report whatever the user's code raised
        sys.modules.pop(module_name, None)
        raise BackendLoadError(f"--backend={path}: importing it raised {_describe(error)}") from error
    return module


def _import_module(module_name: str, spec: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise BackendLoadError(
                f"--backend={spec}: no registered backend, module or file of that name.\n\n"
                + no_backend_message()
            ) from None
        raise BackendLoadError(f"--backend={spec}: importing it raised {_describe(error)}") from error
    except BaseException as error:  # noqa: BLE001
        raise BackendLoadError(f"--backend={spec}: importing it raised {_describe(error)}") from error


def _load_entry_point(ep):
    try:
        return ep.load()
    except BaseException as error:  # noqa: BLE001
        raise BackendLoadError(
            f"--backend={ep.name}: the registered backend {ep.value} failed to load: {_describe(error)}"
        ) from error


def _from_module(module, attribute: str | None, spec: str) -> LoadedBackend:
    if attribute is not None:
        if not hasattr(module, attribute):
            raise BackendLoadError(f"--backend={spec}: module {module.__name__} has no attribute {attribute!r}")
        target = getattr(module, attribute)
    else:
        found = [name for name in CANDIDATE_ATTRIBUTES if hasattr(module, name)]
        if not found:
            wanted = ", ".join(CANDIDATE_ATTRIBUTES)
            raise BackendLoadError(
                f"--backend={spec}: {getattr(module, '__file__', module.__name__)} defines none of {wanted}.\n"
                "Define a class `Backend` (subclass microgpt_spec.spec.contract.Backend) in it, or give it a "
                "microgpt script's shape (a top-level `class Value` and `def gpt(token_id, pos_id, keys, values)`, "
                "see docs/checking-a-script.md)."
            )
        target = getattr(module, found[0])
    backend = _instantiate(target, spec)
    return LoadedBackend(backend, spec, _origin_of(target, module, backend))


def _instantiate(target, spec: str):
    if not (inspect.isclass(target) or inspect.isfunction(target)):
        return target
    try:
        return target()
    except BaseException as error:  # noqa: BLE001
        raise BackendLoadError(f"--backend={spec}: calling {target.__qualname__}() raised {_describe(error)}") from error


def _origin_of(target, module=None, backend=None) -> str:
    """Where the backend comes from, for the report's header: its own `origin` when it says
    (a stand-in, such as the grader's proxy of a submission, names what it stands for), else
    the file that defines it."""
    own = getattr(backend, "origin", None)
    if isinstance(own, str) and own:
        return own
    try:
        return inspect.getfile(target if (inspect.isclass(target) or inspect.isfunction(target)) else type(target))
    except (TypeError, OSError):
        return getattr(module, "__file__", None) or "<unknown>"


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}) (the code called sys.exit)"
    return f"{type(error).__name__}: {error}"
