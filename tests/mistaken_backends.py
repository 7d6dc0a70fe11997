"""Mistaken backends: the pure backend with one classic bug each.

The spec must reject every one of them in the area where the bug lives, and must still
pass them in every area that does not run the buggy code (see
`contract.AREA_DEPENDS_ON`). `test_mistakes.py` checks both.

Each class patches the pure backend's modules when it is created. That is only safe
because the conformance run that loads it is a process of its own (the test starts one per
mistake); never create these in the test process itself.

Load one by hand to see what a learner would see:

    pytest conformance --backend=tests/mistaken_backends.py:LogDerivative --area=ops
"""

from __future__ import annotations

import math

from microgpt_spec.backends.pure import PureBackend
from microgpt_spec.backends.pure import adam, engine, model, sampling
from microgpt_spec.backends.pure import train as training
from microgpt_spec.backends.pure.engine import Value
from microgpt_spec.backends.pure.tokenizer import CharTokenizer


class Mistake(PureBackend):
    """A pure backend with one bug; `area` is where the spec must catch it."""

    area: str = ""
    description: str = ""

    def __init__(self) -> None:
        self.name = f"pure with a mistake: {self.description}"
        self.introduce_bug()

    def introduce_bug(self) -> None:
        raise NotImplementedError


def patch(owner, name: str, replacement) -> None:
    setattr(owner, name, replacement)


# --------------------------------------------------------------------------- ops
class LogDerivative(Mistake):
    area, description = "ops", "d/da log(a) taken as a instead of 1/a"

    def introduce_bug(self):
        def log(self):
            return Value(math.log(self.data), (self,), (self.data,))

        patch(Value, "log", log)


class PowDerivative(Mistake):
    area, description = "ops", "d/da a**k taken as k*a**k instead of k*a**(k-1)"

    def introduce_bug(self):
        def power(self, k):
            return Value(self.data**k, (self,), (k * self.data**k,))

        patch(Value, "__pow__", power)


# --------------------------------------------------------------------------- autograd
class GradientsOverwritten(Mistake):
    area, description = "autograd", "child.grad = ... instead of += (gradients do not accumulate)"

    def introduce_bug(self):
        def backward(self):
            order = engine.topological_order(self)
            self.grad = 1
            for node in reversed(order):
                for child, local in zip(node._children, node._local_grads):
                    child.grad = local * node.grad

        patch(Value, "backward", backward)


class ChildrenBeforeParents(Mistake):
    area, description = "autograd", "nodes appended before their children (pre-order), so a shared node passes its gradient on before it has all of it"

    def introduce_bug(self):
        def pre_order(root):
            order, seen, stack = [], set(), [root]
            while stack:
                node = stack.pop()
                if node in seen:
                    continue
                seen.add(node)
                order.append(node)
                stack.extend(reversed(node._children))
            return order[::-1]  # backward() walks it reversed: parents first, as it believes

        patch(engine, "topological_order", pre_order)


