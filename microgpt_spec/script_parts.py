"""Find the parts of a microgpt script by reading its source (nothing of it runs here).

A learner's microgpt is usually one script in the original's style: a `Value` class,
functions `linear`, `softmax`, `rmsnorm` and `gpt(token_id, pos_id, keys, values)` that
read a global `state_dict` and the config globals, and at the top level the data loading,
the training loop (forward, `loss.backward()`, the Adam update written inline) and the
sampling loop. This module finds each part with `ast` and hands `script_backend` small
pieces of the script's own code to run:

* *bindings*: the top-level imports, functions, classes and assignments, each with the
  names it defines and the names it reads (when it runs, and when what it defines is
  called), so that only what a part needs ever runs, never the download or the printing;
* *blocks*: statements cut out of a loop or out of `gpt` (the Adam update, the sampling
  draw, the attention of one layer ...), turned into a function of the names they take in
  from around them, with the script's own line numbers, so a traceback points at the
  learner's line.

A part that is not there raises `Missing`, whose message says what was looked for and
how to write it so it can be found. Nothing here imports or runs the script.
"""

from __future__ import annotations

import ast
import builtins
import copy
import symtable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

#: The config globals the check sets for each model it tries.
CONFIG_NAMES = ("n_layer", "n_embd", "n_head", "block_size")
BUILTIN_NAMES = frozenset(dir(builtins))
#: Scopes that run at once where they are written (a def or lambda body runs only when called).
_IMMEDIATE_FUNCTION_SCOPES = ("listcomp", "setcomp", "dictcomp", "genexpr")


class Missing(Exception):
    """A part of the script was not found; the message tells the learner what to write."""


# --------------------------------------------------------------------------- small AST helpers
def walk_nodes(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    for node in nodes:
        yield from ast.walk(node)


def calls_method(node: ast.AST, method: str) -> ast.Call | None:
    """The first call `<something>.method(...)` inside `node`, or None."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == method:
            return sub
    return None


def calls_name(node: ast.AST, names: Iterable[str]) -> bool:
    """Whether `node` calls a plain name among `names` (`gpt(...)`, `choices(...)`)."""
    wanted = set(names)
    return any(isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in wanted
               for sub in ast.walk(node))


def mentions(node: ast.AST, text: str) -> bool:
    """Whether a string constant in `node` (f-string pieces too) contains `text`."""
    return any(isinstance(sub, ast.Constant) and isinstance(sub.value, str) and text in sub.value
               for sub in ast.walk(node))


def stored_names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}


def target_name(stmt: ast.stmt) -> str | None:
    """`x` for `x = ...` / `x: T = ...` (one plain name on the left), else None."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return stmt.target.id
    return None


def is_output_only(stmt: ast.stmt) -> bool:
    """A `print(...)` (or a docstring), or an `if` that only prints: never part of a block."""
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if isinstance(value, ast.Constant):
            return True
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print"
    if isinstance(stmt, ast.If):
        return all(is_output_only(s) for s in stmt.body + stmt.orelse)
    return False


def without_output(stmts: Iterable[ast.stmt]) -> list[ast.stmt]:
    return [s for s in stmts if not is_output_only(s)]


def source_of(stmt: ast.AST, limit: int = 70) -> str:
    text = ast.unparse(stmt).splitlines()[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loop_range_name(loop: ast.For) -> str | None:
    """`num_steps` for `for step in range(num_steps):`, else None."""
    it = loop.iter
    if (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
            and len(it.args) == 1 and isinstance(it.args[0], ast.Name)):
        return it.args[0].id
    return None


# --------------------------------------------------------------------------- which names a piece reads
@dataclass(frozen=True)
class Reads:
    """Global names a piece of code reads: `now` while it runs, `later` when something it
    defines (a function, a lambda, a method) is called."""

    now: frozenset[str]
    later: frozenset[str]
    assigned: frozenset[str]  # names it binds itself (locals of the block)


def reads_of(stmts: list[ast.stmt], params: Iterable[str] = ()) -> Reads:
    """What `stmts` read from outside, as if they were the body of a function taking `params`.

    Python's own symbol table does the scoping (comprehensions, lambdas, nested defs), so a
    comprehension variable or a function's local is never mistaken for a global.
    """
    probe = ast.FunctionDef(
        name="__probe", args=_arguments(list(params)), body=copy.deepcopy(stmts) or [ast.Pass()],
        decorator_list=[], returns=None, type_comment=None)
    module = ast.fix_missing_locations(ast.Module(body=[probe], type_ignores=[]))
    table = symtable.symtable(ast.unparse(module), "<probe>", "exec").get_children()[0]
    now: set[str] = set()
    later: set[str] = set()

    def collect(scope: symtable.SymbolTable, deferred: bool) -> None:
        names = {s.get_name() for s in scope.get_symbols() if s.is_global()}
        (later if deferred else now).update(names)
        for child in scope.get_children():
            immediate = child.get_type() == "class" or child.get_name() in _IMMEDIATE_FUNCTION_SCOPES
            collect(child, deferred or not immediate)

    collect(table, deferred=False)
    assigned = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    return Reads(frozenset(now), frozenset(later - now), frozenset(assigned - set(params)))


def _arguments(names: list[str]) -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in names], vararg=None, kwonlyargs=[],
                         kw_defaults=[], kwarg=None, defaults=[])


