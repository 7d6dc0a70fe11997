"""All parameters in ONE flat float64 buffer, with a named matrix view onto each part.

Why one buffer: Adam then updates all 4,192 weights (default config) with a handful of
vectorised calls instead of one loop per matrix, and zeroing every gradient is one call.
The gradient lives in a second buffer with the same layout, so `grads["wte"]` is the
gradient of `weights["wte"]`, and the backward pass writes straight into it.

The layout is `param_shapes(config)` in order, each matrix row by row: exactly the order
the reference draws and counts its weights. Because `attn_wq`, `attn_wk`, `attn_wv` of a
layer are neighbours in that order, they also form one (3C, C) matrix, `qkv(layer)`, so
queries, keys and values come out of a single matrix product.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from microgpt_spec.spec.contract import Config, Params, param_shapes


class FlatParams:
    """Weights and gradients of one model, each a flat buffer with per-matrix views."""

    def __init__(self, config: Config, values: np.ndarray | None = None):
        self.config = config
        self.shapes = param_shapes(config)
        self.size = sum(rows * cols for rows, cols in self.shapes.values())
        self.data = np.zeros(self.size) if values is None else np.array(values, dtype=np.float64)
        if self.data.shape != (self.size,):
            raise ValueError(f"expected {self.size} values, got shape {self.data.shape}")
        self.grad = np.zeros(self.size)
        self.offsets = _offsets(self.shapes)
        self.offset_of = dict(zip(self.shapes, self.offsets))
        self.weights = self._views(self.data)
        self.grads = self._views(self.grad)

    @classmethod
    def from_params(cls, params: Mapping[str, Sequence[Sequence[float]]], config: Config) -> "FlatParams":
        """Copy nested lists (or arrays) of the contract's `Params` into a new buffer."""
        return cls(config, flatten(params, config))

    def _views(self, buffer: np.ndarray) -> dict[str, np.ndarray]:
        return {
            name: buffer[start : start + rows * cols].reshape(rows, cols)
            for (name, (rows, cols)), start in zip(self.shapes.items(), self.offsets)
        }

    def qkv(self, layer: int, buffer: np.ndarray | None = None) -> np.ndarray:
        """`attn_wq`, `attn_wk`, `attn_wv` of `layer` stacked: a (3C, C) view of `buffer`
        (default: the weights)."""
        buffer = self.data if buffer is None else buffer
        c = self.config.n_embd
        start = self.offset_of[f"layer{layer}.attn_wq"]
        return buffer[start : start + 3 * c * c].reshape(3 * c, c)

    def to_params(self, buffer: np.ndarray | None = None) -> Params:
        """`buffer` (default: the weights) as the contract's nested lists of floats."""
        views = self.weights if buffer is None else self._views(buffer)
        return {name: view.tolist() for name, view in views.items()}


def flatten(params: Mapping[str, Sequence[Sequence[float]]], config: Config) -> np.ndarray:
    """The matrices of `params` in `param_shapes` order, row by row, as one flat array."""
    shapes = param_shapes(config)
    missing = [name for name in shapes if name not in params]
    if missing:
        raise ValueError(f"parameters missing for this config: {missing}")
    parts = []
    for name, shape in shapes.items():
        matrix = np.asarray(params[name], dtype=np.float64)
        if matrix.shape != shape:
            raise ValueError(f"parameter {name!r} should be {shape[0]}x{shape[1]}, got shape {matrix.shape}")
        parts.append(matrix.ravel())
    return np.concatenate(parts)


def _offsets(shapes: Mapping[str, tuple[int, int]]) -> list[int]:
    """Where each matrix starts in the flat buffer."""
    sizes = [rows * cols for rows, cols in shapes.values()]
    return [int(start) for start in np.cumsum([0] + sizes[:-1])]
