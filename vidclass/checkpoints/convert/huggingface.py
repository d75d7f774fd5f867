"""Hugging Face ``VivitForVideoClassification`` (e.g. google/vivit-b-16x2-kinetics400).

A local directory with ``config.json`` and ``model.safetensors`` or ``pytorch_model.bin``.
The ``.bin`` pickle is opened only with ``torch.load(weights_only=True)``. Hugging Face ViViT
is Model 1 with a CLS token; its on-disk parameter names are the legacy ones listed in
docs/checkpoints.md (``save_pretrained`` still writes them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ...models import Classifier, Variant, ViViTConfig
from ..classifier import check_labels
from .common import ConversionError, Source, check_complete, load_pickled_tensors

# Our names <- theirs, per encoder layer (``{i}``). q, k and v are fused into one ``qkv``.
LAYER_RENAMES = {
    "norm1": "layernorm_before",
    "attn.proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}
TOP_RENAMES = {
    "patch_embed.proj.weight": "vivit.embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "vivit.embeddings.patch_embeddings.projection.bias",
    "backbone.cls_token": "vivit.embeddings.cls_token",
    "backbone.encoder.pos_embed": "vivit.embeddings.position_embeddings",
    "backbone.encoder.norm.weight": "vivit.layernorm.weight",
    "backbone.encoder.norm.bias": "vivit.layernorm.bias",
    "head.weight": "classifier.weight",
    "head.bias": "classifier.bias",
}
TANH_GELUS = {"gelu_fast", "gelu_new", "gelu_pytorch_tanh"}
# Our config fields -> the config.json keys they come from, to name theirs in an error.
HF_KEYS = {
    "tubelet": "tubelet_size",
    "in_channels": "num_channels",
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "mlp_dim": "intermediate_size",
    "num_classes": "the id2label count",
}


def config_from_hf(hf: dict[str, Any]) -> ViViTConfig:
    """Our config for a Hugging Face ``VivitConfig`` dict; every value is checked by
    ``ViViTConfig`` (types, ranges), and any problem is a ``ConversionError``."""
    if not isinstance(hf, dict):
        raise ConversionError(f"config.json must be a JSON object, got {type(hf).__name__}")
    if hf.get("model_type") != "vivit":
        raise ConversionError(f"config.json model_type is {hf.get('model_type')!r:.40}, expected 'vivit'")
    act = hf.get("hidden_act", "gelu_fast")
    if not (isinstance(act, str) and act in TANH_GELUS):
        raise ConversionError(f"hidden_act {act!r:.40} is not the tanh GELU that ViViT checkpoints use")
    labels = labels_from_hf(hf)
    try:
        return ViViTConfig(
            variant=Variant.SPACETIME,
            classifier=Classifier.TOKEN,
            num_classes=len(labels),
            num_frames=hf.get("num_frames", 32),
            image_size=hf.get("image_size", 224),
            tubelet=hf.get("tubelet_size", (2, 16, 16)),
            in_channels=hf.get("num_channels", 3),
            hidden_size=hf.get("hidden_size", 768),
            num_layers=hf.get("num_hidden_layers", 12),
            num_heads=hf.get("num_attention_heads", 12),
            mlp_dim=hf.get("intermediate_size", 3072),
            qkv_bias=hf.get("qkv_bias", True),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-6),
        )
    except ValueError as exc:
        message = str(exc)
        for ours, theirs in HF_KEYS.items():
            message = re.sub(rf"\b{ours}\b", theirs, message)
        raise ConversionError(f"config.json: {message}") from None


def labels_from_hf(hf: dict[str, Any]) -> list[str]:
    id2label = hf.get("id2label") or {}
    if not isinstance(id2label, dict):
        raise ConversionError("config.json id2label must be a JSON object (class number -> name)")
    try:
        ids = sorted(int(i) for i in id2label)
    except (ValueError, TypeError):
        raise ConversionError("config.json id2label has non-integer keys") from None
    labels = [id2label.get(str(i), id2label.get(i)) for i in ids]
    if not ids or ids != list(range(len(ids))) or None in labels:
        raise ConversionError("config.json id2label must number the classes 0..N-1")
    try:
        check_labels(labels)
    except ValueError as exc:
        raise ConversionError(f"config.json id2label: {exc}") from None
    return [str(label) for label in labels]  # strings: check_labels saw to it


def convert_state_dict(tensors: dict[str, torch.Tensor], cfg: ViViTConfig, origin: str = "huggingface") -> dict:
    """Pure mapping: Hugging Face ViViT state dict -> vidclass ViViT state dict."""
    src = Source(tensors, origin)
    out = {ours: src.take(theirs) for ours, theirs in TOP_RENAMES.items()}
    for i in range(cfg.num_layers):
        theirs, ours = f"vivit.encoder.layer.{i}.", f"backbone.encoder.blocks.{i}."
        for suffix in ("weight", "bias"):
            for our_name, their_name in LAYER_RENAMES.items():
                out[f"{ours}{our_name}.{suffix}"] = src.take(f"{theirs}{their_name}.{suffix}")
            if suffix == "weight" or cfg.qkv_bias:
                out[f"{ours}attn.qkv.{suffix}"] = torch.cat(
                    [src.take(f"{theirs}attention.attention.{part}.{suffix}") for part in ("query", "key", "value")]
                )
    src.check_all_used()
    return check_complete(out, cfg, origin)


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    st, pt = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.is_file():
        try:
            return load_file(str(st))
        except (SafetensorError, OSError) as exc:
            raise ConversionError(f"{st}: not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    if pt.is_file():
        return load_pickled_tensors(pt)
    raise ConversionError(f"{folder}: no model.safetensors or pytorch_model.bin")


def convert_directory(folder: str | Path) -> tuple[ViViTConfig, list[str], dict[str, torch.Tensor]]:
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConversionError(f"{folder}: no config.json (not a Hugging Face model directory)")
    try:
        hf = json.loads(config_path.read_text())
        cfg = config_from_hf(hf)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{config_path}: not valid JSON ({exc})") from None
    except ConversionError as exc:
        raise ConversionError(f"{folder}: {exc}") from None
    state = convert_state_dict(read_weights(folder), cfg, origin=str(folder))
    return cfg, labels_from_hf(hf), state
