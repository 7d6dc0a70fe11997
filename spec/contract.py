"""The backend contract: what a microgpt implementation offers the specification.

A backend is any object with the methods below. Subclassing `Backend` is the easy way
(every part you have not written yet raises `NotImplementedError`), but a plain object
works too: a missing method counts as *not implemented*, never as a crash or a pass.

The contract is shaped so that three kinds of implementation fit it without contortions:

* a scalar engine (one `Value` per number, like the original microgpt),
* an array engine (NumPy, PyTorch: whole vectors and matrices at once),
* a thin adapter around somebody's existing microgpt-style script.

That is why everything that crosses the boundary is plain data: Python floats, ints,
lists of floats, `random.Random` instances. Array backends may return NumPy arrays where
a list of floats is asked for; the spec reads results with `float()` and `numpy.asarray`.
Only the *ops*, *autograd* and *adam* areas see the backend's own number objects
("nodes"), because those areas are about the engine itself.

The parts, area by area (the spec checks them in this order; a learner builds them in it):

tokenizer  `build_tokenizer(docs)` -> a `Tokenizer`
ops        `value(x)` -> a node supporting + - * / ** log exp relu, with plain numbers on
           either side
autograd   `node.backward()` fills `.grad` of every node the root depends on
layers     `linear`, `softmax`, `rmsnorm`, `attention`, `mlp`, `gpt` on plain numbers
loss       `cross_entropy(logits, targets)`, `loss_and_grads(params, config, tokens)`
adam       `adam(nodes, hyper)` -> an optimizer with `.step(step, num_steps)`
sampling   `sample_next(logits, temperature, rng)`, `generate(params, config, temperature, rng)`
training   `init_params(config, rng)`, `train(params, config, sequences, schedule, ...)`

Callers that may meet a backend written for an older version call `train` through
`call_train`, which speaks both.

Version history
---------------
1.0  first version.
2.0  `train`'s twelve parameters grouped in small dataclasses. Was
     `train(params, config, sequences, num_steps, *, hyper, start_step, stop_step, m, v,
     batch_size, on_step)`; is `train(params, config, sequences, schedule, *, hyper,
     moments, on_step)`, where `Schedule(num_steps, start_step, stop_step, batch_size)`
     holds which steps of which run to perform and `Moments(m, v)` holds Adam's moments
     to continue from. The steps, the numbers and `TrainResult` are unchanged (it gains a
     `moments` property). A 1.0 backend keeps working wherever training goes through
     `call_train` (the spec, the command line and the grader all do): it is told apart by
     its signature, a parameter named `num_steps` and none named `schedule`.
     `batch_for_step` (which sequences a step trains on) and `CONTRACT_METHODS` are now
     defined here.
"""

from __future__ import annotations

import inspect
import math
import numbers
import random
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from microgpt_spec.spec.tolerances import Tolerance

CONTRACT_VERSION = "2.0"

@dataclass(frozen=True)
class Area:
    """One area of the spec: everything the project knows about it, in one record. Every
    other table (the report's, the rubric's, the tolerances, the plugin's markers) reads
    these; a new area is one record here plus its test module `spec/areas/NAME.py`."""

    name: str
    methods: tuple[str, ...]  # the contract methods its tests call: a backend without one is *not implemented*
    depends_on: tuple[str, ...]  # areas whose code its tests also run: a failure there is fixed first
    float64: Tolerance  # how close is close enough (spec/tolerances.py explains the numbers)
    float32: Tolerance
    points: float = 0  # in the default rubric
    counted: bool = True  # False: reported, but in no verdict and no default grade
    learner: bool = True  # one of the areas a learner builds, in order (not an extra check)
    gradable: bool = True  # a rubric may give it points (it checks one backend on its own)


