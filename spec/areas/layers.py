"""Spec area layers (being written)."""

import pytest

pytestmark = pytest.mark.layers
