"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from cli_helpers import NAMES

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def reference_names():
    """makemore's names.txt, the original program's data, for the reference-run tests: never
    shipped (the spec's own data is data/names.txt); the test skips, saying why, without it."""
    from microgpt_spec.data import (REFERENCE_NAMES_SHA256, reference_names_candidate, reference_names_path,
                                    sha256_of)

    path = reference_names_path()
    if path is None:
        pytest.skip(f"makemore's names.txt not found at {reference_names_candidate()}")
    if sha256_of(path) != REFERENCE_NAMES_SHA256:
        pytest.skip(f"{path} is not makemore's names.txt (its sha256 differs)")
    return path


@pytest.fixture
def names_file(tmp_path):
    """A one-name-per-line file of the tiny corpus the CLI tests train on."""
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return path


def pytest_configure(config):
    """The project's own hypothesis tests, when the spec's plugin sets nothing (a run of tests/
    alone, such as CI's `-m slow` step): no deadline (the machines are shared and noisy), and
    derandomized under CI as the spec's runs are."""
    from microgpt_spec.plugin import spec_requested

    if not spec_requested(config):
        settings.register_profile("microgpt-spec-own-tests", deadline=None, derandomize=bool(os.environ.get("CI")),
                                  database=None if os.environ.get("CI") else settings.default.database)
        settings.load_profile("microgpt-spec-own-tests")
