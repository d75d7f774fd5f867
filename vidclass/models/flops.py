"""Analytic cost of one view, in multiply-accumulates (MACs). FLOPs = 2 x MACs.

The ViViT paper's "GFLOPs" are MACs; ``docs/models.md`` lists them (455.2 for
ViViT-B/16x2 Model 1). Counted: every matmul and convolution, attention scores and the
weighted sum. Not counted: norms, softmax, activations, biases (a fraction of a percent).
"""

from __future__ import annotations

from .config import TokenLearnerConfig, TokenLearnerVersion, Variant, ViViTConfig


def _linear_macs(tokens: int, dim: int, mlp_dim: int, attentions: int = 1) -> int:
    # qkv (3 D^2) + output projection (D^2) per attention, two MLP matmuls (2 D M)
    return tokens * (4 * dim * dim * attentions + 2 * dim * mlp_dim)


def _attention_macs(sequences: int, length: int, dim: int) -> int:
    # scores Q K^T and weighted sum A V, over all heads together: 2 L^2 D per sequence
    return sequences * 2 * length * length * dim


def _block_macs(
    cfg: ViViTConfig, mixer: Variant, frames: int, per_frame: int, prefix: int, dim: int, mlp_dim: int
) -> int:
    n = frames * per_frame + prefix
    if mixer is Variant.FACTORIZED_SELF_ATTENTION:
        return (
            _linear_macs(n, dim, mlp_dim, attentions=2)
            + _attention_macs(per_frame, frames, dim)
            + _attention_macs(frames, per_frame, dim)
        )
    if mixer is Variant.FACTORIZED_DOT_PRODUCT:
        half = dim // 2
        return (
            _linear_macs(n, dim, mlp_dim)
            + _attention_macs(per_frame, frames, half)
            + _attention_macs(frames, per_frame, half)
        )
    return _linear_macs(n, dim, mlp_dim) + _attention_macs(1, n, dim)


def _learner_macs(cfg: ViViTConfig, tl: TokenLearnerConfig, frames: int, positions: int) -> int:
    d, s = cfg.hidden_size, tl.num_tokens
    if tl.version is TokenLearnerVersion.V10:
        maps = positions * 9 * (d * s + 3 * s * s)
    else:
        maps = positions * (d * tl.bottleneck_dim + tl.bottleneck_dim * s)
    return frames * (maps + s * positions * d)


def _fuser_macs(cfg: ViViTConfig, tl: TokenLearnerConfig, frames: int, positions: int) -> int:
    d, s = cfg.hidden_size, tl.num_tokens
    mix = d * s * s
    weights = positions * (d * tl.bottleneck_dim + tl.bottleneck_dim * s)
    return frames * (mix + weights + positions * s * d)


def _encoder_macs(
    cfg: ViViTConfig,
    mixer: Variant,
    depth: int,
    mlp_dim: int,
    frames: int,
    per_frame: int,
    prefix: int,
    tl: TokenLearnerConfig | None,
) -> int:
    total = 0
    for i in range(depth):
        if tl is not None and (i == tl.location or (tl.fuse and i > tl.location)):
            total += _learner_macs(cfg, tl, frames, per_frame)
            total += _block_macs(cfg, mixer, frames, tl.num_tokens, prefix, cfg.hidden_size, mlp_dim)
            if tl.fuse:
                total += _fuser_macs(cfg, tl, frames, per_frame)
            else:
                per_frame = tl.num_tokens
        else:
            total += _block_macs(cfg, mixer, frames, per_frame, prefix, cfg.hidden_size, mlp_dim)
    return total


def view_macs(cfg: ViViTConfig) -> int:
    """Multiply-accumulates for one (C, T, H, W) view."""
    t, gh, gw = cfg.grid
    s = gh * gw
    d = cfg.hidden_size
    tt, th, tw = cfg.tubelet
    cls = int(cfg.has_cls_token)
    total = t * s * d * cfg.in_channels * tt * th * tw  # tubelet embedding
    if cfg.variant is Variant.FACTORIZED_ENCODER:
        total += t * _encoder_macs(cfg, Variant.SPACETIME, cfg.num_layers, cfg.mlp_dim, 1, s, cls, cfg.tokenlearner)
        total += _encoder_macs(cfg, Variant.SPACETIME, cfg.temporal_layers, cfg.mlp_dim_temporal, 1, t, cls, None)
    else:
        total += _encoder_macs(cfg, cfg.variant, cfg.num_layers, cfg.mlp_dim, t, s, cls, cfg.tokenlearner)
    width = cfg.representation_size or d
    if cfg.representation_size:
        total += d * cfg.representation_size
    return total + width * cfg.num_classes


def view_gflops(cfg: ViViTConfig) -> float:
    """Real floating-point operations for one view, in units of 1e9 (2 x MACs)."""
    return 2 * view_macs(cfg) / 1e9
