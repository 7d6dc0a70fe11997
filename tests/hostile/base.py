"""A correct submission for two cheap areas (tokenizer, adam); the hostile cases extend it."""

import math
import os
import sys

from microgpt_spec.spec.contract import Backend as ContractBackend


class Tokenizer:
    def __init__(self, docs):
        self.chars = sorted(set("".join(docs)))
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self.ids = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text):
        for c in text:
            if c not in self.ids:
                raise ValueError(f"character {c!r} is not in the vocabulary")
        return [self.ids[c] for c in text]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i != self.bos)

    def sequence(self, doc):
        return [self.bos] + self.encode(doc) + [self.bos]


class Node:
    def __init__(self, data):
        self.data = data
        self.grad = 0


class Adam:
    def __init__(self, params, hyper):
        self.params, self.hyper = list(params), hyper
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self, step, num_steps):
        h = self.hyper
        lr_t = h.lr * (1 - step / num_steps)
        for i, p in enumerate(self.params):
            self.m[i] = h.beta1 * self.m[i] + (1 - h.beta1) * p.grad
            self.v[i] = h.beta2 * self.v[i] + (1 - h.beta2) * p.grad**2
            m_hat = self.m[i] / (1 - h.beta1 ** (step + 1))
            v_hat = self.v[i] / (1 - h.beta2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat**0.5 + h.eps)
            p.grad = 0


class GoodBackend(ContractBackend):
    name = "hostile-base"

    def build_tokenizer(self, docs):
        return Tokenizer(docs)

    def value(self, data):
        return Node(data)

    def adam(self, params, hyper):
        return Adam(params, hyper)


Backend = GoodBackend
