"""`microgpt-spec new-backend`: from nothing to a registered backend, then to green.

The last test does what docs/adding-a-backend.md tells a user to do, in a temporary
folder: scaffold, pip install, run the spec (everything *not implemented*), fill the
methods in, run the spec again (green), uninstall.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from microgpt_spec import cli
from microgpt_spec.commands import new_backend
from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import CONTRACT_METHODS

#: The scaffold the unit tests write (never installed): an unlikely name, so that a
#: backend of the user's own installed in this environment cannot clash with it.
UNIT_NAME = "scaffold_unit"
PACKAGE_FILES = ["pyproject.toml", "README.md", "microgpt_scaffold_unit/__init__.py", "microgpt_scaffold_unit/backend.py"]


def scaffold(name: str, directory: Path, capsys) -> tuple[int, str, str]:
    status = cli.main(["new-backend", name, str(directory)])
    out, err = capsys.readouterr()
    return status, out, err


def import_file(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def mine(tmp_path, capsys) -> Path:
    directory = tmp_path / "microgpt-scaffold-unit"
    status, _, err = scaffold(UNIT_NAME, directory, capsys)
    assert status == 0, err
    return directory


# --------------------------------------------------------------------------- what it writes
def test_writes_an_installable_package(mine):
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*") if p.is_file()) == sorted(PACKAGE_FILES)
    project = tomllib.loads((mine / "pyproject.toml").read_text())
    assert project["project"]["name"] == "microgpt-scaffold-unit"
    assert project["project"]["entry-points"]["microgpt_spec.backends"] == {UNIT_NAME: "microgpt_scaffold_unit:Backend"}
    assert project["tool"]["setuptools"]["packages"] == ["microgpt_scaffold_unit"]


def test_every_contract_method_is_there_with_the_contract_signature(mine):
    module = import_file(mine / "microgpt_scaffold_unit" / "backend.py", "scaffold_signature_check")
    for name in CONTRACT_METHODS:
        ours = inspect.signature(getattr(module.Backend, name))
        theirs = inspect.signature(getattr(contract.Backend, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
               [(p.name, p.kind, p.default) for p in theirs.parameters.values()], name
        assert name in vars(module.Backend), f"{name} is inherited, not written out in the adapter"


@pytest.mark.parametrize("method", CONTRACT_METHODS)
def test_every_part_raises_not_implemented_naming_it(mine, method):
    module = import_file(mine / "microgpt_scaffold_unit" / "backend.py", "scaffold_raises_check")
    backend = module.Backend()
    required = [p for p in inspect.signature(getattr(backend, method)).parameters.values()
                if p.default is inspect.Parameter.empty]
    with pytest.raises(NotImplementedError) as error:
        getattr(backend, method)(*[None] * len(required))
    area = next(area for area, methods in contract.AREA_METHODS.items() if method in methods)
    assert str(error.value).startswith(f"{area}: {method}(")


def test_readme_gives_the_three_commands(mine):
    readme = (mine / "README.md").read_text()
    for command in ("pip install -e .",
                    f"pytest --pyargs microgpt_spec.conformance --backend={UNIT_NAME}\n",
                    f"pytest --pyargs microgpt_spec.conformance --backend={UNIT_NAME} --area="):
        assert command in readme


def test_prints_what_it_wrote_and_what_to_run_next(tmp_path, capsys):
    status, out, _ = scaffold(UNIT_NAME, tmp_path / "pkg", capsys)
    assert status == 0
    assert f"pip install -e {tmp_path / 'pkg'}" in out
    assert f"--backend={UNIT_NAME}" in out


# --------------------------------------------------------------------------- what it refuses
@pytest.mark.parametrize("name", ["My-Backend", "1st", "with space", "class", "", "a" * 41, "née"])
def test_a_bad_name_is_one_clear_message(tmp_path, capsys, name):
    status, _, err = scaffold(name, tmp_path / "pkg", capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert err.count("\n") == 1 and "not a usable backend name" in err and "Traceback" not in err
    assert not (tmp_path / "pkg").exists()


def test_a_registered_name_is_refused(tmp_path, capsys):
    status, _, err = scaffold("pure", tmp_path / "pkg", capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "already a registered backend" in err


def test_existing_files_are_never_overwritten(mine, capsys):
    backend_file = mine / "microgpt_scaffold_unit" / "backend.py"
    backend_file.write_text("# my work\n")
    (mine / "README.md").unlink()
    status, _, err = scaffold(UNIT_NAME, mine, capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "refusing to overwrite" in err and "backend.py" in err
    assert backend_file.read_text() == "# my work\n"
    assert not (mine / "README.md").exists(), "nothing is written when anything would be overwritten"


def test_a_file_in_place_of_the_folder_is_refused(tmp_path, capsys):
    (tmp_path / "pkg").write_text("")
    status, _, err = scaffold(UNIT_NAME, tmp_path / "pkg", capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "not a folder" in err


def test_the_package_name_is_prefixed_so_it_cannot_hide_a_real_one(tmp_path, capsys):
    status, _, _ = scaffold("numpy", tmp_path / "pkg", capsys)
    assert status == cli.EXIT_BAD_INPUT  # registered: refused outright
    status, _, _ = scaffold("torch2", tmp_path / "pkg", capsys)
    assert status == 0
    assert (tmp_path / "pkg" / "microgpt_torch2" / "backend.py").is_file()


# --------------------------------------------------------------------------- zero to green
E2E_NAME = "scaffold_e2e"
E2E_DIST = "microgpt-scaffold-e2e"
#: The areas of the green run: every kind of contract method (plain data, nodes through
#: `adam`, the model, the training loop); ops and autograd only add more node checks and
#: take longest, so they are left to the backend's own conformance run.
GREEN_AREAS = "tokenizer,layers,loss,adam,sampling,training"


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600)


def install_editable(directory: Path) -> None:
    # As the user installs it: pip builds the scaffold in an isolated environment holding its
    # own [build-system] requirements. Building with this environment's setuptools instead
    # (--no-build-isolation) fails in a fresh Python 3.11 venv (setuptools 65, no `wheel`:
    # "invalid command 'bdist_wheel'"). No deps: microgpt-spec is the one running this test.
    result = pip("install", "--quiet", "--no-deps", "-e", str(directory))
    assert result.returncode == 0, result.stderr


def conformance(directory: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """The README's run, from inside the package's folder; returns the process and its JSON report."""
    report = directory / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "microgpt_spec.conformance", f"--backend={E2E_NAME}",
         "-p", "no:cacheprovider", "-p", "no:xdist", f"--spec-json={report}", *args],
        cwd=directory, capture_output=True, text=True, timeout=600,
    )
    assert report.exists(), result.stdout + result.stderr
    return result, json.loads(report.read_text())


def fill_in_from(source: str, reference: str) -> str:
    """The adapter with every method body replaced by a call to the same method of
    `reference` (a backend class): what a user does by hand, done with the ast."""
    tree = ast.parse(source)
    adapter = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Backend")
    for method in adapter.body:
        if isinstance(method, ast.FunctionDef):
            arguments = method.args
            call = ast.Call(
                func=ast.Attribute(value=ast.Name("FILLED", ast.Load()), attr=method.name, ctx=ast.Load()),
                args=[ast.Name(a.arg, ast.Load()) for a in arguments.args[1:]],
                keywords=[ast.keyword(arg=a.arg, value=ast.Name(a.arg, ast.Load())) for a in arguments.kwonlyargs],
            )
            method.body = [ast.Return(call)]
    module, _, attribute = reference.partition(":")
    tree.body += ast.parse(f"from {module} import {attribute} as _Filled\nFILLED = _Filled()\n").body
    return ast.unparse(ast.fix_missing_locations(tree))


@pytest.fixture
def installed_scaffold(tmp_path, capsys):
    directory = tmp_path / E2E_DIST
    status, _, err = scaffold(E2E_NAME, directory, capsys)
    assert status == 0, err
    install_editable(directory)
    try:
        yield directory
    finally:
        pip("uninstall", "--yes", E2E_DIST)


def test_from_scaffold_to_green(installed_scaffold):
    directory = installed_scaffold

    # Installed and registered: every area is found, and every area is not implemented.
    result, report = conformance(directory)
    assert result.returncode == 0, result.stdout
    assert f"backend {E2E_NAME} 0.1.0" in report["backend"]
    counted = {area for area, r in report["areas"].items() if r["counted"]}
    assert counted == set(contract.AREAS)
    assert set(report["areas"]) - counted <= set(contract.UNCOUNTED_AREAS)  # reported, scored nowhere
    assert {r["verdict"] for r in report["areas"].values()} == {"not implemented"}
    assert all(r["passed"] == 0 and r["failed"] == 0 for r in report["areas"].values())

    # Filled in (each method delegating to the NumPy backend): the same run passes.
    adapter = directory / f"microgpt_{E2E_NAME}" / "backend.py"
    adapter.write_text(fill_in_from(adapter.read_text(), "microgpt_spec.backends.numpy:Backend"))
    result, report = conformance(directory, f"--area={GREEN_AREAS}", "--hypothesis-profile=ci")
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(report["areas"]) == set(GREEN_AREAS.split(","))
    assert all(r["verdict"] == "PASS" and r["passed"] > 0 for r in report["areas"].values()), report["areas"]


@pytest.mark.parametrize("language, tool", [("c", "cc"), ("js", "node")])
def test_a_program_scaffold_starts_and_says_not_implemented_for_every_part(tmp_path, monkeypatch, language, tool):
    """The quick sibling of the slow scaffold runs (tests/test_c_backend.py,
    tests/test_js_backend.py): written, built if need be, started, and each contract method
    answers NotImplementedError naming its area."""
    import random
    import shutil

    from microgpt_spec.registry import find_backend
    from microgpt_spec.spec.contract import AREA_METHODS, Config

    if shutil.which(tool) is None:
        pytest.skip(f"no {tool} on this machine: the {language} scaffold cannot run")
    monkeypatch.setenv("MICROGPT_SPEC_CACHE", str(tmp_path / "cache"))
    new_backend.write_program(language, "mine", tmp_path / "mine")
    backend = find_backend(str(tmp_path / "mine")).backend
    calls = {"build_tokenizer": (["ab"],), "value": (1.0,), "init_params": (Config(), random.Random(0))}
    for method, args in calls.items():
        area = next(a for a, methods in AREA_METHODS.items() if method in methods)
        with pytest.raises(NotImplementedError, match=area):
            result = getattr(backend, method)(*args)
            float(result.data)  # value() answers without waiting: its error comes with the next read
