"""Image ViT checkpoints (timm or Hugging Face ``ViTModel``) -> an initialised vidclass ViViT.

This is the paper's recipe for training a video model from an image model (docs/checkpoints.md):

- the 2D patch kernel becomes the tubelet kernel, by central-frame initialisation (eq. 9: zeros
  with the image kernel at time index t//2; the default) or by filter inflation (the kernel
  repeated t times, divided by t);
- the image position embeddings are resampled when the patch grid differs, then tiled over time
  (Models 1, 3 and 4) or given to the spatial encoder (Model 2);
- transformer blocks are copied; for Model 3 the image attention and its LayerNorm go into both
  the time and the space attention;
- what the image model does not have is newly initialised from a fresh ``ViViT(target)``: see
  ``NEWLY_INITIALISED``. The image model's classifier is dropped: see ``_Layout.dropped``.

Every image tensor is either used or dropped by design, and every model tensor is filled;
anything else is a ``ConversionError`` naming the key.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ...models import Variant, ViViT, ViViTConfig
from .common import ConversionError, Source, check_complete, load_pickled_tensors
from .huggingface import LAYER_RENAMES as HF_LAYER_RENAMES
from .huggingface import read_weights
from .posemb import resample_pos_embed, tile_over_time

KERNEL_INITS = ("central_frame", "inflate")

# Parts of one transformer block, named as in our ``Block`` (and timm); q, k, v are fused.
BLOCK_PARTS = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")

# Where each image block part goes in a target block. Model 3 has two attentions per block and
# both start from the image attention (with its LayerNorm).
BLOCK_COPIES: dict[str, tuple[str, ...]] = {part: (part,) for part in BLOCK_PARTS}
FACTORISED_SELF_ATTENTION_COPIES: dict[str, tuple[str, ...]] = {
    "norm1": ("norm_time", "norm_space"),
    "attn.qkv": ("attn_time.qkv", "attn_space.qkv"),
    "attn.proj": ("attn_time.proj", "attn_space.proj"),
    "norm2": ("norm_mlp",),
    "mlp.fc1": ("mlp.fc1",),
    "mlp.fc2": ("mlp.fc2",),
}

# Model tensors an image ViT has no counterpart for: taken from a freshly initialised
# ViViT(target). Anything not matched here must come from the image model.
NEWLY_INITIALISED = tuple(
    re.compile(pattern)
    for pattern in (
        r"head\..+",  # the classifier
        r"pre_logits\..+",  # optional representation layer (representation_size)
        r"backbone\.cls_temporal",  # Model 2: the temporal encoder
        r"backbone\.temporal\..+",
        r"backbone\.\w+\.learners\..+",  # TokenLearner modules
        r"backbone\.\w+\.fusers\..+",  # TokenFuser modules
    )
)


@dataclass(frozen=True)
class _Layout:
    """How one image ViT format names its tensors: our canonical name -> theirs."""

    name: str
    top: dict[str, tuple[str, ...]]  # canonical -> candidate names, the first present is used
    layer: str  # prefix of block ``{i}``
    layer_renames: dict[str, str]  # block part (BLOCK_PARTS less attn.qkv) -> theirs
    qkv: tuple[str, ...]  # their name(s) concatenated into our fused qkv, in q, k, v order
    dropped: tuple[str, ...]  # prefixes of tensors dropped by design: the image classifier

    def block_count(self, keys: set[str]) -> int:
        before, after = self.layer.split("{i}")
        pattern = re.compile(re.escape(before) + r"(\d+)" + re.escape(after))
        found = {int(m.group(1)) for key in keys if (m := pattern.match(key))}
        return max(found) + 1 if found else 0


TIMM = _Layout(
    name="timm",
    top={
        "cls_token": ("cls_token",),
        "pos_embed": ("pos_embed",),
        "patch.weight": ("patch_embed.proj.weight",),
        "patch.bias": ("patch_embed.proj.bias",),
        # timm models that average-pool keep their final LayerNorm as ``fc_norm`` instead
        "norm.weight": ("norm.weight", "fc_norm.weight"),
        "norm.bias": ("norm.bias", "fc_norm.bias"),
    },
    layer="blocks.{i}.",
    layer_renames={part: part for part in BLOCK_PARTS if part != "attn.qkv"},
    qkv=("attn.qkv",),
    dropped=("head.", "pre_logits."),
)


class _HFBlocks(NamedTuple):
    layer: str
    renames: dict[str, str]
    qkv: tuple[str, str, str]


# Hugging Face block names: as saved on disk (and in the hub's checkpoints), and as transformers
# >= 5 names the modules in memory (``model.state_dict()``).
HF_SAVED_BLOCKS = _HFBlocks(
    "encoder.layer.{i}.",
    HF_LAYER_RENAMES,
    ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
)
HF_MODULE_BLOCKS = _HFBlocks(
    "layers.{i}.",
    {
        "norm1": "layernorm_before",
        "attn.proj": "attention.o_proj",
        "norm2": "layernorm_after",
        "mlp.fc1": "mlp.fc1",
        "mlp.fc2": "mlp.fc2",
    },
    ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
)


def _hf_layout(prefix: str, blocks: _HFBlocks) -> _Layout:
    """``ViTModel`` (no prefix, with a pooler) or ``ViTForImageClassification`` (``vit.``)."""
    return _Layout(
        name="Hugging Face ViT",
        top={
            "cls_token": (f"{prefix}embeddings.cls_token",),
            "pos_embed": (f"{prefix}embeddings.position_embeddings",),
            "patch.weight": (f"{prefix}embeddings.patch_embeddings.projection.weight",),
            "patch.bias": (f"{prefix}embeddings.patch_embeddings.projection.bias",),
            "norm.weight": (f"{prefix}layernorm.weight",),
            "norm.bias": (f"{prefix}layernorm.bias",),
        },
        layer=f"{prefix}{blocks.layer}",
        layer_renames=blocks.renames,
        qkv=blocks.qkv,
        dropped=("classifier.", f"{prefix}pooler."),
    )


LAYOUTS = (TIMM,) + tuple(
    _hf_layout(prefix, blocks) for prefix in ("", "vit.") for blocks in (HF_SAVED_BLOCKS, HF_MODULE_BLOCKS)
)


def detect_layout(tensors: Mapping[str, torch.Tensor], origin: str) -> _Layout:
    """timm or Hugging Face by the name of the patch embedding, then the block names."""
    matching = [layout for layout in LAYOUTS if layout.top["patch.weight"][0] in tensors]
    if not matching:
        names = sorted({layout.top["patch.weight"][0] for layout in LAYOUTS})
        raise ConversionError(f"{origin}: not an image ViT state dict (no {' or '.join(map(repr, names))})")
    keys = set(tensors)
    return max(matching, key=lambda layout: layout.block_count(keys))


class _ImageViT:
    """Read-once access to an image ViT under our canonical names."""

    def __init__(self, tensors: Mapping[str, torch.Tensor], layout: _Layout, origin: str):
        self.layout = layout
        self.src = Source(tensors, origin)
        self.origin = origin

    def name_of(self, canonical: str) -> str:
        names = self.layout.top[canonical]
        return next((name for name in names if self.src.has(name)), names[0])

    def has(self, canonical: str) -> bool:
        return self.src.has(self.name_of(canonical))

    def take(self, canonical: str) -> torch.Tensor:
        return self.src.take(self.name_of(canonical))

    def take_block(self, i: int, part: str, suffix: str) -> torch.Tensor:
        prefix = self.layout.layer.format(i=i)
        if part == "attn.qkv":
            return torch.cat([self.src.take(f"{prefix}{name}.{suffix}") for name in self.layout.qkv])
        return self.src.take(f"{prefix}{self.layout.layer_renames[part]}.{suffix}")

    def drop_head(self) -> None:
        """Mark the image classifier as used: dropped by design."""
        for key in self.src.tensors:
            if key.startswith(self.layout.dropped):
                self.src.used.add(key)


def tubelet_kernel(kernel_2d: torch.Tensor, t: int, kernel_init: str = "central_frame") -> torch.Tensor:
    """(D, C, h, w) image patch kernel -> (D, C, t, h, w) tubelet kernel."""
    if kernel_init == "central_frame":
        kernel = kernel_2d.new_zeros(*kernel_2d.shape[:2], t, *kernel_2d.shape[2:])
        kernel[:, :, t // 2] = kernel_2d
        return kernel
    if kernel_init == "inflate":
        return kernel_2d.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    raise ValueError(f"kernel_init must be one of {', '.join(KERNEL_INITS)}, got {kernel_init!r}")


def _fresh_state(target: ViViTConfig, seed: int | None) -> dict[str, torch.Tensor]:
    """A freshly initialised ``ViViT(target)``; with a seed, reproducible and leaving the global
    generator as it was (as ``create_model`` does)."""
    if seed is None:
        return ViViT(target).state_dict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViViT(target).state_dict()


def _image_pos_embed(img: _ImageViT, has_cls: bool, dim: int) -> tuple[torch.Tensor, int]:
    """The image position embedding as (1, [1+] side*side, D) with a CLS row iff ``has_cls``."""
    pos = img.take("pos_embed")
    name = img.name_of("pos_embed")
    if pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[2] != dim:
        raise ConversionError(f"{img.origin}: {name} has shape {tuple(pos.shape)}, expected (1, P, {dim})")
    rows = pos.shape[1]
    for prefix in (1, 0) if has_cls else (0,):
        side = math.isqrt(rows - prefix)
        if side * side == rows - prefix and side > 0:
            break
    else:
        raise ConversionError(f"{img.origin}: {name} has {rows} rows: not {'[1 +] ' if has_cls else ''}a square grid")
    if has_cls and prefix == 0:  # timm's no_embed_class: the CLS token gets no position; add a zero row
        pos = torch.cat([pos.new_zeros(1, 1, dim), pos], dim=1)
    return pos, side


def convert_image_vit(
    tensors: Mapping[str, torch.Tensor],
    target: ViViTConfig,
    *,
    kernel_init: str = "central_frame",
    seed: int | None = None,
    num_heads: int | None = None,
    origin: str = "image ViT",
) -> dict[str, torch.Tensor]:
    """Pure mapping: an image ViT state dict -> a full vidclass state dict for ``target``.

    ``kernel_init`` is ``central_frame`` (default) or ``inflate``. ``seed`` makes the newly
    initialised parts reproducible. ``num_heads`` is the image model's head count when known
    (a Hugging Face ``config.json`` has it, a bare state dict does not); it is checked against
    the target's.
    """
    if kernel_init not in KERNEL_INITS:
        raise ValueError(f"kernel_init must be one of {', '.join(KERNEL_INITS)}, got {kernel_init!r}")
    layout = detect_layout(tensors, origin)
    img = _ImageViT(tensors, layout, origin)
    d, (t, ph, pw) = target.hidden_size, target.tubelet

    # Sizes the target must share with the image model.
    kernel_2d = img.take("patch.weight")
    if kernel_2d.ndim != 4:
        raise ConversionError(
            f"{origin}: {img.name_of('patch.weight')} has shape {tuple(kernel_2d.shape)}, expected (D, C, h, w)"
        )
    mismatches = []
    if kernel_2d.shape[0] != d:
        mismatches.append(f"hidden size {kernel_2d.shape[0]} (target hidden_size {d})")
    if kernel_2d.shape[1] != target.in_channels:
        mismatches.append(f"{kernel_2d.shape[1]} input channels (target in_channels {target.in_channels})")
    if tuple(kernel_2d.shape[2:]) != (ph, pw):
        mismatches.append(f"patch {kernel_2d.shape[2]}x{kernel_2d.shape[3]} (target tubelet h x w {ph}x{pw})")
    layers = layout.block_count(set(tensors))
    if layers != target.num_layers:
        mismatches.append(f"{layers} layers (target num_layers {target.num_layers})")
    if num_heads is not None and num_heads != target.num_heads:
        mismatches.append(f"{num_heads} heads (target num_heads {target.num_heads})")
    fc1 = f"{layout.layer.format(i=0)}{layout.layer_renames['mlp.fc1']}.weight"
    if fc1 in tensors and tensors[fc1].shape[0] != target.mlp_dim:
        mismatches.append(f"MLP width {tensors[fc1].shape[0]} (target mlp_dim {target.mlp_dim})")
    if mismatches:
        raise ConversionError(
            f"{origin}: the {layout.name} model does not fit the target: it has {'; '.join(mismatches)}"
        )

    out: dict[str, torch.Tensor] = {
        "patch_embed.proj.weight": tubelet_kernel(kernel_2d, t, kernel_init),
        "patch_embed.proj.bias": img.take("patch.bias"),
    }

    # CLS token and position embeddings.
    factorised = target.variant is Variant.FACTORIZED_ENCODER
    encoder = "backbone.spatial." if factorised else "backbone.encoder."
    image_cls = img.take("cls_token") if img.has("cls_token") else None
    pos, side = _image_pos_embed(img, image_cls is not None, d)
    if target.has_cls_token:
        if image_cls is None:
            raise ConversionError(
                f"{origin}: the image model has no CLS token; the target needs one (classifier 'token')"
            )
        out["backbone.cls_spatial" if factorised else "backbone.cls_token"] = image_cls
    elif image_cls is not None:  # a GAP target: the image CLS token and its position are dropped by design
        pos = pos[:, 1:]
    prefix = int(target.has_cls_token)
    frames, gh, gw = target.grid
    pos = resample_pos_embed(pos, (side, side), (gh, gw), prefix)
    out[f"{encoder}pos_embed"] = pos if factorised else tile_over_time(pos, frames, prefix)

    # Transformer blocks and the final LayerNorm.
    copies = FACTORISED_SELF_ATTENTION_COPIES if target.variant is Variant.FACTORIZED_SELF_ATTENTION else BLOCK_COPIES
    suffixes = ("weight", "bias")
    for i in range(target.num_layers):
        for part, ours in copies.items():
            for suffix in suffixes:
                if part == "attn.qkv" and suffix == "bias" and not target.qkv_bias:
                    continue
                value = img.take_block(i, part, suffix)
                for n, name in enumerate(ours):
                    out[f"{encoder}blocks.{i}.{name}.{suffix}"] = value.clone() if n else value
    for suffix in suffixes:
        out[f"{encoder}norm.{suffix}"] = img.take(f"norm.{suffix}")

    img.drop_head()
    img.src.check_all_used()

    # What the image model has no counterpart for.
    for key, value in _fresh_state(target, seed).items():
        if any(pattern.fullmatch(key) for pattern in NEWLY_INITIALISED):
            if key in out:
                raise AssertionError(f"{key} is both converted and newly initialised")
            out[key] = value
    return check_complete(out, target, origin)


def load_image_vit(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """An image ViT state dict from a ``.safetensors`` file, a ``.bin``/``.pth``/``.pt`` pickle
    (opened with ``weights_only=True``), or a directory with ``model.safetensors`` or
    ``pytorch_model.bin`` (as Hugging Face and timm save them)."""
    path = Path(path)
    if path.is_dir():
        return read_weights(path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file or directory")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ConversionError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    if suffix in (".bin", ".pth", ".pt"):
        return load_pickled_tensors(path)
    raise ConversionError(
        f"{path}: not an image ViT checkpoint (expected .safetensors, .bin, .pth, .pt or a directory)"
    )


def image_vit_num_heads(path: str | os.PathLike[str]) -> int | None:
    """The head count from a Hugging Face directory's ``config.json``, when there is one."""
    config = Path(path) / "config.json"
    if not config.is_file():
        return None
    try:
        heads = json.loads(config.read_text()).get("num_attention_heads")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise ConversionError(f"{config}: not a valid JSON object") from None
    return heads if isinstance(heads, int) else None
