"""The pure backend reproduces the original microgpt run, number for number.

The expected figures were read off the original program run on makemore's names.txt with
seed 42 (shared/reference-semantics.md). That file may not ship with the project:
`microgpt_spec.data.reference_names_path()` finds a local copy (or set
MICROGPT_SPEC_REFERENCE_NAMES); without it these tests skip.
"""

from __future__ import annotations

import pytest

from microgpt_spec.backends.pure import Backend
from microgpt_spec.data import (
    REFERENCE_NAMES_ENV,
    REFERENCE_NAMES_SHA256,
    load_docs,
    reference_names_candidate,
    reference_names_path,
    sha256_of,
)
from microgpt_spec.recipe import reference_run
from microgpt_spec.spec.contract import num_params

TWELVE_DIGITS = 1e-12  # relative tolerance: at least 12 significant digits agree

FIRST_DOCS = ["yuheng", "diondre", "xavien", "jori", "juanluis"]
FIRST_WEIGHTS = [-0.04273180935726127, 0.07696138795865093, 0.10844210106107166]
STEP_1_LOSS = 3.3659669475848504
STEP_2_LOSS_PRINTED = "3.4243"


@pytest.fixture(scope="module")
def reference_docs() -> list[str]:
    path = reference_names_path()
    if path is None:
        pytest.skip(
            f"makemore's names.txt not found at {reference_names_candidate()} "
            f"(set {REFERENCE_NAMES_ENV} to a copy to run the faithfulness checks)"
        )
    if sha256_of(path) != REFERENCE_NAMES_SHA256:
        pytest.skip(f"{path} is not makemore's names.txt (its sha256 differs)")
    return load_docs(path)


@pytest.fixture(scope="module")
def two_step_run(reference_docs):
    # The first two steps do not depend on num_steps: the learning rate of step 0 is
    # lr * (1 - 0/num_steps) = lr whatever num_steps is. So two steps stand in for the
    # first two of the 1000-step run.
    return reference_run(Backend(), reference_docs, num_steps=2, n_samples=0)


def test_data_and_model_size(reference_docs, two_step_run):
    assert len(reference_docs) == 32033
    assert two_step_run.config.vocab_size == 27
    assert num_params(two_step_run.config) == 4192


def test_shuffle_order(two_step_run):
    assert two_step_run.docs[:5] == FIRST_DOCS


def test_first_initial_weights(two_step_run):
    assert two_step_run.initial_params["wte"][0][:3] == pytest.approx(FIRST_WEIGHTS, rel=TWELVE_DIGITS)


def test_first_two_losses(two_step_run):
    step_1, step_2 = two_step_run.train.losses
    assert step_1 == pytest.approx(STEP_1_LOSS, rel=TWELVE_DIGITS)
    assert f"{step_2:.4f}" == STEP_2_LOSS_PRINTED


# The whole 1000-step run (losses to 12 digits and the 20 samples) is checked once, through
# the command line, by tests/test_cli_train.py::test_pure_prints_the_whole_reference_run
# (slow: CI's -m slow step).
