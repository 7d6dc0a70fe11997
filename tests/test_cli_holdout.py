"""`microgpt-spec train --holdout F --batch-size B`: the held-out split, the held-out and
training losses, batches in checkpoints and on resume, and batch 1 as the reference step.

Like test_cli_train.py, the runs are in this process on a tiny model (4 dimensions, 2
heads, 6 positions) and a 20-name file: a step takes milliseconds.
"""

from __future__ import annotations

from cli_helpers import NAMES, TINY, cli

import json
import random
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgpt_spec import checkpoint, runs
from microgpt_spec.artifacts import read_metrics_csv
from microgpt_spec.recipe import reference_run
from microgpt_spec.registry import BackendLoadError, find_backend
from microgpt_spec.runs import (
    heldout_count,
    mean_document_loss,
    prepare_documents,
    split,
    training_sample,
)
from microgpt_spec.spec.contract import AdamHyper, Config

TINY_CONFIG = {"n_embd": 4, "n_head": 2, "block_size": 6}


def train(capsys, names_file, out, *extra):
    return cli(capsys, "train", "--data", names_file, "--out", out, *TINY, "--samples", "0", *extra)


def backend(name: str):
    try:
        return find_backend(name).backend
    except BackendLoadError as error:
        pytest.skip(f"the {name} backend does not load: {error}")


def sequences_of(state: checkpoint.Checkpoint, docs: list[str]) -> list[list[int]]:
    """[BOS] + ids + [BOS] with the checkpoint's own characters."""
    bos = len(state.chars)
    return [[bos] + [state.chars.index(c) for c in doc] + [bos] for doc in docs]


def shuffled_split(names_file, fraction: float, seed: int = 42) -> tuple[list[str], list[str]]:
    documents, _ = prepare_documents(names_file, 6, "truncate", seed, fraction)
    return split(documents.docs, documents.source)


# --------------------------------------------------------------------- the split
def test_the_split_is_the_tail_of_the_reference_shuffle(names_file):
    training, heldout = shuffled_split(names_file, 0.25)
    shuffled = list(NAMES)
    random.Random(42).shuffle(shuffled)  # the reference's shuffle
    assert len(heldout) == 5 and heldout == shuffled[15:] and training == shuffled[:15]
    assert not set(training) & set(heldout)


def test_the_seed_fixes_the_split(names_file):
    assert shuffled_split(names_file, 0.25) == shuffled_split(names_file, 0.25)
    assert shuffled_split(names_file, 0.25, seed=1) != shuffled_split(names_file, 0.25)


def test_holdout_zero_holds_out_nothing(names_file):
    training, heldout = shuffled_split(names_file, 0.0)
    assert heldout == [] and sorted(training) == sorted(NAMES)


@given(st.integers(2, 5000), st.floats(0.0, 0.99))
def test_the_held_out_count_is_the_rounded_fraction(num_docs, fraction):
    count = round(fraction * num_docs)
    if (fraction > 0 and count == 0) or count == num_docs:  # holds out nothing, or everything
        with pytest.raises(runs.RunError):
            heldout_count(num_docs, fraction)
        return
    assert heldout_count(num_docs, fraction) == count
    training, heldout = split(list(range(num_docs)), prepare_source(num_docs, count))
    assert training + heldout == list(range(num_docs)) and len(heldout) == count


def prepare_source(num_docs: int, heldout_docs: int) -> checkpoint.DataSource:
    return checkpoint.DataSource("x", "0" * 64, num_docs, "truncate", heldout_docs / num_docs, heldout_docs)


