"""Spec area crosscheck (being written)."""

import pytest

pytestmark = pytest.mark.crosscheck
