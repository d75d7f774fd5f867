"""Shared strictness for converters: every source tensor used, every model tensor filled."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Generic, TypeVar

import torch

from ...errors import VidclassError
from ...models import ViViT, ViViTConfig


class ConversionError(VidclassError, ValueError):
    """A foreign checkpoint that cannot be converted; the message names the offending key."""


Array = TypeVar("Array")  # torch.Tensor (Hugging Face, timm) or numpy.ndarray (scenic)


class Source(Generic[Array]):
    """Read-once access to a foreign state dict that remembers what was taken."""

    def __init__(self, tensors: Mapping[str, Array], origin: str):
        self.tensors = dict(tensors)
        self.origin = origin
        self.used: set[str] = set()

    def take(self, key: str) -> Array:
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


def sniff_format(path: str | Path) -> str:
    """What a checkpoint file is, from its first bytes: ``msgpack`` (a map: a Flax checkpoint),
    ``safetensors``, ``pytorch`` (a zip, or a pickle), ``text``, or ``unknown``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head[:4] == b"PK\x03\x04" or (len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return "pytorch"  # a pickle starts with \x80 and its protocol: not a msgpack empty map
    if head and (0x80 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        return "msgpack"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") >= 2:
        return "safetensors"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the read is no sign of binary data
        if len(head) < 4096 or exc.start < len(head) - 3:
            return "unknown"
        text = head[: exc.start].decode("utf-8")
    return "text" if text and all(c.isprintable() or c in "\t\n\r\f\v" for c in text) else "unknown"


def _is_tensor_dict(data: object) -> bool:
    return isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items())


def load_pickled_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A foreign pickle, opened only with ``torch.load(weights_only=True)``: no code runs.

    Accepts a dict of tensors, or a training checkpoint holding one under ``model`` or
    ``state_dict`` (as DeiT and others save them); anything else is refused.
    """
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path}: refused: not a plain tensor checkpoint ({first})") from None
    if _is_tensor_dict(data):
        return data
    for key in ("model", "state_dict"):
        if isinstance(data, dict) and _is_tensor_dict(data.get(key)):
            return data[key]
    raise ConversionError(f"{path}: refused: expected a dict of tensors (or one under 'model' or 'state_dict')")
