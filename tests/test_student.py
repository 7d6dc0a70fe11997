"""The student stub: every learner part not implemented, in step with the pure backend,
the copy a learner makes with `new-student`, and the grade rising area by area as the
stub is filled in with the pure backend's functions."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from microgpt_spec.backends import scalar
from microgpt_spec.backends.pure import PureBackend
from microgpt_spec.backends.scalar import ScalarBackend
from microgpt_spec.backends.student import TODO_BY_AREA, StudentBackend
from microgpt_spec.cli import main as cli_main
from microgpt_spec.commands.new_student import PACKAGE
from microgpt_spec.grading import RunOptions, grade
from microgpt_spec.grading.link import Limits
from microgpt_spec.grading.worker import REFERENCE_MODULES, reference_paths
from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AREAS

STUB = "microgpt_spec.backends.student"
PURE = "microgpt_spec.backends.pure"
SHARED = "microgpt_spec.backends.scalar"


def resolve(package: str, qualified: str):
    """`engine.Value.__add__` in `package` -> the function object."""
    module_name, *names = qualified.split(".")
    target = importlib.import_module(f"{package}.{module_name}")
    for name in names:
        target = getattr(target, name)
    return target


def raises_not_implemented(function) -> bool:
    """Whether the function's body is (a docstring and) `raise NotImplementedError(...)`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = tree.body[0].body
    statements = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return (len(statements) == 1 and isinstance(statements[0], ast.Raise)
            and "NotImplementedError" in ast.unparse(statements[0]))


def stub_functions() -> dict[str, object]:
    """Every function or method of the stub's modules, by qualified name."""
    found = {}
    for module_name in ("engine", "model", "adam", "train", "sampling", "tokenizer", "backend"):
        module = importlib.import_module(f"{STUB}.{module_name}")
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                found[f"{module_name}.{name}"] = value
            elif inspect.isclass(value) and value.__module__ == module.__name__:
                for method_name, method in vars(value).items():
                    if inspect.isfunction(method):
                        found[f"{module_name}.{name}.{method_name}"] = method
    return found


# --------------------------------------------------------------------------- the stub itself
def test_todo_covers_every_area_in_the_learning_order():
    assert tuple(TODO_BY_AREA) == AREAS


def test_every_todo_part_raises_not_implemented_naming_its_area():
    for area, parts in TODO_BY_AREA.items():
        for qualified in parts:
            function = resolve(STUB, qualified)
            assert raises_not_implemented(function), f"{qualified} should raise NotImplementedError"
            message = ast.unparse(ast.parse(textwrap.dedent(inspect.getsource(function))))
            assert f"'{area}: " in message or f'"{area}: ' in message, \
                f"{qualified}: its NotImplementedError message should start with '{area}: '"


def test_only_the_todo_parts_are_left_to_write():
    todo = {q for parts in TODO_BY_AREA.values() for q in parts}
    unwritten = {q for q, f in stub_functions().items() if raises_not_implemented(f)}
    assert unwritten == todo


def test_every_todo_part_mirrors_the_pure_backend_and_explains_itself():
    for parts in TODO_BY_AREA.values():
        for qualified in parts:
            stub, pure = resolve(STUB, qualified), resolve(PURE, qualified)
            assert inspect.signature(stub) == inspect.signature(pure), qualified
            assert "Example" in (inspect.getdoc(stub) or ""), f"{qualified}: show a tiny worked example"


def test_both_backends_are_the_shared_adapter_over_their_own_modules():
    """The contract's methods are written once, in the shared adapter: the stub's backend
    and the pure one only name the modules it drives, each its own package's."""
    roles = {"engine": "engine", "model": "model", "optimizer": "adam", "training": "train", "sampling": "sampling",
             "tokenizer": "tokenizer"}
    for package, backend in ((STUB, StudentBackend), (PURE, PureBackend)):
        assert issubclass(backend, ScalarBackend), backend
        own_functions = [n for n, v in vars(backend).items() if inspect.isfunction(v)]
        assert own_functions == [], f"{backend.__name__} should leave the glue to ScalarBackend"
        for role, module_name in roles.items():
            assert getattr(backend, role) is importlib.import_module(f"{package}.{module_name}"), (backend, role)


def test_the_training_plumbing_is_the_shared_modules():
    """The conversions and helpers the training loop and sampling use are the shared
    module's, in the stub exactly as in the pure backend (not copies)."""
    uses = {"train": ("to_weights", "to_params", "flatten", "unflatten", "cyclic_gc_paused"),
            "sampling": ("cyclic_gc_paused",)}
    for module_name, names in uses.items():
        stub, pure = (importlib.import_module(f"{p}.{module_name}") for p in (STUB, PURE))
        for name in names:
            assert getattr(stub, name) is getattr(scalar, name) is getattr(pure, name), f"{module_name}.{name}"
    for module in (STUB, PURE):  # the contract's own rule, not a copy
        assert importlib.import_module(f"{module}.train").batch_for_step is contract.batch_for_step


def test_the_rest_of_the_glue_is_the_pure_backends():
    """The few helpers the learner's own files hold (not written by the learner) are the
    pure backend's code, statement for statement (docstrings aside): the stub cannot
    drift from the reference."""
    todo = {q for parts in TODO_BY_AREA.values() for q in parts}
    helpers = {q: f for q, f in stub_functions().items()
               if q not in todo and q != "tokenizer.CharTokenizer.__repr__"}
    assert helpers, "the stub's own helpers were not found"
    for qualified, function in helpers.items():
        pure = resolve(PURE, qualified)
        assert body_without_docstring(function) == body_without_docstring(pure), qualified


