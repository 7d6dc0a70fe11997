"""Check a microgpt script as it is: the contract on top of the script's own definitions.

    from microgpt_spec.script_backend import load_script_backend
    backend = load_script_backend("path/to/microgpt.py")   # a ScriptBackend

`pytest conformance --backend=path/to/microgpt.py` comes here (through the registry) when
the file defines no `Backend` but looks like a microgpt script (`class Value` or `def gpt`).

Nothing at the script's top level runs as a whole: no download, no training loop, no
printing. `script_parts` finds the parts; this module runs only

* the top-level imports, functions, classes and assignments a part needs, with the names
  the check provides set first (the documents, the model's sizes, the weights, ...), in
  one namespace that is the script's globals;
* pieces cut from the script's own loops, run on the check's inputs: the training loop's
  forward pass and loss (`loss_and_grads`, `cross_entropy`, `train`), its inline Adam update
  (`adam`, `train`), the sampling loop's draw (`sample_next`) and one pass of it
  (`generate`), the lines building `state_dict` (`init_params`), and `gpt`'s attention and
  MLP lines (`attention`, `mlp`). A bug in any of those lines is the script's, and the
  spec sees it.

Randomness: while a part that draws runs, the script's `random` (the module, or the names
imported from it) is the `random.Random` the spec passes in.

A part the script does not have raises NotImplementedError, saying what was looked for.
"""

from __future__ import annotations

import ast
import random
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from microgpt_spec.backends.scalar import cyclic_gc_paused
from microgpt_spec.script_parts import (
    CONFIG_NAMES, Block, Binding, Missing, Script, find_function, find_gpt, find_init, find_sampling, find_tokenizer,
    find_training_loop, looks_like_a_script, parse_script, require_config, source_of,
)
from microgpt_spec.spec import contract
from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Params, Schedule, TrainResult
from microgpt_spec.spec.contract import batch_for_step, check_params, param_shapes

__all__ = ["ScriptBackend", "ScriptLoadError", "load_script_backend", "looks_like_a_script"]

#: Characters standing in for the vocabulary while sampling from a model with no documents:
#: the script collects `uchars[token_id]`, and the check reads the id back from the character.
PLACEHOLDER_BASE = 0xE000  # Unicode private use area: never a real character of a name


class ScriptLoadError(Exception):
    """The script could not be prepared (its needed top-level lines failed); says which line."""


def load_script_backend(path: str | Path) -> "ScriptBackend":
    """A backend object for the microgpt script at `path` (a file). Raises ScriptLoadError, or
    SyntaxError for a file Python cannot parse."""
    return ScriptBackend(Path(path))


# --------------------------------------------------------------------------- what each part needs
@dataclass
class Part:
    """One part's needed top-level lines and the names the check sets before they run."""

    provides: frozenset[str]
    bindings: list[Binding]