#: Every area, the learner's eight first, in the order a learner should build them.
AREA_TABLE: tuple[Area, ...] = (
    Area("tokenizer", ("build_tokenizer",), (), Tolerance(0.0, 0.0), Tolerance(0.0, 0.0), points=10),
    Area("ops", ("value",), (), Tolerance(1e-12, 1e-12), Tolerance(1e-5, 1e-6), points=15),
    Area("autograd", ("value",), ("ops",), Tolerance(1e-10, 1e-10), Tolerance(1e-4, 1e-5), points=15),
    Area("layers", ("linear", "softmax", "rmsnorm", "attention", "mlp", "gpt"), (),
         Tolerance(1e-10, 1e-12), Tolerance(1e-4, 1e-5), points=15),
    Area("loss", ("cross_entropy", "loss_and_grads"), ("ops", "autograd", "layers"),
         Tolerance(1e-10, 1e-12), Tolerance(1e-4, 1e-5), points=15),
    Area("adam", ("value", "adam"), (), Tolerance(1e-12, 1e-14), Tolerance(1e-5, 1e-6), points=10),
    Area("sampling", ("sample_next", "generate"), ("layers",), Tolerance(1e-10, 1e-12), Tolerance(1e-4, 1e-5),
         points=10),
    Area("training", ("init_params", "train"), ("tokenizer", "ops", "autograd", "layers", "loss", "adam"),
         Tolerance(1e-10, 1e-9), Tolerance(1e-3, 1e-4), points=10),
    # Asks for MORE than the original program does (graphs deeper than Python's recursion
    # limit, models bigger than the reference): reported, but counted in no verdict and no
    # default grade, so the original program, which sorts its graph recursively, passes.
    Area("robustness", ("value", "loss_and_grads"), ("ops", "autograd", "layers", "loss"),
         Tolerance(1e-10, 1e-10), Tolerance(1e-4, 1e-5), counted=False, learner=False),
    # Compares two backends; runs only with --compare-backend, and is never graded.
    Area("crosscheck", (), (), Tolerance(1e-10, 1e-12), Tolerance(1e-4, 1e-5), learner=False, gradable=False),
)
AREA_BY_NAME: dict[str, Area] = {area.name: area for area in AREA_TABLE}

#: The spec areas, in the order a learner should build them.
AREAS: tuple[str, ...] = tuple(a.name for a in AREA_TABLE if a.learner)
#: Areas beyond the eight above (see their records).
EXTRA_AREAS: tuple[str, ...] = tuple(a.name for a in AREA_TABLE if not a.learner)
#: Areas whose results count in no verdict and no default rubric.
UNCOUNTED_AREAS: tuple[str, ...] = tuple(a.name for a in AREA_TABLE if not a.counted)
#: Which contract methods each area exercises (areas that call none are left out).
AREA_METHODS: dict[str, tuple[str, ...]] = {a.name: a.methods for a in AREA_TABLE if a.methods}
#: Areas whose tests run code of other areas. A bug in `ops` can show up in `loss`
#: (gradients of the model), but never the other way round. The report uses this to tell
#: a learner which failure to fix first.
AREA_DEPENDS_ON: dict[str, tuple[str, ...]] = {a.name: a.depends_on for a in AREA_TABLE if a.gradable}

Matrix = list[list[float]]
#: Model parameters: reference name -> matrix of `rows` lists of `cols` floats.
Params = dict[str, Matrix]


@dataclass(frozen=True)
class Config:
    """The model's shape. The defaults are the reference microgpt on the names data set."""

    vocab_size: int = 27
    n_layer: int = 1
    n_embd: int = 16
    n_head: int = 4
    block_size: int = 16

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_embd", "n_head", "block_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"Config.{name} must be a positive int, got {getattr(self, name)!r}")
        if self.vocab_size < 2:
            raise ValueError("Config.vocab_size must be at least 2 (one character and BOS)")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"Config.n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})"
            )

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def bos(self) -> int:
        """The BOS token id: the last id, one past the characters."""
        return self.vocab_size - 1

    def replace(self, **changes: int) -> "Config":
        return replace(self, **changes)


