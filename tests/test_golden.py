"""The golden traces: reproducible byte for byte, tied to the shipped data, self-describing."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest

from microgpt_spec import data
from microgpt_spec.spec import golden, oracle
from microgpt_spec.spec.contract import param_shapes

TRACE_NAMES = list(golden.TRACES)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("golden")
    golden.write_traces(directory)
    return directory


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_regenerating_gives_the_committed_bytes(regenerated, name):
    committed = (golden.GOLDEN_DIR / f"{name}.json").read_bytes()
    fresh = (regenerated / f"{name}.json").read_bytes()
    assert fresh == committed, golden.describe_difference(committed.decode(), fresh.decode())
    assert (regenerated / f"{name}.json").stat().st_mode & 0o444 == 0o444  # readable by all


def test_check_passes_on_the_committed_files():
    assert golden.check() == []


def test_check_fails_with_a_clear_message_on_a_changed_number(tmp_path, capsys):
    for name in TRACE_NAMES:
        shutil.copy(golden.GOLDEN_DIR / f"{name}.json", tmp_path)
    path = tmp_path / "train-default.json"
    text = path.read_text()
    first_loss = re.search(r'"losses": \[([-0-9.e]+)', text).group(1)
    path.write_text(text.replace(first_loss, repr(float(first_loss) + 0.001), 1))
    assert golden.main(["--check", "--dir", str(tmp_path)]) == 1
    message = capsys.readouterr().err
    assert "train-default.json" in message and "losses[0]" in message
    assert "train-small.json" not in message and "python -m microgpt_spec.spec.golden" in message


def test_check_reports_a_missing_file(tmp_path):
    assert any("missing" in problem for problem in golden.check(tmp_path))


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_trace_was_made_from_the_shipped_names_file(name):
    recipe = golden.load_trace(name)["recipe"]
    assert recipe["data_file"] == data.NAMES_PATH.name
    assert recipe["data_sha256"] == data.sha256_of(data.NAMES_PATH) == data.NAMES_SHA256
    assert recipe["num_docs"] == len(data.load_docs())


def test_load_docs_reads_the_file_as_the_oracle_defines_documents():
    assert data.load_docs() == oracle.documents(data.NAMES_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_trace_describes_itself(name):
    trace = golden.load_trace(name)
    assert trace["format"] == golden.GOLDEN_FORMAT
    assert trace["generator"] == "microgpt_spec.spec.golden"
    assert trace["regenerate"] == "python -m microgpt_spec.spec.golden"
    assert trace["check"] == "python -m microgpt_spec.spec.golden --check"
    assert trace["tolerances"]["loss_rtol"] == 1e-10 and trace["tolerances"]["param_atol"] == 1e-9
    assert "summation" in trace["tolerances"]["why"]
    assert trace["recipe"]["seed"] == 42 and trace["recipe"]["num_steps"] == 1000
    assert len(trace["losses"]) == trace["recipe"]["steps_run"] == len(trace["docs"])


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_recipe_helpers_rebuild_the_document_order_and_initial_weights(name):
    trace = golden.load_trace(name)
    start = golden.start_of_run(trace["recipe"])
    steps = trace["recipe"]["steps_run"]
    assert start.docs[:steps] == trace["docs"]
    assert start.sequences[:steps] == trace["sequences"]
    assert "".join(start.chars) == trace["vocabulary"]
    assert start.config == golden.recipe_config(trace["recipe"])
    params = golden.initial_params(trace["recipe"])
    assert {k: (len(v), len(v[0])) for k, v in params.items()} == param_shapes(start.config)
    if "params" in trace["initial"]:
        assert {k: [[golden.rounded(x) for x in row] for row in rows] for k, rows in params.items()} \
            == trace["initial"]["params"]
    else:
        assert [golden.rounded(x) for x in params["wte"][0][:3]] == trace["initial"]["first_weights"]
        for matrix, total in trace["initial"]["sums"].items():
            assert golden.rounded(math.fsum(x for row in params[matrix] for x in row)) == total


def test_default_trace_is_the_reference_recipe():
    trace = golden.load_trace("train-default")
    assert trace["recipe"]["config"] == {"vocab_size": 27, "n_layer": 1, "n_embd": 16, "n_head": 4, "block_size": 16}
    assert trace["recipe"]["hyper"] == {"lr": 0.01, "beta1": 0.85, "beta2": 0.99, "eps": 1e-8}
    assert len(trace["final"]["entries"]) == 32
    assert {entry[0] for entry in trace["final"]["entries"]} == set(param_shapes(golden.recipe_config(trace["recipe"])))
    # every step starts near the uniform guess log(27) ~ 3.30 and no loss is wild
    assert all(2.5 < loss < 4.0 for loss in trace["losses"])


def test_small_trace_moves_every_parameter_that_gets_a_gradient():
    trace = golden.load_trace("train-small")
    before, after = trace["initial"]["params"], trace["final"]["params"]
    block = trace["recipe"]["config"]["block_size"]
    read = {t for s in trace["sequences"] for t in s[: min(block, len(s) - 1)]}  # inputs, after the cut
    unused_chars = set(range(trace["recipe"]["config"]["vocab_size"])) - read
    for name in before:
        for r, (row0, row1) in enumerate(zip(before[name], after[name])):
            if name == "wte" and r in unused_chars:
                assert row0 == row1  # zero gradient at every step: Adam's moments stay 0
            else:
                # a step moves by at most ~lr = 0.01; 3 steps by well under 0.1
                assert all(a != b and abs(a - b) < 0.1 for a, b in zip(row0, row1))


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_files_are_small_sorted_and_rounded(name):
    path = golden.GOLDEN_DIR / f"{name}.json"
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 100_000 and text.endswith("}\n")
    assert golden.render(json.loads(text)) + "\n" == text  # sorted keys, indent 1, nothing else
    for number in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text):
        digits = number.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= golden.SIGNIFICANT_DIGITS, number


def test_start_of_run_refuses_a_different_data_file():
    recipe = dict(golden.load_trace("train-small")["recipe"], data_sha256="0" * 64)
    with pytest.raises(golden.GoldenError, match="regenerate|python -m microgpt_spec.spec.golden"):
        golden.start_of_run(recipe)


def test_load_trace_names_a_missing_trace():
    with pytest.raises(golden.GoldenError, match="no-such-trace"):
        golden.load_trace("no-such-trace")
