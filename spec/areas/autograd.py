"""Spec area autograd (being written)."""

import pytest

pytestmark = pytest.mark.autograd