def param_shapes(config: Config) -> dict[str, tuple[int, int]]:
    """Parameter names and (rows, cols), in the reference order (the order weights are drawn).

    Each matrix has `rows` outputs of `cols` inputs: `linear(x, W)[o] = sum_i W[o][i] * x[i]`.
    """
    c = config
    shapes = {
        "wte": (c.vocab_size, c.n_embd),
        "wpe": (c.block_size, c.n_embd),
        "lm_head": (c.vocab_size, c.n_embd),
    }
    for i in range(c.n_layer):
        shapes[f"layer{i}.attn_wq"] = (c.n_embd, c.n_embd)
        shapes[f"layer{i}.attn_wk"] = (c.n_embd, c.n_embd)
        shapes[f"layer{i}.attn_wv"] = (c.n_embd, c.n_embd)
        shapes[f"layer{i}.attn_wo"] = (c.n_embd, c.n_embd)
        shapes[f"layer{i}.mlp_fc1"] = (4 * c.n_embd, c.n_embd)
        shapes[f"layer{i}.mlp_fc2"] = (c.n_embd, 4 * c.n_embd)
    return shapes


def num_params(config: Config) -> int:
    return sum(rows * cols for rows, cols in param_shapes(config).values())


@dataclass(frozen=True)
class AdamHyper:
    """Adam's settings. The defaults are the reference's.

    At 0-based step `s` of `num_steps`, for each parameter p with gradient g:
        lr_t  = lr * (1 - s / num_steps)
        m     = beta1 * m + (1 - beta1) * g
        v     = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1 ** (s + 1))
        v_hat = v / (1 - beta2 ** (s + 1))
        p    -= lr_t * m_hat / (sqrt(v_hat) + eps)
        g     = 0

    (Bit-for-bit faithfulness to the original: it writes `g ** 2` and `v_hat ** 0.5`, which
    can differ from `g * g` and `math.sqrt` in the last bit. The spec's tolerances accept
    either; only a backend that wants the original's exact floats needs to care.)
    """

    lr: float = 0.01
    beta1: float = 0.85
    beta2: float = 0.99
    eps: float = 1e-8


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class Schedule:
    """Which steps of which run one call of `train` performs (see `Backend.train`).

    The run has `num_steps` steps, 0 .. num_steps - 1, and the learning rate decays over
    all of them; one call performs steps `start_step` .. `stop - 1` of it (`stop_step`
    None: to the end). So a run can be cut into calls, each continuing where the last
    stopped, and give the very numbers of one call. Each step trains on `batch_size`
    sequences (`batch_for_step`); 1 is the reference.
    """

    num_steps: int
    start_step: int = 0
    stop_step: int | None = None
    batch_size: int = 1

    def __post_init__(self) -> None:
        named = {"num_steps": self.num_steps, "start_step": self.start_step, "batch_size": self.batch_size}
        if self.stop_step is not None:
            named["stop_step"] = self.stop_step
        for name, value in named.items():
            if not _is_int(value):
                raise ValueError(f"Schedule.{name} must be an int, got {value!r}")
        if self.num_steps < 1:
            raise ValueError(f"Schedule.num_steps must be at least 1 (the run's length), got {self.num_steps}")
        if self.batch_size < 1:
            raise ValueError(f"Schedule.batch_size must be at least 1, got {self.batch_size}")
        if not 0 <= self.start_step <= self.stop <= self.num_steps:
            raise ValueError(
                f"Schedule needs 0 <= start_step <= stop_step <= num_steps, got start_step={self.start_step}, "
                f"stop_step={self.stop_step}, num_steps={self.num_steps}"
            )

    @property
    def stop(self) -> int:
        """The step the call stops before: `stop_step`, or `num_steps` when that is None."""
        return self.num_steps if self.stop_step is None else self.stop_step

    @property
    def steps(self) -> range:
        """The steps the call performs, in order."""
        return range(self.start_step, self.stop)


