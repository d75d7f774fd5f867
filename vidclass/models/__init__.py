"""The model families: ViViT (+ TokenLearner) and X3D, dispatched through ``families.FAMILIES``."""

from .config import AttentionOrder, Classifier, TokenLearnerConfig, TokenLearnerVersion, Variant, ViViTConfig
from .families import DEFAULT_FAMILY, FAMILIES, Family, ModelConfig, Network, build_network, family_of, get_family
from .flops import view_gflops, view_macs
from .registry import ModelEntry, describe_models, get_entry, list_models, num_params, register
from .vivit import ViViT
from .x3d import X3D, X3D_CONFIGS, X3DConfig

__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "X3D",
    "X3D_CONFIGS",
    "AttentionOrder",
    "Classifier",
    "Family",
    "ModelConfig",
    "Network",
    "X3DConfig",
    "build_network",
    "family_of",
    "get_family",
    "ModelEntry",
    "TokenLearnerConfig",
    "TokenLearnerVersion",
    "Variant",
    "ViViT",
    "ViViTConfig",
    "describe_models",
    "get_entry",
    "list_models",
    "num_params",
    "register",
    "view_gflops",
    "view_macs",
]
