"""`train`, `sample` and `compare` on a backend with parts not written yet: one message
naming the part and the area to finish, exit status 2, no traceback, nothing lost."""

from __future__ import annotations

from cli_helpers import TINY, cli

import pytest

from microgpt_spec import checkpoint

#: The pure backend with one contract method not written: it raises NotImplementedError
#: with MESSAGE, the way the contract's base class and the student stub do.
ONE_PART_MISSING = """
from microgpt_spec.backends.pure import PureBackend

class Backend(PureBackend):
    name = "unfinished"

    def {method}(self, *args, **kwargs):
        raise NotImplementedError({message!r})
"""

#: A plain object (no base class) that has every part but init_params.
NO_INIT_PARAMS = """
from microgpt_spec.backends.pure import PureBackend

class Backend:
    name = "no-init-params"

    def __init__(self):
        self._pure = PureBackend()

    def build_tokenizer(self, docs):
        return self._pure.build_tokenizer(docs)
"""


def backend_file(tmp_path, method, message):
    path = tmp_path / f"without_{method}.py"
    path.write_text(ONE_PART_MISSING.format(method=method, message=message))
    return path


def assert_one_message(code, err, expected):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err


def test_train_names_the_part_and_the_area_to_finish(capsys, names_file, tmp_path):
    backend = backend_file(tmp_path, "init_params", "training: init_params(config, rng)")
    code, _, err = cli(capsys, "train", "--backend", backend, "--data", names_file, "--out", tmp_path / "run", *TINY)
    assert_one_message(code, err, "training: init_params is not implemented yet; finish the training area first")
    assert not (tmp_path / "run").exists()  # nothing half-made to clear away


def test_a_part_that_calls_an_unwritten_one_names_both(capsys, names_file, tmp_path):
    backend = backend_file(tmp_path, "train", "autograd: Value.backward: visit every node in topological order")
    code, _, err = cli(capsys, "train", "--backend", backend, "--data", names_file, "--out", tmp_path / "run",
                       *TINY, "--steps", "3")  # fmt: skip
    assert_one_message(
        code, err, "training: train uses Value.backward, which is not implemented yet; finish the autograd area first"
    )
    assert checkpoint.load(tmp_path / "run").next_step == 0  # the run is there, ready for --resume


def test_the_student_stub_is_told_to_start_with_the_tokenizer(capsys, names_file, tmp_path):
    code, _, err = cli(capsys, "train", "--backend", "student", "--data", names_file, "--out", tmp_path / "run")
    assert_one_message(code, err, "tokenizer: build_tokenizer uses CharTokenizer.__init__, which is not implemented yet")
    assert "finish the tokenizer area first" in err


def test_a_missing_method_counts_as_not_written(capsys, names_file, tmp_path):
    backend = tmp_path / "plain.py"
    backend.write_text(NO_INIT_PARAMS)
    code, _, err = cli(capsys, "train", "--backend", backend, "--data", names_file, "--out", tmp_path / "run", *TINY)
    assert_one_message(code, err, "training: init_params is not implemented yet")


def test_sample_names_generate(capsys, names_file, tmp_path):
    assert cli(capsys, "train", "--data", names_file, "--out", tmp_path / "run", *TINY, "--steps", "2")[0] == 0
    backend = backend_file(tmp_path, "generate", "sampling: generate(params, config, temperature, rng)")
    code, out, err = cli(capsys, "sample", "--checkpoint", tmp_path / "run", "--backend", backend)
    assert_one_message(code, err, "sampling: generate is not implemented yet; finish the sampling area first")
    assert out == ""


def test_compare_names_the_part(capsys, names_file, tmp_path):
    backend = backend_file(tmp_path, "train", "training: train(params, config, sequences, schedule, ...)")
    code, _, err = cli(capsys, "compare", "--backends", "pure", backend, "--steps", "3", "--data", names_file,
                       "--out", tmp_path / "cmp", *TINY)  # fmt: skip
    assert_one_message(code, err, "training: train is not implemented yet; finish the training area first")


@pytest.mark.parametrize("message", ["", "not yet"])
def test_a_bare_not_implemented_error_is_named_by_the_method_called(capsys, names_file, tmp_path, message):
    backend = backend_file(tmp_path, "init_params", message)
    code, _, err = cli(capsys, "train", "--backend", backend, "--data", names_file, "--out", tmp_path / "run", *TINY)
    assert_one_message(code, err, "training: init_params is not implemented yet")
