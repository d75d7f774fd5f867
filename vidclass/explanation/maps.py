"""The maps behind ``vidclass explain``: one recorded forward pass of one clip, read two ways.

``tokens`` (TokenLearner models): the learner's own weights over the h x w grid, one map per
learned token and tubelet step, weighted by how much each learned token reaches the output.
``rollout`` (every ViViT): attention rollout from the output down to the token grid.
X3D-TL models have ``tokens`` alone (``x3d_tokens.py``), one map per learned token and frame;
a plain X3D has neither. docs/explain-methods.md writes down how each variant computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import VidclassError
from ..models.config import ViViTConfig
from ..models.recording import Recording, recording
from ..models.vivit import Encoder, FactorisedEncoderBackbone, JointBackbone, ViViT
from ..models.x3d import X3D, X3DConfig
from .rollout import encoder_layers, normalised, output_row, roll
from .x3d_tokens import PLAIN_REFUSAL, ROLLOUT_REFUSAL, x3d_learned, x3d_token_layers

TOKENS = "tokens"
ROLLOUT = "rollout"


@dataclass(frozen=True)
class Maps:
    """Where one clip's prediction came from, per tubelet step (X3D-TL: per frame).

    ``maps`` (steps, rows, h, w), float64: every ``maps[i, r]`` sums to 1 over (h, w).
    ``row_weights`` (steps, rows): how much each row counts within its step (each step sums
    to 1). ``step_weights`` (steps,): how much each step counts (sums to 1). ``logits``
    (num_classes,), float32, from the same forward pass.
    """

    method: str
    maps: np.ndarray
    row_weights: np.ndarray
    step_weights: np.ndarray
    logits: torch.Tensor


def token_layers(cfg: ViViTConfig | X3DConfig) -> tuple[int, ...]:
    """The (0-based) blocks that have a TokenLearner before them; the first is the default.
    For Model 2 they count blocks of the spatial encoder. X3D-TL: the stage (1-4) its one
    TokenLearner block follows."""
    if isinstance(cfg, X3DConfig):
        return x3d_token_layers(cfg)
    tl = cfg.tokenlearner
    if tl is None:
        return ()
    return tuple(range(tl.location, cfg.num_layers if tl.fuse else tl.location + 1))


def methods_for(cfg: ViViTConfig | X3DConfig) -> tuple[str, ...]:
    """The methods that can explain a model of ``cfg``: none for a plain X3D."""
    if isinstance(cfg, X3DConfig):
        return (TOKENS,) if cfg.tokenlearner is not None else ()
    return (TOKENS, ROLLOUT) if cfg.tokenlearner is not None else (ROLLOUT,)


def _check(cfg: ViViTConfig | X3DConfig, method: str, layer: int | None) -> int | None:
    """The TokenLearner layer ``method`` reads (None for rollout), or a usage error."""
    methods = methods_for(cfg)
    if not methods:
        raise VidclassError(f"this model is an X3D without a TokenLearner block: {PLAIN_REFUSAL}")
    if method not in methods:
        if method == ROLLOUT and isinstance(cfg, X3DConfig):
            raise VidclassError(f"--method rollout cannot explain an X3D ({ROLLOUT_REFUSAL}): use --method tokens")
        if method == TOKENS:
            raise VidclassError("this model has no TokenLearner: --method rollout is the one it can explain")
        raise VidclassError(f"unknown --method {method!r:.40}; this model can explain: {', '.join(methods)}")
    if method == ROLLOUT:
        if layer is not None:
            raise VidclassError("--layer picks a TokenLearner for --method tokens; --method rollout uses every layer")
        return None
    layers = token_layers(cfg)
    if layer is None:
        return layers[0]
    if isinstance(layer, bool) or layer not in layers:
        if isinstance(cfg, X3DConfig):
            raise VidclassError(
                f"--layer {layer!r:.20}: this X3D's TokenLearner block follows stage {layers[0]}, "
                f"the one --layer it takes"
            )
        raise VidclassError(
            f"--layer {layer!r:.20} has no TokenLearner; layers with one: {', '.join(map(str, layers))}"
        )
    return layer


def explain_clip(model: ViViT | X3D, clip: torch.Tensor, method: str, layer: int | None = None) -> Maps:
    """Explain ``model``'s prediction for ``clip``, one normalised view (1, C, T, H, W).

    One forward pass without gradients, in recording mode, with the model as given (in eval
    mode for a deterministic answer). Raises ``VidclassError`` (usage) for a method the model
    cannot do or a ``layer`` without a TokenLearner; ``ValueError`` for a clip of the wrong shape.
    """
    layer = _check(model.config, method, layer)
    if isinstance(model, X3D):  # tokens: every frame and learned token counts the same
        maps, logits = x3d_learned(model, clip)
        frames, tokens = maps.shape[:2]
        return Maps(method, maps, np.full((frames, tokens), 1.0 / tokens), np.full(frames, 1.0 / frames), logits)
    cfg = model.config
    t, h, w = cfg.grid
    expected = (1, cfg.in_channels, cfg.num_frames, cfg.image_size, cfg.image_size)
    if tuple(clip.shape) != expected:
        raise ValueError(f"explain_clip takes one view of shape {expected}, got {tuple(clip.shape)}")
    param = next(model.parameters())
    with torch.inference_mode(), recording(model) as found:
        logits = model(clip.to(param.device, param.dtype))[0].float().cpu()
    backbone = model.backbone
    if isinstance(backbone, FactorisedEncoderBackbone):
        steps = _temporal_weights(backbone.temporal, found, t, cfg.has_cls_token)
        spatial = _Reading(backbone.spatial, found, batch=t, frames=1, cls_token=cfg.has_cls_token)
    else:
        assert isinstance(backbone, JointBackbone)
        steps = None
        spatial = _Reading(backbone.encoder, found, batch=1, frames=t, cls_token=cfg.has_cls_token)
    if layer is None:
        mass = spatial.grid_mass().reshape(t, 1, h, w)  # (steps, 1, h, w)
        maps = normalised(mass, axis=(2, 3))
        row_weights = np.ones((t, 1))
    else:
        weights, learned = spatial.learned(layer)  # (t, tokens, S), (t, tokens)
        maps = weights.reshape(t, -1, h, w)
        mass = learned
        row_weights = normalised(learned)
    if steps is None:
        steps = normalised(mass.reshape(t, -1).sum(axis=1))
    return Maps(method, maps, row_weights, steps, logits)


class _Reading:
    """The rollout of one encoder (joint, or Model 2's spatial one) down to the token grid."""

    def __init__(self, encoder: Encoder, found: Recording, *, batch: int, frames: int, cls_token: bool):
        self.batch, self.frames, self.cls_token = batch, frames, cls_token
        grid = encoder.pos_embed.shape[1] - int(cls_token)  # frames * S for a joint encoder
        self.per_frame = grid // frames
        self.layers = encoder_layers(encoder, found, batch, frames, grid + int(cls_token))
        self.row = output_row(batch, self.layers[-1].width_out, cls_token)

    def grid_mass(self) -> np.ndarray:
        """(batch * frames, S): the output's rollout over the grid tokens (CLS column dropped)."""
        v = roll(self.layers, self.row)
        return v[:, int(self.cls_token) :].reshape(self.batch * self.frames, self.per_frame)

    def learned(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The learner weights of ``layer`` (steps, tokens, S), rows summing to 1, and the rollout
        mass on its learned tokens (steps, tokens)."""
        at = self.layers[layer]
        assert at.to_learned is not None and at.weights is not None
        v = at.to_learned(roll(self.layers, self.row, layer + 1))
        tokens, s = at.weights.shape[2:]
        return at.weights.reshape(-1, tokens, s), v.reshape(-1, tokens)


def _temporal_weights(encoder: Encoder, found: Recording, steps: int, cls_token: bool) -> np.ndarray:
    """Model 2: the temporal encoder's rollout over its frame tokens, summing to 1."""
    layers = encoder_layers(encoder, found, 1, 1, steps + int(cls_token))
    v = roll(layers, output_row(1, layers[-1].width_out, cls_token))
    return normalised(v[0, int(cls_token) :])
