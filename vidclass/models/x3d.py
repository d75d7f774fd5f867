"""X3D (Feichtenhofer 2020, arXiv:2004.04730), an exact functional match of pytorchvideo's
``create_x3d`` (pytorchvideo 0.1.5, ``pytorchvideo/models/x3d.py``).

Submodules carry pytorchvideo's names, so its ``state_dict()`` loads with the identity key
mapping (``vidclass.checkpoints.convert.pytorchvideo_keys``). One of those names misleads:
in the stem, pytorchvideo's ``conv.conv_t`` is the 1x3x3 *spatial* conv and ``conv.conv_xy``
the depthwise 5x1x1 *temporal* one (``create_x3d_stem`` passes them swapped); we keep them.

Two deliberate differences, documented in docs/models.md:
- the model returns logits; pytorchvideo's default head ends in a softmax (``head_activation``);
- the head's pooling window is the configured clip's final map, ``(T, ceil(S/32), ceil(S/32))``,
  slid with stride 1 as pytorchvideo's ``AvgPool3d`` does, so a larger input (the 3-crop test
  sizes) gives exactly pytorchvideo's result; a smaller input, which pytorchvideo refuses, has
  the window clipped to the map (a global average).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import require, require_int, require_number
from ..protocol import MAX_FRAMES, MAX_IMAGE_SIZE, Aggregate, Preprocessing, ViewProtocol, known_fields
from .config import MAX_CHANNELS, MAX_CLASSES, MAX_WIDTH
from .tokenlearner_block import BottleneckAttention, TokenLearnerBottleneck, TokenLearnerBottleneckConfig

STAGE_DEPTHS = (1, 2, 5, 3)  # before the depth factor (create_x3d's stage_depths)
STAGE_EXPANSION = 2.0  # each stage doubles the previous one's base width
STRIDE = 32  # total spatial stride: stem 2, then 2 in each of the four stages
MAX_FACTOR = 8.0  # width, depth and bottleneck factors (published: 2.0, up to 5.0, 2.25)
TOKENLEARNER_AFTER = 4  # X3D-TL's default: after the last stage (res5, stride 32; docs/models.md)


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """pytorchvideo's ``round_width``: ``width * multiplier`` to a multiple of ``divisor``."""
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def round_repeats(repeats: int, multiplier: float) -> int:
    """pytorchvideo's ``round_repeats``: blocks per stage, rounded up."""
    return int(math.ceil(multiplier * repeats))