# --------------------------------------------------------------------------- top-level bindings
@dataclass
class Binding:
    """One top-level statement that defines names: an import, a def, a class, an assignment."""

    stmt: ast.stmt
    writes: frozenset[str]
    reads_now: frozenset[str]
    reads_later: frozenset[str]

    @property
    def line(self) -> int:
        return self.stmt.lineno


BINDING_TYPES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                 ast.Assign, ast.AnnAssign, ast.AugAssign)


def binding_of(stmt: ast.stmt) -> Binding | None:
    if not isinstance(stmt, BINDING_TYPES) or (isinstance(stmt, ast.AnnAssign) and stmt.value is None):
        return None
    reads = reads_of([stmt])
    writes = set(reads.assigned)
    # `state_dict["wte"] = ...` at the top level changes state_dict: it is one of its writes.
    if isinstance(stmt, (ast.Assign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        for target in targets:
            while isinstance(target, (ast.Subscript, ast.Attribute)):
                target = target.value
            if isinstance(target, ast.Name):
                writes.add(target.id)
    return Binding(stmt, frozenset(writes), reads.now, reads.later)


# --------------------------------------------------------------------------- the script
@dataclass
class Script:
    """A parsed script and what its top level defines."""

    path: Path
    body: list[ast.stmt]  # the top level, with the body of `if __name__ == "__main__":` in its place
    bindings: list[Binding]
    module_names: frozenset[str]  # every name the top level binds, in any statement
    random_names: dict[str, str | None] = field(default_factory=dict)  # name -> None (the module) or attr

    @property
    def label(self) -> str:
        return self.path.name

    def binding_names(self) -> set[str]:
        return {name for b in self.bindings for name in b.writes}

    def function(self, name: str) -> ast.FunctionDef | None:
        found = None
        for stmt in self.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
                found = stmt  # the last definition wins, as when the script runs
        return found

    def class_def(self, name: str) -> ast.ClassDef | None:
        found = None
        for stmt in self.body:
            if isinstance(stmt, ast.ClassDef) and stmt.name == name:
                found = stmt
        return found

    def first_bound(self, *names: str) -> str | None:
        """The first of `names` the top level assigns (`uchars` or `chars` ...)."""
        bound = self.binding_names()
        return next((n for n in names if n in bound), None)

    def constant_of(self, name: str) -> object | None:
        """The number a top-level `name = 0.85` (or a tuple assignment of numbers) gives `name`."""
        for b in self.bindings:
            stmt = b.stmt
            if not isinstance(stmt, ast.Assign) or name not in b.writes:
                continue
            for target in stmt.targets:
                if isinstance(target, ast.Name) and target.id == name and isinstance(stmt.value, ast.Constant):
                    return stmt.value.value
                if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                    for t, v in zip(target.elts, stmt.value.elts):
                        if isinstance(t, ast.Name) and t.id == name and isinstance(v, ast.Constant):
                            return v.value
        return None

    def needed(self, roots: Iterable[str], provided: Iterable[str]) -> list[Binding]:
        """The bindings that define `roots` and what they read, transitively, in script order.

        Names in `provided` are set by the check itself, so the script's own lines for them
        (`docs = ...` reading a file, `state_dict = ...` drawing weights) are left out.
        """
        provided = set(provided)
        wanted, todo, chosen = set(), list(roots), set()
        while todo:
            name = todo.pop()
            if name in wanted or name in provided:
                continue
            wanted.add(name)
            for index, b in enumerate(self.bindings):
                if name in b.writes and index not in chosen:
                    chosen.add(index)
                    todo.extend(b.reads_now | b.reads_later)
        return [self.bindings[i] for i in sorted(chosen)]


def parse_script(path: Path) -> Script:
    """Parse the file (a SyntaxError propagates: Python's message is the best one)."""
    text = path.read_text(encoding="utf-8")
    body = top_level(ast.parse(text, filename=str(path)))
    bindings = [b for b in map(binding_of, body) if b is not None]
    module_table = symtable.symtable(text, str(path), "exec")
    module_names = frozenset(s.get_name() for s in module_table.get_symbols()
                             if s.is_assigned() or s.is_imported())
    return Script(path, body, bindings, module_names, _random_names(body))


def top_level(tree: ast.Module) -> list[ast.stmt]:
    """The module's statements, a main guard's body counted as top level: run as a script, it is."""
    body: list[ast.stmt] = []
    for stmt in tree.body:
        body.extend(stmt.body if _is_main_guard(stmt) else [stmt])
    return body


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not (isinstance(stmt, ast.If) and not stmt.orelse and isinstance(stmt.test, ast.Compare)):
        return False
    sides = [stmt.test.left, *stmt.test.comparators]
    return (len(sides) == 2 and isinstance(stmt.test.ops[0], ast.Eq)
            and {ast.unparse(side) for side in sides} in ({"__name__", "'__main__'"}, {"__name__", '"__main__"'}))


def _random_names(body: list[ast.stmt]) -> dict[str, str | None]:
    """The names through which the script reaches the `random` module: `random` itself (or its
    alias) and anything imported from it (`from random import choices`)."""
    names: dict[str, str | None] = {}
    for stmt in body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == "random":
                    names[alias.asname or "random"] = None
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "random":
            for alias in stmt.names:
                names[alias.asname or alias.name] = alias.name
    return names


#: Top-level names only a microgpt script defines: a learner's script is recognised from its
#: first part on (the tokenizer's `uchars`, the engine's `Value`).
SCRIPT_MARKS = frozenset({"Value", "gpt", "linear", "softmax", "rmsnorm", "uchars", "state_dict"})


def looks_like_a_script(path: Path) -> bool:
    """A microgpt script: it defines one of `SCRIPT_MARKS` at the top level and none of the
    names the registry takes as a backend (`backend`, `Backend`, `make_backend`)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return False  # importing it gives Python's own message
    defined = set()
    for stmt in top_level(tree):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        else:
            defined.update(stored_names(stmt))
    if defined & {"backend", "Backend", "make_backend"}:
        return False
    return bool(defined & SCRIPT_MARKS)


# --------------------------------------------------------------------------- blocks of statements
@dataclass
class Block:
    """Statements cut out of the script, to run as `def block(*params): ...; return returns`.

    `top_level`: the statements come from a top-level loop, so every name they assign is a
    global of the script, as when the script runs (the Adam update rebinding `m` changes the
    script's `m`). Otherwise (a piece of `gpt`) their names stay local.
    """

    what: str
    stmts: list[ast.stmt]
    params: tuple[str, ...]
    returns: tuple[str, ...]
    top_level: bool

    def reads(self) -> Reads:
        return reads_of(self.stmts, self.params)

    def function_ast(self, name: str) -> ast.Module:
        first = self.stmts[0].lineno if self.stmts else 1
        last = max((s.end_lineno or s.lineno for s in self.stmts), default=first)
        body: list[ast.stmt] = []
        if self.top_level:
            assigned = sorted(self.reads().assigned)
            if assigned:
                body.append(_at(ast.Global(names=assigned), first))
        body.extend(copy.deepcopy(self.stmts))
        values = [_at(ast.Name(id=n, ctx=ast.Load()), last) for n in self.returns]
        result = values[0] if len(values) == 1 else _at(ast.Tuple(elts=values, ctx=ast.Load()), last)
        body.append(_at(ast.Return(value=result), last))
        func = _at(ast.FunctionDef(name=name, args=_arguments(list(self.params)), body=body, decorator_list=[],
                                   returns=None, type_comment=None), first, last)
        return ast.Module(body=[func], type_ignores=[])


def _at(node: ast.AST, line: int, end: int | None = None) -> ast.AST:
    """Give the nodes made here the script's line numbers (tracebacks then point at its lines)."""
    for sub in ast.walk(node):
        if "lineno" in sub._attributes and getattr(sub, "lineno", None) is None:
            sub.lineno, sub.end_lineno, sub.col_offset, sub.end_col_offset = line, end or line, 0, 0
    return node


# --------------------------------------------------------------------------- the parts
def find_function(script: Script, name: str, signature: str, purpose: str, area: str,
                  arity: int | None = None) -> ast.FunctionDef:
    func = script.function(name)
    if func is None:
        raise Missing(f"{area}: {script.label} has no top-level function `{name}`. "
                      f"Define `def {signature}:` ({purpose}).")
    positional = func.args.posonlyargs + func.args.args
    required = len(positional) - len(func.args.defaults)
    if arity is not None and not required <= arity <= len(positional):
        raise Missing(f"{area}: `{name}` in {script.label} takes {len(positional)} arguments; the check calls "
                      f"it as `{signature}`.")
    return func


def require_config(script: Script, area: str) -> None:
    missing = [n for n in CONFIG_NAMES if n not in script.binding_names()]
    if missing:
        raise Missing(f"{area}: {script.label} assigns no top-level {', '.join('`' + n + '`' for n in missing)}. "
                      "Write the model's sizes as top-level names (`n_layer = 1`, `n_embd = 16`, `n_head = 4`, "
                      "`block_size = 16`): the check sets them to each model size it tries, and `gpt` reads them.")


@dataclass
class GptParts:
    """What `gpt` reads and the pieces of its layer loop the layers area runs alone."""

    weights: str  # the global dict of weight matrices gpt reads (state_dict)
    attention: Block | None
    attention_missing: str
    mlp: Block | None
    mlp_missing: str


def find_gpt(script: Script) -> GptParts:
    func = find_function(script, "gpt", "gpt(token_id, pos_id, keys, values)",
                         "the logits for one position, appending its key and value to the cache", "layers", 4)
    weights = _weights_name(script, func)
    layer_loop = next((n for n in walk_nodes(func.body) if isinstance(n, ast.For) and mentions(n, "attn_wq")), None)
    if layer_loop is None or not isinstance(layer_loop.target, ast.Name):
        why = ("layers: in `gpt`, found no loop over the layers (`for li in range(n_layer):`) whose body uses "
               "`attn_wq`; attention and the MLP are checked as pieces of that loop.")
        return GptParts(weights, None, why, None, why)
    args = [a.arg for a in func.args.posonlyargs + func.args.args]
    gpt_locals = reads_of(func.body, args).assigned | set(args)
    attention, attention_missing = _attention_block(script, func, layer_loop, args, gpt_locals)
    mlp, mlp_missing = _mlp_block(layer_loop, weights, gpt_locals)
    return GptParts(weights, attention, attention_missing, mlp, mlp_missing)


def _weights_name(script: Script, func: ast.FunctionDef) -> str:
    for node in ast.walk(func):
        if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and isinstance(node.slice, ast.Constant) and node.slice.value == "wte"):
            return node.value.id
    raise Missing(f"layers: `gpt` in {script.label} never reads `state_dict['wte']`. Keep the weights in a "
                  "global dict of matrices under the reference names ('wte', 'wpe', 'lm_head', "
                  "'layer0.attn_wq', ...) and read them from it in `gpt`.")


def _attention_block(script: Script, func: ast.FunctionDef, loop: ast.For, args: list[str],
                     gpt_locals: set[str]) -> tuple[Block | None, str]:
    look = ("layers: attention is checked as the statements of gpt's layer loop between appending k and v "
            "to the cache (`keys[li].append(k)`, `values[li].append(v)`) and the line that applies "
            "`attn_wo` to their result; ")
    body = loop.body
    wo = next((i for i, s in enumerate(body) if mentions(s, "attn_wo")), None)
    projections = {w: next((i for i, s in enumerate(body) if mentions(s, w)), None)
                   for w in ("attn_wq", "attn_wk", "attn_wv")}
    appends = [i for i, s in enumerate(body) if _appends_to_cache(s, args[2:])]
    if wo is None or None in projections.values() or not appends or len(args) != 4:
        return None, look + "that loop has no such lines."
    start = max(list(projections.values()) + [i for i in appends if i < wo]) + 1
    if start >= wo:
        return None, look + "there is nothing between them."
    out = _first_argument_name(body[wo], "attn_wo")
    if out is None:
        return None, look + f"found `{source_of(body[wo])}`, whose first argument is not a plain name."
    names = {"q": target_name(body[projections["attn_wq"]]), "k": target_name(body[projections["attn_wk"]]),
             "v": target_name(body[projections["attn_wv"]])}
    if None in names.values():
        return None, look + "q, k and v should each be assigned to one name (`q = linear(x, ...)`)."
    params = (names["q"], names["k"], names["v"], args[2], args[3], loop.target.id)
    block = Block("attention", body[start:wo], params, (out,), top_level=False)
    return _only_reads_params(block, gpt_locals, look)


def _appends_to_cache(stmt: ast.stmt, caches: list[str]) -> bool:
    """`keys[li].append(k)`: a statement that only appends to one layer's cache."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return False
    func = stmt.value.func
    return (isinstance(func, ast.Attribute) and func.attr == "append" and isinstance(func.value, ast.Subscript)
            and isinstance(func.value.value, ast.Name) and func.value.value.id in caches)


#: The name the MLP's input takes in the lines cut out of gpt (`linear(rmsnorm(x), fc1)` reads
#: it in place of `rmsnorm(x)`): the contract's mlp starts at fc1.
MLP_INPUT = "mlp_input__"


def _mlp_block(loop: ast.For, weights: str, gpt_locals: set[str]) -> tuple[Block | None, str]:
    look = ("layers: the MLP is checked as the statements of gpt's layer loop from the line that applies "
            "`mlp_fc1` (`x = linear(x, state_dict[f'layer{li}.mlp_fc1'])`) to the one that applies `mlp_fc2`; ")
    body = loop.body
    fc1 = next((i for i, s in enumerate(body) if mentions(s, "mlp_fc1")), None)
    fc2 = next((i for i, s in enumerate(body) if mentions(s, "mlp_fc2")), None)
    if fc1 is None or fc2 is None or fc2 < fc1:
        return None, look + "that loop has no such lines."
    first = copy.deepcopy(body[fc1])
    call = _weight_call(first, "mlp_fc1")
    out = target_name(body[fc2])
    if call is None or out is None:
        return None, look + ("fc1 should be applied as `linear(input, weights)` and the output of fc2 assigned to "
                             f"one name; found `{source_of(body[fc1])}` ... `{source_of(body[fc2])}`.")
    call.args[0] = ast.copy_location(ast.Name(id=MLP_INPUT, ctx=ast.Load()), call.args[0])
    block = Block("mlp", [first, *body[fc1 + 1: fc2 + 1]], (MLP_INPUT, weights, loop.target.id), (out,),
                  top_level=False)
    return _only_reads_params(block, gpt_locals, look)


def _weight_call(stmt: ast.stmt, weight: str) -> ast.Call | None:
    """The call applying `weight`: `linear(x, state_dict[f'layer{li}.mlp_fc1'])`."""
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call) and node.args and any(mentions(a, weight) for a in node.args[1:]):
            return node
    return None


def _first_argument_name(stmt: ast.stmt, weight: str) -> str | None:
    """`heads` in `x = linear(heads, state_dict[f'layer{li}.attn_wo'])`."""
    call = _weight_call(stmt, weight)
    first = call.args[0] if call is not None else None
    return first.id if isinstance(first, ast.Name) else None


def _only_reads_params(block: Block, gpt_locals: set[str], look: str) -> tuple[Block | None, str]:
    """The block cut out of gpt may read gpt's locals only through its parameters."""
    reads = block.reads()
    stray = sorted((reads.now | reads.later) & (gpt_locals - set(block.params)))
    if stray:
        return None, look + (f"those lines also read {', '.join('`' + s + '`' for s in stray)}, computed "
                             "elsewhere in gpt, so they cannot run on their own.")
    return block, ""


# --------------------------------------------------------------------------- the training loop
@dataclass
class TrainingLoop:
    """The pieces of the top-level training loop, each run on its own by the check."""

    loop: ast.For
    step: str  # the loop variable
    num_steps: str  # range(num_steps)
    tokens: Block  # (docs, step) -> tokens: the document of the step, as token ids
    forward: Block  # (tokens, step) -> loss, after loss.backward()
    update: Block | None  # (step,) -> nothing: the Adam update of the script's params, m and v
    update_missing: str
    params: str = ""
    moments: tuple[str, str] = ("", "")
    hyper: dict[str, str] = field(default_factory=dict)  # AdamHyper field -> the script's name


def find_training_loop(script: Script, docs: str | None, bos: str | None) -> TrainingLoop:
    """Split the loop body at `tokens = [BOS] + ...` and at `loss.backward()`: before and up to the
    first is the tokenizer's line, between them the forward pass and loss, after the second the
    update. `docs` and `bos` are the script's names for the documents and BOS."""
    look = ("training loop: found none: a top-level `for step in range(num_steps):` whose body computes "
            "the loss of one document and calls `loss.backward()`.")
    loop = next((s for s in script.body if isinstance(s, ast.For) and calls_method(s, "backward")), None)
    if loop is None:
        raise Missing(look)
    num_steps = loop_range_name(loop)
    if num_steps is None or not isinstance(loop.target, ast.Name):
        raise Missing(f"training loop: `{source_of(loop)}` should read `for step in range(num_steps):` "
                      "with num_steps a top-level name: the check runs chosen steps of a chosen schedule.")
    step, body = loop.target.id, loop.body
    back = next(i for i, s in enumerate(body) if calls_method(s, "backward"))
    call = calls_method(body[back], "backward")
    if not isinstance(call.func.value, ast.Name):
        raise Missing(f"training loop: call backward() on a name (`loss.backward()`), found `{source_of(body[back])}`.")
    loss = call.func.value.id
    at = next((i for i in range(back) if bos and target_name(body[i]) and bos in reads_of([body[i]]).now), None)
    if at is None or docs is None:
        raise Missing("training loop: found no line that turns the step's document into token ids "
                      "with BOS at both ends, e.g. `tokens = [BOS] + [uchars.index(ch) for ch in doc] + [BOS]` "
                      "(after `doc = docs[step % len(docs)]`).")
    tokens = target_name(body[at])
    tokens_block = Block("tokens", without_output(body[: at + 1]), (docs, step), (tokens,), top_level=True)
    forward = Block("forward", without_output(body[at + 1: back + 1]), (tokens, step), (loss,), top_level=True)
    found = TrainingLoop(loop, step, num_steps, tokens_block, forward, None, "")
    _find_update(script, found, body[back + 1:])
    return found


def _find_update(script: Script, found: TrainingLoop, after: list[ast.stmt]) -> None:
    """The Adam update: the statements after backward() that change `p.data` or `p.grad` (or call a
    top-level function of the script that does), and the assignments they read (`lr_t = ...`), in
    order. Printing and bookkeeping stay out."""
    helpers = {f.name: f for f in script.body if isinstance(f, ast.FunctionDef) and _stores_attribute(f, ("data",))}
    changes = [i for i, s in enumerate(after)
               if _stores_attribute(s, ("data", "grad")) or calls_name(s, helpers)]
    if not changes:
        found.update_missing = ("adam: after `loss.backward()` the training loop has no line that changes "
                                "`p.data`: write the Adam update there, inline, as a loop over the parameters "
                                "(`for i, p in enumerate(params): ... p.data -= ...; p.grad = 0`).")
        return
    keep = set(changes)
    wanted = set().union(*(reads_of([after[i]]).now for i in changes))
    for i in range(max(changes), -1, -1):
        if i not in keep and stored_names(after[i]) & wanted:
            keep.add(i)
            wanted |= reads_of([after[i]]).now
    update = Block("update", [after[i] for i in sorted(keep)], (found.step,), (), top_level=True)
    called = [f for name, f in helpers.items() if any(calls_name(s, [name]) for s in update.stmts)]
    code = update.stmts + called  # what runs for one update: the lines, and the helpers they call
    loop = next((n for n in walk_nodes(code) if isinstance(n, ast.For) and _stores_attribute(n, ("data",))), None)
    params = next((n.id for n in ast.walk(loop.iter) if isinstance(n, ast.Name) and n.id in script.module_names
                   and n.id not in BUILTIN_NAMES), None) if loop is not None else None
    if params is None:
        found.update_missing = ("adam: the update should loop over the script's list of parameters, e.g. "
                                "`for i, p in enumerate(params):`; found `"
                                + source_of(loop or update.stmts[0]) + "`.")
        return
    outside = _global_reads(update, called) & script.binding_names()
    moments = _moment_names(code, outside - {params})
    if len(moments) != 2:
        found.update_missing = ("adam: the update should keep its two moment lists at the top level, "
                                "`m = [0.0] * len(params)` and `v = [0.0] * len(params)`, and update them in "
                                f"place (`m[i] = ...`); found {moments or 'none'}.")
        return
    if moments[0].lower().startswith("v") and moments[1].lower().startswith("m"):
        moments.reverse()
    found.update, found.params, found.moments = update, params, (moments[0], moments[1])
    found.hyper = _hyper_names(script, outside - {params, *moments, found.num_steps})


def _global_reads(update: Block, helpers: list[ast.FunctionDef]) -> set[str]:
    reads = update.reads()
    names = set(reads.now | reads.later)
    for helper in helpers:
        inner = reads_of(helper.body, [a.arg for a in helper.args.posonlyargs + helper.args.args])
        names |= inner.now | inner.later
    return names


def _moment_names(code: list[ast.AST], candidates: set[str]) -> list[str]:
    """The top-level lists the update changes in place (`m[i] = ...`), in the order they first appear."""
    names: list[str] = []
    for node in walk_nodes(code):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name)
                and node.value.id in candidates and node.value.id not in names):
            names.append(node.value.id)
    return names


