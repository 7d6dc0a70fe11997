"""`microgpt-spec train`: the files it writes, resuming, interruptions, bad input, and
the reference run's numbers.

Most tests run the command in this process (`cli.main`) on a tiny model (4 dimensions,
2 heads, 6 positions) and a 20-name file, so a step takes a few milliseconds.
"""

from __future__ import annotations

from cli_helpers import NAMES, TINY, cli

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from rich.console import Console

from microgpt_spec import artifacts, checkpoint, files
from microgpt_spec.artifacts import read_metrics_csv
from microgpt_spec.progress import PlainProgress, RichProgress, format_duration, progress_display
from microgpt_spec.registry import BackendLoadError, find_backend


REFERENCE_SAMPLES = (
    "kamon ann karai jaire vialan karia yeran anna areli kaina "
    "konna keylen liole alerin earan lenne kana lara alela anton"
).split()


def numpy_backend_or_skip():
    try:
        return find_backend("numpy")
    except BackendLoadError as error:
        pytest.skip(f"the numpy backend does not load: {error}")


def train(capsys, names_file, out, *extra):
    return cli(capsys, "train", "--data", names_file, "--out", out, *TINY, *extra)


def same_run(a, b) -> None:
    """Two checkpoints hold bit-identical training results."""
    assert (a.next_step, a.num_steps) == (b.next_step, b.num_steps)
    assert a.losses == b.losses
    assert a.params == b.params and a.m == b.m and a.v == b.v


# --------------------------------------------------------------------- a run and its files
def test_a_run_writes_checkpoint_metrics_and_plot(capsys, names_file, tmp_path):
    code, out, err = train(capsys, names_file, tmp_path / "run", "--steps", "5", "--samples", "3")
    assert code == 0, err
    state = checkpoint.load(tmp_path / "run")
    assert state.complete and len(state.losses) == 5 and state.chars == sorted(set("".join(NAMES)))
    assert state.config.n_embd == 4 and state.config.block_size == 6
    rows = read_metrics_csv(tmp_path / "run" / "metrics.csv")
    assert [r["loss"] for r in rows] == state.losses
    assert (tmp_path / "run" / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert f"final loss {state.losses[-1]:.4f}" in out
    assert out.count("sample ") == 3
    assert "wrote " in out and "checkpoint.json" in out
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]  # no temporaries


def test_without_a_terminal_progress_is_one_plain_line_per_step(capsys, names_file, tmp_path):
    code, out, _ = train(capsys, names_file, tmp_path / "run", "--steps", "4", "--samples", "0")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(lines) == 4
    assert lines[0].startswith("step 1 / 4 | loss ") and "mean" in lines[0] and "steps/s" in lines[0]
    assert lines[-1].endswith("left")
    assert "num docs: 20 | vocab size:" in out


def test_log_every_thins_the_lines(capsys, names_file, tmp_path):
    _, out, _ = train(
        capsys, names_file, tmp_path / "run", "--steps", "5", "--samples", "0", "--log-every", "2"
    )
    assert [line.split("|")[0].strip() for line in out.splitlines() if line.startswith("step")] == [
        "step 1 / 5", "step 2 / 5", "step 4 / 5", "step 5 / 5",
    ]  # fmt: skip  (the first step always: the run has started, and its first loss)


def test_an_existing_run_is_not_replaced_by_accident(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "2", "--samples", "0")
    code, _, err = train(capsys, names_file, tmp_path / "run", "--steps", "2")
    assert code == 2 and "already holds a run at step 2 of 2" in err and "--resume" in err
    code, _, err = train(
        capsys, names_file, tmp_path / "run", "--steps", "3", "--overwrite", "--samples", "0"
    )
    assert code == 0 and checkpoint.load(tmp_path / "run").num_steps == 3


