"""Your backend: the contract's methods on top of your scalar engine. Written for you.

This file is glue, not the learning content. The spec calls the contract's methods with
plain numbers; the shared adapter `microgpt_spec.backends.scalar.ScalarBackend` (the
pure reference backend uses the very same one) wraps the numbers as `Value` leaves, calls
YOUR functions in the modules named below, and hands plain floats back (`.data`, or
`.grad` where a gradient is asked for). Until you write a function it raises
NotImplementedError, which the spec reports as *not implemented* for its area (score 0),
never as a crash.
"""

from __future__ import annotations

from microgpt_spec.backends.scalar import ScalarBackend

from . import adam, engine, model, sampling, tokenizer
from . import train as training


class StudentBackend(ScalarBackend):
    """Your microgpt: one `Value` per number, float64, like the reference."""

    name = "student"
    version = "0.1"
    precision = "float64"

    engine = engine
    model = model
    optimizer = adam
    training = training
    sampling = sampling
    tokenizer = tokenizer
