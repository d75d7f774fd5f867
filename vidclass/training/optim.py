"""The optimiser and its learning-rate schedule: AdamW, linear warm-up, cosine decay."""

from __future__ import annotations

import math

import torch

from vidclass.training.options import TrainOptions


def make_optimizer(model: torch.nn.Module, options: TrainOptions) -> torch.optim.AdamW:
    """AdamW; no weight decay on norms, biases, position embeddings and CLS tokens."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        skip = param.ndim <= 1 or name.endswith("pos_embed") or name.split(".")[-1].startswith("cls")
        (no_decay if skip else decay).append(param)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=options.lr,
    )


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(
    optimizer: torch.optim.Optimizer, options: TrainOptions, total_steps: int, warmup_steps: int, step: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The per-step schedule, positioned after ``step`` optimiser steps (0 for a new run)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(s, total_steps, warmup_steps, options.min_lr / options.lr),
        last_epoch=step - 1,
    )


__all__ = ["lr_factor", "make_optimizer", "make_scheduler"]