@dataclass(frozen=True)
class X3DConfig:
    """The arguments of ``create_x3d`` that define the network (its defaults, but for the
    clip: X3D-S is 13 frames at 160 px). Kernel sizes and strides are create_x3d's fixed ones.
    The head's inner width (432 for width 2.0, bottleneck 2.25) is the last stage's inner
    width, as in create_x3d, which has no argument for it.

    X3D-TL: with ``tokenlearner`` set, a ``TokenLearnerBottleneck`` runs on the output of stage
    ``tokenlearner_after`` (1-4, pytorchvideo's ``blocks[1..4]``: res2..res5). Plain X3D has
    ``tokenlearner`` None, and its dict has neither field (older dicts read as plain X3D)."""

    num_frames: int = 13  # input_clip_length
    crop_size: int = 160  # input_crop_size: sets the head's pooling window
    num_classes: int = 400
    in_channels: int = 3
    width_factor: float = 2.0
    depth_factor: float = 2.2
    bottleneck_factor: float = 2.25
    stem_dim: int = 12  # stem_dim_in, before the width factor
    se_ratio: float = 0.0625
    head_dim: int = 2048  # head_dim_out
    dropout: float = 0.5
    norm_eps: float = 1e-5
    norm_momentum: float = 0.1
    tokenlearner: TokenLearnerBottleneckConfig | None = None
    tokenlearner_after: int = TOKENLEARNER_AFTER

    def __post_init__(self) -> None:
        for name, low, high in (
            ("num_frames", 1, MAX_FRAMES),
            ("crop_size", STRIDE, MAX_IMAGE_SIZE),
            ("num_classes", 1, MAX_CLASSES),
            ("in_channels", 1, MAX_CHANNELS),
            ("stem_dim", 1, 256),
            ("head_dim", 1, MAX_WIDTH),
        ):
            object.__setattr__(self, name, require_int(getattr(self, name), name, low, high))
        for name, floor, ceiling, above, below in (
            ("width_factor", 0.0, MAX_FACTOR, True, False),
            ("depth_factor", 0.0, MAX_FACTOR, True, False),
            ("bottleneck_factor", 0.0, MAX_FACTOR, True, False),
            ("se_ratio", 0.0, 1.0, False, False),
            ("dropout", 0.0, 1.0, False, True),
            ("norm_eps", 0.0, 1.0, True, False),
            ("norm_momentum", 0.0, 1.0, False, False),
        ):
            value = require_number(getattr(self, name), name, floor, ceiling, above=above, below=below)
            object.__setattr__(self, name, value)
        require(all(w <= MAX_WIDTH for w in self.stage_inner), f"the config makes stages wider than {MAX_WIDTH}")
        after = require_int(self.tokenlearner_after, "tokenlearner_after", 1, len(STAGE_DEPTHS))
        object.__setattr__(self, "tokenlearner_after", after)
        if self.tokenlearner is None:
            require(after == TOKENLEARNER_AFTER, "tokenlearner_after is set but tokenlearner is not")
        else:
            require(isinstance(self.tokenlearner, TokenLearnerBottleneckConfig), "tokenlearner must be a config")
            self.tokenlearner.check_channels(self.tokenlearner_channels)  # MHSA: heads divide them

    @property
    def stem_width(self) -> int:
        return round_width(self.stem_dim, self.width_factor)

    @property
    def stage_widths(self) -> tuple[int, ...]:
        base = [self.stem_dim]
        for _ in STAGE_DEPTHS[1:]:
            base.append(round_width(base[-1], STAGE_EXPANSION, divisor=8))
        return tuple(round_width(b, self.width_factor) for b in base)

    @property
    def stage_inner(self) -> tuple[int, ...]:
        return tuple(int(self.bottleneck_factor * w) for w in self.stage_widths)

    @property
    def stage_depths(self) -> tuple[int, ...]:
        return tuple(round_repeats(d, self.depth_factor) for d in STAGE_DEPTHS)

    @property
    def head_inner(self) -> int:
        return self.stage_inner[-1]

    @property
    def pool_window(self) -> tuple[int, int, int]:
        """The head's pooling window: the final map of a configured clip (temporal stride 1)."""
        side = math.ceil(self.crop_size / STRIDE)
        return (self.num_frames, side, side)

    @property
    def tokenlearner_channels(self) -> int:
        """The width of the map the TokenLearner block runs on: its stage's output."""
        return self.stage_widths[self.tokenlearner_after - 1]

    def se_width(self, inner: int) -> int:
        return round_width(inner, self.se_ratio)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; a plain X3D's holds no ``tokenlearner`` fields (as before X3D-TL)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.tokenlearner is None:
            del data["tokenlearner"], data["tokenlearner_after"]
        else:
            data["tokenlearner"] = self.tokenlearner.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> X3DConfig:
        kwargs = known_fields(cls, data, "x3d config")
        if kwargs.get("tokenlearner") is not None:
            kwargs["tokenlearner"] = TokenLearnerBottleneckConfig.from_dict(kwargs["tokenlearner"])
        return cls(**kwargs)


