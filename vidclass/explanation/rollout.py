"""Attention rollout (Abnar & Zuidema 2020) through one recorded forward pass.

Every factor of the rollout is applied as a linear map on row vectors, from the output side
down to the input: ``v -> v @ M`` for the factor's matrix M, which docs/explain-methods.md
writes out. A row vector has shape (batch, N): one row per sequence an encoder ran (1 for a
joint encoder over the whole clip, one per time step for Model 2's spatial encoder).
Everything is float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..models.layers import Block, FactorisedSelfAttentionBlock, SplitHeadAttention
from ..models.recording import Recording
from ..models.vivit import Encoder

RowMap = Callable[[np.ndarray], np.ndarray]  # v (batch, N_out) -> v @ M (batch, N_in)


def as_array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()


def normalised(weights: np.ndarray, axis: int | tuple[int, ...] = -1) -> np.ndarray:
    """``weights`` divided by their sum over ``axis``; uniform where that sum is 0."""
    total = weights.sum(axis=axis, keepdims=True)
    count = np.prod([weights.shape[a] for a in np.atleast_1d(axis)])
    uniform = np.full_like(weights, 1.0 / count)
    return np.divide(weights, total, out=uniform, where=total > 0)


def _residual(mix: RowMap) -> RowMap:
    """The attention with its residual: 0.5 * A + 0.5 * I."""
    return lambda v: 0.5 * mix(v) + 0.5 * v


def _joint(probs: torch.Tensor) -> RowMap:
    """probs (batch, N, N), the heads' mean: every token attends to every token."""
    a = as_array(probs)
    return lambda v: np.einsum("bn,bnm->bm", v, a)


def _over_time(probs: torch.Tensor) -> RowMap:
    """probs (batch, S, T, T), the heads' mean: the tokens at one spatial position attend to each other."""
    a = as_array(probs)
    b, s, t, _ = a.shape
    return lambda v: np.einsum("bts,bstu->bus", v.reshape(b, t, s), a).reshape(b, t * s)


def _over_space(probs: torch.Tensor) -> RowMap:
    """probs (batch, T, S, S), the heads' mean: the tokens of one frame attend to each other."""
    a = as_array(probs)
    b, t, s, _ = a.shape
    return lambda v: np.einsum("bts,btsu->btu", v.reshape(b, t, s), a).reshape(b, t * s)


def block_map(block: nn.Module, found: Recording) -> RowMap:
    """The rollout factor of one block: its attention(s), each with its residual."""
    if isinstance(block, FactorisedSelfAttentionBlock):  # Model 3: two factors
        (time_probs,) = found.of(block.attn_time)
        (space_probs,) = found.of(block.attn_space)
        time, space = _residual(_over_time(time_probs)), _residual(_over_space(space_probs))
        first, second = (time, space) if block.time_first else (space, time)
        return lambda v: first(second(v))  # v @ (R_second @ R_first)
    assert isinstance(block, Block)
    if isinstance(block.attn, SplitHeadAttention):  # Model 4: half the heads each way
        time_probs, space_probs = found.of(block.attn)
        time, space = _over_time(time_probs), _over_space(space_probs)
        return _residual(lambda v: 0.5 * time(v) + 0.5 * space(v))
    (probs,) = found.of(block.attn)
    return _residual(_joint(probs))


def _through(weights: np.ndarray) -> RowMap:
    """weights (batch, frames, rows, cols) block-diagonal over frames: v (batch, frames*rows)
    -> (batch, frames*cols)."""
    b, f, r, _ = weights.shape
    return lambda v: np.einsum("bfr,bfrc->bfc", v.reshape(b, f, r), weights).reshape(b, -1)


@dataclass(frozen=True)
class Layer:
    """One block of an encoder as a rollout factor.

    ``full`` maps the block's output to its input. Where a TokenLearner feeds the block,
    ``to_learned`` maps the output to the learned tokens (the block's own input) and
    ``weights`` (batch, frames, tokens, S) are the learner's weights, rows summing to 1.
    """

    full: RowMap
    width_out: int
    to_learned: RowMap | None = None
    weights: np.ndarray | None = None


def encoder_layers(encoder: Encoder, found: Recording, batch: int, frames: int, width: int) -> list[Layer]:
    """The rollout factors of ``encoder``'s blocks in forward order; its input holds ``width``
    tokens per sequence (a CLS token, if any, included), made of ``frames`` equal frames."""
    layers = []
    for i, block in enumerate(encoder.blocks):
        key = str(i)
        attention = block_map(block, found)
        if key not in encoder.learners:
            layers.append(Layer(attention, width))
            continue
        (raw,) = found.of(encoder.learners[key])  # (batch*frames, tokens, S)
        weights = normalised(as_array(raw)).reshape(batch, frames, *raw.shape[1:])
        learn = _through(weights)
        if key in encoder.fusers:
            (fuse_raw,) = found.of(encoder.fusers[key])  # (batch*frames, S, tokens)
            fuse = _through(normalised(as_array(fuse_raw)).reshape(batch, frames, *fuse_raw.shape[1:]))

            def to_learned(v: np.ndarray, attention: RowMap = attention, fuse: RowMap = fuse) -> np.ndarray:
                return attention(fuse(v))

            def full(v: np.ndarray, learn: RowMap = learn, to_learned: RowMap = to_learned) -> np.ndarray:
                return 0.5 * v + 0.5 * learn(to_learned(v))

            layers.append(Layer(full, width, to_learned, weights))
        else:
            width = frames * weights.shape[2]

            def through(v: np.ndarray, attention: RowMap = attention, learn: RowMap = learn) -> np.ndarray:
                return learn(attention(v))

            layers.append(Layer(through, width, attention, weights))
    return layers


def output_row(batch: int, width: int, cls_token: bool) -> np.ndarray:
    """What the encoder's output is read as: the CLS row, or the mean over rows (GAP)."""
    row = np.zeros((batch, width))
    if cls_token:
        row[:, 0] = 1.0
    else:
        row[:] = 1.0 / width
    return row


def roll(layers: list[Layer], row: np.ndarray, stop: int = 0) -> np.ndarray:
    """``row`` carried from the output down through ``layers[stop:]``."""
    for layer in reversed(layers[stop:]):
        row = layer.full(row)
    return row