@dataclass
class Moments:
    """Adam's running moments, to continue a stopped run: same names and shapes as params."""

    m: Params
    v: Params


def batch_for_step(sequences: Sequence[Sequence[int]], step: int, batch_size: int) -> list[Sequence[int]]:
    """The sequences step `step` trains on: numbers s*B .. s*B+B-1, wrapping around the list.

    With B = 1 (microgpt) step s trains on sequences[s % len(sequences)]. Part of the
    contract's meaning, so every backend and the oracle take their batches from here.
    """
    first = step * batch_size
    return [sequences[(first + b) % len(sequences)] for b in range(batch_size)]


@dataclass
class TrainResult:
    """What `train` hands back: enough to continue the run exactly where it stopped.

    `m` and `v` are Adam's moment estimates in the same names and shapes as `params`.
    `losses[i]` is the loss of step `start_step + i`. `next_step` is the step a resumed
    run starts from: the schedule's stop.
    """

    params: Params
    m: Params
    v: Params
    losses: list[float] = field(default_factory=list)
    next_step: int = 0

    @property
    def moments(self) -> Moments:
        """`m` and `v` as the `moments` a continuing call of `train` takes."""
        return Moments(self.m, self.v)


@runtime_checkable
class Tokenizer(Protocol):
    """Characters <-> token ids.

    `chars` is the sorted list of the distinct characters of the documents; character
    `chars[i]` has id `i`; `bos == len(chars)`; `vocab_size == len(chars) + 1`.
    """

    chars: Sequence[str]
    bos: int
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """The ids of the characters of `text`. A character not in `chars` raises
        ValueError or KeyError whose message names that character."""

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of `ids`, joined. BOS ids are not characters and are left out."""

    def sequence(self, doc: str) -> list[int]:
        """What one document trains on: `[bos] + encode(doc) + [bos]`."""


@runtime_checkable
class Node(Protocol):
    """One differentiable number of the backend's engine (a scalar `Value`, a 0-d array ...).

    `data` and `grad` must be readable with `float()`; `grad` starts at 0 and may be
    assigned (the adam area sets it). Operators work with a node or a plain int/float on
    either side; `**` takes a plain number exponent.
    """

    data: Any
    grad: Any

    def log(self) -> "Node": ...
    def exp(self) -> "Node": ...
    def relu(self) -> "Node": ...
    def backward(self) -> None: ...


@runtime_checkable
class Optimizer(Protocol):
    """Adam over a list of nodes. `m[i]` and `v[i]` belong to node `i` (float-readable)."""

    m: Sequence[Any]
    v: Sequence[Any]

    def step(self, step: int, num_steps: int) -> None:
        """Apply one update (the rule in `AdamHyper`) to every node, then zero every grad."""


class Backend:
    """Base class for backends: every part raises NotImplementedError until you write it.

    Set `name`, `version` and `precision` ("float64" or "float32") on your subclass.
    """

    name: str = "unnamed"
    version: str = "0"
    precision: str = "float64"

    # ----------------------------------------------------------------- tokenizer
    def build_tokenizer(self, docs: Sequence[str]) -> Tokenizer:
        """A tokenizer over the characters that occur in `docs`."""
        raise NotImplementedError("tokenizer: build_tokenizer(docs)")

    # ----------------------------------------------------------------- ops / autograd
    def value(self, data: float) -> Node:
        """A new leaf node holding `data`, with grad 0."""
        raise NotImplementedError("ops: value(data)")

    # ----------------------------------------------------------------- layers
    def linear(self, x: Sequence[float], w: Matrix) -> list[float]:
        """`y[o] = sum_i w[o][i] * x[i]`."""
        raise NotImplementedError("layers: linear(x, w)")

    def softmax(self, logits: Sequence[float]) -> list[float]:
        """`exp(z - max z) / sum exp(z - max z)`: finite for any finite logits."""
        raise NotImplementedError("layers: softmax(logits)")

    def rmsnorm(self, x: Sequence[float]) -> list[float]:
        """`x * (mean(x**2) + 1e-5) ** -0.5`."""
        raise NotImplementedError("layers: rmsnorm(x)")

    def attention(self, q: Sequence[float], keys: Sequence[Sequence[float]],
                  values: Sequence[Sequence[float]], n_head: int) -> list[float]:
        """Multi-head attention of one query over `len(keys)` cached positions.

        Head h uses dims [h*d, (h+1)*d) with d = len(q) // n_head: scores
        `q_h . k_h[t] / sqrt(d)`, softmax over t, output `sum_t w[t] * v_h[t]`.
        Returns the heads concatenated (before `attn_wo`).
        """
        raise NotImplementedError("layers: attention(q, keys, values, n_head)")

    def mlp(self, x: Sequence[float], fc1: Matrix, fc2: Matrix) -> list[float]:
        """`linear(relu(linear(x, fc1)), fc2)` (no residual: that is `gpt`'s job)."""
        raise NotImplementedError("layers: mlp(x, fc1, fc2)")

    def gpt(self, params: Params, config: Config, token: int, pos: int, keys: list[list[Any]],
            values: list[list[Any]]) -> list[float]:
        """The logits for the next token after `token` at position `pos`.

        `keys` and `values` hold one list per layer (the KV cache); this call appends
        exactly one entry (this position's key / value, in any form the backend likes)
        to each layer's list and attends over everything cached so far.
        """
        raise NotImplementedError("layers: gpt(params, config, token, pos, keys, values)")

    # ----------------------------------------------------------------- loss
    def cross_entropy(
        self, logits: Sequence[Sequence[float]], targets: Sequence[int]
    ) -> tuple[float, list[list[float]]]:
        """Mean over positions of `-log softmax(logits[t])[targets[t]]`, and its gradient
        with respect to every logit."""
        raise NotImplementedError("loss: cross_entropy(logits, targets)")

    def loss_and_grads(
        self, params: Params, config: Config, tokens: Sequence[int]
    ) -> tuple[float, Params]:
        """The training loss of one token sequence and its gradient for every parameter.

        The model reads tokens[t] at position t and is scored on tokens[t+1], for
        t < n = min(block_size, len(tokens) - 1); the loss is the mean over those n.
        """
        raise NotImplementedError("loss: loss_and_grads(params, config, tokens)")

    # ----------------------------------------------------------------- adam
    def adam(self, params: Sequence[Node], hyper: AdamHyper) -> Optimizer:
        """An Adam optimizer over `params` (nodes of this backend), moments at 0."""
        raise NotImplementedError("adam: adam(params, hyper)")

    # ----------------------------------------------------------------- sampling
    def sample_next(self, logits: Sequence[float], temperature: float, rng: random.Random) -> int:
        """Draw one token id: `rng.choices(range(V), weights=softmax(logits / temperature))[0]`.

        Exactly one `rng.random()` per draw, through `rng.choices`' cumulative weights, so
        that every backend draws the same ids from the same generator state. (The original
        divides as `logit * temperature ** -1`; the two can differ in the last bit.)
        """
        raise NotImplementedError("sampling: sample_next(logits, temperature, rng)")

    def generate(
        self, params: Params, config: Config, temperature: float, rng: random.Random
    ) -> list[int]:
        """One sample: start from BOS with an empty cache, draw with `sample_next` at
        positions 0, 1, ... < block_size, stop at BOS. Returns the drawn ids without BOS."""
        raise NotImplementedError("sampling: generate(params, config, temperature, rng)")

    # ----------------------------------------------------------------- training
    def init_params(self, config: Config, rng: random.Random) -> Params:
        """Fresh weights: for each matrix of `param_shapes(config)` in order, row by row,
        `rng.gauss(0, 0.08)` per weight."""
        raise NotImplementedError("training: init_params(config, rng)")

    def train(self, params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
              hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
              on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        """Train from `params` (not modified) with Adam: steps `schedule.start_step` ..
        `schedule.stop - 1` of a `schedule.num_steps`-step run.

        Step s trains on `sequences[s % len(sequences)]` (token ids, BOS at both ends):
        `loss_and_grads`, then one Adam update with `lr_t = lr * (1 - s / num_steps)`.
        `moments` continue a stopped run (None: zeros). `on_step(s, loss)` is called after
        each step. `schedule.batch_size` B > 1 (optional: raise NotImplementedError if
        you do not offer it) trains step s on `batch_for_step(sequences, s, B)` with the
        mean of their losses.
        """
        raise NotImplementedError("training: train(params, config, sequences, schedule, ...)")


#: The contract's methods, in the order above: what a backend may offer.
CONTRACT_METHODS: tuple[str, ...] = tuple(
    name for name, member in vars(Backend).items() if inspect.isfunction(member) and not name.startswith("_")
)


# --------------------------------------------------------------------- calling train, any version
def call_train(backend: Any, params: Params, config: Config, sequences: Sequence[Sequence[int]],
               schedule: Schedule, *, hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
               on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """`backend.train` in the form its signature was written for: contract 2.0's, or 1.0's.

    `backend` is anything with a `train` (a backend, or the module a scalar backend keeps
    its training loop in). A 1.0 `train` without a `batch_size` parameter cannot train
    batches: asked to, this raises NotImplementedError, as a 2.0 backend without them does.
    """
    train = backend.train
    if not written_for_contract_1(train):
        return train(params, config, sequences, schedule, hyper=hyper, moments=moments, on_step=on_step)
    options: dict[str, Any] = {"hyper": hyper, "start_step": schedule.start_step, "stop_step": schedule.stop_step,
                               "m": None if moments is None else moments.m,
                               "v": None if moments is None else moments.v, "on_step": on_step}
    if schedule.batch_size > 1:  # only then: a 1.0 backend need not have the parameter
        if not takes_keyword(train, "batch_size"):
            raise NotImplementedError("training: batches (this contract-1.0 train has no batch_size parameter)")
        options["batch_size"] = schedule.batch_size
    return train(params, config, sequences, schedule.num_steps, **options)


def written_for_contract_1(train: Callable[..., Any]) -> bool:
    """Whether `train` has contract 1.0's signature: a `num_steps` parameter, no `schedule`.
    A callable whose signature cannot be read (a proxy, a builtin) is taken as current."""
    parameters = _parameters(train)
    return "num_steps" in parameters and "schedule" not in parameters


def takes_keyword(function: Callable[..., Any], name: str) -> bool:
    parameters = _parameters(function)
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _parameters(function: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


def zeros_like(params: Params) -> Params:
    return {name: [[0.0] * len(row) for row in rows] for name, rows in params.items()}


def check_params(params: Params, config: Config) -> None:
    """Raise ValueError, naming the first problem, unless `params` fits `config`."""
    shapes = param_shapes(config)
    missing = [n for n in shapes if n not in params]
    extra = [n for n in params if n not in shapes]
    if missing or extra:
        raise ValueError(f"parameter names do not fit the config: missing {missing}, unexpected {extra}")
    for name, (rows, cols) in shapes.items():
        got_rows = len(params[name])
        got_cols = {len(r) for r in params[name]}
        if got_rows != rows or got_cols != {cols}:
            raise ValueError(
                f"parameter {name!r} should be {rows}x{cols}, got {got_rows} rows of {sorted(got_cols)}"
            )
        for row in params[name]:
            if not all(math.isfinite(float(x)) for x in row):
                raise ValueError(f"parameter {name!r} holds a value that is not finite")
