"""Spec area sampling (being written)."""

import pytest

pytestmark = pytest.mark.sampling