def test_the_shared_module_is_not_a_reference_backend_to_the_grader():
    """A learner's copy imports `microgpt_spec.backends.scalar`: the grader must not count
    that as delegation. It is neither a reference module nor inside a reference folder,
    and importing it loads no backend package."""
    assert not any(SHARED == m or SHARED.startswith(m + ".") for m in REFERENCE_MODULES)
    folders = tuple(reference_paths())
    assert not scalar.__file__.startswith(folders) and not os.path.realpath(scalar.__file__).startswith(folders)
    probe = (f"import sys, {SHARED}; "
             "print(*sorted(m for m in sys.modules if m.startswith('microgpt_spec.backends')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.split() == ["microgpt_spec.backends", SHARED], loaded.stdout


def body_without_docstring(function) -> list[str]:
    body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [ast.dump(statement) for statement in body]


def test_conformance_on_the_stub_is_all_not_implemented(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "microgpt_spec.conformance", "--backend=student",
         "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--hypothesis-profile=grade"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    summary = out.strip().splitlines()[-1]
    assert done.returncode == 0, out[-3000:]
    assert "not implemented" in summary and "passed" not in summary and "failed" not in summary, summary
    assert "Traceback" not in out and "Falsifying" not in out and "Hypothesis" not in out


# --------------------------------------------------------------------------- the learner's copy
def test_new_student_writes_a_copy_that_runs(tmp_path, capsys):
    folder = tmp_path / "mygpt"
    assert cli_main(["new-student", str(folder)]) == 0
    assert (folder / "backend.py").is_file() and (folder / "README.md").is_file()
    assert {p.name for p in (folder / PACKAGE).glob("*.py")} == {
        "__init__.py", "adam.py", "backend.py", "engine.py", "model.py", "sampling.py", "tokenizer.py", "train.py"}
    printed = capsys.readouterr().out
    assert f"--backend={folder} --area=tokenizer" in printed
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "microgpt_spec.conformance", "--backend=mygpt",
         "--area=tokenizer", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    tokenizer_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "microgpt_spec.conformance.test_tokenizer", "--backend=pure",
         "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True).stdout
    expected = sum(1 for line in tokenizer_tests.splitlines() if "::" in line)
    assert f"{expected} not implemented" in done.stdout, done.stdout[-2000:]


def test_new_student_refuses_to_overwrite(tmp_path, capsys):
    folder = tmp_path / "mygpt"
    (folder / PACKAGE).mkdir(parents=True)
    (folder / PACKAGE / "engine.py").write_text("# my work\n")
    assert cli_main(["new-student", str(folder)]) == 2
    assert "exist already" in capsys.readouterr().err
    assert (folder / PACKAGE / "engine.py").read_text() == "# my work\n"
    assert not (folder / "backend.py").exists()  # nothing at all was written


# --------------------------------------------------------------------------- filling it in
def transplant(package_folder: Path, qualified: str) -> None:
    """Replace the stub's `qualified` function in the learner's copy by the pure backend's."""
    module_name, *names = qualified.split(".")
    path = package_folder / f"{module_name}.py"
    text = path.read_text()
    node = find_definition(ast.parse(text), names)
    source = textwrap.indent(textwrap.dedent(inspect.getsource(resolve(PURE, qualified))), " " * node.col_offset)
    lines = text.splitlines(keepends=True)
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    path.write_text("".join(lines[: first - 1]) + source + "".join(lines[node.end_lineno:]))


def find_definition(tree: ast.Module, names: list[str]):
    scope = tree.body
    for name in names:
        node = next(n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
        scope = node.body
    return node


@pytest.mark.slow  # eight gradings, about 30 s of CPU: CI runs it with -m slow
def test_filling_the_stub_area_by_area_raises_the_grade_to_full_marks(tmp_path):
    """Copy k has the areas 1..k filled in from the pure backend. Graded on area k and
    area k+1, area k has full marks and area k+1 none: each area's tests need exactly
    the parts the stub says belong to it and the ones before. One exception, from the
    spec: the ops area checks derivatives through backward(), so it is full only once
    autograd is written too (until then those tests say "not implemented: autograd")."""
    copies = []
    for k, area in enumerate(AREAS):
        folder = tmp_path / f"filled-{k + 1}-{area}"
        assert cli_main(["new-student", str(folder)]) == 0
        for done_area in AREAS[: k + 1]:
            for qualified in TODO_BY_AREA[done_area]:
                transplant(folder / PACKAGE, qualified)
        copies.append(folder)

    def grade_copy(k: int):
        areas = AREAS[k: k + 2] + (("ops",) if AREAS[k] == "autograd" else ())
        options = RunOptions(limits=Limits(test_seconds=120, submission_seconds=600), areas=areas,
                             profile="quick")
        return grade([copies[k]], tmp_path / "grades" / str(k), options=options)[0]

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(grade_copy, range(len(AREAS))))
    for k, (area, report) in enumerate(zip(AREAS, reports)):
        scores = {a.area: a for a in report.areas}
        assert not report.problems, report.problems
        if area == "ops":
            ops = scores["ops"]
            assert ops.counts["passed"] > 0 and ops.counts["failed"] == 0, ops.counts
            assert all("not implemented: autograd:" in t["message"] for t in ops.failures), ops.failures[:1]
        else:
            assert scores[area].score == scores[area].max_score, (area, scores[area].failures[:2])
        if area == "autograd":
            assert scores["ops"].score == scores["ops"].max_score, scores["ops"].failures[:2]
        if k + 1 < len(AREAS):
            following = scores[AREAS[k + 1]]
            assert following.score == 0 and following.counts["passed"] == 0, (AREAS[k + 1], following.counts)
    assert reports[-1].max_score == sum(a.max_score for a in reports[-1].areas) == 10  # out of what was graded