def test_on_a_terminal_a_live_bar_shows_step_loss_mean_speed_and_time_left():
    console = Console(file=io.StringIO(), force_terminal=True, width=150)
    with RichProgress(4, [3.0, 2.0], console=console) as bar:
        bar.note("a notice")
        for step, loss in [(2, 1.5), (3, 1.0)]:
            bar.update(step, loss)
    shown = console.file.getvalue()
    assert "a notice" in shown and "step 4/4" in shown and "loss 1.0000 (mean 1.8750)" in shown
    assert "steps/s" in shown and "left" in shown


def test_progress_is_plain_lines_unless_standard_output_is_a_terminal(monkeypatch):
    assert isinstance(progress_display(3), PlainProgress)  # pytest captures stdout: no terminal
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert isinstance(progress_display(3), RichProgress)


@pytest.mark.parametrize(
    "seconds, shown", [(1.5, "1.5s"), (75, "1m15s"), (3725, "1h02m"), (float("nan"), "?")]
)
def test_durations_read_naturally(seconds, shown):
    assert format_duration(seconds) == shown


# --------------------------------------------------------------------- resuming
def test_stop_and_resume_gives_the_uninterrupted_run_bit_for_bit(capsys, names_file, tmp_path):
    assert train(capsys, names_file, tmp_path / "whole", "--steps", "7")[0] == 0
    code, _, err = train(capsys, names_file, tmp_path / "parts", "--steps", "7", "--stop-at", "2")
    assert code == 0 and "stopped at step 2 of 7" in err and "--resume" in err
    assert checkpoint.load(tmp_path / "parts").next_step == 2
    code, _, err = cli(
        capsys, "train", "--resume", "--out", tmp_path / "parts", "--stop-at", "5", "--save-every", "2"
    )
    assert code == 0, err
    code, out, err = cli(capsys, "train", "--resume", "--out", tmp_path / "parts")
    assert code == 0, err
    assert "resuming at step 6 of 7" in out
    same_run(checkpoint.load(tmp_path / "whole"), checkpoint.load(tmp_path / "parts"))
    whole_csv = read_metrics_csv(tmp_path / "whole" / "metrics.csv")
    parts_csv = read_metrics_csv(tmp_path / "parts" / "metrics.csv")
    assert [r["loss"] for r in whole_csv] == [r["loss"] for r in parts_csv]


def test_resume_from_another_folder_continues_into_out(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--stop-at", "2")
    code, _, err = cli(
        capsys, "train", "--resume", tmp_path / "run" / "checkpoint.json", "--out", tmp_path / "fork"
    )
    assert code == 0, err
    assert checkpoint.load(tmp_path / "run").next_step == 2  # the original stays as it was
    assert checkpoint.load(tmp_path / "fork").complete


def test_a_checkpoint_trained_by_pure_resumes_on_numpy(capsys, names_file, tmp_path):
    numpy_backend_or_skip()
    train(capsys, names_file, tmp_path / "p", "--steps", "6", "--stop-at", "3")
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "p", "--backend", "numpy")
    assert code == 0, err
    train(capsys, names_file, tmp_path / "whole", "--steps", "6")
    resumed, whole = checkpoint.load(tmp_path / "p"), checkpoint.load(tmp_path / "whole")
    assert resumed.losses[:3] == whole.losses[:3]
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-12)


def test_numpy_stop_and_resume_is_bit_identical(capsys, names_file, tmp_path):
    numpy_backend_or_skip()
    train(capsys, names_file, tmp_path / "whole", "--backend", "numpy", "--steps", "30")
    train(capsys, names_file, tmp_path / "parts", "--backend", "numpy", "--steps", "30", "--stop-at", "11")
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "parts", "--backend", "numpy")
    assert code == 0, err
    same_run(checkpoint.load(tmp_path / "whole"), checkpoint.load(tmp_path / "parts"))


