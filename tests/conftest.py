"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from cli_helpers import NAMES

pytest_plugins = ["pytester"]


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
