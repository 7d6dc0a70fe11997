"""The pure backend: microgpt's scalar autograd reference, in plain Python.

One `Value` per number, exactly the reference's order of operations, so that a run
reproduces the original program's losses and samples bit for bit. Read it in this order:

    engine.py     the `Value` autograd engine
    model.py      linear, softmax, rmsnorm, attention, mlp, gpt, the loss
    adam.py       the optimizer
    train.py      weight init and the training loop
    sampling.py   drawing names from the model
    tokenizer.py  characters <-> ids
    backend.py    the contract's methods on top of all that (the plumbing, shared with
                  every scalar engine, is `microgpt_spec.backends.scalar`)
"""

from .backend import PureBackend
from .engine import Value

#: The name the backend registry (entry point `microgpt_spec.backends`) looks up.
Backend = PureBackend

__all__ = ["Backend", "PureBackend", "Value"]
