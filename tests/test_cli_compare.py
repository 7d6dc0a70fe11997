"""`microgpt-spec compare`: several backends, one start, side by side."""

from __future__ import annotations

from cli_helpers import TINY, cli

import csv
from pathlib import Path

import pytest

from microgpt_spec import artifacts
from microgpt_spec.commands.compare import largest_loss_difference, table
from microgpt_spec.registry import BackendLoadError, find_backend


# The pure backend with its losses nudged by 1e-3 from step 3 on: a "different" backend.
NUDGED_BACKEND = """
from microgpt_spec.backends.pure import PureBackend

class Backend(PureBackend):
    name = "nudged"

    def train(self, *args, **options):
        result = super().train(*args, **options)
        result.losses = [x + (1e-3 if i >= 2 else 0.0) for i, x in enumerate(result.losses)]
        return result
"""


def compare(capsys, names_file, tmp_path, *backends, steps=6):
    return cli(capsys, "compare", "--backends", *backends, "--steps", steps, "--data", names_file,
               "--out", tmp_path / "cmp", *TINY)  # fmt: skip


def summary_row(out: str, label: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(label))
    return line[len(label) :].split("  ")


def test_two_runs_of_the_same_backend_agree_exactly(capsys, names_file, tmp_path):
    code, out, err = compare(capsys, names_file, tmp_path, "pure", "pure")
    assert code == 0, err
    assert "6 steps from the same initial weights" in out
    for label in ("total time", "time per step", "steps per second", "speed vs pure#1", "final loss"):
        assert label in out
    assert "0.00e+00 (step 1)" in out  # max |loss diff|: none at all
    rows = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open()))
    assert len(rows) == 6 and rows[0]["loss_pure#1"] == rows[0]["loss_pure#2"]
    assert set(rows[0]) == {"step", "loss_pure#1", "loss_pure#2", "seconds_pure#1", "seconds_pure#2"}
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_the_largest_loss_difference_and_its_step_are_reported(capsys, names_file, tmp_path):
    nudged = tmp_path / "nudged.py"
    nudged.write_text(NUDGED_BACKEND)
    code, out, err = compare(capsys, names_file, tmp_path, "pure", nudged)
    assert code == 0, err
    difference = next(line for line in out.splitlines() if line.startswith("max |loss diff|"))
    assert "1.00e-03 (step" in difference
    assert "max |param diff|" in out and "0.00e+00" in next(
        line for line in out.splitlines() if line.startswith("max |param diff|")
    )  # the nudge touched the losses only


def test_pure_and_numpy_train_alike(capsys, names_file, tmp_path):
    try:
        find_backend("numpy")
    except BackendLoadError as error:
        pytest.skip(f"the numpy backend does not load: {error}")
    code, out, err = compare(capsys, names_file, tmp_path, "pure", "numpy", steps=10)
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open()))
    worst = max(abs(float(r["loss_pure"]) - float(r["loss_numpy"])) for r in rows)
    assert worst < 1e-12
    assert "speed vs pure" in out


@pytest.mark.parametrize(
    "backends, message",
    [(["pure"], "at least two backends"), (["pure", "no_such_backend_anywhere"], "no registered backend")],
)
def test_bad_backends(capsys, names_file, tmp_path, backends, message):
    code, _, err = compare(capsys, names_file, tmp_path, *backends)
    assert code == 2 and message in err


def test_largest_loss_difference_finds_the_step():
    assert largest_loss_difference([1.0, 2.0, 3.0], [1.0, 2.5, 2.9]) == (0.5, 2)


def test_table_aligns_columns():
    text = table(["", "a", "bb"], [["row", "1", "22"], ["longer row", "333", "4"]])
    assert text.splitlines() == ["              a  bb", "row           1  22", "longer row  333   4"]


def test_the_plot_has_whole_steps_and_a_legend_true_to_a_short_run(capsys, names_file, tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(artifacts, "save_figure", lambda figure, path: figures.append(figure) or Path(path))
    code, _, err = compare(capsys, names_file, tmp_path, "pure", "pure", steps=3)
    assert code == 0, err
    (axes,) = figures[0].axes
    low, high = axes.get_xlim()
    shown = [tick for tick in axes.get_xticks() if low <= tick <= high]
    assert shown and all(float(tick).is_integer() for tick in shown), shown
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert not any("last 50" in label for label in labels), labels  # 3 steps: there are no 50 to average
    assert "pure#1: mean of the steps so far" in labels


def test_a_long_run_keeps_the_window_in_its_legend(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(artifacts, "save_figure", lambda figure, path: figures.append(figure) or Path(path))
    artifacts.plot_losses({"a": [3.0 - i / 100 for i in range(120)]}, tmp_path / "p.png", "t")
    labels = [text.get_text() for text in figures[0].axes[0].get_legend().get_texts()]
    assert labels == ["a: loss", "a: mean of the last 50 steps"]
