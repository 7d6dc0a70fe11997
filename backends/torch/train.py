"""The training loop: a batch of sequences through the nn.Module, torch's backward, one Adam step.

The model is a copy of the caller's parameters (`model.build`), so the caller's lists stay
as they are; the result hands back new parameters and Adam's moments as plain lists.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from microgpt_spec.spec.contract import AdamHyper, Config, Moments, Schedule, TrainResult
from microgpt_spec.spec.contract import batch_for_step, param_shapes

from . import model as gpt_model
from .adam import ScheduledAdam
from .model import MicroGPT, to_lists


def train(model: MicroGPT, config: Config, sequences: Sequence[Sequence[int]], schedule: Schedule, *,
          hyper: AdamHyper = AdamHyper(), moments: Moments | None = None,
          on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """The schedule's steps on `model` (the caller's copy: it is trained in place)."""
    if not sequences:
        raise ValueError("train: no sequences to train on")
    names = list(param_shapes(config))
    optimizer = ScheduledAdam(
        [model.get_parameter(gpt_model.torch_name(name)) for name in names],
        hyper,
        m=None if moments is None else [moments.m[name] for name in names],
        v=None if moments is None else [moments.v[name] for name in names],
    )
    losses = []
    for step in schedule.steps:
        loss = batch_loss(model, batch_for_step(sequences, step, schedule.batch_size))
        loss.backward()
        optimizer.step(step, schedule.num_steps)
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    return TrainResult(
        params=gpt_model.to_params(model),
        m={name: to_lists(t) for name, t in zip(names, optimizer.moment_tensors("exp_avg"))},
        v={name: to_lists(t) for name, t in zip(names, optimizer.moment_tensors("exp_avg_sq"))},
        losses=losses,
        next_step=schedule.stop,
    )


def batch_loss(model: MicroGPT, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """The mean over sequences of each sequence's mean next-token cross-entropy.

    Sequence b is scored at its first n_b = min(block_size, len - 1) positions. The
    sequences are padded to the longest n_b; a padded position comes after every real one,
    so the causal mask keeps it out of the real positions' attention, and its weight is 0.
    Each real position weighs 1 / (B * n_b), so the weighted sum is the mean of the means.
    """
    lengths = [min(model.config.block_size, len(seq) - 1) for seq in sequences]
    if min(lengths) < 1:
        raise ValueError("a training sequence needs at least 2 tokens (BOS, ..., BOS)")
    width, count = max(lengths), len(sequences)
    pad = [[0] * (width - n) for n in lengths]  # any valid id: weight 0, and masked
    inputs = [list(seq[:n]) + p for seq, n, p in zip(sequences, lengths, pad)]
    targets = [list(seq[1 : n + 1]) + p for seq, n, p in zip(sequences, lengths, pad)]
    weights = [[1.0 / (count * n)] * n + [0.0] * (width - n) for n in lengths]
    # Plain lists first and one tensor each: far cheaper than filling tensors row by row.
    weight = model.lm_head.weight
    logits = model(torch.tensor(inputs, device=weight.device))
    losses = F.cross_entropy(logits.flatten(0, 1), torch.tensor(targets, device=weight.device).flatten(),
                             reduction="none")
    return (losses * torch.tensor(weights, dtype=weight.dtype, device=weight.device).flatten()).sum()
