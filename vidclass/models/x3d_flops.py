"""Analytic cost and size of an X3D, counted as ``flops.py`` counts ViViT: multiply-accumulates
(MACs) of every convolution and matmul; norms, activations, pooling, the residual sums and
biases are not counted. The X3D paper's "FLOPs" are multiply-adds too, so these equal
PySlowFast's model-zoo figures (docs/models.md). Parameters are counted exactly, BatchNorm
affine weights included, running statistics not (they are buffers).
"""

from __future__ import annotations

import math

from .tokenlearner_block import bottleneck_macs, bottleneck_parameters
from .x3d import STRIDE, X3DConfig


def _down(size: int) -> int:
    return math.ceil(size / 2)  # a 3-wide kernel, padding 1, stride 2


def _block_macs(
    cfg: X3DConfig, positions_in: int, positions: int, dim_in: int, inner: int, dim_out: int, se: bool, shortcut: bool
) -> int:
    total = positions_in * dim_in * inner  # conv_a runs before the stride
    total += positions * inner * 27  # depthwise 3x3x3
    total += positions * inner * dim_out  # conv_c
    if se:
        total += 2 * inner * cfg.se_width(inner)  # on the pooled (1, 1, 1) vector
    if shortcut:
        total += positions * dim_in * dim_out
    return total


def view_macs(cfg: X3DConfig, frames: int | None = None, size: int | None = None) -> int:
    """Multiply-accumulates for one (C, T, H, W) view: the configured clip unless ``frames``
    and ``size`` (a square crop) say otherwise. X3D-TL adds its block's, on the map it gets."""
    t = frames or cfg.num_frames
    h = _down(size or cfg.crop_size)
    stem = cfg.stem_width
    total = t * h * h * stem * (cfg.in_channels * 9 + 5)  # 1x3x3 conv, then depthwise 5x1x1
    dim_in = stem
    stages = zip(cfg.stage_depths, cfg.stage_inner, cfg.stage_widths, strict=True)
    for stage, (depth, inner, dim_out) in enumerate(stages, start=1):
        for i in range(depth):
            before = t * h * h
            if i == 0:
                h = _down(h)
            total += _block_macs(
                cfg, before, t * h * h, dim_in, inner, dim_out, cfg.se_ratio > 0 and i % 2 == 0, i == 0
            )
            dim_in = dim_out
        if cfg.tokenlearner is not None and stage == cfg.tokenlearner_after:
            total += bottleneck_macs(cfg.tokenlearner, dim_out, t, h, h)
    total += t * h * h * dim_in * cfg.head_inner  # pre_conv
    wt, wh, _ = cfg.pool_window
    windows = (t - min(wt, t) + 1) * (h - min(wh, h) + 1) ** 2
    # post_conv runs once per window; the projection once, on the windows' mean (pytorchvideo
    # projects every window, then averages: the same logits, windows - 1 more projections)
    return total + windows * cfg.head_inner * cfg.head_dim + cfg.head_dim * cfg.num_classes


def view_gmacs(cfg: X3DConfig, frames: int | None = None, size: int | None = None) -> float:
    """MACs in units of 1e9: the X3D paper's and PySlowFast's "GFLOPs"."""
    return view_macs(cfg, frames, size) / 1e9


def num_params(cfg: X3DConfig) -> int:
    """Trainable parameters of ``X3D(cfg)``, without building it."""
    stem = cfg.stem_width
    total = cfg.in_channels * 9 * stem + 5 * stem + 2 * stem
    dim_in = stem
    for depth, inner, dim_out in zip(cfg.stage_depths, cfg.stage_inner, cfg.stage_widths, strict=True):
        for i in range(depth):
            block = dim_in * inner + 2 * inner + 27 * inner + 2 * inner + inner * dim_out + 2 * dim_out
            if cfg.se_ratio > 0 and i % 2 == 0:
                se = cfg.se_width(inner)
                block += inner * se + se + se * inner + inner
            if i == 0:  # a strided block: the shortcut conv, and its BN where the width changes
                block += dim_in * dim_out + (2 * dim_out if dim_in != dim_out else 0)
            total += block
            dim_in = dim_out
    total += dim_in * cfg.head_inner + 2 * cfg.head_inner + cfg.head_inner * cfg.head_dim
    if cfg.tokenlearner is not None:
        total += bottleneck_parameters(cfg.tokenlearner, cfg.tokenlearner_channels)
    return total + cfg.head_dim * cfg.num_classes + cfg.num_classes


__all__ = ["STRIDE", "num_params", "view_gmacs", "view_macs"]
