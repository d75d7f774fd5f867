"""The ViViT + TokenLearner model family."""

from .config import AttentionOrder, Classifier, TokenLearnerConfig, TokenLearnerVersion, Variant, ViViTConfig
from .flops import view_gflops, view_macs
from .registry import ModelEntry, describe_models, get_entry, list_models, num_params, register
from .vivit import ViViT

__all__ = [
    "AttentionOrder",
    "Classifier",
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
