"""The checkpoint format, atomic writes and the run metrics (no training needed)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt_spec import artifacts, checkpoint, files
from microgpt_spec.checkpoint import Checkpoint, CheckpointError, DataSource
from microgpt_spec.spec.contract import AdamHyper, Config, param_shapes, zeros_like

CONFIG = Config(vocab_size=5, n_layer=1, n_embd=4, n_head=2, block_size=6)


def random_params(config: Config, rng: random.Random):
    return {
        name: [[rng.gauss(0, 1) for _ in range(cols)] for _ in range(rows)]
        for name, (rows, cols) in param_shapes(config).items()
    }


def make_checkpoint(seed: int = 0, next_step: int = 3) -> Checkpoint:
    rng = random.Random(seed)
    params = random_params(CONFIG, rng)
    return Checkpoint(
        config=CONFIG,
        chars=list("abcd"),
        seed=seed,
        num_steps=10,
        next_step=next_step,
        hyper=AdamHyper(),
        data=DataSource(path="/x/names.txt", sha256="0" * 64, num_docs=7, long_docs="truncate"),
        rng_state=rng.getstate(),
        params=params,
        m=random_params(CONFIG, rng),
        v=zeros_like(params),
        losses=[rng.random() for _ in range(next_step)],
        step_seconds=[0.5] * next_step,
    )


@pytest.fixture
def saved(tmp_path):
    state = make_checkpoint()
    return state, checkpoint.save(state, tmp_path)


# --------------------------------------------------------------------- round trip
def test_save_then_load_gives_back_every_field(saved):
    state, path = saved
    assert path.name == checkpoint.FILENAME
    loaded = checkpoint.load(path.parent)  # a run folder means the checkpoint inside it
    assert loaded.config == state.config and loaded.chars == state.chars
    assert (loaded.params, loaded.m, loaded.v) == (state.params, state.m, state.v)
    assert (loaded.seed, loaded.num_steps, loaded.next_step) == (0, 10, 3)
    assert loaded.losses == state.losses and loaded.hyper == state.hyper and loaded.data == state.data
    assert loaded.rng().random() == state.rng().random()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=4, max_size=4))
def test_floats_survive_the_json_text_bit_for_bit(values):
    state = make_checkpoint()
    state.params["wte"][0] = values
    back = checkpoint.from_json(json.loads(checkpoint.dumps(state)))
    assert [x.hex() for x in back.params["wte"][0]] == [float(x).hex() for x in values]


def test_the_file_names_the_reference_parameters_and_a_format_version(saved):
    _, path = saved
    data = json.loads(path.read_text())
    assert data["format"] == checkpoint.FORMAT and data["format_version"] == checkpoint.FORMAT_VERSION
    assert list(data["params"]) == list(param_shapes(CONFIG))
    assert data["config"] == {"vocab_size": 5, "n_layer": 1, "n_embd": 4, "n_head": 2, "block_size": 6}


def test_sampling_continues_the_saved_generator():
    rng = random.Random(42)
    rng.random()
    state = replace(make_checkpoint(), rng_state=rng.getstate())
    expected = [rng.random() for _ in range(3)]
    first, second = state.rng(), state.rng()
    assert [first.random() for _ in range(3)] == expected
    assert [second.random() for _ in range(3)] == expected  # each call starts at the saved state


# --------------------------------------------------------------------- broken checkpoints
def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_truncated_file_is_reported_as_such(saved):
    _, path = saved
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        checkpoint.load(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("[1, 2]", "not a microgpt-spec checkpoint"),
        ('{"format": "other"}', "not a microgpt-spec"),
    ],
)
def test_files_that_are_no_checkpoint(tmp_path, content, message):
    path = tmp_path / "checkpoint.json"
    path.write_text(content)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)


def test_a_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        checkpoint.load(tmp_path / "nowhere")


def test_a_binary_file(tmp_path):
    path = tmp_path / "checkpoint.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError, match="not UTF-8"):
        checkpoint.load(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["params"]["wte"].pop(), "'wte' should be 5x4"),
        (lambda d: d["m"]["wpe"][0].append(0.0), "m does not match its config: parameter 'wpe'"),
        (lambda d: d["params"].update({"layer0.attn_wz": d["params"].pop("layer0.attn_wq")}), "missing"),
        (lambda d: d["config"].update(n_embd=8), "does not match its config"),
        (lambda d: d["config"].update(n_head=3), "config is not valid"),
        (lambda d: d["config"].update(vocab_size=9), "vocabulary of 5"),
        (lambda d: d["chars"].reverse(), "sorted and distinct"),
        (lambda d: d.update(format_version=99), "newer than this program reads"),
        (lambda d: d.pop("v"), "fields missing: v"),
        (lambda d: d.update(next_step=11), "past num_steps"),
        (lambda d: d.update(history="../elsewhere.csv"), "history must name a file beside"),
        (lambda d: d.update(backend=3), "backend must be text"),
        (lambda d: d["params"]["wte"][0].__setitem__(0, "x"), "not a number"),
        (lambda d: d["rng_state"].update(internal=[1, 2, 3]), "rng_state"),
        (lambda d: d["adam"].pop("eps"), "adam must have"),
    ],
)
def test_a_checkpoint_that_does_not_hold_together_is_refused(saved, change, message):
    _, path = saved
    edit_json(path, change)
    with pytest.raises(CheckpointError, match=message) as error:
        checkpoint.load(path)
    assert str(path) in str(error.value)  # the message says which file


# --------------------------------------------------------------------- the history file
def history_of(path):
    return path.with_name("checkpoint.history.csv")


def test_the_history_is_a_file_beside_the_checkpoint(saved):
    state, path = saved
    assert json.loads(path.read_text())["history"] == "checkpoint.history.csv"
    lines = history_of(path).read_text().splitlines()
    assert lines[0] == "step,loss,seconds"
    assert lines[1] == f"1,{state.losses[0]!r},0.5" and len(lines) == 1 + state.next_step


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda text: "step,loss,seconds\n", "has 0 steps of the 3 done"),
        (lambda text: "", "does not start with 'step,loss,seconds'"),
        (lambda text: text.rsplit("\n", 2)[0] + "\n", "has 2 steps of the 3 done"),
        (lambda text: text.replace("\n2,", "\n7,"), "line 3 of its history"),
        (lambda text: text.replace(",0.5\n", ",x\n", 1), "line 2 of its history"),
        (lambda text: text.replace("step,loss,seconds", "loss"), "does not start with"),
    ],
)  # fmt: skip
def test_a_history_that_does_not_fit_is_refused(saved, change, message):
    _, path = saved
    history_of(path).write_text(change(history_of(path).read_text()))
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)


def test_a_missing_history_stops_a_resume_but_not_sampling(saved):
    state, path = saved
    history_of(path).unlink()
    with pytest.raises(CheckpointError, match="history .* is missing; sampling needs only the checkpoint"):
        checkpoint.load(path)
    alone = checkpoint.load(path, with_history=False)
    assert alone.params == state.params and alone.next_step == 3 and alone.losses == []


def test_steps_after_the_checkpoints_are_a_save_that_did_not_finish(saved):
    state, path = saved
    with history_of(path).open("a") as history:
        history.write("4,2.5,0.5\n5,2.4")  # appended, then stopped before the JSON was replaced
    assert checkpoint.load(path).losses == state.losses


def test_a_writer_appends_only_the_new_steps_and_starts_whole(tmp_path):
    writer = checkpoint.CheckpointWriter(tmp_path)
    state = make_checkpoint(next_step=3)
    writer.save(state)
    history_of(tmp_path / "checkpoint.json").write_text("garbage that a first save replaces\n")
    writer = checkpoint.CheckpointWriter(tmp_path)  # a new session
    writer.save(state)
    grown = replace(state, next_step=5, losses=state.losses + [1.5, 1.25], step_seconds=[0.5] * 5)
    before = history_of(tmp_path / "checkpoint.json").read_text()
    writer.save(grown)
    after = history_of(tmp_path / "checkpoint.json").read_text()
    assert after == before + "4,1.5,0.5\n5,1.25,0.5\n"
    assert checkpoint.load(tmp_path).losses == grown.losses


def test_a_version_2_checkpoint_with_its_history_inside_still_loads(saved):
    state, path = saved
    edit_json(path, lambda d: d.update(format_version=2, losses=state.losses, step_seconds=state.step_seconds))
    history_of(path).unlink()
    assert checkpoint.load(path).losses == state.losses
    edit_json(path, lambda d: d["losses"].pop())
    with pytest.raises(CheckpointError, match="2 losses and 3 step times for 3 steps"):
        checkpoint.load(path)


def test_non_finite_weights_are_not_saved(tmp_path):
    state = make_checkpoint()
    state.params["wte"][0][0] = math.nan
    with pytest.raises(CheckpointError, match="not finite"):
        checkpoint.save(state, tmp_path)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------- Ctrl-C during a save
# (the atomic writer itself: tests/test_files.py)
def test_ctrl_c_during_a_write_waits_for_the_write_to_finish(tmp_path):
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with artifacts.interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # still runs: the signal is held back
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_an_append_neither_loses_nor_repeats_lines(tmp_path, monkeypatch):
    grown = artifacts.GrowingFile(tmp_path / "g.csv", "n\n")
    grown.sync(lambda i: f"{i}\n", 2)
    real_fsync = os.fsync

    def ctrl_c_while_flushing(fd):  # in the middle of the append
        os.kill(os.getpid(), signal.SIGINT)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", ctrl_c_while_flushing)
    with pytest.raises(KeyboardInterrupt):
        grown.sync(lambda i: f"{i}\n", 4)
    monkeypatch.undo()
    grown.sync(lambda i: f"{i}\n", 5)  # the save after the interruption
    assert (tmp_path / "g.csv").read_text() == "n\n0\n1\n2\n3\n4\n"


def test_sigterm_becomes_keyboard_interrupt_inside_the_block():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with artifacts.sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a point where the handler runs
            pytest.fail("SIGTERM did not interrupt")
    assert signal.getsignal(signal.SIGTERM) == before


# --------------------------------------------------------------------- metrics
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=120), st.integers(1, 60))
def test_running_mean_is_the_mean_of_the_trailing_window(losses, window):
    means = artifacts.running_means(losses, window)
    for i, mean in enumerate(means):
        recent = losses[max(0, i - window + 1) : i + 1]
        assert mean == pytest.approx(sum(recent) / len(recent), abs=1e-9)


def test_metrics_csv_round_trip(tmp_path):
    losses, seconds = [3.0, 2.0, 1.0], [0.1, 0.2, 0.3]
    path = files.write_atomically(tmp_path / "m.csv", artifacts.metrics_csv(losses, seconds, 0.01, 4))
    rows = artifacts.read_metrics_csv(path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [r["loss"] for r in rows] == losses
    assert [r["loss_mean"] for r in rows] == [3.0, 2.5, 2.0]
    assert [r["lr"] for r in rows] == pytest.approx([0.01, 0.0075, 0.005])


def test_loss_plot_is_a_png(tmp_path):
    path = artifacts.plot_losses({"a": [3.0, 2.5, 2.0], "b": [3.0, 2.6, 2.1]}, tmp_path / "loss.png", "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
