"""Checking a microgpt script as it is (`--backend=path/to/microgpt.py`, no Backend class).

The scripts under tests/scripts/ are the test data:

* `microgpt.py`: a correct script in the original's style; it must pass every counted area,
  and it must still run as a normal script;
* `bugs.toml`: the same script with one classic bug each (a line or two replaced, and the
  area that must catch it; `script_bugs.py` writes them out); its area must fail, and every
  area that does not run the buggy line must pass;
* `partial/microgpt.py`: a script half written; the parts it lacks are *not implemented*,
  each with a message naming what to write;
* `variants/microgpt.py`: the correct algorithm spelled the other ways learners write it
  (names imported from random, a lambda, stoi/itos, Adam in a function, a main guard ...).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import script_bugs
from spec_runs import spec_run
from microgpt_spec import load_backend
from microgpt_spec.registry import BackendLoadError, find_backend
from microgpt_spec.script_backend import ScriptBackend, load_script_backend
from microgpt_spec.spec.contract import AREA_DEPENDS_ON, AREAS, AdamHyper, Config, Schedule

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCRIPTS = HERE / "scripts"
CORRECT = SCRIPTS / "microgpt.py"
BUGS = script_bugs.bugs()
PARTIAL = SCRIPTS / "partial" / "microgpt.py"
VARIANT = SCRIPTS / "variants" / "microgpt.py"  # the same algorithm, spelled the other usual ways
SMALL = Config(vocab_size=5, n_layer=1, n_embd=4, n_head=2, block_size=4)


def run_conformance(script: Path, areas: list[str], out: Path, *extra: str, profile: str = "ci") -> dict:
    return spec_run(str(script), out, areas, *extra, profile=profile)


def verdicts(report: dict) -> dict[str, str]:
    return {area: result["verdict"] for area, result in report["areas"].items()}


def depends_on(area: str, other: str) -> bool:
    direct = AREA_DEPENDS_ON[area]
    return other in direct or any(depends_on(a, other) for a in direct)


# --------------------------------------------------------------------------- whole runs
@pytest.mark.slow  # a whole conformance run (CI's -m slow step); the default run checks the same
# computations against the pure backend directly (test_a_correct_script_computes_what_...)
def test_the_correct_script_passes_every_counted_area(tmp_path):
    report = run_conformance(CORRECT, list(AREAS), tmp_path / "report.json")
    got = verdicts(report)
    failing = [t["message"][:500] for t in report["tests"] if t["status"] != "passed" and t["area"] in AREAS]
    assert got == {area: "PASS" for area in AREAS}, f"{got}\n{failing}"


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_a_bug_is_caught_by_its_area(bug, tmp_path):
    # -x: the first failing test settles the verdict; the rest of the area need not run.
    got = verdicts(run_conformance(bug.write(tmp_path), [bug.area], tmp_path / "report.json", "-x"))
    assert got.get(bug.area) == "FAIL", f"{bug.name}: the {bug.area} area did not catch the bug: {got}"


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_a_bug_leaves_the_areas_that_do_not_use_it_passing(bug, tmp_path):
    must_pass = [a for a in AREAS if a != bug.area and not depends_on(a, bug.area)]
    # The quick profile: the question is whether the correct parts pass, not how hard.
    got = verdicts(run_conformance(bug.write(tmp_path), must_pass, tmp_path / "report.json", profile="quick"))
    wrongly = {a: got.get(a) for a in must_pass if got.get(a) != "PASS"}
    assert not wrongly, f"{bug.name}: areas that do not use the buggy line did not pass: {wrongly}"


@pytest.mark.slow
def test_the_variant_script_passes_every_counted_area(tmp_path):
    got = verdicts(run_conformance(VARIANT, list(AREAS), tmp_path / "report.json"))
    assert got == {area: "PASS" for area in AREAS}, got


@pytest.mark.parametrize("script", [CORRECT, VARIANT], ids=["microgpt", "variant"])
def test_a_correct_script_computes_what_the_pure_backend_computes(script):
    mine, pure = load_script_backend(script), load_backend("pure")
    params = pure.init_params(SMALL, random.Random(5))
    assert mine.init_params(SMALL, random.Random(5)) == params  # the same draws, in the same order
    sequences = [[4, 0, 1, 2, 4], [4, 3, 3, 4]]
    loss, grads = mine.loss_and_grads(params, SMALL, sequences[0])
    expected_loss, expected_grads = pure.loss_and_grads(params, SMALL, sequences[0])
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert all(a == pytest.approx(b, rel=1e-9, abs=1e-12) for name in grads
               for row_a, row_b in zip(grads[name], expected_grads[name]) for a, b in zip(row_a, row_b))
    ran, expected = mine.train(params, SMALL, sequences, Schedule(5)), pure.train(params, SMALL, sequences, Schedule(5))
    assert ran.losses == pytest.approx(expected.losses, rel=1e-12)
    assert mine.generate(ran.params, SMALL, 0.7, random.Random(9)) == pure.generate(ran.params, SMALL, 0.7,
                                                                                    random.Random(9))
    assert mine.build_tokenizer(["cab", "b"]).sequence("abc") == [3, 0, 1, 2, 3]


def test_each_bug_changes_a_line_or_two_of_the_correct_script(tmp_path):
    correct = CORRECT.read_text().splitlines()
    for bug in BUGS:
        lines = bug.write(tmp_path).read_text().splitlines()[1:]  # the header comment aside
        changed = [(a, b) for a, b in zip(correct, lines) if a != b]
        assert 0 < len(changed) <= 2 and len(lines) == len(correct), bug.name
        assert bug.area in AREAS


def test_a_half_written_script_is_not_implemented_where_it_stops(tmp_path):
    report = run_conformance(PARTIAL, list(AREAS), tmp_path / "report.json")
    got = verdicts(report)
    assert got["ops"] == "PASS" and got["autograd"] == "PASS", got
    assert got["layers"] == "partly implemented", got
    for area in ("tokenizer", "loss", "adam", "sampling", "training"):
        assert got[area] == "not implemented", got
    messages = {t["message"] for t in report["tests"] if t["status"] == "not implemented"}
    assert any("def gpt(token_id, pos_id, keys, values)" in m for m in messages), messages
    assert any("uchars" in m and "BOS" in m for m in messages), messages


# --------------------------------------------------------------------------- running it directly
def test_the_correct_script_still_runs_as_a_script(tmp_path):
    names = (REPO / "data" / "names.txt").read_text().splitlines()[:200]
    (tmp_path / "input.txt").write_text("\n".join(names) + "\n")
    text = CORRECT.read_text()
    assert text.count("num_steps = 1000\n") == 1
    (tmp_path / "microgpt.py").write_text(text.replace("num_steps = 1000\n", "num_steps = 2\n"))
    done = subprocess.run([sys.executable, "microgpt.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "num params: 4192" in done.stdout and "step    2 /    2" in done.stdout
    assert len(re.findall(r"^sample +\d+: ", done.stdout, re.MULTILINE)) == 20


# --------------------------------------------------------------------------- loading
def test_the_registry_checks_a_script_without_importing_it(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(CORRECT, folder / "microgpt.py")
    for spec in (str(folder / "microgpt.py"), str(folder)):
        loaded = find_backend(spec)
        assert isinstance(loaded.backend, ScriptBackend)
        assert loaded.origin == str((folder / "microgpt.py").resolve())
    assert not (folder / "input.txt").exists(), "the script's download ran"
    assert capsys.readouterr().out == "", "the script's printing ran"


def test_nothing_but_the_needed_definitions_runs(tmp_path):
    text = CORRECT.read_text().replace(
        'random.shuffle(docs)\n', 'random.shuffle(docs)\nopen("top-level-ran.txt", "w").write("x")\n')
    script = tmp_path / "microgpt.py"
    script.write_text(text)
    backend = load_script_backend(script)
    backend.train(backend.init_params(SMALL, random.Random(0)), SMALL, [[4, 0, 1, 4]], Schedule(2))
    backend.generate(backend.init_params(SMALL, random.Random(0)), SMALL, 0.5, random.Random(1))
    assert not (tmp_path / "top-level-ran.txt").exists()
    assert not Path("top-level-ran.txt").exists()


def test_a_file_with_a_backend_class_is_still_imported(tmp_path):
    script = tmp_path / "mine.py"
    script.write_text("from microgpt_spec.backends.pure import Backend\n\nclass Value:\n    pass\n")
    assert find_backend(str(script)).name == "pure"


def test_a_failing_definition_line_is_named(tmp_path):
    script = tmp_path / "microgpt.py"
    script.write_text(CORRECT.read_text().replace("std=0.08):", "std=float('eight')):"))
    with pytest.raises(BackendLoadError, match=r"line \d+ \(`def matrix\(.*`\) raised ValueError"):
        find_backend(str(script))


# --------------------------------------------------------------------------- not implemented, with advice
def backend_from(tmp_path, old: str, new: str) -> ScriptBackend:
    text = CORRECT.read_text()
    assert text.count(old) == 1, old
    script = tmp_path / "microgpt.py"
    script.write_text(text.replace(old, new))
    return load_script_backend(script)


def test_a_missing_gpt_names_the_function_to_write(tmp_path):
    backend = backend_from(tmp_path, "def gpt(token_id, pos_id, keys, values):", "def forward(token_id, pos_id, keys, values):")
    with pytest.raises(NotImplementedError, match=r"def gpt\(token_id, pos_id, keys, values\)"):
        backend.gpt(backend.init_params(SMALL, random.Random(0)), SMALL, 0, 0, [[]], [[]])


def test_a_hard_coded_adam_setting_cannot_be_varied(tmp_path):
    backend = backend_from(tmp_path, "(v_hat**0.5 + eps)", "(v_hat**0.5 + 1e-8)")
    backend.adam([backend.value(1.0)], AdamHyper())  # the defaults: fine
    with pytest.raises(NotImplementedError, match="no top-level name for eps"):
        backend.adam([backend.value(1.0)], AdamHyper(eps=1e-6))


def test_a_training_loop_over_a_literal_range_says_how_to_write_it(tmp_path):
    backend = backend_from(tmp_path, "for step in range(num_steps):", "for step in range(1000):")
    with pytest.raises(NotImplementedError, match=r"for step in range\(num_steps\)"):
        backend.loss_and_grads(backend.init_params(SMALL, random.Random(0)), SMALL, [4, 0, 4])


def test_a_script_without_sampling_loop_is_not_implemented_for_sampling(tmp_path):
    text = CORRECT.read_text()
    script = tmp_path / "microgpt.py"
    script.write_text(text[: text.index("# ---------------------------------------------------------------- sampling")])
    backend = load_script_backend(script)
    with pytest.raises(NotImplementedError, match="sampling loop"):
        backend.sample_next([0.0, 1.0], 1.0, random.Random(0))
    assert backend.build_tokenizer(["ab"]).sequence("ba") == [2, 1, 0, 2]  # the rest still works


# --------------------------------------------------------------------------- the script's own lines run
def test_the_update_is_the_scripts_own_line(tmp_path):
    # Gradient ascent in the script's update: the adam area sees the script's line, not a copy.
    backend = backend_from(tmp_path, "p.data -= lr_t * m_hat", "p.data += lr_t * m_hat")
    node = backend.value(1.0)
    opt = backend.adam([node], AdamHyper())
    node.grad = 2.0
    opt.step(0, 10)
    assert node.data == pytest.approx(1.01) and node.grad == 0


def test_sampling_draws_from_the_given_generator(tmp_path):
    backend = load_script_backend(CORRECT)
    params = backend.init_params(SMALL, random.Random(0))
    first = backend.generate(params, SMALL, 1.0, random.Random(7))
    assert first == backend.generate(params, SMALL, 1.0, random.Random(7))
    assert all(0 <= i < SMALL.bos for i in first) and len(first) <= SMALL.block_size


def test_a_main_guard_counts_as_the_top_level(tmp_path):
    text = CORRECT.read_text()
    start = text.index("# ---------------------------------------------------------------- training")
    guarded = "".join("    " + line if line.strip() else line for line in text[start:].splitlines(True))
    script = tmp_path / "microgpt.py"
    script.write_text(text[:start] + 'if __name__ == "__main__":\n' + guarded)
    backend = load_script_backend(script)
    params = backend.init_params(SMALL, random.Random(0))
    assert len(backend.train(params, SMALL, [[4, 0, 1, 4]], Schedule(3)).losses) == 3
    assert backend.sample_next([0.0, 50.0], 1.0, random.Random(0)) == 1


def test_an_update_in_a_function_of_the_script_is_found(tmp_path):
    text = CORRECT.read_text()
    inline = text[text.index("    lr_t = learning_rate"): text.index("    print(f\"step {step + 1:4d}")]
    helper = "def adam_step(step):\n" + inline + "\n\n"  # the loop body's lines: already indented
    text = text.replace(inline, "    adam_step(step)\n").replace("num_steps = 1000\n", helper + "num_steps = 1000\n")
    script = tmp_path / "microgpt.py"
    script.write_text(text)
    backend = load_script_backend(script)
    node = backend.value(1.0)
    opt = backend.adam([node], AdamHyper(lr=0.1))
    node.grad = -3.0
    opt.step(0, 10)
    assert node.data == pytest.approx(1.1) and [float(x) for x in opt.m] == pytest.approx([-0.45])


def test_a_script_at_its_first_part_is_already_a_script(tmp_path):
    script = tmp_path / "microgpt.py"
    script.write_text("docs = open('input.txt').read().split()\n"
                      "uchars = sorted(set(''.join(docs)))\nBOS = len(uchars)\nvocab_size = len(uchars) + 1\n")
    backend = find_backend(str(script)).backend  # not imported: input.txt is never opened
    tok = backend.build_tokenizer(["bca"])
    assert (tok.chars, tok.bos, tok.vocab_size) == (["a", "b", "c"], 3, 4)
    with pytest.raises(NotImplementedError, match="class `Value`"):
        backend.value(1.0)


def test_a_while_loop_over_the_positions_samples_too(tmp_path):
    backend = backend_from(
        tmp_path,
        "    for pos_id in range(block_size):\n        logits = gpt(token_id, pos_id, keys, values)\n",
        "    pos_id = 0\n    while pos_id < block_size:\n        pos_id += 1\n"
        "        logits = gpt(token_id, pos_id - 1, keys, values)\n")
    params = backend.init_params(SMALL, random.Random(0))
    drawn = backend.generate(params, SMALL, 1.0, random.Random(3))
    assert all(0 <= i < SMALL.bos for i in drawn) and len(drawn) <= SMALL.block_size


def test_an_mlp_whose_input_is_normalised_inline_is_still_found(tmp_path):
    backend = backend_from(tmp_path, "        x = rmsnorm(x)\n        x = linear(x, state_dict[f\"layer{li}.mlp_fc1\"])\n",
                           "        x = linear(rmsnorm(x), state_dict[f\"layer{li}.mlp_fc1\"])\n")
    # fc1 = [I; -I], fc2 = [I, I]: the MLP of x is |x| (no rmsnorm: the contract's mlp starts at fc1)
    assert backend.mlp([3.0, -2.0], [[1, 0], [0, 1], [-1, 0], [0, -1]], [[1, 0, 1, 0], [0, 1, 0, 1]]) == [3.0, 2.0]


@pytest.mark.parametrize("script", [CORRECT, VARIANT], ids=["microgpt", "variant"])
def test_a_tokenizer_still_encodes_after_model_calls(script):
    # The model calls set the script's uchars, BOS and vocab_size to a model's sizes; the
    # tokenizer must not see them afterwards.
    backend = load_script_backend(script)
    docs = ["emma", "ava"]
    tok = backend.build_tokenizer(docs)
    backend.generate(backend.init_params(SMALL, random.Random(0)), SMALL, 1.0, random.Random(1))
    assert tok.sequence("ave") == [4, 0, 3, 1, 4]
    assert backend.build_tokenizer(docs).vocab_size == 5
