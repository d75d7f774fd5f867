"""pytorchvideo's X3D state dict (``create_x3d(...).state_dict()``, or the ``model_state`` of
the hub's ``X3D_*.pyth``) -> ours. Our ``X3D`` carries pytorchvideo's module names, so the key
mapping is the identity; what this adds is the strictness of every converter here: every
source tensor used, every model tensor filled, every shape checked, floats as fp32.
``num_batches_tracked`` counters travel too (they are part of both state dicts).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...models.x3d import X3D, X3DConfig
from .common import ConversionError, Source


def x3d_state_from_pytorchvideo(
    state: Mapping[str, torch.Tensor], cfg: X3DConfig, origin: str = "pytorchvideo X3D"
) -> dict[str, torch.Tensor]:
    """Our state dict for ``X3D(cfg)`` from pytorchvideo's; ``ConversionError`` naming the key
    when a tensor is missing, left over, or of the wrong shape."""
    source = Source(state, origin)
    with torch.device("meta"):
        expected = X3D(cfg).state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, ref in expected.items():
        tensor = source.take(key)  # identity: our key is theirs
        if not isinstance(tensor, torch.Tensor):
            raise ConversionError(f"{origin}: {key} is not a tensor")
        if tuple(tensor.shape) != tuple(ref.shape):
            raise ConversionError(
                f"{origin}: {key} has shape {tuple(tensor.shape)}, the model needs {tuple(ref.shape)}"
            )
        tensor = tensor.detach()
        out[key] = (tensor.to(torch.float32) if tensor.is_floating_point() else tensor).contiguous()
    source.check_all_used()
    return out


__all__ = ["x3d_state_from_pytorchvideo"]