def test_the_training_sample_spreads_over_the_training_documents():
    assert training_sample(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert training_sample(list(range(3)), 5) == [0, 1, 2]  # never more than there are


@pytest.mark.parametrize(
    "fraction, message",
    [("0.01", "holds out none"), ("0.999", "leaves none to train on")],
)
def test_a_holdout_that_cannot_split_gets_one_message(capsys, names_file, tmp_path, fraction, message):
    code, _, err = train(capsys, names_file, tmp_path / "run", "--holdout", fraction)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("fraction", ["1", "-0.1", "half"])
def test_holdout_must_be_a_fraction_below_1(capsys, names_file, tmp_path, fraction):
    with pytest.raises(SystemExit) as exit:
        train(capsys, names_file, tmp_path / "run", "--holdout", fraction)
    assert exit.value.code == 2 and "--holdout" in capsys.readouterr().err


# --------------------------------------------------------------------- held-out and training loss
@pytest.mark.parametrize("name, batch", [("pure", "1"), ("numpy", "3")])
def test_the_reported_losses_are_means_of_loss_and_grads(capsys, names_file, tmp_path, name, batch):
    """Held-out loss = mean over the held-out docs of loss_and_grads, at the final weights;
    the training loss the same over an evenly spread sample of as many training docs.
    (Batch 3 over 5 documents: one full batch and a remainder of 2.)"""
    be = backend(name)
    code, out, err = train(capsys, names_file, tmp_path / "run", "--backend", name, "--steps", "6",
                           "--holdout", "0.25", "--batch-size", batch)  # fmt: skip
    assert code == 0, err
    state = checkpoint.load(tmp_path / "run")
    assert (state.data.holdout, state.data.heldout_docs) == (0.25, 5)
    training, heldout = shuffled_split(names_file, 0.25)

    def mean_loss(docs):
        losses = [be.loss_and_grads(state.params, state.config, seq)[0] for seq in sequences_of(state, docs)]
        return sum(float(x) for x in losses) / len(losses)

    [evaluation] = state.evals
    assert evaluation.step == 6 and evaluation.docs == 5
    assert evaluation.heldout_loss == pytest.approx(mean_loss(heldout), rel=1e-12)
    assert evaluation.train_loss == pytest.approx(mean_loss(training_sample(training, 5)), rel=1e-12)
    assert f"held-out loss {evaluation.heldout_loss:.4f} | train loss {evaluation.train_loss:.4f}" in out
    assert (tmp_path / "run" / "eval.csv").read_text().splitlines()[1].startswith("6,")


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 8])
def test_mean_document_loss_with_any_batch_size(batch_size):
    be = backend("numpy")
    config = Config(vocab_size=5, **TINY_CONFIG)
    params = be.init_params(config, random.Random(0))
    rng = random.Random(1)
    sequences = [[4] + [rng.randrange(4) for _ in range(rng.randrange(1, 9))] + [4] for _ in range(5)]
    expected = sum(be.loss_and_grads(params, config, seq)[0] for seq in sequences) / 5
    got = mean_document_loss(be, params, config, sequences, AdamHyper(), batch_size)
    assert got == pytest.approx(expected, rel=1e-12)


def test_eval_every_adds_evaluations_on_the_way(capsys, names_file, tmp_path):
    code, out, err = train(capsys, names_file, tmp_path / "run", "--steps", "5", "--holdout", "0.25",
                           "--eval-every", "2")  # fmt: skip
    assert code == 0, err
    assert [e.step for e in checkpoint.load(tmp_path / "run").evals] == [2, 4, 5]
    assert out.count("eval at step") == 3 and "tokens/s" in out


def test_eval_every_needs_a_holdout(capsys, names_file, tmp_path):
    code, _, err = train(capsys, names_file, tmp_path / "run", "--eval-every", "2")
    assert code == 2 and "give --holdout too" in err


def test_training_never_sees_the_held_out_documents(capsys, names_file, tmp_path, monkeypatch):
    """Every train call that learns (lr > 0) gets the 15 training documents, never the 5
    held out; 15 documents, batch 5, 3 steps: one pass, with each step's tokens counted."""
    seen = {"training": [], "scoring": []}
    real_call_train = runs.call_train

    def recording_call_train(backend, params, config, sequences, *args, hyper, **options):
        seen["training" if hyper.lr > 0 else "scoring"].append([list(seq) for seq in sequences])
        return real_call_train(backend, params, config, sequences, *args, hyper=hyper, **options)

    monkeypatch.setattr(runs, "call_train", recording_call_train)
    code, _, err = train(capsys, names_file, tmp_path / "run", "--steps", "3", "--holdout", "0.25",
                         "--batch-size", "5")  # fmt: skip
    assert code == 0, err
    state = checkpoint.load(tmp_path / "run")
    training, heldout = (sequences_of(state, docs) for docs in shuffled_split(names_file, 0.25))
    assert seen["training"] and all(call == training for call in seen["training"])
    assert seen["scoring"][0] == heldout  # then the training sample (batch 5: one call each)
    tokens = [row["tokens"] for row in read_metrics_csv(tmp_path / "run" / "metrics.csv")]
    assert tokens == [sum(min(6, len(seq) - 1) for seq in training[i : i + 5]) for i in (0, 5, 10)]


