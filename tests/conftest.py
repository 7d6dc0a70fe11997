"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import pytest

from cli_helpers import NAMES

pytest_plugins = ["pytester"]


@pytest.fixture
def names_file(tmp_path):
    """A one-name-per-line file of the tiny corpus the CLI tests train on."""
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return path
