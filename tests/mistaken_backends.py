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
from microgpt_spec.backends.pure import engine, model, sample
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
        patch(sample, "softmax", _softmax_without_shift)


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
        patch(training.Adam, "step", _adam_step(correct=False))


class AdamStepFromZero(Mistake):
    area, description = "adam", "bias correction with beta**step instead of beta**(step+1)"

    def introduce_bug(self):
        patch(training.Adam, "step", _adam_step(from_zero=True))


class AdamWithoutLrDecay(Mistake):
    area, description = "adam", "learning rate not decayed: lr instead of lr*(1 - step/num_steps)"

    def introduce_bug(self):
        patch(training.Adam, "step", _adam_step(decay=False))


class GradsNotReset(Mistake):
    area, description = "adam", "grads not set back to 0 after the update"

    def introduce_bug(self):
        patch(training.Adam, "step", _adam_step(reset=False))


# --------------------------------------------------------------------------- sampling
class TemperatureAfterSoftmax(Mistake):
    area, description = "sampling", "temperature applied to the probabilities instead of the logits"

    def introduce_bug(self):
        def sample_next(logits, temperature, rng):
            probs = [p / temperature for p in model.softmax(list(logits))]
            return rng.choices(range(len(probs)), weights=[p.data for p in probs])[0]

        patch(sample, "sample_next", sample_next)


class ArgmaxInsteadOfSampling(Mistake):
    area, description = "sampling", "always the most likely token instead of a random draw"

    def introduce_bug(self):
        def sample_next(logits, temperature, rng):
            rng.random()  # still uses the generator, so only the choice is wrong
            data = [z.data for z in logits]
            return data.index(max(data))

        patch(sample, "sample_next", sample_next)


ALL = [
    LogDerivative, PowDerivative, GradientsOverwritten, ChildrenBeforeParents,
    SoftmaxWithoutMaxShift, RmsnormWithoutEps, RmsnormEpsOutsideRoot, AttentionScaledByHeadDim,
    ResidualDropped, KVCacheNotAppended, BosIsZero, LossSummed, AdamWithoutBiasCorrection,
    AdamStepFromZero, AdamWithoutLrDecay, GradsNotReset, TemperatureAfterSoftmax,
    ArgmaxInsteadOfSampling,
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
