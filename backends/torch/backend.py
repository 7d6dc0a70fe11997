"""The contract's methods on torch: plain data in, tensors inside, plain data out.

Every method turns the contract's floats and lists into tensors of the backend's dtype
on its device, runs torch, and hands back Python floats and lists. Gradients come from
`backward()` on a torch loss, never from a formula written here.

Options:

* precision: float64 (`TorchBackend`, registered as `torch`) or float32
  (`Float32Backend`, or `TorchBackend(dtype="float32")`). The backend declares what it
  computes in, so the spec holds it to that precision's tolerances.
* device: "cpu" (the default), "cuda", or "auto" (cuda where there is one, else cpu),
  from the `device=` argument or, for the registered names, the environment variable
  MICROGPT_SPEC_TORCH_DEVICE. Asking for cuda on a machine without it is an error, not a
  silent fallback: a run should say what it ran on.
* threads: how many CPU threads torch may use inside a call (default 1, `threads=None`
  leaves torch's own setting). The model's matrices are 16 x 16: splitting one over
  threads costs more than it saves, and on a busy machine waiting for a second thread can
  make a matrix product 20 times slower (measured: 11 us on 1 thread, 215 us on 2). The
  setting is restored when the call returns.
"""

from __future__ import annotations

import functools
import os
import random
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from microgpt_spec.backends.pure.tokenizer import CharTokenizer
from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Params, Schedule, TrainResult, param_shapes

from . import model as gpt_model
from . import sampling
from . import train as training
from .adam import ScheduledAdam
from .engine import Scalar
from .model import MicroGPT, to_lists
from .train import batch_loss

#: The environment variable that picks the device of the registered backends.
DEVICE_ENV = "MICROGPT_SPEC_TORCH_DEVICE"
DTYPES = {"float64": torch.float64, "float32": torch.float32}
INIT_STD = 0.08


