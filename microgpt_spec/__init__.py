"""microgpt-spec: an executable specification of microgpt, with pluggable backends.

    from microgpt_spec import load_backend
    backend = load_backend("pure")          # or "numpy", "path/to/mine.py", "pkg.mod:Backend"

The installed modules all live under this one namespace:
    microgpt_spec.spec          the contract, the oracle and the spec's tests by area
    microgpt_spec.backends      the backends shipped with the project
    microgpt_spec.conformance   the pytest entry point: pytest conformance --backend=NAME
    microgpt_spec.data          the names data set and golden traces
"""

from __future__ import annotations

__version__ = "0.1.0"


def load_backend(spec: str):
    """The backend object that `--backend=spec` would check."""
    from microgpt_spec.registry import find_backend

    return find_backend(spec).backend


__all__ = ["__version__", "load_backend"]
