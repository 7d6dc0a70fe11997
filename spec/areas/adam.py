"""Spec area adam (being written)."""

import pytest

pytestmark = pytest.mark.adam