def test_resuming_a_complete_run_trains_nothing(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "2")
    before = (tmp_path / "run" / "checkpoint.json").read_text()
    code, out, _ = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 0 and "complete (2 steps)" in out
    assert (tmp_path / "run" / "checkpoint.json").read_text() == before


@pytest.mark.parametrize(
    "option, value, recorded",
    [("--n-embd", "8", "n-embd 4"), ("--steps", "9", "steps 4"), ("--seed", "1", "seed 42"),
     ("--long-docs", "skip", "long-docs truncate")],
)  # fmt: skip
def test_resume_refuses_settings_other_than_the_checkpoints(
    capsys, names_file, tmp_path, option, value, recorded
):
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--stop-at", "1")
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run", option, value)
    assert code == 2 and recorded in err and f"leave {option} out" in err


def test_resume_refuses_data_with_other_characters(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--stop-at", "1")
    other = tmp_path / "other.txt"
    other.write_text("\n".join(NAMES + ["élan", "x-y"]) + "\n")
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run", "--data", other)
    assert code == 2
    assert "characters outside the checkpoint's vocabulary: '-é'" in err


def test_resume_refuses_other_documents_with_the_same_characters(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--stop-at", "1")
    other = tmp_path / "other.txt"
    other.write_text("\n".join(reversed(NAMES)) + "\n")
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run", "--data", other)
    assert code == 2 and "not the file this run trained on" in err


def test_resume_without_a_checkpoint(capsys, tmp_path):
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "empty")
    assert code == 2 and "no checkpoint at" in err


def test_resume_from_a_truncated_checkpoint(capsys, names_file, tmp_path):
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--stop-at", "1")
    path = tmp_path / "run" / "checkpoint.json"
    path.write_text(path.read_text()[:1000])
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 2 and "truncated or corrupted" in err


# --------------------------------------------------------------------- bad input
def bad_data(tmp_path, kind):
    path = tmp_path / "data.txt"
    if kind == "missing":
        return path
    path.write_bytes({"empty": b"\n  \n", "not UTF-8": b"anna\n\xffbob\n"}[kind])
    return path


@pytest.mark.parametrize(
    "kind, message",
    [("missing", "does not exist"), ("empty", "contains no names"), ("not UTF-8", "is not UTF-8 text")],
)
def test_unusable_data_files(capsys, tmp_path, kind, message):
    code, out, err = cli(
        capsys, "train", "--data", bad_data(tmp_path, kind), "--out", tmp_path / "run", *TINY
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "no_such_backend_anywhere"], "no registered backend, module or file"),
        (["--n-embd", "6", "--n-head", "4"], "must be a multiple of n_head"),
        (["--steps", "3", "--stop-at", "4"], "--stop-at 4 must be"),
        (["--temperature", "0"], "--temperature must be a positive number"),
    ],
)
def test_bad_options_get_one_message(capsys, names_file, tmp_path, argv, message):
    code, _, err = cli(capsys, "train", "--data", names_file, "--out", tmp_path / "run", *argv)
    assert code == 2 and message in err and err.count("\n") <= 8


