"""Spec area training (being written)."""

import pytest

pytestmark = pytest.mark.training