class ScriptBackend(contract.Backend):
    """The contract, answered by a microgpt script's own code."""

    version = "script"
    precision = "float64"

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.origin = str(self.path)  # what the report's header names as its source
        self.name = path.name  # the report header reads "backend microgpt.py script ..."
        self.script: Script = parse_script(self.path)
        self.ns: dict[str, Any] = {"__name__": "microgpt_script", "__file__": str(self.path),
                                   "__builtins__": __builtins__}
        self._missing: dict[str, str] = {}
        self._functions: dict[str, Callable] = {}
        self._ran: set[int] = set()  # the bindings that have run at least once
        self._compiled: dict[int, Any] = {}
        self._placeholders: dict[int, list[str]] = {}
        self._last_part = ""
        self._find_parts()
        self._parts = self._plan_parts()
        if str(self.path.parent) not in sys.path:
            sys.path.insert(0, str(self.path.parent))  # the script may import its neighbours, as when run
        self._run_context_free_bindings()
        self._compile_blocks()

    # ----------------------------------------------------------------- finding
    def _find_parts(self) -> None:
        s = self.script
        self.tokenizer_parts = self._try("tokenizer", lambda: find_tokenizer(s))
        self._try("value", lambda: _require_value(s))
        for name, signature, purpose, arity in (("linear", "linear(x, w)", "w's rows dotted with x", 2),
                                                ("softmax", "softmax(logits)", "probabilities from scores", 1),
                                                ("rmsnorm", "rmsnorm(x)", "x scaled to a root mean square of 1", 1)):
            self._try(name, lambda n=name, sig=signature, p=purpose, a=arity: find_function(s, n, sig, p, "layers", a))
        self.gpt_parts = self._try("gpt", lambda: _gpt_with_config(s))
        if self.gpt_parts is not None:
            if self.gpt_parts.attention is None:
                self._missing["attention"] = self.gpt_parts.attention_missing
            if self.gpt_parts.mlp is None:
                self._missing["mlp"] = self.gpt_parts.mlp_missing
        tok = self.tokenizer_parts
        self.loop = self._try("loop", lambda: find_training_loop(
            s, tok.docs if tok else None, tok.bos if tok else None))
        if self.loop is not None and self.loop.update is None:
            self._missing["update"] = self.loop.update_missing
        self.init_block = self._try("init", lambda: find_init(s, self._weights_name()))
        self.sampling = self._try("sampling", lambda: find_sampling(s))

    def _try(self, key: str, find: Callable[[], Any]) -> Any:
        try:
            return find()
        except Missing as missing:
            self._missing[key] = str(missing)
            return None

    def _need(self, *keys: str) -> None:
        """NotImplementedError for the first of `keys` the script lacks."""
        for key in keys:
            if key in self._missing:
                raise NotImplementedError(self._missing[key])

    def _weights_name(self) -> str:
        return self.gpt_parts.weights if self.gpt_parts is not None else "state_dict"

    # ----------------------------------------------------------------- planning what runs
    def _vocabulary_names(self) -> tuple[str, str, str]:
        """The script's names for the characters, BOS and the vocabulary size."""
        tok = self.tokenizer_parts
        return (tok.chars, tok.bos, tok.vocab_size) if tok else ("uchars", "BOS", "vocab_size")

    def _model_names(self) -> set[str]:
        return set(CONFIG_NAMES) | {self._weights_name(), *self._vocabulary_names()}

    def _adam_names(self) -> set[str]:
        loop = self.loop
        if loop is None or loop.update is None:
            return set()
        return {loop.num_steps, *loop.hyper.values()}

    def _plan_parts(self) -> dict[str, Part]:
        """Per part: the names the check provides and the script's top-level lines it needs."""
        model = self._model_names()
        roots_model = {"Value", "linear", "softmax", "rmsnorm", "gpt"}
        plans: dict[str, tuple[set[str], set[str]]] = {"model": (model, roots_model)}
        tok = self.tokenizer_parts
        if tok is not None:
            roots = {tok.chars, tok.bos, tok.vocab_size} | self._block_reads("loop", "tokens")
            plans["tokenizer"] = ({tok.docs}, roots)
        if self.loop is not None:
            plans["loss"] = (model, roots_model | self._block_reads("loop", "forward"))
        if self.loop is not None and self.loop.update is not None:
            update_roots = self._block_reads("loop", "update") | set(self.loop.moments)
            plans["adam"] = ({self.loop.params} | self._adam_names(), update_roots)
            training_roots = roots_model | self._block_reads("loop", "forward") | update_roots | {self.loop.params}
            plans["training"] = (model | self._adam_names(), training_roots)
        if self.init_block is not None:
            plans["init"] = (model - {self._weights_name()}, self._reads(self.init_block))
        if self.sampling is not None:
            extra = {self.sampling.temperature} - {None}
            roots = roots_model | self._reads(self.sampling.draw) | self._reads(self.sampling.sample)
            plans["sampling"] = (model | extra, roots)
        return {key: Part(frozenset(provides), self.script.needed(roots, provides))
                for key, (provides, roots) in plans.items()}

    def _block_reads(self, owner: str, block: str) -> set[str]:
        found = getattr(self, owner, None)
        piece = getattr(found, block, None) if found is not None else None
        return self._reads(piece) if piece is not None else set()

    @staticmethod
    def _reads(block: Block) -> set[str]:
        reads = block.reads()
        return set(reads.now | reads.later)

    def _run_context_free_bindings(self) -> None:
        """Run, once, the needed top-level lines that read nothing the check provides: the imports,
        the functions and classes, constants such as `learning_rate = 0.01` or `matrix = lambda ...`.
        The rest runs in the context of each call (`head_dim = n_embd // n_head` per model size)."""
        provided = set().union(*(p.provides for p in self._parts.values()))
        needed = {id(b): b for part in self._parts.values() for b in part.bindings}
        unsettled = set(provided)
        for binding in sorted(needed.values(), key=lambda b: b.line):
            if binding.writes <= provided:
                continue  # the check sets these names itself (`docs = ...` never reads a file)
            if binding.reads_now & unsettled:
                unsettled |= binding.writes  # runs later, in a context that provides what it reads
                continue
            try:
                self._exec(binding.stmt)
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # noqa: BLE001 - the learner's line (sys.exit too), with its number
                raise ScriptLoadError(
                    f"{self.path.name}: line {binding.line} (`{source_of(binding.stmt)}`) raised "
                    f"{type(error).__name__}: {error}. The check runs the script's top-level definitions "
                    "(imports, functions, classes, constants) without its training and sampling; this line is "
                    "one of them.") from error
            self._ran.add(id(binding))

    def _exec(self, stmt: ast.stmt) -> None:
        code = self._compiled.get(id(stmt))
        if code is None:  # compiled once: contexts rerun the same few lines thousands of times
            code = compile(ast.Module(body=[stmt], type_ignores=[]), str(self.path), "exec")
            self._compiled[id(stmt)] = code
        exec(code, self.ns)  # noqa: S102 - the script under test

    def _compile_blocks(self) -> None:
        blocks = {}
        if self.gpt_parts is not None:
            blocks["attention"] = self.gpt_parts.attention
            blocks["mlp"] = self.gpt_parts.mlp
        if self.loop is not None:
            blocks.update(tokens=self.loop.tokens, forward=self.loop.forward, update=self.loop.update)
        if self.init_block is not None:
            blocks["init"] = self.init_block
        if self.sampling is not None:
            blocks.update(draw=self.sampling.draw, sample=self.sampling.sample)
        for key, block in blocks.items():
            if block is None:
                continue
            try:
                code = compile(block.function_ast(f"_microgpt_spec_{key}"), str(self.path), "exec")
            except SyntaxError as error:
                self._missing[key] = (f"{block.what}: the lines cut from the script for this part do not compile on "
                                      f"their own ({error.msg}, line {error.lineno}); a `break`/`continue` of the "
                                      "loop around them is the usual cause.")
                continue
            scratch: dict[str, Any] = {}
            exec(code, self.ns, scratch)  # noqa: S102 - defines the function; its globals are the script's
            self._functions[key] = scratch[f"_microgpt_spec_{key}"]

    # ----------------------------------------------------------------- running in a context
    def _enter(self, part: str, values: dict[str, Any]) -> None:
        """Set the names the check provides, then rerun the part's top-level lines that depend on
        them (`head_dim = n_embd // n_head`, `params = [...]` from state_dict, `m = [0.0] * ...`)."""
        plan = self._parts[part]
        values = {name: value for name, value in values.items() if name in plan.provides}
        missing = object()
        changed = {name for name, value in values.items() if not _same(self.ns.get(name, missing), value)}
        if part != self._last_part:
            changed = set(values)  # another part may have set names this part derives (uchars, BOS ...)
        self._last_part = part
        self.ns.update(values)
        for binding in plan.bindings:
            if binding.writes <= plan.provides:
                continue
            if not binding.reads_now & changed and id(binding) in self._ran:
                continue
            self._exec(binding.stmt)
            self._ran.add(id(binding))
            self.ns.update({n: values[n] for n in binding.writes & set(values)})
            changed |= binding.writes

    def _model_values(self, config: Config, weights: Any = None) -> dict[str, Any]:
        return self._size_values(config.n_layer, config.n_embd, config.n_head, config.block_size,
                                 config.vocab_size, weights)

    def _size_values(self, n_layer: int, n_embd: int, n_head: int, block_size: int, vocab_size: int,
                     weights: Any = None) -> dict[str, Any]:
        """The names a model context provides: the sizes, BOS and a stand-in vocabulary, the weights."""
        values: dict[str, Any] = {"n_layer": n_layer, "n_embd": n_embd, "n_head": n_head, "block_size": block_size}
        # One list per size, kept: the same object again means `itos = {...}` need not rerun.
        chars = self._placeholders.setdefault(vocab_size, [chr(PLACEHOLDER_BASE + i) for i in range(vocab_size - 1)])
        values.update(zip(self._vocabulary_names(), (chars, vocab_size - 1, vocab_size)))
        if weights is not None:
            values[self._weights_name()] = weights
        return values

    @contextmanager
    def _random_is(self, rng: random.Random) -> Iterator[None]:
        """While the block runs, the script's `random` (and names imported from it) draw from `rng`."""
        saved = {name: self.ns.get(name) for name in self.script.random_names}
        try:
            for name, attr in self.script.random_names.items():
                self.ns[name] = rng if attr is None else getattr(rng, attr)
            yield
        finally:
            self.ns.update(saved)

    # ----------------------------------------------------------------- plain numbers <-> Values
    def _leaf(self, x: float) -> Any:
        return self.ns["Value"](float(x))

    def _leaves(self, xs: Sequence[float]) -> list[Any]:
        return [self._leaf(x) for x in xs]

    def _leaf_matrix(self, rows: Sequence[Sequence[float]]) -> list[list[Any]]:
        return [self._leaves(row) for row in rows]

    def _weights(self, params: Params, config: Config) -> dict[str, list[list[Any]]]:
        check_params(params, config)
        return ReferenceWeights((name, self._leaf_matrix(params[name])) for name in param_shapes(config))

    # ----------------------------------------------------------------- tokenizer
    def build_tokenizer(self, docs: Sequence[str]) -> contract.Tokenizer:
        self._need("tokenizer")
        return ScriptTokenizer(self, list(docs))

    # ----------------------------------------------------------------- ops / autograd
    def value(self, data: float) -> contract.Node:
        self._need("value")
        return self.ns["Value"](data)

    # ----------------------------------------------------------------- layers
    def linear(self, x: Sequence[float], w: contract.Matrix) -> list[float]:
        self._need("value", "linear")
        return _floats(self.ns["linear"](self._leaves(x), self._leaf_matrix(w)))

    def softmax(self, logits: Sequence[float]) -> list[float]:
        self._need("value", "softmax")
        return _floats(self.ns["softmax"](self._leaves(logits)))

    def rmsnorm(self, x: Sequence[float]) -> list[float]:
        self._need("value", "rmsnorm")
        return _floats(self.ns["rmsnorm"](self._leaves(x)))

    def attention(self, q: Sequence[float], keys: Sequence[Sequence[float]], values: Sequence[Sequence[float]],
                  n_head: int) -> list[float]:
        self._need("value", "gpt", "attention")
        self._enter("model", self._size_values(1, len(q), n_head, max(1, len(keys)), 2))
        key_rows, value_rows = self._leaf_matrix(keys), self._leaf_matrix(values)
        heads = self._functions["attention"](self._leaves(q), key_rows[-1], value_rows[-1], [key_rows],
                                             [value_rows], 0)
        return _floats(heads)

    def mlp(self, x: Sequence[float], fc1: contract.Matrix, fc2: contract.Matrix) -> list[float]:
        self._need("value", "gpt", "mlp")
        self._enter("model", self._size_values(1, len(x), 1, 1, 2))
        weights = WeightsByRole({"mlp_fc1": self._leaf_matrix(fc1), "mlp_fc2": self._leaf_matrix(fc2)})
        return _floats(self._functions["mlp"](self._leaves(x), weights, 0))

    def gpt(self, params: Params, config: Config, token: int, pos: int, keys: list[list[Any]],
            values: list[list[Any]]) -> list[float]:
        self._need("value", "gpt")
        self._enter("model", self._model_values(config, self._weights(params, config)))
        return _floats(self.ns["gpt"](token, pos, keys, values))

    # ----------------------------------------------------------------- loss
    def cross_entropy(self, logits: Sequence[Sequence[float]], targets: Sequence[int]) -> tuple[float, list[list[float]]]:
        """The training loop's own loss lines, with `gpt` answering each position with the given logits."""
        self._need("value", "loop")
        if len(logits) != len(targets) or not targets:
            raise ValueError(f"cross_entropy: need one target per row of logits (and at least one), "
                             f"got {len(logits)} rows and {len(targets)} targets")
        rows = self._leaf_matrix(logits)
        vocab = len(rows[0])
        self._enter("loss", self._size_values(1, 1, 1, len(targets), vocab))
        answers = iter(rows)
        real_gpt = self.ns.get("gpt")
        self.ns["gpt"] = lambda *args, **kwargs: next(answers)  # position t's logits: row t
        try:
            loss = self._functions["forward"]([vocab - 1, *targets], 0)
        finally:
            self.ns["gpt"] = real_gpt
        return float(loss.data), [[float(z.grad) for z in row] for row in rows]

    def loss_and_grads(self, params: Params, config: Config, tokens: Sequence[int]) -> tuple[float, Params]:
        self._need("value", "gpt", "loop")
        weights = self._weights(params, config)
        self._enter("loss", self._model_values(config, weights))
        with cyclic_gc_paused():
            loss = self._functions["forward"](list(tokens), 0)
        grads = {name: [[float(w.grad) for w in row] for row in rows] for name, rows in weights.items()}
        return float(loss.data), grads

    # ----------------------------------------------------------------- adam
    def adam(self, params: Sequence[Any], hyper: AdamHyper) -> contract.Optimizer:
        self._need("loop", "update")
        self._check_hyper_names(hyper)
        return ScriptAdam(self, list(params), hyper)

    def _check_hyper_names(self, hyper: AdamHyper) -> None:
        """A setting the script hard-codes cannot be varied: not implemented, unless it is the default."""
        absent = [f for f in ("lr", "beta1", "beta2", "eps")
                  if f not in self.loop.hyper and getattr(hyper, f) != getattr(AdamHyper(), f)]
        if absent:
            raise NotImplementedError(
                f"adam: the update reads no top-level name for {', '.join(absent)}. Give each setting a name at the "
                "top level (`learning_rate, beta1, beta2, eps = 0.01, 0.85, 0.99, 1e-8`) and use the names in the "
                "update: the check runs it with other settings too.")

    def _adam_values(self, hyper: AdamHyper, num_steps: int) -> dict[str, Any]:
        values: dict[str, Any] = {self.loop.num_steps: num_steps}
        values.update({name: getattr(hyper, field) for field, name in self.loop.hyper.items()})
        return values

    # ----------------------------------------------------------------- sampling
    def sample_next(self, logits: Sequence[float], temperature: float, rng: random.Random) -> int:
        """The sampling loop's lines from `logits = gpt(...)` to the draw, on the given logits."""
        self._need("value", "sampling")
        sizes = self._size_values(1, 1, 1, 1, len(logits))
        self._enter("sampling", {**sizes, **self._temperature(temperature)})
        with self._random_is(rng):
            return self._functions["draw"](self._leaves(logits))

    def generate(self, params: Params, config: Config, temperature: float, rng: random.Random) -> list[int]:
        """One pass of the script's sampling loop; the characters it collects read back as ids."""
        self._need("value", "gpt", "sampling")
        weights = self._weights(params, config)
        self._enter("sampling", {**self._model_values(config, weights), **self._temperature(temperature)})
        with self._random_is(rng), cyclic_gc_paused():
            collected = self._functions["sample"](0)
        return [_placeholder_id(c) for item in collected for c in _characters(item)]

    def _temperature(self, temperature: float) -> dict[str, float]:
        name = self.sampling.temperature
        return {name: temperature} if name else {}

    # ----------------------------------------------------------------- training
    def init_params(self, config: Config, rng: random.Random) -> Params:
        """The script's own lines building state_dict, drawing from `rng`."""
        self._need("value", "init")
        self._enter("init", self._model_values(config))
        with self._random_is(rng):
            weights = self._functions["init"]()
        return {name: [[float(w.data) for w in row] for row in rows] for name, rows in weights.items()}

    def train(self, params: Params, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
              hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
              on_step: Callable[[int, float], None] | None = None) -> TrainResult:
        """The training loop's own body, step by step: forward and backward, then the inline update."""
        self._need("value", "gpt", "loop", "update")
        self._check_hyper_names(hyper)
        if not sequences:
            raise ValueError("train: no sequences to train on")
        weights = self._weights(params, config)
        adam_values = self._adam_values(hyper, schedule.num_steps)
        self._enter("training", {**self._model_values(config, weights), **adam_values})
        order = self._parameter_order(weights)
        if moments is not None:
            self._set_moments(order, moments)
        losses = []
        for step in schedule.steps:
            with cyclic_gc_paused():
                loss = self._forward_batch(batch_for_step(sequences, step, schedule.batch_size), step, weights)
                self._functions["update"](step)
            losses.append(loss)
            if on_step is not None:
                on_step(step, loss)
        m_list, v_list = (self.ns[name] for name in self.loop.moments)
        return TrainResult(params={n: [[float(w.data) for w in row] for row in rows] for n, rows in weights.items()},
                           m=_by_name(order, m_list, config), v=_by_name(order, v_list, config),
                           losses=losses, next_step=schedule.stop)

    def _forward_batch(self, batch: list[Sequence[int]], step: int, weights: dict[str, list[list[Any]]]) -> float:
        """The script's forward-and-backward lines once per sequence of the step; the mean loss.

        A script trains on one document per step (batch_size 1, the reference). For a bigger
        batch its lines run once per sequence: backward() adds each sequence's gradients to the
        weights' grads, so dividing by the batch size gives the gradient of the mean loss, and
        the script's own update then takes one step with it.
        """
        losses = [float(self._functions["forward"](list(tokens), step).data) for tokens in batch]
        if len(batch) > 1:
            for rows in weights.values():
                for row in rows:
                    for w in row:
                        w.grad = w.grad / len(batch)
        return losses[0] if len(losses) == 1 else sum(losses) / len(losses)

    def _parameter_order(self, weights: dict[str, list[list[Any]]]) -> list[tuple[str, int, int]]:
        """Where each entry of the script's flat `params` list sits in the weights: (name, row, col)."""
        where = {id(w): (name, r, c) for name, rows in weights.items()
                 for r, row in enumerate(rows) for c, w in enumerate(row)}
        flat = self.ns[self.loop.params]
        try:
            return [where[id(p)] for p in flat]
        except KeyError:
            raise NotImplementedError(
                f"training: `{self.loop.params}` holds something that is not a weight of `{self._weights_name()}`; "
                f"build it from the weights: `{self.loop.params} = [p for mat in {self._weights_name()}.values() "
                "for row in mat for p in row]`.") from None

    def _set_moments(self, order: list[tuple[str, int, int]], moments: Moments) -> None:
        """Continue a stopped run: the script's m and v lists, in its params order."""
        for name, given in zip(self.loop.moments, (moments.m, moments.v)):
            self.ns[name] = [float(given[n][r][c]) for n, r, c in order]