def long_names_file(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("\n".join(NAMES + ["maximilian", "alexandria", "bo"]) + "\n")
    return path


def test_long_documents_are_truncated_by_default_with_a_notice(capsys, tmp_path):
    code, _, err = cli(
        capsys, "train", "--data", long_names_file(tmp_path), "--out", tmp_path / "r", *TINY, "--steps", "1"
    )
    assert code == 0
    assert "2 of 23 documents" in err and "longer than 5 characters" in err and "first 6 positions" in err
    assert checkpoint.load(tmp_path / "r").data.num_docs == 23


def test_long_documents_can_be_skipped(capsys, tmp_path):
    code, _, err = cli(capsys, "train", "--data", long_names_file(tmp_path), "--out", tmp_path / "r", *TINY,
                       "--steps", "1", "--long-docs", "skip")  # fmt: skip
    assert code == 0 and "skipped them" in err
    assert checkpoint.load(tmp_path / "r").data.num_docs == 21


def test_long_documents_can_be_refused(capsys, tmp_path):
    code, _, err = cli(capsys, "train", "--data", long_names_file(tmp_path), "--out", tmp_path / "r", *TINY,
                       "--long-docs", "refuse")  # fmt: skip
    assert code == 2 and "2 of 23 documents" in err and "--block-size 11" in err
    assert not (tmp_path / "r").exists()


NAN_BACKEND = """
from microgpt_spec.backends.pure import PureBackend

class Backend(PureBackend):
    name = "nan-after-3"

    def train(self, params, config, sequences, schedule, **options):
        result = super().train(params, config, sequences, schedule, **options)
        first = schedule.start_step
        result.losses = [float("nan") if first + i >= 3 else x for i, x in enumerate(result.losses)]
        return result
"""


def test_a_diverging_run_stops_and_keeps_the_last_finite_state(capsys, names_file, tmp_path):
    backend = tmp_path / "nan_backend.py"
    backend.write_text(NAN_BACKEND)
    code, _, err = train(
        capsys, names_file, tmp_path / "run", "--backend", backend, "--steps", "6", "--save-every", "1"
    )
    assert code == 2 and "training diverged: the loss of step 4 is nan" in err
    assert checkpoint.load(tmp_path / "run").next_step == 3


# --------------------------------------------------------------------- Ctrl-C and kill
SLOW_BACKEND = """
import time
from microgpt_spec.backends.pure import PureBackend

class Backend(PureBackend):
    name = "slow-pure"  # the pure backend, 50 ms slower per step: time to interrupt it

    def train(self, *args, on_step=None, **options):
        def slow_step(step, loss):
            time.sleep(0.05)
            if on_step is not None:
                on_step(step, loss)
        return super().train(*args, on_step=slow_step, **options)
"""


#: The command line in a child process, as the `microgpt-spec` script runs it.
CLI_COMMAND = [sys.executable, "-c", "import sys; from microgpt_spec.cli import main; sys.exit(main())"]


def wait_for_step(path, step, process, timeout=30.0) -> None:
    """Until the checkpoint at `path` has reached `step` (or the process ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and json.loads(path.read_text())["next_step"] >= step:
            return
        time.sleep(0.01)
    pytest.fail(f"no checkpoint at step {step} appeared (exit status {process.poll()})")


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_run_saves_its_last_good_state_and_resumes_exactly(
    capsys, names_file, tmp_path, signal_number
):
    slow = tmp_path / "slow_backend.py"
    slow.write_text(textwrap.dedent(SLOW_BACKEND))
    out = tmp_path / "run"
    command = [*CLI_COMMAND, "train", "--backend", str(slow), "--data", str(names_file),
               "--out", str(out), *TINY, "--steps", "40", "--save-every", "5"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_step(out / "checkpoint.json", 5, process)
        process.send_signal(signal_number)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    stopped = checkpoint.load(out)
    assert 5 <= stopped.next_step < 40
    assert len(read_metrics_csv(out / "metrics.csv")) == stopped.next_step
    # The interrupted run continues on the plain pure backend: checkpoints are backend-neutral.
    assert cli(capsys, "train", "--resume", "--out", out)[0] == 0
    assert train(capsys, names_file, tmp_path / "whole", "--steps", "40")[0] == 0
    same_run(checkpoint.load(tmp_path / "whole"), checkpoint.load(out))


# --------------------------------------------------------------------- the reference run
def test_pure_prints_the_reference_first_losses(capsys, reference_names, tmp_path):
    # The first two steps of the 1000-step run, then a stop: the whole run is marked slow.
    code, out, err = cli(capsys, "train", "--backend", "pure", "--data", reference_names,
                         "--out", tmp_path / "ref", "--stop-at", "2")  # fmt: skip
    assert code == 0, err
    assert "num docs: 32033 | vocab size: 27 | num params: 4192" in out
    assert "step    1 / 1000 | loss 3.3660 |" in out
    assert "step    2 / 1000 | loss 3.4243 |" in out
    assert checkpoint.load(tmp_path / "ref").losses[0] == pytest.approx(3.3659669475848504, rel=1e-12)


def assert_reference_results(out: str) -> None:
    assert "step 1000 / 1000 | loss 2.6497 |" in out
    assert "final loss 2.6497" in out
    printed = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("sample ")]
    assert printed == REFERENCE_SAMPLES


def test_numpy_prints_the_reference_run(capsys, reference_names, tmp_path):
    numpy_backend_or_skip()
    code, out, err = cli(
        capsys, "train", "--backend", "numpy", "--data", reference_names, "--out", tmp_path / "n"
    )
    assert code == 0, err
    assert_reference_results(out)
    # sample without --seed continues the run's generator: the same 20 names again
    code, sampled, _ = cli(capsys, "sample", "--checkpoint", tmp_path / "n", "--backend", "numpy")
    assert sampled.split() == REFERENCE_SAMPLES


@pytest.mark.slow
def test_pure_prints_the_whole_reference_run(capsys, reference_names, tmp_path):
    """All 1000 steps and the 20 samples of the pure backend, through the command line: the
    proof that the reference backend is the original program (its first two steps stand for
    it in the default run: tests/test_faithful.py). About 2.5 minutes of one core."""
    code, out, err = cli(
        capsys, "train", "--backend", "pure", "--data", reference_names, "--out", tmp_path / "p"
    )
    assert code == 0, err
    assert_reference_results(out)
    losses = checkpoint.load(tmp_path / "p").losses
    assert losses[0] == pytest.approx(3.3659669475848504, rel=1e-12)  # the original's step 1, to 12 digits
    assert losses[-1] == pytest.approx(2.6496944697407585, rel=1e-12)  # and step 1000


# --------------------------------------------------------------------- resuming on the run's backend
def test_resume_without_backend_continues_on_the_checkpoints_backend(capsys, names_file, tmp_path):
    numpy_backend_or_skip()
    _, _, err = train(capsys, names_file, tmp_path / "run", "--backend", "numpy", "--steps", "6", "--stop-at", "3")
    assert "continue with: microgpt-spec train --resume --out" in err and "--backend" not in err
    code, out, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 0, err
    assert "backend numpy" in out and "backend pure" not in out
    assert checkpoint.load(tmp_path / "run").backend == "numpy"


def test_a_backend_file_is_found_again_from_another_folder(capsys, names_file, tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "nan_free.py").write_text(NAN_BACKEND.replace(">= 3", ">= 99"))
    monkeypatch.chdir(tmp_path / "mine")
    train(capsys, names_file, tmp_path / "run", "--backend", "nan_free.py", "--steps", "4", "--stop-at", "2")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 0, err
    assert "backend nan-after-3" in out


def test_a_recorded_backend_that_no_longer_loads_is_one_message(capsys, names_file, tmp_path):
    backend = tmp_path / "gone.py"
    backend.write_text(NAN_BACKEND.replace(">= 3", ">= 99"))
    train(capsys, names_file, tmp_path / "run", "--backend", backend, "--steps", "4", "--stop-at", "2")
    backend.unlink()
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run")
    assert code == 2 and "Traceback" not in err
    assert f"this run was trained on the backend {backend}, which does not load" in err
    assert "--backend" in err
    assert checkpoint.load(tmp_path / "run").next_step == 2  # nothing lost


def test_resume_on_another_backend_says_so(capsys, names_file, tmp_path):
    numpy_backend_or_skip()
    train(capsys, names_file, tmp_path / "run", "--steps", "4", "--stop-at", "2")
    code, _, err = cli(capsys, "train", "--resume", "--out", tmp_path / "run", "--backend", "numpy")
    assert code == 0, err
    assert "trained on the backend pure; continuing it on numpy" in err
    assert checkpoint.load(tmp_path / "run").backend == "numpy"


# --------------------------------------------------------------------- what saving costs
def test_a_save_writes_only_the_new_steps_of_the_history(capsys, names_file, tmp_path, monkeypatch):
    written: list[bytes] = []
    real_write = files.write_atomically

    def recording_write(path, data):
        written.append(data.encode() if isinstance(data, str) else bytes(data))
        return real_write(path, data)

    real_append = getattr(artifacts, "append_text", None)

    def recording_append(path, text):
        written.append(text.encode())
        return real_append(path, text)

    monkeypatch.setattr(files, "write_atomically", recording_write)
    monkeypatch.setattr(artifacts, "append_text", recording_append, raising=False)  # appends, once they exist
    code, _, err = train(capsys, names_file, tmp_path / "run", "--steps", "30", "--save-every", "1", "--samples", "0")
    assert code == 0, err
    first_loss = repr(checkpoint.load(tmp_path / "run").losses[0]).encode()
    carrying_it = [data for data in written if first_loss in data]
    # once into the checkpoint's history, once into metrics.csv; never again at the next 29 saves
    assert len(carrying_it) <= 2, f"step 1's loss was written {len(carrying_it)} times"


def test_save_time_counts_and_the_line_and_final_speeds_agree(capsys, names_file, tmp_path, monkeypatch):
    real_fsync = os.fsync

    def slow_fsync(fd):  # a slow disk: every save takes a while
        time.sleep(0.01)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    code, out, err = train(capsys, names_file, tmp_path / "run", "--steps", "20", "--save-every", "1",
                           "--samples", "0", "--log-every", "20")  # fmt: skip
    assert code == 0, err
    state = checkpoint.load(tmp_path / "run")
    assert sum(state.step_seconds) >= 19 * 0.02  # at least two fsyncs per save, 19 saves between steps
    last_line = next(line for line in out.splitlines() if line.startswith("step 20 / 20"))
    per_line = float(last_line.split("|")[3].split()[0])
    final = float(next(line for line in out.splitlines() if line.startswith("training time")).split(": ")[1].split()[0])
    assert per_line == pytest.approx(final, rel=0.1), out


# --------------------------------------------------------------------- readable output
def test_without_a_terminal_the_default_is_about_ten_lines(capsys, names_file, tmp_path):
    code, out, _ = train(capsys, names_file, tmp_path / "run", "--steps", "20", "--samples", "0")
    assert code == 0
    shown = [line.split("|")[0].strip() for line in out.splitlines() if line.startswith("step")]
    assert shown == ["step  1 / 20", *[f"step {s:2d} / 20" for s in range(2, 21, 2)]]


def test_a_stopped_run_shows_its_last_step(capsys, names_file, tmp_path):
    _, out, _ = train(capsys, names_file, tmp_path / "run", "--steps", "20", "--stop-at", "7")
    assert [line for line in out.splitlines() if line.startswith("step")][-1].startswith("step  7 / 20 |")


@pytest.mark.parametrize(
    "argv, message",
    [(["train", "--steps", "0"], "argument --steps: must be at least 1, got 0"),
     (["train", "--long-docs", "cut"], "argument --long-docs: invalid choice: 'cut'"),
     (["sample"], "the following arguments are required: --checkpoint"),
     (["compare", "--backends", "pure", "--steps", "x"], "argument --steps: invalid positive_int value: 'x'")],
)  # fmt: skip
def test_an_option_error_comes_first_not_after_the_usage(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_status:
        cli(capsys, *argv)
    err = capsys.readouterr().err
    assert exit_status.value.code == 2
    first, *rest = err.splitlines()
    assert first.startswith(f"microgpt-spec {argv[0]}: error: {message}")
    assert len(rest) <= 1 and f"microgpt-spec {argv[0]} --help" in err