HYPER_NAMES = {
    "lr": ("learning_rate", "lr", "lr0", "base_lr"),
    "beta1": ("beta1", "b1", "adam_beta1"),
    "beta2": ("beta2", "b2", "adam_beta2"),
    "eps": ("eps", "eps_adam", "adam_eps", "epsilon"),
}
HYPER_DEFAULTS = {"lr": 0.01, "beta1": 0.85, "beta2": 0.99, "eps": 1e-8}


def _hyper_names(script: Script, candidates: set[str]) -> dict[str, str]:
    """Which of the script's top-level numbers the update reads is lr, beta1, beta2, eps: by the
    usual names first, then by the reference's value."""
    numbers = {n: script.constant_of(n) for n in candidates}
    numbers = {n: v for n, v in numbers.items() if isinstance(v, (int, float))}
    found: dict[str, str] = {}
    for fieldname, usual in HYPER_NAMES.items():
        by_name = next((n for n in usual if n in numbers), None)
        by_value = next((n for n, v in numbers.items() if v == HYPER_DEFAULTS[fieldname]), None)
        if (by_name or by_value) is not None:
            found[fieldname] = by_name or by_value
    return found


def _stores_attribute(stmt: ast.stmt, attrs: tuple[str, ...]) -> bool:
    return any(isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and n.attr in attrs
               for n in ast.walk(stmt))


