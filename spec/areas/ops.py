"""Spec area ops (being written)."""

import pytest

pytestmark = pytest.mark.ops
