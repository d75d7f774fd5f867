"""Scenic ViViT / TokenLearner checkpoints (the file named ``checkpoint`` in scenic releases).

Scenic stores no model config beside the weights, so the config is read off the parameter
shapes: width, depth, heads, MLP size, tubelet, classes, CLS token or pooling, the variant
(``SpatialTransformer`` = Model 2, ``LayerNorm_time`` = Model 3) and TokenLearner modules.
Two things cannot be read off: Model 4 has exactly Model 1's parameters (pass the variant),
and a TokenLearner without fuser does not record its layer (pass its location). The token
grid is split into frames x positions using the image size (default 224) or frame count.

Layouts (docs/checkpoints.md): Dense kernels (in, out); attention q/k/v kernels
(d, heads, head_dim), ``out`` kernel (heads, head_dim, d); the tubelet kernel (t, h, w, c, d);
LayerNorm ``scale``/``bias``; 2-D convs (kh, kw, in, out).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ...models import Classifier, TokenLearnerConfig, TokenLearnerVersion, Variant, ViViTConfig
from .common import ConversionError, Source, check_complete

# --- array layout transforms (Flax -> PyTorch) --------------------------------------------


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).float()


def _dense(src: Source[np.ndarray], path: str) -> dict[str, torch.Tensor]:
    return {"weight": _t(src.take(f"{path}/kernel").T), "bias": _t(src.take(f"{path}/bias"))}


def _norm(src: Source[np.ndarray], path: str) -> dict[str, torch.Tensor]:
    return {"weight": _t(src.take(f"{path}/scale")), "bias": _t(src.take(f"{path}/bias"))}


def _attention(src: Source[np.ndarray], path: str) -> dict[str, torch.Tensor]:
    """q/k/v (d, heads, hd) fused into our qkv (3d, d); out (heads, hd, d) -> proj (d, d)."""
    out: dict[str, torch.Tensor] = {}
    weights, biases = [], []
    for part in ("query", "key", "value"):
        kernel = src.take(f"{path}/{part}/kernel")
        d = kernel.shape[0]
        weights.append(kernel.reshape(d, -1).T)  # (heads*hd, d)
        biases.append(src.take(f"{path}/{part}/bias").reshape(-1))
    out["qkv.weight"] = _t(np.concatenate(weights))
    out["qkv.bias"] = _t(np.concatenate(biases))
    kernel = src.take(f"{path}/out/kernel")
    out["proj.weight"] = _t(kernel.reshape(-1, kernel.shape[-1]).T)  # (d, heads*hd)
    out["proj.bias"] = _t(src.take(f"{path}/out/bias"))
    return out


def _conv2d(src: Source[np.ndarray], path: str) -> dict[str, torch.Tensor]:
    return {"weight": _t(src.take(f"{path}/kernel").transpose(3, 2, 0, 1))}  # (kh,kw,in,out) -> (out,in,kh,kw)


def _tubelet(src: Source[np.ndarray], path: str) -> dict[str, torch.Tensor]:
    kernel = src.take(f"{path}/kernel")  # (t, h, w, c_in, d) -> Conv3d (d, c_in, t, h, w)
    return {"weight": _t(kernel.transpose(4, 3, 0, 1, 2)), "bias": _t(src.take(f"{path}/bias"))}


def _param(src: Source[np.ndarray], path: str) -> dict[str, torch.Tensor]:
    return {"": _t(src.take(path))}


Mapper = Callable[[Source[np.ndarray], str], dict[str, torch.Tensor]]

# --- rename tables: our module <- (their path, layout) -------------------------------------

BLOCK: dict[str, tuple[str, Mapper]] = {
    "norm1": ("LayerNorm_0", _norm),
    "attn": ("MultiHeadDotProductAttention_0", _attention),
    "norm2": ("LayerNorm_1", _norm),
    "mlp.fc1": ("MlpBlock_0/Dense_0", _dense),
    "mlp.fc2": ("MlpBlock_0/Dense_1", _dense),
}
FACTORISED_BLOCK: dict[str, tuple[str, Mapper]] = {  # Model 3: no _0 suffixes
    "norm_time": ("LayerNorm_time", _norm),
    "attn_time": ("MultiHeadDotProductAttention_time", _attention),
    "norm_space": ("LayerNorm_space", _norm),
    "attn_space": ("MultiHeadDotProductAttention_space", _attention),
    "norm_mlp": ("LayerNorm_mlp", _norm),
    "mlp.fc1": ("MlpBlock/Dense_0", _dense),
    "mlp.fc2": ("MlpBlock/Dense_1", _dense),
}
LEARNER_V11: dict[str, tuple[str, Mapper]] = {
    "norm": ("LayerNorm_0", _norm),
    "mlp.fc1": ("token_masking/Dense_0", _dense),
    "mlp.fc2": ("token_masking/Dense_1", _dense),
}
LEARNER_V10: dict[str, tuple[str, Mapper]] = {
    "norm": ("LayerNorm_0", _norm),
    **{f"convs.{i}": (f"Conv_{i}", _conv2d) for i in range(4)},
}
FUSER: dict[str, tuple[str, Mapper]] = {
    "norm_tokens": ("fuser_mix_norm1", _norm),
    "mix": ("Dense_0", _dense),
    "norm_mixed": ("fuser_mix_norm2", _norm),
    "norm_original": ("LayerNorm_0", _norm),
    "mlp.fc1": ("token_masking/Dense_0", _dense),
    "mlp.fc2": ("token_masking/Dense_1", _dense),
}
LEARNER_SCOPE = {TokenLearnerVersion.V11: "TokenLearnerModuleV11", TokenLearnerVersion.V10: "TokenLearnerModule"}


def _apply(
    table: dict[str, tuple[str, Mapper]], src: Source[np.ndarray], theirs: str, ours: str
) -> Iterator[tuple[str, torch.Tensor]]:
    for our_module, (their_module, mapper) in table.items():
        for suffix, tensor in mapper(src, f"{theirs}/{their_module}").items():
            yield f"{ours}.{our_module}" + (f".{suffix}" if suffix else ""), tensor


def _encoder(src: Source[np.ndarray], theirs: str, ours: str, depth: int, block: dict, tl: TokenLearnerConfig | None):
    yield f"{ours}.pos_embed", _t(src.take(f"{theirs}/posembed_input/pos_embedding"))
    yield from _apply({"norm": ("encoder_norm", _norm)}, src, theirs, ours)
    for i in range(depth):
        yield from _apply(block, src, f"{theirs}/encoderblock_{i}", f"{ours}.blocks.{i}")
    if tl is not None:  # scenic numbers the modules in creation order: _0 at the first learning layer
        layers = range(tl.location, depth if tl.fuse else tl.location + 1)
        learner = LEARNER_V11 if tl.version is TokenLearnerVersion.V11 else LEARNER_V10
        for k, layer in enumerate(layers):
            yield from _apply(learner, src, f"{theirs}/{LEARNER_SCOPE[tl.version]}_{k}", f"{ours}.learners.{layer}")
            if tl.fuse:
                yield from _apply(FUSER, src, f"{theirs}/TokenFuser_{k}", f"{ours}.fusers.{layer}")


def convert_params(params: dict[str, np.ndarray], cfg: ViViTConfig, origin: str = "scenic") -> dict[str, torch.Tensor]:
    """Pure mapping: flat scenic parameters (``a/b/c`` keys) -> vidclass ViViT state dict."""
    src = Source(params, origin)
    state: dict[str, torch.Tensor] = {}
    state.update(("patch_embed.proj." + k, v) for k, v in _tubelet(src, "embedding").items())
    block = FACTORISED_BLOCK if cfg.variant is Variant.FACTORIZED_SELF_ATTENTION else BLOCK
    if cfg.variant is Variant.FACTORIZED_ENCODER:
        if cfg.has_cls_token:
            state["backbone.cls_spatial"] = _t(src.take("cls_SpatialTransformer"))
            state["backbone.cls_temporal"] = _t(src.take("cls_TemporalTransformer"))
        state.update(_encoder(src, "SpatialTransformer", "backbone.spatial", cfg.num_layers, block, cfg.tokenlearner))
        state.update(_encoder(src, "TemporalTransformer", "backbone.temporal", cfg.temporal_layers, block, None))
    else:
        if cfg.has_cls_token:
            state["backbone.cls_token"] = _t(src.take("cls"))
        state.update(_encoder(src, "Transformer", "backbone.encoder", cfg.num_layers, block, cfg.tokenlearner))
    if cfg.representation_size:
        state.update(("pre_logits.0." + k, v) for k, v in _dense(src, "pre_logits").items())
    state.update(("head." + k, v) for k, v in _dense(src, "output_projection").items())
    src.check_all_used()
    return check_complete(state, cfg, origin)


# --- reading the config off the shapes -----------------------------------------------------


def _count(params: dict, pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in params if (m := regex.match(key))})


def _tokenlearner(params: dict, scope: str, depth: int, location: int | None) -> TokenLearnerConfig | None:
    for version, name in LEARNER_SCOPE.items():
        count = _count(params, rf"{scope}/{name}_(\d+)/")
        if not count:
            continue
        fuse = _count(params, rf"{scope}/TokenFuser_(\d+)/") > 0
        if version is TokenLearnerVersion.V11:
            first = params[f"{scope}/{name}_0/token_masking/Dense_1/kernel"]
            num_tokens, bottleneck = first.shape[1], params[f"{scope}/{name}_0/token_masking/Dense_0/kernel"].shape[1]
        else:
            num_tokens, bottleneck = params[f"{scope}/{name}_0/Conv_3/kernel"].shape[3], 64
        if fuse:
            inferred = depth - count
            if location is not None and location != inferred:
                raise ConversionError(
                    f"{count} TokenFusers in {depth} layers put TokenLearner at {inferred}, not {location}"
                )
            location = inferred
        elif location is None:
            raise ConversionError(
                "scenic checkpoints do not record where a TokenLearner sits: pass its layer "
                "(--tokenlearner-location, e.g. 8 for '8at...')"
            )
        return TokenLearnerConfig(
            num_tokens=num_tokens, location=location, version=version, fuse=fuse, bottleneck_dim=bottleneck
        )
    return None


def _split_grid(
    tokens: int, tubelet: tuple[int, int, int], image_size: int | None, num_frames: int | None
) -> tuple[int, int]:
    """(num_frames, image_size) for ``tokens`` = frames/t * (image/h)^2 tokens."""
    t, h, w = tubelet
    if num_frames is not None and image_size is None:
        per_frame, rem = divmod(tokens, num_frames // t)
        side = math.isqrt(per_frame)
        if rem or side * side != per_frame:
            raise ConversionError(f"{tokens} position embeddings do not split into {num_frames // t} square frames")
        return num_frames, side * h
    image_size = image_size or 224
    per_frame = (image_size // h) * (image_size // w)
    frames, rem = divmod(tokens, per_frame)
    if rem or (num_frames is not None and frames * t != num_frames):
        raise ConversionError(
            f"{tokens} position embeddings do not match {image_size}px frames "
            f"({per_frame} positions each){f' and {num_frames} frames' if num_frames else ''}: pass --image-size/--frames"
        )
    return frames * t, image_size


def infer_config(
    params: dict[str, np.ndarray],
    *,
    variant: Variant | str | None = None,
    image_size: int | None = None,
    num_frames: int | None = None,
    tokenlearner_location: int | None = None,
) -> ViViTConfig:
    """A ViViTConfig for flat scenic parameters; see the module docstring for what is inferred."""
    try:
        kernel = params["embedding/kernel"]
        num_classes = params["output_projection/kernel"].shape[1]
    except KeyError as exc:
        raise ConversionError(f"not a scenic ViViT checkpoint: no {exc.args[0]!r} parameter") from None
    tubelet = (int(kernel.shape[0]), int(kernel.shape[1]), int(kernel.shape[2]))
    in_channels, hidden = int(kernel.shape[3]), int(kernel.shape[4])
    factorised_encoder = "SpatialTransformer/encoderblock_0/LayerNorm_0/scale" in params
    scope = "SpatialTransformer" if factorised_encoder else "Transformer"
    fsa = f"{scope}/encoderblock_0/LayerNorm_time/scale" in params
    inferred = (
        Variant.FACTORIZED_ENCODER
        if factorised_encoder
        else (Variant.FACTORIZED_SELF_ATTENTION if fsa else Variant.SPACETIME)
    )
    variant = Variant(variant) if variant is not None else inferred
    if variant is Variant.FACTORIZED_DOT_PRODUCT and inferred is Variant.SPACETIME:
        pass  # identical parameters; only the user can tell
    elif variant is not inferred:
        raise ConversionError(f"the parameters are those of {inferred.value}, not {variant.value}")
    attn = "MultiHeadDotProductAttention_time" if fsa else "MultiHeadDotProductAttention_0"
    mlp = "MlpBlock" if fsa else "MlpBlock_0"
    depth = _count(params, rf"{scope}/encoderblock_(\d+)/")
    heads = int(params[f"{scope}/encoderblock_0/{attn}/query/kernel"].shape[1])
    mlp_dim = int(params[f"{scope}/encoderblock_0/{mlp}/Dense_0/kernel"].shape[1])
    cls = "cls_SpatialTransformer" if factorised_encoder else "cls"
    has_cls = cls in params
    tl = _tokenlearner(params, scope, depth, tokenlearner_location)
    positions = params[f"{scope}/posembed_input/pos_embedding"].shape[1] - int(has_cls)
    extra: dict[str, Any] = {}
    if factorised_encoder:
        side = math.isqrt(positions)
        if side * side != positions:
            raise ConversionError(f"spatial position embeddings ({positions}) are not a square grid")
        frames = (params["TemporalTransformer/posembed_input/pos_embedding"].shape[1] - int(has_cls)) * tubelet[0]
        image = side * tubelet[1]
        if (image_size and image_size != image) or (num_frames and num_frames != frames):
            raise ConversionError(
                f"the checkpoint is for {frames} frames at {image}px; resample explicitly to change that"
            )
        num_frames, image_size = frames, image
        extra = {
            "temporal_layers": _count(params, r"TemporalTransformer/encoderblock_(\d+)/"),
            "temporal_heads": int(
                params["TemporalTransformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel"].shape[1]
            ),
            "temporal_mlp_dim": int(params["TemporalTransformer/encoderblock_0/MlpBlock_0/Dense_0/kernel"].shape[1]),
        }
    else:
        num_frames, image_size = _split_grid(positions, tubelet, image_size, num_frames)
    representation = int(params["pre_logits/kernel"].shape[1]) if "pre_logits/kernel" in params else None
    try:
        return ViViTConfig(
            variant=variant,
            num_classes=int(num_classes),
            num_frames=num_frames,
            image_size=image_size,
            tubelet=tubelet,
            in_channels=in_channels,
            hidden_size=hidden,
            num_layers=depth,
            num_heads=heads,
            mlp_dim=mlp_dim,
            classifier=Classifier.TOKEN if has_cls else Classifier.GAP,
            representation_size=representation,
            tokenlearner=tl,
            **extra,
        )
    except ValueError as exc:
        raise ConversionError(f"inconsistent scenic parameters: {exc}") from None