# --------------------------------------------------------------------- batches and resuming
def test_batch_size_is_stored_and_kept_on_resume(capsys, names_file, tmp_path):
    assert train(capsys, names_file, tmp_path / "whole", "--steps", "6", "--batch-size", "4")[0] == 0
    train(capsys, names_file, tmp_path / "parts", "--steps", "6", "--batch-size", "4", "--stop-at", "2")
    assert checkpoint.load(tmp_path / "parts").batch_size == 4
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "parts", "--batch-size", "2")
    assert code == 2 and "batch-size 4" in err and "leave --batch-size out" in err
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "parts")
    assert code == 0, err
    whole, parts = checkpoint.load(tmp_path / "whole"), checkpoint.load(tmp_path / "parts")
    assert parts.batch_size == 4 and parts.losses == whole.losses and parts.params == whole.params


def test_holdout_is_kept_on_resume(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--holdout", "0.25", "--stop-at", "2")
    assert checkpoint.load(tmp_path / "run").evals == []  # no evaluation before the end
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run", "--holdout", "0.1")
    assert code == 2 and "holdout 0.25" in err
    code, out, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 0 and "eval at step 4" in out
    assert [e.step for e in checkpoint.load(tmp_path / "run").evals] == [4]


def test_batch_1_is_the_reference_step(capsys, names_file, tmp_path):
    """--batch-size 1 and no option at all run the reference recipe's steps exactly."""
    train(capsys, names_file, tmp_path / "default", "--steps", "5")
    train(capsys, names_file, tmp_path / "one", "--steps", "5", "--batch-size", "1")
    default, one = checkpoint.load(tmp_path / "default"), checkpoint.load(tmp_path / "one")
    reference = reference_run(backend("pure"), NAMES, num_steps=5, n_samples=0, config=TINY_CONFIG)
    assert default.losses == one.losses == reference.train.losses
    assert one.params == default.params == reference.train.params


NO_BATCHES = """
from microgpt_spec.backends.pure import PureBackend

class Backend(PureBackend):
    name = "no-batches"

    def train(self, params, config, sequences, schedule, **options):
        if schedule.batch_size > 1:
            raise NotImplementedError("training: batches")
        return super().train(params, config, sequences, schedule, **options)
"""


def test_a_backend_without_batches_gets_one_message(capsys, names_file, tmp_path):
    path = tmp_path / "no_batches.py"
    path.write_text(textwrap.dedent(NO_BATCHES))
    code, _, err = train(capsys, names_file, tmp_path / "run", "--backend", path, "--batch-size", "2")
    assert code == 2 and "no-batches cannot train batches" in err and "--batch-size 1" in err
    assert "Traceback" not in err
    assert train(capsys, names_file, tmp_path / "ok", "--backend", path, "--steps", "2")[0] == 0


# --------------------------------------------------------------------- the checkpoint format
def test_a_version_1_checkpoint_reads_as_batch_1_without_holdout(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "3", "--stop-at", "1")
    path = tmp_path / "run" / "checkpoint.json"
    state = checkpoint.load(path)
    data = json.loads(path.read_text())
    assert data["format_version"] == 3 and data["batch_size"] == 1 and data["evals"] == []
    del data["batch_size"], data["evals"], data["data"]["holdout"], data["data"]["heldout_docs"]
    del data["history"], data["backend"]  # version 1 held the history in the JSON
    data.update(format_version=1, losses=state.losses, step_seconds=state.step_seconds)
    path.write_text(json.dumps(data))
    (tmp_path / "run" / "checkpoint.history.csv").unlink()
    old = checkpoint.load(path)
    assert (old.batch_size, old.data.holdout, old.data.heldout_docs, old.evals) == (1, 0.0, 0, [])
    assert old.losses == state.losses and old.backend == ""
    code, out, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 0, err
    assert "backend pure" in out  # named in its written_by: "microgpt-spec, backend pure 1.0"
    assert json.loads(path.read_text())["format_version"] == checkpoint.FORMAT_VERSION


def test_a_version_2_checkpoint_needs_its_batch_size(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "2", "--batch-size", "3")
    path = tmp_path / "run" / "checkpoint.json"
    data = json.loads(path.read_text())
    del data["batch_size"]
    path.write_text(json.dumps(data))
    with pytest.raises(checkpoint.CheckpointError, match="fields missing: batch_size"):
        checkpoint.load(path)
