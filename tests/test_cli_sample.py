"""`microgpt-spec sample`: names from a checkpoint, on any backend, reproducibly."""

from __future__ import annotations

from cli_helpers import NAMES, TINY, cli

import contextlib
import io
import json

import pytest

from microgpt_spec.cli import main
from microgpt_spec.registry import BackendLoadError, find_backend



def has_numpy() -> bool:
    try:
        find_backend("numpy")
    except BackendLoadError:
        return False
    return True


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained for 30 steps (numpy if it loads, else pure), and what train printed."""
    folder = tmp_path_factory.mktemp("sample")
    data = folder / "names.txt"
    data.write_text("\n".join(NAMES) + "\n")
    backend = "numpy" if has_numpy() else "pure"
    out = io.StringIO()  # capsys is per test; this fixture is per module
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["train", "--backend", backend, "--data", str(data), "--out", str(folder / "run"), *TINY,
                     "--steps", "30", "--samples", "8"])  # fmt: skip
    assert code == 0
    printed = [line.split(": ", 1)[1] for line in out.getvalue().splitlines() if line.startswith("sample ")]
    return folder / "run", printed


def test_prints_n_names_from_the_checkpoints_characters(capsys, trained):
    run, _ = trained
    code, out, err = cli(capsys, "sample", "--checkpoint", run, "--n", "12", "--seed", "3")
    assert code == 0, err
    names = out.split("\n")[:-1]
    assert len(names) == 12
    assert set("".join(names)) <= set("".join(NAMES))
    assert all(len(name) <= 6 for name in names)  # one draw per position, block_size positions


def test_without_seed_it_continues_the_training_run_and_repeats_trains_samples(capsys, trained):
    run, printed = trained
    code, out, _ = cli(capsys, "sample", "--checkpoint", run, "--n", "8")
    assert code == 0 and out.split("\n")[:-1] == printed


def test_the_same_seed_gives_the_same_names(capsys, trained):
    run, _ = trained
    first = cli(capsys, "sample", "--checkpoint", run, "--seed", "7")[1]
    again = cli(capsys, "sample", "--checkpoint", run, "--seed", "7")[1]
    other = cli(capsys, "sample", "--checkpoint", run, "--seed", "8")[1]
    assert first == again and first != other


def test_pure_and_numpy_print_the_same_names_from_one_checkpoint(capsys, trained):
    if not has_numpy():
        pytest.skip("the numpy backend does not load")
    run, _ = trained
    for seed in ("1", "42"):
        pure = cli(
            capsys, "sample", "--checkpoint", run / "checkpoint.json", "--seed", seed, "--backend", "pure"
        )
        numpy = cli(
            capsys, "sample", "--checkpoint", run / "checkpoint.json", "--seed", seed, "--backend", "numpy"
        )
        assert pure == numpy and pure[0] == 0


def test_temperature_changes_the_draws(capsys, trained):
    run, _ = trained
    cold = cli(capsys, "sample", "--checkpoint", run, "--seed", "5", "--n", "30", "--temperature", "0.05")[
        1
    ]
    hot = cli(capsys, "sample", "--checkpoint", run, "--seed", "5", "--n", "30", "--temperature", "5")[1]
    assert len(set(cold.split("\n"))) < len(set(hot.split("\n")))  # near-greedy draws repeat themselves


def test_an_unfinished_checkpoint_samples_with_a_notice(capsys, tmp_path):
    data = tmp_path / "names.txt"
    data.write_text("\n".join(NAMES) + "\n")
    cli(
        capsys, "train", "--data", data, "--out", tmp_path / "run", *TINY, "--steps", "10", "--stop-at", "2"
    )
    code, out, err = cli(capsys, "sample", "--checkpoint", tmp_path / "run", "--n", "3")
    assert code == 0 and len(out.split("\n")) == 4
    assert "stopped at step 2 of 10" in err


# --------------------------------------------------------------------- bad input
@pytest.fixture
def copy_of_checkpoint(trained, tmp_path):
    path = tmp_path / "checkpoint.json"
    path.write_text((trained[0] / "checkpoint.json").read_text())
    return path


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["params"]["lm_head"].pop(), "'lm_head' should be"),
        (lambda d: d["params"].pop("wpe"), "missing ['wpe']"),
        (lambda d: d["config"].update(n_layer=2), "missing ['layer1.attn_wq'"),
        (lambda d: d["chars"].append("~"), "make a vocabulary of"),
    ],
)
def test_a_checkpoint_that_does_not_match_its_config(capsys, copy_of_checkpoint, change, message):
    code, out, err = cli(capsys, "sample", "--checkpoint", edit(copy_of_checkpoint, change))
    assert code == 2 and message in err and out == "" and "Traceback" not in err


def test_a_truncated_checkpoint(capsys, copy_of_checkpoint):
    copy_of_checkpoint.write_text(copy_of_checkpoint.read_text()[:-200])
    code, _, err = cli(capsys, "sample", "--checkpoint", copy_of_checkpoint)
    assert code == 2 and "truncated or corrupted" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--checkpoint", "no/such/run"], "no checkpoint at no/such/run/checkpoint.json"),
        (["--temperature", "-1"], "--temperature must be a positive number"),
        (["--backend", "no_such_backend_anywhere"], "no registered backend"),
    ],
)
def test_bad_options(capsys, trained, argv, message):
    argv = argv if "--checkpoint" in argv else ["--checkpoint", trained[0], *argv]
    code, _, err = cli(capsys, "sample", *argv)
    assert code == 2 and message in err
