"""The student backend: microgpt with the learning parts left for you to write.

The same files as the pure reference backend, with every function that *is* microgpt
(the autograd engine, the layers, the loss, Adam, sampling, training, the tokenizer)
raising NotImplementedError. Each one's docstring explains what to compute, with the math
and a tiny worked example; everything else (the glue between the spec and your code) is
written for you: a few helpers here, and the rest shared with the pure backend in
`microgpt_spec.backends.scalar`, which holds plumbing only, no microgpt.

Get your own copy and check it area by area, in this order (each area uses only the ones
before it):

    microgpt-spec new-student mygpt
    pytest --pyargs microgpt_spec.conformance --backend=mygpt --area=tokenizer
    ...  --area=ops, autograd, layers, loss, adam, sampling, training
    microgpt-spec grade mygpt           # your score, area by area

    tokenizer.py  the characters <-> ids                        area tokenizer
    engine.py     `Value`: the operations, then backward()      areas ops, autograd
    model.py      linear ... gpt, then the loss                 areas layers, loss
    adam.py       the optimizer                                 area adam
    sampling.py   drawing names                                 area sampling
    train.py      init and the training loop                    area training
    backend.py    names your modules for the shared contract adapter (written for you)
"""

from .backend import StudentBackend
from .engine import Value

#: The name the backend registry (entry point `microgpt_spec.backends`) looks up.
Backend = StudentBackend

#: What you write, area by area: "module.function" or "module.Class.method".
TODO_BY_AREA: dict[str, tuple[str, ...]] = {
    "tokenizer": (
        "tokenizer.CharTokenizer.__init__",
        "tokenizer.CharTokenizer.encode",
        "tokenizer.CharTokenizer.decode",
        "tokenizer.CharTokenizer.sequence",
    ),
    "ops": tuple(
        f"engine.Value.{name}"
        for name in ("__init__", "__add__", "__mul__", "__pow__", "log", "exp", "relu", "__neg__", "__radd__",
                     "__rmul__", "__sub__", "__rsub__", "__truediv__", "__rtruediv__")
    ),
    "autograd": ("engine.Value.backward", "engine.topological_order"),
    "layers": tuple(
        f"model.{name}"
        for name in ("linear", "softmax", "rmsnorm", "attention", "mlp", "attention_block",
                     "mlp_block", "gpt")
    ),
    "loss": ("model.token_loss", "model.mean", "model.sequence_loss"),
    "adam": ("adam.Adam.__init__", "adam.Adam.step"),
    "sampling": ("sampling.sample_next", "sampling.generate"),
    "training": ("train.init_params", "train.train_step", "train.train"),
}

__all__ = ["Backend", "StudentBackend", "TODO_BY_AREA", "Value"]