# --------------------------------------------------------------------------- layers
def _softmax_without_shift(logits):
    exps = [z.exp() for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


class SoftmaxWithoutMaxShift(Mistake):
    area, description = "layers", "softmax without subtracting max(z): exp overflows for large logits"

    def introduce_bug(self):
        patch(model, "softmax", _softmax_without_shift)
        patch(sampling, "softmax", _softmax_without_shift)


class RmsnormWithoutEps(Mistake):
    area, description = "layers", "rmsnorm without the 1e-5 under the root"

    def introduce_bug(self):
        def rmsnorm(x):
            scale = (sum(xi * xi for xi in x) / len(x)) ** -0.5
            return [xi * scale for xi in x]

        patch(model, "rmsnorm", rmsnorm)


class RmsnormEpsOutsideRoot(Mistake):
    area, description = "layers", "rmsnorm as x / (sqrt(mean(x^2)) + 1e-5): eps outside the root"

    def introduce_bug(self):
        def rmsnorm(x):
            scale = ((sum(xi * xi for xi in x) / len(x)) ** 0.5 + 1e-5) ** -1
            return [xi * scale for xi in x]

        patch(model, "rmsnorm", rmsnorm)


class AttentionScaledByHeadDim(Mistake):
    area, description = "layers", "attention scores divided by head_dim instead of sqrt(head_dim)"

    def introduce_bug(self):
        def attention(q, keys, values, n_head):
            d = len(q) // n_head
            out = []
            for h in range(n_head):
                lo, hi = h * d, (h + 1) * d
                scores = [sum(q[lo + j] * k[lo + j] for j in range(d)) / d for k in keys]
                weights = model.softmax(scores)
                out.extend(sum(weights[t] * values[t][lo + j] for t in range(len(values))) for j in range(d))
            return out

        patch(model, "attention", attention)


class ResidualDropped(Mistake):
    area, description = "layers", "the attention block's residual connection left out"

    def introduce_bug(self):
        def attention_block(weights, layer, n_head, x, keys, values):
            prefix = f"layer{layer}."
            x = model.rmsnorm(x)
            q = model.linear(x, weights[prefix + "attn_wq"])
            keys.append(model.linear(x, weights[prefix + "attn_wk"]))
            values.append(model.linear(x, weights[prefix + "attn_wv"]))
            return model.linear(model.attention(q, keys, values, n_head), weights[prefix + "attn_wo"])

        patch(model, "attention_block", attention_block)


class KVCacheNotAppended(Mistake):
    area, description = "layers", "this position's key and value used but never appended to the cache"

    def introduce_bug(self):
        def attention_block(weights, layer, n_head, x, keys, values):
            prefix = f"layer{layer}."
            residual = x
            x = model.rmsnorm(x)
            q = model.linear(x, weights[prefix + "attn_wq"])
            k = model.linear(x, weights[prefix + "attn_wk"])
            v = model.linear(x, weights[prefix + "attn_wv"])
            heads = model.attention(q, keys + [k], values + [v], n_head)
            return model.add(model.linear(heads, weights[prefix + "attn_wo"]), residual)

        patch(model, "attention_block", attention_block)


# --------------------------------------------------------------------------- tokenizer
class BosIsZero(Mistake):
    area, description = "tokenizer", "BOS given id 0, the id of the first character"

    def introduce_bug(self):
        original_init = CharTokenizer.__init__

        def init(self, docs):
            original_init(self, docs)
            self.bos = 0

        patch(CharTokenizer, "__init__", init)


# --------------------------------------------------------------------------- loss
class LossSummed(Mistake):
    area, description = "loss", "the sequence loss summed over positions instead of averaged"

    def introduce_bug(self):
        patch(model, "mean", lambda losses: sum(losses))


# --------------------------------------------------------------------------- adam
def _adam_step(*, correct: bool = True, from_zero: bool = False, decay: bool = True, reset: bool = True):
    """Adam.step with one of its parts switched off or shifted."""

    def step(self, step, num_steps):
        h = self.hyper
        lr_t = h.lr * (1 - step / num_steps) if decay else h.lr
        t = step if from_zero else step + 1
        for i, p in enumerate(self.params):
            g = p.grad
            self.m[i] = h.beta1 * self.m[i] + (1 - h.beta1) * g
            self.v[i] = h.beta2 * self.v[i] + (1 - h.beta2) * g**2
            m_hat = self.m[i] / (1 - h.beta1**t) if correct else self.m[i]
            v_hat = self.v[i] / (1 - h.beta2**t) if correct else self.v[i]
            p.data -= lr_t * m_hat / (v_hat**0.5 + h.eps)
            if reset:
                p.grad = 0

    return step


class AdamWithoutBiasCorrection(Mistake):
    area, description = "adam", "m and v used without dividing by (1 - beta**(step+1))"

    def introduce_bug(self):
        patch(adam.Adam, "step", _adam_step(correct=False))


class AdamStepFromZero(Mistake):
    area, description = "adam", "bias correction with beta**step instead of beta**(step+1)"

    def introduce_bug(self):
        patch(adam.Adam, "step", _adam_step(from_zero=True))


class AdamWithoutLrDecay(Mistake):
    area, description = "adam", "learning rate not decayed: lr instead of lr*(1 - step/num_steps)"

    def introduce_bug(self):
        patch(adam.Adam, "step", _adam_step(decay=False))


class GradsNotReset(Mistake):
    area, description = "adam", "grads not set back to 0 after the update"

    def introduce_bug(self):
        patch(adam.Adam, "step", _adam_step(reset=False))


# --------------------------------------------------------------------------- sampling
class TemperatureAfterSoftmax(Mistake):
    area, description = "sampling", "temperature applied to the probabilities instead of the logits"

    def introduce_bug(self):
        def sample_next(logits, temperature, rng):
            probs = [p / temperature for p in model.softmax(list(logits))]
            return rng.choices(range(len(probs)), weights=[p.data for p in probs])[0]

        patch(sampling, "sample_next", sample_next)


class ArgmaxInsteadOfSampling(Mistake):
    area, description = "sampling", "always the most likely token instead of a random draw"

    def introduce_bug(self):
        def sample_next(logits, temperature, rng):
            rng.random()  # still uses the generator, so only the choice is wrong
            data = [z.data for z in logits]
            return data.index(max(data))

        patch(sampling, "sample_next", sample_next)


# --------------------------------------------------------------------------- more mistakes
class LogPlusTinyEpsilon(Mistake):
    area, description = "ops", "log(a + 1e-10) instead of log(a): errors of ~1e-10, far below float32's"

    def introduce_bug(self):
        def log(self):
            return Value(math.log(self.data + 1e-10), (self,), (1 / (self.data + 1e-10),))

        patch(Value, "log", log)


class RmsnormEpsTenfold(Mistake):
    area, description = "layers", "rmsnorm with eps = 1e-4 instead of 1e-5 (its gradients are right for it)"

    def introduce_bug(self):
        def rmsnorm(x):
            scale = (sum(xi * xi for xi in x) / len(x) + 1e-4) ** -0.5
            return [xi * scale for xi in x]

        patch(model, "rmsnorm", rmsnorm)


class TiedLmHead(Mistake):
    area, description = "layers", "logits from wte (tied weights): the lm_head matrix is ignored"

    def introduce_bug(self):
        original_gpt = model.gpt

        def gpt(weights, config, token, pos, keys, values):
            return original_gpt({**weights, "lm_head": weights["wte"]}, config, token, pos, keys, values)

        patch(model, "gpt", gpt)
        patch(sampling, "gpt", gpt)


class DecodeIndexError(Mistake):
    area, description = "tokenizer", "decode looks BOS up among the characters (an IndexError)"

    def introduce_bug(self):
        def decode(self, ids):
            return "".join(self.chars[i] for i in ids)

        patch(CharTokenizer, "decode", decode)


def _weight_decayed(step_function, decay: float = 0.1):
    def step(self, step, num_steps):
        lr_t = self.hyper.lr * (1 - step / num_steps)
        step_function(self, step, num_steps)
        for p in self.params:
            p.data -= lr_t * decay * p.data

    return step


class AdamWithWeightDecay(Mistake):
    area, description = "adam", "an extra decoupled weight decay: p -= lr_t * 0.1 * p after the Adam step"

    def introduce_bug(self):
        patch(adam.Adam, "step", _weight_decayed(adam.Adam.step))


class AdamWithGradientClipping(Mistake):
    area, description = "adam", "each gradient clipped to [-1, 1] before the moments are updated"

    def introduce_bug(self):
        original = adam.Adam.step

        def step(self, step, num_steps):
            for p in self.params:
                p.grad = max(-1.0, min(1.0, p.grad))
            original(self, step, num_steps)

        patch(adam.Adam, "step", step)


class AdamCosineSchedule(Mistake):
    area, description = "adam", "a cosine learning-rate schedule instead of the linear decay"

    def introduce_bug(self):
        original = adam.Adam.step

        def step(self, step, num_steps):
            linear = 1 - step / num_steps
            cosine = 0.5 * (1 + math.cos(math.pi * step / num_steps))
            hyper = self.hyper
            # lr * linear has to equal lr_cosine: scale lr for the duration of the step.
            self.hyper = type(hyper)(lr=hyper.lr * cosine / linear, beta1=hyper.beta1, beta2=hyper.beta2,
                                     eps=hyper.eps)
            try:
                original(self, step, num_steps)
            finally:
                self.hyper = hyper

        patch(adam.Adam, "step", step)


class ResumeForgetsMoments(Mistake):
    area, description = "training", "a resumed run ignores the m and v it is given (restarts Adam at 0)"

    def introduce_bug(self):
        original = training.train

        def train(params, config, sequences, schedule, **options):
            return original(params, config, sequences, schedule, **{**options, "moments": None})

        patch(training, "train", train)


class BatchLossSummed(Mistake):
    area, description = "training", "a batched step's loss is the sum of its sequences' losses, not the mean"

    def introduce_bug(self):
        def batch_loss(weights, config, batch):
            return sum(model.sequence_loss(weights, config, tokens) for tokens in batch)

        patch(training, "batch_loss", batch_loss)


class BatchWrongSequences(Mistake):
    area, description = "training", "a batched step s takes sequences s .. s+B-1 instead of s*B .. s*B+B-1"

    def introduce_bug(self):
        def batch_for_step(sequences, step, batch_size):
            return [sequences[(step + b) % len(sequences)] for b in range(batch_size)]

        patch(training, "batch_for_step", batch_for_step)


class TopKSampler(Mistake):
    area, description = "sampling", "draws only among the 3 largest logits (top-k)"

    def introduce_bug(self):
        def sample_next(logits, temperature, rng):
            probs = [p.data for p in model.softmax([z / temperature for z in logits])]
            keep = sorted(range(len(probs)), key=lambda i: -probs[i])[:3]
            weights = [p if i in keep else 0.0 for i, p in enumerate(probs)]
            return rng.choices(range(len(probs)), weights=weights)[0]

        patch(sampling, "sample_next", sample_next)


class GenerateStopsOneEarly(Mistake):
    area, description = "sampling", "the generate loop runs block_size - 1 positions"

    def introduce_bug(self):
        def generate(weights, config, temperature, rng):
            keys, values = model.empty_cache(config)
            token, drawn = config.bos, []
            for pos in range(config.block_size - 1):
                token = sampling.sample_next(sampling.gpt(weights, config, token, pos, keys, values), temperature, rng)
                if token == config.bos:
                    break
                drawn.append(token)
            return drawn

        patch(sampling, "generate", generate)


class GenerateSkipsBos(Mistake):
    area, description = "sampling", "generate leaves BOS out but keeps drawing after it"

    def introduce_bug(self):
        def generate(weights, config, temperature, rng):
            keys, values = model.empty_cache(config)
            token, drawn = config.bos, []
            for pos in range(config.block_size):
                token = sampling.sample_next(sampling.gpt(weights, config, token, pos, keys, values), temperature, rng)
                if token != config.bos:
                    drawn.append(token)
            return drawn

        patch(sampling, "generate", generate)


# --------------------------------------------------------------------------- for the report's messages
class Float32Arithmetic(Mistake):
    """Every number rounded to float32 as it is made: a float32 engine declaring float64."""

    area, description = "layers", "computes in float32 but declares precision float64"

    def introduce_bug(self):
        import numpy as np

        original_init = Value.__init__

        def init(self, data, children=(), local_grads=()):
            original_init(self, float(np.float32(data)), children,
                          tuple(float(np.float32(g)) for g in local_grads))

        patch(Value, "__init__", init)


class UnfinishedWithWrongInit(Mistake):
    """A learner's state: ops written, backward() not yet (NotImplementedError), and an
    init_params that draws column by column. Training fails only through init_params, which
    uses no other area's code: the report must not send the learner to ops or autograd."""

    area, description = "training", "backward not written yet; init_params draws column by column"

    def introduce_bug(self):
        def backward(self):
            raise NotImplementedError("autograd: backward()")

        def init_params(config, rng):
            from microgpt_spec.spec.contract import param_shapes

            params = {}
            for name, (rows, cols) in param_shapes(config).items():
                columns = [[rng.gauss(0, 0.08) for _ in range(rows)] for _ in range(cols)]
                params[name] = [[columns[c][r] for c in range(cols)] for r in range(rows)]
            return params

        patch(Value, "backward", backward)
        patch(training, "init_params", init_params)


ALL = [
    LogDerivative, PowDerivative, GradientsOverwritten, ChildrenBeforeParents,
    SoftmaxWithoutMaxShift, RmsnormWithoutEps, RmsnormEpsOutsideRoot, AttentionScaledByHeadDim,
    ResidualDropped, KVCacheNotAppended, BosIsZero, LossSummed, AdamWithoutBiasCorrection,
    AdamStepFromZero, AdamWithoutLrDecay, GradsNotReset, TemperatureAfterSoftmax,
    ArgmaxInsteadOfSampling, LogPlusTinyEpsilon, RmsnormEpsTenfold, TiedLmHead, DecodeIndexError,
    AdamWithWeightDecay, AdamWithGradientClipping, AdamCosineSchedule, ResumeForgetsMoments,
    BatchLossSummed, BatchWrongSequences, TopKSampler, GenerateStopsOneEarly, GenerateSkipsBos,
]


# --------------------------------------------------------------------------- not mistakes
class RecursiveTopologicalSort(Mistake):
    """Not a mistake: the original program's own way to order the graph, a recursive
    depth-first search (one Python stack frame per level). Every graph the reference model
    builds is far shallower than the recursion limit, so every counted area must pass; only
    the robustness tier (graphs thousands of levels deep) may fail."""

    area, description = "robustness", "a recursive topological sort, as the original program has"

    def introduce_bug(self):
        def recursive_order(root):
            order, visited = [], set()

            def visit(node):
                if node not in visited:
                    visited.add(node)
                    for child in node._children:
                        visit(child)
                    order.append(node)

            visit(root)
            return order

        patch(engine, "topological_order", recursive_order)


# --------------------------------------------------------------------------- runaways
# Bugs that never finish or that eat memory: the spec's time and memory limits must stop
# them with a clear message, and the run must still end with its table
# (tests/test_runaway.py). Not in ALL: at the default limits each would take minutes.
class TopologicalSortWithoutVisited(Mistake):
    """The graph explodes: without a visited set, a node reached by k paths goes into the
    order k times, so the list (and backward's work) doubles with each layer of a deep graph."""

    area, description = "autograd", "a topological sort without a visited set (the graph explodes)"

    def introduce_bug(self):
        def order_once_per_path(root):
            order = []

            def visit(node):
                for child in node._children:
                    visit(child)
                order.append(node)

            visit(root)
            return order

        patch(engine, "topological_order", order_once_per_path)


class EncodeNeverAdvances(Mistake):
    """An infinite loop: encode's `while` never moves on to the next character."""

    area, description = "tokenizer", "encode loops forever (its index is never incremented)"

    def introduce_bug(self):
        def encode(self, text):
            ids, i = [], 0
            while i < len(text):
                if text[i] not in self._ids:
                    raise ValueError(f"character {text[i]!r} is not in the vocabulary")
                if not ids:
                    ids.append(self._ids[text[i]])  # one id, then the same position forever
            return ids

        patch(CharTokenizer, "encode", encode)


RUNAWAYS = [TopologicalSortWithoutVisited, EncodeNeverAdvances]
