"""``tokens`` for X3D-TL: where the TokenLearner bottleneck block's learned tokens look, per frame.

The block (``models/tokenlearner_block.py``) learns S tokens in every frame from the h x w map
of the stage it follows. Its learner's weights over that map, kept in one recorded forward pass
(``models/recording.py``), are the maps: one per learned token and frame. X3D never strides in
time, so the stage's map has the clip's T frames: a "step" here is one input frame. The conv
stages after the block have no attention to carry the output back through (as ViViT's rollout
does), so no token or frame is weighed against another: every row and frame counts the same.
docs/explain-methods.md writes this down.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.recording import recording
from ..models.x3d import X3D, X3DConfig
from .rollout import as_array, normalised

PLAIN_REFUSAL = (
    "--method tokens shows that block's learned tokens, and --method rollout needs a ViViT's attention "
    "in every layer (maps for conv networks, such as Grad-CAM, are not supported yet)"
)
ROLLOUT_REFUSAL = "rollout multiplies attention through every layer, and X3D's conv stages have none"


def x3d_token_layers(cfg: X3DConfig) -> tuple[int, ...]:
    """The stage (1-4) the TokenLearner block follows, as ``vidclass info`` shows it; () without one."""
    return (cfg.tokenlearner_after,) if cfg.tokenlearner is not None else ()


def stage_side(size: int, stage: int) -> int:
    """The side of stage ``stage``'s map (0: the stem) for an input side of ``size`` pixels: the
    stem and each stage halve it, rounding up (a stride-2 conv, 3x3 with padding 1 or 1x1)."""
    for _ in range(stage + 1):
        size = -(-size // 2)
    return size


def x3d_learned(model: X3D, clip: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """The block's learner weights for one view ``clip`` (1, C, T, H, W): (T, S, h, w) float64,
    each map summing to 1 (v1.1: its softmax over space; v1.0: its sigmoid maps divided by their
    sum), and the logits (num_classes,) float32 of the same forward pass (no gradient)."""
    cfg = model.config
    block = model.tokenlearner
    assert block is not None, "the caller checked that the model has a TokenLearner block"
    if clip.dim() != 5 or tuple(clip.shape[:3]) != (1, cfg.in_channels, cfg.num_frames):
        expected = f"(1, {cfg.in_channels}, {cfg.num_frames}, H, W)"
        raise ValueError(f"explain_clip takes one view of shape {expected}, got {tuple(clip.shape)}")
    param = next(model.parameters())
    with torch.inference_mode(), recording(model) as found:
        logits = model(clip.to(param.device, param.dtype))[0].float().cpu()
    (raw,) = found.of(block.learner)  # (T, S, h*w): one clip, so B*T = T
    h, w = (stage_side(int(side), cfg.tokenlearner_after) for side in clip.shape[3:])
    frames, tokens, positions = raw.shape
    assert (frames, positions) == (cfg.num_frames, h * w), f"learner weights {tuple(raw.shape)} for a {h}x{w} map"
    return normalised(as_array(raw)).reshape(frames, tokens, h, w), logits


__all__ = ["PLAIN_REFUSAL", "ROLLOUT_REFUSAL", "stage_side", "x3d_learned", "x3d_token_layers"]
