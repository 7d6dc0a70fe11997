"""How strong is the spec? Mutation testing of the pure backend, the conformance run as the test suite.

    nice -n 19 python benchmarks/mutation.py run              # init + exec (hours on a busy machine)
    nice -n 19 python benchmarks/mutation.py exec             # continue an interrupted run
    python benchmarks/mutation.py report                      # score and survivors of that run
    python benchmarks/mutation.py report --json survivors.json

A mutation tool (Cosmic Ray, https://cosmic-ray.readthedocs.io; `pip install cosmic-ray`, it is
not a dependency of the project) makes many small changes ("mutants") to `backends/pure/`:
`+` becomes `-`, `<` becomes `<=`, a number changes, a `break` becomes `continue` ... For each
mutant it runs

    pytest conformance --backend=pure -x --hypothesis-profile=ci -p no:xdist

and the mutant is *killed* if the run fails. A mutant that survives is either a gap in the
spec (a wrong implementation it lets through) or *equivalent* (the change does not change
behaviour, e.g. a speed-only garbage-collector pause). The score is

    killed / (all mutants - equivalent ones)

This never touches the working tree: the script exports the committed tree (`git archive
HEAD`) into a workspace (default /tmp/microgpt-spec-mutation) and makes `microgpt_spec`
importable from there (symbolic links for the folders pyproject maps into the namespace, the
workspace first on PYTHONPATH: the editable install of the checkout is never consulted). Cosmic Ray mutates the workspace's files in
place, one mutant at a time. Not in CI: it is slow. Results and the verdict on every survivor:
`benchmarks/mutation_results.md`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKSPACE = Path("/tmp/microgpt-spec-mutation")
#: pyproject's [tool.setuptools.package-dir]: the namespace package and the folders mapped into it.
SUBPACKAGES = {"spec": "spec", "backends": "backends", "conformance": "conformance", "data": "data"}
#: Operators left out: on the backend's float arithmetic, swapping + or * for a bitwise operator
#: (& | ^ << >>) raises TypeError at once, so such mutants are killed by the first test and
#: would only inflate the score and the run time. Every arithmetic, comparison, number,
#: boolean, loop and exception operator stays in.
EXCLUDED_OPERATORS = [r"core/ReplaceBinaryOperator_.*_(BitAnd|BitOr|BitXor|LShift|RShift)$"]


def test_command(workers: int) -> str:
    """The conformance run on pure, stopping at the first failure (-x): that kills a mutant."""
    parallel = f"-n {workers}" if workers > 1 else "-p no:xdist"
    return f"python -m pytest conformance --backend=pure -x -q -p no:cacheprovider --hypothesis-profile=ci {parallel}"


def export_tree(workspace: Path) -> Path:
    """The committed tree in workspace/tree, importable as `microgpt_spec` from there: the
    folders that pyproject maps into the namespace get a symbolic link inside the package."""
    if workspace.exists():
        shutil.rmtree(workspace)
    tree = workspace / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    for name, folder in SUBPACKAGES.items():
        (tree / "microgpt_spec" / name).symlink_to(tree / folder, target_is_directory=True)
    return tree


def environment(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    # First on the path: the editable install of the checkout is never consulted (its finder
    # comes after the path), so every microgpt_spec module is the workspace's.
    env["PYTHONPATH"] = str(workspace / "tree") + os.pathsep + env.get("PYTHONPATH", "")
    # A mutant may keep the file's size and land within the same second as the last one:
    # never let Python reuse a cached .pyc of another mutant.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("CI", None)
    return env


def write_config(workspace: Path, workers: int, timeout: float) -> Path:
    config = workspace / "cosmic-ray.toml"
    config.write_text(textwrap.dedent(f"""\
        [cosmic-ray]
        module-path = "backends/pure"
        timeout = {timeout}
        excluded-modules = []
        test-command = "{test_command(workers)}"

        [cosmic-ray.distributor]
        name = "local"

        [cosmic-ray.filters.operators-filter]
        exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}
    """))
    return config


def check_imports_come_from_the_workspace(workspace: Path, env: dict[str, str]) -> None:
    probe = ("import microgpt_spec.backends.pure.engine as e, microgpt_spec.plugin as p, microgpt_spec.spec.contract as c\n"
             "print(e.__file__, p.__file__, c.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=workspace / "tree", env=env, capture_output=True,
                          text=True, check=True)
    if any(not path.startswith(str(workspace)) for path in done.stdout.split()):
        raise SystemExit(f"imports do not come from the workspace: {done.stdout.strip()}")


def run(args: argparse.Namespace) -> int:
    workspace = args.workspace
    tree = export_tree(workspace)
    env = environment(workspace)
    check_imports_come_from_the_workspace(workspace, env)
    config = write_config(workspace, args.workers, args.timeout)
    session = workspace / "session.sqlite"
    baseline = subprocess.run(test_command(args.workers).split(), cwd=tree, env=env,
                              capture_output=True, text=True)
    if baseline.returncode != 0:
        raise SystemExit("the unmutated conformance run fails; fix that first:\n" + baseline.stdout[-3000:])
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=tree, env=env, check=True)
    subprocess.run(["cr-filter-operators", str(session), str(config)], cwd=tree, env=env, check=True)
    return execute(args)


def execute(args: argparse.Namespace) -> int:
    """Run the pending mutants (all of them after `run`'s set-up; the rest after an interruption)."""
    workspace = args.workspace
    tree, env, session = workspace / "tree", environment(workspace), workspace / "session.sqlite"
    skipped = skip_mutants_inside_annotations(session, tree)
    print(f"mutants inside type annotations, set aside as equivalent without a run: {skipped}")
    start = time.perf_counter()
    subprocess.run(["cosmic-ray", "exec", str(workspace / "cosmic-ray.toml"), str(session)], cwd=tree, env=env,
                   check=True)
    print(f"exec took {time.perf_counter() - start:.0f} s")
    return report(args)


ANNOTATION_NOTE = "inside a type annotation"


def skip_mutants_inside_annotations(session: Path, tree: Path) -> int:
    """Mark the pending mutants that change a type annotation as skipped: annotations are never
    evaluated (`from __future__ import annotations`), so these are equivalent by construction,
    and each would cost a whole conformance run to survive."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    count = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.pending_work_items:
            mutation = item.mutations[0]
            mutant = {"module": str(mutation.module_path), "line": mutation.start_pos[0],
                      "column": mutation.start_pos[1]}
            if equivalent_by_construction(mutant, tree):
                db.set_result(item.job_id, WorkResult(output=ANNOTATION_NOTE, worker_outcome=WorkerOutcome.SKIPPED))
                count += 1
    return count


def results(session: Path) -> list[dict]:
    """One record per mutant: where, which operator, and how the test run ended."""
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT m.module_path, m.operator_name, m.occurrence, m.start_pos_row, m.start_pos_col, m.end_pos_row, "
            "r.worker_outcome, r.test_outcome, r.diff, r.output "
            "FROM mutation_specs AS m LEFT JOIN work_results AS r ON m.job_id = r.job_id "
            "ORDER BY m.module_path, m.start_pos_row, m.operator_name, m.occurrence").fetchall()
    keys = ("module", "operator", "occurrence", "line", "column", "end_line", "worker_outcome", "test_outcome",
            "diff", "output")
    records = [dict(zip(keys, row)) for row in rows]
    for record in records:  # the database keeps the enums' names (KILLED), the report their values
        for key in ("worker_outcome", "test_outcome"):
            if record[key] is not None:
                record[key] = str(record[key]).lower().replace("_", "-")
    return records


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every type annotation in a file."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args
            every = arguments.posonlyargs + arguments.args + arguments.kwonlyargs + [arguments.vararg, arguments.kwarg]
            annotations = [a.annotation for a in every if a is not None and a.annotation is not None]
            annotations += [node.returns] if node.returns is not None else []
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in annotations]
    return spans


def equivalent_by_construction(mutant: dict, tree: Path) -> str | None:
    """Why a mutant cannot change behaviour, when that follows from where it is: a change
    inside a type annotation (never evaluated: the modules use `from __future__ import
    annotations`)."""
    path = tree / mutant["module"]
    position = (mutant["line"], mutant["column"])
    if any(start <= position < end for start, end in annotation_spans(path)):
        return "inside a type annotation, which is never evaluated (from __future__ import annotations)"
    return None


def report(args: argparse.Namespace) -> int:
    session = args.workspace / "session.sqlite"
    if not session.exists():
        raise SystemExit(f"no session at {session}: run `python benchmarks/mutation.py run` first")
    mutants = results(session)
    skipped = [m for m in mutants if m["worker_outcome"] == "skipped"]
    set_aside = [m for m in skipped if m["output"] == ANNOTATION_NOTE]
    mutants = [m for m in mutants if m["worker_outcome"] != "skipped"]
    print(f"operators filtered out (see EXCLUDED_OPERATORS): {len(skipped) - len(set_aside)} mutants; "
          f"inside type annotations (equivalent by construction, not run): {len(set_aside)}")
    done = [m for m in mutants if m["test_outcome"] is not None]
    killed = [m for m in done if m["test_outcome"] == "killed"]
    survived = [m for m in done if m["test_outcome"] == "survived"]
    incompetent = [m for m in done if m["test_outcome"] == "incompetent"]
    timeouts = [m for m in killed if (m["output"] or "").strip() == "timeout"]
    print(f"mutants: {len(mutants)}, run: {len(done)}, killed: {len(killed)} ({len(timeouts)} by timeout), "
          f"survived: {len(survived)}, "
          f"incompetent (would not even import): {len(incompetent)}, pending: {len(mutants) - len(done)}")
    if done:
        print(f"raw score: {len(killed)} / {len(killed) + len(survived)} killed "
              f"= {100 * len(killed) / max(1, len(killed) + len(survived)):.1f}% (before setting equivalent ones aside)")
    tree = args.workspace / "tree"
    for m in survived:
        m["equivalent"] = equivalent_by_construction(m, tree)
    annotations = [m for m in survived if m["equivalent"]]
    others = [m for m in survived if not m["equivalent"]]
    print(f"survivors inside type annotations (equivalent by construction): {len(annotations)}")
    if done:
        scored = len(killed) + len(others)
        print(f"score without those: {len(killed)} / {scored} = {100 * len(killed) / max(1, scored):.1f}% "
              "(the remaining survivors are judged one by one in benchmarks/mutation_results.md)")
    for m in others:
        print(f"\nSURVIVED {m['module']}:{m['line']} {m['operator']} #{m['occurrence']}")
        print(textwrap.indent((m["diff"] or "").strip(), "    "))
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{k: v for k, v in m.items() if k != "output"} for m in survived], indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "exec", "report"])
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument("--workers", type=int, default=1,
                        help="pytest-xdist workers per conformance run (1: none; starting workers costs more "
                             "than it saves when most mutants die in the first tests)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds before a mutant's run counts as killed")
    parser.add_argument("--json", default=None, help="report: also write the survivors to this file")
    args = parser.parse_args(argv)
    return {"run": run, "exec": execute, "report": report}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