# --------------------------------------------------------------------------- the weights
def find_init(script: Script, weights: str) -> Block:
    """The top-level lines that build the weights: `state_dict = {...}` and the loop that adds
    each layer's matrices."""
    stmts = [s for s in script.body if _builds(s, weights)]
    if not any(isinstance(s, (ast.Assign, ast.AnnAssign)) and target_name(s) == weights for s in stmts):
        raise Missing(f"training: found no top-level `{weights} = {{...}}` building the weights. Build them at "
                      f"the top level: `{weights} = {{'wte': matrix(vocab_size, n_embd), ...}}`, then a loop "
                      "adding each layer's matrices, every weight `random.gauss(0, 0.08)`.")
    return Block("init", stmts, (), (weights,), top_level=True)


def _builds(stmt: ast.stmt, weights: str) -> bool:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and target_name(stmt) == weights:
        return True
    if isinstance(stmt, ast.For):
        return any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                   and n.value.id == weights for n in ast.walk(stmt))
    if isinstance(stmt, (ast.Assign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == weights
                   for t in targets)
    return False


# --------------------------------------------------------------------------- sampling
@dataclass
class SamplingLoop:
    draw: Block  # (logits,) -> the drawn id
    sample: Block  # (the outer loop variable,) -> what the script collects of one name
    temperature: str | None


def find_sampling(script: Script) -> SamplingLoop:
    look = ("sampling: found no sampling loop: a top-level loop (after training) whose body starts from BOS, "
            "calls `gpt` position by position and draws the next token with the random module "
            "(`token_id = random.choices(range(vocab_size), weights=[p.data for p in probs])[0]`).")
    random_names = set(script.random_names)
    if not random_names:
        raise Missing(look + " The script does not import random.")

    def draws(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Call) and (
            (isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
             and n.func.value.id in random_names)
            or (isinstance(n.func, ast.Name) and n.func.id in random_names)) for n in ast.walk(node))

    outer = next((s for s in script.body if isinstance(s, ast.For) and not calls_method(s, "backward")
                  and calls_name(s, ["gpt"]) and draws(s)), None)
    if outer is None or not isinstance(outer.target, ast.Name):
        raise Missing(look)
    inner = next((s for s in outer.body if isinstance(s, (ast.For, ast.While)) and calls_name(s, ["gpt"])), None)
    if inner is None:
        raise Missing(look + " Inside it, write a loop over the positions that calls gpt.")
    body = inner.body
    forward = next((i for i, s in enumerate(body) if target_name(s) and calls_name(s, ["gpt"])), None)
    drawn = next((i for i, s in enumerate(body) if forward is not None and i > forward and draws(s)), None)
    if forward is None or drawn is None or target_name(body[drawn]) is None:
        raise Missing(look + " In the position loop, write `logits = gpt(...)`, then the lines that draw one "
                             "token id into a name.")
    logits, token = target_name(body[forward]), target_name(body[drawn])
    draw = Block("draw", without_output(body[forward + 1: drawn + 1]), (logits,), (token,), top_level=True)
    collected = _collected_name(inner)
    if collected is None:
        raise Missing(look + " Collect each drawn character in a list (`name.append(uchars[token_id])`).")
    sample = Block("sample", without_output(outer.body), (outer.target.id,), (collected,), top_level=True)
    return SamplingLoop(draw, sample, _temperature_name(script, draw))


