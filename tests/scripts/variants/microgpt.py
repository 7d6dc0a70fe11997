"""microgpt again, written the other ways learners write it (test data for microgpt-spec).

Same algorithm as ../microgpt.py, other spellings: names imported from `random`, the sizes in
one tuple assignment, a lambda for the weight matrices, `stoi`/`itos` dictionaries, attention
over per-head slices of the cache, the Adam update in a function, an iterative topological
sort, the name collected as a string, and training and sampling under a main guard.
"""

import math
from random import choices, gauss, seed, shuffle

seed(42)
with open("input.txt") as f:
    docs = [line.strip() for line in f if line.strip()]
shuffle(docs)

uchars = sorted(set("".join(docs)))
stoi = {ch: i for i, ch in enumerate(uchars)}
itos = {i: ch for ch, i in stoi.items()}
BOS = len(uchars)
vocab_size = len(uchars) + 1


class Value:
    def __init__(self, data, _children=(), _local_grads=()):
        self.data, self.grad = data, 0
        self._children, self._local_grads = _children, _local_grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, k):
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),))

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return Value(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return Value(self.data if self.data > 0 else 0.0, (self,), (1.0 if self.data > 0 else 0.0,))

    def __neg__(self): return self * -1
    def __radd__(self, other): return self + other
    def __sub__(self, other): return self + (-other)
    def __rsub__(self, other): return other + (-self)
    def __rmul__(self, other): return self * other
    def __truediv__(self, other): return self * other**-1
    def __rtruediv__(self, other): return other * self**-1

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node._children))
        self.grad = 1
        for node in reversed(order):
            for child, local in zip(node._children, node._local_grads):
                child.grad += local * node.grad


n_layer, n_embd, n_head, block_size = 1, 16, 4, 16
head_dim = n_embd // n_head
matrix = lambda nout, nin, std=0.08: [[Value(gauss(0, std)) for _ in range(nin)] for _ in range(nout)]
state_dict = {"wte": matrix(vocab_size, n_embd), "wpe": matrix(block_size, n_embd), "lm_head": matrix(vocab_size, n_embd)}
for layer in range(n_layer):
    for part, (rows, cols) in {"attn_wq": (n_embd, n_embd), "attn_wk": (n_embd, n_embd),
                               "attn_wv": (n_embd, n_embd), "attn_wo": (n_embd, n_embd),
                               "mlp_fc1": (4 * n_embd, n_embd), "mlp_fc2": (n_embd, 4 * n_embd)}.items():
        state_dict[f"layer{layer}.{part}"] = matrix(rows, cols)
params = [p for mat in state_dict.values() for row in mat for p in row]


def linear(x, w):
    return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]


def softmax(logits):
    max_val = max(val.data for val in logits)
    exps = [(val - max_val).exp() for val in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    ms = sum(xi * xi for xi in x) / len(x)
    return [xi * (ms + 1e-5) ** -0.5 for xi in x]


def gpt(token_id, pos_id, kv_keys, kv_values):
    x = rmsnorm([t + p for t, p in zip(state_dict["wte"][token_id], state_dict["wpe"][pos_id])])
    for li in range(n_layer):
        x_residual = x
        x = rmsnorm(x)
        q = linear(x, state_dict[f"layer{li}.attn_wq"])
        k = linear(x, state_dict[f"layer{li}.attn_wk"])
        v = linear(x, state_dict[f"layer{li}.attn_wv"])
        kv_keys[li].append(k)
        kv_values[li].append(v)
        x_attn = []
        for h in range(n_head):
            hs = h * head_dim
            q_h = q[hs:hs + head_dim]
            k_h = [ki[hs:hs + head_dim] for ki in kv_keys[li]]
            v_h = [vi[hs:hs + head_dim] for vi in kv_values[li]]
            attn = softmax([sum(q_h[j] * k_h[t][j] for j in range(head_dim)) / head_dim**0.5 for t in range(len(k_h))])
            x_attn.extend(sum(attn[t] * v_h[t][j] for t in range(len(v_h))) for j in range(head_dim))
        x = [a + b for a, b in zip(linear(x_attn, state_dict[f"layer{li}.attn_wo"]), x_residual)]
        x_residual = x
        h1 = linear(rmsnorm(x), state_dict[f"layer{li}.mlp_fc1"])
        h1 = [hi.relu() for hi in h1]
        h2 = linear(h1, state_dict[f"layer{li}.mlp_fc2"])
        x = [a + b for a, b in zip(h2, x_residual)]
    return linear(x, state_dict["lm_head"])


lr, b1, b2, eps_adam = 0.01, 0.85, 0.99, 1e-8
m_buf = [0.0] * len(params)
v_buf = [0.0] * len(params)
num_steps = 1000


def adam_step(step):
    lr_t = lr * (1 - step / num_steps)
    for i, p in enumerate(params):
        m_buf[i] = b1 * m_buf[i] + (1 - b1) * p.grad
        v_buf[i] = b2 * v_buf[i] + (1 - b2) * p.grad**2
        m_hat = m_buf[i] / (1 - b1 ** (step + 1))
        v_hat = v_buf[i] / (1 - b2 ** (step + 1))
        p.data -= lr_t * m_hat / (v_hat**0.5 + eps_adam)
        p.grad = 0


if __name__ == "__main__":
    for step in range(num_steps):
        tokens = [BOS] + [stoi[ch] for ch in docs[step % len(docs)]] + [BOS]
        n = min(block_size, len(tokens) - 1)
        kv_keys, kv_values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
        losses = []
        for pos_id in range(n):
            token_id, target_id = tokens[pos_id], tokens[pos_id + 1]
            probs = softmax(gpt(token_id, pos_id, kv_keys, kv_values))
            losses.append(-probs[target_id].log())
        loss = (1 / n) * sum(losses)
        loss.backward()
        adam_step(step)
        if step % 100 == 0:
            print(f"step {step:4d} loss {loss.data:.4f}")

    temperature = 0.5
    for sample_idx in range(20):
        kv_keys, kv_values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
        token_id, name = BOS, ""
        for pos_id in range(block_size):
            logits = gpt(token_id, pos_id, kv_keys, kv_values)
            probs = softmax([logit / temperature for logit in logits])
            token_id = choices(range(vocab_size), weights=[p.data for p in probs])[0]
            if token_id == BOS:
                break
            name += itos[token_id]
        print(f"sample {sample_idx + 1:2d}: {name}")
