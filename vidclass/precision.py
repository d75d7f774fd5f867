"""Numeric precision for inference and training: which autocast dtype a mode means.

``fp32`` runs the model as stored, without autocast (bit-identical to running it plainly).
``bf16`` autocasts to bfloat16 (CPU or CUDA); ``fp16`` autocasts to float16 (CUDA only).
``auto`` picks, per device, the fastest mode whose predictions agreed with fp32 in
BENCHMARKS.md (top-1 agreement >= 99.5 %, max softmax difference <= 0.01):

- CPU with native bf16 (AVX-512 BF16 or AMX): ``bf16`` (measured: about 2.6x faster than fp32
  for ViViT-B on 2 AVX-512 BF16 cores, with the attention in bf16 tiles, ``models.attention``;
  predictions within the bounds);
- CPU without it: ``fp32`` (bf16 is emulated there and slower);
- CUDA: ``fp32`` until a GPU measurement of the agreement exists (pass ``bf16`` to opt in).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from vidclass.defaults import PRECISIONS

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX tiles)."""
    return bool(
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 when asked, or under ``auto`` when the device computes it natively (training's rule)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if native_bf16_cpu() else None


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete mode (``fp32``, ``bf16`` or ``fp16``) that ``precision`` means on ``device``.

    Raises ValueError for an unknown mode or one the device cannot run.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cpu":
            # Inference follows training's rule on the CPU: bf16 where it is native.
            return "bf16" if autocast_dtype("auto", device) is not None else "fp32"
        return "fp32"  # CUDA and others: no agreement measurement on a GPU yet
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("this CUDA device does not support bf16; use fp16 or fp32")
    return precision


def autocast(precision: str, device: torch.device) -> Any:
    """A context manager running the forward in ``precision`` (a resolved mode) on ``device``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    # No cast cache: it only saves re-casting a weight used twice in one region, which a forward
    # does not do, and it is one process-wide lock in torch, taken by every autocast op on a
    # weight that requires grad and held by a thread leaving autocast while the cached tensors
    # are freed, which can need the GIL: two threads running the model (eval -j 2) deadlocked.
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision], cache_enabled=False)


__all__ = ["DTYPES", "PRECISIONS", "autocast", "autocast_dtype", "native_bf16_cpu", "resolve_precision"]
