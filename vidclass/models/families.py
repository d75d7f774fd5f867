"""The model families a classifier's network can be, in one table: ``FAMILIES`` maps a family's
name (a model file's ``family`` entry; a file without one is ``vivit``) to its config class,
its network, and how its size, cost and input are worked out from the config alone.

Everything that depends on the family (parsing a model file's config, building its network on
the meta device, the parameter budget, GFLOPs, the rule for what preprocessing fits, the
``vidclass models`` row, what a ``Predictor`` runs for the network) goes through ``family_of(config)`` or ``get_family(name)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeAlias, TypeVar

import torch
from torch import nn

from ..protocol import Preprocessing
from . import x3d_flops
from .config import ViViTConfig
from .flops import view_gflops
from .vivit import ViViT
from .x3d import STAGE_DEPTHS, X3D, X3DConfig
from .x3d_fast import inference_network

ModelConfig: TypeAlias = ViViTConfig | X3DConfig
"""The config of any family's network."""
Network: TypeAlias = ViViT | X3D
"""Any family's network: (B, C, T, H, W) float, normalised -> logits (B, classes); ``.config``."""

C = TypeVar("C", ViViTConfig, X3DConfig)

X3D_HEAD = len(STAGE_DEPTHS) + 1  # X3D.blocks: the stem, the stages, then the head
DEFAULT_FAMILY = "vivit"  # a model file without a ``family`` entry (every file written before X3D)


@dataclass(frozen=True)
class Family(Generic[C]):
    """One family: ``config`` its config class (``from_dict``/``to_dict``), ``network`` its
    module class (built from a config), ``params`` and ``gflops`` (2 x multiply-accumulates of
    one view of the config's clip) from the config alone, ``check_input`` the rule a
    preprocessing must meet (``ValueError`` otherwise), ``describe`` the family-specific cells
    of a ``vidclass models`` row, ``inference`` the module a ``Predictor`` runs for a network
    (eval mode) on a device: the same function, left as it is or prepared to run faster there
    (X3D on the CPU: ``x3d_fast``); the network itself is not changed."""

    name: str
    config: type[C]
    network: Callable[[C], nn.Module]
    params: Callable[[C], int]
    gflops: Callable[[C], float]
    check_input: Callable[[C, Preprocessing], None]
    describe: Callable[[C], dict[str, Any]]
    head_prefix: Callable[[C], str]
    train_input: Callable[[C, Preprocessing], Preprocessing]
    inference: Callable[[nn.Module, torch.device], nn.Module]


def _vivit_input(cfg: ViViTConfig, prep: Preprocessing) -> None:
    """ViViT's position embeddings fix its input: exactly the config's frames and crop."""
    if prep.num_frames != cfg.num_frames:
        raise ValueError(f"preprocessing takes {prep.num_frames} frames, the model {cfg.num_frames}")
    if prep.crop_size != cfg.image_size:
        raise ValueError(f"preprocessing crops {prep.crop_size} px, the model takes {cfg.image_size}")


def _x3d_input(cfg: X3DConfig, prep: Preprocessing) -> None:
    """X3D's frames are the config's; its crop may be larger than the config's (training) crop:
    the head then averages its stride-1 pooling window over the larger map, as pytorchvideo
    does at its 3-crop test sizes (X3D-M: 256 px views, a 224 px window). A smaller crop is
    refused: the window would be clipped, which is no longer pytorchvideo's network."""
    if prep.num_frames != cfg.num_frames:
        raise ValueError(f"preprocessing takes {prep.num_frames} frames, the model {cfg.num_frames}")
    if prep.crop_size < cfg.crop_size:
        raise ValueError(f"preprocessing crops {prep.crop_size} px, the model takes at least {cfg.crop_size}")


def _x3d_train_input(cfg: X3DConfig, prep: Preprocessing) -> Preprocessing:
    """X3D trains at its config's crop (X3D-M: 224 px, the head's one window) and tests at the
    larger 3-crop size, as PySlowFast's recipes do."""
    return replace(prep, crop_size=cfg.crop_size)  # the resize follows the crop (training's jitter)


def _vivit_row(cfg: ViViTConfig) -> dict[str, Any]:
    learner = cfg.tokenlearner
    return {
        "variant": cfg.variant.value,
        "tokenlearner": (
            f"{learner.num_tokens}at{learner.location}{'+fuser' if learner.fuse else ''} {learner.version.value}"
            if learner
            else None
        ),
        "input": [cfg.num_frames, cfg.image_size, cfg.image_size],
        "tubelet": list(cfg.tubelet),
    }


def _x3d_row(cfg: X3DConfig) -> dict[str, Any]:
    block = cfg.tokenlearner
    return {
        "variant": "x3d",
        "tokenlearner": (
            f"{block.num_tokens} a frame after stage {cfg.tokenlearner_after}, {block.attention.value} attention"
            if block is not None
            else None
        ),
        "input": [cfg.num_frames, cfg.crop_size, cfg.crop_size],
        "tubelet": None,
        "depth_factor": cfg.depth_factor,
        "width_factor": cfg.width_factor,
    }


def _vivit_params(cfg: ViViTConfig) -> int:
    return cfg.num_parameters


def _as_is(network: nn.Module, device: torch.device) -> nn.Module:
    return network


FAMILIES: dict[str, Family[Any]] = {
    "vivit": Family(
        "vivit",
        ViViTConfig,
        ViViT,
        _vivit_params,
        view_gflops,
        _vivit_input,
        _vivit_row,
        lambda cfg: "head.",
        lambda cfg, prep: prep,
        _as_is,
    ),
    "x3d": Family(
        "x3d",
        X3DConfig,
        X3D,
        x3d_flops.num_params,
        lambda cfg: 2 * x3d_flops.view_macs(cfg) / 1e9,
        _x3d_input,
        _x3d_row,
        lambda cfg: f"blocks.{X3D_HEAD}.proj.",  # the projection; the pooling's convs are not per class
        _x3d_train_input,
        inference_network,
    ),
}


def get_family(name: object) -> Family[Any]:
    """The family named ``name``; ``ValueError`` for any other value."""
    family = FAMILIES.get(name) if isinstance(name, str) else None
    if family is None:
        raise ValueError(f"unknown model family {str(name)[:40]!r}: known: {', '.join(FAMILIES)}")
    return family


def family_of(config: ModelConfig) -> Family[Any]:
    """The family of a config (by its class)."""
    for family in FAMILIES.values():
        if isinstance(config, family.config):
            return family
    raise TypeError(f"no model family has config class {type(config).__name__}")


def build_network(config: ModelConfig) -> Network:
    """A new network of ``config``'s family (on the current default device)."""
    network = family_of(config).network(config)
    assert isinstance(network, ViViT | X3D)
    return network


__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "Family",
    "ModelConfig",
    "Network",
    "build_network",
    "family_of",
    "get_family",
]