class SqueezeExcitation(nn.Module):
    """fvcore's 3-D SE: x * sigmoid(fc2(relu(fc1(mean over T, H, W))))."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv3d(channels, reduced, 1), nn.ReLU(), nn.Conv3d(reduced, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.block(x.mean(dim=(2, 3, 4), keepdim=True))  # (B, C, 1, 1, 1) gates


class Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


def _bn(cfg: X3DConfig, channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=cfg.norm_eps, momentum=cfg.norm_momentum)


class StemConv(nn.Module):
    """(2+1)D: ``conv_t`` is the 1x3x3 stride-2 spatial conv, ``conv_xy`` the depthwise 5x1x1
    temporal conv (pytorchvideo's swapped names, kept for its state dict)."""

    def __init__(self, cfg: X3DConfig):
        super().__init__()
        dim = cfg.stem_width
        self.conv_t = nn.Conv3d(cfg.in_channels, dim, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
        self.conv_xy = nn.Conv3d(dim, dim, (5, 1, 1), padding=(2, 0, 0), groups=dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_xy(self.conv_t(x))


class Stem(nn.Module):
    def __init__(self, cfg: X3DConfig):
        super().__init__()
        self.conv = StemConv(cfg)
        self.norm = _bn(cfg, cfg.stem_width)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(x)))


class Bottleneck(nn.Module):
    """1x1x1 -> BN -> ReLU -> depthwise 3x3x3 -> BN (-> SE) -> Swish -> 1x1x1 -> BN."""

    def __init__(self, cfg: X3DConfig, dim_in: int, inner: int, dim_out: int, stride: int, se: bool):
        super().__init__()
        self.conv_a = nn.Conv3d(dim_in, inner, 1, bias=False)
        self.norm_a = _bn(cfg, inner)
        self.act_a = nn.ReLU()
        self.conv_b = nn.Conv3d(inner, inner, 3, stride=(1, stride, stride), padding=1, groups=inner, bias=False)
        gate = SqueezeExcitation(inner, cfg.se_width(inner)) if se else nn.Identity()
        self.norm_b = nn.Sequential(_bn(cfg, inner), gate)
        self.act_b = Swish()
        self.conv_c = nn.Conv3d(inner, dim_out, 1, bias=False)
        self.norm_c = _bn(cfg, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    """relu(shortcut + bottleneck). The shortcut is a strided 1x1x1 conv when the block
    strides or changes width, with a BN only when it changes width; that BN has PyTorch's
    default eps and momentum whatever the config says, as in create_x3d_res_block."""

    def __init__(self, cfg: X3DConfig, dim_in: int, inner: int, dim_out: int, stride: int, se: bool):
        super().__init__()
        self.branch1_conv = (
            nn.Conv3d(dim_in, dim_out, 1, stride=(1, stride, stride), bias=False)
            if dim_in != dim_out or stride > 1
            else None
        )
        self.branch1_norm = nn.BatchNorm3d(dim_out) if dim_in != dim_out else None
        self.branch2 = Bottleneck(cfg, dim_in, inner, dim_out, stride, se)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.branch1_conv is not None:
            shortcut = self.branch1_conv(x)
            if self.branch1_norm is not None:
                shortcut = self.branch1_norm(shortcut)
        return self.activation(shortcut + self.branch2(x))


class Stage(nn.Module):
    """``depth`` blocks; the first strides 2 in space; SE on blocks 0, 2, 4, ... (pytorchvideo's
    ``se_ratio if (idx + 1) % 2 else 0.0``)."""

    def __init__(self, cfg: X3DConfig, depth: int, dim_in: int, inner: int, dim_out: int):
        super().__init__()
        self.res_blocks = nn.ModuleList(
            ResBlock(
                cfg, dim_in if i == 0 else dim_out, inner, dim_out, 2 if i == 0 else 1, cfg.se_ratio > 0 and i % 2 == 0
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.res_blocks:
            x = block(x)
        return x


class ProjectedPool(nn.Module):
    """1x1x1 conv -> BN -> ReLU -> average over the pooling window (stride 1) -> 1x1x1 conv -> ReLU."""

    def __init__(self, cfg: X3DConfig):
        super().__init__()
        self.window = cfg.pool_window
        self.pre_conv = nn.Conv3d(cfg.stage_widths[-1], cfg.head_inner, 1, bias=False)
        self.pre_norm = _bn(cfg, cfg.head_inner)
        self.post_conv = nn.Conv3d(cfg.head_inner, cfg.head_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.pre_norm(self.pre_conv(x)))
        window = tuple(min(w, s) for w, s in zip(self.window, x.shape[2:], strict=True))
        x = F.avg_pool3d(x, window, stride=1)  # (B, inner, t', h', w'): one position per window
        return F.relu(self.post_conv(x))


class Head(nn.Module):
    def __init__(self, cfg: X3DConfig):
        super().__init__()
        self.pool = ProjectedPool(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.proj = nn.Linear(cfg.head_dim, cfg.num_classes)


class X3D(nn.Module):
    """Video (B, C, T, H, W), float, normalised -> logits (B, num_classes).

    ``blocks`` is pytorchvideo's ``Net.blocks``: the stem, four stages and the head. X3D-TL's
    block is ``tokenlearner``, outside ``blocks``, so pytorchvideo's keys stay as they are."""

    def __init__(self, cfg: X3DConfig):
        super().__init__()
        self.config = cfg
        stages: list[nn.Module] = [Stem(cfg)]
        dim_in = cfg.stem_width
        for depth, inner, dim_out in zip(cfg.stage_depths, cfg.stage_inner, cfg.stage_widths, strict=True):
            stages.append(Stage(cfg, depth, dim_in, inner, dim_out))
            dim_in = dim_out
        stages.append(Head(cfg))
        self.blocks = nn.ModuleList(stages)
        self.tokenlearner = (
            TokenLearnerBottleneck(cfg.tokenlearner_channels, cfg.tokenlearner) if cfg.tokenlearner else None
        )

    @property
    def head(self) -> Head:
        head = self.blocks[-1]
        assert isinstance(head, Head)
        return head

    @classmethod
    def from_state_dict(cls, cfg: X3DConfig, state: dict[str, torch.Tensor]) -> X3D:
        """A model of ``cfg`` holding exactly ``state`` (strict), in eval mode."""
        with torch.device("meta"):
            model = cls(cfg)
        model.load_state_dict(state, assign=True)
        return model.eval()

    def load_backbone(self, state: Mapping[str, torch.Tensor]) -> None:
        """A plain X3D's state into all but the TokenLearner block, which stays as built (the
        identity: outputs start as the checkpoint's); ``ValueError`` unless the keys fit."""
        wanted = {k for k in self.state_dict() if not k.startswith("tokenlearner.")}
        require(set(state) == wanted, f"not a backbone state: {len(set(state) ^ wanted)} key(s) differ")
        self.load_state_dict(state, strict=False)

    def forward_features(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, head_dim): the head's post-ReLU features, averaged over the
        pooling windows (one window at the configured size). The projection is linear, so
        averaging before it equals pytorchvideo's averaging of per-window logits."""
        x = video
        for index, block in enumerate(self.blocks[:-1]):  # stem, stages 1-4
            x = block(x)
            if self.tokenlearner is not None and index == self.config.tokenlearner_after:
                x = self.tokenlearner(x)  # same shape
        return self.head.pool(x).mean(dim=(2, 3, 4))  # (B, head_dim, t', h', w') -> (B, head_dim)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, head_dim) -> logits (B, num_classes); no softmax."""
        return self.head.proj(self.head.dropout(features))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(video))


# --- the published configurations --------------------------------------------------------
# Network: pytorchvideo's hub builders (pytorchvideo/models/hub/x3d.py: clip length, crop
# size, depth factor; the rest create_x3d's defaults). Input: PySlowFast's configs
# configs/Kinetics/pytorchvideo/X3D_{XS,S,M,L}.yaml (NUM_FRAMES, SAMPLING_RATE, and for the
# 3-crop test TEST_CROP_SIZE 182/182/256/356: the short side scaled to it, three crops of it)
# and slowfast/config/defaults.py (TARGET_FPS 30, MEAN 0.45, STD 0.225). The test crop is
# larger than the training crop that sets the head's window; the head then pools several
# windows, as pytorchvideo's does. 10 clips x 3 crops, softmax scores averaged.
X3D_PROTOCOL = ViewProtocol(clips=10, crops=3, aggregate=Aggregate.SOFTMAX)


def _x3d(
    frames: int, rate: int, crop: int, test_crop: int, depth: float
) -> tuple[X3DConfig, Preprocessing, ViewProtocol]:
    prep = Preprocessing(
        num_frames=frames,
        frame_stride=rate,
        target_fps=30.0,
        resize_size=test_crop,
        crop_size=test_crop,
        mean=(0.45, 0.45, 0.45),
        std=(0.225, 0.225, 0.225),
    )
    return X3DConfig(num_frames=frames, crop_size=crop, depth_factor=depth), prep, X3D_PROTOCOL


X3D_CONFIGS: dict[str, tuple[X3DConfig, Preprocessing, ViewProtocol]] = {
    "x3d-xs": _x3d(4, 12, 160, 182, 2.2),
    "x3d-s": _x3d(13, 6, 160, 182, 2.2),
    "x3d-m": _x3d(16, 5, 224, 256, 2.2),
    "x3d-l": _x3d(16, 5, 312, 356, 5.0),
}
# X3D-TL (TokenLearner paper, section 6): 8 tokens per frame after the last stage, one
# vector-attention layer; the parent's input and test protocol.
_TL8 = TokenLearnerBottleneckConfig(num_tokens=8, layers=1, attention=BottleneckAttention.VECTOR)
for _parent in ("x3d-s", "x3d-m"):
    _cfg, _prep, _protocol = X3D_CONFIGS[_parent]
    X3D_CONFIGS[f"{_parent}-tl8"] = (replace(_cfg, tokenlearner=_TL8), _prep, _protocol)