def _collected_name(position_loop: ast.For | ast.While) -> str | None:
    """`name` in `name.append(uchars[token_id])` (or `name += uchars[token_id]`) inside the position
    loop; a counter (`pos_id += 1`) is not it."""
    nodes = list(walk_nodes(position_loop.body))
    for node in nodes:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                and isinstance(node.func.value, ast.Name)):
            return node.func.value.id
    for node in nodes:
        if (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)
                and not isinstance(node.value, ast.Constant)):
            return node.target.id
    return None


def _temperature_name(script: Script, draw: Block) -> str | None:
    """The top-level number the draw divides by: `temperature` (a name with 'temp' in it), or the one
    top-level number the draw reads that is not a model size."""
    reads = draw.reads()
    numbers = [n for n in sorted(reads.now | reads.later)
               if isinstance(script.constant_of(n), (int, float)) and n not in CONFIG_NAMES + ("vocab_size",)]
    named = [n for n in numbers if "temp" in n.lower() or n == "T"]
    if named:
        return named[0]
    return numbers[0] if len(numbers) == 1 else None


# --------------------------------------------------------------------------- the tokenizer
@dataclass
class TokenizerParts:
    chars: str  # uchars
    bos: str  # BOS
    vocab_size: str
    docs: str  # the name uchars is computed from


def find_tokenizer(script: Script) -> TokenizerParts:
    chars = script.first_bound("uchars", "chars")
    bos = script.first_bound("BOS", "bos")
    vocab = script.first_bound("vocab_size")
    if chars is None or bos is None or vocab is None:
        raise Missing(f"tokenizer: {script.label} should define at the top level `uchars = sorted(set(''.join(docs)))`, "
                      "`BOS = len(uchars)` and `vocab_size = len(uchars) + 1` (looked for uchars, BOS and vocab_size).")
    binding = next(b for b in script.bindings if chars in b.writes)
    sources = sorted((binding.reads_now & script.module_names) - BUILTIN_NAMES)
    if len(sources) != 1:
        raise Missing(f"tokenizer: `{source_of(binding.stmt)}` should compute the characters from the list of "
                      "documents alone, e.g. `uchars = sorted(set(''.join(docs)))`: the check gives its own documents.")
    return TokenizerParts(chars, bos, vocab, sources[0])
