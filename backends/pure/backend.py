"""The pure backend: the contract's methods on top of the scalar engine.

Plain numbers come in, are wrapped as `Value` leaves, go through the very code the
training loop uses (`model`, `adam`, `train`, `sampling`), and come back out as plain floats
(`.data`, or `.grad` where a gradient is asked for).

That plumbing is the same for every scalar engine, so it lives in one place,
`microgpt_spec.backends.scalar.ScalarBackend` (the student stub uses it too); this class
only names the modules it drives.
"""

from __future__ import annotations

from microgpt_spec.backends.scalar import ScalarBackend

from . import adam, engine, model, sampling, tokenizer
from . import train as training


class PureBackend(ScalarBackend):
    """The scalar reference: one `Value` per number, float64, bit-faithful to microgpt."""

    name = "pure"
    version = "1.0"
    precision = "float64"

    engine = engine
    model = model
    optimizer = adam
    training = training
    sampling = sampling
    tokenizer = tokenizer
