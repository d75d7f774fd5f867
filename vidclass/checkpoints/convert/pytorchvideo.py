"""pytorchvideo's X3D checkpoints: the ``X3D_{XS,S,M,L}.pyth`` files its hub downloads
(``pytorchvideo/models/hub/x3d.py``): a pickled dict whose ``model_state`` is the state dict of
``create_x3d`` (other entries, such as a training run's, are ignored). Opened only with
``torch.load(weights_only=True)``: no code runs.

The variant is inferred from the tensors' shapes: the depth of each stage and the widths tell
X3D-L from the others, but X3D-XS, S and M have the same tensors (they differ only in clip
length and crop, which set the head's pooling window and are not stored). Then the file's name
decides (``X3D_M.pyth`` is ``x3d-m``), or ``variant`` (``--variant x3d-m``) names it.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import torch

from ...models.x3d import X3D, X3D_CONFIGS, X3DConfig
from .common import ConversionError
from .pytorchvideo_keys import x3d_state_from_pytorchvideo

STATE_KEY = "model_state"
PROJECTION = "blocks.5.proj.weight"  # the head's projection: (classes, head_dim)


def read_model_state(path: str | Path) -> dict[str, torch.Tensor] | None:
    """The ``model_state`` of a pytorchvideo checkpoint; None when ``path`` loads (with
    ``weights_only=True``) but holds no ``model_state``: some other PyTorch file."""
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path}: refused: not a plain tensor checkpoint ({first[:200]})") from None
    if not isinstance(data, dict) or STATE_KEY not in data:
        return None
    state = data[STATE_KEY]
    if not (
        isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise ConversionError(f"{path}: {STATE_KEY!r} is not a dict of tensors")
    return state


def _fits(state: dict[str, torch.Tensor], cfg: X3DConfig) -> bool:
    with torch.device("meta"):
        expected = X3D(cfg).state_dict()
    return set(expected) == set(state) and all(
        tuple(state[key].shape) == tuple(ref.shape) for key, ref in expected.items()
    )


def infer_variant(state: dict[str, torch.Tensor], path: str | Path, variant: str | None = None) -> str:
    """The registered X3D variant (``x3d-m``) whose network ``state`` is: ``variant`` when given,
    else the one whose tensors it has, the file's name deciding between variants of the same
    tensors; ``ConversionError`` when none fits or the choice stays open."""
    known = ", ".join(X3D_CONFIGS)
    if variant is not None:
        if variant not in X3D_CONFIGS:
            raise ConversionError(f"{path}: --variant {variant!r} is not an X3D variant: use one of {known}")
        return variant
    projection = state.get(PROJECTION)
    if projection is None or projection.ndim != 2:
        raise ConversionError(f"{path}: no X3D head ({PROJECTION} missing or not a matrix): not an X3D checkpoint")
    classes = int(projection.shape[0])
    fitting = [
        name
        for name, (cfg, _, _) in X3D_CONFIGS.items()
        if 1 <= classes and _fits(state, replace(cfg, num_classes=classes))
    ]
    if not fitting:
        raise ConversionError(
            f"{path}: the tensors match no X3D variant ({known}): name one with vidclass convert --variant"
        )
    if len(fitting) == 1:
        return fitting[0]
    named = Path(path).stem.lower().replace("_", "-")
    if named in fitting:
        return named
    raise ConversionError(
        f"{path}: the tensors fit {', '.join(fitting)} alike (they differ in clip length and crop, which "
        "the checkpoint does not store): name it with vidclass convert --variant"
    )


def convert_pytorchvideo_state(
    state: dict[str, torch.Tensor], path: str | Path, variant: str | None = None
) -> tuple[str, X3DConfig, dict[str, torch.Tensor]]:
    """(variant, config with the checkpoint's class count, our state dict): every tensor used."""
    name = infer_variant(state, path, variant)
    projection = state.get(PROJECTION)
    classes = int(projection.shape[0]) if projection is not None and projection.ndim == 2 else 0
    try:
        cfg = replace(X3D_CONFIGS[name][0], num_classes=classes)
    except ValueError as exc:
        raise ConversionError(f"{path}: {exc}") from None
    return name, cfg, x3d_state_from_pytorchvideo(state, cfg, origin=str(path))


__all__ = ["convert_pytorchvideo_state", "infer_variant", "read_model_state"]
