"""The PyTorch backend: microgpt on torch tensors, differentiated by torch.autograd.

This backend is the example of *wrapping an existing framework*: nothing here derives a
gradient by hand. The model is an `nn.Module` made of `nn.Embedding` and `nn.Linear`
layers, the loss is `F.cross_entropy`, `backward()` is torch's, and the optimizer is
`torch.optim.Adam`, driven so that its steps follow the spec's schedule. Read it in this
order:

    engine.py    `value(x)`: one 0-d tensor per node, for the ops and autograd areas
    model.py     the GPT as an nn.Module; the contract's matrices <-> its parameters
    adam.py      torch.optim.Adam on the spec's learning-rate schedule and step count
    sampling.py  drawing names from the model
    train.py     the training loop: batches, torch's backward, one Adam step each
    backend.py   the contract's methods on top of all that; the precision and device options

Options (the registered name `torch` is float64 on the CPU):

    --backend=torch                                           float64
    --backend=microgpt_spec.backends.torch:Float32Backend     float32, declared as such
    MICROGPT_SPEC_TORCH_DEVICE=cuda   (or auto)               the device, for either one
    TorchBackend(dtype="float32", device="cuda", threads=1)   the same, from Python
                                                              (threads: see backend.py)

PyTorch is an optional dependency: `pip install -e ".[torch]"` from a checkout.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401  (only to fail early, with advice, when it is missing)
except ImportError as error:  # the registry reports this message as the backend's load error
    raise ImportError(
        "the torch backend needs PyTorch, which is not installed; install the extra: "
        "pip install -e '.[torch]'  (from a checkout of microgpt-spec; "
        "or pip install 'microgpt-spec[torch]')"
    ) from error

from .backend import DEVICE_ENV, Float32Backend, TorchBackend
from .engine import Scalar

#: The name the backend registry (entry point `microgpt_spec.backends`) looks up.
Backend = TorchBackend

__all__ = ["Backend", "DEVICE_ENV", "Float32Backend", "Scalar", "TorchBackend"]
