"""Named configurations: each is a model config plus the preprocessing and view protocol
its weights expect. ``create`` builds a randomly initialised model from one."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..protocol import Preprocessing, ViewProtocol
from .config import Classifier, TokenLearnerConfig, Variant, ViViTConfig
from .families import ModelConfig, family_of
from .tokenlearner_block import TokenLearnerBottleneckConfig
from .x3d import X3D_CONFIGS, X3DConfig


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config: ModelConfig  # any family's (models.families)
    preprocessing: Preprocessing
    protocol: ViewProtocol = field(default_factory=ViewProtocol)
    description: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def get_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}") from None


def list_models() -> list[str]:
    return list(_REGISTRY)


def num_params(cfg: ModelConfig) -> int:
    import torch

    from .families import build_network  # building on the meta device costs no memory

    with torch.device("meta"):
        model = build_network(cfg)
    return sum(p.numel() for p in model.parameters())


def describe_models() -> list[dict[str, Any]]:
    """One row per registered configuration: what ``vidclass models`` prints."""
    rows = []
    for entry in _REGISTRY.values():
        family = family_of(entry.config)
        cells = family.describe(entry.config)  # variant, tokenlearner, input, tubelet, and the family's own
        gflops = family.gflops(entry.config)
        row = {"name": entry.name, "family": family.name, "variant": cells.pop("variant")}
        row.update(tokenlearner=cells.pop("tokenlearner"), params=num_params(entry.config))
        row.update(gflops=round(gflops, 3), gmacs=round(gflops / 2, 3), **cells)
        rows.append({**row, "description": entry.description})
    return rows


# --- the configurations ------------------------------------------------------------------

_KINETICS = Preprocessing(num_frames=32, frame_stride=2, resize_size=256, crop_size=224)

_BASE = ViViTConfig(hidden_size=768, num_layers=12, num_heads=12, mlp_dim=3072)
_LARGE = ViViTConfig(hidden_size=1024, num_layers=24, num_heads=16, mlp_dim=4096)

_VARIANTS: dict[str, tuple[Variant, Classifier, str]] = {
    "": (Variant.SPACETIME, Classifier.TOKEN, "Model 1, joint space-time attention"),
    "-fe": (Variant.FACTORIZED_ENCODER, Classifier.TOKEN, "Model 2, factorised encoder"),
    "-fsa": (Variant.FACTORIZED_SELF_ATTENTION, Classifier.GAP, "Model 3, factorised self-attention"),
    "-fdp": (Variant.FACTORIZED_DOT_PRODUCT, Classifier.GAP, "Model 4, factorised dot-product attention"),
}


def _family(prefix: str, base: ViViTConfig, prep: Preprocessing, size: str, tokenlearner: TokenLearnerConfig) -> None:
    for suffix, (variant, classifier, what) in _VARIANTS.items():
        register(
            ModelEntry(
                f"{prefix}{suffix}",
                base.replace(variant=variant, classifier=classifier),
                prep,
                description=f"{size} {what}",
            )
        )
    register(
        ModelEntry(
            f"{prefix}-tl{tokenlearner.num_tokens}at{tokenlearner.location}",
            base.replace(classifier=Classifier.GAP, tokenlearner=tokenlearner),
            prep,
            description=f"{size} Model 1 + TokenLearner v1.1, {tokenlearner.num_tokens} tokens at layer "
            f"{tokenlearner.location}",
        )
    )


_family("vivit-b-16x2", _BASE, _KINETICS, "ViViT-B/16x2", TokenLearnerConfig(num_tokens=8, location=6))
register(
    ModelEntry(
        "vivit-l-16x2-fe",
        _LARGE.replace(variant=Variant.FACTORIZED_ENCODER),
        _KINETICS,
        description="ViViT-L/16x2 Model 2, factorised encoder",
    )
)

# Small sizes that run fast on a CPU. Even head counts so that Model 4 applies.
_TINY = ViViTConfig(
    num_frames=16, image_size=112, hidden_size=192, num_layers=6, num_heads=4, mlp_dim=768, temporal_layers=2
)
_family(
    "vivit-tiny",
    _TINY,
    Preprocessing(num_frames=16, frame_stride=2, resize_size=128, crop_size=112),
    "Tiny (192-d, 6 layers, 16x112x112)",
    TokenLearnerConfig(num_tokens=8, location=3),
)

_MICRO = ViViTConfig(
    num_frames=8,
    image_size=32,
    tubelet=(2, 8, 8),
    hidden_size=64,
    num_layers=2,
    num_heads=4,
    mlp_dim=128,
    temporal_layers=1,
)
_family(
    "vivit-micro",
    _MICRO,
    Preprocessing(num_frames=8, frame_stride=2, resize_size=36, crop_size=32),
    "Micro (64-d, 2 layers, 8x32x32), for tests",
    TokenLearnerConfig(num_tokens=4, location=1),
)

# The bundled default model's configuration: small enough to train on a CPU and to label a
# video in well under a second on two cores. 16 frames on an 8 fps grid (two seconds of
# motion whatever the file's frame rate), 64 px crops, 4x8x8 tubelets (half a second each, so
# the embedding itself sees motion), one joint space-time block, then TokenLearner v1.1 keeps
# 8 tokens per time step for the last 4 blocks. vivit-s64 is the same network without
# TokenLearner (every block sees all 8x8 patches of each time step): vidclass explain's
# localisation benchmark compares its attention rollout with the bundled model's maps.
_S64 = ViViTConfig(
    num_frames=16,
    image_size=64,
    tubelet=(4, 8, 8),
    hidden_size=128,
    num_layers=5,
    num_heads=4,
    mlp_dim=512,
    classifier=Classifier.GAP,
)
_S64_INPUT = Preprocessing(num_frames=16, frame_stride=1, target_fps=8.0, resize_size=73, crop_size=64)
register(
    ModelEntry(
        "vivit-s64-tl8at1",
        replace(_S64, tokenlearner=TokenLearnerConfig(num_tokens=8, location=1)),
        _S64_INPUT,
        description="Small 64 px Model 1 + TokenLearner v1.1, 8 tokens at layer 1, 16 frames at 8 fps (the bundled model)",
    )
)
register(
    ModelEntry(
        "vivit-s64",
        _S64,
        _S64_INPUT,
        description="Small 64 px Model 1, 16 frames at 8 fps: the bundled model without TokenLearner",
    )
)

# X3D (pytorchvideo's network; models/x3d.py cites the published configurations). The
# preprocessing crops the 3-crop test size, larger than the config's crop (the head's window).
for _name, (_config, _prep, _protocol) in X3D_CONFIGS.items():
    register(
        ModelEntry(
            _name,
            _config,
            _prep,
            _protocol,
            description=(
                f"{_name.upper()} (pytorchvideo)"
                if _config.tokenlearner is None
                else f"X3D with {_config.tokenlearner.num_tokens} TokenLearner tokens a frame after stage"
                f" {_config.tokenlearner_after}"
            )
            + f", {_config.num_frames}x{_config.crop_size} px, tested at {_prep.crop_size} px,"
            f" {_protocol.clips}x{_protocol.crops} views",
        )
    )

# X3D at test size: pytorchvideo's network at half its width, a third of its depth and a 64-wide
# head, 4 frames at 64 px (tested at 72 px, so the head pools several windows as X3D-M's does),
# and the same with a TokenLearner block after stage 3 (4x4 maps, 4 tokens a frame).
_X3D_MICRO = X3DConfig(num_frames=4, crop_size=64, width_factor=0.5, depth_factor=0.34, head_dim=64)
_X3D_MICRO_INPUT = Preprocessing(
    num_frames=4, frame_stride=2, resize_size=72, crop_size=72, mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225)
)
register(ModelEntry("x3d-micro", _X3D_MICRO, _X3D_MICRO_INPUT, description="Micro X3D (4x64 px), for tests"))
register(
    ModelEntry(
        "x3d-micro-tl4",
        replace(_X3D_MICRO, tokenlearner=TokenLearnerBottleneckConfig(num_tokens=4), tokenlearner_after=3),
        _X3D_MICRO_INPUT,
        description="Micro X3D with 4 TokenLearner tokens a frame after stage 3, for tests",
    )
)