# --------------------------------------------------------------------------- helpers

def _gpt_with_config(script: Script):
    found = find_gpt(script)  # first: "define gpt" is the more useful message for a script without it
    require_config(script, "layers")
    return found


def _require_value(script: Script) -> ast.ClassDef:
    found = script.class_def("Value")
    if found is None:
        raise Missing(f"ops: {script.label} has no top-level class `Value`. Define `class Value:` holding one number "
                      "(`data`, `grad` starting at 0), its operations (+ * ** log exp relu, and - / built from them) "
                      "and `backward()`.")
    return found


def _same(a: Any, b: Any) -> bool:
    """Whether a provided name keeps its value (then the lines reading it need not rerun)."""
    if a is b:
        return True
    return type(a) is type(b) and isinstance(a, (int, float, str)) and a == b


def _floats(vector: Sequence[Any]) -> list[float]:
    return [float(getattr(v, "data", v)) for v in vector]


def _characters(item: Any) -> list[Any]:
    """A collected item: a character (or a string of them) or an id."""
    return list(item) if isinstance(item, str) else [item]


def _placeholder_id(item: Any) -> int:
    if isinstance(item, str):
        return ord(item) - PLACEHOLDER_BASE
    return int(item)


def _by_name(order: list[tuple[str, int, int]], flat: Sequence[Any], config: Config) -> Params:
    result = {name: [[0.0] * cols for _ in range(rows)] for name, (rows, cols) in param_shapes(config).items()}
    for (name, r, c), x in zip(order, flat):
        result[name][r][c] = float(x)
    return result


