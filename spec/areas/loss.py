"""Spec area loss (being written)."""

import pytest

pytestmark = pytest.mark.loss
