"""The NumPy backend: the whole contract in float64 arrays, fast enough to train in seconds.

Where the time goes in the pure backend is one Python object per number. Here:

* training runs every position of a batch of sequences at once, with a causal mask in
  place of the growing key/value cache (`model.py`), and its backward is derived by hand,
  layer by layer, so no graph is built at all;
* all weights live in one flat buffer (`params.py`), so Adam is a dozen array calls per
  step for the whole model (`adam.py`);
* sampling and `gpt` run one position at a time with a key/value cache (`layers.py`,
  `sampling.py`);
* the ops and autograd areas get `Tensor` (`engine.py`), a small elementwise autograd
  on arrays: micrograd's `Value` with arrays inside;
* `train` asks glibc to keep freed memory between steps (`memory.py`), which halves the
  time of a large-batch step.

The contract's methods are `Backend`, in `backend.py`.

Results are the reference's to rounding: the same order of operations where it is cheap
to keep, float64 throughout. Lists of floats in the contract come back as NumPy arrays,
except `Params` (nested lists, as the contract's type says).
"""

from .backend import Backend
from .engine import Tensor

__all__ = ["Backend", "Tensor"]
