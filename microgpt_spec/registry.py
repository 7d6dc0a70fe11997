"""Find a backend from what a user types after `--backend`.

Accepted forms, tried in this order:

* ``exec:COMMAND``: a program in any language that speaks the protocol on its standard
  input and output (``--backend='exec:node mine.js'``, see `microgpt_spec.programs`);
* a path to a `.py` file, or to a folder (``--backend=mine.py``), optionally with an
  attribute (``--backend=mine.py:Backend``); a folder is loaded by `load_path`'s rule, the
  same the grader follows: a program manifest, a package, or its entry file;
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

import hashlib
import importlib
import importlib.util
import inspect
import sys
import types
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from microgpt_spec import programs
from microgpt_spec.programs import MANIFEST_NAME, ProgramError
from microgpt_spec.script_backend import ScriptLoadError, load_script_backend, looks_like_a_script
from microgpt_spec.spec.contract import CONTRACT_VERSION

ENTRY_POINT_GROUP = "microgpt_spec.backends"
CANDIDATE_ATTRIBUTES = ("backend", "Backend", "make_backend")
#: In a folder with several .py files, these names are taken as the backend, in this order
#: (a folder with __init__.py is a package and is imported as one).
PREFERRED_FILES = ("backend.py", "microgpt.py", "submission.py")
#: `--backend=exec:COMMAND`: a program run as it is, speaking the protocol on stdin/stdout.
EXEC_PREFIX = "exec:"


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
    if spec.startswith(EXEC_PREFIX):
        return _from_program_command(spec)
    path_part, colon, path_attribute = spec.rpartition(":")
    if colon and path_part.endswith(".py"):  # path/to/file.py:Attribute
        path = _existing(Path(path_part), spec)
        return _from_module(_user_code(spec, _import_file, path), path_attribute, spec)
    if _looks_like_path(spec):
        return _from_path(_existing(Path(spec), spec), spec)
    module_name, _, attribute = spec.partition(":")
    registered = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if not attribute and spec in registered:
        target = _load_entry_point(registered[spec])
        backend = _make(target, spec)
        return LoadedBackend(backend, spec, _origin_of(target, None, backend))
    if not attribute and Path(spec).is_dir():  # a bare folder name, after the registered names
        return _from_path(Path(spec), spec)
    module = _import_module(module_name, spec)
    return _from_module(module, attribute or None, spec)


def no_backend_message() -> str:
    names = ", ".join(sorted(registered_backends())) or "none registered"
    return (
        "Choose the implementation with --backend, one of:\n"
        f"  --backend=pure                   a registered name ({names})\n"
        "  --backend=path/to/mine.py        a file defining Backend, or a folder (a package, or a program\n"
        f"                                   with its {MANIFEST_NAME}: docs/adding-a-backend.md)\n"
        "  --backend=my_pkg.impl:Backend    a module and attribute\n"
        "  --backend='exec:node mine.js'    a program speaking the protocol on stdin/stdout"
    )


# --------------------------------------------------------------------- the one loader of paths
def load_path(path: Path, label: str) -> Any:
    """The backend at `path`, a file or a folder, by the one rule that `--backend=PATH`, the
    training commands and the grader all follow:

    * a folder with a program manifest (`microgpt-backend.toml`) is a program backend;
    * a folder with `__init__.py` is imported as a package (its modules may import each
      other relatively), and its `backend`/`Backend`/`make_backend` is the backend;
    * else the folder's entry file (`PREFERRED_FILES`, or its only .py file);
    * a file with a microgpt script's shape is checked as a script, never imported.

    Errors of the user's own code propagate as they were raised (the grader reports their
    traceback); a path that holds no backend raises BackendLoadError.
    """
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return _program_from_manifest(path / MANIFEST_NAME)
    if path.is_file() and path.name == MANIFEST_NAME:
        return _program_from_manifest(path)
    if path.is_dir() and (path / "__init__.py").is_file():
        return backend_of_module(_import_package(path), None, label)
    entry = path if path.is_file() else entry_file(path, label)
    if entry.suffix.lower() != ".py":
        raise BackendLoadError(f"{label}: a backend file must be a .py file (or a program's {MANIFEST_NAME})")
    if looks_like_a_script(entry):
        return load_script_backend(entry)
    return backend_of_module(_import_file(entry), None, label)


def names_a_backend(folder: Path) -> bool:
    """Whether `folder` is itself one backend by its names alone: a program manifest, a
    package, or one of PREFERRED_FILES (the grader tells a submission from a folder of them)."""
    return any((folder / name).is_file() for name in (MANIFEST_NAME, "__init__.py", *PREFERRED_FILES))


def backend_of_module(module, attribute: str | None, label: str) -> Any:
    """The backend object a module defines: the attribute named, or the first of
    CANDIDATE_ATTRIBUTES (a package's submodule of that name is not the backend)."""
    return _instantiate(_target_in(module, attribute, label), label)


def _target_in(module, attribute: str | None, label: str) -> Any:
    if attribute is not None:
        if not hasattr(module, attribute):
            raise BackendLoadError(f"{label}: module {module.__name__} has no attribute {attribute!r}")
        return getattr(module, attribute)
    for name in CANDIDATE_ATTRIBUTES:
        target = getattr(module, name, None)
        if target is not None and not isinstance(target, types.ModuleType):
            return target
    wanted = ", ".join(CANDIDATE_ATTRIBUTES)
    raise BackendLoadError(
        f"{label}: {getattr(module, '__file__', module.__name__)} defines none of {wanted}.\n"
        "Define a class `Backend` (subclass microgpt_spec.spec.contract.Backend) in it, or give it a "
        "microgpt script's shape (a top-level `class Value` and `def gpt(token_id, pos_id, keys, values)`, "
        "see docs/checking-a-script.md)."
    )


def _program_from_manifest(manifest: Path) -> Any:
    return programs.program_backend(programs.read_manifest(manifest))


def _from_program_command(spec: str) -> LoadedBackend:
    command = programs.command_manifest
    backend = _user_code(spec, lambda: programs.program_backend(command(spec[len(EXEC_PREFIX):])))
    return LoadedBackend(backend, spec, backend.origin)


def _looks_like_path(spec: str) -> bool:
    """Unmistakably a path: a registered name never has a slash or ends in .py."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _existing(path: Path, spec: str) -> Path:
    if not path.exists():
        raise BackendLoadError(f"--backend={path}: no such file or folder")
    return path


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


def _from_path(path: Path, spec: str) -> LoadedBackend:
    backend = _user_code(spec, load_path, path, f"--backend={spec}")
    origin = getattr(backend, "origin", None)
    if not (isinstance(origin, str) and origin):
        origin = str(path.resolve()) if path.is_file() else _origin_of(type(backend), None, backend)
    return LoadedBackend(backend, spec, origin)


def _user_code(spec: str, function, *args):
    """Run a step that executes the user's code; whatever it raises becomes one message."""
    try:
        return function(*args)
    except BackendLoadError:
        raise
    except (ScriptLoadError, ProgramError) as error:
        raise BackendLoadError(f"--backend={spec}: {error}") from error
    except SyntaxError as error:
        raise BackendLoadError(f"--backend={spec}: {_describe(error)}") from error
    except BaseException as error:  # noqa: BLE001 - report whatever the user's code raised
        raise BackendLoadError(f"--backend={spec}: importing it raised {_describe(error)}") from error


#: Modules imported from a path, by resolved path: loading the same file twice gives the same module.
_IMPORTED: dict[str, types.ModuleType] = {}


def _import_file(path: Path):
    """Import a .py file as a module of its own; the file may import its neighbours (helpers
    of its own), as a script would."""
    sys.path.insert(0, str(path.resolve().parent))
    return _import_located(path.resolve(), None)


def _import_package(folder: Path):
    """Import a folder with __init__.py as a package, so that its modules' relative imports work."""
    sys.path.insert(0, str(folder.resolve()))
    return _import_located(folder.resolve() / "__init__.py", [str(folder.resolve())])


def _import_located(file: Path, search: list[str] | None):
    key = str(file)
    if key in _IMPORTED:
        return _IMPORTED[key]
    stem = file.parent.name if search is not None else file.stem
    spec = importlib.util.spec_from_file_location(_module_name(stem, key), file, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise BackendLoadError(f"{file}: Python cannot load this file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    _IMPORTED[key] = module
    return module


def _module_name(stem: str, key: str) -> str:
    """The file's own name when free (tracebacks and error classes then read naturally), else
    a name made from its path (a folder called `numpy` must not shadow numpy)."""
    taken = stem in sys.modules or stem in sys.stdlib_module_names
    if stem.isidentifier() and not taken:
        return stem
    return f"microgpt_spec_user_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


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
    target = _target_in(module, attribute, f"--backend={spec}")
    backend = _make(target, spec)
    return LoadedBackend(backend, spec, _origin_of(target, module, backend))


def _make(target, spec: str) -> Any:
    try:
        return _instantiate(target, spec)
    except BaseException as error:  # noqa: BLE001
        raise BackendLoadError(f"--backend={spec}: calling {target.__qualname__}() raised {_describe(error)}") from error


def _instantiate(target, label: str):
    """A class or a function is called with no arguments to make the backend object."""
    if not (inspect.isclass(target) or inspect.isfunction(target)):
        return target
    return target()


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