class ReferenceWeights(dict):
    """The weights given to the script as its `state_dict`: the reference's matrices only."""

    def __missing__(self, key: Any) -> Any:
        raise KeyError(f"{key!r} is not one of the reference's weights ({', '.join(self)}): the check gives the "
                       "script these matrices, under these names, and no others")


class WeightsByRole(dict):
    """The weights the MLP lines read, found by the role in their key: `state_dict[f'layer{li}.mlp_fc1']`
    gets fc1 whatever the exact key spelling."""

    def __getitem__(self, key: str) -> Any:
        for role, matrix in self.items():
            if role in key:
                return matrix
        raise KeyError(key)


class ScriptTokenizer:
    """The script's `uchars`, `BOS`, `vocab_size` from the given documents; `sequence` runs the
    training loop's own line that turns a document into token ids."""

    def __init__(self, backend: ScriptBackend, docs: list[str]) -> None:
        self._backend = backend
        self._docs = docs
        parts = backend.tokenizer_parts
        self._enter()
        ns = backend.ns
        self.chars = list(ns[parts.chars])
        self.bos = ns[parts.bos]
        self.vocab_size = ns[parts.vocab_size]

    def _enter(self) -> None:
        self._backend._enter("tokenizer", {self._backend.tokenizer_parts.docs: self._docs})

    def sequence(self, doc: str) -> list[int]:
        if "loop" in self._backend._missing:
            raise NotImplementedError("tokenizer: encode and sequence run the training loop's own line "
                                      "`tokens = [BOS] + [uchars.index(ch) for ch in doc] + [BOS]`; "
                                      + self._backend._missing["loop"])
        self._enter()
        return list(self._backend._functions["tokens"]([doc], 0))

    def encode(self, text: str) -> list[int]:
        """The ids of `text`: the script's training sequence of it, BOS left out at both ends."""
        ids = self.sequence(text)
        if ids[:1] == [self.bos]:
            ids = ids[1:]
        if ids[-1:] == [self.bos]:
            ids = ids[:-1]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        for i in ids:
            if not 0 <= i <= self.bos:
                raise ValueError(f"token id {i} is outside 0..{self.bos} (BOS is {self.bos})")
        return "".join(self.chars[i] for i in ids if i != self.bos)


class ScriptAdam:
    """The training loop's inline Adam update, run on the given nodes as the script's `params`."""

    def __init__(self, backend: ScriptBackend, params: list[Any], hyper: AdamHyper) -> None:
        self._backend = backend
        self._params = params
        self._hyper = hyper
        loop = backend.loop
        backend._enter("adam", {loop.params: params, **backend._adam_values(hyper, 1)})
        # The script's own `m = [0.0] * len(params)` lines ran for these params; keep their lists.
        self.m, self.v = (backend.ns[name] for name in loop.moments)

    def step(self, step: int, num_steps: int) -> None:
        backend, loop = self._backend, self._backend.loop
        ns = backend.ns
        ns.update({loop.params: self._params, loop.moments[0]: self.m, loop.moments[1]: self.v,
                   **backend._adam_values(self._hyper, num_steps)})
        backend._functions["update"](step)
        self.m, self.v = (ns[name] for name in loop.moments)
