"""The contract's own helpers: `Schedule`'s checks, `batch_for_step`, and `call_train`, which
reaches a backend written for contract 1.0 as well as a 2.0 one (chosen by signature)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from cli_helpers import TINY, cli
from spec_runs import spec_run

from microgpt_spec import checkpoint
from microgpt_spec.backends.pure import PureBackend
from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Schedule, TrainResult, batch_for_step, call_train

OLD_BACKEND = str(Path(__file__).with_name("old_contract_backend.py"))
SMALL = Config(vocab_size=5, n_embd=4, n_head=2, block_size=4)


# --------------------------------------------------------------------------- Schedule
def test_a_schedule_stops_at_num_steps_unless_told():
    assert Schedule(10).stop == 10 and Schedule(10, 2, 5).stop == 5
    assert list(Schedule(10, 2, 5).steps) == [2, 3, 4]
    assert list(Schedule(3, 3).steps) == []


@pytest.mark.parametrize("arguments, message", [
    ({"num_steps": 0}, "Schedule.num_steps must be at least 1"),
    ({"num_steps": 10, "batch_size": 0}, "Schedule.batch_size must be at least 1, got 0"),
    ({"num_steps": 10.0}, "Schedule.num_steps must be an int, got 10.0"),
    ({"num_steps": 10, "stop_step": "5"}, "Schedule.stop_step must be an int, got '5'"),
    ({"num_steps": 10, "start_step": True}, "Schedule.start_step must be an int, got True"),
    ({"num_steps": 10, "start_step": -1}, "0 <= start_step <= stop_step <= num_steps, got start_step=-1"),
    ({"num_steps": 10, "start_step": 6, "stop_step": 5}, "got start_step=6, stop_step=5, num_steps=10"),
    ({"num_steps": 10, "stop_step": 11}, "got start_step=0, stop_step=11, num_steps=10"),
])
def test_a_schedule_that_cannot_be_run_says_why(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Schedule(**arguments)


def test_batch_for_step_takes_consecutive_sequences_and_wraps():
    sequences = [[i] for i in range(5)]
    assert batch_for_step(sequences, 0, 3) == [[0], [1], [2]]
    assert batch_for_step(sequences, 1, 3) == [[3], [4], [0]]
    assert batch_for_step(sequences, 7, 1) == [[2]]


def test_a_train_result_hands_back_its_moments():
    result = TrainResult(params={}, m={"wte": [[1.0]]}, v={"wte": [[2.0]]})
    assert result.moments == Moments({"wte": [[1.0]]}, {"wte": [[2.0]]})


# --------------------------------------------------------------------------- call_train
class Recorder:
    """Records how `train` was called."""

    calls: list

    def record(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return "result"


class Current(Recorder):
    def __init__(self):
        self.calls = []

    def train(self, params, config, sequences, schedule, *, hyper=AdamHyper(), moments=None, on_step=None):
        return self.record(params, config, sequences, schedule, hyper=hyper, moments=moments, on_step=on_step)


class Old(Recorder):
    def __init__(self):
        self.calls = []

    def train(self, params, config, sequences, num_steps, **options):
        return self.record(params, config, sequences, num_steps, **options)


class OldWithoutBatches(Recorder):
    def __init__(self):
        self.calls = []

    def train(self, params, config, sequences, num_steps, *, hyper=AdamHyper(), start_step=0, stop_step=None,
              m=None, v=None, on_step=None):
        return self.record(params, config, sequences, num_steps)


def test_call_train_passes_the_schedule_to_a_current_backend():
    backend, schedule, moments = Current(), Schedule(10, 2, 5), Moments({"a": [[1.0]]}, {"a": [[2.0]]})
    assert call_train(backend, "p", "c", "s", schedule, moments=moments) == "result"
    assert backend.calls == [(("p", "c", "s", schedule), {"hyper": AdamHyper(), "moments": moments, "on_step": None})]


def test_call_train_spreads_the_schedule_out_for_a_contract_1_backend():
    backend, step = Old(), (lambda s, loss: None)
    moments = Moments({"a": [[1.0]]}, {"a": [[2.0]]})
    call_train(backend, "p", "c", "s", Schedule(10, 2, 5), moments=moments, on_step=step)
    call_train(backend, "p", "c", "s", Schedule(10, batch_size=4))
    first, second = backend.calls
    assert first == (("p", "c", "s", 10), {"hyper": AdamHyper(), "start_step": 2, "stop_step": 5,
                                           "m": moments.m, "v": moments.v, "on_step": step})
    assert second[0] == ("p", "c", "s", 10) and second[1]["batch_size"] == 4 and second[1]["m"] is None


def test_batch_size_goes_only_to_a_contract_1_backend_that_takes_it():
    backend = OldWithoutBatches()
    call_train(backend, "p", "c", "s", Schedule(3))  # batch 1: the parameter is never named
    assert backend.calls == [(("p", "c", "s", 3), {})]
    with pytest.raises(NotImplementedError, match="training: batches"):
        call_train(backend, "p", "c", "s", Schedule(3, batch_size=2))


def test_a_signature_without_names_is_taken_as_current():
    class Forwarding(Recorder):
        def __init__(self):
            self.calls = []

        def train(self, *args, **kwargs):
            return self.record(*args, **kwargs)

    backend = Forwarding()
    call_train(backend, "p", "c", "s", Schedule(3))
    assert backend.calls[0][0][3] == Schedule(3)


def test_a_contract_1_backend_trains_exactly_like_the_current_one():
    from old_contract_backend import Backend as OldBackend

    params = PureBackend().init_params(SMALL, random.Random(0))
    sequences = [[4, 0, 1, 4], [4, 2, 3, 4], [4, 1, 4]]
    schedule = Schedule(6, 1, 4, batch_size=2)
    old = call_train(OldBackend(), params, SMALL, sequences, schedule)
    new = call_train(PureBackend(), params, SMALL, sequences, schedule)
    assert (old.losses, old.params, old.next_step) == (new.losses, new.params, new.next_step)


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_a_contract_1_backend_passes_the_training_area(tmp_path):
    report = spec_run(OLD_BACKEND, tmp_path / "report.json", ["training"])
    assert report["areas"]["training"]["verdict"] == "PASS", report["stdout"][-3000:]


def test_a_contract_1_backend_trains_from_the_command_line(capsys, names_file, tmp_path):
    for name, backend in (("old", OLD_BACKEND), ("pure", "pure")):
        code, _, err = cli(capsys, "train", "--data", names_file, "--out", tmp_path / name, *TINY, "--steps", "4",
                           "--samples", "0", "--backend", backend, "--batch-size", "2", "--stop-at", "2")
        assert code == 0, err
        code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / name)
        assert code == 0, err
    old, pure = checkpoint.load(tmp_path / "old"), checkpoint.load(tmp_path / "pure")
    assert old.losses == pure.losses and old.params == pure.params


def test_a_contract_1_backend_without_batches_gets_the_one_message(capsys, names_file, tmp_path):
    code, _, err = cli(capsys, "train", "--data", names_file, "--out", tmp_path / "run", *TINY, "--steps", "2",
                       "--backend", f"{OLD_BACKEND}:WithoutBatches", "--batch-size", "2")
    assert code == 2 and "cannot train batches" in err and "--batch-size 1" in err, err
    assert "Traceback" not in err


def test_every_area_record_has_its_test_module_and_conformance_entry():
    """A new area is one record in contract.AREA_TABLE plus spec/areas/NAME.py (and the
    one-line conformance/test_NAME.py that binds it): nothing else to keep in step."""
    root = Path(__file__).parents[1]
    for area in contract.AREA_TABLE:
        assert (root / "spec" / "areas" / f"{area.name}.py").is_file(), area.name
        assert (root / "conformance" / f"test_{area.name}.py").is_file(), area.name
    modules = {p.stem for p in (root / "spec" / "areas").glob("*.py") if p.stem != "__init__"}
    assert modules == {area.name for area in contract.AREA_TABLE}