def with_threads(method: Callable) -> Callable:
    """Run `method` with torch limited to `self.threads` CPU threads (None: as it is)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        before = torch.get_num_threads()
        if self.threads is None or self.threads == before:
            return method(self, *args, **kwargs)
        torch.set_num_threads(self.threads)
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


def resolve_device(choice: str | None) -> torch.device:
    """"cpu", "cuda", "cuda:1", or "auto" (cuda if torch sees one, else cpu)."""
    choice = (choice or os.environ.get(DEVICE_ENV) or "cpu").strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise ValueError(f"unknown torch device {choice!r}: use cpu, cuda or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"torch device {choice!r} was asked for, but torch sees no CUDA device here; "
                         f"use cpu, or auto to take cuda only where there is one")
    return device


class TorchBackend(contract.Backend):
    """microgpt on PyTorch: nn.Module, torch.autograd, torch.optim.Adam. float64 by default."""

    name = "torch"
    precision = "float64"
    #: What the tensors are made of. Normally the same as `precision`, the declaration;
    #: kept apart so a test can make a backend that computes in one and claims the other.
    compute_dtype = "float64"

    def __init__(self, dtype: str | None = None, device: str | None = None, threads: int | None = 1) -> None:
        if dtype is not None:  # an explicit choice is also what the backend declares
            if dtype not in DTYPES:
                raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
            self.compute_dtype = self.precision = dtype
        self.dtype = DTYPES[self.compute_dtype]
        self.device = resolve_device(device)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 (or None for torch's own setting), got {threads}")
        self.threads = threads
        self.version = f"1.0 (torch {torch.__version__}, {self.compute_dtype} on {self.device})"

    # ----------------------------------------------------------------- conversions
    def tensor(self, data: Any) -> torch.Tensor:
        """Plain numbers (a float, a list, nested lists) as a tensor of this backend."""
        if isinstance(data, torch.Tensor):
            return data.detach().to(dtype=self.dtype, device=self.device)
        return torch.tensor(data, dtype=self.dtype, device=self.device)

    def model(self, params: Params, config: Config) -> MicroGPT:
        return gpt_model.build(params, config, self.dtype, self.device)

    # ----------------------------------------------------------------- tokenizer
    def build_tokenizer(self, docs: Sequence[str]) -> CharTokenizer:
        # Characters and ids are plain Python: nothing for torch to do, so the
        # reference's tokenizer is used as it is.
        return CharTokenizer(docs)

    # ----------------------------------------------------------------- ops / autograd
    def value(self, data: float) -> Scalar:
        return Scalar.leaf(data, self.dtype, self.device)

    # ----------------------------------------------------------------- layers
    @with_threads
    @torch.no_grad()
    def linear(self, x: Sequence[float], w: contract.Matrix) -> list[float]:
        return to_lists(F.linear(self.tensor(x), self.tensor(w)))

    @with_threads
    @torch.no_grad()
    def softmax(self, logits: Sequence[float]) -> list[float]:
        return to_lists(torch.softmax(self.tensor(logits), dim=-1))

    @with_threads
    @torch.no_grad()
    def rmsnorm(self, x: Sequence[float]) -> list[float]:
        return to_lists(gpt_model.rmsnorm(self.tensor(x)))

    @with_threads
    @torch.no_grad()
    def attention(self, q: Sequence[float], keys: Sequence[Sequence[float]],
                  values: Sequence[Sequence[float]], n_head: int) -> list[float]:
        query = self.tensor(q).unsqueeze(0)  # (1, C): one query over T cached positions
        out = gpt_model.attention(query, self.tensor(keys), self.tensor(values), n_head, causal=False)
        return to_lists(out.squeeze(0))

    @with_threads
    @torch.no_grad()
    def mlp(self, x: Sequence[float], fc1: contract.Matrix, fc2: contract.Matrix) -> list[float]:
        return to_lists(F.linear(F.relu(F.linear(self.tensor(x), self.tensor(fc1))), self.tensor(fc2)))

    @with_threads
    @torch.no_grad()
    def gpt(self, params: Params, config: Config, token: int, pos: int, keys: list[list[Any]],
            values: list[list[Any]]) -> list[float]:
        # The cache holds this backend's own key and value tensors, one per position.
        return to_lists(self.model(params, config).step(token, pos, keys, values))

    # ----------------------------------------------------------------- loss
    @with_threads
    def cross_entropy(
        self, logits: Sequence[Sequence[float]], targets: Sequence[int]
    ) -> tuple[float, list[list[float]]]:
        if len(logits) != len(targets) or len(targets) == 0:
            raise ValueError(
                f"cross_entropy: need one target per row of logits (and at least one), "
                f"got {len(logits)} rows and {len(targets)} targets"
            )
        z = self.tensor(logits).requires_grad_()
        loss = F.cross_entropy(z, torch.tensor(list(targets), device=self.device))
        loss.backward()
        return loss.item(), to_lists(z.grad)

    @with_threads
    def loss_and_grads(self, params: Params, config: Config, tokens: Sequence[int]) -> tuple[float, Params]:
        model = self.model(params, config)
        loss = batch_loss(model, [tokens])
        loss.backward()
        return loss.item(), gpt_model.to_params(model, "grad")

    # ----------------------------------------------------------------- adam
    def adam(self, params: Sequence[Scalar], hyper: AdamHyper) -> ScheduledAdam:
        return ScheduledAdam([node.tensor for node in params], hyper)

    # ----------------------------------------------------------------- sampling
    def sample_next(self, logits: Sequence[float], temperature: float, rng: random.Random) -> int:
        return sampling.sample_next(logits, temperature, rng)

    @with_threads
    @torch.no_grad()
    def generate(self, params: Params, config: Config, temperature: float, rng: random.Random) -> list[int]:
        return sampling.generate(self.model(params, config), config, temperature, rng)

    # ----------------------------------------------------------------- training
    def init_params(self, config: Config, rng: random.Random) -> Params:
        # Python's generator, in the reference's order: the same weights as every backend.
        return {
            name: [[rng.gauss(0, INIT_STD) for _ in range(cols)] for _ in range(rows)]
            for name, (rows, cols) in param_shapes(config).items()
        }

    @with_threads
    def train(self, params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
              hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
              on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        model = self.model(params, config)  # a copy: the caller's params stay as they are
        return training.train(model, config, sequences, schedule, hyper=hyper, moments=moments, on_step=on_step)


class Float32Backend(TorchBackend):
    """The same backend in float32, declared as float32 (held to the float32 tolerances)."""

    name = "torch-float32"
    precision = "float32"
    compute_dtype = "float32"
