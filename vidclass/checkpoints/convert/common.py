"""Shared strictness for converters: every source tensor used, every model tensor filled."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...models import ViViT, ViViTConfig


class ConversionError(ValueError):
    """A foreign checkpoint that cannot be converted; the message names the offending key."""


class Source:
    """Read-once access to a foreign state dict that remembers what was taken."""

    def __init__(self, tensors: Mapping[str, torch.Tensor], origin: str):
        self.tensors = dict(tensors)
        self.origin = origin
        self.used: set[str] = set()

    def take(self, key: str) -> torch.Tensor:
        if key not in self.tensors:
            raise ConversionError(f"{self.origin}: missing tensor {key!r}")
        self.used.add(key)
        return self.tensors[key]

    def has(self, key: str) -> bool:
        return key in self.tensors

    def check_all_used(self) -> None:
        left = sorted(set(self.tensors) - self.used)
        if left:
            more = f" and {len(left) - 5} more" if len(left) > 5 else ""
            raise ConversionError(f"{self.origin}: unused tensor(s) {', '.join(left[:5])}{more}")


def check_complete(state: Mapping[str, torch.Tensor], cfg: ViViTConfig, origin: str) -> dict[str, torch.Tensor]:
    """Every tensor of a ``cfg`` model present, with its shape; nothing else."""
    with torch.device("meta"):
        expected = ViViT(cfg).state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing:
        raise ConversionError(f"{origin}: conversion left model tensor(s) unfilled: {', '.join(missing[:5])}")
    if extra:
        raise ConversionError(f"{origin}: conversion produced unknown tensor(s): {', '.join(extra[:5])}")
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise ConversionError(
                f"{origin}: {key} has shape {tuple(state[key].shape)}, the model needs {tuple(ref.shape)}"
            )
    return {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
